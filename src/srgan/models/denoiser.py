"""A convolutional denoising autoencoder for photos with Gaussian noise.

The encoder halves the resolution ``len(widths) - 1`` times, the decoder brings it back with sub-pixel
convolutions, and skip connections carry each encoder level to its decoder level (a small U-Net), since
a plain bottleneck autoencoder blurs away the detail a denoiser must keep. The network predicts the noise
and subtracts it from the input (residual learning, as DnCNN), which trains faster and keeps clean
regions untouched.

Works for 1-channel (gray, MNIST-like) and 3-channel images of any size: inputs are reflect-padded to a
multiple of the total stride and cropped back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class DenoiserConfig:
    channels: int = 3
    widths: tuple[int, ...] = (48, 96, 192)
    blocks_per_level: int = 2

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d


def _conv_stack(cin: int, cout: int, n: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(n):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class DenoisingAutoencoder(nn.Module):
    def __init__(self, config: DenoiserConfig | None = None, **kwargs) -> None:
        super().__init__()
        if "widths" in kwargs:
            kwargs["widths"] = tuple(kwargs["widths"])
        self.config = config = config or DenoiserConfig(**kwargs)
        w = config.widths
        self.stem = _conv_stack(config.channels, w[0], config.blocks_per_level)
        self.down = nn.ModuleList(nn.Conv2d(w[i], w[i + 1], 3, stride=2, padding=1) for i in range(len(w) - 1))
        self.encode = nn.ModuleList(_conv_stack(w[i + 1], w[i + 1], config.blocks_per_level) for i in range(len(w) - 1))
        self.up = nn.ModuleList(
            nn.Sequential(nn.Conv2d(w[i + 1], w[i] * 4, 3, padding=1), nn.PixelShuffle(2))
            for i in reversed(range(len(w) - 1))
        )
        self.decode = nn.ModuleList(
            _conv_stack(2 * w[i], w[i], config.blocks_per_level) for i in reversed(range(len(w) - 1))
        )
        self.out = nn.Conv2d(w[0], config.channels, 3, padding=1)

    @property
    def stride(self) -> int:
        return 2 ** (len(self.config.widths) - 1)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """Noisy images in [0, 1] → denoised estimate (not clamped)."""
        h, w = noisy.shape[-2:]
        s = self.stride
        pad_h, pad_w = (-h) % s, (-w) % s
        x = F.pad(noisy, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else noisy
        skips = [self.stem(x)]
        for down, enc in zip(self.down, self.encode):
            skips.append(enc(F.relu(down(skips[-1]))))
        y = skips.pop()
        for up, dec in zip(self.up, self.decode):
            y = dec(torch.cat([F.relu(up(y)), skips.pop()], dim=1))
        noise = self.out(y)[..., :h, :w]
        return noisy - noise


def config_from_state_dict(state: dict[str, torch.Tensor]) -> DenoiserConfig:
    """Architecture arguments from a denoiser state dict's keys and shapes."""
    if "stem.0.weight" not in state:
        raise ValueError("not a denoiser state dict (no stem.0.weight)")
    channels = state["stem.0.weight"].shape[1]
    widths = [state["stem.0.weight"].shape[0]]
    i = 0
    while f"down.{i}.weight" in state:
        widths.append(state[f"down.{i}.weight"].shape[0])
        i += 1
    blocks = len({k.split(".")[1] for k in state if k.startswith("stem.") and k.endswith(".weight")})
    return DenoiserConfig(channels=channels, widths=tuple(widths), blocks_per_level=blocks)
