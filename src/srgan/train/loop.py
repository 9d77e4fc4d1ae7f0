"""Training: SRResNet on pixel MSE, SRGAN on the perceptual loss, and the denoising autoencoder.

One loop serves the three kinds (``TrainConfig.kind``):

- ``srresnet``: G minimises MSE(G(LR), HR); Adam(β1 = 0.9), lr 1e-4 (Ledig et al. 2017, Sec. 3.2).
- ``srgan``: G starts from an SRResNet and minimises content + 10⁻³·(−log D(G(LR))); D minimises binary
  cross-entropy on HR (real) vs G(LR) (fake); lr 1e-4, then 1e-5 for the second half of the run.
- ``denoiser``: the denoiser minimises MSE (or L1) between its output and the clean image, on crops
  with Gaussian noise whose σ is drawn per sample; a denoiser told σ (``denoiser.arch: ffdnet``) gets
  each crop's σ as its noise level map (Zhang et al. 2018).

A run folder holds everything about a run::

    RUN_DIR/config.yaml        the resolved configuration (what --resume reads; train.config)
    RUN_DIR/metrics.jsonl      every logged value, one JSON object per line (cut back to the step a run
                               resumes from, so each step is there once: truncate_log)
    RUN_DIR/checkpoints/       step_XXXXXXX.pt (last K) and best.pt, written atomically (train.checkpoint)
    RUN_DIR/samples/           LR | bicubic | output | HR panels at each validation (train.validate)
    RUN_DIR/model.safetensors  the exported generator or denoiser, with its card model.json (train.card)

Resuming is exact: batches are a pure function of (seed, step, rank) (see data.py) and the learning rate
a pure function of the step, so restoring the models, optimizers and step continues the very same run.
Under ``torchrun`` the loop runs DistributedDataParallel; rank 0 alone logs, validates and writes files.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from srgan.device import pick_device, pick_precision
from srgan.errors import SrganError
from srgan.train.checkpoint import TrainingState, has_checkpoint, load_latest, save_checkpoint
from srgan.train.config import TrainConfig
from srgan.train.ema import EMA
from srgan.train.networks import autocast, build_model, load_init_generator
from srgan.train.validate import Validator, selection_score, selection_text

if TYPE_CHECKING:
    from srgan.train.data import BatchSpec, ImageStore

# Seeds of the two random crops of a GAN step (content loss, discriminator), so each draws its own offset.
CONTENT_SALT, ADVERSARIAL_SALT = 0x5EED, 0xD15C


# ------------------------------------------------------------------------------------------------ setup


@dataclass
class Dist:
    """This process's place in a torchrun job (a single process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Dist:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1 (NCCL on CUDA, Gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def place(cfg: TrainConfig) -> tuple[torch.device, str, Dist]:
    """(device, precision, process group place) of a run; sets the thread count and, on CUDA, this rank's GPU."""
    device = pick_device(cfg.device, allow_mps=False)
    precision = pick_precision(cfg.precision, device, training=True)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    dist = init_distributed(device)
    if device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True  # every step has the same shapes: pick the fastest kernels once
    return device, precision, dist


def lr_at(cfg: TrainConfig, step: int) -> float:
    """The learning rate of a step: a pure function of the step, so a resumed run follows the same curve."""
    if cfg.lr_schedule == "cosine":
        t = min(max(step - 1, 0) / max(cfg.steps - 1, 1), 1.0)
        return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * t))
    if cfg.lr_decay_at is not None and step > cfg.lr_decay_at * cfg.steps:
        return cfg.lr * cfg.lr_decay_gamma
    return cfg.lr


def shifted_crop(sr: torch.Tensor, hr: torch.Tensor, k: int, *, seed: int, step: int, salt: int) -> tuple[torch.Tensor, torch.Tensor]:
    """SR and HR cropped alike to (size - k + 1) at an offset in [0, k) that depends only on (seed, step,
    salt), so a resumed run draws the same offsets. k <= 1: both unchanged (the paper)."""
    if k <= 1:
        return sr, hr
    dy, dx = np.random.default_rng((seed, step, salt)).integers(0, k, 2)
    h, w = sr.shape[-2] - k + 1, sr.shape[-1] - k + 1
    return sr[..., dy : dy + h, dx : dx + w], hr[..., dy : dy + h, dx : dx + w]


