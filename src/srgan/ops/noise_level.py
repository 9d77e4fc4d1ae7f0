"""Noise level from the image itself: σ of additive white Gaussian noise, on the [0, 1] scale.

:func:`estimate_sigma` is what a blind denoiser runs first: given only a noisy picture, how strong is its noise?
It assumes the noise our degradation adds (:func:`srgan.ops.degrade.add_gaussian_noise`): independent N(0, σ²)
in every pixel and channel, added to the [0, 1] image, clipped to [0, 1] and quantised back to the input's type.

The method, in three parts:

1. **The noise floor of the patches' principal components** (Chen, Zhu and Heng 2015). The image is cut into
   5×5 patches (7×7 for gray), all channels of a patch in one vector (75 numbers for colour), and each patch's
   per-channel mean is subtracted. Image structure lives in a few directions of that space; white noise spreads
   the same variance over every direction. So the smallest eigenvalues of the patches' covariance matrix are
   noise alone, and the noise variance is their mean. Which eigenvalues are noise alone is decided by Chen et
   al.'s rule: the largest set of smallest eigenvalues whose mean equals their median (noise eigenvalues are
   spread symmetrically about σ²; a texture eigenvalue among them drags the mean above the median). Taking the
   channels together matters: noise is independent across R, G and B while texture, mostly luminance, is not,
   which is what keeps a photo that is texture everywhere (grass, fur) from reading as noisy at σ 0.05.

2. **Clipping.** Clipping at 0 and 1 shrinks the noise: at σ 0.5 a mid-gray pixel keeps 72 % of its standard
   deviation and a dark one far less, so part 1 alone reads σ 0.5 as about 0.34. For a clean value μ the clipped
   value has mean m and variance V, closed-form functions of (μ, σ) (a censored normal's moments). A patch's mean
   is an observed m, so for a candidate σ it predicts the noise variance the patch should show: V(m), plus the
   second-order terms of what the mean hides (the noise in the mean itself, and the spread of clean values in a
   patch across an edge, from its sample variance), with V continued in a straight line past the means of pure
   black and white so that a flat saturated area, whose patch means scatter on both sides of them, averages
   right. The channels' average predictions whiten the covariance (a dark channel keeps less noise than a
   bright one, and left alone its directions would pass for the noise floor), and σ is the root at which the
   whitened noise floor is 1. This uses the image's own intensities, so a dark photo and a bright one are each
   corrected by what clipping did to them, with no constants fitted to a data set. It is skipped for float
   input with values outside [0, 1] (noise that was not clipped).

3. **Gray: weak-textured patches** (Liu, Tanaka and Okutomi 2013). Without the cross-channel cue, texture
   reads as noise at σ 0.05 (+15 % on average over 40 BSDS200 photos made gray, 40 % of them off by more than
   10 %). So for gray the estimate is refined on the patches in flat surroundings: a 7×7 patch is kept when the
   gradient energy of the 2-pixel frame around it is below the 99th percentile of what noise of the current σ
   alone gives there (a gamma approximation of that quadratic form, with the clipped variance the frame's mean
   predicts), and σ is re-estimated on the kept patches until the choice stops changing. Judging a patch by its
   frame, whose noise is independent of its own, keeps the choice from favouring patches whose noise happened to
   be weak (judged by itself, σ came out 8 % low on an image with large black and white areas). On the same gray
   photos this gives +3 % on average at σ 0.05 with 93 % within 10 %, and ±1 % from σ 0.2 up; a photo that is
   texture everywhere still reads high at σ 0.05 (+30 %). Colour needs none of this, and is not helped by it.

References:
    Chen, G., Zhu, F. and Heng, P. A. (2015). An efficient statistical method for image noise level
    estimation. ICCV 2015, 477–485.
    Liu, X., Tanaka, M. and Okutomi, M. (2013). Single-image noise level estimation for blind denoising.
    IEEE Transactions on Image Processing 22(12), 5226–5237.
    Donoho, D. L. and Johnstone, I. M. (1994). Ideal spatial adaptation by wavelet shrinkage. Biometrika
    81(3), 425–455 (the wavelet median-absolute-deviation estimator, measured here and not kept).
    Immerkær, J. (1996). Fast noise variance estimation. Computer Vision and Image Understanding 64(2),
    300–302 (measured here and not kept).

Measured by ``tools/noise_level_check.py`` on all 100 BSD100 images (every choice above was made on BSDS200 and
the cats; BSD100 only tests): mean |error| 0.3–0.7 % and worst error within ±1.8 % at each σ from 0.05 to 0.5,
and 0.002 on the clean images. The same noise, read by the estimators measured and not kept (mean |error|, and
the share of images within 10 %, at σ 0.05 / σ 0.5; the correction is part 2 without its whitening and
second-order terms):

    wavelet MAD (Donoho and Johnstone 1994)          12 %  46 %  /  32 %    0 %
      with the clipping correction                   13 %  47 %  /   4.9 % 91 %
    Immerkær (1996)                                   9 %  68 %  /  32 %    0 %
      with the clipping correction                   10 %  64 %  /   2.0 % 100 %
    PCA, one channel at a time, corrected            17 %  47 %  /   1.0 % 100 %
    PCA of colour patches, uncorrected                2.3 % 96 %  /  33 %    0 %
      σ mapped by a curve fitted on BSDS200           2.2 % 99 %  /   5.4 % 89 %  (worst -29 %, at σ 0.2)
      with the clipping correction                    0.6 % 100 % /   1.7 % 100 % (worst -7 %, at σ 0.2)

Texture is what sinks the first three at low σ (their worst photo reads +52 % to +97 % at σ 0.05), clipping
what sinks everything uncorrected at high σ, and a fixed curve cannot know how dark a photo is. On a clean photo
the estimate is about 0.002; grain the photo already had adds to it, so at σ ≲ 0.02 it mostly measures that.

Large images are sampled: at most about 60,000 patches, on a regular grid over the whole picture, so a 12 MP
photo takes a fraction of a second (about one second for gray, which re-estimates a few times).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr
from scipy.stats import gamma

from srgan.errors import SrganError

# Patches sampled at most; the covariance matrix costs patches × (patch length)².
MAX_PATCHES = 60_000
# Patch side: colour has 3 × 25 numbers per 5×5 patch, gray gets 7×7 for a similar number of directions.
PATCH_COLOUR = 5
PATCH_GRAY = 7
# Largest σ returned: beyond this, clipped noise is close to black-or-white and σ is no longer measurable.
SIGMA_MAX = 4.0
# Texture variance inside a patch used in the clipping correction's second-order term, at most this many σ².
_TEXTURE_CAP = 4.0
# Means at which the clipping curve is looked up (a uniform grid on [0, 1]).
_GRID = 4097
# Gray refinement (see _gray): rounds at most, the quantiles of noise-only gradient energy a patch's frame and
# centre must stay below, the frame's width, and the fewest patches (in multiples of the patch length) worth
# re-estimating on.
_WEAK_ROUNDS = 6
_FRAME_QUANTILE = 0.99
_CENTRE_QUANTILE = 0.9999
_RING = 2
_WEAK_MIN = 10
# Clean values μ at which the censored-normal moments are tabulated: denser near 0 and 1, where small σ needs it.
_MU = 0.5 * (1 - np.cos(np.pi * np.linspace(0.0, 1.0, 2049)))


def estimate_sigma(pixels: np.ndarray, *, clipped: bool | None = None) -> float:
    """σ of the white Gaussian noise in ``pixels``, on the [0, 1] scale (so σ 0.1 is 25.5 levels of 255).

    Args:
        pixels: H×W or H×W×C; C is 1 (gray) or 3 (colour), a 2nd or 4th channel (alpha) is ignored.
            uint8 and uint16 are scaled by 255 and 65535; float is taken as already on the [0, 1] scale.
        clipped: whether the noisy values were clipped to [0, 1] (as :func:`srgan.ops.degrade.add_gaussian_noise`
            does, and as any integer image is). None: True for integer input, and for float input whose values
            all lie in [0, 1].

    Returns:
        σ ≥ 0 (0 for a constant image, at most :data:`SIGMA_MAX`).
    """
    arr = np.asarray(pixels)
    if arr.dtype == np.uint8 or arr.dtype == np.uint16:
        top = float(np.iinfo(arr.dtype).max)
    elif np.issubdtype(arr.dtype, np.floating):
        top = 1.0
    else:
        raise SrganError(f"estimate_sigma: pixels must be uint8, uint16 or float, got {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise SrganError(f"estimate_sigma: pixels must be H×W or H×W×C with C in 1..4, got shape {arr.shape}")
    arr = arr[:, :, :3] if arr.shape[2] >= 3 else arr[:, :, :1]

    if arr.shape[2] == 3:
        patches = _sample_patches(arr)
        if all(np.array_equal(patches[:, 0], patches[:, j]) for j in (1, 2)):
            arr = arr[:, :, :1]  # gray stored as RGB: one noise, three times
    if arr.shape[2] == 1:
        patches = _sample_patches(arr, _RING)
    patches = patches.astype(np.float64) / top
    if not np.isfinite(patches).all():
        raise SrganError("estimate_sigma: pixels contain NaN or infinity")
    if clipped is None:
        clipped = top > 1 or bool(patches.min() >= 0 and patches.max() <= 1)

    return _estimate(patches, clipped) if patches.shape[1] == 3 else _gray(patches, clipped)


def _estimate(patches: np.ndarray, clipped: bool) -> float:
    """σ from N×C×k float patches: the noise floor of their covariance, corrected for clipping when asked."""
    n, c, k = patches.shape
    means = patches.mean(axis=2)
    resid = patches - means[:, :, None]
    flat = resid.reshape(n, c * k)
    cov = _gram(flat) / n
    # Subtracting each channel's patch mean leaves c directions with no variance at all: drop them.
    eig = _eigvalsh(cov)[c:]
    var = _noise_eigen_mean(eig)
    if var <= 0:
        return 0.0
    observed = math.sqrt(var)
    if not clipped:
        return min(observed, SIGMA_MAX)
    spread = np.einsum("ncj,ncj->nc", resid, resid) / (k - 1)
    return _unclip(cov, means, spread, k, observed)


def _gram(rows: np.ndarray) -> np.ndarray:
    """rowsᵀ·rows. The linear algebra goes through torch's MKL: NumPy's OpenBLAS, given two threads on busy
    cores, took 10 to 50 times longer for these small products and eigenvalues."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(rows))
    return (t.T @ t).numpy()


