"""The networks a run trains: built from its config, started from a saved generator, run in its precision.

Shared by the trainer and by tools that re-validate a run's checkpoints (``tools/select_checkpoint.py``), so
both build exactly the network the config describes.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from srgan.errors import SrganError
from srgan.train.config import TrainConfig


def build_model(cfg: TrainConfig) -> nn.Module:
    """The network ``cfg.kind`` trains (the SRResNet generator or the denoiser), freshly initialised."""
    if cfg.kind == "denoiser":
        args = {k: v for k, v in cfg.denoiser.items() if k != "arch"}
        if cfg.denoiser_arch == "ffdnet":
            from srgan.models.ffdnet import FFDNet as Denoiser
        else:
            from srgan.models.denoiser import DenoisingAutoencoder as Denoiser

        try:
            return Denoiser(**args)
        except (TypeError, ValueError) as e:
            raise SrganError(f"config: denoiser: {e}") from None
    from srgan.models.generator import Generator

    try:
        return Generator(scale=cfg.scale, **cfg.generator)
    except (TypeError, ValueError) as e:
        raise SrganError(f"config: generator: {e}") from None


def load_init_generator(model: nn.Module, source: str | Path) -> None:
    """Load ``init_generator`` (a run folder, .safetensors or checkpoint) into ``model``, which it must fit."""
    from srgan.models import zoo

    state, _ = zoo.load_state(Path(source))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        raise SrganError(f"init_generator {source}: does not fit the generator ({lines[1][:200] if len(lines) > 1 else lines[0]})") from None


def autocast(device: torch.device, precision: str):
    """The autocast context of a run's precision (fp32: autocast off)."""
    if precision == "fp32":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
