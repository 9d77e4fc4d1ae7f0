"""Pixel arithmetic every stage shares: the peak value of each bit depth, BT.601 luma, and bicubic resizing at
any bit depth.

One copy of each, so that a 16-bit photo, a gray photo or an alpha plane is treated the same way by the
trainer, the protocol, the models and the server. The 16 → 8-bit conversion is
:func:`srgan.io.picture.to_u8`: the readers and writers need it, and io/ imports nothing from ops/.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# ITU-R BT.601 luma as MATLAB's rgb2ycbcr computes it, the Y that SR papers score: for R, G, B in 0..255,
# Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, in 16..235.
Y_WEIGHTS = (65.481, 128.553, 24.966)
# The same weights for full-range gray (0.299, 0.587, 0.114; what PIL's "L" mode uses): Y_WEIGHTS / 219.
LUMA_WEIGHTS = tuple(w / 219.0 for w in Y_WEIGHTS)


def peak(dtype: np.dtype) -> float:
    """The largest value of an integer pixel type we handle: 255 for uint8, 65535 for uint16."""
    return 65535.0 if np.dtype(dtype) == np.uint16 else 255.0


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """H×W×3 (or H×W×1, treated as R = G = B) values in 0..255 → float64 BT.601 Y in 16..235."""
    arr = np.asarray(img, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[2] == 1:
        return 16.0 + sum(Y_WEIGHTS) * arr[..., 0] / 255.0
    return 16.0 + (arr[..., :3] @ np.array(Y_WEIGHTS)) / 255.0


def luma(arr: np.ndarray) -> np.ndarray:
    """H×W×3 → H×W×1 full-range gray (0.299 R + 0.587 G + 0.114 B), in the input's float type or float32."""
    dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float32
    return arr[..., :3].astype(dtype, copy=False) @ np.array(LUMA_WEIGHTS, dtype)[:, None]


def resize(
    pixels: np.ndarray,
    *,
    size: Sequence[int] | None = None,
    scale: float | None = None,
    matlab_uint8: bool = True,
) -> np.ndarray:
    """MATLAB-style bicubic resize of an H×W×C uint8/uint16 array; the same dtype back.

    uint8 goes through :func:`~srgan.ops.imresize.imresize_uint8` (MATLAB's rounding between the two
    passes, what the benchmark LR images were made with) unless ``matlab_uint8`` is False: then every depth
    takes one float32 pass, rounded once, at a quarter of the float64 path's memory, which is what a
    whole-image alpha plane of a huge upscale can afford.
    """
    import torch

    from srgan.ops.imresize import imresize, imresize_uint8

    if pixels.dtype == np.uint8 and matlab_uint8:
        return imresize_uint8(pixels, scale=scale, size=size)
    x = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).float()
    y = imresize(x, scale=scale, size=size)
    return y.round_().clamp_(0, peak(pixels.dtype)).permute(1, 2, 0).numpy().astype(pixels.dtype)
