"""srgan.infer.batch: files in, files out for upscale, denoise, restore and degrade.

No network runs here: a stand-in model (nearest-neighbour ×4, or the identity for a denoiser) takes the place
of srgan.infer.model.load, so these tests are about inputs, outputs, checks and cleanup, on tiny images.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import srgan.infer.model as model_module
from conftest import smooth_image
from srgan.cli import main
from srgan.errors import SrganError
from srgan.infer.batch import BatchOptions, plan_batch, run_batch
from srgan.io.picture import Picture
from srgan.ops.imresize import imresize_uint8

REPO = Path(__file__).resolve().parents[2]


class StandIn:
    """What the CLI uses of a Model: name, kind, scale and process(); nearest-neighbour, so instant."""

    def __init__(self, name: str, kind: str, scale: int) -> None:
        self.name, self.kind, self.scale = name, kind, scale

    def process(self, pic: Picture, *, outscale=None, **_) -> Picture:
        s = int(outscale or self.scale)
        alpha = None if pic.alpha is None else pic.alpha.repeat(s, 0).repeat(s, 1)
        return Picture(pixels=pic.pixels.repeat(s, 0).repeat(s, 1), alpha=alpha, mode=pic.mode)


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """Stand-in models for srgan.infer.model.load ("den..." is a denoiser); the names loaded, in order."""
    names: list[str] = []

    def load(name, **_):
        names.append(str(name))
        return StandIn(str(name), "denoiser", 1) if str(name).startswith("den") else StandIn(str(name), "srresnet", 4)

    monkeypatch.setattr(model_module, "load", load)
    monkeypatch.setattr(model_module, "default_upscaler", lambda: "up")
    return names


def _png(path: Path, h: int = 8, w: int = 8, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(smooth_image(h, w, seed)).save(path)
    return path


def _err_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*.tmp*"))


# ------------------------------------------------------------------------------- symbolic-link loops


def _folder_with_a_link_loop(tmp_path: Path) -> Path:
    d = tmp_path / "d"
    _png(d / "x.png")
    (d / "a.png").symlink_to("b")
    (d / "b").symlink_to("a.png")
    return d


def test_a_symlink_loop_is_skipped_with_one_warning_and_the_rest_is_done(tmp_path, loads, capsys):
    d = _folder_with_a_link_loop(tmp_path)
    out = tmp_path / "out"
    assert main(["upscale", str(d), "-o", str(out), "--no-progress"]) == 0
    err = _err_lines(capsys)
    assert err == [f"srgan: warning: {d / 'a.png'}: a symbolic link loop; skipped"]
    assert sorted(p.name for p in out.iterdir()) == ["x_x4.png"]
    # A glob reaches the loop too; naming the loop itself is a one-line error.
    assert main(["upscale", str(d / "*.png"), "-o", str(tmp_path / "out2"), "--no-progress"]) == 0
    assert "symbolic link loop; skipped" in capsys.readouterr().err
    assert main(["upscale", str(d / "a.png"), "-o", str(tmp_path / "out3")]) == 1
    assert _err_lines(capsys) == [f"srgan: error: {d / 'a.png'}: a symbolic link loop, not a file"]


def test_degrade_skips_a_symlink_loop_too(tmp_path, capsys):
    d = _folder_with_a_link_loop(tmp_path)
    assert main(["degrade", str(d), "-o", str(tmp_path / "lr"), "--scale", "2"]) == 0
    cap = capsys.readouterr()
    assert "a symbolic link loop; skipped" in cap.err and "Traceback" not in cap.err
    assert "1 written, 0 failed" in cap.out and (tmp_path / "lr" / "x.png").is_file()


# ----------------------------------------------------------------------- checks before any model load


@pytest.fixture
def no_load(monkeypatch) -> None:
    def load(name, **_):
        raise AssertionError(f"model {name} was loaded before the arguments were checked")

    monkeypatch.setattr(model_module, "load", load)
    monkeypatch.setattr(model_module, "default_upscaler", lambda: "up")


COMMANDS = ["upscale", "denoise", "restore"]


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_arguments_and_inputs_are_refused_before_a_model_loads(tmp_path, no_load, capsys, command):
    a = str(_png(tmp_path / "a.png"))
    b = str(_png(tmp_path / "b.png", seed=1))
    (tmp_path / "file").write_text("x")
    o = str(tmp_path / "o")
    cases = [
        ([str(tmp_path / "nope.png"), "-o", str(tmp_path / "x.png")], 1, "nope.png: no such file or folder"),
        ([a, "-o", o, "--quality", "1000"], 2, "--quality must be between 1 and 100"),
        ([a, "-o", str(tmp_path / "res.gif")], 2, ".gif is not an output format"),
        ([a, b, "-o", str(tmp_path / "one.png")], 2, "names one file, but there are 2 input images"),
        ([a, "-o", str(tmp_path / "missing" / "a.png")], 1, "does not exist"),
        ([a, "-o", str(tmp_path / "file" / "sub")], 1, "cannot create the output folder"),
        ([a, "-o", o, "--max-pixels", "-1"], 2, "--max-pixels must be 0"),
        ([a, "-o", o, "--max-output-pixels", "-1"], 2, "--max-output-pixels must be 0"),
        ([a, "-o", o, "--tile", "-3"], 1, "must not be negative"),
        ([a, "-o", o, "--tile-overlap", "-1"], 1, "must not be negative"),
        ([a, "-o", o, "--suffix", "/x"], 2, "path separator"),
    ]
    if command == "upscale":
        cases.append(([a, "-o", o, "--outscale", "0"], 2, "--outscale must be in (0, 16]"))
    for args, code, message in cases:
        assert main([command, *args]) == code, args
        err = _err_lines(capsys)
        assert len(err) == 1 and err[0].startswith("srgan: error: ") and message in err[0], (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "file"]  # nothing created
    # With every check passed the model is loaded (the stand-in refuses, which proves the cases above stopped early).
    with pytest.raises(AssertionError, match="was loaded"):
        main([command, a, "-o", o])


def test_an_unknown_output_extension_is_a_folder_only_when_asked(tmp_path, loads, capsys):
    a, b = _png(tmp_path / "a.png"), _png(tmp_path / "b.png", seed=1)
    assert main(["upscale", str(a), "-o", str(tmp_path / "res.gif")]) == 2
    assert not (tmp_path / "res.gif").exists() and loads == []
    assert main(["upscale", str(a), "-o", str(tmp_path / "v1.5") + "/", "--no-progress"]) == 0
    assert (tmp_path / "v1.5" / "a_x4.png").is_file()
    # Several inputs cannot go to one file, so the name is a folder's, as before.
    assert main(["upscale", str(a), str(b), "-o", str(tmp_path / "res.gif"), "--no-progress"]) == 0
    assert sorted(p.name for p in (tmp_path / "res.gif").iterdir()) == ["a_x4.png", "b_x4.png"]


def test_plan_batch_checks_without_creating_anything(tmp_path):
    _png(tmp_path / "in" / "a.png")
    plan = plan_batch([str(tmp_path / "in")], str(tmp_path / "deep" / "er" / "out"))
    assert not (tmp_path / "deep").exists() and not plan.file_mode
    result = plan.run(lambda pic: (pic, {}), BatchOptions(suffix="_same"))
    assert result == (1, 0, 0) and (tmp_path / "deep" / "er" / "out" / "a_same.png").is_file()
    with pytest.raises(SrganError, match="quality"):
        BatchOptions(suffix="_x", quality=0)


# ------------------------------------------------------------------- a folder that is input and output


def test_running_twice_into_the_input_folder_does_not_redo_its_results(tmp_path, loads, capsys):
    d = tmp_path / "d"
    _png(d / "t00.png")
    _png(d / "sub" / "t01.png", seed=1)
    assert main(["upscale", str(d), "-o", str(d), "--no-progress"]) == 0
    first = {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*_x4.png")}
    assert sorted(first) == ["sub/t01_x4.png", "t00_x4.png"]
    capsys.readouterr()
    _png(d / "t02.png", seed=2)
    assert main(["upscale", str(d), "-o", str(d), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 earlier results of this command, not taken as inputs" in out
    assert "1 written, 0 failed, 2 skipped" in out
    assert sorted(p.relative_to(d).as_posix() for p in d.rglob("*.png")) == [
        "sub/t01.png", "sub/t01_x4.png", "t00.png", "t00_x4.png", "t02.png", "t02_x4.png"]
    assert {k: (d / k).read_bytes() for k in first} == first  # the earlier results are untouched


def test_a_file_named_like_a_result_is_never_overwritten(tmp_path, loads, capsys):
    d = tmp_path / "d"
    _png(d / "photo.png")
    theirs = _png(d / "photo_x4.png", 5, 7, seed=3)  # the user's own file, whatever made it
    before = theirs.read_bytes()
    assert main(["upscale", str(d), "-o", str(d), "--no-progress"]) == 0
    assert theirs.read_bytes() == before and sorted(p.name for p in d.iterdir()) == ["photo.png", "photo_x4.png"]
    assert "its result" in capsys.readouterr().out


def test_an_output_folder_inside_the_input_folder_is_not_reprocessed(tmp_path, loads, capsys):
    d = tmp_path / "d"
    _png(d / "t.png")
    for _ in range(2):
        assert main(["upscale", str(d), "-o", str(d / "up"), "--no-progress"]) == 0
    assert sorted(p.relative_to(d).as_posix() for p in d.rglob("*.png")) == ["t.png", "up/t_x4.png"]


def test_restore_intermediates_are_results_too(tmp_path, capsys):
    d = tmp_path / "d"
    _png(d / "n.png")
    options = BatchOptions(suffix="_restored", save_intermediate=True, intermediates=("denoised",))
    step = StandIn("x", "srresnet", 2).process

    for _ in range(2):
        run_batch([str(d)], str(d), lambda pic: (step(pic), {"denoised": pic}), options)
    assert sorted(p.name for p in d.iterdir()) == ["n.png", "n_restored.png", "n_restored_denoised.png"]


def test_an_empty_suffix_still_refuses_to_overwrite_an_input(tmp_path, loads, capsys):
    a = _png(tmp_path / "a.png")
    before = a.read_bytes()
    assert main(["upscale", str(a), "-o", str(tmp_path), "--suffix", "", "--no-progress"]) == 1
    assert "would overwrite an input" in capsys.readouterr().err and a.read_bytes() == before


# ------------------------------------------------------------------------ temporary files after a kill


KILLED_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import srgan.infer.model as model_module
    import srgan.io.write as write_module
    from srgan.cli import main
    from srgan.io.picture import Picture

    class StandIn:
        name, kind, scale = "up", "srresnet", 4
        def process(self, pic, **_):
            return Picture(pixels=pic.pixels.repeat(4, 0).repeat(4, 1))

    def stuck_encode(out, *_):
        out.write(b"half an image")
        out.flush()
        Path(sys.argv[1]).touch()  # the temporary file exists and is being written: kill now
        time.sleep(120)

    model_module.load = lambda name, **_: StandIn()
    model_module.default_upscaler = lambda: "up"
    write_module._encode = stuck_encode
    sys.exit(main(sys.argv[2:]))
""")


