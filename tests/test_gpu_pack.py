"""tools/gpu_pack.py, tools/gpu_chunk.sh and tools/gpu_unpack.py: a run packed in parts for a lent GPU machine,
resumed there (simulated here on the CPU, in a fake repository root) and brought back.

The machine is simulated by running gpu_chunk.sh from a folder holding only tools/ and src/, with each call's
part alone in .gpu/, the stash and the unpacked pack in their own folders, the device set to cpu and python to
this interpreter (which has pydantic, so the pack carries no wheels)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import smooth_image
from srgan.train.config import load_config, load_run_config
from srgan.train.data import ImageStore, read_path_list
from srgan.train.loop import train

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / "tools"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def tool(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, *map(str, args)] if str(args[0]).endswith(".py") else list(map(str, args))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=420, env=env or ENV, cwd=cwd)


def srgan_train(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "srgan", "train", *map(str, args)], capture_output=True, text=True,
                          timeout=180, env=ENV)


def one_line_error(res: subprocess.CompletedProcess, words: str) -> None:
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr and words in lines[0], res.stderr


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny real-photo GAN run as the shipped ones are made: effnet content loss, a U-Net discriminator, two
    sources (a folder with a sub-folder, a .txt list out of sorted order), a validation split excluded from
    training, hr_downscale 2; trained to step 4 of 4, then lengthened to 8 as a user's --steps would."""
    root = tmp_path_factory.mktemp("gpu")
    a = root / "photos"
    (a / "sub").mkdir(parents=True)
    for i, (h, w) in enumerate([(64, 80), (72, 72), (100, 60)]):
        Image.fromarray(smooth_image(h, w, i)).save(a / f"img{i}.png")
    Image.fromarray(smooth_image(70, 70, 9)).save(a / "sub" / "nested.jpg", quality=95)
    b = root / "cats"
    b.mkdir()
    for i in range(3):
        Image.fromarray(smooth_image(80, 96, 20 + i)).save(b / f"cat.{i}.jpg", quality=90)
    (root / "val.txt").write_text("cats/cat.0.jpg\n")
    (root / "list.txt").write_text("cats/cat.2.jpg\ncats/cat.1.jpg\ncats/cat.0.jpg\n")  # cat.0 is excluded
    cfg = load_config(None, dict(
        kind="srgan", data=[str(a), str(root / "list.txt")], exclude=[str(root / "val.txt")], val=str(root / "val.txt"),
        val_max_images=1, val_degradation="jpeg75", hr_downscale=2.0, generator={"num_blocks": 1, "channels": 8},
        crop=32, batch_size=2, steps=4, precision="fp32", checkpoint_every=2, val_every=2, log_every=1,
        keep_checkpoints=3, sample_images=1, seed=3, content_loss="effnet", discriminator="unet",
        discriminator_channels=8, threads=1, device="cpu"))
    out = train(cfg, out=root / "runs" / "run").run_dir
    text = (out / "config.yaml").read_text()
    (out / "config.yaml").write_text(text.replace("\nsteps: 4\n", "\nsteps: 8\n"))
    return out


@pytest.fixture(scope="module")
def pack(run: Path) -> Path:
    out = run.parent.parent / "pack"
    res = tool(TOOLS / "gpu_pack.py", run, "--out", out, "--part-mb", "6", "--no-wheels", "--seconds", "60")
    assert res.returncode == 0, res.stderr
    # The calls to make, carrying the parts from the repository's .gpu/ (where they are to be copied).
    assert '[".gpu/part.000", ".gpu/manifest.json"]' in res.stdout and "bash tools/gpu_chunk.sh run 60" in res.stdout
    return out


def unpacked(pack: Path, dest: Path) -> Path:
    data = b"".join((pack / p["name"]).read_bytes() for p in json.loads((pack / "manifest.json").read_text())["parts"])
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        tar.extractall(dest, filter="data")
    return dest


