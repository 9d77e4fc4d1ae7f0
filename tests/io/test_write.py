"""Tests for srgan.io.write: what each format keeps, and failures that leave nothing behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from io_samples import rgb, rgb16, save, srgb_profile
from srgan.errors import SrganError
from srgan.io.picture import from_array, to_pil
from srgan.io.read import read_image
from srgan.io.write import write_image


# ------------------------------------------------------------------ formats and metadata


def test_16bit_colour_reduced_to_8bit_for_other_formats(tmp_path: Path) -> None:
    arr = rgb16()
    write_image(tmp_path / "c.tif", from_array(arr))
    back = read_image(tmp_path / "c.tif")
    assert back.bit_depth == 8
    assert np.abs(back.pixels.astype(int) - arr / 257).max() <= 0.5
    assert to_pil(from_array(arr)).mode == "RGB"


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".tif"])
def test_icc_profile_is_copied(tmp_path: Path, ext: str) -> None:
    icc = srgb_profile()
    pic = read_image(save(Image.fromarray(rgb()), tmp_path / "s.png", icc_profile=icc))
    assert pic.icc_profile == icc
    write_image(tmp_path / f"out{ext}", pic)
    assert read_image(tmp_path / f"out{ext}").icc_profile == icc


def test_rgb_profile_is_not_attached_to_gray_output(tmp_path: Path) -> None:
    pic = from_array(rgb()[..., 0])
    pic.icc_profile = srgb_profile()
    write_image(tmp_path / "g.png", pic)
    assert read_image(tmp_path / "g.png").icc_profile is None


def test_jpeg_and_bmp_composite_alpha_onto_white(tmp_path: Path) -> None:
    arr = np.zeros((8, 8, 4), np.uint8)  # black, fully transparent
    for name in ("t.jpg", "t.bmp"):
        write_image(tmp_path / name, from_array(arr))
        back = read_image(tmp_path / name)
        assert back.alpha is None and back.pixels.min() >= 250


# ------------------------------------------------------------------------ writing errors


def test_write_to_missing_or_bad_folder(tmp_path: Path) -> None:
    pic = from_array(rgb())
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
        write_image(target, from_array(rgb()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    assert target.read_bytes() == b"previous"
