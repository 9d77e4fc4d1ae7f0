"""Tests for srgan.io.files: atomic writes and which files in a folder are images."""

from __future__ import annotations

from pathlib import Path

import pytest

from srgan.errors import SrganError
from srgan.io.files import atomic_path, atomic_write_bytes, atomic_write_json, list_images
from srgan.train.data import find_image_files


# ------------------------------------------------------------------------- atomic writes


def test_atomic_helpers(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "a.json", b"{}")
    assert (tmp_path / "a.json").read_bytes() == b"{}"
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "b.bin") as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".bin"
        tmp.write_bytes(b"half")
        raise RuntimeError("writer crashed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_atomic_write_json_keeps_key_order_and_ends_with_newline(tmp_path: Path) -> None:
    atomic_write_json(tmp_path / "card.json", {"name": "x", "scale": 4, "metrics": [1.5]})
    text = (tmp_path / "card.json").read_text()
    assert text == '{\n  "name": "x",\n  "scale": 4,\n  "metrics": [\n    1.5\n  ]\n}\n'


def test_atomic_write_json_leaves_the_old_file_when_obj_is_not_json(tmp_path: Path) -> None:
    (tmp_path / "card.json").write_text("old")
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "card.json", {"weights": object()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.json"]
    assert (tmp_path / "card.json").read_text() == "old"


# ------------------------------------------------------------------------ listing images


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


def test_cli_inputs_and_datasets_take_the_same_files(tmp_path: Path) -> None:
    """list_images (CLI inputs) and find_image_files (training and evaluation sets) share one rule:
    image extensions in any case, no dotfiles, no AppleDouble ``._`` forks, no hidden folders, sorted."""
    wanted = ["A.PNG", "b.jpg", "c.Jpeg", "sub/d.webp", "sub/e.tif"]
    unwanted = ["._b.jpg", ".hidden.png", "sub/._d.webp", ".cache/f.png", "notes.txt", "g.gif"]
    for rel in wanted + unwanted:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    expected = [tmp_path / rel for rel in wanted]
    assert list_images([tmp_path]) == expected
    assert find_image_files(tmp_path) == expected
