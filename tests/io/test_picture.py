"""Tests for srgan.io.picture: the Picture model and its array and Pillow conversions."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from io_samples import RNG
from srgan.errors import SrganError
from srgan.io.picture import Picture, from_array, from_pil, to_array, to_pil, to_u8

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "srgan"


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


def test_to_u8_rounds_every_16_bit_value_to_nearest() -> None:
    v = np.arange(65536, dtype=np.uint16)
    np.testing.assert_array_equal(to_u8(v), np.rint(v / 257.0).astype(np.uint8))
    assert to_u8(np.array([0, 65535], np.uint16)).tolist() == [0, 255]
    u8 = RNG.integers(0, 256, (4, 4, 3)).astype(np.uint8)
    assert to_u8(u8) is u8


def _imported_modules(folder: Path) -> dict[str, set[str]]:
    """Every srgan module each file in ``folder`` imports, at the top or inside a function."""
    found = {}
    for path in sorted(folder.glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[path.name] = {n for n in names if n.startswith("srgan.")}
    return found


def test_io_and_ops_do_not_import_each_other() -> None:
    """io/ (files, bytes, Pictures) and ops/ (arrays) sit side by side: neither may need the other, so array
    code runs without Pillow-level file handling and the readers never pull in torch-backed resizing."""
    io_uses_ops = {f: sorted(m for m in ms if m.startswith("srgan.ops")) for f, ms in _imported_modules(PACKAGE / "io").items()}
    ops_uses_io = {f: sorted(m for m in ms if m.startswith("srgan.io")) for f, ms in _imported_modules(PACKAGE / "ops").items()}
    assert {f: ms for f, ms in io_uses_ops.items() if ms} == {}
    assert {f: ms for f, ms in ops_uses_io.items() if ms} == {}
    assert "picture.py" in io_uses_ops and "degrade.py" in ops_uses_io  # the scan saw the files it is about
