"""Validation: scoring the model on fixed validation images, and the rule that picks the run's best step.

The validation inputs are made once per run, so every validation of a run (and a re-validation of its
checkpoints by ``tools/select_checkpoint.py``) scores the very same images:

- super-resolution: HR images cropped to a multiple of the scale, LR by the MATLAB-bicubic uint8 protocol
  (then the run's ``val_degradation`` preset, e.g. JPEG 75, for models of real photos);
  metrics PSNR and SSIM on Y (border of ``scale`` pixels removed) and hf_ratio (detail energy of SR over HR);
  NIQE too when the niqe rule needs it;
- denoiser: each clean image with Gaussian noise of one of ``val_sigmas``; metrics PSNR and SSIM on RGB. A
  denoiser told σ (ffdnet) is told the true σ of each image.

Which validation is "best" is :func:`selection_score` under ``TrainConfig.selection`` (psnr, texture, niqe).
Each validation also draws a panel of input | bicubic | output | target crops (``samples/step_N.png``).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from srgan.errors import SrganError
from srgan.train.config import TrainConfig
from srgan.train.networks import autocast


def selection_score(cfg: TrainConfig, metrics: dict, ref_psnr: float | None) -> float:
    """How good a validation is by ``cfg.selection``; larger is better, -inf: not eligible to be "best"."""
    if cfg.selection == "psnr":
        return metrics["val_psnr_rgb" if cfg.kind == "denoiser" else "val_psnr_y"]
    if ref_psnr is not None and metrics["val_psnr_y"] < ref_psnr - cfg.select_max_psnr_drop:
        return -math.inf
    if cfg.selection == "niqe":
        return -metrics["val_niqe"]
    return -abs(1.0 - metrics["val_hf_ratio"])


def selection_text(cfg: TrainConfig, ref_psnr: float | None) -> str:
    """The selection rule in words, for logs and the model card."""
    if cfg.selection not in ("texture", "niqe") or ref_psnr is None:
        return f"{cfg.selection} ({cfg.export})"
    what = "val_hf_ratio closest to 1" if cfg.selection == "texture" else "lowest val_niqe"
    return (f"{what} with val_psnr_y >= {ref_psnr - cfg.select_max_psnr_drop:.4f} "
            f"(step-0 val_psnr_y {ref_psnr:.4f} - {cfg.select_max_psnr_drop} dB)")


def validation_paths(cfg: TrainConfig) -> list[Path]:
    """The photos a run validates on: the first ``val_max_images`` of ``val``, in its order."""
    from srgan.train.data import dataset_paths

    return dataset_paths(cfg.val)[: cfg.val_max_images]


class Validator:
    """Fixed validation inputs, prepared once: LR by the MATLAB-bicubic uint8 protocol, or noisy copies."""

    def __init__(self, cfg: TrainConfig, channels: int) -> None:
        from srgan.ops.degrade import add_gaussian_noise
        from srgan.ops.imresize import imresize_uint8
        from srgan.ops.realistic import apply_preset, preset_rng
        from srgan.train.data import decode_u8

        self.cfg = cfg
        self.items: list[tuple[str, np.ndarray, np.ndarray, float]] = []  # (name, input u8, target u8, sigma)
        paths = validation_paths(cfg)
        rng = np.random.default_rng(0)
        for i, p in enumerate(paths):
            try:
                px = decode_u8(p, channels)
            except SrganError as e:
                print(f"warning: validation: skipping {e}", file=sys.stderr)
                continue
            if not self._scorable(*px.shape[:2]):
                # Found here, not at the first validation: that comes after val_every steps, past a checkpoint.
                need = ("SSIM's 11×11 window, and padding to the denoiser's stride" if cfg.kind == "denoiser"
                        else f"SSIM's 11×11 window after a {cfg.scale}-px border")
                print(f"warning: validation: skipping {p.name}: {px.shape[1]}×{px.shape[0]} is too small to score ({need})",
                      file=sys.stderr)
                continue
            if cfg.kind == "denoiser":
                sigma = cfg.val_sigmas[i % len(cfg.val_sigmas)]
                self.items.append((p.name, add_gaussian_noise(px, sigma, rng), px, sigma))
            else:
                s = cfg.scale
                h, w = px.shape[0] - px.shape[0] % s, px.shape[1] - px.shape[1] % s
                hr = np.ascontiguousarray(px[:h, :w])
                lr = imresize_uint8(hr, scale=1 / s)
                if cfg.val_degradation != "bicubic":
                    lr = apply_preset(lr, cfg.val_degradation, preset_rng(p.name))
                self.items.append((p.name, lr, hr, 0.0))
        if not self.items:
            raise SrganError(f"validation set {cfg.val}: no readable images large enough to score")

    def _scorable(self, h: int, w: int) -> bool:
        """Whether an h×w validation image can be run and scored: SSIM needs 11×11 pixels after the border
        (``scale`` pixels for SR, of the size cropped to a multiple of it), and the denoiser reflect-pads its
        input to a multiple of its stride, which needs the padding to be under the size."""
        cfg = self.cfg
        if cfg.kind == "denoiser":
            if cfg.denoiser_arch == "ffdnet":  # it replicates where reflection would not fit
                return min(h, w) >= 11
            stride = 2 ** (len(cfg.denoiser.get("widths", [48, 96, 192])) - 1)
            return all(n >= 11 and (-n) % stride < n for n in (h, w))
        s = cfg.scale
        return all(n - n % s - 2 * s >= 11 for n in (h, w))

    @torch.no_grad()
    def run(self, model: nn.Module, device: torch.device, precision: str) -> tuple[dict, list[np.ndarray]]:
        """(metrics, outputs as uint8 arrays) of ``model`` on the validation images, in eval mode; afterwards every
        submodule is back in its own mode (a generator training with frozen BatchNorm keeps it frozen)."""
        modes = [(m, m.training) for m in model.modules()]
        model.eval()
        # Every validation image has its own size: cuDNN's autotuning (on for training) would re-run per shape.
        benchmark, torch.backends.cudnn.benchmark = torch.backends.cudnn.benchmark, False
        try:
            return self._run(model, device, precision)
        finally:
            for m, training in modes:
                m.training = training
            torch.backends.cudnn.benchmark = benchmark

    def _run(self, model: nn.Module, device: torch.device, precision: str) -> tuple[dict, list[np.ndarray]]:
        outputs = []
        takes_sigma = getattr(model, "takes_sigma", False)
        for _, inp, _, sigma in self.items:
            x = torch.from_numpy(inp).permute(2, 0, 1)[None].float().div(255).to(device)
            x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, precision):
                y = model(x, torch.tensor([sigma], device=device)) if takes_sigma else model(x)
            outputs.append((y.float().clamp(0, 1) * 255).round().byte()[0].permute(1, 2, 0).cpu().numpy())
        if self.cfg.kind == "denoiser":
            return self._denoiser_metrics(outputs), outputs
        return self._sr_metrics(outputs), outputs

    def _denoiser_metrics(self, outputs: list[np.ndarray]) -> dict:
        from srgan.ops.metrics import psnr, ssim

        targets = [target for _, _, target, _ in self.items]
        return {"val_psnr_rgb": float(np.mean([psnr(o, t) for o, t in zip(outputs, targets)])),
                "val_ssim_rgb": float(np.mean([ssim(o, t) for o, t in zip(outputs, targets)]))}

    def _sr_metrics(self, outputs: list[np.ndarray]) -> dict:
        from srgan.ops.metrics import hf_ratio, psnr_y, ssim_y

        border = self.cfg.scale
        # NIQE takes longer than the model on CPU, so only the niqe rule pays for it.
        want_niqe = self.cfg.selection == "niqe"
        psnrs, ssims, hfs, niqes = [], [], [], []
        for (_, _, target, _), out in zip(self.items, outputs):
            t3 = np.repeat(target, 3, 2) if target.shape[2] == 1 else target
            o3 = np.repeat(out, 3, 2) if out.shape[2] == 1 else out
            psnrs.append(psnr_y(o3, t3, border=border))
            ssims.append(ssim_y(o3, t3, border=border))
            hfs.append(hf_ratio(o3, t3, border=border))
            if want_niqe:
                from srgan.ops.niqe import niqe

                try:
                    niqes.append(niqe(o3, crop_border=border))
                except SrganError:  # under two 96×96 blocks: NIQE is undefined, the image only misses this mean
                    pass
        metrics = {"val_psnr_y": float(np.mean(psnrs)), "val_ssim_y": float(np.mean(ssims)), "val_hf_ratio": float(np.mean(hfs))}
        if want_niqe:
            if not niqes:
                raise SrganError(f"validation set {self.cfg.val}: select niqe, but no image is large enough for NIQE "
                                 f"(two 96×96 blocks after a {border}-pixel border)")
            metrics["val_niqe"] = float(np.mean(niqes))
        return metrics

    def panel(self, outputs: list[np.ndarray], n: int, size: int = 160) -> np.ndarray:
        """Rows of input | bicubic (SR only) | output | target, centre crops of the first ``n`` images."""
        from srgan.ops.imresize import imresize_uint8

        rows = []
        for (_, inp, target, _), out in list(zip(self.items, outputs))[:n]:
            s = target.shape[0] // inp.shape[0] if self.cfg.kind != "denoiser" else 1
            c = min(size, target.shape[0], target.shape[1]) // max(s, 1) * max(s, 1)
            y0 = (target.shape[0] - c) // 2 // max(s, 1) * max(s, 1)
            x0 = (target.shape[1] - c) // 2 // max(s, 1) * max(s, 1)
            crop = lambda a, k=1: a[y0 // k : (y0 + c) // k, x0 // k : (x0 + c) // k]  # noqa: E731
            if self.cfg.kind == "denoiser":
                tiles = [crop(inp), crop(out), crop(target)]
            else:
                lr = crop(inp, s)
                nearest = np.repeat(np.repeat(lr, s, 0), s, 1)
                bicubic = imresize_uint8(np.ascontiguousarray(inp), scale=s)
                tiles = [nearest, crop(bicubic), crop(out), crop(target)]
            tiles = [np.repeat(t, 3, 2) if t.shape[2] == 1 else t for t in tiles]
            rows.append(np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255) for t in tiles], 1))
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
        return np.concatenate(rows, 0)

    def save_panel(self, path: Path, outputs: list[np.ndarray]) -> None:
        """Write :meth:`panel` of ``cfg.sample_images`` images to ``path`` (PNG)."""
        from srgan.io.picture import Picture
        from srgan.io.write import write_image

        pixels = self.panel(outputs, self.cfg.sample_images)
        write_image(path, Picture(pixels=pixels, alpha=None, mode="RGB", exif=None, icc_profile=None, format=None))
