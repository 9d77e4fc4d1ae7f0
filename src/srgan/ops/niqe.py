"""NIQE, the Natural Image Quality Evaluator: a no-reference quality score (lower is more natural).

Mittal, Soundararajan and Bovik, "Making a 'Completely Blind' Image Quality Analyzer", IEEE Signal
Processing Letters 20(3), 2013. NIQE needs no ground truth: it normalises the luminance locally (MSCN
coefficients: subtract a Gaussian-weighted local mean, divide by the local deviation), describes each
96×96 block by 18 statistics of those coefficients (generalised Gaussian fits of the coefficients and of
the products of horizontal, vertical and diagonal neighbours), at full and half resolution, fits one
multivariate Gaussian to the image's 36-dimensional block features and returns its distance to a
Gaussian fitted once on pristine natural photos:

    NIQE = sqrt((mu_p - mu_d)^T ((Sigma_p + Sigma_d) / 2)^+ (mu_p - mu_d))

The pristine model (``mu_pris_param``, ``cov_pris_param``) and the 7×7 Gaussian window (σ = 7/6) are those
of the authors' MATLAB release, as redistributed by BasicSR 1.4.2 in ``niqe_pris_params.npz``; we ship
that file unchanged as ``srgan/assets/niqe_pris_params.npz`` (provenance and sha256 in
``assets/NIQE_SOURCE.md``) and never fetch anything.

We follow BasicSR's ``calculate_niqe`` conventions, which reproduce the MATLAB code (BasicSR reports
5.7296 for both on its baboon test image), so our numbers are comparable with the SR papers that quote
NIQE: RGB goes to BT.601 Y on 16..235 as BasicSR's ``to_y_channel`` computes it, the border is cropped,
Y is rounded to integers, the image is cut to whole 96×96 blocks from the top-left, border pixels of the
local filters are replicated, and the half scale is MATLAB's antialiased bicubic ``imresize`` (ours, in
:mod:`srgan.ops.imresize`). ``tests/ops/test_niqe.py`` checks us against BasicSR 1.4.2 to 0.01.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from scipy.special import gamma

from srgan.errors import SrganError
from srgan.ops.imresize import imresize
from srgan.ops.pixels import rgb_to_y

BLOCK = 96
PARAMS_PATH = Path(__file__).resolve().parents[1] / "assets" / "niqe_pris_params.npz"


# The shape parameters the AGGD fit chooses from, and the moment ratio each one implies: MATLAB's grid
# (0.2:0.001:10), so the fitted shapes are the same grid values MATLAB and BasicSR pick.
_SHAPES = np.arange(0.2, 10.001, 0.001)
_RATIOS = gamma(2 / _SHAPES) ** 2 / (gamma(1 / _SHAPES) * gamma(3 / _SHAPES))  # strictly increasing

# Neighbour offsets (dy, dx) of the paired products: horizontal, vertical, main and anti-diagonal.
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


class NiqeUndefined(SrganError):
    """The image gives NIQE nothing to measure: fewer than two 96×96 blocks, or flat blocks only."""


@lru_cache(maxsize=1)
def pristine_model() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mu (36,), covariance (36, 36), Gaussian window (7, 7)) of the pristine model, read from the package."""
    try:
        with np.load(PARAMS_PATH, allow_pickle=False) as z:
            return z["mu_pris_param"].reshape(-1), z["cov_pris_param"], z["gaussian_window"]
    except (OSError, KeyError, ValueError) as e:
        raise SrganError(f"{PARAMS_PATH}: cannot read the NIQE pristine model ({e}); reinstall srgan") from e


def niqe(img: np.ndarray, crop_border: int = 0) -> float:
    """NIQE of an image; lower means more natural-looking.

    Args:
        img: H×W×3 RGB, H×W×1 or H×W luminance, uint8 or float on 0..255.
        crop_border: pixels removed from each side before measuring (SR protocol: the scale).

    Raises:
        NiqeUndefined (an SrganError): fewer than two whole 96×96 blocks remain after the crop, or fewer
            than two blocks have any texture (NIQE's block statistics do not exist for a flat block).
        SrganError: anything that is not such an image.
    """
    y = _luma(img)
    if isinstance(crop_border, bool) or not isinstance(crop_border, (int, np.integer)) or crop_border < 0:
        raise SrganError(f"niqe: crop_border must be a non-negative integer, got {crop_border!r}")
    size = f"{y.shape[1]}×{y.shape[0]}"
    if crop_border:
        y = y[crop_border:-crop_border, crop_border:-crop_border]
        size += f" ({y.shape[1]}×{y.shape[0]} after cropping {crop_border} pixels per side)"
    # Integer luma, as MATLAB measures a uint8 image (and as BasicSR rounds for that reason).
    return _niqe_of_luma(np.round(y), size)


