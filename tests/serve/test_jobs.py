"""The server's bounded-memory image work: bicubic in strips, and 8-bit conversion in strips for JPEG and WebP.

Both promise the same result as the whole-image functions they stand in for; these tests hold them to it
with strips far smaller than the images, so every image is cut many times, along both axes.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from srgan.io.picture import Picture
from srgan.io.write import write_image
from srgan.ops.imresize import imresize_uint8
from srgan.ops.pixels import resize
from srgan.serve import codec, jobs

RNG = np.random.default_rng(21)

# (input H, W) → (output H, W): up, down (antialiased), one axis each way, a tie, odd factors.
SIZES = [((13, 17), (40, 52)), ((40, 52), (13, 17)), ((30, 20), (9, 61)), ((16, 16), (48, 48)), ((7, 5), (7, 23))]


@pytest.fixture
def small_strips(monkeypatch):
    monkeypatch.setattr(jobs, "STRIP_SAMPLES", 50)
    monkeypatch.setattr(codec, "_STRIP_SAMPLES", 50)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size_in, size_out", SIZES)
def test_uint8_strips_equal_matlab_imresize_of_the_whole_image(small_strips, size_in, size_out, channels):
    pixels = RNG.integers(0, 256, (*size_in, channels), dtype=np.uint8)
    np.testing.assert_array_equal(jobs.resize_in_strips(pixels, *size_out), imresize_uint8(pixels, size=size_out))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("size_in, size_out", SIZES)
def test_float_strips_equal_the_whole_image_float_resize(small_strips, size_in, size_out, dtype):
    peak = np.iinfo(dtype).max
    pixels = RNG.integers(0, peak + 1, (*size_in, 3), dtype=dtype)
    got = jobs.resize_in_strips(pixels, *size_out, matlab_uint8=False)
    want = resize(pixels, size=size_out, matlab_uint8=False)
    assert got.dtype == dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_bicubic_resizes_alpha_like_the_colour(small_strips):
    rgba = RNG.integers(0, 256, (11, 14, 4), dtype=np.uint8)
    pic = Picture(pixels=rgba[..., :3], alpha=rgba[..., 3], exif=b"Exif\0\0MM", icc_profile=b"icc")
    out = jobs.bicubic(pic, 33, 20)
    np.testing.assert_array_equal(np.dstack([out.pixels, out.alpha]), imresize_uint8(rgba, size=(20, 33)))
    assert (out.exif, out.icc_profile) == (pic.exif, pic.icc_profile)


def test_output_size_rounds_like_the_model():
    assert jobs.output_size(10, 7, 4, None) == (40, 28)
    assert jobs.output_size(10, 7, 4, 4.0) == (40, 28)
    assert jobs.output_size(10, 7, 4, 2.5) == (25, 18)  # round(17.5) is 18: Python's half to even
    assert jobs.output_size(1, 1, 2, 0.1) == (1, 1)


@pytest.mark.parametrize("suffix", [".jpg", ".webp"])
@pytest.mark.parametrize("depth, alpha", [(16, True), (16, False), (8, True)])
def test_jpeg_and_webp_in_strips_equal_the_writer_on_the_whole_image(small_strips, tmp_path, suffix, depth, alpha):
    dtype = np.uint16 if depth == 16 else np.uint8
    peak = np.iinfo(dtype).max
    pic = Picture(
        pixels=RNG.integers(0, peak + 1, (23, 31, 3), dtype=dtype),
        alpha=RNG.integers(0, peak + 1, (23, 31), dtype=dtype) if alpha else None,
    )
    whole, strips = tmp_path / f"whole{suffix}", tmp_path / f"strips{suffix}"
    write_image(whole, pic)
    codec.write(codec.for_format(pic, "jpeg" if suffix == ".jpg" else "webp"), strips)
    decoded = [np.asarray(Image.open(io.BytesIO(p.read_bytes()))) for p in (whole, strips)]
    np.testing.assert_array_equal(*decoded)


def test_a_result_the_encoder_refuses_is_a_422_without_the_temporary_path(tmp_path):
    wide = Picture(pixels=np.zeros((1, 17_000, 3), np.uint8))
    with pytest.raises(codec.UploadError) as caught:
        codec.write(wide, tmp_path / "result.webp")
    assert caught.value.status == 422
    assert str(tmp_path) not in str(caught.value) and "cannot encode the result" in str(caught.value)
