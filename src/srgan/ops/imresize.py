"""Bicubic resizing that reproduces MATLAB's ``imresize``, in torch.

SR benchmarks are defined by MATLAB: the LR inputs of Set5/Set14/BSD100 were made with
``imresize(hr, 1/4, 'bicubic')`` and the published bicubic baselines upsample them back the same way.
``torch.nn.functional.interpolate`` and PIL differ from it (other index mapping, other edge handling, no
kernel widening, or no per-pass rounding), which moves benchmark numbers, so we rebuild MATLAB's algorithm
instead:

* the cubic convolution kernel with a = -0.5, widened by ``1/scale`` when shrinking with antialiasing;
* MATLAB's mapping of output to input coordinates, ``u = x/scale + 0.5*(1 - 1/scale)`` (1-based);
* out-of-range taps mirrored back into the image ('symmetric' padding, edge pixel repeated);
* one separable pass per axis, smaller scale first (ties: rows first), as MATLAB orders them;
* for uint8 images, rounding half away from zero and clipping to 0..255 after each pass.

The Set5/Set14/BSD100 LR files we ship (SelfExSR release) match this bit for bit except in the outer two
rows and columns, where they agree with edge replication instead of mirroring; we keep MATLAB's mirroring.

Each pass is a gather of the few input taps each output sample needs plus a weighted sum, looping over
taps only (a handful), never over pixels, so it is batched and runs on any device.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

from srgan.errors import SrganError

# The bicubic kernel is non-zero on (-2, 2).
_KERNEL_WIDTH = 4.0


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5, the one MATLAB calls 'bicubic'."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    inner = 1.5 * ax3 - 2.5 * ax2 + 1.0
    outer = -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0
    return np.where(ax <= 1.0, inner, np.where(ax <= 2.0, outer, 0.0))


def _contributions(in_len: int, out_len: int, scale: float, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """Input indices (0-based, mirrored into range) and weights, both (out_len, taps), float64 weights."""
    shrink_aa = antialias and scale < 1.0
    # Antialiasing stretches the kernel to the output's sample spacing, so it low-passes before it samples.
    width = _KERNEL_WIDTH / scale if shrink_aa else _KERNEL_WIDTH

    # MATLAB works in 1-based coordinates; keeping them makes the floor() below land on the same taps.
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]

    distance = u[:, None] - indices
    weights = scale * _cubic(scale * distance) if shrink_aa else _cubic(distance)
    weights = weights / weights.sum(axis=1, keepdims=True)

    # Mirror with the edge sample repeated: ..., 2, 1 | 1, 2, ..., n | n, n-1, ...
    period = 2 * in_len
    k = np.mod(indices.astype(np.int64) - 1, period)
    k = np.where(k < in_len, k, period - 1 - k)

    # The taps guard generously; MATLAB drops the ones that are zero for every output sample.
    keep = np.any(weights != 0.0, axis=0)
    return k[:, keep], weights[:, keep]


@lru_cache(maxsize=128)
def _pass_operands(
    in_len: int, out_len: int, scale: float, antialias: bool, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached (indices, weights) tensors for one axis on the target device; treat them as read-only."""
    k, w = _contributions(in_len, out_len, scale, antialias)
    # Tap-major so each tap is one contiguous index vector for index_select.
    index = torch.from_numpy(np.ascontiguousarray(k.T)).to(device)
    weight = torch.from_numpy(np.ascontiguousarray(w.T)).to(device=device, dtype=dtype)
    return index, weight


def _resize_axis(x: torch.Tensor, dim: int, out_len: int, scale: float, antialias: bool) -> torch.Tensor:
    """Resample ``x`` (N, C, H, W) along ``dim`` (2 or 3) to ``out_len`` samples."""
    if dim == 3:
        # Gathering whole rows is several times faster than gathering strided columns, so the width pass
        # runs on the transposed image.
        rows = _resize_axis(x.transpose(2, 3).contiguous(), 2, out_len, scale, antialias)
        return rows.transpose(2, 3).contiguous()
    index, weight = _pass_operands(x.shape[2], out_len, scale, antialias, x.device, x.dtype)
    out = x.index_select(2, index[0]).mul_(weight[0].view(out_len, 1))
    for t in range(1, index.shape[0]):
        out.addcmul_(x.index_select(2, index[t]), weight[t].view(out_len, 1))
    return out


def _round_clip_uint8(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's float-to-uint8 conversion: round half away from zero, then saturate."""
    rounded = torch.sign(x) * torch.floor(x.abs() + 0.5)
    return rounded.clamp_(0.0, 255.0)


def _is_size_pair(size: object) -> bool:
    """True for a pair of positive integers such as ``(120, 80)``."""
    if isinstance(size, (str, bytes)) or not isinstance(size, Sequence) or len(size) != 2:
        return False
    return all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in size)


