"""Reading images the way users have them, from a path or from bytes, into an upright :class:`Picture`.

Photos arrive as 8-bit JPEGs, gray scans, palette PNGs, CMYK JPEGs from print workflows, 16-bit
PNG/TIFF from raw converters, rotated phone pictures that only look upright because of an EXIF
tag. Pillow decodes them, except 16-bit PNGs with colour or alpha, which Pillow would cut to 8 bits:
those go through :mod:`srgan.io.png16`. Every failure becomes one :class:`SrganError` line naming the
file and the problem, and the pixel limit is checked from the header, before anything is decoded.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from srgan.errors import SrganError
from srgan.io.metadata import exif_orientation, matching_icc, orient, reset_orientation
from srgan.io.picture import Picture, colour_key_alpha, from_pil, to_u8
from srgan.io.png16 import decode_png, png_header

__all__ = ["DEFAULT_MAX_PIXELS", "decode_image", "read_image", "read_u8"]

DEFAULT_MAX_PIXELS = 100_000_000

# Pillow's bomb limit is a module global; it is lifted only while a header is read, under this lock
# (our own max_pixels check follows at once).
_PIL_LIMIT_LOCK = threading.Lock()


def read_image(path: str | os.PathLike[str], max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Picture:
    """Read an image file into an upright :class:`Picture`.

    Modes: RGB and L are kept (gray stays one channel); LA/RGBA have their alpha split off; P
    becomes RGB, or RGB + alpha when the palette has transparency; 1 becomes L; CMYK and YCbCr
    become RGB through Pillow's plain conversion (a CMYK ICC profile is dropped, since it no longer
    describes the pixels); 16-bit gray (I;16, I;16B, or I with values in 0..65535) becomes uint16
    with one channel; a tRNS colour key in an L/RGB/16-bit-gray PNG becomes an alpha channel.
    16-bit RGB/RGBA/LA PNGs keep all 16 bits (decoded by :mod:`srgan.io.png16`, since Pillow would
    reduce them to 8 bits). Other 16-bit colour files (48-bit TIFF) are read with 8 bits per
    channel, as Pillow delivers them. Float images (mode F) are refused: their value range is not
    defined, so there is no safe way to map them to pixels.

    The EXIF orientation is applied to the pixels and reset to 1 in the returned ``exif``.

    Args:
        path: the image file.
        max_pixels: refuse images with more pixels than this, judged from the header before any
            decoding. 0 or None disables the check (Pillow's own bomb check is lifted too).

    Raises:
        SrganError: one line naming the file and the problem (missing, a folder, empty, not an
            image, truncated or corrupt, too large, unsupported mode).
    """
    name = os.fspath(path)
    try:
        return _read_image(Path(path), max_pixels)
    except SrganError as exc:
        raise SrganError(f"{name}: {exc}") from exc.__cause__


def decode_image(data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Picture:
    """:func:`read_image` for an encoded image already in memory (an upload): the same modes, EXIF,
    ICC, 16-bit and pixel-limit handling, with no file in between.

    Raises:
        SrganError: one line naming the problem (empty, not an image, truncated, too large, bad mode).
    """
    if not data:
        raise SrganError("empty file (0 bytes)")
    return _decode(io.BytesIO(data), max_pixels, lambda: data)


def read_u8(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file's pixels as uint8 H×W×C (16-bit rounded to 8), for metrics and training crops."""
    return to_u8(read_image(path).pixels)


def _read_image(path: Path, max_pixels: int | None) -> Picture:
    _check_input_file(path)
    return _decode(path, max_pixels, path.read_bytes)


def _decode(source: Path | BinaryIO, max_pixels: int | None, whole: Callable[[], bytes]) -> Picture:
    """An open-able ``source`` into a Picture; ``whole()`` gives the file's bytes, for 16-bit colour PNGs."""
    img = _open(source)
    with img:
        width, height = img.size
        if max_pixels and width * height > max_pixels:
            raise SrganError(
                f"image is {width}x{height} ({width * height:,} pixels), more than the limit of "
                f"{max_pixels:,} pixels (raise --max-pixels, or max_pixels in Python, to allow it)"
            )
        header = png_header(img) if img.format == "PNG" else None
        if header is not None and header.bit_depth == 16 and header.colour_type in (2, 4, 6):
            return _read_wide_png(whole)
        _load(img)
        return from_pil(img)


def _check_input_file(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise SrganError("no such file") from exc
    except PermissionError as exc:
        raise SrganError("permission denied") from exc
    except OSError as exc:
        raise SrganError(f"cannot access the file ({exc.strerror or exc})") from exc
    if path.is_dir():
        raise SrganError("is a folder, not an image file")
    if st.st_size == 0:
        raise SrganError("empty file (0 bytes)")


def _open(source: Path | BinaryIO) -> Image.Image:
    """Open (header only), Pillow's bomb check left to ours (:func:`_without_pil_bomb_check`)."""
    try:
        with _without_pil_bomb_check():
            return Image.open(source)
    except Image.UnidentifiedImageError as exc:
        raise SrganError("not an image file, or an image format Pillow cannot read") from exc
    except PermissionError as exc:
        raise SrganError("permission denied") from exc
    except OSError as exc:
        raise SrganError(f"cannot read the file ({exc.strerror or exc})") from exc
    except (ValueError, SyntaxError, EOFError, struct.error, IndexError) as exc:
        raise SrganError(f"truncated or corrupt image ({exc})") from exc


@contextlib.contextmanager
def _without_pil_bomb_check() -> Iterator[None]:
    """Pillow's decompression-bomb check off for one ``open``, which reads only the header.

    Pillow warns above ``MAX_IMAGE_PIXELS`` and refuses above twice that. Our own check (``max_pixels``) runs
    right after the header is read, so the warning is noise, and the refusal would name Pillow's limit instead of
    the one the user can raise (a 200 MP header under the default 100 MP limit). The global is restored at once.
    """
    with warnings.catch_warnings(), _PIL_LIMIT_LOCK:
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _load(img: Image.Image) -> None:
    """Decode fully, so truncation shows up here rather than as grey blocks in the output."""
    # LOAD_TRUNCATED_IMAGES stays whatever the process set: flipping it would affect other threads.
    try:
        img.load()
    except Image.DecompressionBombError as exc:
        raise SrganError(f"image is too large to decode safely ({exc})") from exc
    except MemoryError as exc:
        raise SrganError("not enough memory to decode the image") from exc
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, zlib.error) as exc:
        raise SrganError(f"truncated or corrupt image ({exc})") from exc


def _read_wide_png(whole: Callable[[], bytes]) -> Picture:
    """Read a 16-bit colour or gray+alpha PNG (``whole()``: its bytes) with all 16 bits (Pillow would keep 8).

    ``mode`` is named after the file's layout (LA, RGB, RGBA): Pillow's names for these files
    (RGBA for gray+alpha) would misdescribe them.
    """
    try:
        png = decode_png(whole())
    except (ValueError, zlib.error, struct.error) as exc:
        raise SrganError(f"truncated or corrupt image ({exc})") from exc
    except OSError as exc:
        raise SrganError(f"cannot read the file ({exc.strerror or exc})") from exc
    samples = np.ascontiguousarray(orient(png.samples, exif_orientation(png.exif)))
    colour = 1 if samples.shape[2] <= 2 else 3
    if samples.shape[2] in (2, 4):
        pixels = np.ascontiguousarray(samples[..., :colour])
        alpha = np.ascontiguousarray(samples[..., colour])
    else:
        pixels, alpha = samples, colour_key_alpha(samples, png.transparency)
    return Picture(
        pixels=pixels,
        alpha=alpha,
        exif=reset_orientation(png.exif),
        icc_profile=matching_icc(png.icc_profile, colour),
        format="PNG",
    )
