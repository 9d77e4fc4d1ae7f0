"""The SR evaluation protocol: PSNR and SSIM on the Y channel or on RGB, and a texture ratio.

Published SR numbers (SRCNN onwards, SRGAN included) come from MATLAB: luma from ``rgb2ycbcr``
(BT.601, Y on 16..235), a border of ``scale`` pixels shaved off, PSNR with peak 255 and SSIM as in Wang
et al.'s ``ssim_index.m``. These functions reproduce that, so our numbers are comparable with papers.

All inputs are NumPy arrays on the 0..255 scale, H x W x 3 RGB or H x W gray; any numeric dtype.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from srgan.errors import SrganError
from srgan.ops import pixels

# Wang et al. 2004: an 11x11 Gaussian window with sigma 1.5, and the stabilising constants.
_SSIM_SIGMA = 1.5
_SSIM_RADIUS = 5
_SSIM_K1 = 0.01
_SSIM_K2 = 0.03

# Blur that separates texture from structure in hf_ratio.
_HF_SIGMA = 1.5


def _as_image(img: np.ndarray, name: str) -> np.ndarray:
    """Check that ``img`` is H x W or H x W x 3 and return it as float64."""
    arr = np.asarray(img)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise SrganError(f"{name}: expected an H x W gray or H x W x 3 RGB image, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise SrganError(f"{name}: expected a numeric image, got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def _check_pair(a: np.ndarray, b: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate two images of identical shape and return them as float64."""
    fa, fb = _as_image(a, name), _as_image(b, name)
    if fa.shape != fb.shape:
        raise SrganError(f"{name}: image shapes differ: {fa.shape} vs {fb.shape}")
    return fa, fb


def _crop(img: np.ndarray, border: int, name: str) -> np.ndarray:
    """Remove ``border`` pixels from each side (the protocol ignores edges the SR model cannot see past)."""
    if isinstance(border, bool) or not isinstance(border, (int, np.integer)) or border < 0:
        raise SrganError(f"{name}: border must be a non-negative integer, got {border!r}")
    if border == 0:
        return img
    h, w = img.shape[:2]
    if 2 * border >= h or 2 * border >= w:
        raise SrganError(f"{name}: border {border} leaves nothing of a {h}x{w} image")
    return img[border:-border, border:-border]


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Luma as MATLAB's ``rgb2ycbcr`` computes it for 0..255 input, unrounded, on 16..235 (gray H×W: R = G = B)."""
    arr = _as_image(img, "rgb_to_y")
    return pixels.rgb_to_y(arr[..., None] if arr.ndim == 2 else arr)


