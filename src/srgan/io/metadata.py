"""EXIF orientation and ICC profiles: keeping a picture's metadata true to its pixels.

A :class:`~srgan.io.picture.Picture` is always upright, so the EXIF orientation is applied to the pixels
when an image is read and reset to 1 in the EXIF that travels with them; an ICC profile travels only
while its colour space is that of the pixels it tags. Pillow-decoded images (:func:`srgan.io.picture.from_pil`),
the 16-bit PNG read path (:mod:`srgan.io.read`) and the writers (:mod:`srgan.io.write`) all use these.
"""

from __future__ import annotations

import contextlib
import struct

import numpy as np
from PIL import Image

__all__ = [
    "EXIF_PREFIX",
    "ORIENTATION_TAG",
    "exif_orientation",
    "matching_icc",
    "orient",
    "pil_orientation",
    "reset_orientation",
]

ORIENTATION_TAG = 0x0112
# JPEG APP1 blocks (and Pillow's info["exif"]) start with this; a PNG eXIf chunk holds the TIFF data alone.
EXIF_PREFIX = b"Exif\x00\x00"


def pil_orientation(img: Image.Image) -> int:
    """The EXIF orientation of an open Pillow image (1 = upright); a malformed EXIF block counts as upright."""
    try:
        return int(img.getexif().get(ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - optional metadata must not make a readable image fail
        return 1


def exif_orientation(exif: bytes | None) -> int:
    """The orientation recorded in a raw EXIF block (1 = upright); missing or malformed counts as upright."""
    if not exif:
        return 1
    with contextlib.suppress(Exception):
        parsed = Image.Exif()
        parsed.load(exif)
        return int(parsed.get(ORIENTATION_TAG, 1))
    return 1


def orient(arr: np.ndarray, orientation: int) -> np.ndarray:
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


def reset_orientation(exif: bytes | None) -> bytes | None:
    """EXIF with orientation 1, for pixels that have already been turned upright.

    The one SHORT value is patched in place rather than re-serialising the whole block, because
    re-serialising moves data around and breaks maker notes that hold absolute offsets.
    """
    if not exif:
        return None
    start = len(EXIF_PREFIX) if exif.startswith(EXIF_PREFIX) else 0
    try:
        order = {b"II": "<", b"MM": ">"}[exif[start : start + 2]]
        (ifd,) = struct.unpack_from(order + "I", exif, start + 4)
        (count,) = struct.unpack_from(order + "H", exif, start + ifd)
        for i in range(count):
            entry = start + ifd + 2 + 12 * i
            tag, kind, n = struct.unpack_from(order + "HHI", exif, entry)
            if tag == ORIENTATION_TAG and kind == 3 and n == 1:
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
        if parsed.get(ORIENTATION_TAG, 1) == 1:
            return exif
        parsed[ORIENTATION_TAG] = 1
        return parsed.tobytes()
    except Exception:  # noqa: BLE001 - a malformed optional block must not fail the read
        return None


def matching_icc(icc: bytes | None, channels: int) -> bytes | None:
    """Keep an ICC profile only when its colour space is that of the pixels it will tag."""
    if not icc or len(icc) < 20:
        return None
    wanted = b"GRAY" if channels == 1 else b"RGB "
    return icc if icc[16:20] == wanted else None
