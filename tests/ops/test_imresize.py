"""MATLAB-compatible bicubic imresize: exactness against the shipped benchmark LR images, and properties."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srgan.errors import SrganError
from srgan.ops.imresize import imresize, imresize_uint8

BENCHMARK = Path(__file__).resolve().parents[3] / "shared" / "data" / "benchmark"
SETS = ("Set5", "Set14", "BSD100")

needs_benchmark = pytest.mark.skipif(not BENCHMARK.is_dir(), reason="benchmark images (../shared) not present")


def _load(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def _smooth_uint8(h: int, w: int, c: int, seed: int, low: int = 0, high: int = 255) -> np.ndarray:
    """A deterministic image with both smooth structure and fine detail, values within [low, high]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.sin(xx / 7.0)[..., None] * np.cos(yy / 5.0)[..., None] * np.linspace(0.5, 1.0, c)
    img = 0.5 + 0.35 * base + 0.15 * rng.uniform(-1.0, 1.0, size=(h, w, c))
    return np.round(low + (high - low) * np.clip(img, 0.0, 1.0)).astype(np.uint8)


@needs_benchmark
@pytest.mark.parametrize("name", SETS)
def test_downscale_matches_shipped_lr(name: str) -> None:
    """All of each set, BSD100 included (the whole run takes about a second)."""
    equal = total = 0
    for hr_path in sorted((BENCHMARK / name / "HR").glob("*.png")):
        hr = _load(hr_path)
        lr = _load(BENCHMARK / name / "LR_bicubic" / "X4" / hr_path.name)
        out = imresize_uint8(hr, scale=1 / 4)
        assert out.shape == lr.shape and out.dtype == np.uint8
        diff = np.abs(out.astype(np.int16) - lr.astype(np.int16))
        equal += int((diff == 0).sum())
        total += diff.size
        # The shipped LR images replicate the edge pixel where MATLAB mirrors, so the outer two rows and
        # columns (whose taps reach past the edge at x1/4) may differ; the interior must agree.
        assert diff[2:-2, 2:-2].max() <= 1, hr_path.name
    fraction = equal / total
    print(f"{name}: {fraction:.4%} of LR values bit-exact")
    assert fraction >= 0.98


def test_hand_computed_edge_value_uses_symmetric_padding() -> None:
    # Scale 2, first output sample: u = 0.75, taps at 1-based -2..3 with cubic weights
    # 0, -0.0234375, 0.2265625, 0.8671875, -0.0703125, 0. Symmetric mirroring sends -1 -> 2 and 0 -> 1,
    # so the value is (0.2265625 + 0.8671875) * v1 + (-0.0234375 - 0.0703125) * v2 = 0.90625 for v = 1, 2.
    # Edge replication (-1 -> 1) would give 0.9296875 instead.
    row = torch.tensor([[1.0, 2.0, 4.0, 8.0]], dtype=torch.float64)
    out = imresize(row, size=(1, 8))
    assert out[0, 0].item() == pytest.approx(0.90625, abs=1e-12)


@pytest.mark.parametrize("scale", [4.0, 1 / 4, 1 / 3])
def test_linear_ramp_is_reproduced_in_the_interior(scale: float) -> None:
    """Cubic convolution reproduces linear functions, so the interior shows MATLAB's coordinate mapping."""
    n = 96
    ramp = torch.arange(1, n + 1, dtype=torch.float64).repeat(4, 1)  # value = 1-based column index
    out = imresize(ramp, scale=scale)
    x = torch.arange(1, out.shape[1] + 1, dtype=torch.float64)
    expected = x / scale + 0.5 * (1 - 1 / scale)
    half_width = 2.0 / min(scale, 1.0)
    inner = (expected - half_width >= 1) & (expected + half_width <= n)  # no mirrored taps
    assert inner.sum() >= 8
    torch.testing.assert_close(out[0, inner], expected[inner], rtol=0, atol=1e-9)


def test_float_matches_uint8_within_one() -> None:
    # Values kept away from 0 and 255: uint8 mode clips after the first pass (as MATLAB does), and where
    # bicubic overshoot is clipped the two modes legitimately differ by much more than one.
    img = _smooth_uint8(60, 52, 3, seed=1, low=64, high=191)
    chw = torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1)
    for scale in (1 / 4, 4.0, 1 / 3):
        exact = imresize_uint8(img, scale=scale).astype(np.int16)
        approx = torch.round(imresize(chw, scale=scale)).permute(1, 2, 0).numpy().astype(np.int16)
        assert np.abs(exact - approx).max() <= 1, scale


def test_upscaled_constant_stays_constant() -> None:
    const = torch.full((2, 3, 9, 7), 0.3712, dtype=torch.float64)
    torch.testing.assert_close(imresize(const, scale=4), torch.full((2, 3, 36, 28), 0.3712, dtype=torch.float64))
    gray = np.full((9, 7), 201, dtype=np.uint8)
    assert (imresize_uint8(gray, scale=4) == 201).all()


