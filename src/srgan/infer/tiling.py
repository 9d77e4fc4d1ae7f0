"""Cutting an image into overlapping windows and blending the network's outputs back seamlessly.

Windows run row by row. Blending needs floats only for the rows that some window still writes to: one band
of ``window height · scale`` output rows. Once a row of windows is done, the rows above the next row of
windows are final; they are normalised, rounded into the output and, for an output large enough to be
file-backed (:mod:`srgan.io.bigarray`), handed back to the kernel. So memory is bounded by the tile and
the image width, not the image.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from srgan.errors import SrganError
from srgan.ops.pixels import peak as pixel_peak

# 256 input pixels per tile keeps the network's activations around 0.2 GB (bf16) to 0.4 GB (fp32):
# the largest tensors are the last upsampling conv's input and output, ~1,300 values per input pixel.
# On a GPU the default tile grows with its free memory (``Model.default_tile``).
DEFAULT_TILE = 256
VALUES_PER_INPUT_PIXEL = 1400  # activations alive at the peak, per input pixel, ×4 SRResNet
# Enough context that tiled and untiled outputs agree to > 50 dB PSNR (tests/infer/test_tiling.py).
DEFAULT_OVERLAP = 16


# ------------------------------------------------------------------------------------------------ tiling


@dataclass(frozen=True)
class Tiling:
    """How to cut an image: ``tile`` input pixels per window side (0: whole image), ``overlap``
    pixels of context on each inner side, windows starting on multiples of ``align``."""

    tile: int = DEFAULT_TILE
    overlap: int = DEFAULT_OVERLAP
    align: int = 1

    def __post_init__(self) -> None:
        if self.tile < 0 or self.overlap < 0:
            raise SrganError(f"tile ({self.tile}) and tile overlap ({self.overlap}) must not be negative")
        if self.tile and self.tile < 8:
            raise SrganError(f"tile {self.tile} is too small (use 0 for no tiling, or at least 8)")

    def windows(self, length: int) -> tuple[int, list[int]]:
        """(window size, window starts) along an axis of ``length`` input pixels.

        Windows all have one size (so shapes repeat and device memory is reused) and are spread
        evenly: ``n = ⌈length / tile⌉`` windows of ``⌈length / n⌉ + 2·overlap``, plus under ``align``
        so that every window starts on a multiple of ``align``, the last one too. Consecutive starts
        are at most ``⌈length / n⌉`` apart, so neighbours overlap by at least ``2·overlap``.

        Why every start: a network that pixel-unshuffles or downsamples (the denoisers) groups pixels
        by their position modulo its stride, so a window shifted off that grid is a different input to
        it: FFDNet's tiled output of a 200×180 image (tile 64, overlap 16) agreed with its untiled one to
        37 dB PSNR when the last window started 4 pixels off its grid of 8, and to 62 dB aligned.
        """
        if not self.tile or length <= self.tile:
            return length, [0]
        n = math.ceil(length / self.tile)
        core = math.ceil(length / n)
        want = core + 2 * self.overlap
        size = min(length, want + (length - want) % self.align)  # length − size: a multiple of align
        if size == length:
            return length, [0]
        last = length - size
        starts = [min(last, round(i * last / (n - 1)) // self.align * self.align) for i in range(n)]
        starts[-1] = last
        return size, starts

    def ramp(self, start: int, size: int, length: int, scale: int) -> torch.Tensor:
        """Blending weights of one window along one axis, at output resolution (size·scale values)."""
        centres = (torch.arange(size * scale, dtype=torch.float32) + 0.5) / scale
        weight = torch.ones(size * scale)
        if self.overlap == 0:
            return weight
        for touches_border, distance in ((start == 0, centres), (start + size == length, size - centres)):
            if not touches_border:
                t = ((distance - self.overlap / 2) / self.overlap).clamp(0, 1)
                weight *= t * t * (3 - 2 * t)  # smoothstep: no kink where the ramp meets 0 or 1
        return weight.clamp_min(1e-6)



def run_tiled(
    forward: Callable[[np.ndarray], torch.Tensor],
    pixels: np.ndarray,
    tiling: Tiling,
    scale: int,
    progress: bool = False,
) -> np.ndarray:
    """H×W×C uint8/uint16 → (H·s)×(W·s)×C of the same dtype.

    ``forward`` maps one contiguous H×W×C integer window to its h·s × w·s × C float32 output in [0, 1].
    """
    from srgan.io import bigarray

    s = scale
    peak = pixel_peak(pixels.dtype)
    height, width, channels = pixels.shape
    size_y, starts_y = tiling.windows(height)
    size_x, starts_x = tiling.windows(width)
    # One window alone: no blending, the network's output is the result.
    if len(starts_y) == 1 and len(starts_x) == 1:
        return to_pixels(forward(np.ascontiguousarray(pixels)), peak, pixels.dtype)

    ramps_y = [tiling.ramp(y, size_y, height, s) for y in starts_y]
    ramps_x = [tiling.ramp(x, size_x, width, s) for x in starts_x]
    total_y = torch.zeros(height * s)
    total_x = torch.zeros(width * s)
    for y, r in zip(starts_y, ramps_y):
        total_y[y * s : (y + size_y) * s] += r
    for x, r in zip(starts_x, ramps_x):
        total_x[x * s : (x + size_x) * s] += r

    final = bigarray.empty((height * s, width * s, channels), pixels.dtype)
    band = torch.zeros(size_y * s, width * s, channels)  # output rows [done, done + size_y·s)
    done = 0
    bar = progress_bar(len(starts_y) * len(starts_x), progress)
    try:
        for i, ry in enumerate(ramps_y):
            y = starts_y[i]  # == done // s: each row of windows starts where the final rows end
            for x, rx in zip(starts_x, ramps_x):
                out = forward(np.ascontiguousarray(pixels[y : y + size_y, x : x + size_x]))
                band[:, x * s : (x + size_x) * s] += out * (ry[:, None, None] * rx[None, :, None])
                if bar is not None:
                    bar.update()
            until = starts_y[i + 1] * s if i + 1 < len(starts_y) else height * s
            n = until - done
            for top in range(0, n, 256):  # in sub-bands, so the float temporaries stay small
                rows = band[top : min(n, top + 256)]
                rows /= (total_y[done + top : done + top + len(rows), None] * total_x[None, :])[..., None]
                final[done + top : done + top + len(rows)] = to_pixels(rows, peak, pixels.dtype)
            bigarray.release(final, done, until)
            band[: len(band) - n] = band[n:].clone()
            band[len(band) - n :] = 0
            done = until
    finally:
        if bar is not None:
            bar.close()
    return final


def progress_bar(total: int, enabled: bool):
    """A tqdm bar with an ETA over the windows, on a terminal only (tqdm stays silent in logs and pipes)."""
    if not enabled or total < 4:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="tile", desc="srgan", leave=False, dynamic_ncols=True, disable=None)


def to_pixels(values: torch.Tensor, peak: float, dtype: np.dtype) -> np.ndarray:
    """Float [0, 1] H×W×C → integers, rounded. NaN (broken weights, an overflow in fp16) is an error, not the
    black pixels a cast would make of it."""
    if torch.isnan(values).any():
        raise SrganError("the model's output is NaN (not a number): its weights are broken or overflow in this "
                         "precision; try --precision fp32 or other weights")
    return values.mul(peak).round_().clamp_(0, peak).numpy().astype(dtype)