def _eigvalsh(matrix: np.ndarray) -> np.ndarray:
    """Ascending eigenvalues of a symmetric matrix (see :func:`_gram` for why torch)."""
    import torch

    return torch.linalg.eigvalsh(torch.from_numpy(np.ascontiguousarray(matrix))).numpy()


def _energy(square: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Gradient energy and mean of the pixels ``mask`` (s×s) picks in each of the N×s×s patches ``square``.

    The energy is the sum of squared differences between 4-neighbours that both lie in the mask: x·A·x with
    A = DᵀD for those differences; tr(A) and tr(A²) come with it, for the distribution of the energy of noise.
    """
    across, down = mask[:, :-1] & mask[:, 1:], mask[:-1] & mask[1:]
    energy = ((np.diff(square, axis=2) ** 2 * across).sum(axis=(1, 2))
              + (np.diff(square, axis=1) ** 2 * down).sum(axis=(1, 2)))
    side = mask.shape[0]
    idx = np.arange(side * side).reshape(side, side)
    first = np.concatenate([idx[:, :-1][across], idx[:-1][down]])
    second = np.concatenate([idx[:, 1:][across], idx[1:][down]])
    diff = np.zeros((len(first), side * side))
    diff[np.arange(len(first)), first] = 1
    diff[np.arange(len(first)), second] = -1
    form = diff.T @ diff
    mean = square[:, mask].mean(axis=1)
    return energy, mean, float(np.trace(form)), float(np.trace(form @ form))


def _gray(patches: np.ndarray, clipped: bool) -> float:
    """σ of a gray image from its N×1×s² patches: the PCA estimate, refined on weak-textured patches.

    Liu et al.'s refinement, judged by frames: each patch is a (s - 2·_RING)² centre, whose covariance gives σ,
    in a frame of width ``_RING``. A patch is kept while the gradient energy of its frame is below the
    ``_FRAME_QUANTILE`` of what noise of the current σ alone gives there, and that of its centre below the
    ``_CENTRE_QUANTILE``; σ is re-estimated on the kept centres until the choice stops changing. The frame
    decides most of the choice, and its noise is independent of the centre's: a patch judged by its own energy
    is kept more often where its noise happened to be weak, and σ comes out low (8 % low at σ 0.05 on an image
    with large black and white areas). The centre's own, far looser, test only drops strong texture.
    """
    n, _, k = patches.shape
    side = int(round(math.sqrt(k)))
    square = patches.reshape(n, side, side)
    frame = np.ones((side, side), bool)
    frame[_RING:-_RING, _RING:-_RING] = False
    tests = [(_energy(square, frame), _FRAME_QUANTILE), (_energy(square, ~frame), _CENTRE_QUANTILE)]
    centres = square[:, _RING:-_RING, _RING:-_RING].reshape(n, 1, -1)
    sigma = _estimate(centres, clipped)
    chosen = None
    for _ in range(_WEAK_ROUNDS):
        if sigma <= 0:
            return sigma
        curve = _clipped_curve(sigma) if clipped else None
        keep = np.ones(n, bool)
        for (energy, mean, tr1, tr2), quantile in tests:
            noise = np.interp(mean, curve[0], curve[1]) if clipped else np.full(n, sigma * sigma)
            # The energy of noise of variance v alone, a quadratic form, taken as a gamma variable of the same
            # mean tr(A)·v and variance 2·tr(A²)·v²: shape tr(A)² / (2·tr(A²)), scale 2·tr(A²)·v / tr(A).
            keep &= energy < gamma.ppf(quantile, tr1 * tr1 / (2 * tr2)) * (2 * tr2 / tr1) * noise
        if keep.sum() < _WEAK_MIN * centres.shape[2] or (chosen is not None and np.array_equal(keep, chosen)):
            break
        chosen = keep
        sigma = _estimate(centres[keep], clipped)
    return sigma


def _sample_patches(arr: np.ndarray, margin: int = 0) -> np.ndarray:
    """N×C×k patches of H×W×C ``arr`` on a regular grid (every one when they are few), in its own dtype.

    5×5 for colour and 7×7 for gray (smaller on an image too small to give ten patches per number in one),
    each with ``margin`` more pixels on every side: k = (side + 2·margin)².
    """
    h, w, c = arr.shape
    size = PATCH_COLOUR if c == 3 else PATCH_GRAY
    while size > 3 and (h - size - 2 * margin + 1) * (w - size - 2 * margin + 1) < 10 * c * size * size:
        size -= 2
    size += 2 * margin
    if h < size or w < size:
        raise SrganError(f"estimate_sigma: image {h}×{w} is smaller than one {size}×{size} patch")
    count = (h - size + 1) * (w - size + 1)
    stride = max(1, math.ceil(math.sqrt(count / MAX_PATCHES)))
    view = np.lib.stride_tricks.sliding_window_view(arr, (size, size), axis=(0, 1))[::stride, ::stride]
    return view.reshape(-1, c, size * size)


def _noise_eigen_mean(eig: np.ndarray) -> float:
    """Mean of the noise eigenvalues among ascending ``eig``: the longest prefix whose mean is its median.

    Chen et al.'s rule: the prefix is grown back from all of ``eig``, dropping the largest, until as many
    eigenvalues lie above its mean as below it.
    """
    for count in range(len(eig), 0, -1):
        head = eig[:count]
        mean = head.mean()
        if np.count_nonzero(head > mean) == np.count_nonzero(head < mean):
            return float(mean)
    return float(eig[0])


def _clipped_curve(sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The clipped noise as a function of the clipped mean: (m, V, V'') tabulated along ``_MU``.

    For clean value μ, Y = clip(μ + σ·N(0, 1), 0, 1) has mean m(μ) and variance V(μ) (censored-normal moments).
    m is increasing in μ, so V is a function of m; V'' is its second derivative in m. Below m(0) and above
    m(1) (means only noise in the patch mean can produce) V is continued in a straight line, so that a flat
    black or white area, whose patch means scatter on both sides of m(0) or m(1), is predicted its V on average.
    """
    mu = _MU
    a, b = -mu / sigma, (1 - mu) / sigma
    cdf_a, cdf_b = ndtr(a), ndtr(b)
    pdf_a, pdf_b = np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi), np.exp(-0.5 * b * b) / math.sqrt(2 * math.pi)
    inside = cdf_b - cdf_a  # P(0 < μ + σZ < 1)
    above = 1 - cdf_b  # the mass clipped to 1
    first = mu * inside + sigma * (pdf_a - pdf_b)  # E[(μ + σZ) · 1(inside)]
    mean = above + first
    second = (above + mu * mu * inside + 2 * mu * sigma * (pdf_a - pdf_b)
              + sigma * sigma * (inside + a * pdf_a - b * pdf_b))
    var = np.maximum(second - mean * mean, 0.0)
    # d m/dμ = P(inside), d E[Y²]/dμ = 2 E[(μ + σZ) · 1(inside)]: V' in m, then V'' numerically.
    slope = (2 * first - 2 * mean * inside) / np.maximum(inside, 1e-300)
    curve = np.gradient(slope, mean)
    # The straight continuations, with the slope V has over μ in [0, σ/4] and [1 - σ/4, 1].
    lo, hi = np.searchsorted(mu, [0.25 * sigma, 1 - 0.25 * sigma])
    s0 = (var[lo] - var[0]) / max(mean[lo] - mean[0], 1e-300)
    s1 = (var[-1] - var[hi]) / max(mean[-1] - mean[hi], 1e-300)
    m = np.concatenate([[mean[0] - 1], mean, [mean[-1] + 1]])
    v = np.concatenate([[var[0] - s0], var, [var[-1] + s1]])
    d2 = np.concatenate([[0.0], curve, [0.0]])
    return m, v, d2


