"""Training: SRResNet on pixel MSE, SRGAN on the perceptual loss, and the denoising autoencoder.

One loop serves the three kinds (``TrainConfig.kind``):

- ``srresnet``: G minimises MSE(G(LR), HR); Adam(β1 = 0.9), lr 1e-4 (Ledig et al. 2017, Sec. 3.2).
- ``srgan``: G starts from an SRResNet and minimises content + 10⁻³·(−log D(G(LR))); D minimises binary
  cross-entropy on HR (real) vs G(LR) (fake); lr 1e-4, then 1e-5 for the second half of the run.
- ``denoiser``: the autoencoder minimises MSE (or L1) between its output and the clean image, on crops
  with Gaussian noise whose σ is drawn per sample.

A run folder holds everything about a run::

    RUN_DIR/config.yaml        the resolved configuration (what --resume reads)
    RUN_DIR/metrics.jsonl      every logged value, one JSON object per line
    RUN_DIR/checkpoints/       step_XXXXXXX.pt (last K) and best.pt, written atomically
    RUN_DIR/samples/           LR | bicubic | output | HR panels at each validation
    RUN_DIR/model.safetensors  the exported generator or denoiser, with its card model.json

Resuming is exact: batches are a pure function of (seed, step, rank) (see data.py) and the learning rate
a pure function of the step, so restoring the models, optimizers and step continues the very same run.
Under ``torchrun`` the loop runs DistributedDataParallel; rank 0 alone logs, validates and writes files.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from srgan.device import pick_device, pick_precision
from srgan.errors import SrganError

KINDS = ("srresnet", "srgan", "denoiser")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


# ------------------------------------------------------------------------------------------------ config


@dataclass
class TrainConfig:
    kind: str = "srresnet"
    # data
    data: list[str] = field(default_factory=list)  # folders, .txt lists, mnist:DIR, stl10:DIR
    exclude: list[str] = field(default_factory=list)  # .txt lists of images to leave out (the val split)
    val: str | None = None  # folder or .txt list of validation HR images
    val_max_images: int = 100
    cache_mb: float = 4096
    num_workers: int = 0  # DataLoader workers; 0 builds batches in the training process
    # what is learned
    scale: int = 4
    crop: int = 96  # HR crop size (the paper: 96)
    batch_size: int = 16  # per process
    steps: int = 100_000
    generator: dict = field(default_factory=lambda: {"num_blocks": 16, "channels": 64})
    denoiser: dict = field(default_factory=lambda: {"channels": 3, "widths": [48, 96, 192], "blocks_per_level": 2})
    # optimisation
    lr: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.999
    lr_schedule: str = "step"  # step: lr, then lr·gamma after lr_decay_at·steps (the paper) | cosine: lr → lr_min
    lr_decay_at: float | None = None  # fraction of `steps` after which lr is multiplied by lr_decay_gamma
    lr_decay_gamma: float = 0.1
    lr_min: float = 1e-6
    # Exponential moving average of the generator's weights (BasicSR, Real-ESRGAN): ema ← d·ema + (1 − d)·w
    # after every step. It averages out a GAN fine-tune's step-to-step swings, and is what validation scores,
    # checkpoints keep beside the raw weights, and model.safetensors holds. 0: off (the paper); 0.999 averages
    # about the last 1,000 steps.
    ema_decay: float = 0.0
    # srgan
    init_generator: str | None = None  # srresnet run folder, .safetensors or checkpoint
    content_loss: str = "effnet"  # mse | vgg22 | vgg54 | effnet
    content_feature_scale: float | None = None
    # effnet blocks whose features the content loss compares; None: (2, 4, 7, 10). Deep blocks alone play the
    # part of the paper's VGG φ5,4 (texture), shallow ones pull toward pixel MSE's smooth average.
    content_taps: list[int] | None = None
    # Features from strided networks (EfficientNet's stem is stride 2, its taps up to 16) give gradients with
    # the stride's period. Cropping SR and HR alike at an offset drawn from [0, content_shift) each step moves
    # that period's phase. It made the grid of a short run fainter, not gone (records/training/srgan-x4-probes).
    # 0: off (the paper).
    content_shift: int = 0
    # The same for the discriminator's input (real and fake alike), so D never sees one fixed phase of the LR
    # pixel grid. Tried against the period-4 grid of short fine-tunes (probe r5a): it made that grid stronger,
    # so the grid is not D's phase; grid_weight below removes it. 0: off (the paper).
    adversarial_shift: int = 0
    adversarial_weight: float = 1e-3
    pixel_weight: float = 0.0  # extra pixel MSE in the generator loss; 0 in the paper, anchors colours in short runs
    # full: MSE of SR and HR. lowpass: MSE of their scale×scale box averages, i.e. SR must agree with HR at
    # the LR's resolution (colour, shading) while fine detail is left to the content and adversarial terms,
    # which full-resolution MSE pulls back toward the blurry average.
    pixel_loss: str = "full"
    # Weight of losses.phase_locked_error (the fixed scale×scale pattern a PixelShuffle generator can add);
    # 0: off (the paper).
    grid_weight: float = 0.0
    # Weight of LDL's artifact loss (losses.artifact_loss, Liang et al. CVPR 2022): L1 toward HR where SR's
    # residual is locally noisy and the EMA generator is closer to HR, i.e. where a departure is an artifact,
    # not detail. Needs ema_decay > 0. 0: off (the paper).
    artifact_weight: float = 0.0
    vgg_weights: str | None = None
    # denoiser
    noise_sigma: list[float] = field(default_factory=lambda: [0.05, 0.5])
    denoise_loss: str = "mse"  # mse | l1
    val_sigmas: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.4, 0.5])
    # run
    precision: str = "auto"
    device: str = "auto"
    seed: int = 0
    log_every: int = 50
    val_every: int = 2000
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    export: str = "auto"  # which weights model.safetensors holds: best | last | auto (best)
    # Which validation picks "best". psnr: the highest validation PSNR. texture (GAN runs): the validation
    # hf_ratio closest to 1 (detail as rich as the originals') among validations whose PSNR is at most
    # select_max_psnr_drop dB below the starting generator's, measured at step 0. A GAN's texture swings
    # between checkpoints of one run (srgan-x4-r8: Set5 hf_ratio 1.02 / 0.71 / 0.80 / 0.79 at steps 250 to 1000),
    # so its last step is a draw; picking on the validation images makes it a choice. niqe: the lowest
    # validation NIQE (no-reference naturalness, srgan.ops.niqe; costs validation time) under the same PSNR budget.
    # auto: texture for srgan.
    select: str = "auto"
    # 1.75 dB on the validation cats: the 3 dB budget on Set5, scaled by the ratio of Set5 to cats
    # PSNR drop measured on probes r8 and r9 (1.69, 1.73; records/training/srgan-x4-r10).
    select_max_psnr_drop: float = 1.75
    sample_images: int = 4
    threads: int = 0  # torch intra-op threads; 0 leaves torch's default

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise SrganError(f"config: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.precision not in PRECISIONS:
            raise SrganError(f"config: precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise SrganError(f"config: device must be auto, cpu or cuda, not {self.device!r}")
        if self.scale not in (2, 4, 8):
            raise SrganError(f"config: scale must be 2, 4 or 8, not {self.scale}")
        if self.kind != "denoiser" and self.crop % self.scale:
            raise SrganError(f"config: crop {self.crop} must be a multiple of scale {self.scale}")
        for name in ("steps", "batch_size", "crop", "log_every", "val_every", "checkpoint_every", "keep_checkpoints"):
            if int(getattr(self, name)) < 1:
                raise SrganError(f"config: {name} must be a positive integer")
        if not self.data:
            raise SrganError("config: no training data (set data: in the YAML or pass --data)")
        if self.denoise_loss not in ("mse", "l1"):
            raise SrganError(f"config: denoise_loss must be mse or l1, not {self.denoise_loss!r}")
        if len(self.noise_sigma) != 2 or not 0 <= self.noise_sigma[0] <= self.noise_sigma[1]:
            raise SrganError("config: noise_sigma must be [low, high] with 0 <= low <= high")
        if self.lr_schedule not in ("step", "cosine"):
            raise SrganError(f"config: lr_schedule must be step or cosine, not {self.lr_schedule!r}")
        for name in ("content_shift", "adversarial_shift"):
            if self.kind == "srgan" and not 0 <= getattr(self, name) < self.crop // 2:
                raise SrganError(f"config: {name} must be in [0, crop/2), not {getattr(self, name)}")
        if self.content_taps is not None:
            try:
                self.content_taps = [int(t) for t in self.content_taps]
            except (TypeError, ValueError):
                raise SrganError("config: content_taps must be a list of EfficientNet block numbers, e.g. [7, 10]") from None
        if self.pixel_loss not in ("full", "lowpass"):
            raise SrganError(f"config: pixel_loss must be full or lowpass, not {self.pixel_loss!r}")
        if self.pixel_weight < 0 or self.adversarial_weight < 0 or self.grid_weight < 0:
            raise SrganError("config: pixel_weight, adversarial_weight and grid_weight must be >= 0")
        if not 0 <= self.ema_decay < 1:
            raise SrganError(f"config: ema_decay must be in [0, 1) (0: off), not {self.ema_decay}")
        if self.artifact_weight < 0:
            raise SrganError("config: artifact_weight must be >= 0")
        if self.artifact_weight and (self.kind != "srgan" or not self.ema_decay):
            raise SrganError("config: artifact_weight needs kind srgan and ema_decay > 0 (the artifact map compares "
                             "against the EMA generator), e.g. ema_decay: 0.999")
        if self.export not in ("auto", "best", "last"):
            raise SrganError("config: export must be auto, best or last")
        if self.select not in ("auto", "psnr", "texture", "niqe"):
            raise SrganError(f"config: select must be auto, psnr, texture or niqe, not {self.select!r}")
        if self.select in ("texture", "niqe") and self.kind == "denoiser":
            raise SrganError(f"config: select {self.select} is for super-resolution runs, not the denoiser")
        if not self.select_max_psnr_drop >= 0:
            raise SrganError("config: select_max_psnr_drop must be >= 0 (dB)")

    @property
    def image_channels(self) -> int:
        """Channels of the images the run reads (1: grey, 3: RGB)."""
        return self.denoiser.get("channels", 3) if self.kind == "denoiser" else self.generator.get("in_channels", 3)

    @property
    def selection(self) -> str:
        if self.select != "auto":
            return self.select
        return "texture" if self.kind == "srgan" else "psnr"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _coerce(key: str, text: str):
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise SrganError(f"--set {key}={text}: value is not valid YAML") from None


def _resolve_paths(d: dict, base: Path) -> None:
    """Relative data paths in a YAML are relative to the YAML's folder, so a config works from any cwd."""

    def fix(p: str) -> str:
        kind, sep, rest = p.partition(":")
        if sep and kind in ("mnist", "stl10"):
            return f"{kind}:{fix(rest)}"
        return p if os.path.isabs(p) else os.path.normpath(base / p)

    for key in ("data", "exclude"):
        if key in d and isinstance(d[key], list):
            d[key] = [fix(str(p)) for p in d[key]]
    for key in ("val", "init_generator", "vgg_weights"):
        if d.get(key):
            d[key] = fix(str(d[key]))


