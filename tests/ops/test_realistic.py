import math

import numpy as np
import pytest

from conftest import smooth_image
from srgan.errors import SrganError
from srgan.ops.imresize import imresize_uint8
from srgan.ops.metrics import blockiness, psnr
from srgan.ops.realistic import (
    Branch,
    PRESETS,
    BlurStage,
    RealDegradation,
    apply_preset,
    degrade_real,
    filter2d,
    gaussian_kernel,
    gaussian_noise,
    jpeg,
    jpeg_on_grid,
    plateau_kernel,
    poisson_noise,
    preset_rng,
    random_kernel,
    resize_float,
    sinc_kernel,
)


def _second_moments(k: np.ndarray) -> tuple[float, float]:
    r = np.arange(k.shape[0]) - (k.shape[0] - 1) / 2
    return float((k.sum(0) * r**2).sum()), float((k.sum(1) * r**2).sum())  # along x, along y


# ------------------------------------------------------------------------------------------------ kernels


def test_gaussian_kernel_has_the_asked_spread_and_orientation():
    iso = gaussian_kernel(21, 2.0)
    assert iso.sum() == pytest.approx(1, abs=1e-5) and np.allclose(iso, iso.T)
    vx, vy = _second_moments(iso)
    assert vx == pytest.approx(4.0, rel=0.02) and vy == pytest.approx(4.0, rel=0.02)
    wide_x = gaussian_kernel(21, 3.0, 1.0, theta=0.0)
    vx, vy = _second_moments(wide_x)
    assert vx == pytest.approx(9.0, rel=0.1) and vy == pytest.approx(1.0, rel=0.05)
    turned = gaussian_kernel(21, 3.0, 1.0, theta=math.pi / 2)  # the long axis now runs along y
    assert np.allclose(turned, wide_x.T, atol=1e-6)


def test_generalized_and_plateau_kernels_change_the_shape_not_the_mass():
    gauss, flat_top = gaussian_kernel(21, 2.0), gaussian_kernel(21, 2.0, beta=4.0)
    plateau = plateau_kernel(21, 2.0, beta=1.0)
    for k in (flat_top, plateau):
        assert k.sum() == pytest.approx(1, abs=1e-5) and (k >= 0).all()
    # β > 1 flattens the top and cuts the tails; the plateau kernel's tails are heavier than the Gaussian's.
    assert flat_top[10, 10] / flat_top[10, 11] < gauss[10, 10] / gauss[10, 11]
    assert plateau[10, 20] > gauss[10, 20] * 10


def test_sinc_kernel_is_a_low_pass_with_ringing():
    k = sinc_kernel(21, math.pi / 3)
    assert k.sum() == pytest.approx(1, abs=1e-5) and k.min() < 0  # negative lobes: what makes ringing
    response = np.abs(np.fft.fft2(k, s=(64, 64)))
    assert response[0, 0] == pytest.approx(1, abs=1e-4)
    assert response[0, 32] < 0.1  # Nyquist (π) is far above the π/3 cut-off


def test_random_kernels_are_seeded_and_sized_within_the_range():
    stage = BlurStage(kernel_size=[7, 11])
    a = [random_kernel(stage, np.random.default_rng(5)) for _ in range(2)]
    assert np.array_equal(a[0], a[1])
    sizes = {random_kernel(stage, np.random.default_rng(s)).shape[0] for s in range(40)}
    assert sizes <= {7, 9, 11} and len(sizes) > 1


def test_filter2d_convolves_and_keeps_flat_areas_flat():
    impulse = np.zeros((21, 21, 3), np.float32)
    impulse[10, 10] = 1
    k = gaussian_kernel(7, 1.0, 2.0, theta=0.3)
    out = filter2d(impulse, k)
    assert out.shape == impulse.shape and np.allclose(out[7:14, 7:14, 1], k[::-1, ::-1], atol=1e-6)
    flat = np.full((16, 16, 1), 0.4, np.float32)
    assert np.allclose(filter2d(flat, sinc_kernel(21, 1.0)), 0.4, atol=1e-5)  # kernel wider than the image


