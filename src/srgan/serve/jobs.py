"""The work behind each endpoint, on decoded pictures: what runs on the one worker thread.

Each job takes the upload as a :class:`~srgan.io.picture.Picture` and returns the result as one, keeping
the upload's ICC profile and EXIF (orientation already applied) so the result looks like the input
in any colour-managed viewer.

Memory. The server promises an upper bound on its memory for any request it accepts, so the library's
whole-image resize, whose float64 temporaries are many times the image, is not used on a whole image here:
bicubic resizing (the baseline, ``outscale``, and the alpha plane) runs one axis at a time over strips of
``STRIP_SAMPLES`` (:func:`resize_in_strips`), keeping between its two passes one image in the pixel type, or
in float32 where the library rounds only at the end. The network's own output is bounded by its tiles
(:mod:`srgan.infer.tiling`); its alpha plane is resized here, from the upload's, for the same reason.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import replace

import numpy as np
import torch

from srgan.errors import SrganError
from srgan.io.picture import Picture
from srgan.ops.imresize import imresize
from srgan.ops.pixels import peak, resize
from srgan.serve.catalog import Catalog

# Output samples per strip: each float64 temporary of a strip is 8 MB, under glibc's largest mmap threshold
# (32 MB), so the strips reuse the same heap memory instead of mapping and unmapping it.
STRIP_SAMPLES = 2**20


def output_size(height: int, width: int, scale: int, outscale: float | None) -> tuple[int, int]:
    """(height, width) of an upscale: the model's own ``scale``, or ``outscale`` rounded as ``Model.process``
    rounds it. The same for a picture and its transpose, so the server can check it on the header's size."""
    if outscale is None or outscale == scale:
        return height * scale, width * scale
    return max(1, round(height * outscale)), max(1, round(width * outscale))


def upscale(catalog: Catalog, pic: Picture, model: str, *, outscale: float | None, tile: int | None) -> Picture:
    net = catalog.get(model)
    return _upscaled(net, pic, output_size(*pic.pixels.shape[:2], net.scale, outscale), tile)


def denoise(catalog: Catalog, pic: Picture, model: str, *, tile: int | None, sigma: float | None = None,
            report: dict[str, str] | None = None) -> Picture:
    """``model``'s denoise of ``pic``; for a denoiser told σ, ``sigma`` or (None) σ estimated from ``pic``, and
    the σ used goes into ``report`` as the X-Noise-Sigma headers."""
    net = catalog.get(model)
    return _checked(net.denoise(pic, tile=tile, sigma=noise_level(net, pic, sigma, report)))


def noise_level(net, pic: Picture, sigma: float | None, report: dict[str, str] | None = None) -> float | None:
    """The σ ``net`` is told for ``pic`` (None for a blind denoiser), said in ``report``'s headers."""
    if not getattr(net, "takes_sigma", False):
        return None
    source = "given" if sigma is not None else "estimated"
    sigma = net.noise_sigma(pic, sigma)
    if report is not None:
        report.update({"X-Noise-Sigma": f"{sigma:.4f}", "X-Noise-Sigma-Source": source})
    return sigma


def restore(catalog: Catalog, pic: Picture, denoiser: str, upscaler: str | None, *, tile: int | None,
            sigma: float | None = None, report: dict[str, str] | None = None) -> Picture:
    """Denoise, then upscale unless ``upscaler`` is None: ``srgan.restore``'s two steps, on this server's models.
    ``sigma`` and ``report``: as :func:`denoise`'s.

    Composed here rather than calling ``srgan.restore`` because that loads models by name, and the
    server's models may come from files (or a test's loader) and are already loaded and kept.
    """
    result = denoise(catalog, pic, denoiser, tile=tile, sigma=sigma, report=report)
    if upscaler is not None:
        net = catalog.get(upscaler)
        result = _upscaled(net, result, output_size(*result.pixels.shape[:2], net.scale, None), tile)
    return result


def bicubic(pic: Picture, width: int, height: int) -> Picture:
    """MATLAB-style bicubic resize to ``width``×``height``: the baseline a super-resolved result beats.

    The same size returns the picture unchanged, which the page uses to show an upload in a format the
    browser cannot display (TIFF), upright.
    """
    if (height, width) == pic.pixels.shape[:2]:
        return pic
    return Picture(
        pixels=resize_in_strips(pic.pixels, height, width),
        alpha=None if pic.alpha is None else resize_in_strips(pic.alpha[..., None], height, width)[..., 0],
        exif=pic.exif,
        icc_profile=pic.icc_profile,
    )