def _plan(
    in_h: int, in_w: int, scale: float | None, size: Sequence[int] | None
) -> list[tuple[int, int, float]]:
    """The two passes as (dim, out_len, scale), in MATLAB's order."""
    if (scale is None) == (size is None):
        raise SrganError("imresize: give exactly one of scale= or size=")
    if scale is not None:
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not (0 < scale < math.inf):
            raise SrganError(f"imresize: scale must be a positive finite number, got {scale!r}")
        s = float(scale)
        # MATLAB rounds the output size up and keeps using the requested scale, not out/in.
        out_h, out_w = math.ceil(in_h * s), math.ceil(in_w * s)
        scales = (s, s)
    else:
        if not _is_size_pair(size):
            raise SrganError(f"imresize: size must be two positive integers (out_h, out_w), got {size!r}")
        out_h, out_w = int(size[0]), int(size[1])
        scales = (out_h / in_h, out_w / in_w)
    passes = [(2, out_h, scales[0]), (3, out_w, scales[1])]
    # Stable sort: on a tie the rows go first, like MATLAB's sort().
    passes.sort(key=lambda p: p[2])
    return passes


def _as_nchw(x: torch.Tensor, name: str) -> tuple[torch.Tensor, int]:
    """View a (H, W), (C, H, W) or (N, C, H, W) tensor as 4-D; also return the original rank."""
    if x.dim() not in (2, 3, 4):
        raise SrganError(f"{name}: expected a tensor of shape (H,W), (C,H,W) or (N,C,H,W), got {tuple(x.shape)}")
    if x.shape[-1] == 0 or x.shape[-2] == 0:
        raise SrganError(f"{name}: cannot resize an empty image of shape {tuple(x.shape)}")
    rank = x.dim()
    while x.dim() < 4:
        x = x.unsqueeze(0)
    return x, rank


def _restore_rank(x: torch.Tensor, rank: int) -> torch.Tensor:
    """Undo the leading unsqueezes of ``_as_nchw``."""
    while x.dim() > rank:
        x = x.squeeze(0)
    return x


def imresize(
    x: torch.Tensor,
    scale: float | None = None,
    size: Sequence[int] | None = None,
    antialias: bool = True,
) -> torch.Tensor:
    """Resize a float image tensor with MATLAB's bicubic ``imresize``.

    Args:
        x: float tensor of shape (N, C, H, W), (C, H, W) or (H, W); any value range, any device.
        scale: one factor for both axes; the output is ``ceil(in * scale)`` per axis, as in MATLAB.
        size: ``(out_h, out_w)`` instead of ``scale``.
        antialias: widen the kernel when shrinking (MATLAB's default).

    Returns:
        The resized tensor, same rank, dtype and device as ``x``. Values are not clamped, so bicubic
        overshoot at edges survives.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise SrganError("imresize: expected a floating-point torch tensor (use imresize_uint8 for uint8 images)")
    x4, rank = _as_nchw(x, "imresize")
    for dim, out_len, s in _plan(x4.shape[2], x4.shape[3], scale, size):
        x4 = _resize_axis(x4, dim, out_len, s, antialias)
    return _restore_rank(x4, rank)


def imresize_uint8(
    x: torch.Tensor | np.ndarray,
    scale: float | None = None,
    size: Sequence[int] | None = None,
    antialias: bool = True,
) -> torch.Tensor | np.ndarray:
    """Resize a uint8 image exactly as MATLAB's ``imresize`` does for uint8 input.

    MATLAB keeps the intermediate image as uint8, so the result is rounded (half away from zero) and
    clipped to 0..255 after each of the two passes; the arithmetic itself is float64.

    Args:
        x: a uint8 torch tensor of shape (N, C, H, W), (C, H, W) or (H, W), or a uint8 NumPy array of
            shape (H, W) or (H, W, C).
        scale, size, antialias: as for :func:`imresize`.

    Returns:
        A uint8 result of the same type and layout as ``x`` (NumPy in, NumPy out).
    """
    if isinstance(x, np.ndarray):
        if x.dtype != np.uint8:
            raise SrganError(f"imresize_uint8: expected a uint8 array, got dtype {x.dtype}")
        if x.ndim not in (2, 3):
            raise SrganError(f"imresize_uint8: expected a NumPy array of shape (H,W) or (H,W,C), got {x.shape}")
        # A copy: arrays from PIL are read-only, and torch warns about wrapping those.
        t = torch.from_numpy(np.array(x, copy=True))
        t = t.unsqueeze(0) if x.ndim == 2 else t.permute(2, 0, 1)
        out = imresize_uint8(t, scale=scale, size=size, antialias=antialias)
        assert isinstance(out, torch.Tensor)
        out = out.squeeze(0) if x.ndim == 2 else out.permute(1, 2, 0)
        return np.ascontiguousarray(out.numpy())

    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8:
        raise SrganError("imresize_uint8: expected a uint8 torch tensor or NumPy array")
    x4, rank = _as_nchw(x, "imresize_uint8")
    # float64 so the ties at .5 fall where MATLAB's double arithmetic puts them.
    y = x4.to(torch.float64)
    for dim, out_len, s in _plan(y.shape[2], y.shape[3], scale, size):
        y = _round_clip_uint8(_resize_axis(y, dim, out_len, s, antialias))
    return _restore_rank(y.to(torch.uint8), rank)