# --------------------------------------------------------------------------------------------- operations


@pytest.mark.parametrize("mode", ["area", "bilinear", "bicubic"])
def test_resize_float_sizes_and_keeps_a_constant(mode):
    img = np.full((40, 30, 3), 0.25, np.float32)
    out = resize_float(img, (13, 57), mode)
    assert out.shape == (13, 57, 3) and np.allclose(out, 0.25, atol=1e-5)


def test_gaussian_noise_has_its_sigma_and_gray_noise_is_shared_by_the_channels():
    img = np.full((200, 200, 3), 0.5, np.float32)
    colour = gaussian_noise(img, 0.05, gray=False, rng=np.random.default_rng(0)) - img
    gray = gaussian_noise(img, 0.05, gray=True, rng=np.random.default_rng(0)) - img
    assert colour.std() == pytest.approx(0.05, rel=0.03)
    assert np.array_equal(gray[..., 0], gray[..., 2]) and not np.array_equal(colour[..., 0], colour[..., 2])


def test_poisson_noise_grows_with_brightness():
    rng = np.random.default_rng(0)
    dark = poisson_noise(np.full((200, 200, 1), 0.05, np.float32), 1.0, False, rng) - 0.05
    bright = poisson_noise(np.full((200, 200, 1), 0.8, np.float32), 1.0, False, rng) - 0.8
    # Var(Poisson(256 v) / 256) = v / 256.
    assert dark.std() == pytest.approx(math.sqrt(0.05 / 256), rel=0.05)
    assert bright.std() == pytest.approx(math.sqrt(0.8 / 256), rel=0.05)
    assert abs(bright.mean()) < 0.002


def test_jpeg_loses_more_at_lower_quality_and_leaves_8px_blocks():
    img = smooth_image(64, 64).astype(np.float32) / 255
    q90, q20 = jpeg(img, 90), jpeg(img, 20)
    assert psnr(q90 * 255, img * 255) > psnr(q20 * 255, img * 255) + 1
    assert blockiness((q20 * 255).round(), period=8, scale=1) > blockiness((img * 255).round(), period=8, scale=1) + 0.2
    assert jpeg(img[..., :1], 50).shape == (64, 64, 1)


# --------------------------------------------------------------------------------------------- pipelines