# ------------------------------------------------------------------------------------------- the trainer


class Trainer:
    """One run: its networks and optimizers (``state``), the training loop (:meth:`fit`), and the run folder's
    files. ``resume=True`` restores the run folder's newest checkpoint."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, resume: bool = False) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.device, self.precision, self.dist = place(cfg)
        torch.manual_seed(cfg.seed)
        self.content = None  # srgan: the content loss (its feature network)
        self.state = self._build_state(resume)
        if resume:
            self.state.restore(load_latest(run_dir))
        self.train_model: nn.Module = self.state.model  # what the step calls: the DDP wrapper under torchrun
        self.train_disc: nn.Module | None = self.state.disc
        if self.dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DDP(self.state.model, device_ids=ids)
            if self.state.disc is not None:
                self.train_disc = DDP(self.state.disc, device_ids=ids)
        self.tb = None  # TensorBoard writer while fit runs, when tensorboard is installed
        self._stop = False
        self.interrupted = False

    def _build_state(self, resume: bool) -> TrainingState:
        cfg = self.cfg
        model = build_model(cfg).to(self.device).to(memory_format=torch.channels_last)
        disc = None
        # A fine-tune starts from init_generator: an srgan run from its SRResNet, an srresnet run for real photos
        # from the bicubic-trained one, a longer denoiser run from a shorter one's weights.
        if cfg.init_generator and not resume:
            load_init_generator(model, cfg.init_generator)
        if cfg.kind == "srgan":
            from srgan.models.discriminator import Discriminator, UNetDiscriminator
            from srgan.train.losses import ContentLoss

            d_in = 6 if cfg.conditional_discriminator else 3  # conditional: the image, then its LR
            disc = (UNetDiscriminator(in_channels=d_in, channels=cfg.discriminator_channels) if cfg.discriminator == "unet"
                    else Discriminator(in_channels=d_in))
            disc = disc.to(self.device).to(memory_format=torch.channels_last)
            taps = tuple(cfg.content_taps) if cfg.content_taps is not None else None
            self.content = ContentLoss(cfg.content_loss, cfg.vgg_weights, cfg.content_feature_scale, taps,
                                       cfg.content_criterion).to(self.device)
            self.content = self.content.to(memory_format=torch.channels_last)
        betas = (cfg.beta1, cfg.beta2)
        return TrainingState(
            kind=cfg.kind,
            model=model,
            opt=torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=betas),
            scaler=torch.amp.GradScaler("cuda", enabled=self.precision == "fp16"),
            # Made from the starting weights (init_generator loaded); a resume overwrites them with the saved EMA.
            ema=EMA(model, cfg.ema_decay) if cfg.ema_decay else None,
            disc=disc,
            opt_d=(torch.optim.Adam(disc.parameters(), lr=cfg.lr * cfg.discriminator_lr_ratio, betas=betas)
                   if disc is not None else None),
        )

    @property
    def model(self) -> nn.Module:
        """The network being trained (the generator or the denoiser)."""
        return self.state.model

    @property
    def step(self) -> int:
        """Optimisation steps done."""
        return self.state.step

    @property
    def eval_model(self) -> nn.Module:
        """What validation scores and the run exports: the EMA generator when there is one."""
        return self.state.ema.model if self.state.ema is not None else self.state.model

    # --- files

    def save_checkpoint(self, best: bool = False) -> Path:
        ckpt = self.state.to_checkpoint(self.cfg.to_dict())
        return save_checkpoint(self.run_dir / "checkpoints", ckpt, self.cfg.keep_checkpoints, best=best)

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
        """Write model.safetensors (the eval model) and its card, scored by ``metrics``."""
        from srgan.models import zoo
        from srgan.train.card import run_card

        card = run_card(
            self.cfg, name=self.run_dir.name, network=self.state.model, step=self.state.step, world=self.dist.world,
            precision=self.precision, backbone=self.content.backbone if self.content is not None else "none",
            content_feature_scale=self.content.scale if self.content is not None else None,
            validation=metrics, ref_psnr=self.state.ref_psnr, device=self.device,
        )
        zoo.save_model(self.run_dir / "model.safetensors", self.eval_model, card)

    # --- one step

    def _train_step(self, lr: torch.Tensor, hr: torch.Tensor, sigma: torch.Tensor | None = None,
                    jpeg_grid: torch.Tensor | None = None, branch: torch.Tensor | None = None) -> dict[str, float]:
        """One optimisation step on a batch of inputs ``lr`` (LR or noisy) and targets ``hr``: its losses.
        ``sigma``: each noisy crop's σ, for a denoiser that takes it. ``jpeg_grid``: where each LR's JPEG blocks start
        (LR px, (N, 2)); None: at the corner. ``branch``: which degradation branch made each LR (an N-vector of
        srgan.ops.realistic.Branch values); None: not known."""
        cfg = self.cfg
        with autocast(self.device, self.precision):
            sr = self.train_model(lr) if sigma is None else self.train_model(lr, sigma)
        target = hr
        if cfg.gt_usm_weight:
            from srgan.train.losses import usm_sharpen

            target = usm_sharpen(hr, cfg.gt_usm_weight, cfg.gt_usm_sigma, cfg.gt_usm_threshold)
        if self.state.disc is None:
            loss = F.l1_loss(sr.float(), target) if cfg.criterion == "l1" else F.mse_loss(sr.float(), target)
            out = {}
            if cfg.block_edge_weight or cfg.block_profile_weight:
                out["pixel"] = loss.detach()
                loss = self._block_terms(loss, out, sr, target, jpeg_grid)
            out["loss"] = loss.detach()
        else:
            # D learns what real photos look like from plain HR; only the terms that copy HR copy the sharpened one.
            views, d_out = self._discriminator_step(sr, hr, lr)
            loss, out = self._generator_loss(lr, sr, target, views, jpeg_grid, branch)
            out.update(d_out)
        s = self.state
        s.opt.zero_grad(set_to_none=True)
        s.scaler.scale(loss).backward()
        if s.disc is not None:
            # D's gradients from the generator pass are not D's to keep.
            s.opt_d.zero_grad(set_to_none=True)
        s.scaler.step(s.opt)
        s.scaler.update()
        if s.ema is not None:
            s.ema.update(s.model)
            if self.dist.world > 1:
                # The ranks' BN statistics differ (each sees its own batches): rank 0's average is the one
                # checkpoints keep, so every rank holds it and a resumed DDP run continues the same EMA.
                import torch.distributed as dist

                for buf in s.ema.model.buffers():
                    dist.broadcast(buf, 0)
        return {k: float(v) for k, v in out.items()}

    def _discriminator_step(self, sr: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor) -> tuple[tuple[torch.Tensor, torch.Tensor], dict]:
        """Update D on real HR vs detached SR; returns D's (shifted) views of SR and HR and D's logged values.
        With conditional_discriminator each view is the image beside its LR (nearest ×scale, cropped alike)."""
        from srgan.train.losses import discriminator_loss, relativistic_discriminator_loss

        if self.cfg.conditional_discriminator:
            up = F.interpolate(lr.float(), scale_factor=self.cfg.scale, mode="nearest")
            sr, hr = torch.cat([sr, up.to(sr.dtype)], 1), torch.cat([hr, up.to(hr.dtype)], 1)
        sr_d, hr_d = self._shifted(sr, hr, self.cfg.adversarial_shift, ADVERSARIAL_SALT)
        with autocast(self.device, self.precision):
            d_real = self.train_disc(hr_d)
            d_fake = self.train_disc(sr_d.detach())
        d_loss = relativistic_discriminator_loss if self.cfg.gan_loss == "relativistic" else discriminator_loss
        loss_d = d_loss(d_real, d_fake)
        s = self.state
        s.opt_d.zero_grad(set_to_none=True)
        s.scaler.scale(loss_d).backward()
        s.scaler.step(s.opt_d)
        return (sr_d, hr_d), {"loss_d": loss_d.detach(), "d_real": torch.sigmoid(d_real.detach().float()).mean(),
                      "d_fake": torch.sigmoid(d_fake.detach().float()).mean()}

    def _generator_loss(self, lr: torch.Tensor, sr: torch.Tensor, hr: torch.Tensor,
                        views: tuple[torch.Tensor, torch.Tensor], jpeg_grid: torch.Tensor | None = None,
                        branch: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """The perceptual loss, content + adversarial_weight·(−log D(G(LR))) (or the relativistic loss) with the
        *updated* discriminator's view of ``views`` = (SR, HR) as D saw them, plus the optional pixel, grid and
        artifact terms; and its logged parts."""
        from srgan.train.losses import adversarial_loss, relativistic_generator_loss

        cfg = self.cfg
        sr_d, hr_d = views
        plain = None  # which crops' LR is plain (no blur or noise to undo), when the batch says
        if branch is not None:
            from srgan.ops.realistic import PLAIN_BRANCHES

            plain = torch.isin(branch, torch.tensor(PLAIN_BRANCHES, device=branch.device))
        crop_weights = content_weights = None
        if cfg.degraded_adversarial_scale != 1 and plain is not None:
            crop_weights = torch.where(plain, 1.0, cfg.degraded_adversarial_scale).to(sr.device)
        if cfg.degraded_content_scale != 1 and plain is not None:
            content_weights = torch.where(plain, 1.0, cfg.degraded_content_scale).to(sr.device)
        with autocast(self.device, self.precision):
            content = self.content(*self._shifted(sr, hr, cfg.content_shift, CONTENT_SALT), content_weights)
            if cfg.gan_loss == "relativistic":
                with torch.no_grad():
                    real = self.train_disc(hr_d)
                adv = relativistic_generator_loss(real, self.train_disc(sr_d), crop_weights)
            else:
                adv = adversarial_loss(self.train_disc(sr_d), crop_weights)
        loss = content + cfg.adversarial_weight * adv
        out = {}
        if cfg.pixel_weight:
            if cfg.pixel_loss == "lowpass":
                pixel = F.mse_loss(F.avg_pool2d(sr.float(), cfg.scale), F.avg_pool2d(hr, cfg.scale))
            else:
                pixel = F.mse_loss(sr.float(), hr)
            loss = loss + cfg.pixel_weight * pixel
            out["pixel"] = pixel.detach()
        if cfg.plain_pixel_weight and plain is not None:
            from srgan.train.losses import masked_mse

            plain_pixel = masked_mse(sr, hr, plain)
            loss = loss + cfg.plain_pixel_weight * plain_pixel
            out["plain_pixel"] = plain_pixel.detach()
        if cfg.grid_weight:
            from srgan.train.losses import phase_locked_error

            grid = phase_locked_error(sr, hr, cfg.scale)
            loss = loss + cfg.grid_weight * grid
            out["grid"] = grid.detach()
        loss = self._block_terms(loss, out, sr, hr, jpeg_grid)
        if cfg.artifact_weight:
            from srgan.train.losses import artifact_loss

            with torch.no_grad(), autocast(self.device, self.precision):
                sr_ema = self.state.ema.model(lr)
            artifact = artifact_loss(sr, hr, sr_ema)
            loss = loss + cfg.artifact_weight * artifact
            out["artifact"] = artifact.detach()
        out.update(loss=loss.detach(), content=content.detach(), adversarial=adv.detach())
        return loss, out

    def _block_terms(self, loss: torch.Tensor, out: dict, sr: torch.Tensor, hr: torch.Tensor,
                     jpeg_grid: torch.Tensor | None) -> torch.Tensor:
        """``loss`` plus the JPEG-block terms that are on (block_edge, block_profile), each logged in ``out``."""
        from srgan.train.losses import block_profile_error, jpeg_block_error

        cfg = self.cfg
        for name, weight, term in (("block_edge", cfg.block_edge_weight, jpeg_block_error),
                                   ("block_profile", cfg.block_profile_weight, block_profile_error)):
            if weight:
                value = term(sr, hr, cfg.scale, jpeg_grid)
                loss = loss + weight * value
                out[name] = value.detach()
        return loss

    def _shifted(self, sr: torch.Tensor, hr: torch.Tensor, k: int, salt: int) -> tuple[torch.Tensor, torch.Tensor]:
        return shifted_crop(sr, hr, k, seed=self.cfg.seed, step=self.state.step, salt=salt)

    # --- the loop

    def fit(self) -> Path:
        """Train from the current step to ``cfg.steps``, validating, checkpointing and exporting on the way.

        Ctrl-C finishes the step, saves a checkpoint and returns early with ``interrupted`` set. Returns the
        run folder."""
        if self.state.step >= self.cfg.steps:
            if self.dist.main:
                print(f"already at step {self.state.step} of {self.cfg.steps}: nothing to do")
            return self.run_dir
        if self.dist.main:
            truncate_log(self.run_dir / "metrics.jsonl", self.state.step)
            from srgan.io.files import remove_stale_temps

            # A kill mid-write leaves atomic_path's temp file behind, and a checkpoint's is as big as the
            # checkpoint: ten kills could leave ten of them.
            for folder in (self.run_dir, self.run_dir / "checkpoints", self.run_dir / "samples"):
                remove_stale_temps(folder)
        store, spec, validator = self._open_run()
        prev_handler = signal.signal(signal.SIGINT, self._handle_sigint) if self.dist.main else None
        bar = Progress(self.state.step, self.cfg.steps, enabled=self.dist.main)
        self._train_mode()
        try:
            if validator is not None and self.state.step == 0 and self.cfg.selection in ("texture", "niqe"):
                self._validate_start(validator)
            self._run_steps(store, spec, validator, bar)
        finally:
            bar.close()
            if prev_handler is not None:
                signal.signal(signal.SIGINT, prev_handler)
            if self.tb is not None:
                self.tb.close()
        return self.run_dir

    def _open_run(self) -> tuple[ImageStore, BatchSpec, Validator | None]:
        """The run's data (store, batch spec) and validator; on rank 0 also the samples folder and TensorBoard."""
        from srgan.ops.realistic import RealDegradation
        from srgan.train.data import BatchSpec, ImageStore, read_path_list

        cfg = self.cfg
        if self.dist.main:
            (self.run_dir / "samples").mkdir(parents=True, exist_ok=True)
            try:
                from torch.utils.tensorboard import SummaryWriter

                # TensorBoard's counterpart of truncate_log: hide events of the steps this run logs again.
                self.tb = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=self.state.step + 1 if self.state.step else 0)
            except ImportError:
                pass
        exclude = {p for txt in cfg.exclude for p in read_path_list(txt)}
        store = ImageStore(cfg.data, channels=cfg.image_channels, exclude=exclude, cache_mb=cfg.cache_mb, min_size=cfg.crop,
                           downscale=cfg.hr_downscale)
        validator = Validator(cfg, cfg.image_channels) if cfg.val and self.dist.main else None
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
            crop_tries=cfg.crop_tries,
            scale=cfg.scale, noise_sigma=tuple(cfg.noise_sigma), seed=cfg.seed, rank=self.dist.rank,
            degradation=None if cfg.degradation is None else RealDegradation.from_dict(cfg.degradation),
            with_sigma=getattr(self.state.model, "takes_sigma", False),
        )
        return store, spec, validator

    def _run_steps(self, store: ImageStore, spec: BatchSpec, validator: Validator | None, bar: Progress) -> None:
        from srgan.train.data import batches

        cfg, s = self.cfg, self.state
        busy, n0 = 0.0, 0  # seconds spent on training steps (data included) and images seen, since the last log
        last_metrics: dict = {}
        t_step = time.perf_counter()
        for inp, target, *extra in batches(store, spec, s.step, cfg.steps, cfg.num_workers):
            s.step += 1
            lr_now = self._set_learning_rate()
            inp = inp.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            target = target.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            # The third item: each crop's σ for a denoiser told it, or where each LR's JPEG grid starts (and then
            # the fourth: which degradation branch made each crop).
            sigma = extra[0].to(self.device) if extra and spec.with_sigma else None
            jpeg_grid = extra[0] if extra and not spec.with_sigma else None
            branch = extra[1].to(self.device) if len(extra) > 1 else None
            losses = self._train_step(inp, target, sigma, jpeg_grid, branch)
            n0 += inp.shape[0]
            busy += time.perf_counter() - t_step
            if not all(math.isfinite(v) for v in losses.values()):
                raise SrganError(f"step {s.step}: loss is not finite ({losses}); last checkpoint kept intact")
            if s.step % cfg.log_every == 0 or s.step == cfg.steps:
                ips = n0 * self.dist.world / busy if busy > 0 else 0.0
                self.log({"step": s.step, "lr": lr_now, "img_per_s": round(ips, 2), **losses})
                bar.update(s.step, losses, ips)
                busy, n0 = 0.0, 0
            validate = validator is not None and (s.step % cfg.val_every == 0 or s.step == cfg.steps)
            if validate:
                last_metrics = self._validate(validator)
            if self.dist.main and (s.step % cfg.checkpoint_every == 0 or s.step == cfg.steps or validate):
                self.save_checkpoint(best=validate and last_metrics.get("_is_best", False))
                # The model after its checkpoint: a run killed in between still resumes from this step, and a
                # model.safetensors never stands in a run folder without the checkpoint it came from.
                if validate and last_metrics["_export"]:
                    self.export({**{k: v for k, v in last_metrics.items() if not k.startswith("_")}, "step": s.step})
                if validator is None or s.step == cfg.steps:
                    self._export_final(last_metrics)
            if self._stop_requested():
                self._sync_buffers()
                self.interrupted = True
                if self.dist.main:
                    self.save_checkpoint()
                    print(f"saved checkpoint at step {s.step}; resume with: srgan train --resume {self.run_dir}", file=sys.stderr)
                return
            t_step = time.perf_counter()
        self._sync_buffers()

    def _set_learning_rate(self) -> float:
        lr_now = lr_at(self.cfg, self.state.step)
        for opt, lr in ((self.state.opt, lr_now), (self.state.opt_d, lr_now * self.cfg.discriminator_lr_ratio)):
            for group in opt.param_groups if opt is not None else ():
                group["lr"] = lr
        return lr_now

    def _handle_sigint(self, signum, frame) -> None:
        if self._stop:  # second Ctrl-C: the user really means it
            raise KeyboardInterrupt
        self._stop = True
        if self.dist.main:
            print("\ninterrupt: finishing this step, saving a checkpoint, then exiting", file=sys.stderr)

    def _stop_requested(self) -> bool:
        """Whether any rank got Ctrl-C: all ranks stop at the same step."""
        stop = torch.tensor([self._stop], dtype=torch.uint8)
        if self.dist.world > 1:
            import torch.distributed as dist

            dist.all_reduce(stop, op=dist.ReduceOp.MAX)
        return bool(stop.item())

    def _sync_buffers(self) -> None:
        """Give every rank rank 0's BatchNorm statistics: DDP syncs gradients, not the running stats each
        rank updates from its own batches, so without this the ranks would end with different models."""
        if self.dist.world > 1:
            import torch.distributed as dist

            for module in (self.state.model, self.state.disc):
                for buf in module.buffers() if module is not None else ():
                    dist.broadcast(buf, 0)

    def _train_mode(self) -> None:
        """Networks in training mode, the generator's BatchNorm layers in eval mode with ``freeze_bn``."""
        self.train_model.train()
        if self.train_disc is not None:
            self.train_disc.train()
        if self.cfg.freeze_bn:
            for m in self.state.model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()

    # --- validation

    def _validate_start(self, validator: Validator) -> None:
        """Validate the starting generator: the reference the texture and niqe rules' PSNR budget counts from."""
        metrics, _ = validator.run(self.state.model, self.device, self.precision)
        self.state.ref_psnr = metrics["val_psnr_y"]
        self.log({"step": 0, **metrics, "reference": True})
        print("step 0: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
              + f" (reference: best = {selection_text(self.cfg, self.state.ref_psnr)})", flush=True)

    def _validate(self, validator: Validator) -> dict:
        s = self.state
        metrics, outputs = validator.run(self.eval_model, self.device, self.precision)
        score = selection_score(self.cfg, metrics, s.ref_psnr)
        is_best = score > s.best
        if is_best:
            s.best = score
        self.log({"step": s.step, **metrics, "best": s.best, "select": self.cfg.selection})
        print(f"step {s.step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()), flush=True)
        validator.save_panel(self.run_dir / "samples" / f"step_{s.step:07d}.png", outputs)
        return {**metrics, "_is_best": is_best, "_export": self.cfg.export == "last" or is_best}

    def _export_final(self, metrics: dict) -> None:
        if self.cfg.selection in ("texture", "niqe") and self.state.best == -math.inf and metrics:
            print(f"warning: no validation kept val_psnr_y within {self.cfg.select_max_psnr_drop} dB of step 0's; "
                  "model.safetensors holds the last step", file=sys.stderr)
        if not (self.run_dir / "model.safetensors").exists() or self.cfg.export == "last" or not metrics:
            self.export({k: v for k, v in metrics.items() if not k.startswith("_")})


def truncate_log(path: Path, step: int) -> None:
    """Cut a run's metrics.jsonl back to the records of steps up to ``step``, the checkpoint the run goes on from.

    A run killed after its last checkpoint has logged steps the resumed run logs again; appending would give
    those steps twice and make the step go back. Records of step ``step`` itself stay: they are written before
    its checkpoint. At step 0 (no checkpoint yet) nothing stays, as the run starts over. A torn last line (a
    kill mid-write) and anything else that is not a record go, with a warning for the latter, and the repeats
    that earlier versions' resumes left are resolved (plot.one_series). The kept lines are written to a temp
    file and renamed, so a kill during this leaves the old log or the new one, never a cut one."""
    from srgan.io.files import atomic_write_bytes
    from srgan.train.plot import one_series, parse_metrics

    if not path.is_file():
        return
    text = path.read_text()
    lines = text.splitlines()
    pairs, bad = parse_metrics(lines)
    kept = "".join(line + "\n" for line, record in one_series(pairs) if step > 0 and record["step"] <= step)
    if kept == text:
        return
    torn = text and not text.endswith("\n")
    dropped = [n for n in bad if not (torn and n == len(lines))]
    if dropped:
        print(f"warning: {path}: dropped {len(dropped)} line(s) that are not JSON records "
              f"(first: line {dropped[0]})", file=sys.stderr)
    atomic_write_bytes(path, kept.encode())


class Progress:
    """tqdm on a terminal; plain log lines (readable in a nohup log) otherwise."""

    def __init__(self, start: int, total: int, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None
        self.t_start, self.s_start, self.total = time.perf_counter(), start, total
        if enabled and sys.stderr.isatty():
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

    from srgan.io.files import atomic_write_bytes
    from srgan.train.config import load_run_config

    # The process group is joined later (Trainer); until then torchrun's environment says which process this is.
    main_process = int(os.environ.get("RANK", "0")) == 0
    if resume is not None:
        run_dir = Path(resume)
        cfg = load_run_config(run_dir, overrides, sets)
        is_resume = has_checkpoint(run_dir)
        # No checkpoint means starting over, which is right for a run stopped before its first one, but would
        # overwrite the trained model of a run whose checkpoints/ was emptied or moved.
        if not is_resume and (run_dir / "model.safetensors").exists():
            raise SrganError(f"{run_dir}: no checkpoint to resume from in checkpoints/, and starting over would "
                             "overwrite its model.safetensors; start a new run with --out")
    else:
        assert cfg is not None
        run_dir = Path(out) if out else Path("runs") / f"{cfg.kind}-{time.strftime('%Y%m%d-%H%M%S')}"
        if run_dir.exists() and not run_dir.is_dir():
            raise SrganError(f"--out {run_dir}: exists and is not a folder")
        if any(run_dir.glob("checkpoints/*.pt")):
            raise SrganError(f"{run_dir}: already holds a run; resume it with --resume {run_dir} or choose another --out")
        # A run writes several files there: never over a user's. Rank 0 only: the other processes of a
        # multi-process run may already see the config.yaml rank 0 has just written.
        if main_process and run_dir.is_dir() and any(run_dir.iterdir()):
            raise SrganError(f"--out {run_dir}: the folder is not empty; choose a new or empty folder")
        is_resume = False
    if main_process:
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False).encode())
        except OSError as e:
            raise SrganError(f"{run_dir}: cannot write the run folder ({e.strerror or e})") from None
    trainer = Trainer(cfg, run_dir, resume=is_resume)
    trainer.fit()
    return trainer
