"""Checkpoints: everything a run needs to continue exactly where it stopped, on disk.

``RUN_DIR/checkpoints/step_XXXXXXX.pt`` (the last ``keep_checkpoints``) and ``best.pt`` (the best validation
so far by the selection rule) are ``torch.save`` dicts that load with ``weights_only=True``::

    step         the steps done
    config       TrainConfig.to_dict() of the run
    models       {"generator" | "denoiser": ..., "generator_ema" | "denoiser_ema": ... (ema_decay > 0),
                  "discriminator": ... (srgan)}: state dicts
    optimizers   {"model": ..., "discriminator": ... (srgan)}: Adam state dicts
    scaler       the fp16 GradScaler's state
    best_score   selection_score of the best validation so far (older runs: best_psnr)
    ref_psnr     validation PSNR at step 0, the texture and niqe rules' reference (None without one)
    rng          {"torch": torch's CPU RNG state}

Every file is written under a temporary name and renamed (``srgan.io.files.atomic_path``), so a crash or a
SIGKILL never leaves a torn checkpoint under a final name; the resumed run deletes the temp files a killed one
left, and cuts metrics.jsonl back to its checkpoint's step (``loop.truncate_log``). Resuming restores all of
it; since batches are a pure function of (seed, step, rank) and the learning rate of the step, the resumed
run is the same run.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from srgan.errors import SrganError
from srgan.train.ema import EMA


def network_key(kind: str) -> str:
    """The ``models`` key of the network a run of ``kind`` trains (and exports)."""
    return "denoiser" if kind == "denoiser" else "generator"


def exported_weights(ckpt: dict) -> dict:
    """The state dict a checkpoint's run validates and exports: the EMA generator's when it has one."""
    key = network_key(ckpt.get("config", {}).get("kind", "srresnet"))
    return ckpt["models"].get(f"{key}_ema", ckpt["models"][key])


@dataclass
class TrainingState:
    """The live objects a checkpoint saves and a resume restores, and the run's counters."""

    kind: str  # TrainConfig.kind: which models key the network is saved under
    model: nn.Module  # the generator or the denoiser (not its DDP wrapper)
    opt: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    ema: EMA | None = None
    disc: nn.Module | None = None
    opt_d: torch.optim.Optimizer | None = None
    step: int = 0  # optimisation steps done
    best: float = -math.inf  # selection_score of the best validation so far
    ref_psnr: float | None = None  # validation PSNR at step 0, the texture and niqe rules' reference

    def to_checkpoint(self, config: dict) -> dict:
        key = network_key(self.kind)
        models = {key: self.model.state_dict()}
        if self.ema is not None:
            models[f"{key}_ema"] = self.ema.model.state_dict()
        opts = {"model": self.opt.state_dict()}
        if self.disc is not None:
            models["discriminator"] = self.disc.state_dict()
            opts["discriminator"] = self.opt_d.state_dict()
        return {
            "step": self.step,
            "config": config,
            "models": models,
            "optimizers": opts,
            "scaler": self.scaler.state_dict(),
            "best_score": self.best,
            "ref_psnr": self.ref_psnr,
            "rng": {"torch": torch.get_rng_state()},
        }

    def restore(self, ckpt: dict) -> None:
        """Load a checkpoint's weights, optimizer states, counters and RNG state into this state."""
        key = network_key(self.kind)
        self.model.load_state_dict(ckpt["models"][key])
        if self.ema is not None:
            # A run started without EMA and resumed with it starts its average from the resumed weights.
            self.ema.model.load_state_dict(ckpt["models"].get(f"{key}_ema", ckpt["models"][key]))
        self.opt.load_state_dict(ckpt["optimizers"]["model"])
        if self.disc is not None:
            from srgan.models.discriminator import pad_input_channels, widen_input

            # A run resumed with conditional_discriminator on: D's first conv gains the LR's channels.
            try:
                self.disc.load_state_dict(widen_input(ckpt["models"]["discriminator"], self.disc))
            except RuntimeError as e:
                lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
                raise SrganError(f"checkpoint step {ckpt['step']}: its discriminator does not fit this config's "
                                 f"(discriminator, discriminator_channels, conditional_discriminator): "
                                 f"{lines[1][:160] if len(lines) > 1 else lines[0][:160]}") from None
            self.opt_d.load_state_dict(ckpt["optimizers"]["discriminator"])
            for p in self.disc.parameters():  # and Adam's moments for them start at zero, as for a new weight
                for name, m in self.opt_d.state.get(p, {}).items():
                    if torch.is_tensor(m) and m.dim() == 4 and m.shape[1] < p.shape[1]:
                        self.opt_d.state[p][name] = pad_input_channels(m, p.shape[1])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.step = int(ckpt["step"])
        self.best = float(ckpt.get("best_score", ckpt.get("best_psnr", -math.inf)))  # best_psnr: older runs
        self.ref_psnr = ckpt.get("ref_psnr")
        torch.set_rng_state(ckpt["rng"]["torch"])


def save_checkpoint(ckpt_dir: Path, ckpt: dict, keep: int, best: bool = False) -> Path:
    """Write ``ckpt`` as ``step_XXXXXXX.pt`` (and as ``best.pt`` when ``best``), atomically, then delete all but
    the newest ``keep`` step files. Returns the step file's path."""
    from srgan.io.files import atomic_path

    ckpt_dir.mkdir(parents=True, exist_ok=True)
    path = ckpt_dir / f"step_{ckpt['step']:07d}.pt"
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
    if best:
        with atomic_path(ckpt_dir / "best.pt") as tmp:
            torch.save(ckpt, tmp)
    for old in sorted(ckpt_dir.glob("step_*.pt"))[:-keep]:
        old.unlink(missing_ok=True)
    return path


def step_checkpoints(run_dir: Path) -> list[Path]:
    """A run's ``checkpoints/step_XXXXXXX.pt`` files, oldest first (the zero-padded step sorts by name)."""
    return sorted((run_dir / "checkpoints").glob("step_*.pt"))


def checkpoint_step_of(path: Path) -> int:
    """The step in a step checkpoint's file name."""
    return int(path.stem.split("_")[1])


def has_checkpoint(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a step checkpoint to resume from."""
    return bool(step_checkpoints(run_dir))


def load_latest(run_dir: Path) -> dict:
    """The newest readable step checkpoint of a run."""
    ckpts = step_checkpoints(run_dir)
    if not ckpts:
        raise SrganError(f"{run_dir}: no checkpoint to resume from in checkpoints/")
    for path in reversed(ckpts):  # a checkpoint cut short by a crash can't exist (atomic), but be safe
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file means "try the previous one"
            print(f"warning: {path.name} unreadable ({type(e).__name__}); trying an older one", file=sys.stderr)
    raise SrganError(f"{run_dir}: no readable checkpoint")
