"""Tiny training runs for the train tests: a one-block, 8-channel generator on the generated images of
``conftest.image_folder``, a few steps in fp32, and ways to compare the weights runs end with."""

from __future__ import annotations

from pathlib import Path

import torch

from srgan.train.config import TrainConfig, load_config

TINY = {"num_blocks": 1, "channels": 8}


def tiny_cfg(data: Path, **kw) -> TrainConfig:
    base = dict(
        kind="srresnet", data=[str(data)], generator=TINY, crop=16, batch_size=2, steps=6, precision="fp32",
        checkpoint_every=2, val_every=3, log_every=1, keep_checkpoints=2, val=str(data), val_max_images=2,
        sample_images=2, seed=3,
    )
    base.update(kw)
    return load_config(None, base)


def weights(run: Path, name: str = "generator") -> dict:
    """A network's weights in a run's newest step checkpoint."""
    ckpt = sorted((run / "checkpoints").glob("step_*.pt"))[-1]
    return torch.load(ckpt, weights_only=True)["models"][name]


def max_diff(a: dict, b: dict) -> float:
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


# --- runs as separate processes, as a user starts them


def cli(*args: str) -> list[str]:
    """The argv of ``srgan ARGS`` in a fresh interpreter."""
    import sys

    return [sys.executable, "-m", "srgan.cli", *args]


def write_cfg(tmp_path: Path, data: Path, **kw) -> Path:
    """A tiny srresnet config file in ``tmp_path``; ``kw`` overrides its keys."""
    import yaml

    cfg = dict(kind="srresnet", data=[str(data)], generator=TINY, crop=16, batch_size=2, steps=200,
               precision="fp32", checkpoint_every=5, log_every=5, seed=1)
    cfg.update(kw)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def wait_for(pred, timeout: float = 60.0) -> bool:
    import time

    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False
