"""Reading and writing images the way users have them.

Photos arrive as 8-bit JPEGs, gray scans, palette PNGs, CMYK JPEGs from print workflows, 16-bit
PNG/TIFF from raw converters, rotated phone pictures that only look upright because of an EXIF
tag. Everything here turns them into one small data model, :class:`Picture` (upright pixels plus
the alpha, EXIF and ICC data needed to write a faithful result), and writes it back atomically so
a crash or a full disk never leaves half an output file behind.

16-bit colour: Pillow decodes 48/64-bit PNGs to 8 bits per channel and has no 16-bit RGB mode to
encode them, so 16-bit PNGs with colour or alpha are read and written by the small PNG codec at
the bottom of this module (zlib + numpy). Other formats carry 16 bits only for plain gray
(PNG and TIFF via Pillow's ``I;16``); everything else is written with 8 bits per channel.
"""

from __future__ import annotations

import contextlib
import glob
import io
import logging
import os
import secrets
import struct
import threading
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from srgan.errors import SrganError
from srgan.ops.pixels import to_u8

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "Picture",
    "atomic_path",
    "atomic_write_bytes",
    "decode_image",
    "encode_image",
    "from_array",
    "from_pil",
    "list_images",
    "read_image",
    "to_array",
    "to_pil",
    "write_image",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 100_000_000
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")

_FORMAT_BY_EXTENSION = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
# Above this many samples (16 MP of RGB) a PNG is written by the streaming encoder below rather than by
# Pillow, which needs the whole image in its own memory (4 bytes a pixel) on top of ours.
_STREAMED_PNG_SAMPLES = 48_000_000
_ORIENTATION_TAG = 0x0112
_EXIF_PREFIX = b"Exif\x00\x00"

# Pillow's bomb limit is a module global; we only lift it while opening, under this lock, when
# the caller asked for a larger (or no) limit than Pillow's own.
_PIL_LIMIT_LOCK = threading.Lock()


# --------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------


@dataclass
class Picture:
    """An upright image with the metadata needed to write it back faithfully.

    Attributes:
        pixels: H×W×3 (colour) or H×W×1 (gray), uint8 or uint16, EXIF orientation applied.
        alpha: H×W with the same dtype as ``pixels``, or None when the image is opaque.
        mode: the PIL mode of the source ("RGB", "L", "P", "CMYK", "I;16", ...); informational.
            16-bit colour PNGs, which Pillow misnames, get "LA", "RGB" or "RGBA". Left empty, it
            is filled in from the pixels ("L", "LA", "RGB", "RGBA", "I;16").
        exif: raw EXIF to copy to outputs, with the orientation tag already reset to 1.
        icc_profile: ICC profile describing ``pixels`` (dropped when it would not match them).
        format: PIL format name of the source file ("PNG", "JPEG", ...), or None.
        flat_gray: the picture came from an H×W array, so :func:`to_array` gives H×W back.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    mode: str = ""
    exif: bytes | None = None
    icc_profile: bytes | None = None
    format: str | None = None
    flat_gray: bool = False

    def __post_init__(self) -> None:
        pixels = self.pixels
        if not isinstance(pixels, np.ndarray) or pixels.ndim != 3 or pixels.shape[2] not in (1, 3):
            raise ValueError(f"Picture.pixels must be H×W×1 or H×W×3, got {_describe(pixels)}")
        if pixels.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"Picture.pixels must be uint8 or uint16, got {pixels.dtype}")
        if self.alpha is not None:
            if self.alpha.shape != pixels.shape[:2] or self.alpha.dtype != pixels.dtype:
                raise ValueError(
                    f"Picture.alpha must be {pixels.shape[:2]} {pixels.dtype}, "
                    f"got {self.alpha.shape} {self.alpha.dtype}"
                )
        if not self.mode:
            self.mode = _natural_mode(pixels, self.alpha)

    @property
    def bit_depth(self) -> int:
        """Bits per channel: 8 or 16."""
        return 16 if self.pixels.dtype == np.uint16 else 8

    @property
    def is_gray(self) -> bool:
        """True for single-channel (gray) pixels."""
        return self.pixels.shape[2] == 1

    @property
    def has_alpha(self) -> bool:
        """True when the picture carries an alpha channel."""
        return self.alpha is not None


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"shape {value.shape} {value.dtype}"
    return type(value).__name__


def _natural_mode(pixels: np.ndarray, alpha: np.ndarray | None) -> str:
    if pixels.shape[2] == 1:
        if alpha is not None:
            return "LA"
        return "I;16" if pixels.dtype == np.uint16 else "L"
    return "RGB" if alpha is None else "RGBA"


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read_image(path: str | os.PathLike[str], max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Picture:
    """Read an image file into an upright :class:`Picture`.

    Modes: RGB and L are kept (gray stays one channel); LA/RGBA have their alpha split off; P
    becomes RGB, or RGB + alpha when the palette has transparency; 1 becomes L; CMYK and YCbCr
    become RGB through Pillow's plain conversion (a CMYK ICC profile is dropped, since it no longer
    describes the pixels); 16-bit gray (I;16, I;16B, or I with values in 0..65535) becomes uint16
    with one channel; a tRNS colour key in an L/RGB/16-bit-gray PNG becomes an alpha channel.
    16-bit RGB/RGBA/LA PNGs keep all 16 bits (decoded by this module's own PNG reader, since
    Pillow would reduce them to 8 bits). Other 16-bit colour files (48-bit TIFF) are read with
    8 bits per channel, as Pillow delivers them. Float images (mode F) are refused: their value
    range is not defined, so there is no safe way to map them to pixels.

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
    img = _open(source, max_pixels)
    with img:
        width, height = img.size
        if max_pixels and width * height > max_pixels:
            raise SrganError(
                f"image is {width}x{height} ({width * height:,} pixels), more than the limit of "
                f"{max_pixels:,} pixels (raise max_pixels to allow it)"
            )
        header = _png_header(img) if img.format == "PNG" else None
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


