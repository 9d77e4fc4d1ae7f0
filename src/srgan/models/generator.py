"""SRResNet, the generator of SRGAN (Ledig et al., CVPR 2017, Fig. 4).

    LR ─ conv9×9 ─ PReLU ─┬─ B × [conv3×3 ─ BN ─ PReLU ─ conv3×3 ─ BN ─ (+)] ─ conv3×3 ─ BN ─ (+) ─┐
                          └──────────────────────── global skip ────────────────────────────────┘
       ─ log2(scale) × [conv3×3 (64→256) ─ PixelShuffle(2) ─ PReLU] ─ conv9×9 ─ SR

The defaults are the paper's: 16 residual blocks, 64 channels, ×4. PReLU has one α per layer, as in the
paper's reference implementations and PyTorch's default, which gives 1,549,462 parameters for ×4.

Inputs and outputs are RGB (or gray) in [0, 1]; the output is not clamped, so the loss sees the raw
values and inference clamps when it converts back to pixels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class GeneratorConfig:
    scale: int = 4
    num_blocks: int = 16  # B in the paper
    channels: int = 64
    in_channels: int = 3
    out_channels: int = 3

    def __post_init__(self) -> None:
        if self.scale not in (2, 4, 8):
            raise ValueError(f"scale must be 2, 4 or 8, not {self.scale}")
        if self.num_blocks < 1 or self.channels < 1:
            raise ValueError("num_blocks and channels must be positive")

    def to_dict(self) -> dict:
        return asdict(self)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class Upsample(nn.Module):
    """Sub-pixel convolution (Shi et al. 2016): ×2 per stage."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * 4, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.prelu = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.shuffle(self.conv(x)))


class Generator(nn.Module):
    def __init__(self, config: GeneratorConfig | None = None, **kwargs) -> None:
        super().__init__()
        self.config = config = config or GeneratorConfig(**kwargs)
        c = config.channels
        self.head = nn.Conv2d(config.in_channels, c, 9, padding=4)
        self.head_act = nn.PReLU()
        self.blocks = nn.Sequential(*[ResidualBlock(c) for _ in range(config.num_blocks)])
        self.body_conv = nn.Conv2d(c, c, 3, padding=1)
        self.body_bn = nn.BatchNorm2d(c)
        self.upsample = nn.Sequential(*[Upsample(c) for _ in range(int(math.log2(config.scale)))])
        self.tail = nn.Conv2d(c, config.out_channels, 9, padding=4)

    @property
    def scale(self) -> int:
        return self.config.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head_act(self.head(x))
        x = features + self.body_bn(self.body_conv(self.blocks(features)))
        return self.tail(self.upsample(x))


def config_from_state_dict(state: dict[str, torch.Tensor]) -> GeneratorConfig:
    """Read the architecture off a state dict's keys and shapes, so any of our checkpoints loads
    without the user naming its settings (the idea of spandrel's detection)."""
    try:
        head = state["head.weight"]
        tail = state["tail.weight"]
    except KeyError as missing:
        raise ValueError(f"not an SRResNet generator state dict (no {missing.args[0]})") from None
    block_ids = {int(k.split(".")[1]) for k in state if k.startswith("blocks.")}
    up_ids = {int(k.split(".")[1]) for k in state if k.startswith("upsample.")}
    return GeneratorConfig(
        scale=2 ** len(up_ids),
        num_blocks=len(block_ids),
        channels=head.shape[0],
        in_channels=head.shape[1],
        out_channels=tail.shape[0],
    )
