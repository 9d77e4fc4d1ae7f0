"""Tests for srgan.io.read: every fixture is a tiny image generated in tmp_path."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from io_samples import ORIENTATION, RNG, exif, orientation_of, rgb, rgb16, save
from srgan.errors import SrganError
from srgan.io.picture import from_array
from srgan.io.png16 import encode_png
from srgan.io.read import read_image
from srgan.io.write import write_image


# --------------------------------------------------------------------------------- modes


def test_rgb_png_round_trips_exactly(tmp_path: Path) -> None:
    arr = rgb()
    pic = read_image(save(Image.fromarray(arr), tmp_path / "a.png"))
    assert (pic.mode, pic.format, pic.bit_depth, pic.is_gray, pic.alpha) == ("RGB", "PNG", 8, False, None)
    np.testing.assert_array_equal(pic.pixels, arr)
    write_image(tmp_path / "b.png", pic)
    np.testing.assert_array_equal(read_image(tmp_path / "b.png").pixels, arr)


def test_gray_stays_one_channel(tmp_path: Path) -> None:
    arr = rgb()[..., 0]
    pic = read_image(save(Image.fromarray(arr), tmp_path / "g.png"))
    assert pic.pixels.shape == (6, 9, 1) and pic.is_gray and pic.mode == "L"
    np.testing.assert_array_equal(pic.pixels[..., 0], arr)
    write_image(tmp_path / "g.tif", pic)
    np.testing.assert_array_equal(read_image(tmp_path / "g.tif").pixels[..., 0], arr)


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
@pytest.mark.parametrize("ext", [".png", ".tif", ".webp"])
def test_alpha_is_split_off_and_kept(tmp_path: Path, mode: str, ext: str) -> None:
    arr = rgb()
    alpha = RNG.integers(0, 256, arr.shape[:2], dtype=np.uint8)
    src = Image.fromarray(np.dstack([arr, alpha])).convert(mode)
    pic = read_image(save(src, tmp_path / "src.png"))
    assert pic.mode == mode and pic.pixels.shape[2] == (1 if mode == "LA" else 3)
    np.testing.assert_array_equal(pic.alpha, alpha)
    write_image(tmp_path / f"out{ext}", pic, quality=100)
    back = read_image(tmp_path / f"out{ext}")
    assert back.alpha is not None
    if ext == ".webp":  # lossy codec, and WebP has no gray: only check that alpha survived
        assert back.pixels.shape[2] == 3
        assert np.abs(back.alpha.astype(int) - alpha).max() <= 8
    else:
        np.testing.assert_array_equal(back.pixels, pic.pixels)
        np.testing.assert_array_equal(back.alpha, alpha)


def test_palette_becomes_rgb_or_rgb_plus_alpha(tmp_path: Path) -> None:
    opaque = Image.fromarray(rgb()).convert("P")
    pic = read_image(save(opaque, tmp_path / "p.png"))
    assert pic.mode == "P" and pic.pixels.shape[2] == 3 and pic.alpha is None
    np.testing.assert_array_equal(pic.pixels, np.array(opaque.convert("RGB")))

    see_through = read_image(save(opaque, tmp_path / "pt.png", transparency=0))
    assert see_through.alpha is not None
    expected = np.array(opaque) != 0
    np.testing.assert_array_equal(see_through.alpha == 255, expected)


def test_bilevel_becomes_gray(tmp_path: Path) -> None:
    bits = rgb()[..., 0] > 127
    pic = read_image(save(Image.fromarray(bits), tmp_path / "b.png"))
    assert pic.mode == "1" and pic.pixels.dtype == np.uint8 and pic.is_gray
    np.testing.assert_array_equal(pic.pixels[..., 0], np.where(bits, 255, 0))


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    cmyk = Image.fromarray(rgb(8, 8)).convert("CMYK")
    pic = read_image(save(cmyk, tmp_path / "c.jpg", quality=95))
    assert pic.mode == "CMYK" and pic.format == "JPEG" and pic.pixels.shape == (8, 8, 3)


def test_colour_key_transparency_becomes_alpha(tmp_path: Path) -> None:
    gray = rgb()[..., 0]
    pic = read_image(save(Image.fromarray(gray), tmp_path / "k.png", transparency=int(gray[0, 0])))
    np.testing.assert_array_equal(pic.alpha == 0, gray == gray[0, 0])


def test_16bit_gray_round_trips_exactly(tmp_path: Path) -> None:
    gray = rgb16(channels=1)
    for name in ("g16.png", "g16.tif"):
        write_image(tmp_path / name, from_array(gray))
        pic = read_image(tmp_path / name)
        assert pic.bit_depth == 16 and pic.mode == "I;16"
        np.testing.assert_array_equal(pic.pixels, gray)
    pillow_view = Image.open(tmp_path / "g16.png")  # our encoder's file, read independently
    assert pillow_view.mode == "I;16"
    np.testing.assert_array_equal(np.array(pillow_view), gray[..., 0])


def test_wide_integer_and_float_modes(tmp_path: Path) -> None:
    values = np.arange(54, dtype=np.int32).reshape(6, 9) * 1000
    pic = read_image(save(Image.fromarray(values), tmp_path / "i.tif"))
    assert pic.mode == "I" and pic.pixels.dtype == np.uint16
    np.testing.assert_array_equal(pic.pixels[..., 0], values)

    with pytest.raises(SrganError, match=r"i2\.tif: unsupported mode I"):
        read_image(save(Image.fromarray(values * 100), tmp_path / "i2.tif"))
    with pytest.raises(SrganError, match=r"f\.tif: unsupported mode F"):
        read_image(save(Image.fromarray(values.astype(np.float32)), tmp_path / "f.tif"))


# ---------------------------------------------------------------------- EXIF orientation


def test_exif_orientation_6_is_applied_and_reset(tmp_path: Path) -> None:
    arr = rgb(4, 7)
    pic = read_image(save(Image.fromarray(arr), tmp_path / "o.png", exif=exif(6)))
    np.testing.assert_array_equal(pic.pixels, np.rot90(arr, -1))  # 6 = turn 90° clockwise
    assert orientation_of(pic.exif) == 1

    write_image(tmp_path / "o.jpg", pic)
    written = Image.open(tmp_path / "o.jpg")
    assert written.size == (4, 7)
    assert written.getexif()[ORIENTATION] == 1
    assert written.getexif()[0x010F] == "TestCam"  # the rest of the EXIF came along


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16bit_orientation_matches_pillow(tmp_path: Path, orientation: int) -> None:
    arr16 = rgb16(3, 5)
    (tmp_path / "w.png").write_bytes(encode_png(arr16, exif=exif(orientation)))
    save(Image.fromarray((arr16 >> 8).astype(np.uint8)), tmp_path / "n.png", exif=exif(orientation))
    wide, narrow = read_image(tmp_path / "w.png"), read_image(tmp_path / "n.png")
    np.testing.assert_array_equal(wide.pixels >> 8, narrow.pixels)
    assert orientation_of(wide.exif) == orientation_of(narrow.exif) == 1


# ------------------------------------------------------------------------ reading errors


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("cut.jpg", _jpeg_bytes()[: len(_jpeg_bytes()) // 2], "truncated or corrupt"),
        ("cut.png", _png_bytes()[: len(_png_bytes()) // 2], "truncated or corrupt"),
        ("cut16.png", None, "truncated or corrupt"),
        ("empty.png", b"", "empty file"),
        ("notes.png", b"this is text, not pixels\n", "not an image"),
    ],
)
def test_bad_files_raise_one_line_errors(
    tmp_path: Path, name: str, content: bytes | None, problem: str
) -> None:
    if content is None:
        content = encode_png(rgb16(16, 16), level=0)
        content = content[: len(content) // 2]
    (tmp_path / name).write_bytes(content)
    with pytest.raises(SrganError) as info:
        read_image(tmp_path / name)
    message = str(info.value)
    assert name in message and problem in message and "\n" not in message


def test_missing_file_and_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SrganError, match=r"nope\.png: no such file"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(SrganError, match=r"dir\.png: is a folder"):
        read_image(tmp_path / "dir.png")


def test_max_pixels_is_checked_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save(Image.fromarray(rgb(20, 30)), tmp_path / "big.png")
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded an image over the limit"))
    expected = r"big\.png: image is 30x20 \(600 pixels\), more than the limit of 599 pixels"
    with pytest.raises(SrganError, match=expected):
        read_image(path, max_pixels=599)


def test_max_pixels_overrides_pillow_limit_without_changing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save(Image.fromarray(rgb(20, 30)), tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow alone would refuse 600 pixels
    assert read_image(path, max_pixels=None).pixels.shape == (20, 30, 3)
    assert read_image(path).pixels.shape == (20, 30, 3)
    assert Image.MAX_IMAGE_PIXELS == 100
    # Over Pillow's hard limit (2 x 100) too: the refusal names our limit, the one the user can raise
    with pytest.raises(SrganError, match=r"big\.png: image is 30x20 \(600 pixels\), more than the limit of 150 "
                                         r"pixels \(raise --max-pixels"):
        read_image(path, max_pixels=150)
    assert Image.MAX_IMAGE_PIXELS == 100