def test_the_pack_is_parts_of_one_tar_with_the_run_rewritten_for_the_machine(run, pack, tmp_path):
    m = json.loads((pack / "manifest.json").read_text())
    assert m["run"] == "run" and m["step"] == 4 and m["kind"] == "srgan" and len(m["parts"]) >= 3
    for p in m["parts"]:
        blob = (pack / p["name"]).read_bytes()
        assert len(blob) == p["bytes"] <= 6 * 2**20 and hashlib.sha256(blob).hexdigest() == p["sha256"]
    root = unpacked(pack, tmp_path)
    cfg = yaml.safe_load((root / "run" / "config.yaml").read_text())
    assert cfg["data"] == ["data/0-photos", "data/1-list"] and cfg["exclude"] == [] and cfg["hr_downscale"] == 1.0
    assert cfg["val"] == "val/val.txt" and cfg["init_generator"] is None and cfg["steps"] == 8
    assert sorted(p.name for p in (root / "run" / "checkpoints").iterdir()) == ["step_0000004.pt"]
    assert (root / "weights" / "efficientnet-lite0.pth").is_file() and not (root / "wheels").exists()
    # The validator's images as they are, under their own names (the jpeg75 preset is seeded by the name).
    assert read_path_list(root / "val" / "val.txt") == [(root / "val" / "files" / "cat.0.jpg").resolve()]
    assert (root / "val/files/cat.0.jpg").read_bytes() == (run.parent.parent / "cats/cat.0.jpg").read_bytes()
    # Stems where they keep the folder's order, an index where a list is not in it.
    assert sorted(p.name for p in (root / "data/0-photos").iterdir()) == [
        "img0.webp", "img1.webp", "img2.webp", "nested.webp"]
    assert sorted(p.name for p in (root / "data/1-list").iterdir()) == ["0-cat.2.webp", "1-cat.1.webp"]


def test_the_packed_images_decode_to_the_arrays_image_store_trains_on(run, pack, tmp_path):
    cfg = load_run_config(run)
    exclude = {p for txt in cfg.exclude for p in read_path_list(txt)}
    here = ImageStore(cfg.data, exclude=exclude, downscale=cfg.hr_downscale)
    root = unpacked(pack, tmp_path)
    there = ImageStore([str(root / "data/0-photos"), str(root / "data/1-list")], downscale=1.0)
    assert len(here) == len(there) == 6
    for i in range(len(here)):
        assert here[i].dtype == there[i].dtype == np.uint8 and np.array_equal(here[i], there[i]), i


def device_root(tmp_path: Path) -> tuple[Path, dict]:
    """A fake repository root as the machine gets it (tools/ and src/), and the environment of its calls."""
    repo = tmp_path / "repo"
    (repo / "tools").mkdir(parents=True)
    for name in ("gpu_chunk.sh", "train_for.py"):
        shutil.copy(TOOLS / name, repo / "tools" / name)
    (repo / "src").symlink_to(REPO / "src")
    (tmp_path / "out").mkdir()
    env = {**ENV, "SRGAN_GPU_DEVICE": "cpu", "SRGAN_GPU_PYTHON": sys.executable, "OUT": str(tmp_path / "out"),
           "SRGAN_GPU_ROOT": str(tmp_path / "root"), "SRGAN_GPU_STASH": str(tmp_path / "stash")}
    return repo, env


def carry(repo: Path, pack: Path, part: str) -> None:
    """This call's .gpu/: one part and the manifest, nothing left from the call before."""
    shutil.rmtree(repo / ".gpu", ignore_errors=True)
    (repo / ".gpu").mkdir()
    for name in (part, "manifest.json"):
        shutil.copy(pack / name, repo / ".gpu" / name)


