"""Model files: safetensors weights beside a JSON model card, and the shipped models by name.

A model is ``NAME.safetensors`` + ``NAME.json``. The card (:class:`ModelCard`) says what the weights are
(kind, architecture arguments, scale), how they were made (data and its terms, steps, precision, content
backbone, command, where it ran) and how good they are (validation and benchmark metrics). Loading never
needs the card for the architecture: :func:`describe` reads it off the state dict's keys and shapes
(:class:`Arch`), so a bare state dict of ours loads too. Training checkpoints (``.pt``) load with
``weights_only=True``.

The default ×4 model is decided here too (:func:`default_upscaler`). Importing this module loads no torch,
so ``srgan.DEFAULT_UPSCALER`` stays cheap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srgan.errors import SrganError
from srgan.io.files import atomic_write_json as atomic_save_json

if TYPE_CHECKING:
    import torch
    from torch import nn

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
FAITHFUL_UPSCALER = "srresnet-x4"
# The models for real photos (JPEG, a little blur and noise), in the order the default rule tries them: the GAN,
# then the PSNR model. The paper's srgan-x4 learned clean bicubic LR only and runs by name only.
REAL_UPSCALERS = ("srgan-x4-real", "srresnet-x4-real")


# ------------------------------------------------------------------------------------------- model cards


@dataclass
class ModelCard:
    """A model's card (``NAME.json`` beside ``NAME.safetensors``): what the weights are, how they were made
    and how good they are. Each field is a JSON key, in the order cards are written.

    Every field is optional: cards of older runs, of tools (a blend) and of bare checkpoints hold only some.
    A field left None is not written, except the ones named in ``nulls``, which are written as JSON null (the
    trainer writes every key it knows, null where one does not apply to the kind). Keys this version does not
    know are kept in ``extra`` and written after the known ones, so a card read and written back loses nothing.
    """

    # --- what the weights are
    name: str | None = None
    kind: str | None = None  # srresnet | srgan | denoiser
    scale: int | None = None  # upscaling factor; 1 for the denoiser
    architecture: dict | None = None  # the network's constructor arguments (Arch.arguments)
    # --- how they were made (written by the trainer)
    steps: int | None = None  # optimisation steps behind these weights
    batch_size: int | None = None  # crops per step, all processes together
    crop: int | None = None  # HR crop side in pixels
    crop_tries: int | None = None  # each crop the most detailed of this many random ones (1: uniform)
    precision: str | None = None  # fp32 | bf16 | fp16: the training arithmetic
    content_loss: str | None = None  # mse | vgg22 | vgg54 | effnet (denoiser: mse | l1)
    backbone: str | None = None  # the content loss's feature network, in words
    loss_weights: dict | None = None  # srgan: the perceptual loss's terms and weights
    data: list[str] | None = None  # training sources
    data_terms: list[str] | None = None  # the licence line of each source's SOURCE.md
    exclude: list[str] | None = None  # image lists left out of training
    validation: dict | None = None  # {"set": ..., metrics..., "step": ...} of the exported step
    selected_by: str | None = None  # the rule that picked the exported step, in words
    ema_decay: float | None = None
    freeze_bn: bool | None = None  # true: BatchNorm used its running statistics in training too
    noise_sigma: list[float] | None = None  # denoiser: the training σ range
    # SR: how the training LR was made: null = the benchmark's MATLAB bicubic; else the real-photo pipeline's
    # settings (srgan.ops.realistic.RealDegradation, every key), with hr_downscale and the validation preset.
    degradation: dict | None = None
    trained_on: str | None = None  # the machine, in words
    torch: str | None = None  # torch.__version__ of the run
    checkpoint: str | None = None  # the checkpoint file shipped, when not the run's export
    # --- added when the weights ship (publish, tools)
    weights_dtype: str | None = None  # the stored dtype (loading upcasts to float32)
    license: str | None = None
    command: str | None = None  # the exact training command
    note: str | None = None
    validation_history: list[dict] | None = None  # the run's validation records
    log_summary: list[str] | None = None  # first and last lines of the training log
    selection: dict | None = None  # tools/select_checkpoint.py's rows and pick
    benchmarks: list[dict] | None = None  # `srgan evaluate --json` results
    default_bar: dict | None = None  # tools/default_bar.py's verdict (read by default_upscaler)
    blend: list[dict] | None = None  # tools/blend_weights.py: [{"weight": w, "model": m}, ...]
    # --- not JSON keys
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know, as read
    nulls: frozenset[str] = frozenset()  # fields written as null while None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCard:
        known = {f.name for f in fields(cls)} - {"extra", "nulls"}
        return cls(
            **{k: v for k, v in d.items() if k in known},
            extra={k: v for k, v in d.items() if k not in known},
            nulls=frozenset(k for k, v in d.items() if k in known and v is None),
        )

    @classmethod
    def read(cls, weights: Path) -> ModelCard:
        """The card beside ``weights`` (an empty card when there is none)."""
        return cls.from_dict(read_card(weights))

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in ("extra", "nulls") and (value is not None or f.name in self.nulls):
                out[f.name] = value
        return {**out, **self.extra}

    def updated(self, **values: Any) -> ModelCard:
        """A copy with ``values`` set: known keys as fields (None drops one), others into ``extra``."""
        known = {f.name for f in fields(self)} - {"extra", "nulls"}
        return replace(
            self,
            **{k: v for k, v in values.items() if k in known},
            extra={**self.extra, **{k: v for k, v in values.items() if k not in known}},
            nulls=self.nulls - {k for k, v in values.items() if v is None},
        )

    def write(self, weights: Path) -> None:
        """Write the card beside ``weights`` (``.json``), atomically."""
        atomic_save_json(Path(weights).with_suffix(".json"), self.to_dict())


# ------------------------------------------------------------------------------------------ architectures


@dataclass(frozen=True)
class Arch:
    """A network's architecture as its state dict's keys and shapes tell it (the idea of spandrel's
    detection): enough to rebuild the network, and to say what a weights file holds without its card."""

    kind: str  # "srresnet" (the SRResNet generator, SRGAN-trained or not) | "denoiser"
    scale: int  # output side / input side (1 for the denoiser)
    in_channels: int  # image channels read (3: RGB, 1: grey)
    out_channels: int  # image channels written
    width: int  # feature channels of the first convolution
    blocks: int  # residual blocks (SRResNet's B, FFDNet's per level) or convolutions per level (unet denoiser)
    stride: int  # total downsampling inside the network: inputs are padded to a multiple (1: none)
    arguments: dict = field(hash=False)  # the constructor's arguments, as a card's "architecture"
    # The network class: "srresnet" | "unet" (the blind DenoisingAutoencoder) | "ffdnet" (told σ, srgan.models.ffdnet)
    design: str = "srresnet"

    @property
    def takes_sigma(self) -> bool:
        """Whether the network is told the noise level: ``net(noisy, sigma)`` rather than ``net(noisy)``."""
        return self.design == "ffdnet"

    def build(self) -> nn.Module:
        """A freshly initialised network of this architecture."""
        if self.design == "ffdnet":
            from srgan.models.ffdnet import FFDNet

            return FFDNet(**self.arguments)
        if self.kind == "denoiser":
            from srgan.models.denoiser import DenoisingAutoencoder

            return DenoisingAutoencoder(**self.arguments)
        from srgan.models.generator import Generator

        return Generator(**self.arguments)


def describe(state: dict[str, torch.Tensor]) -> Arch:
    """The architecture of an SRResNet generator's or a denoiser's (blind U-Net or FFDNet) state dict."""
    try:
        if "stem.0.weight" in state:
            from srgan.models.denoiser import config_from_state_dict

            d = config_from_state_dict(state)
            return Arch(kind="denoiser", scale=1, in_channels=d.channels, out_channels=d.channels, width=d.widths[0],
                        blocks=d.blocks_per_level, stride=2 ** (len(d.widths) - 1), arguments=d.to_dict(), design="unet")
        if "entry.weight" in state:
            from srgan.models import ffdnet

            f = ffdnet.config_from_state_dict(state)
            return Arch(kind="denoiser", scale=1, in_channels=f.channels, out_channels=f.channels, width=f.widths[0],
                        blocks=f.blocks_per_level, stride=f.stride,
                        arguments=f.to_dict(), design="ffdnet")
        if "head.weight" in state:
            from srgan.models.generator import config_from_state_dict

            g = config_from_state_dict(state)
            return Arch(kind="srresnet", scale=g.scale, in_channels=g.in_channels, out_channels=g.out_channels,
                        width=g.channels, blocks=g.num_blocks, stride=1, arguments=g.to_dict())
    except ValueError as e:
        raise SrganError(f"state dict does not fit the architecture its keys suggest: {e}") from None
    raise SrganError("state dict fits no srgan architecture (expected SRResNet, denoiser or FFDNet keys)")


def card_takes_sigma(card: ModelCard | dict) -> bool:
    """Whether a card's model is told the noise level σ (an FFDNet), read off its ``architecture`` without torch."""
    arch = card.architecture if isinstance(card, ModelCard) else card.get("architecture")
    return isinstance(arch, dict) and arch.get("arch") == "ffdnet"