def load_config(path: str | Path | None, overrides: dict | None = None, sets: list[str] | None = None) -> TrainConfig:
    """YAML file, then flag overrides (cwd-relative paths), then ``--set key=value`` (dotted keys reach dicts)."""
    import yaml

    raw: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise SrganError(f"{path}: config file not found")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise SrganError(f"{path}: invalid YAML{where}") from None
        if not isinstance(raw, dict):
            raise SrganError(f"{path}: the config must be a mapping of keys to values")
        _resolve_paths(raw, path.resolve().parent)
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    _resolve_paths(flags, Path.cwd())
    raw.update(flags)
    for item in sets or []:
        key, eq, text = item.partition("=")
        if not eq:
            raise SrganError(f"--set {item}: expected key=value")
        value = _coerce(key, text)
        top, _, sub = key.partition(".")
        if sub:
            if top not in raw:
                default = next((f for f in dataclasses.fields(TrainConfig) if f.name == top), None)
                raw[top] = dict(default.default_factory()) if default and callable(default.default_factory) else {}
            if not isinstance(raw[top], dict):
                raise SrganError(f"--set {key}: {top} is not a mapping")
            raw[top] = {**raw[top], sub: value}
        else:
            raw[key] = value
    valid = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(raw) - valid)
    if unknown:
        raise SrganError(f"unknown config key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(valid))}")
    for f in dataclasses.fields(TrainConfig):
        if f.name in raw:
            raw[f.name] = _typed(f.name, str(f.type), raw[f.name])
    cfg = TrainConfig(**raw)
    cfg.validate()
    return cfg


