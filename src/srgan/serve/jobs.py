"""The work behind each endpoint, on decoded pictures: what runs on the one worker thread.

Each job takes the upload as a :class:`~srgan.io.picture.Picture` and returns the result as one, keeping
the upload's ICC profile and EXIF (orientation already applied) so the result looks like the input
in any colour-managed viewer.
"""

from __future__ import annotations

import numpy as np

from srgan.errors import SrganError
from srgan.io.picture import Picture, from_array, to_array
from srgan.ops.pixels import resize
from srgan.serve.catalog import Catalog


def upscale(catalog: Catalog, pic: Picture, model: str, *, outscale: float | None, tile: int | None) -> Picture:
    return _checked(catalog.get(model).upscale(pic, tile=tile, outscale=outscale))


def denoise(catalog: Catalog, pic: Picture, model: str, *, tile: int | None) -> Picture:
    return _checked(catalog.get(model).denoise(pic, tile=tile))


def restore(catalog: Catalog, pic: Picture, denoiser: str, upscaler: str | None, *, tile: int | None) -> Picture:
    """Denoise, then upscale unless ``upscaler`` is None: ``srgan.restore``'s two steps, on this server's models.

    Composed here rather than calling ``srgan.restore`` because that loads models by name, and the
    server's models may come from files (or a test's loader) and are already loaded and kept.
    """
    result = _checked(catalog.get(denoiser).denoise(pic, tile=tile))
    if upscaler is not None:
        result = _checked(catalog.get(upscaler).upscale(result, tile=tile))
    return result


def bicubic(pic: Picture, width: int, height: int) -> Picture:
    """MATLAB-style bicubic resize to ``width``×``height``: the baseline a super-resolved result beats.

    The same size returns the picture unchanged, which the page uses to show an upload in a format the
    browser cannot display (TIFF), upright.
    """
    if (height, width) == pic.pixels.shape[:2]:
        return pic
    arr = to_array(pic)
    return _like(pic, resize(arr[..., None] if arr.ndim == 2 else arr, size=(height, width)))


def _checked(result: object) -> Picture:
    """A model returns a Picture for a Picture (keeping its EXIF and ICC profile); anything else is a bug."""
    if not isinstance(result, Picture):
        raise SrganError(f"the model returned {type(result).__name__}, expected a Picture")
    return result


def _like(source: Picture, result: np.ndarray) -> Picture:
    pic = from_array(result)
    pic.exif = source.exif
    pic.icc_profile = source.icc_profile
    return pic
