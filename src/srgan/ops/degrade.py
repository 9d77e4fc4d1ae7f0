"""HR → LR (and/or noisy) arrays, the degradation our models are trained on and ``srgan degrade`` applies
(its files are :func:`srgan.infer.batch.degrade_files`).

Downscaling is MATLAB-compatible bicubic in uint8 mode (what the benchmark LR sets were made with); noise,
when asked, is clipped Gaussian noise with σ on the [0, 1] scale, added after the downscale.
"""

from __future__ import annotations

import numpy as np

from srgan.errors import SrganError
from srgan.ops.pixels import peak, resize


def add_gaussian_noise(pixels: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Clipped Gaussian noise with σ on the [0, 1] scale, quantised back to the input's integer type."""
    top = peak(pixels.dtype)
    noisy = pixels / top + rng.standard_normal(pixels.shape) * sigma
    return np.rint(np.clip(noisy, 0, 1) * top).astype(pixels.dtype)


def degrade_array(pixels: np.ndarray, scale: int = 4, noise: float | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
    """H×W×C uint8/uint16 → (H/scale)×(W/scale)×C, plus noise when ``noise`` is given. An image smaller than
    ``scale`` on a side is refused: it would come out as a single pixel or none."""
    if min(pixels.shape[:2]) < scale:
        raise SrganError(f"{pixels.shape[1]}x{pixels.shape[0]} is smaller than the scale {scale} on a side")
    out = resize(pixels, scale=1 / scale) if scale != 1 else pixels
    if noise:
        out = add_gaussian_noise(out, noise, rng if rng is not None else np.random.default_rng(0))
    return out
