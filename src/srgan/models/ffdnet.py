"""A non-blind denoiser: FFDNet's input and output around DRUNet's residual U-Net, told the noise level σ.

Two ideas from Kai Zhang's denoisers:

- **FFDNet** (Zhang, Zuo and Zhang, "FFDNet: Toward a fast and flexible solution for CNN-based image
  denoising", IEEE TIP 27(9), 2018): the noisy image is pixel-unshuffled ×2 (each 2×2 block becomes 4C
  channels of one pixel), so every layer runs on a quarter of the pixels, and a **noise level map** M, one
  channel holding σ everywhere, is concatenated to that input. One network then serves every σ, and the user
  (or an estimator, :mod:`srgan.ops.noise_level`) says how strong the noise is instead of the network
  guessing it from the image, which is where blind networks lose most at low σ.
- **DRUNet** (Zhang, Li, Zuo, Zhang, Van Gool and Timofte, "Plug-and-play image restoration with deep
  denoiser prior", IEEE TPAMI 44(10), 2021): the body is a U-Net whose levels are residual blocks
  (conv3×3 – ReLU – conv3×3, plus the block's input), with 2×2 stride-2 convolutions down, 2×2 transposed
  convolutions up (here in their sub-pixel form), skips *added* (not concatenated) at each level, and no
  biases, which DRUNet found to generalise better across noise levels (after Mohan et al., ICLR 2020,
  "bias-free" CNNs).

The whole network, for three ``widths``; E, D and the body are ``blocks_per_level`` residual blocks each::

    noisy ─ unshuffle ×2 ─ cat M ─ entry ─ E0 ─────────────────────────────── (+) ─ D0 ─ exit ─ shuffle ×2 ─ noise
                                            └─ down ─ E1 ──────────── (+) ─ D1 ─ up ─┘
                                                       └─ down ─ body ─ up ─┘
    denoised = noisy − noise

Where this differs from the papers, and why: the last layer predicts the noise and it is subtracted from the
input (residual learning, as DnCNN, Zhang et al. 2017, and this project's
:class:`~srgan.models.denoiser.DenoisingAutoencoder`); FFDNet and DRUNet output the clean image. Residual
learning starts from the identity, which suits runs trained in short chunks. And the whole U-Net runs at the
unshuffled resolution, with one residual block per level where DRUNet has four: DRUNet's first level is at
full resolution, which costs 4× per layer there, and it has 64 to 512 channels.

Cost, for the default ``widths = (48, 96, 192)`` and ``blocks_per_level = 1``: 59,100 multiply-adds per output
pixel, against 334,400 for the DenoisingAutoencoder (48/96/192 with two convolutions per level, its first level
at full resolution), 5.7× fewer; each level's convolutions cost the same per output pixel (the width doubles
as the pixels quarter). Counted and timed by ``benchmarks/denoise_speed.py``: 4.9–5.0× the old denoiser's
output MP/s in fp32 and 4.3–4.8× in bf16 on a 2-core Xeon. Wider settings missed 4× ((64, 128, 256): 104,000
MACs, 2.7–4.8×) and a deeper one learned more slowly in short CPU runs ((32, 64, 128, 256) with two blocks:
69,400 MACs); records/training/denoiser-ffdnet-probe has the numbers.

Inputs: N×C×H×W in [0, 1], any H and W (padded to a multiple of :attr:`FFDNet.stride` and cropped back), and
σ on the same [0, 1] scale (σ 0.1 is 25.5 levels of 255), one per image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

ARCH = "ffdnet"  # the card's architecture["arch"], and the training config's denoiser.arch
FACTOR = 2  # FFDNet's pixel-unshuffle factor
# The σ a network is told where only its speed or its shapes are checked (precision probe, fused-kernel
# self-check, ONNX export test): neither depends on the value.
CHECK_SIGMA = 0.1


@dataclass(frozen=True)
class FFDNetConfig:
    channels: int = 3  # image channels: 3 (RGB) or 1 (grey)
    widths: tuple[int, ...] = (48, 96, 192)  # DRUNet's nc: feature channels per U-Net level, finest first
    blocks_per_level: int = 1  # DRUNet's nb: residual blocks per level, in the encoder, body and decoder

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, not {self.channels}")
        if not self.widths or min(self.widths) < 1:
            raise ValueError(f"widths must be a non-empty list of positive integers, not {list(self.widths)}")
        if self.blocks_per_level < 1:
            raise ValueError(f"blocks_per_level must be a positive integer, not {self.blocks_per_level}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return {"arch": ARCH, **d}

    @property
    def stride(self) -> int:
        """Inputs are padded to a multiple of this: the unshuffle, then each U-Net level halves."""
        return FACTOR * 2 ** (len(self.widths) - 1)


class ResBlock(nn.Module):
    """DRUNet's residual block: x + conv(ReLU(conv(x))), bias-free."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


