"""The SRGAN discriminator (Ledig et al., CVPR 2017, Fig. 4, bottom).

Eight 3×3 convolutions with 64, 64, 128, 128, 256, 256, 512, 512 channels; stride 2 on every second one;
BatchNorm after all but the first; LeakyReLU(0.2). Then dense 1024, LeakyReLU, dense 1.

It returns logits: losses use ``binary_cross_entropy_with_logits`` (stable where D saturates), and
``torch.sigmoid(logits)`` is the probability that the input is a real HR image.

The paper's dense layers see a fixed 6×6×512 map (96-pixel crops). An adaptive average pool to
``pool_size`` before the dense layers keeps the paper's shapes for 96-pixel inputs (96 / 16 = 6) while
letting the same network judge other crop sizes.
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