def psnr(a: np.ndarray, b: np.ndarray, border: int = 0, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels; ``inf`` for identical images."""
    fa, fb = _check_pair(a, b, "psnr")
    fa, fb = _crop(fa, border, "psnr"), _crop(fb, border, "psnr")
    mse = float(np.mean((fa - fb) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range * data_range / mse)


def _gaussian_window() -> np.ndarray:
    """The normalised 1-D factor of the 11x11 SSIM window (MATLAB's ``fspecial('gaussian', 11, 1.5)``)."""
    x = np.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1, dtype=np.float64)
    w = np.exp(-(x * x) / (2.0 * _SSIM_SIGMA**2))
    return w / w.sum()


def _filter_valid(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable 2-D filtering of one channel, keeping only positions where the window fits inside."""
    out = ndimage.correlate1d(img, window, axis=0, mode="reflect")
    out = ndimage.correlate1d(out, window, axis=1, mode="reflect")
    # The padding mode never reaches the kept region; cropping it is MATLAB's filter2(..., 'valid').
    r = _SSIM_RADIUS
    return out[r:-r, r:-r]


def _ssim_channel(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    """Mean SSIM of two single-channel float64 images."""
    window = _gaussian_window()
    c1 = (_SSIM_K1 * data_range) ** 2
    c2 = (_SSIM_K2 * data_range) ** 2
    mu_x = _filter_valid(x, window)
    mu_y = _filter_valid(y, window)
    # Population (divide-by-N, here weight-sum 1) statistics, as in the paper's reference code.
    var_x = _filter_valid(x * x, window) - mu_x * mu_x
    var_y = _filter_valid(y * y, window) - mu_y * mu_y
    cov_xy = _filter_valid(x * y, window) - mu_x * mu_y
    numerator = (2.0 * mu_x * mu_y + c1) * (2.0 * cov_xy + c2)
    denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return float(np.mean(numerator / denominator))


def ssim(a: np.ndarray, b: np.ndarray, border: int = 0, data_range: float = 255.0) -> float:
    """Structural similarity (Wang et al. 2004), averaged over the valid region and over channels."""
    fa, fb = _check_pair(a, b, "ssim")
    fa, fb = _crop(fa, border, "ssim"), _crop(fb, border, "ssim")
    size = 2 * _SSIM_RADIUS + 1
    if fa.shape[0] < size or fa.shape[1] < size:
        raise SrganError(
            f"ssim: image of {fa.shape[0]}x{fa.shape[1]} (after border) is smaller than the {size}x{size} window"
        )
    if fa.ndim == 2:
        return _ssim_channel(fa, fb, data_range)
    return float(np.mean([_ssim_channel(fa[..., c], fb[..., c], data_range) for c in range(fa.shape[2])]))


def _y_pair(sr: np.ndarray, hr: np.ndarray, border: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Luma of both images with the border removed."""
    fsr, fhr = _check_pair(sr, hr, name)
    return _crop(rgb_to_y(fsr), border, name), _crop(rgb_to_y(fhr), border, name)


def _rgb_pair(sr: np.ndarray, hr: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Both images as H x W x 3; gray is replicated so RGB numbers exist for every benchmark image."""
    fsr, fhr = _check_pair(sr, hr, name)
    if fsr.ndim == 2:
        fsr, fhr = np.repeat(fsr[..., None], 3, axis=2), np.repeat(fhr[..., None], 3, axis=2)
    return fsr, fhr


def psnr_y(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """PSNR on unrounded BT.601 luma, ``border`` pixels removed: the standard SR protocol."""
    ysr, yhr = _y_pair(sr, hr, border, "psnr_y")
    return psnr(ysr, yhr)


def ssim_y(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """SSIM on unrounded BT.601 luma, ``border`` pixels removed: the standard SR protocol."""
    ysr, yhr = _y_pair(sr, hr, border, "ssim_y")
    return ssim(ysr, yhr)


def psnr_rgb(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """PSNR over the three RGB channels, ``border`` pixels removed."""
    fsr, fhr = _rgb_pair(sr, hr, "psnr_rgb")
    return psnr(fsr, fhr, border=border)


def ssim_rgb(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """SSIM averaged over the three RGB channels, ``border`` pixels removed."""
    fsr, fhr = _rgb_pair(sr, hr, "ssim_rgb")
    return ssim(fsr, fhr, border=border)


def detail_layer(y: np.ndarray) -> np.ndarray:
    """The high-pass residual of a float luma plane: what a sigma-1.5 Gaussian blur removes."""
    return y - ndimage.gaussian_filter(y, sigma=_HF_SIGMA)


def _hf_energy(y: np.ndarray) -> float:
    """Mean squared high-pass residual."""
    residual = detail_layer(y)
    return float(np.mean(residual * residual))


def hf_ratio(sr: np.ndarray, hr: np.ndarray, border: int = 4) -> float:
    """High-frequency energy of ``sr`` relative to ``hr`` on luma; 1 means as much texture as the truth.

    Below 1 the result is too smooth (typical of MSE-trained SR), above 1 it has extra detail or noise.
    The border is cut before blurring so the reflected padding sees the same pixels in both images.
    If ``hr`` has no high-frequency energy at all the ratio is 1.0 when ``sr`` has none either and
    ``inf`` otherwise.
    """
    ysr, yhr = _y_pair(sr, hr, border, "hf_ratio")
    e_sr, e_hr = _hf_energy(ysr), _hf_energy(yhr)
    if e_hr == 0.0:
        return 1.0 if e_sr == 0.0 else math.inf
    return e_sr / e_hr


def flat_noise(sr: np.ndarray, hr: np.ndarray, border: int = 4) -> float:
    """Texture drawn where the photo has none: the RMS high-pass luma (grey levels, :func:`detail_layer`) of ``sr``
    over the quarter of pixels where ``hr`` has the least detail (its 9×9 mean squared high-pass), ``border`` px cut.

    A GAN shown a blurred, noisy JPEG can draw the input's noise and ringing as speckle on skin and sky; PSNR barely
    moves and NIQE, a texture statistic, even improves (records/training/srgan-x4-real-r56). Measured only where the
    photo is flat, the speckle is not diluted by the detail elsewhere. HR's own value over the same pixels is the
    natural level (:func:`flat_noise` of ``hr`` with itself); a blurry output scores below it, and a model that
    draws hard edges through soft shading (Real-ESRGAN) scores high without speckle, so read it beside NIQE, PSNR
    and the crops, and compare like models.
    """
    ysr, yhr = _y_pair(sr, hr, border, "flat_noise")
    detail_hr = detail_layer(yhr)
    local = ndimage.uniform_filter(detail_hr * detail_hr, size=9, mode="reflect")
    flat = local <= np.quantile(local, 0.25)
    detail_sr = detail_layer(ysr)[flat]
    return float(np.sqrt(np.mean(detail_sr * detail_sr)))


def step_profile(img: np.ndarray, scale: int = 4, block: int = 8) -> np.ndarray:
    """(``block``,) mean |luma step| between neighbouring ``scale``×``scale`` cells of ``img`` by where the step falls
    in a ``block``-cell grid from the corner: entry p is the step from a block's cell p to p + 1, the last one the
    step across the block border. Rows and columns pooled; full-range BT.601 luma, grey levels.

    After ×4 of a JPEG saved at LR size each cell is one LR pixel and the grid is the JPEG's 8×8 blocks."""
    arr = _as_image(img, "step_profile")
    y = rgb_to_y(arr)
    h, w = y.shape[0] // scale * scale, y.shape[1] // scale * scale
    if h < 2 * scale * block or w < 2 * scale * block:
        raise SrganError(f"step_profile: image {arr.shape[1]}×{arr.shape[0]} is too small for two {block}-cell blocks")
    cells = y[:h, :w].reshape(h // scale, scale, w // scale, scale).mean(axis=(1, 3))
    dx = np.abs(np.diff(cells, axis=1))  # dx[:, j]: the step from cell j to j + 1
    dy = np.abs(np.diff(cells, axis=0))
    cols, rows = np.arange(dx.shape[1]) % block, np.arange(dy.shape[0]) % block  # each line's place in the block
    sums = np.bincount(cols, dx.sum(axis=0), block) + np.bincount(rows, dy.sum(axis=1), block)
    return sums / (np.bincount(cols, minlength=block) * dx.shape[0] + np.bincount(rows, minlength=block) * dy.shape[1])


def block_profile(sr: np.ndarray, hr: np.ndarray, scale: int = 4, block: int = 8) -> float:
    """How much the output's steps between LR cells depend on where they fall in the JPEG's 8×8 blocks, beyond
    the photo's own: mean |P_SR / mean P_SR − P_HR / mean P_HR| over the :func:`step_profile` entries (each
    profile over its own mean: where the steps fall, not how sharp the output is overall). 0: as the photo.

    :func:`blockiness` sees a step *on* the block border. A model taught to soften that step can move it one LR
    pixel into the block instead, so the blocks stay (records/training/srgan-x4-real-r68): the border's entry then
    drops below the photo's and the next ones rise, which this sums. One photo's profile is noisy, so compare
    models on the same photos (on the bar's 10 blurred, noisy JPEG 70 inputs: the input ×4 nearest 0.070,
    Real-ESRGAN x4plus 0.042, tools/block_profile_check.py). Needs the JPEG grid at
    the image's corner, as ``srgan evaluate --degrade`` makes it."""
    a, b = _check_pair(sr, hr, "block_profile")
    return profile_gap(step_profile(a, scale, block), step_profile(b, scale, block))


def profile_gap(p_sr: np.ndarray, p_hr: np.ndarray) -> float:
    """:func:`block_profile` from two :func:`step_profile` results: mean |P_SR / mean P_SR − P_HR / mean P_HR|."""
    if p_hr.mean() == 0 or p_sr.mean() == 0:  # a flat image: its steps fall nowhere
        return 0.0 if p_hr.mean() == p_sr.mean() else math.inf
    return float(np.abs(p_sr / p_sr.mean() - p_hr / p_hr.mean()).mean())


def blockiness(img: np.ndarray, period: int = 32, scale: int = 4) -> float:
    """How much a ``period``-px grid stands out: mean |luma step| across its lines over the mean across the other
    lines of the same phase of the ×``scale`` pixel grid.

    A JPEG's 8×8 blocks land on a 32-px grid after ×4; an output that drew them as tiles has steps there. The
    comparison lines are the other ones every ``scale`` px because any ×4 upscaler has its own 4-px rhythm: on
    clean inputs, bicubic's steepest steps fall midway between LR samples, where the 32-px lines also fall, and
    against all other lines it measured 1.26 with no JPEG involved (1.00 against the same-phase lines). Natural
    photos measure about 1.0; no reference image. Full-range BT.601 luma, horizontal and vertical steps pooled;
    needs one grid line each way (an image over ``period`` px).
    """
    arr = _as_image(img, "blockiness")
    if min(arr.shape[:2]) <= period:
        raise SrganError(f"blockiness: image {arr.shape[1]}×{arr.shape[0]} is too small for a {period}-px grid")
    y = rgb_to_y(arr)
    dx = np.abs(np.diff(y, axis=1))  # dx[:, j]: the step between columns j and j + 1
    dy = np.abs(np.diff(y, axis=0))

    def lines(n: int) -> tuple[np.ndarray, np.ndarray]:
        after = np.arange(n) + 1
        return after % period == 0, (after % scale == 0) & (after % period != 0)

    gx, ox = lines(dx.shape[1])
    gy, oy = lines(dy.shape[0])
    across = (dx[:, gx].sum() + dy[gy, :].sum()) / (dx[:, gx].size + dy[gy, :].size)
    elsewhere = (dx[:, ox].sum() + dy[oy, :].sum()) / max(1, dx[:, ox].size + dy[oy, :].size)
    if elsewhere == 0:
        return 1.0 if across == 0 else math.inf
    return float(across / elsewhere)
