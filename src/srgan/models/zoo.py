"""Model files: safetensors weights beside a JSON model card, and the shipped models by name.

A model is ``NAME.safetensors`` + ``NAME.json``. The card says what the weights are (kind, architecture
arguments, scale), how they were made (data and its terms, steps, precision, content backbone, command,
where it ran) and how good they are (validation and benchmark metrics). Loading never needs the card for
the architecture: it is read off the state dict's keys and shapes, so a bare state dict of ours loads too.
Training checkpoints (``.pt``) load with ``weights_only=True``.

The default ×4 model is decided here too (:func:`default_upscaler`). Importing this module loads no torch,
so ``srgan.DEFAULT_UPSCALER`` stays cheap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from srgan.errors import SrganError

if TYPE_CHECKING:
    import torch
    from torch import nn

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
FAITHFUL_UPSCALER = "srresnet-x4"
GAN_UPSCALER = "srgan-x4"


def atomic_save_json(path: Path, obj: dict) -> None:
    from srgan.io.images import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def save_model(path: str | Path, model: nn.Module, card: dict, dtype: torch.dtype | None = None) -> None:
    """Write ``path`` (.safetensors) and its card ``path.with_suffix('.json')``, each atomically."""
    from safetensors.torch import save_file

    from srgan.io.images import atomic_path

    path = Path(path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"kind": str(card.get("kind", ""))})
    atomic_save_json(path.with_suffix(".json"), card)


def shipped_models() -> dict[str, Path]:
    """Name → weights path of every model shipped in the package."""
    if not WEIGHTS_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(WEIGHTS_DIR.glob("*.safetensors"))}


def default_upscaler() -> str:
    """The ×4 model that runs when none is named: ``srgan.DEFAULT_UPSCALER``.

    A GAN model is sharper but invents detail, and a bad one draws halos and blotches that make a user's
    first output look worse than the faithful model's. So the GAN model is the default only while its card
    records that it met the bar (``default_bar.met``, written by ``tools/default_bar.py`` from measured
    NIQE and PSNR plus a look at face and flat-area crops); otherwise the faithful ``srresnet-x4`` is.
    """
    shipped = shipped_models()
    if GAN_UPSCALER in shipped:
        bar = read_card(shipped[GAN_UPSCALER]).get("default_bar") or {}
        if bar.get("met") is True:
            return GAN_UPSCALER
    return FAITHFUL_UPSCALER


def read_card(weights: Path) -> dict:
    card = weights.with_suffix(".json")
    if not card.is_file():
        return {}
    try:
        return json.loads(card.read_text())
    except json.JSONDecodeError as e:
        raise SrganError(f"{card}: model card is not valid JSON ({e.msg} at line {e.lineno})") from None


def load_state(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(state dict, card) from a .safetensors file, a training checkpoint (.pt/.pth) or a run folder."""
    if path.is_dir():
        if (path / "model.safetensors").is_file():
            path = path / "model.safetensors"
        else:
            raise SrganError(f"{path}: no model.safetensors in this folder (is the run finished or validated?)")
    if not path.is_file():
        raise SrganError(f"{path}: model file not found")
    import torch

    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise SrganError(f"{path}: not a readable safetensors file ({e})") from None
        return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, read_card(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for bad pickles; all mean the same to a user
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise SrganError(f"{path}: not a loadable checkpoint ({type(e).__name__}{': ' + first if first else ''})") from None
    if isinstance(ckpt, dict) and "models" in ckpt:
        cfg = ckpt.get("config", {})
        kind = cfg.get("kind", "srresnet")
        key = "denoiser" if kind == "denoiser" else "generator"
        # A run with ema_decay validates and exports the averaged generator: a checkpoint means that one too.
        if "generator_ema" in ckpt["models"] and key == "generator":
            key = "generator_ema"
        return ckpt["models"][key], {"kind": kind, "scale": cfg.get("scale"), "steps": ckpt.get("step")}
    if isinstance(ckpt, dict) and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return ckpt, {}
    raise SrganError(f"{path}: not a state dict or an srgan checkpoint")


def build_from_state(state: dict[str, torch.Tensor], card: dict | None = None) -> tuple[nn.Module, str]:
    """Instantiate the network whose architecture the state dict describes, load it strictly: (model, kind)."""
    card = card or {}
    if "stem.0.weight" in state:
        from srgan.models.denoiser import DenoisingAutoencoder, config_from_state_dict

        model, kind = DenoisingAutoencoder(config_from_state_dict(state)), "denoiser"
    elif "head.weight" in state:
        from srgan.models.generator import Generator, config_from_state_dict

        model, kind = Generator(config_from_state_dict(state)), card.get("kind", "srresnet")
        if kind not in ("srresnet", "srgan"):
            kind = "srresnet"
    else:
        raise SrganError("state dict fits no srgan architecture (expected SRResNet or denoiser keys)")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        detail = [ln.strip() for ln in str(e).splitlines() if ln.strip()][-1][:200]
        raise SrganError(f"state dict does not fit the detected {kind} architecture: {detail}") from None
    return model.eval(), kind


def resolve(name_or_path: str) -> Path:
    """A shipped model name or a path → the weights path."""
    shipped = shipped_models()
    if name_or_path in shipped:
        return shipped[name_or_path]
    p = Path(name_or_path)
    if p.exists():
        return p
    names = ", ".join(shipped) or "none shipped yet"
    raise SrganError(f"unknown model {name_or_path!r}: not a file, and not a shipped model ({names})")


def publish(run_dir: str | Path, name: str, *, card_extra: dict | None = None, dtype: torch.dtype | None = None,
            checkpoint: str | Path | None = None) -> Path:
    """Copy a run's exported model into the package as ``weights/<name>.safetensors`` + ``<name>.json``.

    Weights are stored in ``dtype`` (fp16 by default: half the bytes; loading upcasts to fp32) and the
    card gains the licence, the run's command and metrics, so the shipped file explains itself.
    ``checkpoint`` (one of the run's ``.pt`` files) ships that step's generator instead of the exported
    model; the card is still the run's, with the checkpoint's step.
    """
    import torch

    dtype = dtype or torch.float16
    run_dir = Path(run_dir)
    if checkpoint is None:
        state, card = load_state(run_dir / "model.safetensors")
    else:
        state, ckpt_card = load_state(Path(checkpoint))
        card = {**read_card(run_dir / "model.safetensors"), "steps": ckpt_card.get("steps"), "checkpoint": Path(checkpoint).name}
        card.pop("validation", None)  # the exported model's validation, not this step's
    model, kind = build_from_state(state, card)
    card = {**card, "name": name, "kind": kind, "weights_dtype": str(dtype).replace("torch.", ""),
            "license": "MIT (weights trained by the srgan project)", **(card_extra or {})}
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    out = WEIGHTS_DIR / f"{name}.safetensors"
    save_model(out, model, card, dtype=dtype)
    return out
