"""NIQE: our NumPy implementation against BasicSR 1.4.2's, and the behaviour a quality score must have."""

from __future__ import annotations

import hashlib
import re
import socket

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from conftest import REPO, shared_or_skip
from srgan.errors import SrganError
from srgan.ops.imresize import imresize_uint8
from srgan.ops.niqe import PARAMS_PATH, NiqeUndefined, niqe, pristine_model

# Reference values: BasicSR 1.4.2's own basicsr/metrics/niqe.py (from its PyPI sdist), with its
# matlab_functions.imresize, metric_util.to_y_channel/reorder_image and color_util.bgr2ycbcr copied into a
# scratch folder outside the repository and only the METRIC_REGISTRY import stubbed (the package __init__
# would pull in torchvision), run with this repository's .venv (numpy 2.4.6, scipy 1.17.1, torch 2.13.0
# CPU, opencv 5.0.0). Each value is
#     calculate_niqe(img, crop_border, input_order="HWC", convert_to="y")
# with img the image below converted to BGR (img[:, :, ::-1], the order BasicSR expects from cv2.imread),
# or calculate_niqe(img, crop_border, input_order="HW") for 2-D gray images, for crop_border 0 and 4.
# Images are read with PIL (.convert("RGB") except the gray Set14 img_003); derived ones are built below.
# Our values differed from these by at most 6.2e-5.
REFERENCE = {  # name: (crop_border 0, crop_border 4)
    "chelsea": (2.625536, 2.689315),
    "chelsea_half": (3.761827, 4.420523),
    "chelsea_crop_up2": (4.992039, 5.760458),
    "chelsea_green": (2.554008, 2.619843),
    "chelsea_flat_left": (5.052912, 4.962955),
}
BENCHMARK_REFERENCE = {
    "Set5/img_001": (3.265577, 3.322255),
    "Set5/img_003": (5.154885, 5.205054),
    "Set14/img_001": (5.729564, 5.989242),  # baboon: BasicSR quotes MATLAB R2021a at 5.72957 (crop 0)
    "Set14/img_003": (2.512163, 2.548099),  # a gray (mode L) PNG: the H×W path
}
TOLERANCE = 0.01


def _chelsea() -> np.ndarray:
    return np.asarray(Image.open(REPO / "examples" / "chelsea.png").convert("RGB"))


def _derived(name: str) -> np.ndarray:
    """Deterministic inputs built from examples/chelsea.png (300×451): no ../shared needed."""
    chelsea = _chelsea()
    if name == "chelsea":
        return chelsea
    if name == "chelsea_half":  # 150×226: one row of two blocks, the fewest NIQE accepts
        return imresize_uint8(chelsea, scale=0.5)
    if name == "chelsea_crop_up2":  # a bicubic ×2 upscale of a 96×192 crop: smooth, like an SR output
        return imresize_uint8(chelsea[100:196, 100:292], scale=2)
    if name == "chelsea_green":  # H×W input, taken as luminance as it is
        return np.ascontiguousarray(chelsea[:, :, 1])
    if name == "chelsea_flat_left":  # two flat blocks: their NaN features must be handled as MATLAB does
        flat = chelsea.copy()
        flat[:, :192] = 128
        return flat
    raise KeyError(name)


@pytest.mark.parametrize("name", list(REFERENCE))
def test_matches_basicsr_on_derived_images(name):
    img = _derived(name)
    for crop_border, ref in zip((0, 4), REFERENCE[name]):
        assert niqe(img, crop_border) == pytest.approx(ref, abs=TOLERANCE), (name, crop_border)


@pytest.mark.parametrize("name", list(BENCHMARK_REFERENCE))
def test_matches_basicsr_on_benchmark_images(name):
    dataset, image = name.split("/")
    path = shared_or_skip("data", "benchmark", dataset, "HR", f"{image}.png")
    with Image.open(path) as im:
        img = np.asarray(im if im.mode == "L" else im.convert("RGB"))
    for crop_border, ref in zip((0, 4), BENCHMARK_REFERENCE[name]):
        assert niqe(img, crop_border) == pytest.approx(ref, abs=TOLERANCE), (name, crop_border)


def test_input_layouts_agree():
    chelsea = _chelsea()
    assert niqe(chelsea.astype(np.float32)) == niqe(chelsea)  # floats on 0..255 are the same pixels
    green = np.ascontiguousarray(chelsea[:, :, 1])
    assert niqe(green[:, :, None], 4) == niqe(green, 4)


def test_blur_and_noise_score_worse():
    chelsea = _chelsea()
    base = niqe(chelsea)
    blurred = ndimage.gaussian_filter(chelsea.astype(np.float64), sigma=(2, 2, 0))
    noisy = chelsea + np.random.default_rng(0).normal(0, 20, chelsea.shape)
    assert niqe(blurred) > base + 1
    assert niqe(np.clip(noisy, 0, 255)) > base + 1


def test_too_small_or_flat_images_are_one_line_errors():
    chelsea = _chelsea()
    niqe(chelsea[:96, :192])  # two whole blocks: the least NIQE can measure
    for img, crop_border in [(chelsea[:96, :191], 0), (chelsea[:191, :191], 0), (chelsea[:100, :200], 4)]:
        with pytest.raises(NiqeUndefined, match=r"at least two whole 96×96 blocks") as e:
            niqe(img, crop_border)
        assert isinstance(e.value, SrganError) and "\n" not in str(e.value)
    with pytest.raises(NiqeUndefined, match="cropping 4 pixels per side"):
        niqe(chelsea[:100, :200], 4)
    with pytest.raises(NiqeUndefined, match="have texture"):
        niqe(np.full((200, 300, 3), 90, np.uint8))


@pytest.mark.parametrize("bad", [
    np.zeros((200, 200, 2), np.uint8), np.zeros((200, 200), np.int32), np.zeros((0, 200), np.uint8),
    np.full((200, 200), np.nan), [[1, 2], [3, 4]],
])
def test_bad_input_is_an_srgan_error(bad):
    with pytest.raises(SrganError, match="^niqe: "):
        niqe(bad)


def test_bad_crop_border_is_an_srgan_error():
    with pytest.raises(SrganError, match="crop_border"):
        niqe(_chelsea(), -1)


def test_pristine_model_is_the_shipped_file_and_needs_no_network(monkeypatch):
    source = (PARAMS_PATH.parent / "NIQE_SOURCE.md").read_text()
    recorded = re.search(r"([0-9a-f]{64})\s+niqe_pris_params\.npz", source)[1]
    assert hashlib.sha256(PARAMS_PATH.read_bytes()).hexdigest() == recorded

    def no_network(*args, **kwargs):
        raise AssertionError("NIQE tried to open a network connection")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    pristine_model.cache_clear()
    mu, cov, window = pristine_model()
    assert mu.shape == (36,) and cov.shape == (36, 36) and window.shape == (7, 7)
    assert window.sum() == pytest.approx(1.0)
    assert niqe(_chelsea()) == pytest.approx(REFERENCE["chelsea"][0], abs=TOLERANCE)
