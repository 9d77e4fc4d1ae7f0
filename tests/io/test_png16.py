"""Tests for srgan.io.png16, checked against Pillow and against PNGs built by hand."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from io_samples import exif, orientation_of, rgb, rgb16, srgb_profile
from srgan.io.picture import from_array, to_array
from srgan.io.png16 import ADAM7, PNG_SIGNATURE, decode_png, encode_png
from srgan.io.read import read_image
from srgan.io.write import write_image


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_16bit_colour_png_round_trips_exactly(tmp_path: Path, channels: int) -> None:
    arr = rgb16(channels=channels)
    icc = srgb_profile() if channels >= 3 else None
    pic = from_array(arr)
    pic.icc_profile, pic.exif = icc, exif(1)
    write_image(tmp_path / "c16.png", pic)
    back = read_image(tmp_path / "c16.png")
    assert back.bit_depth == 16 and back.format == "PNG"
    np.testing.assert_array_equal(to_array(back), arr)
    assert back.icc_profile == icc
    assert back.mode == {2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    assert orientation_of(back.exif) == 1
    # Pillow decodes the same file to the high bytes (gray+alpha as RGBA): an independent check.
    high = (arr >> 8).astype(np.uint8)
    if channels == 2:
        high = high[..., [0, 0, 0, 1]]
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "c16.png")), high)


@pytest.mark.parametrize("filter_type", [0, 1, 2, 3, 4, None])
def test_png_codec_every_filter(filter_type: int | None) -> None:
    y, x = np.mgrid[0:7, 0:11]
    arr = np.dstack([x * 5000, y * 9000, (x * y * 700) % 65536]).astype(np.uint16)
    arr[3:] = rgb16(4, 11)
    data = encode_png(arr, filter_type=filter_type)
    np.testing.assert_array_equal(decode_png(data).samples, arr)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_png_decoder_reads_pillow_files(mode: str) -> None:
    y, x = np.mgrid[0:13, 0:17]
    smooth = np.dstack([x * 13, y * 17, x * y, x + y]).astype(np.uint8)  # makes Pillow use Sub/Paeth
    img = Image.fromarray(smooth).convert(mode)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    samples = decode_png(buf.getvalue()).samples
    np.testing.assert_array_equal(samples.reshape(np.array(img).shape), np.array(img))


def _interlaced_png(arr: np.ndarray) -> bytes:
    """Adam7 PNG with unfiltered rows, written the long way round as an independent reference."""
    h, w, c = arr.shape
    depth = 16 if arr.dtype == np.uint16 else 8
    data = np.ascontiguousarray(arr, dtype=">u2" if depth == 16 else np.uint8)
    raw = b""
    for x0, y0, dx, dy in ADAM7:
        sub = data[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, depth, {3: 2, 4: 6}[c], 0, 0, 1)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return PNG_SIGNATURE + body


def test_png_decoder_reads_interlaced(tmp_path: Path) -> None:
    arr8 = rgb(11, 13)
    np.testing.assert_array_equal(np.array(Image.open(io.BytesIO(_interlaced_png(arr8)))), arr8)
    np.testing.assert_array_equal(decode_png(_interlaced_png(arr8)).samples, arr8)
    arr16 = rgb16(11, 13, channels=4)
    (tmp_path / "i16.png").write_bytes(_interlaced_png(arr16))
    np.testing.assert_array_equal(to_array(read_image(tmp_path / "i16.png")), arr16)
