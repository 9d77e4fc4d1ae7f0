"""The one copy of each pixel conversion: peak values, luma, and bicubic at any depth (to_u8: tests/io/test_picture.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import smooth_image
from srgan.io.picture import to_u8
from srgan.ops.imresize import imresize_uint8
from srgan.ops.pixels import LUMA_WEIGHTS, luma, peak, resize, rgb_to_y


def test_luma_weights_are_bt601_and_match_pillow():
    assert LUMA_WEIGHTS == pytest.approx((0.299, 0.587, 0.114), abs=1e-12)
    img = smooth_image(32, 48)
    ours = np.clip(np.rint(luma(img)), 0, 255).astype(np.uint8)[..., 0]
    theirs = np.asarray(Image.fromarray(img).convert("L"))
    assert np.abs(ours.astype(int) - theirs).max() <= 1  # Pillow rounds in fixed point


def test_y_is_matlab_rgb2ycbcr():
    assert rgb_to_y(np.array([[[0, 0, 0]]]))[0, 0] == pytest.approx(16.0)
    assert rgb_to_y(np.array([[[255, 255, 255]]]))[0, 0] == pytest.approx(235.0)
    assert rgb_to_y(np.array([[[255, 0, 0]]]))[0, 0] == pytest.approx(16 + 65.481)
    gray = smooth_image(8, 8)[..., :1]
    np.testing.assert_allclose(rgb_to_y(gray), rgb_to_y(np.repeat(gray, 3, axis=2)))


def test_resize_is_matlab_uint8_and_tracks_it_at_16_bits():
    img = smooth_image(40, 56)
    np.testing.assert_array_equal(resize(img, scale=0.25), imresize_uint8(img, scale=0.25))
    wide = resize(img.astype(np.uint16) * 257, size=(10, 14))
    assert wide.dtype == np.uint16 and wide.shape == (10, 14, 3)
    # One rounding at 16 bits vs two at 8: within one 8-bit step of the MATLAB uint8 result.
    assert np.abs(to_u8(wide).astype(int) - imresize_uint8(img, size=(10, 14))).max() <= 1
    fast = resize(img, size=(160, 224), matlab_uint8=False)
    assert fast.dtype == np.uint8 and fast.shape == (160, 224, 3)
    assert peak(np.uint8) == 255 and peak(np.uint16) == 65535
