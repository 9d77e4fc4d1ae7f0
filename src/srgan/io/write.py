"""Writing a :class:`Picture` to a file or to bytes, in the format its extension names.

Each format keeps what it can of the picture (bit depth, alpha, EXIF, ICC) and the rest is reduced
the same way every time; :func:`write_image` has the table. Files appear complete or not at all
(:func:`srgan.io.files.atomic_path`). PNGs that are 16-bit or too big for Pillow's in-memory copy go
through the streaming encoder in :mod:`srgan.io.png16`.
"""

from __future__ import annotations

import io
import logging
import os
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from srgan.errors import SrganError
from srgan.io.files import IMAGE_EXTENSIONS, atomic_path
from srgan.io.metadata import matching_icc
from srgan.io.picture import Picture, to_pil, to_u8
from srgan.io.png16 import write_png

__all__ = ["encode_image", "write_image"]

log = logging.getLogger(__name__)

_FORMAT_BY_EXTENSION = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
# Above this many samples (16 MP of RGB) a PNG is written by the streaming encoder rather than by
# Pillow, which needs the whole image in its own memory (4 bytes a pixel) on top of ours.
_STREAMED_PNG_SAMPLES = 48_000_000


def write_image(path: str | os.PathLike[str], pic: Picture, *, quality: int = 95) -> None:
    """Write ``pic`` atomically, in the format named by the extension.

    Formats and what survives:

    - .png: everything. 8-bit via Pillow; 16-bit (gray, gray+alpha, RGB, RGBA) and images over 16 MP
      via the streaming PNG encoder (:mod:`srgan.io.png16`), so 16-bit pictures round-trip exactly
      through :func:`srgan.io.read.read_image` and a huge result is encoded a block of rows at a time.
      The only format whose memory stays bounded for any size: the others hold a full 8-bit copy
      (4 bytes a pixel) in Pillow.
    - .tif/.tiff: alpha kept; 16-bit kept for opaque gray only, other 16-bit pictures are
      reduced to 8 bits. Written uncompressed, because Pillow's compressed (libtiff) TIFF writer
      rejects typical EXIF blocks.
    - .webp: alpha kept; 8-bit only; gray is stored as RGB (WebP has no gray mode).
    - .jpg/.jpeg: 8-bit, no alpha: transparent areas are composited onto white. Quality ≥ 90
      also turns off chroma subsampling, which otherwise blurs the colour detail that
      super-resolution just added.
    - .bmp: 8-bit, no alpha (composited onto white, as most BMP readers ignore alpha), no EXIF/ICC.

    EXIF and the ICC profile are copied where the format has room for them; metadata is best
    effort: if a writer rejects the EXIF block, the image is written without it (logged), and an
    ICC profile whose colour space does not match the written pixels is left out.

    The file appears complete or not at all: it is written to a temporary file in the same folder
    and renamed over ``path``; on any failure the temporary file is removed.

    Raises:
        SrganError: unknown extension, missing or unwritable folder, or a write error.
    """
    name = os.fspath(path)
    target = Path(path)
    fmt = _FORMAT_BY_EXTENSION.get(target.suffix.lower())
    if fmt is None:
        known = ", ".join(IMAGE_EXTENSIONS)
        raise SrganError(f"{name}: unknown image extension {target.suffix!r} (use one of {known})")
    if not 1 <= quality <= 100:
        raise SrganError(f"{name}: quality must be between 1 and 100, got {quality}")
    try:
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            _encode(f, fmt, pic, quality, name)
    except SrganError:
        raise
    except MemoryError as exc:
        raise SrganError(f"{name}: not enough memory to encode the image") from exc
    except (OSError, ValueError, RuntimeError, TypeError, struct.error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SrganError(f"{name}: could not write the image ({reason})") from exc


def encode_image(pic: Picture, ext: str, *, quality: int = 95) -> bytes:
    """The bytes :func:`write_image` would write to a file with extension ``ext`` (".png", ".jpg", ...)."""
    fmt = _FORMAT_BY_EXTENSION.get(ext.lower())
    if fmt is None:
        raise SrganError(f"unknown image extension {ext!r} (use one of {', '.join(IMAGE_EXTENSIONS)})")
    buffer = io.BytesIO()
    try:
        _encode(buffer, fmt, pic, quality, "image")
    except MemoryError as exc:
        raise SrganError("not enough memory to encode the image") from exc
    except (OSError, ValueError, RuntimeError, TypeError, struct.error) as exc:
        raise SrganError(f"could not encode the image ({exc})") from exc
    return buffer.getvalue()


def _encode(out: BinaryIO, fmt: str, pic: Picture, quality: int, name: str) -> None:
    if fmt == "PNG" and (pic.bit_depth == 16 or pic.pixels.size > _STREAMED_PNG_SAMPLES):
        icc = matching_icc(pic.icc_profile, pic.pixels.shape[2])
        write_png(out, pic.pixels, pic.alpha, icc_profile=icc, exif=pic.exif)
        return
    img = _pil_for_format(pic, fmt)
    options: dict[str, object] = {}
    if fmt == "JPEG":
        options["quality"] = quality
        if quality >= 90:
            options["subsampling"] = 0
    elif fmt == "WEBP":
        options["quality"] = quality
    channels = 1 if img.mode in ("L", "LA", "I;16") else 3
    icc = matching_icc(pic.icc_profile, channels)
    if icc and fmt != "BMP":
        options["icc_profile"] = icc
    if pic.exif and fmt != "BMP":
        try:
            img.save(out, format=fmt, exif=pic.exif, **options)
            return
        except (OSError, ValueError, RuntimeError, TypeError, struct.error) as exc:
            log.warning("%s: writing without EXIF, the %s writer rejected it (%s)", name, fmt, exc)
            out.seek(0)
            out.truncate()
    img.save(out, format=fmt, **options)


def _pil_for_format(pic: Picture, fmt: str) -> Image.Image:
    """A Pillow image in a mode the target format stores, per :func:`write_image`'s table."""
    if fmt in ("JPEG", "BMP") and pic.alpha is not None:
        pic = Picture(pixels=_on_white(pic), mode=pic.mode)
    if fmt == "WEBP" and pic.is_gray:
        alpha = pic.alpha
        pic = Picture(pixels=np.repeat(pic.pixels, 3, axis=2), alpha=alpha, mode=pic.mode)
    keeps_gray16 = fmt in ("PNG", "TIFF")
    if pic.bit_depth == 16 and not (keeps_gray16 and pic.is_gray and pic.alpha is None):
        pixels = to_u8(pic.pixels)
        alpha = None if pic.alpha is None else to_u8(pic.alpha)
        pic = Picture(pixels=pixels, alpha=alpha, mode=pic.mode)
    img = to_pil(pic)
    img.info.clear()  # metadata is passed explicitly, filtered per format
    return img


def _on_white(pic: Picture) -> np.ndarray:
    """8-bit pixels composited onto a white background by their alpha."""
    pixels = to_u8(pic.pixels).astype(np.uint32)
    alpha = to_u8(pic.alpha)[..., None].astype(np.uint32)
    return ((pixels * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
