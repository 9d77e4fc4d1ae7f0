"""Tests for srgan.io.files: atomic writes and which files in a folder are images."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from srgan.errors import SrganError
from srgan.io.files import atomic_path, atomic_write_bytes, atomic_write_json, image_files_in, list_images, remove_stale_temps
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


def test_symlink_loops_are_skipped_and_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "x.png").write_bytes(b"x")
    (tmp_path / "a.png").symlink_to("b")
    (tmp_path / "b").symlink_to("a.png")
    (tmp_path / "gone.png").symlink_to("nowhere.png")  # dangling, not a loop: kept for the reader to report
    skipped: list[tuple[Path, str]] = []
    assert list_images([tmp_path], on_skip=lambda p, why: skipped.append((p, why))) == [tmp_path / "gone.png", tmp_path / "x.png"]
    assert skipped == [(tmp_path / "a.png", "a symbolic link loop")]
    assert list_images([str(tmp_path / "*.png")], on_skip=lambda p, why: skipped.append((p, why)))[-1] == tmp_path / "x.png"
    assert len(skipped) == 2
    with caplog.at_level(logging.WARNING, logger="srgan.io.files"):
        assert image_files_in(tmp_path) == [tmp_path / "gone.png", tmp_path / "x.png"]  # training sets too
    assert [r.getMessage() for r in caplog.records] == [f"{tmp_path / 'a.png'}: a symbolic link loop; skipped"]
    with pytest.raises(SrganError, match="a.png: a symbolic link loop"):
        list_images([tmp_path / "a.png"])


# ---------------------------------------------------------------------- temporary files of killed runs


def _ended_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_temporary_names_carry_the_writer_pid(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "a.png") as tmp:
        assert tmp.name.startswith(f".a.png.{os.getpid()}-") and tmp.name.endswith(".tmp.png")
        assert remove_stale_temps(tmp_path) == [] and tmp.exists()  # our own, still being written


def test_remove_stale_temps_takes_only_its_own_pattern_from_ended_runs(tmp_path: Path) -> None:
    dead, alive = _ended_pid(), os.getppid()
    names = {
        f".a.png.{dead}-0123abcd.tmp.png": True,  # its writer has ended
        ".b.jpg.89abcdef.tmp.jpg": False,  # old-style name (no PID), fresh: perhaps still being written
        ".c.jpg.fedcba98.tmp.jpg": True,  # old-style and untouched for an hour
        f".d.png.{alive}-0123abcd.tmp.png": False,  # a running process's
        f".e.png.{alive}-01234567.tmp.png": True,  # running PID, but untouched for an hour: reused PID
        f".f.png.{dead}-0123abcd.tmp.jpg": False,  # extension does not match the final name's: not ours
        f".g.png.{dead}-0123abcz.tmp.png": False,  # not hex
        f"h.png.{dead}-0123abcd.tmp.png": False,  # not hidden
        ".notes.txt": False,
        "photo.png": False,
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    hour_ago = time.time() - 3600
    for name in (".c.jpg.fedcba98.tmp.jpg", f".e.png.{alive}-01234567.tmp.png"):
        os.utime(tmp_path / name, (hour_ago, hour_ago))
    (tmp_path / f".dir.png.{dead}-0123abcd.tmp.png").mkdir()  # a folder of that name is not a temporary file
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / f".a.png.{dead}-0123abcd.tmp.png").write_bytes(b"x")  # below the folder: not touched
    removed = remove_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == sorted(n for n, stale in names.items() if stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [n for n, stale in names.items() if not stale] + [f".dir.png.{dead}-0123abcd.tmp.png", "sub"])
    assert (tmp_path / "sub" / f".a.png.{dead}-0123abcd.tmp.png").exists()
    assert remove_stale_temps(tmp_path / "missing") == []
