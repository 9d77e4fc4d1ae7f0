"""Tiny generated images and EXIF/ICC blocks shared by the srgan.io tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

RNG = np.random.default_rng(1234)
ORIENTATION = 0x0112


def rgb(h: int = 6, w: int = 9) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def rgb16(h: int = 6, w: int = 9, channels: int = 3) -> np.ndarray:
    return RNG.integers(0, 65536, (h, w, channels), dtype=np.uint16)


def save(img: Image.Image, path: Path, **options: object) -> Path:
    img.save(path, **options)
    return path


def exif(orientation: int, make: str = "TestCam") -> bytes:
    block = Image.Exif()
    block[ORIENTATION] = orientation
    block[0x010F] = make
    return block.tobytes()


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def orientation_of(exif_block: bytes | None) -> int | None:
    parsed = Image.Exif()
    if exif_block:
        parsed.load(exif_block)
    return parsed.get(ORIENTATION)