def save_model(path: str | Path, model: nn.Module, card: ModelCard | dict, dtype: torch.dtype | None = None) -> None:
    """Write ``path`` (.safetensors) and its card ``path.with_suffix('.json')``, each atomically."""
    from safetensors.torch import save

    from srgan.io.files import atomic_write_bytes

    path = Path(path)
    card = card.to_dict() if isinstance(card, ModelCard) else card
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    # Bytes through our atomic writer, not safetensors' save_file: that one recreates the file owner-only
    # (0600), so a model saved for others to read (a shared install, a run folder) could not be.
    atomic_write_bytes(path, save(state, metadata={"kind": str(card.get("kind", ""))}))
    atomic_save_json(path.with_suffix(".json"), card)


def shipped_models() -> dict[str, Path]:
    """Name → weights path of every model shipped in the package."""
    if not WEIGHTS_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(WEIGHTS_DIR.glob("*.safetensors"))}


def default_upscaler() -> str:
    """The ×4 model that runs when none is named: ``srgan.DEFAULT_UPSCALER``.

    What users upscale are JPEGs, often a little blurred or noisy, and a model trained on clean bicubic LR
    draws each 8×8 block as a 32×32 tile. So the default is the first of :data:`REAL_UPSCALERS` whose card
    records that it met the bar (``default_bar.met``, written by ``tools/default_bar.py --real`` from measured
    blockiness, PSNR and NIQE on JPEG and blurred inputs and a look at 1:1 crops); with none, the faithful
    ``srresnet-x4``.
    """
    shipped = shipped_models()
    for name in REAL_UPSCALERS:
        if name in shipped and (read_card(shipped[name]).get("default_bar") or {}).get("met") is True:
            return name
    return FAITHFUL_UPSCALER