def _open(source: Path | BinaryIO, max_pixels: int | None) -> Image.Image:
    """Open (header only) with Pillow's bomb check deferring to ``max_pixels``."""
    try:
        with _pil_pixel_limit(max_pixels):
            return Image.open(source)
    except Image.DecompressionBombError as exc:
        raise SrganError(f"image is too large to open safely ({exc})") from exc
    except Image.UnidentifiedImageError as exc:
        raise SrganError("not an image file, or an image format Pillow cannot read") from exc
    except PermissionError as exc:
        raise SrganError("permission denied") from exc
    except OSError as exc:
        raise SrganError(f"cannot read the file ({exc.strerror or exc})") from exc
    except (ValueError, SyntaxError, EOFError, struct.error, IndexError) as exc:
        raise SrganError(f"truncated or corrupt image ({exc})") from exc


@contextlib.contextmanager
def _pil_pixel_limit(max_pixels: int | None) -> Iterator[None]:
    """Make Pillow's decompression-bomb check agree with ``max_pixels`` for one ``open``.

    Pillow warns above ``MAX_IMAGE_PIXELS`` and refuses above twice that. Our own check runs right
    after the header is read, so the warning is noise; the refusal only gets in the way when the
    caller allows more than Pillow does, and only then is the global lifted, briefly.
    """
    pil_limit = Image.MAX_IMAGE_PIXELS
    lift = pil_limit is not None and (not max_pixels or max_pixels > 2 * pil_limit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if not lift:
            yield
            return
        with _PIL_LIMIT_LOCK:
            Image.MAX_IMAGE_PIXELS = None
            try:
                yield
            finally:
                Image.MAX_IMAGE_PIXELS = pil_limit


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


def from_pil(img: Image.Image) -> Picture:
    """Turn a Pillow image into an upright :class:`Picture` (see :func:`read_image` for modes).

    The EXIF orientation is applied and reset to 1 in ``exif``; ``mode`` records ``img.mode``.

    Raises:
        SrganError: for modes that have no faithful pixel representation here (F, wide I).
    """
    source_mode = img.mode
    raw_exif = img.info.get("exif")
    icc = img.info.get("icc_profile")
    fmt = img.format
    if _orientation(img) in range(2, 9):
        img = ImageOps.exif_transpose(img)
    pixels, alpha = _pil_to_planes(img)
    return Picture(
        pixels=pixels,
        alpha=alpha,
        mode=source_mode,
        exif=_reset_orientation(raw_exif),
        icc_profile=_matching_icc(icc, pixels.shape[2]),
        format=fmt,
    )


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation (1 = upright); a malformed EXIF block counts as upright."""
    try:
        return int(img.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - optional metadata must not make a readable image fail
        return 1


def _pil_to_planes(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Split a Pillow image into H×W×C pixels and an optional H×W alpha plane."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        gray = np.array(img).astype(np.uint16)
        return gray[..., None], _colour_key_alpha(gray[..., None], img.info.get("transparency"))
    if mode == "I":
        wide = np.array(img)
        if wide.size and (wide.min() < 0 or wide.max() > 65535):
            raise SrganError("unsupported mode I: 32-bit integer pixels outside 0..65535")
        gray = wide.astype(np.uint16)
        return gray[..., None], _colour_key_alpha(gray[..., None], img.info.get("transparency"))
    if mode == "F":
        raise SrganError("unsupported mode F (32-bit float pixels have no defined range)")

    if mode == "1":
        target = "L"
    elif mode == "P":
        target = "RGBA" if img.has_transparency_data else "RGB"
    elif mode in ("PA", "RGBa"):
        target = "RGBA"
    elif mode == "La":
        target = "LA"
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        target = "RGB"  # CMYK, YCbCr, RGBX, LAB, HSV: Pillow's own conversion
    else:
        target = mode
    if target != mode:
        try:
            img = img.convert(target)
        except ValueError as exc:
            raise SrganError(f"unsupported mode {mode} ({exc})") from exc

    arr = np.array(img)
    if arr.ndim == 2:
        arr = arr[..., None]
    if img.mode in ("LA", "RGBA"):
        return np.ascontiguousarray(arr[..., :-1]), np.ascontiguousarray(arr[..., -1])
    return arr, _colour_key_alpha(arr, img.info.get("transparency"))


def _colour_key_alpha(pixels: np.ndarray, key: object) -> np.ndarray | None:
    """Alpha from a PNG tRNS colour key: the one key colour is transparent, all else opaque."""
    if key is None or isinstance(key, bytes):
        return None
    key_arr = np.atleast_1d(np.asarray(key))
    if key_arr.shape != (pixels.shape[2],):
        return None
    opaque = np.iinfo(pixels.dtype).max
    return np.where((pixels != key_arr).any(axis=2), opaque, 0).astype(pixels.dtype)


def _matching_icc(icc: bytes | None, channels: int) -> bytes | None:
    """Keep an ICC profile only when its colour space is that of the pixels it will tag."""
    if not icc or len(icc) < 20:
        return None
    wanted = b"GRAY" if channels == 1 else b"RGB "
    return icc if icc[16:20] == wanted else None


def _reset_orientation(exif: bytes | None) -> bytes | None:
    """EXIF with orientation 1, for pixels that have already been turned upright.

    The one SHORT value is patched in place rather than re-serialising the whole block, because
    re-serialising moves data around and breaks maker notes that hold absolute offsets.
    """
    if not exif:
        return None
    start = len(_EXIF_PREFIX) if exif.startswith(_EXIF_PREFIX) else 0
    try:
        order = {b"II": "<", b"MM": ">"}[exif[start : start + 2]]
        (ifd,) = struct.unpack_from(order + "I", exif, start + 4)
        (count,) = struct.unpack_from(order + "H", exif, start + ifd)
        for i in range(count):
            entry = start + ifd + 2 + 12 * i
            tag, kind, n = struct.unpack_from(order + "HHI", exif, entry)
            if tag == _ORIENTATION_TAG and kind == 3 and n == 1:
                patched = bytearray(exif)
                struct.pack_into(order + "H", patched, entry + 8, 1)
                return bytes(patched)
    except (KeyError, struct.error):
        pass
    return _reset_orientation_slowly(exif)


def _reset_orientation_slowly(exif: bytes) -> bytes | None:
    """Fallback for odd EXIF layouts: let Pillow rewrite the block, or drop it if it can't."""
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        if parsed.get(_ORIENTATION_TAG, 1) == 1:
            return exif
        parsed[_ORIENTATION_TAG] = 1
        return parsed.tobytes()
    except Exception:  # noqa: BLE001 - a malformed optional block must not fail the read
        return None


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to an H×W×C array the way ``ImageOps.exif_transpose`` does."""
    if orientation == 2:
        return arr[:, ::-1]
    if orientation == 3:
        return arr[::-1, ::-1]
    if orientation == 4:
        return arr[::-1]
    if orientation == 5:
        return arr.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(arr, -1)
    if orientation == 7:
        return arr[::-1, ::-1].transpose(1, 0, 2)
    if orientation == 8:
        return np.rot90(arr, 1)
    return arr


def _read_wide_png(whole: Callable[[], bytes]) -> Picture:
    """Read a 16-bit colour or gray+alpha PNG (``whole()``: its bytes) with all 16 bits (Pillow would keep 8).

    ``mode`` is named after the file's layout (LA, RGB, RGBA): Pillow's names for these files
    (RGBA for gray+alpha) would misdescribe them.
    """
    try:
        png = _decode_png(whole())
    except (ValueError, zlib.error, struct.error) as exc:
        raise SrganError(f"truncated or corrupt image ({exc})") from exc
    except OSError as exc:
        raise SrganError(f"cannot read the file ({exc.strerror or exc})") from exc
    samples = png.samples
    orientation = 1
    if png.exif:
        with contextlib.suppress(Exception):
            parsed = Image.Exif()
            parsed.load(png.exif)
            orientation = int(parsed.get(_ORIENTATION_TAG, 1))
    samples = np.ascontiguousarray(_orient(samples, orientation))
    colour = 1 if samples.shape[2] <= 2 else 3
    if samples.shape[2] in (2, 4):
        pixels = np.ascontiguousarray(samples[..., :colour])
        alpha = np.ascontiguousarray(samples[..., colour])
    else:
        pixels, alpha = samples, _colour_key_alpha(samples, png.transparency)
    return Picture(
        pixels=pixels,
        alpha=alpha,
        exif=_reset_orientation(png.exif),
        icc_profile=_matching_icc(png.icc_profile, colour),
        format="PNG",
    )


# --------------------------------------------------------------------------------------------
# Conversions
# --------------------------------------------------------------------------------------------


def to_pil(pic: Picture) -> Image.Image:
    """Turn a :class:`Picture` into a Pillow image (L, LA, RGB, RGBA or I;16).

    16-bit gray without alpha becomes ``I;16``. Pillow has no 16-bit colour or gray+alpha modes,
    so 16-bit RGB, RGBA and LA pictures are reduced to 8 bits per channel (rounded); use
    :func:`write_image` with a .png name to keep 16 bits. The ICC profile and EXIF are attached to
    ``img.info`` so Pillow's ``save`` picks them up.
    """
    if pic.bit_depth == 16 and pic.is_gray and pic.alpha is None:
        img = Image.fromarray(np.ascontiguousarray(pic.pixels[..., 0], dtype="<u2"))
    else:
        img = Image.fromarray(_to_array8(pic))
    if pic.icc_profile:
        img.info["icc_profile"] = pic.icc_profile
    if pic.exif:
        img.info["exif"] = pic.exif
    return img


def _to_array8(pic: Picture) -> np.ndarray:
    """Pixels (and alpha) as one 8-bit array shaped for ``Image.fromarray``."""
    pixels = to_u8(pic.pixels)
    if pic.alpha is not None:
        pixels = np.concatenate([pixels, to_u8(pic.alpha)[..., None]], axis=2)
    return pixels[..., 0] if pixels.shape[2] == 1 else pixels


def from_array(arr: np.ndarray) -> Picture:
    """Wrap a uint8/uint16 array as a :class:`Picture`.

    Shapes: H×W and H×W×1 (gray), H×W×2 (gray + alpha), H×W×3 (RGB), H×W×4 (RGBA). The picture
    may share memory with ``arr``. An H×W input is remembered, so :func:`to_array` returns H×W.

    Raises:
        SrganError: for other dtypes or shapes, or an empty array.
    """
    arr = np.asarray(arr)
    if arr.dtype not in (np.uint8, np.uint16):
        raise SrganError(f"image arrays must be uint8 or uint16, got {arr.dtype}")
    if arr.ndim == 2:
        arr, flat = arr[..., None], True
    elif arr.ndim == 3 and arr.shape[2] in (1, 2, 3, 4):
        flat = False
    else:
        raise SrganError(
            f"image arrays must be H×W, H×W×1, H×W×2, H×W×3 or H×W×4, got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise SrganError(f"image array is empty (shape {arr.shape})")
    colour = 1 if arr.shape[2] <= 2 else 3
    alpha = np.ascontiguousarray(arr[..., colour]) if arr.shape[2] in (2, 4) else None
    return Picture(pixels=np.ascontiguousarray(arr[..., :colour]), alpha=alpha, flat_gray=flat)


def to_array(pic: Picture) -> np.ndarray:
    """Pixels with alpha re-attached as the last channel (H×W×2 or H×W×4).

    Opaque gray comes back H×W when the picture was made from an H×W array, else H×W×1.
    """
    if pic.alpha is not None:
        return np.concatenate([pic.pixels, pic.alpha[..., None]], axis=2)
    if pic.flat_gray and pic.is_gray:
        return pic.pixels[..., 0]
    return pic.pixels


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def write_image(path: str | os.PathLike[str], pic: Picture, *, quality: int = 95) -> None:
    """Write ``pic`` atomically, in the format named by the extension.

    Formats and what survives:

    - .png: everything. 8-bit via Pillow; 16-bit (gray, gray+alpha, RGB, RGBA) and images over 16 MP
      via this module's streaming PNG encoder, so 16-bit pictures round-trip exactly through
      :func:`read_image` and a huge result is encoded a block of rows at a time. The only format whose
      memory stays bounded for any size: the others hold a full 8-bit copy (4 bytes a pixel) in Pillow.
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
        icc = _matching_icc(pic.icc_profile, pic.pixels.shape[2])
        _write_png(out, pic.pixels, pic.alpha, icc_profile=icc, exif=pic.exif)
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
    icc = _matching_icc(pic.icc_profile, channels)
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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` only if the block succeeds.

    The temporary file already exists (empty) and keeps ``path``'s extension, so writers that go
    by the extension (``np.save``, Pillow) behave. Its name starts with a dot so folder scans
    such as :func:`list_images` skip it. On any exception, including KeyboardInterrupt, it is
    deleted and the exception propagates; ``path`` is then untouched.

    Raises:
        SrganError: the folder is missing or not writable, or the final rename fails.
    """
    target = Path(path)
    tmp = _create_temp_next_to(target)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        _fsync(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SrganError(f"{os.fspath(path)}: could not write ({exc.strerror or exc})") from exc


def _create_temp_next_to(target: Path) -> Path:
    folder = target.parent
    for _ in range(100):
        tmp = folder / f".{target.name}.{secrets.token_hex(4)}.tmp{target.suffix}"
        try:
            # os.open with 0o666 (not mkstemp's 0o600) so the result gets the usual umask rights.
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
        except FileNotFoundError as exc:
            raise SrganError(f"{os.fspath(target)}: folder {folder} does not exist") from exc
        except NotADirectoryError as exc:
            raise SrganError(f"{os.fspath(target)}: {folder} is not a folder") from exc
        except PermissionError as exc:
            raise SrganError(f"{os.fspath(target)}: no permission to write in {folder}") from exc
        except OSError as exc:
            raise SrganError(f"{os.fspath(target)}: cannot write here ({exc.strerror or exc})") from exc
    raise SrganError(f"{os.fspath(target)}: could not create a temporary file in {folder}")


def _fsync(path: Path) -> None:
    """Flush the file to disk so the rename never publishes a name whose data is still in flight."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + rename); see :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


# --------------------------------------------------------------------------------------------
# Finding inputs
# --------------------------------------------------------------------------------------------


def list_images(inputs: Iterable[str | os.PathLike[str]], recursive: bool = True) -> list[Path]:
    """Expand files, folders and glob patterns into image paths, in order, without duplicates.

    - A file is taken as is, whatever its extension (the reader will judge it).
    - A folder is searched (recursively unless ``recursive=False``) for files with an
      :data:`IMAGE_EXTENSIONS` extension, case-insensitively, in sorted order. Names starting with
      a dot are skipped: they are hidden files, macOS ``._`` resource forks or our own temporary
      files.
    - Anything else containing ``*``, ``?`` or ``[`` is a glob pattern (``**`` crosses folders);
      matched image files are taken and matched folders searched as above.

    Raises:
        SrganError: a missing path, a pattern that matches no images, or a folder without images.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for item in inputs:
        name = os.fspath(item)
        for path in _expand(name, recursive):
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                found.append(path)
    return found


def _expand(name: str, recursive: bool) -> list[Path]:
    path = Path(name)
    if path.is_file():
        return [path]
    if path.is_dir():
        images = _images_in(path, recursive)
        if not images:
            looked_for = ", ".join(IMAGE_EXTENSIONS)
            raise SrganError(f"{name}: no images in this folder (looked for {looked_for})")
        return images
    if any(ch in name for ch in "*?["):
        images = []
        for match in sorted(glob.glob(name, recursive=True)):
            candidate = Path(match)
            if candidate.is_dir():
                images.extend(_images_in(candidate, recursive))
            elif _is_image_name(candidate):
                images.append(candidate)
        if not images:
            raise SrganError(f"{name}: pattern matches no images")
        return images
    raise SrganError(f"{name}: no such file or folder")


def _images_in(folder: Path, recursive: bool) -> list[Path]:
    images = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        images.extend(Path(root) / f for f in files if _is_image_name(Path(f)))
    return sorted(images)


def _is_image_name(path: Path) -> bool:
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


# --------------------------------------------------------------------------------------------
# Minimal PNG codec for what Pillow cannot do: 16 bits per channel with colour or alpha.
# Reads colour types 0/2/4/6 at 8 or 16 bits, interlaced or not; writes non-interlaced.
# --------------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}
_PNG_COLOUR_TYPE = {channels: colour_type for colour_type, channels in _PNG_CHANNELS.items()}
# Adam7 passes as (x0, y0, dx, dy).
_ADAM7 = (
    (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)
)


@dataclass
class _PngHeader:
    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlace: int


@dataclass
class _Png:
    samples: np.ndarray  # H×W×C, uint8 or uint16, channels in PNG order (gray/RGB, then alpha)
    icc_profile: bytes | None
    exif: bytes | None
    transparency: tuple[int, ...] | int | None


def _png_header(img: Image.Image) -> _PngHeader | None:
    """The IHDR fields of an open PNG, read from its first 29 bytes; None if this is not a PNG."""
    with contextlib.suppress(OSError, AttributeError, ValueError):
        fp = img.fp
        position = fp.tell()
        try:
            fp.seek(0)
            head = fp.read(29)
        finally:
            fp.seek(position)
        if len(head) == 29 and head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
            return _PngHeader(width, height, depth, colour_type, interlace)
    return None


def _decode_png(data: bytes) -> _Png:
    """Decode a whole PNG; raises ValueError, zlib.error or struct.error if truncated or malformed."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    header: _PngHeader | None = None
    idat: list[bytes] = []
    icc = exif = None
    transparency: tuple[int, ...] | int | None = None
    pos = len(_PNG_SIGNATURE)
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError("file ends inside a chunk header")
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(crc) < 4:
            raise ValueError(f"file ends inside the {kind.decode('latin-1')} chunk")
        if zlib.crc32(kind + body) != int.from_bytes(crc, "big"):
            raise ValueError(f"{kind.decode('latin-1')} chunk fails its CRC check")
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour_type, compression, filtering, interlace = struct.unpack(
                ">IIBBBBB", body
            )
            if depth not in (8, 16) or colour_type not in _PNG_CHANNELS:
                raise ValueError(f"unsupported PNG layout (bit depth {depth}, colour type {colour_type})")
            if compression or filtering or interlace > 1:
                raise ValueError("unknown PNG compression, filter or interlace method")
            header = _PngHeader(width, height, depth, colour_type, interlace)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"iCCP":
            # Ancillary: a broken profile costs colour accuracy, not the image.
            with contextlib.suppress(zlib.error, IndexError):
                icc = zlib.decompress(body.partition(b"\x00")[2][1:])
        elif kind == b"eXIf":
            exif = body
        elif kind == b"tRNS" and header is not None and header.colour_type in (0, 2):
            values = struct.unpack(f">{len(body) // 2}H", body[: len(body) // 2 * 2])
            transparency = values[0] if header.colour_type == 0 and values else values or None
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("no IHDR chunk")
    channels = _PNG_CHANNELS[header.colour_type]
    bpp = channels * header.bit_depth // 8
    passes = _ADAM7 if header.interlace else ((0, 0, 1, 1),)
    sizes = [(-(-(header.width - x0) // dx), -(-(header.height - y0) // dy)) for x0, y0, dx, dy in passes]
    expected = sum(h * (1 + w * bpp) for w, h in sizes if w and h)
    inflater = zlib.decompressobj()
    raw = inflater.decompress(b"".join(idat), expected)
    if len(raw) < expected:
        raise ValueError("image data is truncated")

    image = np.zeros((header.height, header.width, bpp), np.uint8)
    offset = 0
    for (x0, y0, dx, dy), (w, h) in zip(passes, sizes):
        if not (w and h):
            continue
        size = h * (1 + w * bpp)
        image[y0::dy, x0::dx] = _unfilter(raw[offset : offset + size], h, w, bpp)
        offset += size
    if header.bit_depth == 16:
        samples = image.view(">u2").astype(np.uint16)
    else:
        samples = image
    return _Png(samples.reshape(header.height, header.width, channels), icc, exif, transparency)


def _unfilter(raw: bytes, height: int, width: int, bpp: int) -> np.ndarray:
    """Undo PNG row filters; returns height×width×bpp bytes.

    Sub, Average and Paeth depend on the already decoded pixel to the left, and Up/Average/Paeth
    on the row above, so no row can be decoded in one vector step. Every pixel depends only on
    pixels up and to the left, though, so all pixels on one anti-diagonal (x + y = d) are
    independent: the loop runs over H + W - 1 diagonals, each decoded in one vector step. Laid
    out with one padding row and column of zeros (the "outside" PNG assumes), a diagonal is a
    plain strided slice of the flattened array.
    """
    rows = np.frombuffer(raw, np.uint8).reshape(height, 1 + width * bpp)
    kinds = rows[:, 0]
    if (kinds > 4).any():
        raise ValueError(f"unknown PNG filter type {int(kinds.max())}")
    filtered = rows[:, 1:].reshape(height, width, bpp)
    if not kinds.any():
        return filtered

    stride = width + 1
    recon = np.zeros(((height + 1) * stride, bpp), np.int16)
    source = np.zeros_like(recon)
    source.reshape(height + 1, stride, bpp)[1:, 1:] = filtered
    kind = np.zeros((height + 1) * stride, np.int8)
    kind.reshape(height + 1, stride)[1:, 1:] = kinds[:, None]
    # Moving one step down-left along a diagonal moves stride - 1 = width places in the flat array.
    for d in range(height + width - 1):
        y_first, y_last = max(0, d - width + 1), min(height - 1, d)
        start = (y_first + 1) * stride + (d - y_first + 1)
        stop = start + (y_last - y_first) * width + 1
        here = slice(start, stop, width)
        a = recon[start - 1 : stop - 1 : width]
        b = recon[start - stride : stop - stride : width]
        c = recon[start - stride - 1 : stop - stride - 1 : width]
        k = kind[here][:, None]
        pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        prediction = np.select([k == 1, k == 2, k == 3, k == 4], [a, b, (a + b) >> 1, paeth], 0)
        recon[here] = (source[here] + prediction) & 0xFF
    return recon.reshape(height + 1, stride, bpp)[1:, 1:].astype(np.uint8)


def _encode_png(
    samples: np.ndarray,
    *,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    filter_type: int | None = None,
    level: int = 4,
) -> bytes:
    """Encode H×W×C (C = 1, 2, 3, 4) uint8/uint16 samples as a non-interlaced PNG (see :func:`_write_png`)."""
    buffer = io.BytesIO()
    _write_png(buffer, samples, icc_profile=icc_profile, exif=exif, filter_type=filter_type, level=level)
    return buffer.getvalue()


def _write_png(
    out: BinaryIO,
    samples: np.ndarray,
    alpha: np.ndarray | None = None,
    *,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    filter_type: int | None = None,
    level: int = 4,
    block_bytes: int = 2**20,
) -> None:
    """Write H×W×C uint8/uint16 samples (plus an optional H×W ``alpha`` plane) as a PNG, streaming.

    Rows are filtered and compressed one block at a time and written as they come, so memory is a few
    blocks whatever the image size, and a file-backed ``samples`` (``srgan.io.bigarray``) gives each block's
    pages back once it is encoded. Each row gets the filter with the smallest sum of absolute (signed)
    residuals, the usual heuristic; ``filter_type`` forces one filter for every row. zlib level 4 rather
    than 6: on 16-bit photo data it is about four times faster for files well under 1% larger.
    """
    from srgan.io import bigarray

    height, width = samples.shape[:2]
    channels = samples.shape[2] + (alpha is not None)
    depth = 16 if samples.dtype == np.uint16 else 8
    # The filter search makes about 60 bytes of temporaries per byte of a block: blocks of ~1 MB of
    # pixels keep that near 60 MB however wide the image is.
    block_rows = max(1, block_bytes // (width * channels * depth // 8))

    def chunk(kind: bytes, body: bytes) -> None:
        out.write(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)))

    def block(top: int) -> np.ndarray:
        rows = samples[top : top + block_rows]
        if alpha is not None:
            rows = np.concatenate([rows, alpha[top : top + block_rows, :, None]], axis=2)
        data = np.ascontiguousarray(rows, dtype=">u2" if depth == 16 else np.uint8)
        return data.view(np.uint8).reshape(len(rows), width, -1)

    out.write(_PNG_SIGNATURE)
    chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, _PNG_COLOUR_TYPE[channels], 0, 0, 0))
    if icc_profile:
        chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc_profile))
    if exif:
        chunk(b"eXIf", exif[len(_EXIF_PREFIX) :] if exif.startswith(_EXIF_PREFIX) else exif)
    compressor = zlib.compressobj(level)
    above = None
    for top in range(0, height, block_rows):
        pixels = block(top)
        data = compressor.compress(_filter_block(pixels, above, filter_type).tobytes())
        above = pixels[-1:]
        for plane in (samples, alpha):
            if plane is not None:
                bigarray.release(plane, top, top + len(pixels))
        if data:
            chunk(b"IDAT", data)
    chunk(b"IDAT", compressor.flush())
    chunk(b"IEND", b"")


def _filter_rows(pixels: np.ndarray, filter_type: int | None, block_rows: int = 256) -> np.ndarray:
    """Filter H×W×bpp bytes into PNG scanlines (filter byte + filtered row), in row blocks."""
    blocks = [
        _filter_block(pixels[top : top + block_rows], pixels[top - 1 : top] if top else None, filter_type)
        for top in range(0, pixels.shape[0], block_rows)
    ]
    return np.concatenate(blocks) if blocks else np.empty((0, 1 + pixels.shape[1] * pixels.shape[2]), np.uint8)


def _filter_block(pixels: np.ndarray, above: np.ndarray | None, filter_type: int | None) -> np.ndarray:
    """PNG scanlines of a block of H×W×bpp bytes, given the row above it (None at the image's top)."""
    rows, width, bpp = pixels.shape
    x = pixels.astype(np.int16)
    b = np.concatenate([above.astype(np.int16) if above is not None else np.zeros_like(x[:1]), x[:-1]])
    a = np.zeros_like(x)
    a[:, 1:] = x[:, :-1]
    c = np.zeros_like(b)
    c[:, 1:] = b[:, :-1]
    pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    candidates = np.stack([x, x - a, x - b, x - ((a + b) >> 1), x - paeth]).astype(np.uint8)
    candidates = candidates.reshape(5, rows, width * bpp)
    if filter_type is None:
        cost = np.abs(candidates.view(np.int8).astype(np.int32)).sum(axis=2)
        choice = cost.argmin(axis=0)
    else:
        choice = np.full(rows, filter_type)
    out = np.empty((rows, 1 + width * bpp), np.uint8)
    out[:, 0] = choice
    out[:, 1:] = candidates[choice, np.arange(rows)]
    return out
