"""The card of a run's deliverable (``RUN_DIR/model.safetensors`` + ``model.json``): the one place a training
run's model card is made.

The card records what the weights are, how the run made them (data and its terms, loss, precision, machine)
and which validation they scored; ``zoo.publish`` later adds what shipping adds (name, licence, command).
"""

from __future__ import annotations

import dataclasses
import os
import platform
from pathlib import Path

import torch
from torch import nn

from srgan.models.zoo import ModelCard
from srgan.train.config import TrainConfig
from srgan.train.validate import selection_text


def run_card(
    cfg: TrainConfig, *, name: str, network: nn.Module, step: int, world: int, precision: str, backbone: str,
    content_feature_scale: float | None, validation: dict, ref_psnr: float | None, device: torch.device,
) -> ModelCard:
    """The card of a run's exported model. ``validation``: the exported step's metrics (with its "step")."""
    srgan = cfg.kind == "srgan"
    usm = ({"gt_usm": cfg.gt_usm_weight, "gt_usm_sigma": cfg.gt_usm_sigma, "gt_usm_threshold": cfg.gt_usm_threshold}
           if cfg.gt_usm_weight else {})
    loss_weights = {
        "content": 1.0, "content_feature_scale": content_feature_scale, "content_shift": cfg.content_shift,
        "content_criterion": cfg.content_criterion,
        "adversarial": cfg.adversarial_weight, "adversarial_shift": cfg.adversarial_shift,
        "pixel": cfg.pixel_weight, "pixel_loss": cfg.pixel_loss, "grid": cfg.grid_weight,
        "artifact": cfg.artifact_weight, "block_edge": cfg.block_edge_weight,
        "discriminator": cfg.discriminator if cfg.discriminator == "srgan" else f"unet{cfg.discriminator_channels}",
        "gan_loss": cfg.gan_loss, "discriminator_lr_ratio": cfg.discriminator_lr_ratio,
        # only when on, so that the cards of runs from before the term read as they did
        **({"plain_pixel": cfg.plain_pixel_weight} if cfg.plain_pixel_weight else {}),
        **({"conditional_discriminator": True} if cfg.conditional_discriminator else {}),
        **({"degraded_adversarial_scale": cfg.degraded_adversarial_scale} if cfg.degraded_adversarial_scale != 1 else {}),
        **({"degraded_content_scale": cfg.degraded_content_scale} if cfg.degraded_content_scale != 1 else {}),
        **({"block_profile": cfg.block_profile_weight} if cfg.block_profile_weight else {}),
        **usm,
    }
    return ModelCard(
        name=name,
        kind=cfg.kind,
        scale=1 if cfg.kind == "denoiser" else cfg.scale,
        architecture=network.config.to_dict(),
        steps=step,
        batch_size=cfg.batch_size * world,
        crop=cfg.crop,
        crop_tries=cfg.crop_tries,
        precision=precision,
        content_loss=cfg.content_loss if srgan else cfg.criterion,
        backbone=backbone,
        # A pixel-loss model lists its weights only when it has a second term.
        loss_weights=loss_weights if srgan else (
            {"pixel": 1.0, "block_edge": cfg.block_edge_weight,
             **({"block_profile": cfg.block_profile_weight} if cfg.block_profile_weight else {}), **usm}
            if cfg.block_edge_weight or cfg.block_profile_weight or cfg.gt_usm_weight else None),
        data=cfg.data,
        data_terms=data_terms(cfg.data),
        exclude=cfg.exclude,
        validation={"set": cfg.val, **validation},
        selected_by=selection_text(cfg, ref_psnr),
        ema_decay=cfg.ema_decay,
        freeze_bn=cfg.freeze_bn,
        noise_sigma=cfg.noise_sigma if cfg.kind == "denoiser" else None,
        degradation=degradation_text(cfg),
        trained_on=where(device),
        torch=torch.__version__,
        # Every run card has the same keys: the ones that do not apply to the kind are null.
        nulls=frozenset({"loss_weights", "noise_sigma", "degradation"}),
    )


def degradation_text(cfg: TrainConfig) -> dict | None:
    """The card's ``degradation``: None for the paper's bicubic LR, else every setting the pipeline ran with."""
    if cfg.kind == "denoiser" or (cfg.degradation is None and cfg.hr_downscale == 1 and cfg.val_degradation == "bicubic"):
        return None
    from srgan.ops.realistic import RealDegradation

    pipeline = None if cfg.degradation is None else dataclasses.asdict(RealDegradation.from_dict(cfg.degradation))
    return {"pipeline": pipeline, "hr_downscale": cfg.hr_downscale, "validation": cfg.val_degradation}


def data_terms(sources: list[str]) -> list[str]:
    """The first licence line of the SOURCE.md beside each data folder, so model cards carry the data's terms."""
    terms = []
    for s in sources:
        p = Path(s.partition(":")[2] if s.startswith(("mnist:", "stl10:")) else s)
        for cand in (p / "SOURCE.md", p.parent / "SOURCE.md"):
            if cand.is_file():
                lic = [ln for ln in cand.read_text().splitlines() if "licen" in ln.lower() or "terms" in ln.lower()]
                terms.append(f"{p.name}: {(lic[0] if lic else cand.read_text().splitlines()[0]).strip('#- ').strip()}")
                break
    return terms


def where(device: torch.device) -> str:
    """The machine a run trains on, in words."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads"
