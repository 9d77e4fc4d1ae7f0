"""The README's first quick-start command, `make demo`, as a fresh checkout runs it: no output folder yet.

It once failed there ("folder out does not exist") while the suite passed, because only `make test` runs in CI and
every working copy already had out/.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from srgan.models.zoo import default_upscaler

CHECKOUT = Path(__file__).resolve().parents[1]


def test_make_demo_creates_its_output_folder_and_upscales_the_bundled_photo(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    # Only when the environment is installed and up to date: a stale stamp would make `make` reinstall.
    if subprocess.run(["make", "-q", ".venv/.installed-stamp"], cwd=CHECKOUT).returncode != 0:
        pytest.skip("the checkout's .venv is not installed by make (run `make install`)")
    out = tmp_path / "fresh" / "out"  # two levels that do not exist yet
    run = subprocess.run(["make", "demo", f"OUT={out}"], cwd=CHECKOUT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    with Image.open(CHECKOUT / "examples" / "chelsea.png") as src, Image.open(out / "chelsea_x4.png") as sr:
        assert sr.size == (src.width * 4, src.height * 4)
    # Each evaluate prints its row for the bundled photo: bicubic, then the default, on the clean copy, then on JPEG 75,
    # where the row also has a blockiness column.
    rows = [line.split() for line in run.stdout.splitlines() if line.startswith("examples ")]
    default = default_upscaler()
    assert [r[1] for r in rows] == ["bicubic", default, "bicubic", default], run.stdout
    assert [r[3] for r in rows[2:]] == ["jpeg75", "jpeg75"] and all(float(r[5]) > 25 for r in rows[2:]), run.stdout
    assert all(float(r[4]) > 25 for r in rows[:2]), run.stdout