def _typed(name: str, annotation: str, value):
    """Check a config value against its field's type, converting what YAML leaves as strings (``2e-4``)."""
    if value is None and "None" in annotation:
        return None
    base = annotation.split("|")[0].strip()
    try:
        if base == "int" and not isinstance(value, bool):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if base == "float" and not isinstance(value, bool):
            return float(value)
        if base == "str":
            if not isinstance(value, str):
                raise ValueError
            return value
        if base.startswith("list"):
            if isinstance(value, str):
                return [value]
            if not isinstance(value, list):
                raise ValueError
            return [float(v) for v in value] if base == "list[float]" else [str(v) for v in value]
        if base == "dict" and not isinstance(value, dict):
            raise ValueError
    except (TypeError, ValueError):
        raise SrganError(f"config: {name} must be {annotation}, not {value!r}") from None
    return value


# ------------------------------------------------------------------------------------------------ setup


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device: torch.device) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def _build_model(cfg: TrainConfig) -> nn.Module:
    if cfg.kind == "denoiser":
        from srgan.models.denoiser import DenoisingAutoencoder

        try:
            return DenoisingAutoencoder(**cfg.denoiser)
        except (TypeError, ValueError) as e:
            raise SrganError(f"config: denoiser: {e}") from None
    from srgan.models.generator import Generator

    try:
        return Generator(scale=cfg.scale, **cfg.generator)
    except (TypeError, ValueError) as e:
        raise SrganError(f"config: generator: {e}") from None


def _load_init_generator(model: nn.Module, source: str) -> None:
    from srgan.models import zoo

    state, _ = zoo.load_state(Path(source))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        raise SrganError(f"init_generator {source}: does not fit the generator ({lines[1][:200] if len(lines) > 1 else lines[0]})") from None


def lr_at(cfg: TrainConfig, step: int) -> float:
    """The learning rate of a step: a pure function of the step, so a resumed run follows the same curve."""
    if cfg.lr_schedule == "cosine":
        t = min(max(step - 1, 0) / max(cfg.steps - 1, 1), 1.0)
        return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * t))
    if cfg.lr_decay_at is not None and step > cfg.lr_decay_at * cfg.steps:
        return cfg.lr * cfg.lr_decay_gamma
    return cfg.lr


# ------------------------------------------------------------------------------------------- validation


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