def _blocks(width: int, n: int) -> nn.Sequential:
    return nn.Sequential(*(ResBlock(width) for _ in range(n)))


class FFDNet(nn.Module):
    """σ-aware denoiser: ``model(noisy, sigma)`` → denoised (not clamped). See the module docstring."""

    takes_sigma = True  # inference and training feed σ (srgan.infer.model, srgan.train.loop)

    def __init__(self, config: FFDNetConfig | None = None, **kwargs) -> None:
        super().__init__()
        kwargs.pop("arch", None)  # a card's architecture dict names the design; the class is the design
        if "widths" in kwargs:
            kwargs["widths"] = tuple(kwargs["widths"])
        self.config = config = config or FFDNetConfig(**kwargs)
        w, nb = config.widths, config.blocks_per_level
        unshuffled = config.channels * FACTOR * FACTOR
        self.entry = nn.Conv2d(unshuffled + 1, w[0], 3, padding=1, bias=False)  # +1: the noise level map M
        self.encoders = nn.ModuleList(_blocks(w[i], nb) for i in range(len(w) - 1))
        self.downs = nn.ModuleList(nn.Conv2d(w[i], w[i + 1], 2, stride=2, bias=False) for i in range(len(w) - 1))
        self.body = _blocks(w[-1], nb)
        # A 2×2 stride-2 transposed convolution (DRUNet's up) is exactly a 1×1 convolution to 4× the channels
        # and a pixel shuffle (each input pixel writes one 2×2 block); that form runs on the fast CPU kernels.
        self.ups = nn.ModuleList(nn.Conv2d(w[i + 1], 4 * w[i], 1, bias=False) for i in reversed(range(len(w) - 1)))
        self.decoders = nn.ModuleList(_blocks(w[i], nb) for i in reversed(range(len(w) - 1)))
        self.exit = nn.Conv2d(w[0], unshuffled, 3, padding=1, bias=False)

    @property
    def stride(self) -> int:
        return self.config.stride

    def forward(self, noisy: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        """Noisy images in [0, 1] and σ (a float, or one value per image) → denoised estimate (not clamped)."""
        unshuffled, x = network_input(noisy, sigma, self.stride)
        x = self.entry(x)
        skips = []
        for encode, down in zip(self.encoders, self.downs):
            x = encode(x)
            skips.append(x)
            x = down(x)
        x = self.body(x)
        for up, decode in zip(self.ups, self.decoders):
            x = decode(F.pixel_shuffle(up(x), 2) + skips.pop())
        # The noise is subtracted before the shuffle, where the input's four sub-pixels are channels: the same
        # numbers as after it, and the form in which the fast CPU path (srgan.infer.fast) fuses it into exit.
        return F.pixel_shuffle(unshuffled - self.exit(x), FACTOR)[..., : noisy.shape[-2], : noisy.shape[-1]]


def network_input(noisy: torch.Tensor, sigma: torch.Tensor | float, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(the noisy images padded to a multiple of ``stride`` and pixel-unshuffled, the same with the noise level
    map M appended as one more channel): what FFDNet's first convolution reads, and what its residual is added to."""
    n, _, h, w = noisy.shape
    pad_h, pad_w = (-h) % stride, (-w) % stride
    x = noisy
    if pad_h or pad_w:
        # Reflection keeps the noise statistics at the border; it needs the padding under the size.
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        x = F.pad(noisy, (0, pad_w, 0, pad_h), mode=mode)
    x = F.pixel_unshuffle(x, FACTOR)
    level = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
    if level.shape[0] not in (1, n):
        raise ValueError(f"sigma: expected 1 or {n} values (one per image), got {level.shape[0]}")
    return x, torch.cat([x, level.expand(n, 1, *x.shape[-2:])], dim=1)


def config_from_state_dict(state: dict[str, torch.Tensor]) -> FFDNetConfig:
    """Architecture arguments from an FFDNet state dict's keys and shapes."""
    if "entry.weight" not in state or "exit.weight" not in state:
        raise ValueError("not an FFDNet state dict (no entry.weight / exit.weight)")
    unshuffled = state["exit.weight"].shape[0]
    if unshuffled % (FACTOR * FACTOR) or state["entry.weight"].shape[1] != unshuffled + 1:
        raise ValueError(f"entry/exit shapes do not fit a ×{FACTOR} unshuffle with a noise map")
    widths = [state["entry.weight"].shape[0]]
    i = 0
    while f"downs.{i}.weight" in state:
        widths.append(state[f"downs.{i}.weight"].shape[0])
        i += 1
    blocks = len({k.split(".")[1] for k in state if k.startswith("body.")})
    return FFDNetConfig(channels=unshuffled // (FACTOR * FACTOR), widths=tuple(widths), blocks_per_level=blocks)
