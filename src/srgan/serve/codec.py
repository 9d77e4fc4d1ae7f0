"""Uploaded bytes to a :class:`~srgan.io.picture.Picture` and back, with the HTTP status of each failure.

Decoding goes through :func:`srgan.io.read.decode_image`, the in-memory twin of the CLI's reader, and
encoding through the CLI's writer itself (:func:`srgan.io.write.write_image`, into a temporary folder the
response is streamed from), so an upload gets exactly the CLI's handling (modes, EXIF orientation, ICC
profiles, 16-bit PNG, the pixel limit) and the upload never touches the disk. A cheap look at the
header comes first, outside the one-at-a-time worker, so that non-images and oversized images are
refused without waiting in the queue or decoding a single pixel.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from srgan.errors import SrganError
from srgan.io.picture import Picture, to_u8
from srgan.io.read import decode_image
from srgan.io.write import _on_white  # the writer's own compositing, so a JPEG made in strips is the same
from srgan.io.write import write_image

# The formats the CLI lists (IMAGE_EXTENSIONS). Pillow opens many more, some through parsers that
# see little use or, for EPS, through Ghostscript: an upload from a web page gets the short list.
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF")
# Pillow's JPEG reader names a JPEG that carries extra pictures (as many phone photos do) MPO.
DECODED_FORMATS = (*ACCEPTED_FORMATS, "MPO")

# Samples converted at a time for JPEG and WebP (each uint32 temporary of a strip is 4 MB).
_STRIP_SAMPLES = 2**20

# Output format name (the API's ``format`` field) → (file extension, content type).
OUTPUT_FORMATS = {
    "png": (".png", "image/png"),
    "jpeg": (".jpg", "image/jpeg"),
    "webp": (".webp", "image/webp"),
}


class UploadError(Exception):
    """An upload the server refuses: ``status`` is the HTTP status, the message its one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Header:
    format: str
    width: int
    height: int


def probe(data: bytes, max_pixels: int | None) -> Header:
    """Format and size from the header alone; 415 for what is not an accepted image, 413 if too big."""
    if not data:
        raise UploadError(422, "the uploaded file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as img:
                header = Header(img.format or "", *img.size)
    except Image.DecompressionBombError as exc:
        raise UploadError(413, f"the image is too large to open safely ({exc})") from exc
    except Image.UnidentifiedImageError as exc:
        raise UploadError(
            415, "not an image in a supported format (send PNG, JPEG, WebP, BMP or TIFF)"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - Pillow's header parsers raise many types for junk
        raise UploadError(422, f"truncated or corrupt image header ({type(exc).__name__}: {exc})") from exc
    pixels = header.width * header.height
    if max_pixels and pixels > max_pixels:
        raise UploadError(
            413,
            f"the image is {header.width}x{header.height} ({pixels:,} pixels), "
            f"more than this server's limit of {max_pixels:,} pixels",
        )
    return header


def decode(data: bytes, max_pixels: int | None) -> Picture:
    """The upload as an upright Picture; 422 (with the reader's one-line reason) if it won't decode."""
    try:
        pic = decode_image(data, max_pixels=max_pixels)
    except SrganError as exc:
        raise UploadError(422, f"cannot read the image: {exc}") from exc
    if pic.format not in DECODED_FORMATS:
        raise UploadError(415, f"unsupported image format {pic.format}")
    return pic


def write(pic: Picture, path: Path) -> None:
    """Write ``pic`` to ``path`` (its suffix one of :data:`OUTPUT_FORMATS`) exactly as the CLI writes a file:
    to a file rather than to bytes, so a large PNG is streamed a block of rows at a time, never held whole.
    A picture the encoder rejects is a 422 whose reason does not name the server's temporary file."""
    try:
        write_image(path, pic)
    except SrganError as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        raise UploadError(422, f"cannot encode the result: {reason}") from exc


def for_format(pic: Picture, fmt: str) -> Picture:
    """``pic`` as ``fmt`` stores it, for :func:`write`: JPEG and WebP hold 8 bits, and JPEG no alpha (composited
    onto white). The writer does the same, but on the whole image at once through uint32 copies, several
    times the image's size (over 1 GB for a 40 MP 16-bit result); here it runs a strip of rows at a time, with
    the writer's own compositing, so the result is the same and memory stays near the image's 8-bit size.
    The caller drops the original once this returns, so the writer runs with the 8-bit copy alone.
    """
    flatten = fmt == "jpeg"
    if fmt not in ("jpeg", "webp") or (pic.bit_depth == 8 and not (flatten and pic.alpha is not None)):
        return pic
    height = pic.pixels.shape[0]
    pixels = np.empty(pic.pixels.shape, np.uint8)
    alpha = None if pic.alpha is None or flatten else np.empty(pic.alpha.shape, np.uint8)
    step = max(1, _STRIP_SAMPLES // pic.pixels[0].size)
    for top in range(0, height, step):
        rows = slice(top, top + step)
        if pic.alpha is not None and flatten:
            pixels[rows] = _on_white(Picture(pixels=pic.pixels[rows], alpha=pic.alpha[rows]))
        else:
            pixels[rows] = to_u8(pic.pixels[rows])
            if alpha is not None:
                alpha[rows] = to_u8(pic.alpha[rows])
    return Picture(pixels=pixels, alpha=alpha, exif=pic.exif, icc_profile=pic.icc_profile, format=pic.format)