def read_card(weights: Path) -> dict:
    """The card beside ``weights`` as a dict ({} when there is none); SrganError when it is not a JSON object."""
    card = weights.with_suffix(".json")
    if not card.is_file():
        return {}
    try:
        data = json.loads(card.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise SrganError(f"{card}: model card is not valid JSON ({e.msg} at line {e.lineno})") from None
    except (UnicodeDecodeError, OSError) as e:
        raise SrganError(f"{card}: model card cannot be read ({e.__class__.__name__}: {e})") from None
    if not isinstance(data, dict):
        raise SrganError(f"{card}: model card must be a JSON object ({{...}}), not {type(data).__name__}")
    return data


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


def build_from_state(state: dict[str, torch.Tensor], card: ModelCard | dict | None = None) -> tuple[nn.Module, str]:
    """Instantiate the network whose architecture the state dict describes, load it strictly: (model, kind).

    The kind is the architecture's, except that a generator is "srgan" when its card says so."""
    arch = describe(state)
    card_kind = card.kind if isinstance(card, ModelCard) else (card or {}).get("kind")
    kind = card_kind if arch.kind == "srresnet" and card_kind in ("srresnet", "srgan") else arch.kind
    model = arch.build()
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
        state, found = load_state(run_dir / "model.safetensors")
        card = ModelCard.from_dict(found)
    else:
        state, ckpt_card = load_state(Path(checkpoint))
        # The run's card with the checkpoint's step; the exported model's validation is not this step's.
        card = ModelCard.read(run_dir / "model.safetensors").updated(
            steps=ckpt_card.get("steps"), checkpoint=Path(checkpoint).name, validation=None)
    model, kind = build_from_state(state, card)
    card = card.updated(name=name, kind=kind, weights_dtype=str(dtype).replace("torch.", ""),
                        license="MIT (weights trained by the srgan project)", **(card_extra or {}))
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    out = WEIGHTS_DIR / f"{name}.safetensors"
    save_model(out, model, card, dtype=dtype)
    return out