def _niqe_of_luma(y: np.ndarray, size: str) -> float:
    """NIQE of a cropped, rounded 2-D luminance image on 0..255; ``size`` describes it for errors.

    The filtering runs in float32, as BasicSR's does. That is not just speed: on Set14's baboon (BasicSR's
    test image) float32 gives 5.72958 and float64 5.72996, and BasicSR quotes MATLAB R2021a at 5.72957.
    """
    mu_p, cov_p, window = pristine_model()
    y = y.astype(np.float32)
    h, w = y.shape
    rows, cols = h // BLOCK, w // BLOCK
    if rows * cols < 2:
        raise NiqeUndefined(
            f"NIQE needs at least two whole {BLOCK}×{BLOCK} blocks ({BLOCK}×{2 * BLOCK} or {2 * BLOCK}×{BLOCK} "
            f"pixels), the image is {size}"
        )
    # Partial blocks at the right and bottom are dropped, as in MATLAB.
    y = y[: rows * BLOCK, : cols * BLOCK]

    # The half scale: MATLAB imresize(y, 0.5) (bicubic, antialiased) on 0..1 values, unrounded.
    half = imresize(torch.from_numpy(y / 255.0), scale=0.5).numpy() * 255.0
    # Row k of both scales is the same image block, so the two 18-feature halves line up.
    feats = np.concatenate([_block_features(_mscn(y, window), BLOCK),
                            _block_features(_mscn(half, window), BLOCK // 2)], axis=1)

    # MATLAB's nanmean/nancov: a block whose statistics failed (a flat block has no negative or positive
    # coefficients) still counts in the mean of its other features, but not in the covariance.
    complete = feats[~np.isnan(feats).any(axis=1)]
    if len(complete) < 2:
        raise NiqeUndefined(
            f"NIQE is undefined for this {size} image: fewer than two of its {BLOCK}×{BLOCK} blocks have texture"
        )
    mu_d = np.nanmean(feats, axis=0)
    cov_d = np.cov(complete, rowvar=False)
    d = mu_p - mu_d
    return float(np.sqrt(d @ np.linalg.pinv((cov_p + cov_d) / 2) @ d))


def _luma(img: np.ndarray) -> np.ndarray:
    """H×W float32 luminance on 0..255: BT.601 Y for RGB, the values themselves for one channel."""
    if not isinstance(img, np.ndarray) or not (img.dtype == np.uint8 or np.issubdtype(img.dtype, np.floating)):
        kind = f"dtype {img.dtype}" if isinstance(img, np.ndarray) else type(img).__name__
        raise SrganError(f"niqe: expected a uint8 or float (0..255) NumPy image, got {kind}")
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (1, 3))) or img.size == 0:
        raise SrganError(f"niqe: expected an H×W×3 (RGB), H×W×1 or H×W image, got shape {img.shape}")
    if img.dtype != np.uint8 and not np.isfinite(img).all():
        raise SrganError("niqe: the image has NaN or infinite values")
    x = img.astype(np.float32)
    if img.ndim == 2:
        return x
    if img.shape[2] == 1:
        return x[:, :, 0]
    # BasicSR's to_y_channel: Y of [0, 1] floats, stored as float32 on [16/255, 235/255], times 255. Same
    # arithmetic, so the rounding that follows breaks the (rare) ties at .5 the same way.
    y01 = rgb_to_y(x) / 255.0
    return y01.astype(np.float32) * np.float32(255.0)


def _mscn(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients (Eq. 1), edges replicated as MATLAB's imfilter does."""
    mu = ndimage.convolve(img, window, mode="nearest")
    var = ndimage.convolve(img * img, window, mode="nearest") - mu * mu
    # abs(): rounding can make the variance of a flat patch slightly negative.
    return (img - mu) / (np.sqrt(np.abs(var)) + 1.0)


def _block_features(mscn: np.ndarray, size: int) -> np.ndarray:
    """(blocks, 18) features of the size×size blocks of an MSCN image, blocks in row-major order."""
    h, w = mscn.shape
    mscn = mscn.astype(np.float64)  # the statistics in double, like MATLAB's
    blocks = mscn.reshape(h // size, size, w // size, size).swapaxes(1, 2).reshape(-1, size, size)
    shape, left, right = _aggd_fit(blocks)
    feats = [shape, (left + right) / 2]
    for dy, dx in _SHIFTS:
        # The neighbour products wrap around inside each block (circular shift), as the MATLAB code does.
        shape, left, right = _aggd_fit(blocks * np.roll(blocks, (dy, dx), axis=(1, 2)))
        mean = (right - left) * gamma(2 / shape) / gamma(1 / shape)
        feats += [shape, mean, left, right]
    return np.stack(feats, axis=1)


def _aggd_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block of ``x`` (blocks, h, w): asymmetric generalised Gaussian (shape, left scale, right scale).

    The moment-matching estimator of Lasmar et al. that NIQE uses; NaN where a block has no negative or
    no positive values.
    """
    x = x.reshape(len(x), -1)
    sq = x * x
    neg, pos = x < 0, x > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        left_std = np.sqrt((sq * neg).sum(axis=1) / neg.sum(axis=1))
        right_std = np.sqrt((sq * pos).sum(axis=1) / pos.sum(axis=1))
        g = left_std / right_std
        r = np.abs(x).mean(axis=1) ** 2 / sq.mean(axis=1)
        r_norm = r * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    shape = _SHAPES[_nearest_ratio(r_norm)]
    scale = np.sqrt(gamma(1 / shape) / gamma(3 / shape))
    return shape, left_std * scale, right_std * scale


def _nearest_ratio(r: np.ndarray) -> np.ndarray:
    """Index of the grid ratio closest to each r: MATLAB's argmin((ratios - r)^2), by bisection.

    The ratios increase strictly, so the closest is one of the two that bracket r; a tie goes to the lower
    index, as argmin's first minimum does. NaN gets index 0, which is what argmin returns for it.
    """
    hi = np.clip(np.searchsorted(_RATIOS, r), 1, len(_RATIOS) - 1)
    lo = hi - 1
    pick_lo = (_RATIOS[lo] - r) ** 2 <= (_RATIOS[hi] - r) ** 2
    idx = np.where(pick_lo, lo, hi)
    return np.where(np.isnan(r), 0, idx)