def _kill_mid_write(tmp_path: Path, out: Path, sig: int) -> subprocess.CompletedProcess:
    src = _png(tmp_path / "in" / "a.png")
    ready = tmp_path / f"writing-{sig}"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(ready), "upscale", str(src), "-o", str(out),
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    deadline = time.monotonic() + 120
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run never reached its write: {proc.communicate()}")
        time.sleep(0.05)
    assert len(_temps(out)) == 1  # caught in the middle of the write
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def test_sigterm_during_a_write_removes_the_temporary_file(tmp_path):
    out = tmp_path / "out"
    r = _kill_mid_write(tmp_path, out, signal.SIGTERM)
    assert r.returncode == 128 + signal.SIGTERM, r.stderr
    assert r.stderr.strip().splitlines() == ["srgan: terminated"]
    assert list(out.iterdir()) == []


def test_the_next_run_removes_what_a_killed_run_left(tmp_path, loads, capsys):
    out = tmp_path / "out"
    r = _kill_mid_write(tmp_path, out, signal.SIGKILL)
    assert r.returncode == -signal.SIGKILL
    left = _temps(out)
    assert len(left) == 1 and left[0].startswith(".a_x4.png.")
    assert main(["upscale", str(tmp_path / "in"), "-o", str(out), "--no-progress"]) == 0
    assert "removed 1 temporary file left in" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["a_x4.png"]