def test_scale_one_is_identity() -> None:
    x = torch.rand(1, 2, 13, 17, dtype=torch.float64)
    torch.testing.assert_close(imresize(x, scale=1.0), x, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("in_hw", "kwargs", "out_hw"),
    [
        ((480, 320), {"scale": 1 / 4}, (120, 80)),
        ((30, 21), {"scale": 1 / 4}, (8, 6)),  # ceil, as MATLAB
        ((30, 21), {"scale": 4}, (120, 84)),
        ((100, 50), {"scale": 1 / 3}, (34, 17)),
        ((30, 21), {"size": (37, 5)}, (37, 5)),
    ],
)
def test_output_sizes(in_hw: tuple[int, int], kwargs: dict, out_hw: tuple[int, int]) -> None:
    x = torch.zeros(1, 1, *in_hw)
    assert tuple(imresize(x, **kwargs).shape[-2:]) == out_hw
    assert imresize_uint8(np.zeros(in_hw, dtype=np.uint8), **kwargs).shape == out_hw


def test_ranks_dtypes_and_layouts_are_preserved() -> None:
    for dtype in (torch.float32, torch.float64):
        for shape in ((12, 10), (3, 12, 10), (2, 3, 12, 10)):
            out = imresize(torch.rand(shape, dtype=dtype), scale=0.5)
            assert out.dtype == dtype and out.shape == (*shape[:-2], 6, 5)
    t = imresize_uint8(torch.zeros(3, 12, 10, dtype=torch.uint8), scale=2)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.uint8 and t.shape == (3, 24, 20)
    a = imresize_uint8(np.zeros((12, 10, 3), dtype=np.uint8), scale=2)
    assert isinstance(a, np.ndarray) and a.dtype == np.uint8 and a.shape == (24, 20, 3)


def test_batched_equals_per_image() -> None:
    batch = torch.rand(4, 3, 23, 31, dtype=torch.float64) * 300 - 20
    out = imresize(batch, size=(11, 45))
    for i in range(batch.shape[0]):
        torch.testing.assert_close(out[i], imresize(batch[i], size=(11, 45)), rtol=0, atol=1e-12)
    u8 = torch.from_numpy(_smooth_uint8(23, 31, 6, seed=2)).permute(2, 0, 1).reshape(2, 3, 23, 31)
    out8 = imresize_uint8(u8, scale=1 / 3)
    for i in range(2):
        assert torch.equal(out8[i], imresize_uint8(u8[i], scale=1 / 3))
    # The NumPy H x W x C path gives the same bytes as the tensor path.
    hwc = u8[1].permute(1, 2, 0).numpy()
    assert np.array_equal(imresize_uint8(hwc, scale=1 / 3), out8[1].permute(1, 2, 0).numpy())


class _OpCounter(torch.overrides.TorchFunctionMode):
    """Counts torch calls, to show the work per image does not grow with its pixel count."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.calls += 1
        return func(*args, **(kwargs or {}))


def test_batch_runs_without_per_pixel_python_loops() -> None:
    counts = []
    for side in (32, 128):
        x = torch.rand(8, 3, side, side)
        imresize(x, scale=1 / 4)  # builds and caches the weights outside the count
        with _OpCounter() as counter:
            out = imresize(x, scale=1 / 4)
        assert out.shape == (8, 3, side // 4, side // 4)
        counts.append(counter.calls)
    assert counts[0] == counts[1]
    assert counts[0] < 500  # a few ops per kernel tap and pass


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu() -> None:
    x = torch.rand(2, 3, 40, 36)
    out = imresize(x.cuda(), scale=1 / 4)
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), imresize(x, scale=1 / 4), rtol=1e-5, atol=1e-5)
    u8 = (x * 255).to(torch.uint8)
    assert torch.equal(imresize_uint8(u8.cuda(), scale=4).cpu(), imresize_uint8(u8, scale=4))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: imresize(torch.zeros(4, 4)), "exactly one"),
        (lambda: imresize(torch.zeros(4, 4), scale=2, size=(8, 8)), "exactly one"),
        (lambda: imresize(torch.zeros(4, 4), scale=0), "scale"),
        (lambda: imresize(torch.zeros(4, 4), size=(8,)), "size"),
        (lambda: imresize(torch.zeros(4, 4, dtype=torch.uint8), scale=2), "floating-point"),
        (lambda: imresize(torch.zeros(1, 1, 1, 4, 4), scale=2), "shape"),
        (lambda: imresize_uint8(torch.zeros(4, 4), scale=2), "uint8"),
        (lambda: imresize_uint8(np.zeros((4, 4), dtype=np.float32), scale=2), "uint8"),
    ],
)
def test_bad_arguments_raise_srgan_error(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SrganError, match=message):
        call()