def _unclip(cov: np.ndarray, means: np.ndarray, spread: np.ndarray, k: int, observed: float) -> float:
    """σ before clipping: the σ at which ``cov``, whitened by the clipped noise it predicts, has noise 1.

    ``cov`` is the covariance of the mean-subtracted patches (channels in blocks of ``k`` pixels), ``means`` and
    ``spread`` (patches × channels) each patch's channel means and sample variances, ``observed`` the noise level
    read from ``cov`` as it is.

    For a candidate σ each patch predicts its noise variance from its mean: V(m), plus the second-order terms of
    what a patch mean hides, V''/2 · (t - V/k), where t (its sample variance less V, capped) is the spread of the
    clean values in the patch (an edge from black to white has less noise than its gray mean suggests) and V/k is
    the noise in the mean itself. The channels' average predictions whiten ``cov`` (a dark channel has less
    noise left than a bright one, and left alone its directions would pass for the noise floor).
    """
    c = means.shape[1]
    # The curve is looked up on a uniform grid of means, the same cells for every σ tried.
    grid = np.linspace(0.0, 1.0, _GRID)
    pos = np.clip(means, 0.0, 1.0) * (_GRID - 1)
    cell = np.minimum(pos.astype(np.intp), _GRID - 2)
    frac = pos - cell

    def lookup(table: np.ndarray) -> np.ndarray:
        return table[cell] * (1 - frac) + table[cell + 1] * frac

    def excess(sigma: float) -> float:
        m, v, d2 = _clipped_curve(sigma)
        pred = lookup(np.interp(grid, m, v))
        texture = np.minimum(spread - pred, _TEXTURE_CAP * sigma * sigma)
        pred = np.maximum(pred + 0.5 * lookup(np.interp(grid, m, d2)) * (texture - pred / k), 0.0).mean(axis=0)
        scale = np.repeat(1 / np.sqrt(np.maximum(pred, 1e-300)), k)
        eig = _eigvalsh(cov * np.outer(scale, scale))[c:]
        return math.log(max(_noise_eigen_mean(eig), 1e-300))

    low, high = 0.5 * observed, 1.5 * observed
    while excess(high) > 0:
        if high >= SIGMA_MAX:
            return SIGMA_MAX
        low, high = high, min(1.5 * high, SIGMA_MAX)
    if excess(low) < 0:
        return low
    return float(brentq(excess, low, high, xtol=1e-5 * observed, rtol=1e-5))