def test_a_run_resumes_on_the_machine_exactly_and_comes_back_to_go_on_here(run, pack, tmp_path):
    parts = [p["name"] for p in json.loads((pack / "manifest.json").read_text())["parts"]]
    repo, env = device_root(tmp_path)
    for part in parts[:-2]:
        carry(repo, pack, part)
        res = tool("bash", "tools/gpu_chunk.sh", "stash", env=env, cwd=repo)
        assert res.returncode == 0 and f"carried {part}" in res.stdout, res.stderr
    # One part short: run names it and stops before anything else.
    carry(repo, pack, parts[-1])
    res = tool("bash", "tools/gpu_chunk.sh", "run", "40", env=env, cwd=repo)
    assert res.returncode == 3 and f"missing 1 of {len(parts)} parts: {parts[-2]}" in res.stderr
    carry(repo, pack, parts[-2])
    assert tool("bash", "tools/gpu_chunk.sh", "stash", env=env, cwd=repo).returncode == 0

    # The chunk ends at the run's last step long before its time: a slow or busy machine still gets there.
    res = tool("bash", "tools/gpu_chunk.sh", "run", "300", "--set", "device=cpu", env=env, cwd=repo)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "effnet weights: " + str(tmp_path / "root/weights/efficientnet-lite0.pth") in res.stdout
    out = tmp_path / "out"
    result = json.loads((out / "result.json").read_text())
    assert result["pack_step"] == result["start_step"] == 4 and result["step"] == 8
    assert sorted(p.name for p in out.iterdir()) <= sorted(
        ["result.json", "metrics.jsonl", "train.log", "model.safetensors", "model.json", *result["pieces"]])
    assert "plan: keep steps 8" in (out / "train.log").read_text()

    # The machine's run is the run: the same steps resumed here give the very same weights.
    local = tmp_path / "local" / "run"
    shutil.copytree(run, local)
    res = srgan_train("--resume", local)
    assert res.returncode == 0, res.stderr[-2000:]
    there = torch.load(tmp_path / "root/run/checkpoints/step_0000008.pt", weights_only=True)
    here = torch.load(local / "checkpoints/step_0000008.pt", weights_only=True)
    for net in ("generator", "generator_ema", "discriminator"):
        if net in here["models"]:
            for k, v in here["models"][net].items():
                assert torch.equal(v, there["models"][net][k]), (net, k)

    # Back here: the checkpoint joins into the run, the log goes on from the packed step, and training goes on.
    back = tmp_path / "back" / "run"
    shutil.copytree(run, back)
    res = tool(TOOLS / "gpu_unpack.py", out, back)
    assert res.returncode == 0, res.stderr
    assert (back / "checkpoints/step_0000008.pt").read_bytes() == (tmp_path / "root/run/checkpoints/step_0000008.pt").read_bytes()
    assert "already" in tool(TOOLS / "gpu_unpack.py", out, back).stdout
    steps = [json.loads(line)["step"] for line in (back / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and max(steps) == 8

    # A second chunk on the still-warm machine, carrying nothing: it goes on from the run left there.
    shutil.rmtree(repo / ".gpu")
    shutil.rmtree(out)
    out.mkdir()
    res = tool("bash", "tools/gpu_chunk.sh", "run", "300", "--set", "steps=10", env=env, cwd=repo)
    assert res.returncode == 0 and "holds this pack already" in res.stdout, res.stdout[-2000:] + res.stderr[-2000:]
    assert json.loads((out / "result.json").read_text())["start_step"] == 8
    res = tool(TOOLS / "gpu_unpack.py", out, back)
    assert res.returncode == 0 and "step 8 -> 10" in res.stdout, res.stderr

    res = srgan_train("--resume", back, "--steps", "12")
    assert res.returncode == 0, res.stderr[-2000:]
    assert (back / "checkpoints/step_0000012.pt").is_file()
    steps = [json.loads(line)["step"] for line in (back / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 12 and 9 in steps


def test_bad_input_is_one_line_and_a_non_zero_exit(run, pack, tmp_path):
    one_line_error(tool(TOOLS / "gpu_pack.py", tmp_path / "nope", "--out", tmp_path / "o", "--no-wheels"),
                   "not a run folder")
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(run / "config.yaml", bare / "config.yaml")
    one_line_error(tool(TOOLS / "gpu_pack.py", bare, "--out", tmp_path / "o", "--no-wheels"), "no checkpoints")
    # No network needed to see the wheel download fail: pip is told to use no index.
    res = tool(TOOLS / "gpu_pack.py", run, "--out", tmp_path / "o", env={**ENV, "PIP_NO_INDEX": "1"})
    one_line_error(res, "pip download of the machine's wheels (annotated-types==")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())

    one_line_error(tool(TOOLS / "gpu_unpack.py", tmp_path / "nope", run), "not a folder")
    one_line_error(tool(TOOLS / "gpu_unpack.py", tmp_path, run), "no result.json")
    repo, env = device_root(tmp_path)
    one_line_error(tool("bash", "tools/gpu_chunk.sh", "stash", env=env, cwd=repo), "no .gpu folder")
    one_line_error(tool("bash", "tools/gpu_chunk.sh", "run", "soon", env=env, cwd=repo), "usage")
    carry(repo, pack, "part.000")
    (repo / ".gpu/part.000").write_bytes(b"cut short")
    one_line_error(tool("bash", "tools/gpu_chunk.sh", "stash", env=env, cwd=repo), "sha256 differs")


def test_the_wheels_are_pydantic_and_what_it_needs_as_installed_here():
    sys.path.insert(0, str(TOOLS))
    try:
        import gpu_pack
    finally:
        sys.path.remove(str(TOOLS))
    from importlib import metadata

    reqs = dict(gpu_pack.wheel_requirements(python_version="3.12"))
    assert {"pydantic", "pydantic-core", "annotated-types", "typing-inspection"} <= set(reqs)
    assert reqs["pydantic"] == metadata.version("pydantic")