class Validator:
    """Fixed validation inputs, prepared once: LR by the MATLAB-bicubic uint8 protocol, or noisy copies."""

    def __init__(self, cfg: TrainConfig, channels: int) -> None:
        from srgan.train.data import dataset_paths, decode_u8
        from srgan.ops.degrade import add_gaussian_noise
        from srgan.ops.imresize import imresize_uint8

        self.cfg = cfg
        self.items: list[tuple[str, np.ndarray, np.ndarray, float]] = []  # (name, input u8, target u8, sigma)
        paths = dataset_paths(cfg.val)[: cfg.val_max_images]
        rng = np.random.default_rng(0)
        for i, p in enumerate(paths):
            try:
                px = decode_u8(p, channels)
            except SrganError as e:
                print(f"warning: validation: skipping {e}", file=sys.stderr)
                continue
            if cfg.kind == "denoiser":
                sigma = cfg.val_sigmas[i % len(cfg.val_sigmas)]
                self.items.append((p.name, add_gaussian_noise(px, sigma, rng), px, sigma))
            else:
                s = cfg.scale
                h, w = px.shape[0] - px.shape[0] % s, px.shape[1] - px.shape[1] % s
                hr = np.ascontiguousarray(px[:h, :w])
                self.items.append((p.name, imresize_uint8(hr, scale=1 / s), hr, 0.0))
        if not self.items:
            raise SrganError(f"validation set {cfg.val}: no readable images")

    @torch.no_grad()
    def run(self, model: nn.Module, device: torch.device, precision: str) -> tuple[dict, list[np.ndarray]]:
        was_training = model.training
        model.eval()
        # Every validation image has its own size: cuDNN's autotuning (on for training) would re-run per shape.
        benchmark, torch.backends.cudnn.benchmark = torch.backends.cudnn.benchmark, False
        try:
            return self._run(model, device, precision)
        finally:
            model.train(was_training)
            torch.backends.cudnn.benchmark = benchmark

    def _run(self, model: nn.Module, device: torch.device, precision: str) -> tuple[dict, list[np.ndarray]]:
        from srgan.ops.metrics import hf_ratio, psnr, psnr_y, ssim, ssim_y

        psnrs, ssims, hfs, niqes, outputs = [], [], [], [], []
        # NIQE takes longer than the model on CPU, so only the niqe rule pays for it.
        want_niqe = self.cfg.kind != "denoiser" and self.cfg.selection == "niqe"
        for _, inp, target, _ in self.items:
            x = torch.from_numpy(inp).permute(2, 0, 1)[None].float().div(255).to(device)
            x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, precision):
                y = model(x)
            out = (y.float().clamp(0, 1) * 255).round().byte()[0].permute(1, 2, 0).cpu().numpy()
            outputs.append(out)
            if self.cfg.kind == "denoiser":
                psnrs.append(psnr(out, target))
                ssims.append(ssim(out, target))
            else:
                t3 = np.repeat(target, 3, 2) if target.shape[2] == 1 else target
                o3 = np.repeat(out, 3, 2) if out.shape[2] == 1 else out
                psnrs.append(psnr_y(o3, t3, border=self.cfg.scale))
                ssims.append(ssim_y(o3, t3, border=self.cfg.scale))
                hfs.append(hf_ratio(o3, t3, border=self.cfg.scale))
                if want_niqe:
                    from srgan.ops.niqe import niqe

                    try:
                        niqes.append(niqe(o3, crop_border=self.cfg.scale))
                    except SrganError:  # under two 96×96 blocks: NIQE is undefined, the image only misses this mean
                        pass
        if self.cfg.kind == "denoiser":
            return {"val_psnr_rgb": float(np.mean(psnrs)), "val_ssim_rgb": float(np.mean(ssims))}, outputs
        metrics = {"val_psnr_y": float(np.mean(psnrs)), "val_ssim_y": float(np.mean(ssims)), "val_hf_ratio": float(np.mean(hfs))}
        if want_niqe:
            if not niqes:
                raise SrganError(f"validation set {self.cfg.val}: select niqe, but no image is large enough for NIQE "
                                 f"(two 96×96 blocks after a {self.cfg.scale}-pixel border)")
            metrics["val_niqe"] = float(np.mean(niqes))
        return metrics, outputs

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


# ------------------------------------------------------------------------------------------- the loop