def resize_in_strips(pixels: np.ndarray, height: int, width: int, *, matlab_uint8: bool = True) -> np.ndarray:
    """:func:`srgan.ops.pixels.resize` of an H×W×C uint8/uint16 array to ``height``×``width``, the same result
    with no float copy of the whole image.

    The two passes run in MATLAB's order (the axis with the smaller scale first, rows on a tie), each on
    strips across the other axis, which that pass leaves alone: a strip's other axis is resized by a scale
    of exactly 1 (weight 1.0 on one tap), the identity. MATLAB's uint8 path (``matlab_uint8``) keeps the
    image uint8 between the passes, as MATLAB does; the float path (``matlab_uint8=False``, and any uint16)
    keeps it float32, rounding once at the end. Either way each sample sees the whole-image resize's
    arithmetic, so the results are equal.
    """
    return _resize_owned([pixels], height, width, matlab_uint8)


def _resize_owned(holder: list[np.ndarray], height: int, width: int, matlab_uint8: bool) -> np.ndarray:
    """:func:`resize_in_strips` of the one array in ``holder``, which it takes out: after the first pass
    nothing here refers to the input, so a caller that kept no reference of its own gets it freed then."""
    pixels = holder.pop()
    dtype = pixels.dtype
    in_h, in_w = pixels.shape[:2]
    passes = sorted([(0, height, height / in_h), (1, width, width / in_w)], key=lambda p: p[2])
    passes = [(axis, length) for axis, length, _ in passes if pixels.shape[axis] != length]
    if matlab_uint8 and dtype == np.uint8:
        for axis, length in passes:
            pixels = _in_strips(pixels, axis, length, np.uint8, lambda part, size: resize(part, size=size))
        return pixels
    for i, (axis, length) in enumerate(passes):
        last = i == len(passes) - 1
        pixels = _in_strips(pixels, axis, length, dtype if last else np.float32, _float_pass(dtype, last))
    return pixels


def _float_pass(dtype: np.dtype, last: bool):
    """One strip through ``imresize`` in float32, as ``srgan.ops.pixels.resize`` does it: rounded to ``dtype``
    on the last pass only."""

    def run(part: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        y = imresize(torch.from_numpy(part).permute(2, 0, 1).float(), size=size)
        if last:
            y = y.round_().clamp_(0, peak(dtype))
        return y.permute(1, 2, 0).numpy()

    return run


def _in_strips(pixels: np.ndarray, axis: int, length: int, dtype, run) -> np.ndarray:
    """``pixels`` resized along ``axis`` to ``length`` by ``run(strip, (h, w))``, one strip across the other
    axis at a time, into a new ``dtype`` array."""
    shape = list(pixels.shape)
    shape[axis] = length
    out = np.empty(shape, dtype)
    step = max(1, STRIP_SAMPLES // (length * pixels.shape[2]))
    for start in range(0, pixels.shape[1 - axis], step):
        strip = (slice(None), slice(start, start + step)) if axis == 0 else (slice(start, start + step),)
        part = np.ascontiguousarray(pixels[strip])
        out[strip] = run(part, (length, part.shape[1]) if axis == 0 else (part.shape[0], length))
    return out


def _upscaled(net, pic: Picture, size: tuple[int, int], tile: int | None) -> Picture:
    """The network at its own scale, then a bicubic resize to ``size`` when that differs; alpha is resized
    from the input straight to ``size``. Both resizes are ``Model.process``'s (float32, ``matlab_uint8=False``),
    done here in strips: the model's whole-image float resize of a large result or alpha plane would cost
    several times the result's memory."""
    result = _checked(net.upscale(replace(pic, alpha=None), tile=tile))
    release_freed_memory()  # the tiles' activations, before the resize needs room
    holder = [result.pixels]
    result.pixels = None  # the resize then holds the only reference, and frees the network's result early
    pixels = _resize_owned(holder, *size, matlab_uint8=False)
    alpha = None
    if pic.alpha is not None:
        alpha = resize_in_strips(pic.alpha[..., None], *size, matlab_uint8=False)[..., 0]
    return replace(result, pixels=pixels, alpha=alpha, mode=pic.mode)


def release_freed_memory() -> None:
    """Hand the heap memory a job freed back to the system (glibc's ``malloc_trim``; a no-op elsewhere).

    glibc keeps freed blocks under its mmap threshold for reuse, fragmented among what is still in use, so
    without this the resident size after a large job stays hundreds of MB above the server's idle size,
    and the next job's peak starts from there.
    """
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


def _checked(result: object) -> Picture:
    """A model returns a Picture for a Picture (keeping its EXIF and ICC profile); anything else is a bug."""
    if not isinstance(result, Picture):
        raise SrganError(f"the model returned {type(result).__name__}, expected a Picture")
    return result
