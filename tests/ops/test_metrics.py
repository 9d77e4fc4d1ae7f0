"""The SR evaluation protocol: PSNR/SSIM against scikit-image, luma, texture ratio, and the bicubic baseline."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from srgan.errors import SrganError
from srgan.ops.imresize import imresize_uint8
from srgan.ops.metrics import block_profile, flat_noise, hf_ratio, step_profile, psnr, psnr_rgb, psnr_y, rgb_to_y, ssim, ssim_rgb, ssim_y

skmetrics = pytest.importorskip("skimage.metrics")

BENCHMARK = Path(__file__).resolve().parents[3] / "shared" / "data" / "benchmark"


def _random_pair(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, size=shape).astype(np.uint8)
    b = np.clip(a.astype(np.int16) + rng.integers(-40, 41, size=shape), 0, 255).astype(np.uint8)
    return a, b


def _smooth_pair(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sigma = (4.0, 4.0, 0.0)[: len(shape)]
    a = ndimage.gaussian_filter(rng.uniform(0, 255, size=shape), sigma)
    a = np.clip((a - a.min()) / (a.max() - a.min()) * 255, 0, 255)
    b = np.clip(a + 4 * ndimage.gaussian_filter(rng.normal(0, 20, size=shape), sigma), 0, 255)
    return a, b


def _sk_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return skmetrics.structural_similarity(
        a.astype(np.float64),
        b.astype(np.float64),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
        channel_axis=2 if a.ndim == 3 else None,
    )


@pytest.mark.parametrize("make", [_random_pair, _smooth_pair])
@pytest.mark.parametrize("shape", [(37, 45), (40, 33, 3)])
def test_ssim_matches_skimage(make, shape: tuple[int, ...]) -> None:  # type: ignore[no-untyped-def]
    a, b = make(shape, seed=len(shape))
    assert ssim(a, b) == pytest.approx(_sk_ssim(a, b), abs=1e-4)
    assert ssim(a, b, border=3) == pytest.approx(_sk_ssim(a[3:-3, 3:-3], b[3:-3, 3:-3]), abs=1e-4)


@pytest.mark.parametrize("shape", [(37, 45), (40, 33, 3)])
def test_psnr_matches_hand_computation_and_skimage(shape: tuple[int, ...]) -> None:
    a, b = _random_pair(shape, seed=7)
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255.0**2 / mse), abs=1e-10)
    assert psnr(a, b) == pytest.approx(skmetrics.peak_signal_noise_ratio(a, b, data_range=255), abs=1e-10)
    inner = (slice(2, -2), slice(2, -2))
    assert psnr(a, b, border=2) == pytest.approx(
        skmetrics.peak_signal_noise_ratio(a[inner], b[inner], data_range=255), abs=1e-10
    )
    # A uniform error of 1 on a peak of 255: 20*log10(255) dB.
    assert psnr(np.zeros((8, 8)), np.ones((8, 8))) == pytest.approx(20 * math.log10(255.0), abs=1e-12)


def test_identical_images() -> None:
    img, _ = _random_pair((24, 20, 3), seed=3)
    assert psnr(img, img) == math.inf
    assert psnr_y(img, img, 4) == math.inf and psnr_rgb(img, img, 4) == math.inf
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    assert ssim_y(img, img, 4) == pytest.approx(1.0, abs=1e-12)
    assert ssim_rgb(img, img, 4) == pytest.approx(1.0, abs=1e-12)


def test_rgb_to_y() -> None:
    white = np.full((2, 3, 3), 255, dtype=np.uint8)
    black = np.zeros((2, 3, 3), dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y(white), 235.0, atol=1e-12)
    np.testing.assert_allclose(rgb_to_y(black), 16.0, atol=1e-12)
    assert rgb_to_y(white).dtype == np.float64
    # Gray is R = G = B.
    rgb, _ = _random_pair((5, 6, 3), seed=4)
    gray = rgb[..., 0]
    np.testing.assert_allclose(rgb_to_y(gray), rgb_to_y(np.repeat(gray[..., None], 3, axis=2)), atol=1e-12)
    pure_red = np.zeros((1, 1, 3))
    pure_red[..., 0] = 255
    assert rgb_to_y(pure_red)[0, 0] == pytest.approx(16 + 65.481, abs=1e-12)


def test_gray_images_work_everywhere() -> None:
    a, b = _random_pair((30, 28), seed=5)
    a3, b3 = np.repeat(a[..., None], 3, axis=2), np.repeat(b[..., None], 3, axis=2)
    assert psnr_rgb(a, b, 2) == pytest.approx(psnr_rgb(a3, b3, 2), abs=1e-12)
    assert ssim_rgb(a, b, 2) == pytest.approx(ssim_rgb(a3, b3, 2), abs=1e-12)
    assert psnr_y(a, b, 2) == pytest.approx(psnr_y(a3, b3, 2), abs=1e-12)
    assert ssim_y(a, b, 2) == pytest.approx(ssim_y(a3, b3, 2), abs=1e-12)


def test_y_metrics_are_on_unrounded_luma() -> None:
    a, b = _smooth_pair((40, 36, 3), seed=6)
    ya, yb = rgb_to_y(a)[4:-4, 4:-4], rgb_to_y(b)[4:-4, 4:-4]
    assert psnr_y(a, b, 4) == pytest.approx(psnr(ya, yb), abs=1e-12)
    assert ssim_y(a, b, 4) == pytest.approx(_sk_ssim(ya, yb), abs=1e-4)


def test_hf_ratio() -> None:
    img, _ = _random_pair((48, 40, 3), seed=8)
    assert hf_ratio(img, img) == pytest.approx(1.0, abs=1e-12)
    blurred = ndimage.gaussian_filter(img.astype(np.float64), sigma=(1.0, 1.0, 0.0))
    assert hf_ratio(blurred, img) < 0.5
    assert hf_ratio(img, blurred) > 2.0
    flat = np.full((20, 20), 100.0)
    assert hf_ratio(flat, flat) == 1.0


def test_flat_noise_sees_texture_drawn_where_the_photo_is_flat_and_not_where_it_has_texture() -> None:
    # left half: a smooth ramp (flat to the metric); right half: strong texture
    rng = np.random.default_rng(4)
    hr = np.tile(np.linspace(60, 180, 64), (64, 1))
    hr[:, 32:] += ndimage.gaussian_filter(rng.normal(0, 40, (64, 32)), 0.7)
    speckle = np.zeros_like(hr)
    speckle[:, :32] = rng.normal(0, 6, (64, 32))
    busier = np.zeros_like(hr)
    busier[:, 32:] = rng.normal(0, 6, (64, 32))
    base = flat_noise(hr, hr)
    assert base < 0.5  # the ramp has (almost) no high-pass energy
    assert flat_noise(hr + speckle, hr) > base + 3  # speckle on the flat half: seen, about its high-pass RMS
    assert flat_noise(hr + busier, hr) < base + 0.5  # the same noise inside the texture: not its business
    # a blurry output is under HR's own level, which is why it is read beside NIQE
    textured = hr + ndimage.gaussian_filter(rng.normal(0, 8, hr.shape), 0.7)
    assert flat_noise(ndimage.gaussian_filter(textured, 2), textured) < flat_noise(textured, textured)


def test_block_profile_sees_steps_moved_into_the_jpeg_blocks_and_not_texture_or_sharpness() -> None:
    rng = np.random.default_rng(5)
    hr = 128 + ndimage.gaussian_filter(rng.normal(0, 30, (128, 128)), 1.5)  # texture with no place in the blocks
    assert block_profile(hr, hr) == 0
    # a step across every block border (LR px 8k, HR px 32k): the last entry of the profile, the tiles
    tiles = np.zeros_like(hr)
    for c in range(32, 128, 32):
        tiles[:, c:] += 6.0
        tiles[c:, :] += 6.0
    prof = step_profile(hr + tiles) / step_profile(hr + tiles).mean()
    assert prof.argmax() == 7
    # the same steps one LR px into the block: entry 0; blockiness-style border reading would now be low
    moved = np.roll(tiles, (4, 4), (0, 1))
    moved[:4, :] = moved[4:5, :]
    moved[:, :4] = moved[:, 4:5]
    prof = step_profile(hr + moved) / step_profile(hr + moved).mean()
    assert prof.argmax() == 0 and prof[7] < prof[0]
    assert block_profile(hr + moved, hr) > 0.05 and block_profile(hr + tiles, hr) > 0.05
    # noise anywhere and a sharper or softer output with the same spread: much less
    assert block_profile(hr + rng.normal(0, 3, hr.shape), hr) < 0.3 * block_profile(hr + moved, hr)
    assert block_profile(128 + (hr - 128) * 2, hr) == pytest.approx(0, abs=1e-9)
    # grey, RGB alike (luma); a flat pair is 0
    assert block_profile(np.repeat((hr + moved)[..., None], 3, 2), np.repeat(hr[..., None], 3, 2)) == pytest.approx(
        block_profile(hr + moved, hr))
    assert block_profile(np.full((64, 64), 9.0), np.full((64, 64), 9.0)) == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: psnr(np.zeros((8, 8)), np.zeros((8, 9))), r"\(8, 8\) vs \(8, 9\)"),
        (lambda: block_profile(np.zeros((64, 64)), np.zeros((64, 60))), r"\(64, 64\) vs \(64, 60\)"),
        (lambda: step_profile(np.zeros((40, 80))), "too small for two 8-cell blocks"),
        (lambda: ssim_y(np.zeros((16, 16, 3)), np.zeros((16, 16)), 0), r"\(16, 16, 3\) vs \(16, 16\)"),
        (lambda: psnr(np.zeros((8, 8, 4)), np.zeros((8, 8, 4))), "H x W"),
        (lambda: psnr(np.zeros((8, 8)), np.zeros((8, 8)), border=4), "border"),
        (lambda: ssim(np.zeros((8, 8)), np.zeros((8, 8))), "window"),
        (lambda: hf_ratio(np.zeros((8, 8)), np.zeros((8, 8)), border=-1), "border"),
        (lambda: flat_noise(np.zeros((8, 8)), np.zeros((8, 9))), r"\(8, 8\) vs \(8, 9\)"),
    ],
)
def test_bad_input_raises_srgan_error(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SrganError, match=message):
        call()


# Bicubic x4 baselines for these exact files (PSNR-Y dB, SSIM-Y, border 4) that the protocol must reproduce.
BICUBIC_X4 = {"Set5": (28.43, 0.811), "Set14": (26.09, 0.705), "BSD100": (25.96, 0.668)}


@pytest.mark.skipif(not BENCHMARK.is_dir(), reason="benchmark images (../shared) not present")
@pytest.mark.parametrize("name", list(BICUBIC_X4))
def test_bicubic_baseline_reproduces_published_numbers(name: str) -> None:
    """Upsampling the shipped LR x4 with our imresize and scoring it gives the reference bicubic numbers.

    With float Y the means land on 28.430 / 26.091 / 25.962 dB and 0.8111 / 0.7048 / 0.6681; rounding
    Y to integers first (as some MATLAB scripts do) costs about 0.01 dB and 0.001 SSIM, so we keep Y
    unrounded.
    """
    psnrs, ssims = [], []
    for hr_path in sorted((BENCHMARK / name / "HR").glob("*.png")):
        hr = np.asarray(Image.open(hr_path))
        lr = np.asarray(Image.open(BENCHMARK / name / "LR_bicubic" / "X4" / hr_path.name))
        sr = imresize_uint8(lr, scale=4)
        psnrs.append(psnr_y(sr, hr, 4))
        ssims.append(ssim_y(sr, hr, 4))
    expected_psnr, expected_ssim = BICUBIC_X4[name]
    print(f"{name}: bicubic x4 PSNR-Y {np.mean(psnrs):.3f} dB, SSIM-Y {np.mean(ssims):.4f}")
    assert np.mean(psnrs) == pytest.approx(expected_psnr, abs=0.05)
    assert np.mean(ssims) == pytest.approx(expected_ssim, abs=0.003)