class EMA:
    """A frozen copy of a model whose weights follow the model's as ema ← decay·ema + (1 − decay)·w.

    Parameters and BatchNorm running statistics alike are averaged (integer buffers such as BN's batch count
    are copied), so the copy in eval mode is a consistent model. It starts from the model it is given."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        import copy

        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        src = model.state_dict()
        for name, e in self.model.state_dict().items():
            if e.is_floating_point():
                e.lerp_(src[name].detach(), 1.0 - self.decay)
            else:
                e.copy_(src[name])


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: Path, resume: bool = False) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.device = pick_device(cfg.device, allow_mps=False)
        self.precision = pick_precision(cfg.precision, self.device, training=True)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.dist = _init_distributed(self.device)
        if self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
            torch.backends.cudnn.benchmark = True  # every step has the same shapes: pick the fastest kernels once
        torch.manual_seed(cfg.seed)

        self.model = _build_model(cfg).to(self.device).to(memory_format=torch.channels_last)
        self.disc: nn.Module | None = None
        self.content = None
        if cfg.kind == "srgan":
            from srgan.train.losses import ContentLoss
            from srgan.models.discriminator import Discriminator

            if cfg.init_generator and not resume:
                _load_init_generator(self.model, cfg.init_generator)
            self.disc = Discriminator().to(self.device).to(memory_format=torch.channels_last)
            taps = tuple(cfg.content_taps) if cfg.content_taps is not None else None
            self.content = ContentLoss(cfg.content_loss, cfg.vgg_weights, cfg.content_feature_scale, taps).to(self.device)
            self.content = self.content.to(memory_format=torch.channels_last)
        betas = (cfg.beta1, cfg.beta2)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=cfg.lr, betas=betas) if self.disc else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision == "fp16")
        # Made from the starting weights (init_generator loaded); a resume overwrites them with the saved EMA.
        self.ema = EMA(self.model, cfg.ema_decay) if cfg.ema_decay else None
        self.step = 0
        self.best = -math.inf  # selection_score of the best validation so far
        self.ref_psnr: float | None = None  # validation PSNR at step 0, the texture rule's reference
        if resume:
            self._load_latest()
        self.train_model = self.model
        self.train_disc = self.disc
        if self.dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DDP(self.model, device_ids=ids)
            if self.disc is not None:
                self.train_disc = DDP(self.disc, device_ids=ids)
        self._stop = False
        self.interrupted = False

    # --- files

    @property
    def ckpt_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def _checkpoint(self) -> dict:
        key = "denoiser" if self.cfg.kind == "denoiser" else "generator"
        models = {key: self.model.state_dict()}
        if self.ema is not None:
            models[f"{key}_ema"] = self.ema.model.state_dict()
        opts = {"model": self.opt.state_dict()}
        if self.disc is not None:
            models["discriminator"] = self.disc.state_dict()
            opts["discriminator"] = self.opt_d.state_dict()
        return {
            "step": self.step,
            "config": self.cfg.to_dict(),
            "models": models,
            "optimizers": opts,
            "scaler": self.scaler.state_dict(),
            "best_score": self.best,
            "ref_psnr": self.ref_psnr,
            "rng": {"torch": torch.get_rng_state()},
        }

    def save_checkpoint(self, best: bool = False) -> Path:
        from srgan.io.images import atomic_path

        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        ckpt = self._checkpoint()
        path = self.ckpt_dir / f"step_{self.step:07d}.pt"
        with atomic_path(path) as tmp:
            torch.save(ckpt, tmp)
        if best:
            with atomic_path(self.ckpt_dir / "best.pt") as tmp:
                torch.save(ckpt, tmp)
        for old in sorted(self.ckpt_dir.glob("step_*.pt"))[: -self.cfg.keep_checkpoints]:
            old.unlink(missing_ok=True)
        return path

    def _load_latest(self) -> None:
        ckpts = sorted(self.ckpt_dir.glob("step_*.pt"))
        if not ckpts:
            raise SrganError(f"{self.run_dir}: no checkpoint to resume from in checkpoints/")
        for path in reversed(ckpts):  # a checkpoint cut short by a crash can't exist (atomic), but be safe
            try:
                ckpt = torch.load(path, map_location="cpu", weights_only=True)
                break
            except Exception as e:  # noqa: BLE001 - any unreadable file means "try the previous one"
                print(f"warning: {path.name} unreadable ({type(e).__name__}); trying an older one", file=sys.stderr)
        else:
            raise SrganError(f"{self.run_dir}: no readable checkpoint")
        key = "denoiser" if self.cfg.kind == "denoiser" else "generator"
        self.model.load_state_dict(ckpt["models"][key])
        if self.ema is not None:
            # A run started without EMA and resumed with it starts its average from the resumed weights.
            self.ema.model.load_state_dict(ckpt["models"].get(f"{key}_ema", ckpt["models"][key]))
        self.opt.load_state_dict(ckpt["optimizers"]["model"])
        if self.disc is not None:
            self.disc.load_state_dict(ckpt["models"]["discriminator"])
            self.opt_d.load_state_dict(ckpt["optimizers"]["discriminator"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.step = int(ckpt["step"])
        self.best = float(ckpt.get("best_score", ckpt.get("best_psnr", -math.inf)))  # best_psnr: older runs
        self.ref_psnr = ckpt.get("ref_psnr")
        torch.set_rng_state(ckpt["rng"]["torch"])

    def log(self, record: dict) -> None:
        if not self.dist.main:
            return
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps({**record, "time": round(time.time(), 2)}) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, record["step"])

    def export(self, metrics: dict) -> None:
        from srgan.models import zoo

        card = {
            "name": self.run_dir.name,
            "kind": self.cfg.kind,
            "scale": 1 if self.cfg.kind == "denoiser" else self.cfg.scale,
            "architecture": (
                self.model.config.to_dict() if hasattr(self.model.config, "to_dict") else dataclasses.asdict(self.model.config)
            ),
            "steps": self.step,
            "batch_size": self.cfg.batch_size * self.dist.world,
            "crop": self.cfg.crop,
            "precision": self.precision,
            "content_loss": self.cfg.content_loss if self.cfg.kind == "srgan" else ("mse" if self.cfg.kind == "srresnet" else self.cfg.denoise_loss),
            "backbone": self.content.backbone if self.content is not None else "none",
            "loss_weights": (
                {"content": 1.0, "content_feature_scale": self.content.scale, "content_shift": self.cfg.content_shift,
                 "adversarial": self.cfg.adversarial_weight, "adversarial_shift": self.cfg.adversarial_shift,
                 "pixel": self.cfg.pixel_weight, "pixel_loss": self.cfg.pixel_loss, "grid": self.cfg.grid_weight,
                 "artifact": self.cfg.artifact_weight}
                if self.cfg.kind == "srgan" else None
            ),
            "data": self.cfg.data,
            "data_terms": _data_terms(self.cfg.data),
            "exclude": self.cfg.exclude,
            "validation": {"set": self.cfg.val, **metrics},
            "selected_by": selection_text(self.cfg, self.ref_psnr),
            "ema_decay": self.cfg.ema_decay,
            "noise_sigma": self.cfg.noise_sigma if self.cfg.kind == "denoiser" else None,
            "trained_on": _where(self.device),
            "torch": torch.__version__,
        }
        zoo.save_model(self.run_dir / "model.safetensors", self.eval_model, card)

    @property
    def eval_model(self) -> nn.Module:
        """What validation scores and the run exports: the EMA generator when there is one."""
        return self.ema.model if self.ema is not None else self.model

    # --- steps

    def _sr_step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict:
        cfg = self.cfg
        with autocast(self.device, self.precision):
            sr = self.train_model(lr)
        out: dict = {}
        if self.disc is None:
            loss = F.l1_loss(sr.float(), hr) if cfg.kind == "denoiser" and cfg.denoise_loss == "l1" else F.mse_loss(sr.float(), hr)
            out["loss"] = loss.detach()
        else:
            # Discriminator: real HR vs detached SR.
            sr_d, hr_d = self._shifted(sr, hr, cfg.adversarial_shift, salt=0xD15C)
            with autocast(self.device, self.precision):
                d_real = self.train_disc(hr_d)
                d_fake = self.train_disc(sr_d.detach())
            from srgan.train.losses import adversarial_loss, discriminator_loss

            loss_d = discriminator_loss(d_real, d_fake)
            self.opt_d.zero_grad(set_to_none=True)
            self.scaler.scale(loss_d).backward()
            self.scaler.step(self.opt_d)
            # Generator: content + 1e-3 adversarial (+ optional pixel MSE), D's view of the *updated* discriminator.
            with autocast(self.device, self.precision):
                content = self.content(*self._shifted(sr, hr, cfg.content_shift, salt=0x5EED))
                adv = adversarial_loss(self.train_disc(sr_d))
            loss = content + cfg.adversarial_weight * adv
            if cfg.pixel_weight:
                if cfg.pixel_loss == "lowpass":
                    pixel = F.mse_loss(F.avg_pool2d(sr.float(), cfg.scale), F.avg_pool2d(hr, cfg.scale))
                else:
                    pixel = F.mse_loss(sr.float(), hr)
                loss = loss + cfg.pixel_weight * pixel
                out["pixel"] = pixel.detach()
            if cfg.grid_weight:
                from srgan.train.losses import phase_locked_error

                grid = phase_locked_error(sr, hr, cfg.scale)
                loss = loss + cfg.grid_weight * grid
                out["grid"] = grid.detach()
            if cfg.artifact_weight:
                from srgan.train.losses import artifact_loss

                with torch.no_grad(), autocast(self.device, self.precision):
                    sr_ema = self.ema.model(lr)
                artifact = artifact_loss(sr, hr, sr_ema)
                loss = loss + cfg.artifact_weight * artifact
                out["artifact"] = artifact.detach()
            out.update(
                loss=loss.detach(), content=content.detach(), adversarial=adv.detach(), loss_d=loss_d.detach(),
                d_real=torch.sigmoid(d_real.detach().float()).mean(), d_fake=torch.sigmoid(d_fake.detach().float()).mean(),
            )
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.disc is not None:
            # D's gradients from the generator pass are not D's to keep.
            self.opt_d.zero_grad(set_to_none=True)
        self.scaler.step(self.opt)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.model)
            if self.dist.world > 1:
                # The ranks' BN statistics differ (each sees its own batches): rank 0's average is the one
                # checkpoints keep, so every rank holds it and a resumed DDP run continues the same EMA.
                import torch.distributed as dist

                for buf in self.ema.model.buffers():
                    dist.broadcast(buf, 0)
        return {k: float(v) for k, v in out.items()}

    def _shifted(self, sr: torch.Tensor, hr: torch.Tensor, k: int, salt: int) -> tuple[torch.Tensor, torch.Tensor]:
        """SR and HR cropped alike to (size - k + 1) at an offset in [0, k) that depends only on (seed, step,
        salt): resume stays exact."""
        if k <= 1:
            return sr, hr
        dy, dx = np.random.default_rng((self.cfg.seed, self.step, salt)).integers(0, k, 2)
        h, w = sr.shape[-2] - k + 1, sr.shape[-1] - k + 1
        return sr[..., dy : dy + h, dx : dx + w], hr[..., dy : dy + h, dx : dx + w]

    def _handle_sigint(self, signum, frame) -> None:
        if self._stop:  # second Ctrl-C: the user really means it
            raise KeyboardInterrupt
        self._stop = True
        if self.dist.main:
            print("\ninterrupt: finishing this step, saving a checkpoint, then exiting", file=sys.stderr)

    def fit(self) -> Path:
        from srgan.train.data import BatchSpec, ImageStore, batches, read_path_list

        cfg = self.cfg
        if self.dist.main:
            (self.run_dir / "samples").mkdir(parents=True, exist_ok=True)
        self.tb = None
        if self.dist.main:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(self.run_dir / "tensorboard"))
            except ImportError:
                pass
        channels = cfg.image_channels
        exclude = {p for txt in cfg.exclude for p in read_path_list(txt)}
        store = ImageStore(cfg.data, channels=channels, exclude=exclude, cache_mb=cfg.cache_mb, min_size=cfg.crop)
        validator = Validator(cfg, channels) if cfg.val and self.dist.main else None
        if self.dist.main:
            r = store.report
            print(
                f"data: {r.images} images ({r.cached_bytes / 2**20:.0f} MiB in memory, {r.on_demand} decoded on demand, "
                f"{r.skipped_unreadable} unreadable skipped); validation: {len(validator.items) if validator else 0} images; "
                f"device {self.device}, precision {self.precision}, world {self.dist.world}",
                flush=True,
            )
        spec = BatchSpec(
            kind="denoise" if cfg.kind == "denoiser" else "sr", batch_size=cfg.batch_size, crop=cfg.crop,
            scale=cfg.scale, noise_sigma=tuple(cfg.noise_sigma), seed=cfg.seed, rank=self.dist.rank,
        )
        if self.step >= cfg.steps:
            if self.dist.main:
                print(f"already at step {self.step} of {cfg.steps}: nothing to do")
            return self.run_dir
        prev_handler = signal.signal(signal.SIGINT, self._handle_sigint) if self.dist.main else None
        bar = _progress(self.step, cfg.steps, enabled=self.dist.main)
        self.train_model.train()
        if self.train_disc is not None:
            self.train_disc.train()
        if validator is not None and self.step == 0 and cfg.selection in ("texture", "niqe"):
            self._validate_start(validator)
        busy, n0 = 0.0, 0  # seconds spent on training steps (data included) and images seen, since the last log
        last_metrics: dict = {}
        t_step = time.perf_counter()
        try:
            for inp, target in batches(store, spec, self.step, cfg.steps, cfg.num_workers):
                self.step += 1
                lr_now = lr_at(cfg, self.step)
                for opt in (self.opt, self.opt_d):
                    if opt is not None:
                        for group in opt.param_groups:
                            group["lr"] = lr_now
                inp = inp.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                target = target.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                losses = self._sr_step(inp, target)
                n0 += inp.shape[0]
                busy += time.perf_counter() - t_step
                if not all(math.isfinite(v) for v in losses.values()):
                    raise SrganError(f"step {self.step}: loss is not finite ({losses}); last checkpoint kept intact")
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    ips = n0 * self.dist.world / busy if busy > 0 else 0.0
                    self.log({"step": self.step, "lr": lr_now, "img_per_s": round(ips, 2), **losses})
                    bar.update(self.step, losses, ips)
                    busy, n0 = 0.0, 0
                validate = validator is not None and (self.step % cfg.val_every == 0 or self.step == cfg.steps)
                if validate:
                    last_metrics = self._validate(validator)
                if self.dist.main and (self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps or validate):
                    self.save_checkpoint(best=validate and last_metrics.get("_is_best", False))
                    if validator is None or self.step == cfg.steps:
                        self._export_final(last_metrics)
                stop = torch.tensor([self._stop], dtype=torch.uint8)
                if self.dist.world > 1:
                    import torch.distributed as dist

                    dist.all_reduce(stop, op=dist.ReduceOp.MAX)
                if stop.item():
                    self._sync_buffers()
                    self.interrupted = True
                    if self.dist.main:
                        self.save_checkpoint()
                        print(f"saved checkpoint at step {self.step}; resume with: srgan train --resume {self.run_dir}", file=sys.stderr)
                    return self.run_dir
                t_step = time.perf_counter()
            self._sync_buffers()
        finally:
            bar.close()
            if prev_handler is not None:
                signal.signal(signal.SIGINT, prev_handler)
            if self.tb is not None:
                self.tb.close()
        return self.run_dir

    def _sync_buffers(self) -> None:
        """Give every rank rank 0's BatchNorm statistics: DDP syncs gradients, not the running stats each
        rank updates from its own batches, so without this the ranks would end with different models."""
        if self.dist.world > 1:
            import torch.distributed as dist

            for module in (self.model, self.disc):
                for buf in module.buffers() if module is not None else ():
                    dist.broadcast(buf, 0)

    def _validate_start(self, validator: Validator) -> None:
        """Validate the starting generator: the reference the texture and niqe rules' PSNR budget counts from."""
        metrics, _ = validator.run(self.model, self.device, self.precision)
        self.ref_psnr = metrics["val_psnr_y"]
        self.log({"step": 0, **metrics, "reference": True})
        print("step 0: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
              + f" (reference: best = {selection_text(self.cfg, self.ref_psnr)})", flush=True)

    def _validate(self, validator: Validator) -> dict:
        metrics, outputs = validator.run(self.eval_model, self.device, self.precision)
        score = selection_score(self.cfg, metrics, self.ref_psnr)
        is_best = score > self.best
        if is_best:
            self.best = score
        self.log({"step": self.step, **metrics, "best": self.best, "select": self.cfg.selection})
        print(f"step {self.step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()), flush=True)
        from srgan.io.images import Picture, write_image

        panel = validator.panel(outputs, self.cfg.sample_images)
        write_image(self.run_dir / "samples" / f"step_{self.step:07d}.png", Picture(pixels=panel, alpha=None, mode="RGB", exif=None, icc_profile=None, format=None))
        if self.cfg.export == "last" or is_best:
            self.export({**metrics, "step": self.step})
        return {**metrics, "_is_best": is_best}

    def _export_final(self, metrics: dict) -> None:
        if self.cfg.selection in ("texture", "niqe") and self.best == -math.inf and metrics:
            print(f"warning: no validation kept val_psnr_y within {self.cfg.select_max_psnr_drop} dB of step 0's; "
                  "model.safetensors holds the last step", file=sys.stderr)
        if not (self.run_dir / "model.safetensors").exists() or self.cfg.export == "last" or not metrics:
            self.export({k: v for k, v in metrics.items() if not k.startswith("_")})


def _data_terms(sources: list[str]) -> list[str]:
    """The first line of the SOURCE.md beside each data folder, so model cards carry the data's terms."""
    terms = []
    for s in sources:
        p = Path(s.partition(":")[2] if s.startswith(("mnist:", "stl10:")) else s)
        for cand in (p / "SOURCE.md", p.parent / "SOURCE.md"):
            if cand.is_file():
                lic = [ln for ln in cand.read_text().splitlines() if "licen" in ln.lower() or "terms" in ln.lower()]
                terms.append(f"{p.name}: {(lic[0] if lic else cand.read_text().splitlines()[0]).strip('#- ').strip()}")
                break
    return terms


def _where(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads"


class _progress:
    """tqdm on a terminal; plain log lines (readable in a nohup log) otherwise."""

    def __init__(self, start: int, total: int, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.bar = None
        self.t_start, self.s_start, self.total = time.perf_counter(), start, total
        if enabled and self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)
            self.last = start

    def update(self, step: int, losses: dict, ips: float) -> None:
        if not self.enabled:
            return
        text = " ".join(f"{k}={v:.4g}" for k, v in losses.items())
        if self.bar is not None:
            self.bar.update(step - self.last)
            self.last = step
            self.bar.set_postfix_str(f"{text} img/s={ips:.1f}")
            return
        rate = (step - self.s_start) / max(time.perf_counter() - self.t_start, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else 0
        print(f"step {step}/{self.total} {text} img/s={ips:.1f} eta={eta / 60:.1f}min", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ----------------------------------------------------------------------------------------- entry point


def load_run_config(run_dir: Path, overrides: dict | None = None, sets: list[str] | None = None) -> TrainConfig:
    """The config a run folder was started with (its config.yaml), with overrides (None values ignored)."""
    import yaml

    saved = run_dir / "config.yaml"
    if not saved.is_file():
        raise SrganError(f"{run_dir}: not a run folder (no config.yaml)")
    raw = yaml.safe_load(saved.read_text())
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return load_config(None, raw, sets)


def train(
    cfg: TrainConfig | None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    overrides: dict | None = None,
    sets: list[str] | None = None,
) -> Trainer:
    """Start a run in ``out`` from ``cfg``, or resume the run in ``resume`` (with optional overrides, e.g. steps).

    Returns the trainer; ``trainer.run_dir`` is the run folder and ``trainer.interrupted`` tells whether
    Ctrl-C stopped it early (after saving a checkpoint)."""
    import yaml

    if resume is not None:
        run_dir = Path(resume)
        cfg = load_run_config(run_dir, overrides, sets)
        is_resume = any(run_dir.glob("checkpoints/step_*.pt"))
    else:
        assert cfg is not None
        run_dir = Path(out) if out else Path("runs") / f"{cfg.kind}-{time.strftime('%Y%m%d-%H%M%S')}"
        if any(run_dir.glob("checkpoints/*.pt")):
            raise SrganError(f"{run_dir}: already holds a run; resume it with --resume {run_dir} or choose another --out")
        is_resume = False
    if int(os.environ.get("RANK", "0")) == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        from srgan.io.images import atomic_write_bytes

        atomic_write_bytes(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False).encode())
    trainer = Trainer(cfg, run_dir, resume=is_resume)
    trainer.fit()
    return trainer