# ------------------------------------------------------------------------------------------ degrade


def test_degrade_keeps_names_and_uses_matlab_bicubic(image_folder, tmp_path, capsys):
    out = tmp_path / "lr"
    assert main(["degrade", str(image_folder), "-o", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["img0.png", "img1.png", "img2.png", "nested.png"]
    hr = np.asarray(Image.open(image_folder / "img0.png"))
    lr = np.asarray(Image.open(out / "img0.png"))
    assert lr.shape == (16, 20, 3) and np.array_equal(lr, imresize_uint8(hr, scale=0.25))
    assert "4 written, 0 failed" in capsys.readouterr().out


def test_degrade_noise_is_added_after_the_downscale_and_seeded_per_file(tmp_path):
    src = tmp_path / "a.png"
    hr = smooth_image(64, 64)
    Image.fromarray(hr).save(src)
    for name, seed in (("o1", 0), ("o2", 0), ("o3", 1)):
        assert main(["degrade", str(src), "-o", str(tmp_path / name), "--noise", "0.1", "--seed", str(seed)]) == 0
    a, b, c = (np.asarray(Image.open(tmp_path / n / "a.png")).astype(float) for n in ("o1", "o2", "o3"))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    clean = imresize_uint8(hr, scale=0.25).astype(float)
    assert 0.07 * 255 < (a - clean).std() < 0.13 * 255
    # The same file among others gets the same noise: the seed is (seed, file name), not the file's position.
    Image.fromarray(smooth_image(16, 16, 5)).save(tmp_path / "0first.png")
    assert main(["degrade", str(tmp_path / "0first.png"), str(src), "-o", str(tmp_path / "o4"), "--noise", "0.1"]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o4" / "a.png")).astype(float), a)


def test_degrade_scale_one_makes_noisy_copies_only(tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(30, 40)).save(src)
    assert main(["degrade", str(src), "-o", str(tmp_path / "n"), "--scale", "1", "--noise", "0.2"]) == 0
    assert Image.open(tmp_path / "n" / "a.png").size == (40, 30)


def test_degrade_reports_bad_files_and_goes_on(image_folder, tmp_path, capsys):
    (image_folder / "zz_bad.png").write_bytes(b"")
    assert main(["degrade", str(image_folder), "-o", str(tmp_path / "lr")]) == 1
    captured = capsys.readouterr()
    assert "zz_bad.png" in captured.err and "Traceback" not in captured.err
    assert "4 written, 1 failed" in captured.out
    assert main(["degrade", str(tmp_path / "missing.png"), "-o", str(tmp_path / "x")]) == 1
    assert main(["degrade", str(image_folder), "-o", str(tmp_path / "x"), "--noise", "3"]) == 1
    assert main(["degrade", str(image_folder / "img0.png"), "-o", str(image_folder)]) == 1  # would overwrite it
    assert "would overwrite the input" in capsys.readouterr().err
    # two inputs with one output name: the first is written, the second refused, never silently overwritten
    other = tmp_path / "other"
    other.mkdir()
    (other / "img0.png").write_bytes((image_folder / "img1.png").read_bytes())
    out = tmp_path / "clash"
    assert main(["degrade", str(image_folder / "img0.png"), str(other / "img0.png"), "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert f"the output {out / 'img0.png'} is also the output of {image_folder / 'img0.png'}" in captured.err
    assert "1 written, 1 failed" in captured.out and sorted(p.name for p in out.iterdir()) == ["img0.png"]
    # an image smaller than the scale is refused by name, not shrunk to a pixel
    from PIL import Image

    Image.new("RGB", (3, 9)).save(other / "tiny.png")
    assert main(["degrade", str(other / "tiny.png"), "-o", str(tmp_path / "t")]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"srgan: error: {other / 'tiny.png'}: 3x9 is smaller than the scale 4 on a side"]


def test_degrade_keeps_alpha_and_16_bits(tmp_path):
    from srgan.io.read import read_image
    from srgan.io.write import write_image

    pixels = (smooth_image(16, 24).astype(np.uint16) * 257)
    alpha = np.full((16, 24), 65535, np.uint16)
    write_image(tmp_path / "w.png", Picture(pixels=pixels, alpha=alpha))
    assert main(["degrade", str(tmp_path / "w.png"), "-o", str(tmp_path / "lr"), "--scale", "2"]) == 0
    back = read_image(tmp_path / "lr" / "w.png")
    assert back.pixels.dtype == np.uint16 and back.pixels.shape == (8, 12, 3) and back.alpha.shape == (8, 12)
    assert os.listdir(tmp_path / "lr") == ["w.png"]
