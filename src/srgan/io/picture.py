"""The one image data model, :class:`Picture`, and its conversions to and from arrays and Pillow images.

Photos arrive in many shapes (gray, palette, CMYK, 16-bit, with or without alpha, rotated by an EXIF tag).
A Picture is what all of them become: upright pixels, gray as one channel and colour as three, with the
alpha plane split off and the EXIF and ICC data needed to write a faithful result. Reading files is
:mod:`srgan.io.read`, writing them :mod:`srgan.io.write`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from srgan.errors import SrganError
from srgan.io.metadata import matching_icc, pil_orientation, reset_orientation

__all__ = ["Picture", "from_array", "from_pil", "to_array", "to_pil", "to_u8"]


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
# Arrays
# --------------------------------------------------------------------------------------------


def to_u8(arr: np.ndarray) -> np.ndarray:
    """uint8 unchanged; uint16 → uint8 rounded to nearest.

    Here rather than in :mod:`srgan.ops` because the readers and writers need it and io/ imports nothing
    from ops/; array code that wants 8 bits imports it from here.
    """
    if arr.dtype == np.uint8:
        return arr
    # 65535 = 255 · 257, so (v + 128) // 257 rounds v / 257 to the nearest integer (257 is odd: no ties)
    # and maps the full range onto 0..255.
    return ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)



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
# Pillow images
# --------------------------------------------------------------------------------------------


def from_pil(img: Image.Image) -> Picture:
    """Turn a Pillow image into an upright :class:`Picture` (see :func:`srgan.io.read.read_image` for modes).

    The EXIF orientation is applied and reset to 1 in ``exif``; ``mode`` records ``img.mode``.

    Raises:
        SrganError: for modes that have no faithful pixel representation here (F, wide I).
    """
    source_mode = img.mode
    raw_exif = img.info.get("exif")
    icc = img.info.get("icc_profile")
    fmt = img.format
    if pil_orientation(img) in range(2, 9):
        img = ImageOps.exif_transpose(img)
    pixels, alpha = _pil_to_planes(img)
    return Picture(
        pixels=pixels,
        alpha=alpha,
        mode=source_mode,
        exif=reset_orientation(raw_exif),
        icc_profile=matching_icc(icc, pixels.shape[2]),
        format=fmt,
    )


def _pil_to_planes(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Split a Pillow image into H×W×C pixels and an optional H×W alpha plane."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        gray = np.array(img).astype(np.uint16)
        return gray[..., None], colour_key_alpha(gray[..., None], img.info.get("transparency"))
    if mode == "I":
        wide = np.array(img)
        if wide.size and (wide.min() < 0 or wide.max() > 65535):
            raise SrganError("unsupported mode I: 32-bit integer pixels outside 0..65535")
        gray = wide.astype(np.uint16)
        return gray[..., None], colour_key_alpha(gray[..., None], img.info.get("transparency"))
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
    return arr, colour_key_alpha(arr, img.info.get("transparency"))


def colour_key_alpha(pixels: np.ndarray, key: object) -> np.ndarray | None:
    """Alpha from a PNG tRNS colour key: the one key colour is transparent, all else opaque."""
    if key is None or isinstance(key, bytes):
        return None
    key_arr = np.atleast_1d(np.asarray(key))
    if key_arr.shape != (pixels.shape[2],):
        return None
    opaque = np.iinfo(pixels.dtype).max
    return np.where((pixels != key_arr).any(axis=2), opaque, 0).astype(pixels.dtype)


def to_pil(pic: Picture) -> Image.Image:
    """Turn a :class:`Picture` into a Pillow image (L, LA, RGB, RGBA or I;16).

    16-bit gray without alpha becomes ``I;16``. Pillow has no 16-bit colour or gray+alpha modes,
    so 16-bit RGB, RGBA and LA pictures are reduced to 8 bits per channel (rounded); use
    :func:`srgan.io.write.write_image` with a .png name to keep 16 bits. The ICC profile and EXIF
    are attached to ``img.info`` so Pillow's ``save`` picks them up.
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
