"""Windows, blending ramps and the row-band blender, with stand-in networks (the real one: test_model.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import smooth_image
from srgan.errors import SrganError
from srgan.infer.tiling import Tiling, run_tiled


def nearest_x2(window: np.ndarray) -> torch.Tensor:
    """A translation-equivariant stand-in for a ×2 network: each pixel repeated 2×2, on [0, 1]."""
    x = torch.from_numpy(window.astype(np.float32) / 255.0)
    return x.repeat_interleave(2, 0).repeat_interleave(2, 1)


@pytest.mark.parametrize("length", [1, 7, 64, 100, 257, 513, 1000])
@pytest.mark.parametrize(("tile", "overlap", "align"), [(64, 16, 1), (64, 0, 1), (32, 12, 4), (0, 16, 1)])
def test_windows_cover_the_axis_with_enough_overlap(length, tile, overlap, align):
    t = Tiling(tile, overlap, align)
    size, starts = t.windows(length)
    assert starts[0] == 0 and starts[-1] + size == length and size <= length
    for a, b in zip(starts, starts[1:]):
        assert a < b and a + size - b >= 2 * overlap
    weight = torch.zeros(length * 2)
    for s in starts:
        weight[s * 2 : (s + size) * 2] += t.ramp(s, size, length, 2)
    assert weight.min() > 0.5  # every output pixel gets real weight, not just the floor



@pytest.mark.parametrize(("h", "w", "tile", "overlap"), [(40, 70, 16, 4), (33, 17, 8, 2), (64, 64, 64, 8)])
def test_blending_a_pointwise_network_gives_its_untiled_output_exactly(h, w, tile, overlap):
    """Each output pixel is a weighted mean of identical values, so any tiling must give the same image."""
    img = smooth_image(h, w)
    whole = run_tiled(nearest_x2, img, Tiling(0, 0), 2)
    tiled = run_tiled(nearest_x2, img, Tiling(tile, overlap), 2)
    assert tiled.dtype == np.uint8 and tiled.shape == (2 * h, 2 * w, 3)
    np.testing.assert_array_equal(tiled, whole)
    np.testing.assert_array_equal(whole, img.repeat(2, 0).repeat(2, 1))


def test_every_window_is_run_once_and_has_the_tile_size():
    seen = []

    def forward(window):
        seen.append(window.shape[:2])
        return nearest_x2(window)

    run_tiled(forward, smooth_image(50, 90), Tiling(32, 4), 2)
    size_y, starts_y = Tiling(32, 4).windows(50)
    size_x, starts_x = Tiling(32, 4).windows(90)
    assert len(seen) == len(starts_y) * len(starts_x) > 1
    assert set(seen) == {(size_y, size_x)}


def test_sixteen_bit_input_stays_sixteen_bit():
    img = (smooth_image(24, 40).astype(np.uint16) * 257)

    def forward(window):
        x = torch.from_numpy(window.astype(np.float32) / 65535.0)
        return x.repeat_interleave(2, 0).repeat_interleave(2, 1)

    out = run_tiled(forward, img, Tiling(16, 4), 2)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, img.repeat(2, 0).repeat(2, 1))


def test_bad_tiling_is_one_clear_error():
    with pytest.raises(SrganError, match="too small"):
        Tiling(4, 2)
    with pytest.raises(SrganError, match="negative"):
        Tiling(64, -1)
