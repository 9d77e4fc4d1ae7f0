"""srgan.ops.noise_level.estimate_sigma: the σ of clipped Gaussian noise, read back from the noisy image alone."""

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from conftest import shared_or_skip
from srgan.errors import SrganError
from srgan.ops.degrade import add_gaussian_noise
from srgan.ops.noise_level import estimate_sigma

SIGMAS = (0.05, 0.1, 0.2, 0.3, 0.5)


def textured(h: int, w: int, channels: int = 3, seed: int = 0, gain: float = 1.0) -> np.ndarray:
    """A uint8 image that is hard on a noise estimator: fine correlated grain (the same in every channel, as
    texture is), stripes two pixels wide, sharp edges, and a pure black and a pure white area where the noise
    is clipped. ``gain`` < 1 darkens it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([0.5 + 0.3 * np.sin(5 * x + 1), 0.5 + 0.3 * np.cos(4 * y), 0.5 + 0.25 * np.sin(3 * (x + y))], -1)
    grain = gaussian_filter(rng.standard_normal((h, w)), 1.2)
    grain *= 0.08 / grain.std()
    stripes = 0.06 * np.sin(2 * np.pi * np.arange(w) / 7.0)[None, :] * (y < 0.5)
    img = base[:, :, :channels] + (grain + stripes)[:, :, None] * np.array([1.0, 0.9, 0.7])[:channels]
    img = img * gain
    img[h // 8: h // 3, w // 8: w // 3] = 0.0
    img[h // 2: 3 * h // 4, w // 2: 7 * w // 8] = 1.0
    return np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)


def noisy(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    return add_gaussian_noise(img, sigma, np.random.default_rng([seed, round(sigma * 10000)]))


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("sigma", SIGMAS)
def test_sigma_is_read_back_within_10_percent(channels, sigma):
    est = estimate_sigma(noisy(textured(160, 192, channels), sigma))
    assert abs(est / sigma - 1) < 0.1, est


@pytest.mark.parametrize("sigma", [0.2, 0.3, 0.5])
def test_a_dark_image_where_clipping_takes_much_of_the_noise(sigma):
    img = textured(160, 192, gain=0.25)
    assert img.mean() < 60  # a fifth of it is the white area
    raw = (noisy(img, sigma).astype(float) - img).std() / 255
    assert raw < 0.8 * sigma  # what the clipping left: even the true noise image reads 20 % low
    assert abs(estimate_sigma(noisy(img, sigma)) / sigma - 1) < 0.1


@pytest.mark.parametrize("channels", [3, 1])
def test_a_clean_image_reads_as_almost_no_noise(channels):
    assert estimate_sigma(textured(160, 192, channels)) < 0.01
    assert estimate_sigma(np.full((40, 50, channels), 77, np.uint8)) == 0.0


def test_gray_in_any_layout_and_colour_agree_on_sigma():
    gray = noisy(textured(120, 150, 1), 0.2)
    est = estimate_sigma(gray)
    assert estimate_sigma(gray[:, :, 0]) == est  # H×W is H×W×1
    assert estimate_sigma(np.repeat(gray, 3, axis=2)) == est  # gray saved as RGB: one noise, not three
    with_alpha = np.concatenate([gray, np.full_like(gray, 255)], axis=2)
    assert estimate_sigma(with_alpha) == est  # an alpha channel is ignored


def test_uint16_and_float_input_are_on_the_same_scale():
    img8 = noisy(textured(120, 150), 0.1)
    est = estimate_sigma(img8)
    assert estimate_sigma(img8.astype(np.uint16) * 257) == pytest.approx(est, rel=1e-6)
    assert estimate_sigma(img8 / 255.0) == pytest.approx(est, rel=1e-6)
    assert estimate_sigma((img8 / 255.0).astype(np.float32)) == pytest.approx(est, rel=1e-4)
    deep = add_gaussian_noise(textured(120, 150).astype(np.uint16) * 257, 0.1, np.random.default_rng(1))
    assert abs(estimate_sigma(deep) / 0.1 - 1) < 0.1


def test_float_noise_that_was_not_clipped_is_taken_as_it_is():
    img = textured(120, 150, gain=0.5) / 255.0
    raw = img + 0.2 * np.random.default_rng(0).standard_normal(img.shape)
    assert raw.min() < 0  # unclipped: no clipping correction is applied
    assert abs(estimate_sigma(raw) / 0.2 - 1) < 0.1
    assert estimate_sigma(raw, clipped=False) == estimate_sigma(raw)


def test_bad_input_is_refused():
    with pytest.raises(SrganError, match="uint8, uint16 or float"):
        estimate_sigma(np.zeros((32, 32, 3), np.int32))
    with pytest.raises(SrganError, match="smaller than"):
        estimate_sigma(np.zeros((2, 40, 3), np.uint8))
    with pytest.raises(SrganError, match="H×W×C"):
        estimate_sigma(np.zeros((32, 32, 5), np.uint8))
    nan = np.zeros((32, 32), np.float32)
    nan[3, 4] = np.nan
    with pytest.raises(SrganError, match="NaN"):
        estimate_sigma(nan)


def test_first_ten_bsd100_images_at_every_sigma():
    """The issue-20 bar on a tenth of BSD100 (tools/noise_level_check.py runs all 100, with the same noise)."""
    folder = shared_or_skip("data", "benchmark", "BSD100", "HR")
    files = sorted(folder.glob("*.png"))[:10]
    misses = []
    for i, path in enumerate(files):
        img = np.asarray(Image.open(path).convert("RGB"))
        for sigma in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5):
            noisy_img = add_gaussian_noise(img, sigma, np.random.default_rng([0, i, round(sigma * 10000)]))
            est = estimate_sigma(noisy_img)
            if abs(est / sigma - 1) >= 0.1:
                misses.append(f"{path.name} σ {sigma}: {est:.4f}")
    assert len(files) == 10 and misses == []
