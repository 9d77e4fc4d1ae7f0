"""Checkpoints: atomic files, last K + best, exact resume (EMA included), older runs' checkpoints, SIGKILL, and
ten random kill -9s and resumes leaving one clean metrics.jsonl."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from srgan.errors import SrganError
from srgan.models import zoo
from srgan.train.checkpoint import exported_weights, load_latest, save_checkpoint
from srgan.train.loop import Trainer, train
from train_runs import cli, max_diff, tiny_cfg, wait_for, weights, write_cfg


def test_save_checkpoint_keeps_the_last_k_steps_and_best(tmp_path):
    ckpts = tmp_path / "checkpoints"
    for step in (2, 4, 6, 8):
        save_checkpoint(ckpts, {"step": step, "models": {}}, keep=2, best=step == 4)
    assert sorted(p.name for p in ckpts.iterdir()) == ["best.pt", "step_0000006.pt", "step_0000008.pt"]
    assert torch.load(ckpts / "best.pt", weights_only=True)["step"] == 4


def test_resume_reads_the_newest_readable_checkpoint(tmp_path, capsys):
    ckpts = tmp_path / "checkpoints"
    save_checkpoint(ckpts, {"step": 2}, keep=3)
    (ckpts / "step_0000004.pt").write_bytes(b"torn")
    assert load_latest(tmp_path)["step"] == 2
    assert "step_0000004.pt unreadable" in capsys.readouterr().err
    with pytest.raises(SrganError, match="no checkpoint to resume from"):
        load_latest(tmp_path / "empty")


def test_exported_weights_are_the_ema_generator_when_there_is_one():
    plain, ema = {"w": torch.zeros(1)}, {"w": torch.ones(1)}
    assert exported_weights({"config": {"kind": "srgan"}, "models": {"generator": plain}}) is plain
    assert exported_weights({"config": {"kind": "srgan"}, "models": {"generator": plain, "generator_ema": ema}}) is ema
    assert exported_weights({"config": {"kind": "denoiser"}, "models": {"denoiser": plain}}) is plain


def test_resume_matches_an_uninterrupted_run(tmp_path, image_folder):
    full = train(tiny_cfg(image_folder, val=None), out=tmp_path / "full").run_dir
    part = train(tiny_cfg(image_folder, val=None, steps=4), out=tmp_path / "part").run_dir
    resumed = train(None, resume=part, overrides={"steps": 6}).run_dir
    assert max_diff(weights(full), weights(resumed)) <= 1e-5


def test_checkpoints_of_older_runs_resume(tmp_path, image_folder):
    run = train(tiny_cfg(image_folder, steps=3, val_every=3, checkpoint_every=3), out=tmp_path / "run").run_dir
    path = run / "checkpoints" / "step_0000003.pt"
    ckpt = torch.load(path, weights_only=True)
    # Runs made before the selection rules kept their best validation PSNR as best_psnr and had no ref_psnr.
    ckpt["best_psnr"] = ckpt.pop("best_score")
    del ckpt["ref_psnr"]
    torch.save(ckpt, path)
    trainer = Trainer(tiny_cfg(image_folder, steps=3), run, resume=True)
    assert trainer.step == 3 and trainer.state.best == ckpt["best_psnr"] and trainer.state.ref_psnr is None
    assert max_diff(trainer.model.state_dict(), ckpt["models"]["generator"]) == 0


def test_existing_run_is_never_overwritten(tmp_path, image_folder):
    run = train(tiny_cfg(image_folder, val=None, steps=2), out=tmp_path / "run").run_dir
    before = {p.name: p.stat().st_mtime_ns for p in (run / "checkpoints").iterdir()}
    with pytest.raises(SrganError, match="already holds a run"):
        train(tiny_cfg(image_folder, val=None, steps=2), out=run)
    assert before == {p.name: p.stat().st_mtime_ns for p in (run / "checkpoints").iterdir()}
    # a folder of the user's own files is not a run folder to write into
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.jsonl").write_text("my notes\n")
    with pytest.raises(SrganError, match="the folder is not empty"):
        train(tiny_cfg(image_folder, val=None, steps=2), out=mine)
    assert (mine / "metrics.jsonl").read_text() == "my notes\n" and sorted(p.name for p in mine.iterdir()) == ["metrics.jsonl"]
    with pytest.raises(SrganError, match="exists and is not a folder"):
        train(tiny_cfg(image_folder, val=None, steps=2), out=mine / "metrics.jsonl")
    # a run whose checkpoints are gone is not started over on top of its model
    model = (run / "model.safetensors").read_bytes()
    for p in (run / "checkpoints").iterdir():
        p.unlink()
    with pytest.raises(SrganError, match="no checkpoint to resume from in checkpoints/.*overwrite its model"):
        train(None, resume=run)
    assert (run / "model.safetensors").read_bytes() == model


def test_ema_is_checkpointed_resumed_exactly_validated_and_exported(tmp_path, image_folder):
    kw = dict(val_every=2, ema_decay=0.5, lr=1e-3)
    full = train(tiny_cfg(image_folder, **kw), out=tmp_path / "full").run_dir
    part = train(tiny_cfg(image_folder, **kw, steps=4), out=tmp_path / "part").run_dir
    resumed = train(None, resume=part, overrides={"steps": 6}).run_dir
    for name in ("generator", "generator_ema"):
        assert max_diff(weights(full, name), weights(resumed, name)) <= 1e-5
    assert max_diff(weights(full), weights(full, "generator_ema")) > 0  # the average lags the weights
    best = torch.load(full / "checkpoints" / "best.pt", weights_only=True)
    state, card = zoo.load_state(full / "model.safetensors")
    assert max_diff(state, best["models"]["generator_ema"]) == 0 and card["ema_decay"] == 0.5
    # what was validated is what was exported: the EMA generator's PSNR
    val = {r["step"]: r for r in map(json.loads, (full / "metrics.jsonl").read_text().splitlines()) if "val_psnr_y" in r}
    assert card["validation"]["val_psnr_y"] == pytest.approx(val[best["step"]]["val_psnr_y"])


def test_sigkill_then_resume_reaches_the_same_weights(tmp_path, image_folder):
    cfg = write_cfg(tmp_path, image_folder, steps=40)
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cli("train", str(cfg), "--out", str(run)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert wait_for(lambda: len(list((run / "checkpoints").glob("step_*.pt"))) >= 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = int(sorted((run / "checkpoints").glob("step_*.pt"))[-1].stem.split("_")[1])
    assert killed_at < 40
    # Atomic writes: whatever the kill interrupted, every checkpoint under its final name is complete.
    for ckpt in (run / "checkpoints").glob("step_*.pt"):
        assert torch.load(ckpt, weights_only=True)["step"] == int(ckpt.stem.split("_")[1])
    # The resumed run and the reference run as processes like the killed one, with the same thread
    # count: Adam turns float-rounding differences from other thread counts into visible ones.
    assert subprocess.run(cli("train", "--resume", str(run)), env=env, capture_output=True).returncode == 0
    assert (run / "checkpoints" / "step_0000040.pt").exists()
    reference = tmp_path / "ref"
    assert subprocess.run(cli("train", str(cfg), "--out", str(reference)), env=env, capture_output=True).returncode == 0
    assert max_diff(weights(reference), weights(run)) <= 1e-5


def _records(log) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _newest_checkpoint(run) -> int:
    ckpts = sorted((run / "checkpoints").glob("step_*.pt"))
    return int(ckpts[-1].stem.split("_")[1]) if ckpts else 0


def test_ten_random_kill_9s_and_resumes_leave_each_step_once_in_order(tmp_path, image_folder):
    # The bar: kill -9 at random times (a fixed seed picks them), resume, ten times; metrics.jsonl must
    # then hold one clean series. Logging every step with checkpoints every 7 makes nearly every kill leave
    # records past the checkpoint the next run restarts from: the repeats that truncation has to remove.
    rng = random.Random(21)
    cfg = write_cfg(tmp_path, image_folder, steps=1_000_000, checkpoint_every=7, log_every=1, val=str(image_folder),
                    val_every=5, val_max_images=1, sample_images=1)
    run, log = tmp_path / "run", tmp_path / "run" / "metrics.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ahead = 0  # kills that left logged steps past the newest checkpoint
    for i in range(10):
        start, before = _newest_checkpoint(run), log.read_text() if log.exists() else ""
        args = ("train", str(cfg), "--out", str(run)) if i == 0 else ("train", "--resume", str(run))
        proc = subprocess.Popen(cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        # This process trains once it has logged the step after its checkpoint (or step 1 where the kill came
        # before the first checkpoint, when the old log holds one already: hence "changed").
        assert wait_for(lambda: log.exists() and (text := log.read_text()) != before and f'"step": {start + 1},' in text)
        time.sleep(rng.uniform(0.0, 0.6))
        assert proc.poll() is None  # the kill lands on a running process
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        text = log.read_text()
        ahead += max((json.loads(x)["step"] for x in text.splitlines() if x.endswith("}")), default=0) > _newest_checkpoint(run)
    assert ahead >= 5
    last = _newest_checkpoint(run) + 12
    r = subprocess.run(cli("train", "--resume", str(run), "--steps", str(last)), env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    records = _records(log)
    steps = [r["step"] for r in records]
    assert steps == sorted(steps)
    assert [r["step"] for r in records if "loss" in r] == list(range(1, last + 1))
    assert [r["step"] for r in records if "val_psnr_y" in r] == sorted({*range(5, last + 1, 5), last})
    # What the kills interrupted mid-write (checkpoints, panels, the model, the log) left no temp file behind.
    assert not [p for p in run.rglob("*") if ".tmp" in p.name]


def test_a_resume_removes_the_temp_files_a_killed_run_left(tmp_path, image_folder):
    run = train(tiny_cfg(image_folder, steps=2, val_every=2, checkpoint_every=2), out=tmp_path / "run").run_dir
    pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout)
    # atomic_path's names (srgan.io.files) as a run killed mid-write leaves them; that process has ended
    stale = [run / "checkpoints" / f".step_0000003.pt.{pid}-0123abcd.tmp.pt",
             run / "samples" / f".step_0000003.png.{pid}-0123abcd.tmp.png",
             run / f".model.safetensors.{pid}-0123abcd.tmp.safetensors"]
    for path in stale:
        path.write_bytes(b"half a file")
    train(None, resume=run, overrides={"steps": 3})
    assert [p.name for p in stale if p.exists()] == []
    assert (run / "checkpoints" / "step_0000003.pt").is_file()
