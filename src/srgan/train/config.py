"""The training configuration: the ``TrainConfig`` schema, and reading it from YAML, flags and ``--set``.

A run's settings come from three layers, later ones winning:

1. a YAML file (``configs/*.yaml``), whose relative paths are relative to the file's folder;
2. the ``srgan train`` flags (``--steps``, ``--data`` ...), whose relative paths are relative to the cwd;
3. ``--set key=value`` (repeatable; ``generator.num_blocks=8`` reaches a key inside ``generator``), the value
   read as the field's type says: ``--set val=2024`` is a folder name, ``--set lr=2e-4`` a float.

pydantic checks the types (its lax mode: YAML 1.1 reads ``2e-4`` as a string, pydantic turns it into the float
the field wants); :meth:`TrainConfig.check` then checks the values against each other. Either way a mistake is
one :class:`SrganError` line that names the key. A run folder's ``config.yaml`` is this schema dumped with
every key, which :func:`load_run_config` reads back to resume the run.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError, ValidationInfo, field_validator, with_config
from pydantic.dataclasses import dataclass
from typing_extensions import TypedDict, is_typeddict  # pydantic needs these, not typing's, before Python 3.12

from srgan.errors import SrganError

KINDS = ("srresnet", "srgan", "denoiser")
# denoiser.arch: unet (srgan.models.denoiser, blind) | ffdnet (srgan.models.ffdnet, told σ). Named here so the
# schema stays free of torch; a test ties them to the models.
DENOISER_ARCHS = ("unet", "ffdnet")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# Keys whose values are paths: relative ones are resolved when read (see resolve_paths).
PATH_LIST_KEYS = ("data", "exclude")
PATH_KEYS = ("val", "init_generator", "vgg_weights")


@with_config(ConfigDict(extra="forbid"))
class GeneratorArgs(TypedDict, total=False):
    """``generator:`` — SRResNet's arguments (srgan.models.generator.GeneratorConfig less ``scale``, which is
    the run's). Keys left out take the network's defaults."""

    num_blocks: int  # residual blocks, B in the paper (16)
    channels: int  # feature channels of every block (64)
    in_channels: int  # image channels read: 3 (RGB) or 1 (grey)
    out_channels: int  # image channels written: 3 or 1


@with_config(ConfigDict(extra="forbid"))
class DenoiserArgs(TypedDict, total=False):
    """``denoiser:`` — which denoiser and its arguments (srgan.models.denoiser.DenoiserConfig for unet,
    srgan.models.ffdnet.FFDNetConfig for ffdnet)."""

    arch: str  # unet: the blind denoising autoencoder (the default) | ffdnet: told σ through a noise level map
    channels: int  # image channels: 3 (RGB) or 1 (grey)
    widths: list[int]  # feature channels per level, finest first; each further level halves the resolution
    # unet: 3×3 convolutions per level, in the encoder and the decoder alike; ffdnet: residual blocks (two
    # convolutions each) per level, in the encoder, the body and the decoder (DRUNet's nb)
    blocks_per_level: int


@dataclass(config=ConfigDict(extra="forbid"))
class TrainConfig:
    """Everything a training run is told: each field is a YAML key of ``configs/*.yaml``.

    Hyper-parameters carry the names of Ledig et al. 2017 where the paper has them. Why the defaults and the
    shipped configs have the values they have: records/training/config-history.md.
    """

    # What is trained: srresnet (the generator on pixel MSE) | srgan (the generator on the perceptual loss,
    # against a discriminator) | denoiser (a denoiser, blind or told σ: denoiser.arch).
    kind: str = "srresnet"

    # --- data
    data: list[str] = field(default_factory=list)  # training sources: folders, .txt lists, mnist:DIR, stl10:DIR
    exclude: list[str] = field(default_factory=list)  # .txt lists of images left out of training (the val split)
    val: str | None = None  # validation HR images: a folder or a .txt list; None: no validation
    val_max_images: int = 100  # validate on the first N of them
    cache_mb: float = 4096  # MiB of decoded training images held in memory; the rest are decoded per batch
    num_workers: int = 0  # DataLoader worker processes; 0 builds batches in the training process
    # Antialiased MATLAB-bicubic downscale of every training image by this factor (>= 1) when it is read: 2 washes
    # out a JPEG's own 8×8 blocks and noise, so a model for real photos does not learn to draw them (the field's
    # DIV2K multi-scale copies). 1: the images as they are.
    hr_downscale: float = 1.0
    # srresnet/srgan: how LR crops are made. None: the benchmark's MATLAB bicubic (the paper). A mapping: the
    # real-photo degradation of srgan.ops.realistic.RealDegradation (blur, resize, noise, JPEG, twice, then the
    # final resize); keys left out take its defaults (Real-ESRGAN's), nested stages key by key.
    degradation: dict | None = None
    # What the validation LR images go through after the bicubic downscale: a preset of srgan.ops.realistic.PRESETS
    # (bicubic | jpeg50 | jpeg75 | blur-noise-jpeg70), seeded per image, the same at every validation.
    val_degradation: str = "bicubic"

    # --- what is learned
    scale: int = 4  # upscaling factor r: 2, 4 or 8 (the denoiser keeps the size)
    crop: int = 96  # side of the HR training crops in pixels (the paper: 96); a multiple of scale
    # Each sample keeps the most detailed (mean |luma gradient|) of this many random crops of its image, so that
    # texture (fur, foliage) is a larger share of what a GAN sees than of a photo's area. 1: uniform (the paper).
    # 4 made the real-photo GAN worse on every preset (records/training/srgan-x4-real-r27).
    crop_tries: int = 1
    batch_size: int = 16  # crops per step in each process (the paper: 16)
    steps: int = 100_000  # optimisation steps of the whole run, counted across resumes
    generator: GeneratorArgs = field(default_factory=lambda: {"num_blocks": 16, "channels": 64})
    denoiser: DenoiserArgs = field(default_factory=lambda: {"channels": 3, "widths": [48, 96, 192], "blocks_per_level": 2})
    # srresnet: the pixel loss between SR and HR. mse: the paper's. l1: Real-ESRNet's (Wang et al. 2021). On the
    # faint JPEG-50 tiles a PSNR model leaves, 700 steps of L1 did no better than MSE (records/training/srresnet-x4-real-r4).
    sr_loss: str = "mse"

    # --- optimisation (Adam; the paper: β1 0.9, lr 1e-4)
    lr: float = 1e-4  # learning rate at the start
    beta1: float = 0.9  # Adam's β1
    beta2: float = 0.999  # Adam's β2
    # step: lr until lr_decay_at·steps, then lr·lr_decay_gamma (the paper's two phases) | cosine: lr → lr_min
    lr_schedule: str = "step"
    lr_decay_at: float | None = None  # step schedule: fraction of steps (0-1) after which lr drops; None: never
    lr_decay_gamma: float = 0.1  # step schedule: factor the lr is multiplied by at lr_decay_at
    lr_min: float = 1e-6  # cosine schedule: the lr of the last step
    # true: the generator's BatchNorm layers use their running statistics in training as at inference, i.e. each is
    # a fixed per-channel scale and shift that keeps learning, and one crop's output no longer depends on the other
    # crops of its batch. For fine-tunes: ESRGAN (Wang et al. 2018, Sec. 3.1) removed BN from SRGAN's generator
    # because batch statistics, which differ between training and inference, bring artifacts under GAN training.
    # false: the paper's BatchNorm, which did better on the real-photo GAN (records/training/srgan-x4-real-r29).
    freeze_bn: bool = False
    # Exponential moving average of the generator's weights, ema ← d·ema + (1 − d)·w after every step, in [0, 1);
    # 0: off (the paper). When on, validation scores it, checkpoints keep it beside the raw weights and
    # model.safetensors holds it; 0.999 averages over about the last 1,000 steps.
    ema_decay: float = 0.0

    # --- srgan: the perceptual loss l = content + adversarial_weight · (−log D(G(LR))) [+ the extra terms below]
    init_generator: str | None = None  # the starting network: a run folder, .safetensors or checkpoint of the same architecture
    content_loss: str = "effnet"  # mse | vgg22 | vgg54 (VGG19 φ2,2 / φ5,4, need vgg_weights) | effnet (EfficientNet-Lite0)
    # Factor on both feature maps before their MSE; None: the backbone's own (1/12.75 for VGG as in the paper,
    # 1.0 for effnet). Smaller values give the adversarial term more say.
    content_feature_scale: float | None = None
    # EfficientNet-Lite0 blocks (0-15, `_blocks.t`) whose features the effnet content loss compares; None: (2, 4, 7, 10).
    # Deep blocks compare texture (the part of the paper's VGG φ5,4); shallow ones pull toward pixel MSE's average.
    content_taps: list[int] | None = None
    # How SR's and HR's feature maps are compared: mse (the paper's Eq. 5) | l1 (ESRGAN's, BasicSR's PerceptualLoss).
    content_criterion: str = "mse"
    # Pixels, in [0, crop/2): each step crops SR and HR alike at an offset drawn from [0, content_shift) before
    # the content loss, so the feature network's stride grid (period 2-16) has no fixed phase. 0: off (the paper).
    content_shift: int = 0
    # The same random crop for the discriminator's input, real and fake alike. 0: off (the paper).
    adversarial_shift: int = 0
    adversarial_weight: float = 1e-3  # weight of −log D(G(LR)) (the paper: 10⁻³)
    pixel_weight: float = 0.0  # weight of an extra pixel MSE term, >= 0; 0: off (the paper)
    # full: MSE of SR and HR. lowpass: MSE of their scale×scale box averages, i.e. SR must agree with HR at
    # the LR's resolution (colour, shading) while fine detail is left to the content and adversarial terms.
    pixel_loss: str = "full"
    # Weight of a full-resolution pixel MSE on the crops whose LR is plain (the degradation's clean and JPEG-only
    # branches: nothing to deblur or denoise), averaged over the whole batch, >= 0. The perceptual terms draw the
    # same texture on every input; this holds the plain inputs nearer HR (PSNR) while blurred and noisy ones keep
    # the full perceptual pull. Needs degradation.random_jpeg_grid (whose batches carry each crop's branch). 0: off.
    plain_pixel_weight: float = 0.0
    # The adversarial term's factor on the crops whose LR is blurred or noised (the degradation's LR-blur and full
    # branches), >= 0; plain crops keep the full adversarial_weight. On a blurred, noisy JPEG the GAN term is what
    # draws the input's noise and ringing as speckle: without it 250 steps took the speckle (flat_noise) from 1.90
    # to 1.42 while the content loss alone held blurred NIQE at 5.2 (records/training/srgan-x4-real-r61, -r62).
    # Needs degradation.random_jpeg_grid (whose batches carry each crop's branch). 1: every crop alike.
    degraded_adversarial_scale: float = 1.0
    # The content loss's factor on those same blurred and noised crops, >= 0. The content loss, not the GAN term,
    # is what holds their NIQE without speckle (records/training/srgan-x4-real-r61, -r62): weighing it up there lets
    # the GAN term be eased on them without their texture going soft. Needs degradation.random_jpeg_grid. 1: alike.
    degraded_content_scale: float = 1.0
    # Weight of losses.phase_locked_error, >= 0: the fixed scale×scale pattern (grid) a PixelShuffle generator
    # can add. 0: off (the paper).
    grid_weight: float = 0.0
    # Weight of LDL's artifact loss (losses.artifact_loss, Liang et al. CVPR 2022), >= 0: L1 toward HR where SR's
    # residual is locally noisy and the EMA generator is closer to HR. Needs ema_decay > 0. 0: off (the paper).
    artifact_weight: float = 0.0
    # Weight of losses.jpeg_block_error, >= 0: how much more SR's steps across the JPEG block borders of the LR
    # stand out from their neighbours than HR's, read on scale×scale means (the borders where
    # degradation.random_jpeg_grid puts them, else every 8 LR px from the crop's corner). A perceptual fine-tune
    # on JPEG inputs sharpens those borders into tiles; a pixel-loss model keeps faint ones
    # (records/training/srresnet-x4-real-r4). Needs a real-photo degradation; srresnet and srgan. 0: off (ours).
    block_edge_weight: float = 0.0
    # Weight of losses.block_profile_error, >= 0: how SR's steps between LR cells vary with their place in the LR's
    # JPEG blocks (every phase of the 8-px grid, not only the border), against HR's. block_edge_weight charges the
    # step on the border alone, and the generators trained with it moved the step one LR pixel into the block
    # (on blurred, noisy JPEGs: records/training/srgan-x4-real-r68; at 5 the profile reached Real-ESRGAN's in 1,000
    # steps, -r70). Needs what block_edge_weight needs. 0: off (ours).
    block_profile_weight: float = 0.0
    # Real-ESRGAN's sharpened ground truth (losses.usm_sharpen): every term that compares SR with HR (pixel, content,
    # grid, block and artifact terms) compares it with HR + gt_usm_weight · (HR − Gaussian(HR)) where that residual
    # exceeds gt_usm_threshold (in [0, 1]), while the discriminator's real images stay plain HR (Real-ESRGAN's
    # l1_gt_usm / percep_gt_usm on, gan_gt_usm off; its weight 0.5, σ 8, threshold 10/255). The targets' edges are
    # crisper than the average a pixel loss pulls toward. 0: off (the paper).
    gt_usm_weight: float = 0.0
    gt_usm_sigma: float = 8.0
    gt_usm_threshold: float = 10 / 255
    vgg_weights: str | None = None  # ImageNet VGG19 weights file for the vgg22/vgg54 content losses
    # srgan: the paper's (one logit per image, models.discriminator.Discriminator) | unet: Real-ESRGAN's U-Net with
    # spectral normalisation (one logit per pixel, UNetDiscriminator; the adversarial terms average over pixels).
    discriminator: str = "srgan"
    discriminator_channels: int = 64  # unet: C, the first level's channels (Real-ESRGAN: 64); the others 2C, 4C, 8C
    # D judges each image beside the LR it came from (nearest-neighbour ×scale, as 3 more input channels): a
    # conditional GAN's discriminator (pix2pix, Isola et al. CVPR 2017, Sec. 2.1). Unconditioned, D can only ask
    # whether SR looks like *a* photo, so the generator may draw an input's noise and JPEG ringing as texture;
    # beside the LR, texture that follows the LR's noise is a tell that real HR never shows. A run resumed with it
    # on keeps its D: the new input channels start at zero (models.discriminator.widen_input). false: the paper.
    conditional_discriminator: bool = False
    # The discriminator's learning rate over the generator's, at every step of the schedule: the two time-scale
    # update rule (Heusel et al. 2017; SAGAN, Zhang et al. 2019, trains D at 4x G's rate). 1: one rate (the paper).
    # 4 took the real-photo GAN off the PSNR-NIQE line every other setting walked (records/training/srgan-x4-real-r31).
    discriminator_lr_ratio: float = 1.0
    # vanilla: the paper's −log D(G(LR)) and D's binary cross-entropy | relativistic: ESRGAN's relativistic average
    # loss (losses.relativistic_*; Wang et al. 2018), D asked whether HR looks more real than the average SR.
    gan_loss: str = "vanilla"

    # --- denoiser
    noise_sigma: list[float] = field(default_factory=lambda: [0.05, 0.5])  # [low, high]: σ on [0, 1], drawn per crop
    denoise_loss: str = "mse"  # mse | l1, between the output and the clean crop
    val_sigmas: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.4, 0.5])  # σ of validation image i: [i mod n]

    # --- the run
    precision: str = "auto"  # auto (bf16 on CPUs with bf16 kernels, AMP on CUDA) | fp32 | bf16 | fp16
    device: str = "auto"  # auto | cpu | cuda
    seed: int = 0  # seeds the initial weights and the data order (batches are a function of seed and step)
    log_every: int = 50  # steps between metrics.jsonl records and progress lines
    val_every: int = 2000  # steps between validations (and the last step)
    checkpoint_every: int = 1000  # steps between checkpoints (also written at each validation and the end)
    keep_checkpoints: int = 3  # step_*.pt files kept (the newest); best.pt is kept besides
    export: str = "auto"  # which weights model.safetensors holds: best | last | auto (best)
    # Which validation is "best". psnr: the highest validation PSNR. texture: the validation hf_ratio closest
    # to 1 (detail as rich as the originals'). niqe: the lowest validation NIQE (no-reference naturalness,
    # srgan.ops.niqe; costs validation time). texture and niqe only consider validations whose PSNR is at most
    # select_max_psnr_drop below the starting generator's (validated at step 0). auto: texture for srgan, else psnr.
    select: str = "auto"
    select_max_psnr_drop: float = 1.75  # dB, >= 0: the texture and niqe rules' PSNR budget
    sample_images: int = 4  # validation images shown in each samples/step_N.png panel
    threads: int = 0  # torch intra-op threads; 0 leaves torch's default

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # YAML reads yes/no/on/off as booleans and pydantic would read True as 1: `steps: yes` is a mistake.
        items = value if isinstance(value, list) else [value]
        if _wants_number(_field_types()[info.field_name]) and any(isinstance(v, bool) for v in items):
            raise ValueError("a number, not a boolean")
        return value

    def check(self) -> None:
        """Check the values against their ranges and each other (the types are pydantic's)."""
        self._check_choices()
        self._check_sizes()
        self._check_optimiser()
        self._check_networks()
        self._check_srgan()
        self._check_degradation()
        self._check_selection()

    def _check_choices(self) -> None:
        if self.kind not in KINDS:
            raise SrganError(f"config: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.precision not in PRECISIONS:
            raise SrganError(f"config: precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise SrganError(f"config: device must be auto, cpu or cuda, not {self.device!r}")
        if self.sr_loss not in ("mse", "l1"):
            raise SrganError(f"config: sr_loss must be mse or l1, not {self.sr_loss!r}")
        if self.sr_loss != "mse" and self.kind != "srresnet":
            raise SrganError("config: sr_loss is the srresnet kind's pixel loss (srgan: pixel_loss, denoiser: denoise_loss)")
        if self.denoise_loss not in ("mse", "l1"):
            raise SrganError(f"config: denoise_loss must be mse or l1, not {self.denoise_loss!r}")
        if self.lr_schedule not in ("step", "cosine"):
            raise SrganError(f"config: lr_schedule must be step or cosine, not {self.lr_schedule!r}")
        if self.pixel_loss not in ("full", "lowpass"):
            raise SrganError(f"config: pixel_loss must be full or lowpass, not {self.pixel_loss!r}")
        if self.export not in ("auto", "best", "last"):
            raise SrganError("config: export must be auto, best or last")
        # srgan.train.losses.CONTENT_LOSSES, named here so the schema stays free of torch (a test ties the two).
        if self.content_loss not in ("mse", "vgg22", "vgg54", "effnet"):
            raise SrganError(f"config: content_loss must be mse, vgg22, vgg54 or effnet, not {self.content_loss!r}")

    def _check_sizes(self) -> None:
        if self.scale not in (2, 4, 8):
            raise SrganError(f"config: scale must be 2, 4 or 8, not {self.scale}")
        if self.kind != "denoiser" and self.crop % self.scale:
            raise SrganError(f"config: crop {self.crop} must be a multiple of scale {self.scale}")
        for name in ("steps", "batch_size", "crop", "crop_tries", "log_every", "val_every", "checkpoint_every",
                     "keep_checkpoints", "val_max_images", "sample_images"):
            if getattr(self, name) < 1:
                raise SrganError(f"config: {name} must be a positive integer")
        # seed: numpy's generators refuse negative seeds, at the first batch.
        for name in ("num_workers", "threads", "seed"):
            if getattr(self, name) < 0:
                raise SrganError(f"config: {name} must be an integer >= 0, not {getattr(self, name)}")
        if not 0 <= self.cache_mb < float("inf"):
            raise SrganError(f"config: cache_mb must be a number of MiB >= 0, not {self.cache_mb}")
        if not self.data:
            raise SrganError("config: no training data (set data: in the YAML or pass --data)")
        # σ is on the [0, 1] pixel scale: beyond 1 the noise drowns the image (and NaN would poison every crop).
        if len(self.noise_sigma) != 2 or not 0 <= self.noise_sigma[0] <= self.noise_sigma[1] <= 1:
            raise SrganError(f"config: noise_sigma must be [low, high] with 0 <= low <= high <= 1, not {self.noise_sigma}")
        if not self.val_sigmas or not all(0 <= s <= 1 for s in self.val_sigmas):
            raise SrganError(f"config: val_sigmas must be a non-empty list of σ in [0, 1], not {self.val_sigmas}")

    def _check_degradation(self) -> None:
        from srgan.ops.realistic import PRESETS, RealDegradation

        if not self.hr_downscale >= 1:
            raise SrganError(f"config: hr_downscale must be >= 1 (1: off), not {self.hr_downscale}")
        if self.degradation is not None:
            if self.kind == "denoiser":
                raise SrganError("config: degradation is for super-resolution runs (srresnet, srgan), not the denoiser")
            RealDegradation.from_dict(self.degradation).check()
        if self.val_degradation not in PRESETS:
            raise SrganError(f"config: val_degradation must be one of {', '.join(PRESETS)}, not {self.val_degradation!r}")

    def _check_optimiser(self) -> None:
        # torch.optim.Adam refuses these only when the run builds it, with a traceback; NaN and inf would let
        # it train to a non-finite loss.
        if not 0 < self.lr < float("inf"):
            raise SrganError(f"config: lr must be a number > 0, not {self.lr}")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise SrganError(f"config: {name} must be in [0, 1), not {getattr(self, name)}")
        if not 0 <= self.lr_min < float("inf"):
            raise SrganError(f"config: lr_min must be a number >= 0, not {self.lr_min}")
        if self.lr_decay_at is not None and not 0 < self.lr_decay_at <= 1:
            raise SrganError(f"config: lr_decay_at must be a fraction of steps in (0, 1] (null: never), not {self.lr_decay_at}")
        if not 0 < self.lr_decay_gamma <= 1:
            raise SrganError(f"config: lr_decay_gamma must be in (0, 1], not {self.lr_decay_gamma}")

    def _check_networks(self) -> None:
        # The networks' own checks come when the run builds them, or as a shape error at the first step.
        g = {"num_blocks": 16, "channels": 64, "in_channels": 3, "out_channels": 3, **self.generator}
        for name in ("num_blocks", "channels"):
            if g[name] < 1:
                raise SrganError(f"config: generator.{name} must be a positive integer, not {g[name]}")
        if g["in_channels"] not in (1, 3):
            raise SrganError(f"config: generator.in_channels must be 1 (grey) or 3 (RGB), not {g['in_channels']}")
        if g["out_channels"] != g["in_channels"]:
            # The targets are read with in_channels: another count would broadcast the loss over the wrong channels.
            raise SrganError(f"config: generator.out_channels must equal generator.in_channels ({g['in_channels']}), "
                             f"not {g['out_channels']}")
        d = {"arch": "unet", "channels": 3, "widths": [48, 96, 192], "blocks_per_level": 2, **self.denoiser}
        if d["arch"] not in DENOISER_ARCHS:
            raise SrganError(f"config: denoiser.arch must be one of {', '.join(DENOISER_ARCHS)}, not {d['arch']!r}")
        if d["channels"] not in (1, 3):
            raise SrganError(f"config: denoiser.channels must be 1 (grey) or 3 (RGB), not {d['channels']}")
        if not d["widths"] or min(d["widths"]) < 1:
            raise SrganError(f"config: denoiser.widths must be a non-empty list of positive integers, not {d['widths']}")
        if d["blocks_per_level"] < 1:
            raise SrganError(f"config: denoiser.blocks_per_level must be a positive integer, not {d['blocks_per_level']}")
        stride = 2 ** (len(d["widths"]) - 1)
        # ffdnet pads by reflection where it can and by replication where it cannot: any crop runs.
        if self.kind == "denoiser" and d["arch"] == "unet" and self.crop < stride:
            # The denoiser reflect-pads its input to a multiple of its stride, which needs the padding under the size.
            raise SrganError(f"config: crop {self.crop} must be at least {stride} for a denoiser of {len(d['widths'])} "
                             "levels (denoiser.widths)")

    def _check_srgan(self) -> None:
        if self.discriminator not in ("srgan", "unet"):
            raise SrganError(f"config: discriminator must be srgan or unet, not {self.discriminator!r}")
        if not 0 < self.discriminator_lr_ratio < float("inf"):
            raise SrganError(f"config: discriminator_lr_ratio must be a number > 0, not {self.discriminator_lr_ratio}")
        if self.discriminator_channels < 1:  # an int: the schema checked the type
            raise SrganError(f"config: discriminator_channels must be an integer >= 1, not {self.discriminator_channels!r}")
        if self.gan_loss not in ("vanilla", "relativistic"):
            raise SrganError(f"config: gan_loss must be vanilla or relativistic, not {self.gan_loss!r}")
        # srgan.train.losses.CONTENT_CRITERIA (a test ties the two).
        if self.content_criterion not in ("mse", "l1"):
            raise SrganError(f"config: content_criterion must be mse or l1, not {self.content_criterion!r}")
        for name in ("content_shift", "adversarial_shift"):
            if self.kind == "srgan" and not 0 <= getattr(self, name) < self.crop // 2:
                raise SrganError(f"config: {name} must be in [0, crop/2), not {getattr(self, name)}")
        for name in ("pixel_weight", "plain_pixel_weight", "degraded_adversarial_scale", "degraded_content_scale",
                     "adversarial_weight",
                     "grid_weight", "artifact_weight", "block_edge_weight", "block_profile_weight", "gt_usm_weight",
                     "gt_usm_threshold"):
            if not 0 <= getattr(self, name) < float("inf"):
                raise SrganError(f"config: {name} must be a number >= 0, not {getattr(self, name)}")
        if self.content_feature_scale is not None and not 0 < self.content_feature_scale < float("inf"):
            raise SrganError(f"config: content_feature_scale must be a number > 0 (null: the backbone's own), "
                             f"not {self.content_feature_scale}")
        # EfficientNet-Lite0 has 16 blocks (srgan.models.features; a test ties the two).
        if self.content_taps is not None and (not self.content_taps or not all(0 <= t < 16 for t in self.content_taps)):
            raise SrganError(f"config: content_taps must be EfficientNet-Lite0 block indices 0-15, e.g. [2, 4, 7, 10], "
                             f"not {self.content_taps}")
        if not 0 <= self.ema_decay < 1:
            raise SrganError(f"config: ema_decay must be in [0, 1) (0: off), not {self.ema_decay}")
        for name in ("block_edge_weight", "block_profile_weight"):
            if getattr(self, name) and (self.kind == "denoiser" or self.degradation is None):
                raise SrganError(f"config: {name} needs kind srresnet or srgan and a degradation (the JPEG "
                                 "blocks it looks for are made there)")
        # Settings that weigh crops by the degradation branch that made them (plain or blurred/noised).
        knows_branches = self.kind == "srgan" and (self.degradation or {}).get("random_jpeg_grid")
        for name, on in (("plain_pixel_weight", self.plain_pixel_weight != 0),
                         ("degraded_adversarial_scale", self.degraded_adversarial_scale != 1),
                         ("degraded_content_scale", self.degraded_content_scale != 1)):
            if on and not knows_branches:
                raise SrganError(f"config: {name} needs kind srgan and a degradation with random_jpeg_grid: true "
                                 "(its batches say which crops are plain and which blurred or noised)")
        if self.gt_usm_weight:
            if self.kind == "denoiser":
                raise SrganError("config: gt_usm_weight is for super-resolution runs (srresnet, srgan), not the denoiser")
            # The Gaussian's reflect padding (3σ each side) must fit inside the HR crop.
            if not 0 < self.gt_usm_sigma < float("inf") or math.ceil(3 * self.gt_usm_sigma) >= self.crop:
                raise SrganError(f"config: gt_usm_sigma must be > 0 with 3σ under the crop ({self.crop} px), "
                                 f"not {self.gt_usm_sigma}")
        if self.conditional_discriminator and self.kind != "srgan":
            raise SrganError("config: conditional_discriminator needs kind srgan (a run with a discriminator)")
        if self.artifact_weight and (self.kind != "srgan" or not self.ema_decay):
            raise SrganError("config: artifact_weight needs kind srgan and ema_decay > 0 (the artifact map compares "
                             "against the EMA generator), e.g. ema_decay: 0.999")

    def _check_selection(self) -> None:
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
    def denoiser_arch(self) -> str:
        """The denoiser's design (``denoiser.arch``): unet (blind) or ffdnet (told σ)."""
        return self.denoiser.get("arch", "unet")

    @property
    def criterion(self) -> str:
        """mse | l1: the one loss of a run without a discriminator (``sr_loss`` or, for the denoiser, ``denoise_loss``)."""
        return self.denoise_loss if self.kind == "denoiser" else self.sr_loss

    @property
    def selection(self) -> str:
        """The rule that picks "best": ``select`` with auto decided by the kind."""
        if self.select != "auto":
            return self.select
        return "texture" if self.kind == "srgan" else "psnr"

    def to_dict(self) -> dict:
        """Every key with its value: what a run folder's config.yaml and its checkpoints hold."""
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------------------------ loading


def load_config(path: str | Path | None, overrides: dict | None = None, sets: list[str] | None = None) -> TrainConfig:
    """YAML file, then flag overrides (None values ignored; cwd-relative paths), then ``--set key=value``."""
    raw = read_yaml(path) if path is not None else {}
    raw.update(resolve_paths({k: v for k, v in (overrides or {}).items() if v is not None}, Path.cwd()))
    for item in sets or []:
        apply_set(raw, item)
    return config_from_dict(raw)


def load_run_config(run_dir: Path, overrides: dict | None = None, sets: list[str] | None = None) -> TrainConfig:
    """The config a run folder was started with (its config.yaml), with overrides (None values ignored)."""
    saved = Path(run_dir) / "config.yaml"
    if not saved.is_file():
        raise SrganError(f"{run_dir}: not a run folder (no config.yaml)")
    raw = _parse_yaml(saved)
    # The saved paths are absolute; anything relative there was relative to the cwd it ran from, as flags are.
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return load_config(None, raw, sets)


def read_yaml(path: str | Path) -> dict:
    """A config file's mapping, its relative paths resolved against the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise SrganError(f"{path}: config file not found")
    return resolve_paths(_parse_yaml(path), path.resolve().parent)


def _parse_yaml(path: Path) -> dict:
    """A YAML file's top-level mapping (empty file: {}); SrganError naming the file for anything else."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise SrganError(f"{path}: not a text (UTF-8) YAML file") from None
    except OSError as e:
        raise SrganError(f"{path}: cannot be read ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SrganError(f"{path}: invalid YAML{where}") from None
    if not isinstance(raw, dict):
        raise SrganError(f"{path}: the config must be a mapping of keys to values")
    return raw


def resolve_paths(raw: dict, base: Path) -> dict:
    """``raw`` with its relative paths made absolute against ``base``, so a config works from any cwd.

    One path where a list is expected is a list of one. ``mnist:DIR`` and ``stl10:DIR`` resolve their DIR. A
    leading ``~`` is the user's home, also after ``mnist:``, where the shell leaves it as it is.
    """

    def fix(p: str) -> str:
        kind, sep, rest = p.partition(":")
        if sep and kind in ("mnist", "stl10"):
            return f"{kind}:{fix(rest)}"
        p = os.path.expanduser(p)
        return p if os.path.isabs(p) else os.path.normpath(base / p)

    out = dict(raw)
    for key in PATH_LIST_KEYS:
        if isinstance(out.get(key), str):
            out[key] = [out[key]]
        if isinstance(out.get(key), list):
            out[key] = [fix(p) if isinstance(p, str) else p for p in out[key]]  # not a str: pydantic's to refuse
    for key in PATH_KEYS:
        if isinstance(out.get(key), str) and out[key]:
            out[key] = fix(out[key])
    return out


def apply_set(raw: dict, item: str) -> None:
    """Apply one ``--set key=value`` to ``raw``; ``top.sub=value`` sets one key inside a mapping field,
    starting from the field's default when ``raw`` has none."""
    key, eq, text = item.partition("=")
    if not eq:
        raise SrganError(f"--set {item}: expected key=value")
    top, _, sub = key.partition(".")
    if not sub:
        # Paths given here are relative to the cwd, as the flags' are.
        raw.update(resolve_paths({key: _set_value(key, text, _field_types().get(key))}, Path.cwd()))
        return
    annotation = _field_types().get(top)  # None: an unknown key, reported with the others
    # A free-form mapping (degradation, checked by its own dataclass) takes a path of any depth:
    # --set degradation.second.noise.sigma=[0.004,0.04]
    free = annotation is not None and dict in _members(annotation)
    if annotation is not None and not is_typeddict(annotation) and not free:
        raise SrganError(f"--set {key}: {top} is not a mapping")
    if raw.get(top) is None and free:
        raw[top] = {}
    if top not in raw:
        default = next((f for f in dataclasses.fields(TrainConfig) if f.name == top), None)
        raw[top] = dict(default.default_factory()) if default else {}
    if not isinstance(raw[top], dict):
        raise SrganError(f"--set {key}: {top} is not a mapping")
    if free:
        *path, last = sub.split(".")
        raw[top] = node = dict(raw[top])
        for i, part in enumerate(path):
            child = node.get(part, {})
            if not isinstance(child, dict):
                raise SrganError(f"--set {key}: {top}.{'.'.join(path[:i + 1])} is not a mapping")
            node[part] = node = dict(child)
        node[last] = _set_value(key, text, None)
        return
    hints = typing.get_type_hints(annotation) if annotation is not None else {}
    raw[top] = {**raw[top], sub: _set_value(key, text, hints.get(sub))}


def _set_value(key: str, text: str, annotation: Any) -> Any:
    """The value of ``--set key=text`` before pydantic checks it: the text itself for a str field (a folder
    named 2024 stays "2024"), and for one path where a list of paths is expected; otherwise what YAML reads
    (numbers, true/false, null, [lists], {mappings}), which pydantic then converts to the field's type."""
    import yaml

    if annotation is not None and str in _members(annotation) and text not in ("null", "~", ""):
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise SrganError(f"--set {key}={text}: value is not valid YAML") from None
    if key in PATH_LIST_KEYS and not isinstance(value, list):
        return [text]
    return value


def config_from_dict(raw: dict) -> TrainConfig:
    """Type-check ``raw`` against the schema (pydantic), then check the values (:meth:`TrainConfig.check`)."""
    valid = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(map(str, set(raw) - valid))
    if unknown:
        raise SrganError(f"unknown config key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(valid))}")
    try:
        cfg = _adapter().validate_python(raw)
    except ValidationError as e:
        raise SrganError(_one_line(e, raw)) from None
    cfg.check()
    return cfg


# --------------------------------------------------------------------------------------------- errors

# Words for a type error where the field's type alone would not tell the user what to write.
_EXPECTED = {"content_taps": "a list of EfficientNet block numbers, e.g. [7, 10]"}


def _one_line(error: ValidationError, raw: dict) -> str:
    """pydantic's first error as one line naming the key, e.g. ``config: steps must be int, not 'many'``."""
    first = error.errors()[0]
    path = []
    for part in first["loc"]:
        if not isinstance(part, str):  # an index into a list: the message shows the whole list
            break
        path.append(part)
    name = ".".join(path)
    if first["type"] == "extra_forbidden":
        parent = _field_types()[path[0]]
        valid = ", ".join(typing.get_type_hints(parent))
        return f"unknown config key {name}; valid keys in {path[0]}: {valid}"
    value: Any = raw
    for part in path:
        value = value[part] if isinstance(value, dict) and part in value else first["input"]
    return f"config: {name} must be {_expected(path)}, not {value!r}"


def _expected(path: list[str]) -> str:
    if path[0] in _EXPECTED:
        return _EXPECTED[path[0]]
    annotation = _field_types()[path[0]]
    for part in path[1:]:
        annotation = typing.get_type_hints(annotation)[part]
    return _type_text(annotation)


def _type_text(annotation: Any) -> str:
    """``int``, ``list[float]``, ``str | None``: the annotation as the YAML writer reads it."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " | ".join(_type_text(a) for a in args)
    if typing.get_origin(annotation) is list:
        return f"list[{_type_text(args[0])}]"
    if is_typeddict(annotation):
        return "a mapping of " + ", ".join(typing.get_type_hints(annotation))
    return "None" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


# ------------------------------------------------------------------------------------------ schema access


@functools.cache
def _field_types() -> dict[str, Any]:
    """TrainConfig's field annotations as types (they are strings under ``from __future__ import annotations``)."""
    return typing.get_type_hints(TrainConfig)


@functools.cache
def _adapter() -> TypeAdapter[TrainConfig]:
    return TypeAdapter(TrainConfig)


def _members(annotation: Any) -> tuple:
    """The types a field accepts: ``str | None`` → (str, NoneType)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _wants_number(annotation: Any) -> bool:
    """Whether a field holds a number or a list of numbers."""
    for member in _members(annotation):
        if member in (int, float) or (typing.get_origin(member) is list and typing.get_args(member)[0] in (int, float)):
            return True
    return False