def test_the_training_pipeline_is_seeded_and_gives_the_lr_size():
    hr = smooth_image(96, 96)
    cfg = RealDegradation()
    a = degrade_real(hr, 4, cfg, np.random.default_rng([3, 7]))
    b = degrade_real(hr, 4, cfg, np.random.default_rng([3, 7]))
    c = degrade_real(hr, 4, cfg, np.random.default_rng([3, 8]))
    assert a.shape == (24, 24, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    gray = degrade_real(hr[..., :1], 4, cfg, np.random.default_rng(0))
    assert gray.shape == (24, 24, 1)


def test_clean_prob_one_gives_the_benchmark_bicubic_and_the_pipeline_departs_from_it():
    hr = smooth_image(96, 96)
    clean = RealDegradation(clean_prob=1.0)
    assert np.array_equal(degrade_real(hr, 4, clean, np.random.default_rng(0)), imresize_uint8(hr, scale=0.25))
    bicubic = imresize_uint8(hr, scale=0.25).astype(float)
    gaps = [psnr(degrade_real(hr, 4, RealDegradation(), np.random.default_rng(s)).astype(float), bicubic) for s in range(8)]
    assert min(gaps) < 35  # blur, noise and JPEG visibly change the input


def test_final_jpeg_last_puts_the_blocks_on_the_lr_grid():
    hr = smooth_image(256, 256)
    # only the final stage: no first or second order, no sinc, JPEG 30
    quiet = {"blur": {"prob": 0.0}, "resize_prob": [0.0, 0.0, 1.0], "noise": {"sigma": [0.0, 0.0], "gaussian_prob": 1.0},
             "jpeg_quality": [95, 95]}
    base = {"first": quiet, "second_order_prob": 0.0, "final_sinc_prob": 0.0, "final_jpeg_quality": [30, 30]}
    last = RealDegradation.from_dict({**base, "final_jpeg_last_prob": 1.0})
    first = RealDegradation.from_dict({**base, "final_jpeg_last_prob": 0.0})
    on_grid = [blockiness(degrade_real(hr, 4, last, np.random.default_rng(s)), period=8, scale=1) for s in range(3)]
    off_grid = [blockiness(degrade_real(hr, 4, first, np.random.default_rng(s)), period=8, scale=1) for s in range(3)]
    # JPEG then ×¼ leaves its blocks 2 LR pixels wide and smoothed; ×¼ then JPEG leaves them at 8 LR pixels
    assert min(on_grid) > max(off_grid) + 0.2
    with pytest.raises(SrganError, match="final_jpeg_last_prob"):
        RealDegradation.from_dict({"final_jpeg_last_prob": 1.5}).check()


def test_config_from_nested_mappings_merges_and_refuses_mistakes():
    cfg = RealDegradation.from_dict({"clean_prob": 0.1, "second": {"blur": {"prob": 0.5}}, "first": {"jpeg_quality": [40, 90]}})
    cfg.check()
    assert cfg.second.blur.prob == 0.5 and cfg.second.blur.sigma == [0.2, 1.5]  # the second order's own default kept
    assert cfg.first.jpeg_quality == [40, 90] and cfg.clean_prob == 0.1
    bad = [
        ({"clean_prob": 2}, "clean_prob"),
        ({"first": {"blurr": {}}}, "first.blurr"),
        ({"first": {"jpeg_quality": [90, 30]}}, "first.jpeg_quality"),
        ({"first": {"blur": {"kernel_size": [8, 21]}}}, "kernel_size"),
        ({"first": {"resize_prob": [0.5, 0.6, 0.1]}}, "resize_prob"),
        ({"second": {"noise": {"sigma": "a"}}}, "second.noise.sigma"),
    ]
    for raw, key in bad:
        with pytest.raises(SrganError, match=key.replace(".", r"\.")):
            RealDegradation.from_dict(raw).check()


def test_presets_are_seeded_per_image_and_bicubic_is_the_identity():
    lr = smooth_image(48, 40)
    assert np.array_equal(apply_preset(lr, "bicubic", preset_rng("a.png")), lr)
    for name in ("jpeg50", "jpeg75", "blur-noise-jpeg70"):
        a, b = apply_preset(lr, name, preset_rng("a.png")), apply_preset(lr, name, preset_rng("a.png"))
        assert np.array_equal(a, b) and a.shape == lr.shape and not np.array_equal(a, lr)
    n1 = apply_preset(lr, "blur-noise-jpeg70", preset_rng("a.png"))
    n2 = apply_preset(lr, "blur-noise-jpeg70", preset_rng("b.png"))
    assert not np.array_equal(n1, n2)
    assert psnr(apply_preset(lr, "jpeg75", preset_rng("a")), lr) > psnr(apply_preset(lr, "jpeg50", preset_rng("a")), lr)
    assert set(PRESETS) == {"bicubic", "jpeg50", "jpeg75", "blur-noise-jpeg70"}
    with pytest.raises(SrganError, match="unknown degradation"):
        apply_preset(lr, "jpeg10", preset_rng("a"))


def test_jpeg_only_gives_the_bicubic_lr_saved_as_jpeg_and_leaves_other_runs_unchanged():
    hr = smooth_image(96, 96)
    bicubic = imresize_uint8(hr, scale=0.25)
    only = RealDegradation(jpeg_only_prob=1.0, final_jpeg_quality=[40, 40])
    out = degrade_real(hr, 4, only, np.random.default_rng(0))
    assert np.array_equal(out, jpeg_of(bicubic, 40))
    # a run that does not ask for the branch draws nothing for it, so its random stream (and its resumes) stay
    # as they were: with every gate drawn as 0.99 the control flow is fixed, and only the branch's gate differs
    assert gates_drawn(hr, jpeg_only_prob=0.5) == gates_drawn(hr, jpeg_only_prob=0.0) + 1
    picks = [np.array_equal(degrade_real(hr, 4, RealDegradation(jpeg_only_prob=0.5, final_jpeg_quality=[95, 95]),
                                         np.random.default_rng(s)), jpeg_of(bicubic, 95)) for s in range(40)]
    assert 8 <= sum(picks) <= 32  # about half the crops
    with pytest.raises(SrganError, match="jpeg_only_prob"):
        RealDegradation.from_dict({"jpeg_only_prob": -0.1}).check()


def test_lr_blur_blurs_and_adds_noise_at_lr_size_then_saves_a_jpeg_and_leaves_other_runs_unchanged():
    from srgan.ops.realistic import degrade_real_blocks

    hr = smooth_image(128, 128)
    bicubic = imresize_uint8(hr, scale=0.25)
    # one fixed Gaussian, no noise: exactly the bicubic LR blurred at its own size, then a JPEG on the LR's grid
    fixed = RealDegradation.from_dict({
        "lr_blur_prob": 1.0, "final_jpeg_quality": [95, 95],
        "lr_blur": {"kernel_prob": [1, 0, 0, 0, 0, 0], "kernel_size": [7, 7], "sigma": [1.0, 1.0]},
        "lr_noise": {"gaussian_prob": 1.0, "sigma": [0.0, 0.0]}})
    fixed.check()
    out, on_grid, branch = degrade_real_blocks(hr, 4, fixed, np.random.default_rng(0))
    blurred = filter2d(bicubic.astype(np.float32) / 255.0, gaussian_kernel(7, 1.0))
    assert on_grid and out.shape == bicubic.shape and branch is Branch.LR_BLUR
    assert np.array_equal(out, jpeg_of(np.clip(np.rint(blurred * 255), 0, 255).astype(np.uint8), 95))
    assert np.abs(np.diff(out.astype(float), 2, axis=1)).mean() < 0.5 * np.abs(np.diff(bicubic.astype(float), 2, axis=1)).mean()
    # the noise is drawn at LR size: with σ 0.05 and no blur the LR departs from the bicubic by about that much
    noisy = RealDegradation.from_dict({"lr_blur_prob": 1.0, "final_jpeg_quality": [95, 95], "lr_blur": {"prob": 0.0},
                                       "lr_noise": {"gaussian_prob": 1.0, "gray_prob": 0.0, "sigma": [0.05, 0.05]}})
    diff = degrade_real(hr, 4, noisy, np.random.default_rng(1)).astype(float) - bicubic
    assert 0.035 * 255 < diff.std() < 0.06 * 255
    # a run that does not ask for the branch draws nothing for it (its random stream and resumes stay as they were)
    assert gates_drawn(hr, lr_blur_prob=0.5) == gates_drawn(hr, lr_blur_prob=0.0) + 1
    with pytest.raises(SrganError, match="lr_blur_prob"):
        RealDegradation.from_dict({"lr_blur_prob": 1.5}).check()
    with pytest.raises(SrganError, match="degradation.lr_blur.sigma"):
        RealDegradation.from_dict({"lr_blur": {"sigma": [2.0, 1.0]}}).check()
    with pytest.raises(SrganError, match="degradation.lr_noise.sigma"):
        RealDegradation.from_dict({"lr_noise": {"sigma": [0.0, 2.0]}}).check()
    with pytest.raises(SrganError, match="unknown config key degradation.lr_blur.size"):
        RealDegradation.from_dict({"lr_blur": {"size": 3}})


def jpeg_of(u8: np.ndarray, quality: int) -> np.ndarray:
    return np.clip(np.rint(jpeg(u8.astype(np.float32) / 255.0, quality) * 255.0), 0, 255).astype(np.uint8)


class GateCounter:
    """A generator whose scalar ``random()`` (every probability gate of the pipeline) is always 0.99 and counted;
    everything else is the wrapped generator's."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng, self.gates = rng, 0

    def random(self) -> float:
        self.gates += 1
        return 0.99

    def __getattr__(self, name):
        return getattr(self.rng, name)


def gates_drawn(hr: np.ndarray, **degradation) -> int:
    """How many probability gates degrade_real draws for ``hr`` under RealDegradation(**degradation)."""
    rng = GateCounter(np.random.default_rng(0))
    degrade_real(hr, 4, RealDegradation(**degradation), rng)
    return rng.gates


def column_steps(img: np.ndarray) -> np.ndarray:
    """Mean |step| between each column and the one before it, by the column's position mod 8 (index 0: columns 8k)."""
    d = np.abs(np.diff(img.astype(float), axis=1)).mean(axis=(0, 2))  # d[j]: the step into column j + 1
    return np.array([d[(m - 1) % 8::8].mean() for m in range(8)])


def test_jpeg_on_grid_puts_the_block_borders_where_asked():
    img = smooth_image(64, 64).astype(np.float32) / 255.0
    assert np.array_equal(jpeg_on_grid(img, 20, (0, 0)), jpeg(img, 20))
    for col in (3, 5):
        out = jpeg_on_grid(img, 20, (2, col))
        assert out.shape == img.shape
        steps = column_steps(out)
        assert steps.argmax() == col  # a JPEG-20 block border is the largest step in a smooth image
        rows = column_steps(out.transpose(1, 0, 2))
        assert rows.argmax() == 2


def test_random_jpeg_grid_is_a_flag_and_moves_the_blocks_of_the_final_jpeg():
    hr = smooth_image(128, 128)
    only = RealDegradation.from_dict({"jpeg_only_prob": 1.0, "final_jpeg_quality": [20, 20], "random_jpeg_grid": True})
    assert only.random_jpeg_grid is True
    moved = degrade_real(hr, 4, only, np.random.default_rng(0), grid=(0, 6))
    assert column_steps(moved).argmax() == 6
    assert np.array_equal(degrade_real(hr, 4, only, np.random.default_rng(0)), jpeg_of(imresize_uint8(hr, scale=0.25), 20))
    with pytest.raises(SrganError, match="random_jpeg_grid must be true or false"):
        RealDegradation.from_dict({"random_jpeg_grid": 1})


def test_each_lr_names_the_branch_that_made_it_and_only_the_first_two_are_plain():
    from srgan.ops.realistic import PLAIN_BRANCHES, degrade_real_blocks

    hr = smooth_image(64, 64)
    only = {Branch.CLEAN: {"clean_prob": 1.0}, Branch.JPEG_ONLY: {"jpeg_only_prob": 1.0},
            Branch.LR_BLUR: {"lr_blur_prob": 1.0}, Branch.FULL: {}}
    for branch, settings in only.items():
        cfg = RealDegradation.from_dict(settings)
        cfg.check()
        assert degrade_real_blocks(hr, 4, cfg, np.random.default_rng(3)).branch is branch
    assert PLAIN_BRANCHES == (Branch.CLEAN, Branch.JPEG_ONLY)
    # mixed: about the shares the probabilities give (clean 0.5; then JPEG-only 0.5 of the rest; then LR blur 0.5)
    mixed = RealDegradation.from_dict({"clean_prob": 0.5, "jpeg_only_prob": 0.5, "lr_blur_prob": 0.5})
    counts = np.bincount([degrade_real_blocks(hr, 4, mixed, np.random.default_rng(s)).branch for s in range(200)],
                         minlength=4)
    assert 70 <= counts[0] <= 130 and 30 <= counts[1] <= 70 and 10 <= counts[2] <= 40 and 10 <= counts[3] <= 40
