"""Tests for srgan.io.images: every fixture is a tiny image generated in tmp_path."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from srgan.io import images
from srgan.errors import SrganError
from srgan.io.images import (
    Picture,
    atomic_path,
    atomic_write_bytes,
    from_array,
    from_pil,
    list_images,
    read_image,
    to_array,
    to_pil,
    write_image,
)

RNG = np.random.default_rng(1234)
ORIENTATION = 0x0112


def _rgb(h: int = 6, w: int = 9) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _rgb16(h: int = 6, w: int = 9, channels: int = 3) -> np.ndarray:
    return RNG.integers(0, 65536, (h, w, channels), dtype=np.uint16)


def _save(img: Image.Image, path: Path, **options: object) -> Path:
    img.save(path, **options)
    return path


def _exif(orientation: int, make: str = "TestCam") -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = make
    return exif.tobytes()


def _srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _orientation_of(exif: bytes | None) -> int | None:
    parsed = Image.Exif()
    if exif:
        parsed.load(exif)
    return parsed.get(ORIENTATION)


# ---------------------------------------------------------------------------------- modes


def test_rgb_png_round_trips_exactly(tmp_path: Path) -> None:
    arr = _rgb()
    pic = read_image(_save(Image.fromarray(arr), tmp_path / "a.png"))
    assert (pic.mode, pic.format, pic.bit_depth, pic.is_gray, pic.alpha) == ("RGB", "PNG", 8, False, None)
    np.testing.assert_array_equal(pic.pixels, arr)
    write_image(tmp_path / "b.png", pic)
    np.testing.assert_array_equal(read_image(tmp_path / "b.png").pixels, arr)


def test_gray_stays_one_channel(tmp_path: Path) -> None:
    arr = _rgb()[..., 0]
    pic = read_image(_save(Image.fromarray(arr), tmp_path / "g.png"))
    assert pic.pixels.shape == (6, 9, 1) and pic.is_gray and pic.mode == "L"
    np.testing.assert_array_equal(pic.pixels[..., 0], arr)
    write_image(tmp_path / "g.tif", pic)
    np.testing.assert_array_equal(read_image(tmp_path / "g.tif").pixels[..., 0], arr)


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
@pytest.mark.parametrize("ext", [".png", ".tif", ".webp"])
def test_alpha_is_split_off_and_kept(tmp_path: Path, mode: str, ext: str) -> None:
    arr = _rgb()
    alpha = RNG.integers(0, 256, arr.shape[:2], dtype=np.uint8)
    src = Image.fromarray(np.dstack([arr, alpha])).convert(mode)
    pic = read_image(_save(src, tmp_path / "src.png"))
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
    opaque = Image.fromarray(_rgb()).convert("P")
    pic = read_image(_save(opaque, tmp_path / "p.png"))
    assert pic.mode == "P" and pic.pixels.shape[2] == 3 and pic.alpha is None
    np.testing.assert_array_equal(pic.pixels, np.array(opaque.convert("RGB")))

    see_through = read_image(_save(opaque, tmp_path / "pt.png", transparency=0))
    assert see_through.alpha is not None
    expected = np.array(opaque) != 0
    np.testing.assert_array_equal(see_through.alpha == 255, expected)


def test_bilevel_becomes_gray(tmp_path: Path) -> None:
    bits = _rgb()[..., 0] > 127
    pic = read_image(_save(Image.fromarray(bits), tmp_path / "b.png"))
    assert pic.mode == "1" and pic.pixels.dtype == np.uint8 and pic.is_gray
    np.testing.assert_array_equal(pic.pixels[..., 0], np.where(bits, 255, 0))


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    cmyk = Image.fromarray(_rgb(8, 8)).convert("CMYK")
    pic = read_image(_save(cmyk, tmp_path / "c.jpg", quality=95))
    assert pic.mode == "CMYK" and pic.format == "JPEG" and pic.pixels.shape == (8, 8, 3)


def test_colour_key_transparency_becomes_alpha(tmp_path: Path) -> None:
    gray = _rgb()[..., 0]
    pic = read_image(_save(Image.fromarray(gray), tmp_path / "k.png", transparency=int(gray[0, 0])))
    np.testing.assert_array_equal(pic.alpha == 0, gray == gray[0, 0])


def test_16bit_gray_round_trips_exactly(tmp_path: Path) -> None:
    gray = _rgb16(channels=1)
    for name in ("g16.png", "g16.tif"):
        write_image(tmp_path / name, from_array(gray))
        pic = read_image(tmp_path / name)
        assert pic.bit_depth == 16 and pic.mode == "I;16"
        np.testing.assert_array_equal(pic.pixels, gray)
    pillow_view = Image.open(tmp_path / "g16.png")  # our encoder's file, read independently
    assert pillow_view.mode == "I;16"
    np.testing.assert_array_equal(np.array(pillow_view), gray[..., 0])


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_16bit_colour_png_round_trips_exactly(tmp_path: Path, channels: int) -> None:
    arr = _rgb16(channels=channels)
    icc = _srgb_profile() if channels >= 3 else None
    pic = from_array(arr)
    pic.icc_profile, pic.exif = icc, _exif(1)
    write_image(tmp_path / "c16.png", pic)
    back = read_image(tmp_path / "c16.png")
    assert back.bit_depth == 16 and back.format == "PNG"
    np.testing.assert_array_equal(to_array(back), arr)
    assert back.icc_profile == icc
    assert back.mode == {2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    assert _orientation_of(back.exif) == 1
    # Pillow decodes the same file to the high bytes (gray+alpha as RGBA): an independent check.
    high = (arr >> 8).astype(np.uint8)
    if channels == 2:
        high = high[..., [0, 0, 0, 1]]
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "c16.png")), high)


def test_16bit_colour_reduced_to_8bit_for_other_formats(tmp_path: Path) -> None:
    arr = _rgb16()
    write_image(tmp_path / "c.tif", from_array(arr))
    back = read_image(tmp_path / "c.tif")
    assert back.bit_depth == 8
    assert np.abs(back.pixels.astype(int) - arr / 257).max() <= 0.5
    assert to_pil(from_array(arr)).mode == "RGB"


def test_wide_integer_and_float_modes(tmp_path: Path) -> None:
    values = np.arange(54, dtype=np.int32).reshape(6, 9) * 1000
    pic = read_image(_save(Image.fromarray(values), tmp_path / "i.tif"))
    assert pic.mode == "I" and pic.pixels.dtype == np.uint16
    np.testing.assert_array_equal(pic.pixels[..., 0], values)

    with pytest.raises(SrganError, match=r"i2\.tif: unsupported mode I"):
        read_image(_save(Image.fromarray(values * 100), tmp_path / "i2.tif"))
    with pytest.raises(SrganError, match=r"f\.tif: unsupported mode F"):
        read_image(_save(Image.fromarray(values.astype(np.float32)), tmp_path / "f.tif"))


# ----------------------------------------------------------------------- metadata, EXIF


def test_exif_orientation_6_is_applied_and_reset(tmp_path: Path) -> None:
    arr = _rgb(4, 7)
    pic = read_image(_save(Image.fromarray(arr), tmp_path / "o.png", exif=_exif(6)))
    np.testing.assert_array_equal(pic.pixels, np.rot90(arr, -1))  # 6 = turn 90° clockwise
    assert _orientation_of(pic.exif) == 1

    write_image(tmp_path / "o.jpg", pic)
    written = Image.open(tmp_path / "o.jpg")
    assert written.size == (4, 7)
    assert written.getexif()[ORIENTATION] == 1
    assert written.getexif()[0x010F] == "TestCam"  # the rest of the EXIF came along


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16bit_orientation_matches_pillow(tmp_path: Path, orientation: int) -> None:
    arr16 = _rgb16(3, 5)
    (tmp_path / "w.png").write_bytes(images._encode_png(arr16, exif=_exif(orientation)))
    _save(Image.fromarray((arr16 >> 8).astype(np.uint8)), tmp_path / "n.png", exif=_exif(orientation))
    wide, narrow = read_image(tmp_path / "w.png"), read_image(tmp_path / "n.png")
    np.testing.assert_array_equal(wide.pixels >> 8, narrow.pixels)
    assert _orientation_of(wide.exif) == _orientation_of(narrow.exif) == 1


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".tif"])
def test_icc_profile_is_copied(tmp_path: Path, ext: str) -> None:
    icc = _srgb_profile()
    pic = read_image(_save(Image.fromarray(_rgb()), tmp_path / "s.png", icc_profile=icc))
    assert pic.icc_profile == icc
    write_image(tmp_path / f"out{ext}", pic)
    assert read_image(tmp_path / f"out{ext}").icc_profile == icc


def test_rgb_profile_is_not_attached_to_gray_output(tmp_path: Path) -> None:
    pic = from_array(_rgb()[..., 0])
    pic.icc_profile = _srgb_profile()
    write_image(tmp_path / "g.png", pic)
    assert read_image(tmp_path / "g.png").icc_profile is None


def test_jpeg_and_bmp_composite_alpha_onto_white(tmp_path: Path) -> None:
    arr = np.zeros((8, 8, 4), np.uint8)  # black, fully transparent
    for name in ("t.jpg", "t.bmp"):
        write_image(tmp_path / name, from_array(arr))
        back = read_image(tmp_path / name)
        assert back.alpha is None and back.pixels.min() >= 250


# ------------------------------------------------------------------------- reading errors


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
        content = images._encode_png(_rgb16(16, 16), level=0)
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
    path = _save(Image.fromarray(_rgb(20, 30)), tmp_path / "big.png")
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded an image over the limit"))
    expected = r"big\.png: image is 30x20 \(600 pixels\), more than the limit of 599 pixels"
    with pytest.raises(SrganError, match=expected):
        read_image(path, max_pixels=599)


def test_max_pixels_overrides_pillow_limit_without_changing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _save(Image.fromarray(_rgb(20, 30)), tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow alone would refuse 600 pixels
    assert read_image(path, max_pixels=None).pixels.shape == (20, 30, 3)
    assert read_image(path).pixels.shape == (20, 30, 3)
    assert Image.MAX_IMAGE_PIXELS == 100
    with pytest.raises(SrganError, match=r"big\.png: image is too large"):
        read_image(path, max_pixels=150)  # within Pillow's hard limit (2 x 100), so Pillow refuses


# ------------------------------------------------------------------------- writing errors


def test_write_to_missing_or_bad_folder(tmp_path: Path) -> None:
    pic = from_array(_rgb())
    with pytest.raises(SrganError, match="does not exist"):
        write_image(tmp_path / "missing" / "a.png", pic)
    (tmp_path / "file").write_text("x")
    with pytest.raises(SrganError, match="is not a folder"):
        write_image(tmp_path / "file" / "a.png", pic)
    with pytest.raises(SrganError, match=r"a\.gif: unknown image extension"):
        write_image(tmp_path / "a.gif", pic)


def test_failed_write_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"previous")

    def half_write(self: Image.Image, fp, *args: object, **kwargs: object) -> None:
        fp.write(b"\x89PNG partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", half_write)
    with pytest.raises(SrganError, match=r"out\.png: could not write the image \(disk full\)"):
        write_image(target, from_array(_rgb()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    assert target.read_bytes() == b"previous"


def test_atomic_helpers(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "a.json", b"{}")
    assert (tmp_path / "a.json").read_bytes() == b"{}"
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "b.bin") as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".bin"
        tmp.write_bytes(b"half")
        raise RuntimeError("writer crashed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


# ------------------------------------------------------------------------- conversions


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (5, 7, 2), (5, 7, 3), (5, 7, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_array_round_trip_keeps_shape(shape: tuple[int, ...], dtype: type) -> None:
    arr = RNG.integers(0, np.iinfo(dtype).max, shape).astype(dtype)
    pic = from_array(arr)
    assert pic.has_alpha == (len(shape) == 3 and shape[2] in (2, 4))
    back = to_array(pic)
    assert back.shape == arr.shape and back.dtype == arr.dtype
    np.testing.assert_array_equal(back, arr)


def test_from_array_refuses_bad_input() -> None:
    with pytest.raises(SrganError, match="uint8 or uint16"):
        from_array(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(SrganError, match="shape"):
        from_array(np.zeros((4, 4, 5), np.uint8))


@pytest.mark.parametrize(
    ("arr", "mode"),
    [
        (np.zeros((3, 4), np.uint8), "L"),
        (np.zeros((3, 4, 2), np.uint8), "LA"),
        (np.zeros((3, 4, 3), np.uint8), "RGB"),
        (np.zeros((3, 4, 4), np.uint8), "RGBA"),
        (np.zeros((3, 4), np.uint16), "I;16"),
        (np.zeros((3, 4, 4), np.uint16), "RGBA"),
    ],
)
def test_to_pil_and_back(arr: np.ndarray, mode: str) -> None:
    img = to_pil(from_array(arr))
    assert img.mode == mode and img.size == (4, 3)
    assert from_pil(img).pixels.shape[:2] == (3, 4)


def test_picture_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="alpha"):
        Picture(pixels=np.zeros((2, 2, 3), np.uint8), alpha=np.zeros((2, 2), np.uint16))


# -------------------------------------------------------------------------- PNG codec


@pytest.mark.parametrize("filter_type", [0, 1, 2, 3, 4, None])
def test_png_codec_every_filter(filter_type: int | None) -> None:
    y, x = np.mgrid[0:7, 0:11]
    arr = np.dstack([x * 5000, y * 9000, (x * y * 700) % 65536]).astype(np.uint16)
    arr[3:] = _rgb16(4, 11)
    data = images._encode_png(arr, filter_type=filter_type)
    np.testing.assert_array_equal(images._decode_png(data).samples, arr)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_png_decoder_reads_pillow_files(mode: str) -> None:
    y, x = np.mgrid[0:13, 0:17]
    smooth = np.dstack([x * 13, y * 17, x * y, x + y]).astype(np.uint8)  # makes Pillow use Sub/Paeth
    img = Image.fromarray(smooth).convert(mode)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    samples = images._decode_png(buf.getvalue()).samples
    np.testing.assert_array_equal(samples.reshape(np.array(img).shape), np.array(img))


def _interlaced_png(arr: np.ndarray) -> bytes:
    """Adam7 PNG with unfiltered rows, written the long way round as an independent reference."""
    h, w, c = arr.shape
    depth = 16 if arr.dtype == np.uint16 else 8
    data = np.ascontiguousarray(arr, dtype=">u2" if depth == 16 else np.uint8)
    raw = b""
    for x0, y0, dx, dy in images._ADAM7:
        sub = data[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, depth, {3: 2, 4: 6}[c], 0, 0, 1)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return images._PNG_SIGNATURE + body


def test_png_decoder_reads_interlaced(tmp_path: Path) -> None:
    arr8 = _rgb(11, 13)
    np.testing.assert_array_equal(np.array(Image.open(io.BytesIO(_interlaced_png(arr8)))), arr8)
    np.testing.assert_array_equal(images._decode_png(_interlaced_png(arr8)).samples, arr8)
    arr16 = _rgb16(11, 13, channels=4)
    (tmp_path / "i16.png").write_bytes(_interlaced_png(arr16))
    np.testing.assert_array_equal(to_array(read_image(tmp_path / "i16.png")), arr16)


# ------------------------------------------------------------------------- list_images


def test_list_images_folders_globs_and_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for rel in ["b.png", "a.JPG", "sub/c.webp", "sub/deep/d.TIFF", "notes.txt", ".hidden.png", ".git/e.png"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    monkeypatch.chdir(tmp_path)

    assert list_images(["."]) == [Path("a.JPG"), Path("b.png"), Path("sub/c.webp"), Path("sub/deep/d.TIFF")]
    assert list_images(["."], recursive=False) == [Path("a.JPG"), Path("b.png")]
    assert list_images(["sub/**/*.*"]) == [Path("sub/c.webp"), Path("sub/deep/d.TIFF")]
    # Duplicates are dropped, first appearance wins; explicit files are taken whatever they are.
    assert list_images(["b.png", "notes.txt", "*.png", "./b.png"]) == [Path("b.png"), Path("notes.txt")]

    with pytest.raises(SrganError, match=r"gone\.png: no such file or folder"):
        list_images(["gone.png"])
    with pytest.raises(SrganError, match=r"\*\.gif: pattern matches no images"):
        list_images(["*.gif"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SrganError, match="empty: no images"):
        list_images(["empty"])
