"""Tests for srgan.io.picture: the Picture model and its array and Pillow conversions."""

from __future__ import annotations

import numpy as np
import pytest

from io_samples import RNG
from srgan.errors import SrganError
from srgan.io.picture import Picture, from_array, from_pil, to_array, to_pil


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (5, 7, 2), (5, 7, 3), (5, 7, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_array_round_trip_keeps_shape(shape: tuple[int, ...], dtype: type) -> None:
    arr = RNG.integers(0, np.iinfo(dtype).max, shape).astype(dtype)
    pic = from_array(arr)
    assert pic.has_alpha == (len(shape) == 3 and shape[2] in (2, 4))
    back = to_array(pic)
    assert back.shape == arr.shape and back.dtype == arr.dtype
    np.testing.assert_array_equal(back, arr)


def test_from_array_refuses_bad_input() -> None:
    with pytest.raises(SrganError, match="uint8 or uint16"):
        from_array(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(SrganError, match="shape"):
        from_array(np.zeros((4, 4, 5), np.uint8))


@pytest.mark.parametrize(
    ("arr", "mode"),
    [
        (np.zeros((3, 4), np.uint8), "L"),
        (np.zeros((3, 4, 2), np.uint8), "LA"),
        (np.zeros((3, 4, 3), np.uint8), "RGB"),
        (np.zeros((3, 4, 4), np.uint8), "RGBA"),
        (np.zeros((3, 4), np.uint16), "I;16"),
        (np.zeros((3, 4, 4), np.uint16), "RGBA"),
    ],
)
def test_to_pil_and_back(arr: np.ndarray, mode: str) -> None:
    img = to_pil(from_array(arr))
    assert img.mode == mode and img.size == (4, 3)
    assert from_pil(img).pixels.shape[:2] == (3, 4)


def test_picture_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="alpha"):
        Picture(pixels=np.zeros((2, 2, 3), np.uint8), alpha=np.zeros((2, 2), np.uint16))
