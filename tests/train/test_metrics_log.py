"""metrics.jsonl after resumes: cut back to the checkpoint's step (atomically), the repeats of earlier versions'
resumes resolved, and TensorBoard told to hide what the resumed run logs again."""

from __future__ import annotations

import json
import sys
import types

from srgan.train.loop import train, truncate_log
from srgan.train.plot import read_metrics
from train_runs import tiny_cfg


def _train(step: int, loss: float = 1.0) -> str:
    return json.dumps({"step": step, "lr": 1e-4, "loss": loss, "time": 1.0})


def _val(step: int) -> str:
    return json.dumps({"step": step, "val_psnr_y": 20.0 + step, "best": 20.0, "select": "psnr", "time": 1.0})


def _reference() -> str:
    return json.dumps({"step": 0, "val_psnr_y": 19.0, "reference": True, "time": 1.0})


def _steps(path) -> list[tuple[int, str]]:
    return [(r["step"], "val" if "val_psnr_y" in r else "train") for r in map(json.loads, path.read_text().splitlines())]


def test_truncate_log_keeps_the_records_up_to_the_checkpoint_and_drops_a_torn_line(tmp_path):
    log = tmp_path / "metrics.jsonl"
    lines = [_reference(), _train(1), _train(2), _train(3), _val(3), _train(4), _train(5), _train(6), _val(6)]
    log.write_text("\n".join(lines) + '\n{"step": 7, "lo')
    truncate_log(log, 3)
    # step 3's training and validation records are written before its checkpoint: both stay
    assert _steps(log) == [(0, "val"), (1, "train"), (2, "train"), (3, "train"), (3, "val")]
    assert log.read_text() == "\n".join(lines[:5]) + "\n"  # the kept lines as they were
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]  # the temp file was renamed, not left
    before = log.stat().st_mtime_ns
    truncate_log(log, 3)
    assert log.stat().st_mtime_ns == before  # nothing to cut: not rewritten
    truncate_log(log, 0)  # no checkpoint: the run starts over, step 0's reference validation included
    assert log.read_text() == ""
    truncate_log(tmp_path / "none.jsonl", 5)
    assert not (tmp_path / "none.jsonl").exists()


def test_truncate_log_warns_about_lines_that_are_not_records(tmp_path, capsys):
    log = tmp_path / "metrics.jsonl"
    # What an earlier version left when a run was killed mid-write and resumed: the torn line and the next
    # record on one line.
    log.write_text("\n".join([_train(1), _train(2)[:20] + _train(2), _train(3), "[1, 2]"]) + "\n")
    truncate_log(log, 3)
    assert _steps(log) == [(1, "train"), (3, "train")]
    assert "dropped 2 line(s) that are not JSON records (first: line 2)" in capsys.readouterr().err
    log.write_text(_train(1) + "\n" + _train(2)[:20])
    truncate_log(log, 3)
    assert _steps(log) == [(1, "train")] and capsys.readouterr().err == ""  # a torn last line is expected


def test_repeats_left_by_earlier_resumes_are_resolved_to_the_later_records(tmp_path):
    log = tmp_path / "metrics.jsonl"
    lines = [_reference(), _train(1), _train(2)]  # killed before any checkpoint: restarted from scratch
    lines += [_reference(), _train(1), _train(2), _train(3), _val(3), _train(4), _train(5)]  # killed; checkpoint 3
    lines += [_train(4, loss=0.5), _train(5, loss=0.5), _train(6, loss=0.5), _val(6)]  # killed right after val 6
    lines += [_train(6, loss=0.25), _val(6), _train(7, loss=0.25)]  # checkpoint 5: the resume repeated 6
    log.write_text("\n".join(lines) + "\n")
    records = read_metrics(tmp_path)  # what srgan plot draws
    assert [(r["step"], "val_psnr_y" in r) for r in records] == [
        (0, True), (1, False), (2, False), (3, False), (3, True), (4, False), (5, False), (6, False), (6, True), (7, False)]
    assert [r["loss"] for r in records if r["step"] in (4, 5, 6, 7) and "loss" in r] == [0.5, 0.5, 0.25, 0.25]
    truncate_log(log, 6)  # a resume rewrites the log as that one series
    assert [json.loads(x) for x in log.read_text().splitlines()] == [r for r in records if r["step"] <= 6]


def test_a_resumed_run_logs_each_step_once(tmp_path, image_folder):
    run = train(tiny_cfg(image_folder, steps=4, val_every=2, checkpoint_every=2), out=tmp_path / "run").run_dir
    # As if the run had gone on to log steps 5 and 6 (and torn 7) and been killed before checkpointing them.
    with open(run / "metrics.jsonl", "a") as f:
        f.write(_train(5, loss=-1.0) + "\n" + _train(6, loss=-1.0) + "\n" + _val(6) + '\n{"step": 7, "l')
    train(None, resume=run, overrides={"steps": 7})
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4, 5, 6, 7]
    assert [r["step"] for r in records if "val_psnr_y" in r] == [2, 4, 6, 7]
    assert all(r["loss"] > 0 for r in records if "loss" in r)  # the killed run's records were replaced


class _FakeWriter:
    made: list[dict] = []

    def __init__(self, log_dir: str, purge_step: int | None = None) -> None:
        self.made.append({"log_dir": log_dir, "purge_step": purge_step})

    def add_scalar(self, *args) -> None:
        pass

    def close(self) -> None:
        pass


def test_tensorboard_hides_the_steps_a_resumed_run_logs_again(tmp_path, image_folder, monkeypatch):
    # tensorboard is optional; a stand-in SummaryWriter shows what the trainer asks of the real one.
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=_FakeWriter))
    monkeypatch.setattr(_FakeWriter, "made", [])
    run = train(tiny_cfg(image_folder, val=None, steps=4, checkpoint_every=2), out=tmp_path / "run").run_dir
    train(None, resume=run, overrides={"steps": 6})
    # a fresh run hides every earlier event (a run killed before its first checkpoint starts over); the resume
    # from step 4 hides those of steps 5 on
    assert [w["purge_step"] for w in _FakeWriter.made] == [0, 5]
    assert all(w["log_dir"] == str(run / "tensorboard") for w in _FakeWriter.made)
