"""srgan.ops.degrade on arrays; the `srgan degrade` command's files are tested in tests/infer/test_batch.py."""

import numpy as np

from conftest import smooth_image
from srgan.ops.degrade import add_gaussian_noise, degrade_array
from srgan.ops.imresize import imresize_uint8


def test_downscale_is_matlab_bicubic_in_uint8_mode():
    hr = smooth_image(64, 80)
    lr = degrade_array(hr, scale=4)
    assert lr.shape == (16, 20, 3) and np.array_equal(lr, imresize_uint8(hr, scale=0.25))


def test_noise_is_added_after_the_downscale_and_follows_the_generator():
    hr = smooth_image(64, 64)
    a = degrade_array(hr, 4, 0.1, np.random.default_rng(0)).astype(float)
    b = degrade_array(hr, 4, 0.1, np.random.default_rng(0)).astype(float)
    c = degrade_array(hr, 4, 0.1, np.random.default_rng(1)).astype(float)
    assert a.shape == (16, 16, 3) and np.array_equal(a, b) and not np.array_equal(a, c)
    clean = imresize_uint8(hr, scale=0.25).astype(float)
    assert 0.07 * 255 < (a - clean).std() < 0.13 * 255


def test_scale_one_only_adds_noise_and_16_bits_stay_16_bits():
    hr = smooth_image(30, 40)
    noisy = degrade_array(hr, 1, 0.2, np.random.default_rng(0))
    assert noisy.shape == hr.shape and noisy.dtype == np.uint8 and not np.array_equal(noisy, hr)
    assert degrade_array(hr, 1) is hr
    wide = degrade_array(hr.astype(np.uint16) * 257, 2, 0.05, np.random.default_rng(0))
    assert wide.dtype == np.uint16 and wide.shape == (15, 20, 3)


def test_gaussian_noise_is_clipped_to_the_range():
    rng = np.random.default_rng(0)
    black, white = np.zeros((32, 32, 1), np.uint8), np.full((32, 32, 1), 65535, np.uint16)
    dark = add_gaussian_noise(black, 0.5, rng)
    bright = add_gaussian_noise(white, 0.5, rng)
    assert dark.dtype == np.uint8 and dark.min() == 0 and 0.3 < (dark == 0).mean() < 0.7
    assert bright.dtype == np.uint16 and bright.max() == 65535 and 0.3 < (bright == 65535).mean() < 0.7
