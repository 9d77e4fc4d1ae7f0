"""The SRGAN discriminator (Ledig et al., CVPR 2017, Fig. 4, bottom).

Eight 3×3 convolutions with 64, 64, 128, 128, 256, 256, 512, 512 channels; stride 2 on every second one;
BatchNorm after all but the first; LeakyReLU(0.2). Then dense 1024, LeakyReLU, dense 1.

It returns logits: losses use ``binary_cross_entropy_with_logits`` (stable where D saturates), and
``torch.sigmoid(logits)`` is the probability that the input is a real HR image.

The paper's dense layers see a fixed 6×6×512 map (96-pixel crops). An adaptive average pool to
``pool_size`` before the dense layers keeps the paper's shapes for 96-pixel inputs (96 / 16 = 6) while
letting the same network judge other crop sizes.

``UNetDiscriminator`` is the alternative for the real-photo GAN (``discriminator: unet`` in a training config):
Real-ESRGAN's U-Net discriminator with spectral normalisation (Wang et al., ICCVW 2021, Sec. 3.3 and Fig. 6),
written here from that description. It returns one logit per pixel instead of one per image, so the generator is
told *where* its output looks generated: a fur patch can be pushed to draw texture while the sky beside it is left
alone, information the paper's single logit per 96-pixel crop averages away.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class DiscriminatorConfig:
    in_channels: int = 3
    channels: tuple[int, ...] = (64, 64, 128, 128, 256, 256, 512, 512)
    dense: int = 1024
    pool_size: int = 6


class Discriminator(nn.Module):
    def __init__(self, config: DiscriminatorConfig | None = None, **kwargs) -> None:
        super().__init__()
        self.config = config = config or DiscriminatorConfig(**kwargs)
        layers: list[nn.Module] = []
        prev = config.in_channels
        for i, ch in enumerate(config.channels):
            stride = 2 if i % 2 == 1 else 1
            layers.append(nn.Conv2d(prev, ch, 3, stride=stride, padding=1))
            if i > 0:
                layers.append(nn.BatchNorm2d(ch))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            prev = ch
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(config.pool_size)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(prev * config.pool_size**2, config.dense),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(config.dense, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (N, C, H, W) → logits (N,)."""
        # Centre the input on zero, as the paper's generator output (tanh) and HR crops were in [-1, 1].
        return self.classifier(self.pool(self.features(x * 2 - 1))).squeeze(1)


@dataclass(frozen=True)
class UNetDiscriminatorConfig:
    in_channels: int = 3
    channels: int = 64  # C: the encoder has C, 2C, 4C, 8C channels at full, 1/2, 1/4 and 1/8 resolution


class UNetDiscriminator(nn.Module):
    """Per-pixel logits: a 3×3 conv, three stride-2 4×4 convs down, three ×2 bilinear upsamplings each followed
    by a 3×3 conv and a skip from the encoder, two 3×3 convs and a 3×3 conv to one channel; LeakyReLU(0.2)
    between. Spectral normalisation (Miyato et al. 2018) on every conv but the first and the last keeps D's
    Lipschitz constant bounded: with per-pixel outputs and a wide range of degradations, Real-ESRGAN found
    training unstable without it. No BatchNorm (it would fight the spectral normalisation)."""

    def __init__(self, config: UNetDiscriminatorConfig | None = None, **kwargs) -> None:
        super().__init__()
        self.config = config = config or UNetDiscriminatorConfig(**kwargs)
        c = config.channels
        sn = nn.utils.parametrizations.spectral_norm
        self.head = nn.Conv2d(config.in_channels, c, 3, padding=1)
        self.down = nn.ModuleList(sn(nn.Conv2d(c * 2**i, c * 2 ** (i + 1), 4, stride=2, padding=1, bias=False))
                                  for i in range(3))
        self.up = nn.ModuleList(sn(nn.Conv2d(c * 2 ** (i + 1), c * 2**i, 3, padding=1, bias=False))
                                for i in reversed(range(3)))
        self.refine = nn.Sequential(
            sn(nn.Conv2d(c, c, 3, padding=1, bias=False)), nn.LeakyReLU(0.2, inplace=True),
            sn(nn.Conv2d(c, c, 3, padding=1, bias=False)), nn.LeakyReLU(0.2, inplace=True),
        )
        self.tail = nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (N, C, H, W) → logits (N, H, W)."""
        act = nn.functional.leaky_relu
        skips = [act(self.head(x * 2 - 1), 0.2)]
        for conv in self.down:
            skips.append(act(conv(skips[-1]), 0.2))
        y = skips.pop()
        for conv in self.up:
            skip = skips.pop()
            # Upsample to the skip's own size, so sides that are not multiples of 8 line up too.
            y = nn.functional.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = act(conv(y), 0.2) + skip
        return self.tail(self.refine(y)).squeeze(1)


def widen_input(state: dict[str, torch.Tensor], disc: nn.Module) -> dict[str, torch.Tensor]:
    """``state`` (a discriminator's saved weights) fitted to ``disc`` when ``disc``'s first conv takes more input
    channels: their weights start at zero, so the widened D judges every input exactly as the saved one did and
    learns from there what the extra channels (a conditional D's LR) tell it. Anything else that differs is left
    alone, for ``load_state_dict`` to refuse."""
    first = next(name for name, m in disc.named_modules() if isinstance(m, nn.Conv2d)) + ".weight"
    saved, want = state.get(first), disc.state_dict()[first]
    if saved is None or saved.shape[1] >= want.shape[1] or saved.shape[:1] + saved.shape[2:] != want.shape[:1] + want.shape[2:]:
        return state
    return {**state, first: pad_input_channels(saved, want.shape[1])}


def pad_input_channels(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """A conv weight (or an optimizer's moment of one), (out, in, kh, kw), with zeros for input channels in..channels."""
    return torch.cat([weight, weight.new_zeros(weight.shape[0], channels - weight.shape[1], *weight.shape[2:])], 1)
