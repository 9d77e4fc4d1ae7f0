"""Uploaded bytes to a :class:`~srgan.io.picture.Picture` and back, with the HTTP status of each failure.

Decoding and encoding go through :func:`srgan.io.read.decode_image` and :func:`srgan.io.write.encode_image`,
the in-memory twins of the CLI's reader and writer, so an upload gets exactly the CLI's handling (modes,
EXIF orientation, ICC profiles, 16-bit PNG, the pixel limit) and nothing touches the disk. A cheap look at the
header comes first, outside the one-at-a-time worker, so that non-images and oversized images are
refused without waiting in the queue or decoding a single pixel.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image

from srgan.errors import SrganError
from srgan.io.picture import Picture
from srgan.io.read import decode_image
from srgan.io.write import encode_image

# The formats the CLI lists (IMAGE_EXTENSIONS). Pillow opens many more, some through parsers that
# see little use or, for EPS, through Ghostscript: an upload from a web page gets the short list.
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF")
# Pillow's JPEG reader names a JPEG that carries extra pictures (as many phone photos do) MPO.
DECODED_FORMATS = (*ACCEPTED_FORMATS, "MPO")

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


def encode(pic: Picture, fmt: str) -> bytes:
    """Encode as ``fmt`` (a key of :data:`OUTPUT_FORMATS`) exactly as the CLI would write the file."""
    suffix, _ = OUTPUT_FORMATS[fmt]
    return encode_image(pic, suffix)
