"""Resume a training run for about a given wall time, with its learning-rate schedule ending on time.

    python tools/train_for.py RUN --seconds 420 [--probe-steps 300] [--set key=value ...]

Made for lent accelerators, whose time is counted (a GPU session of a few minutes): a cosine schedule must
know its last step before it starts, and a guess either wastes the machine or stops mid-schedule. So a short
probe first resumes a scratch copy of RUN (same data, model, optimizer and --set overrides, no validation)
and measures this machine's step rate, start-up cost and one validation; the real run then resumes RUN with
``--steps`` = current step + what fits in the time left. If it overruns anyway it is sent SIGINT, which makes
``srgan train`` finish its step and save a checkpoint. The probe never touches RUN. Prints the plan.

That plan ends the run's schedule with the chunk: ``steps`` becomes the chunk's last step, which also moves a
step schedule's drop (``lr_decay_at`` is a fraction of ``steps``). To go on with a longer run instead, on the
schedule it has (a GPU chunk of a run that continues elsewhere: tools/gpu_chunk.sh), ``--keep-steps`` keeps
``steps``, skips the probe and ends the run with SIGINT ``--stop-margin`` seconds before the time is up; the
checkpoint it saves there is where the run goes on from.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def latest_step(run: Path) -> tuple[int, Path]:
    from srgan.train.checkpoint import checkpoint_step_of, step_checkpoints

    ckpts = step_checkpoints(run)
    if not ckpts:
        sys.exit(f"error: {run}: no checkpoints/step_*.pt to resume from")
    return checkpoint_step_of(ckpts[-1]), ckpts[-1]


def srgan_train(run: Path, steps: int, sets: list[str], log=None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "srgan", "train", "--resume", str(run), "--steps", str(steps)]
    for s in sets:
        cmd += ["--set", s]
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT if log else None)


def probe(run: Path, step: int, ckpt: Path, probe_steps: int, sets: list[str]) -> dict:
    """Step rate (steps/s, steady state), start-up seconds and one validation's seconds on this machine."""
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / run.name
        (scratch / "checkpoints").mkdir(parents=True)
        shutil.copy2(run / "config.yaml", scratch / "config.yaml")
        shutil.copy2(ckpt, scratch / "checkpoints" / ckpt.name)
        log_every = max(1, probe_steps // 6)
        t0 = time.time()
        rc = srgan_train(scratch, step + probe_steps, sets + [f"log_every={log_every}", "val_every=1000000000",
                                                              "checkpoint_every=1000000000"]).wait()
        t_end = time.time()
        if rc != 0:
            sys.exit(f"error: the probe run failed (exit {rc})")
        recs = [json.loads(x) for x in (scratch / "metrics.jsonl").read_text().splitlines() if x.strip()]
    steps_logged = [r for r in recs if "loss" in r and r["step"] > step]
    vals = [r for r in recs if "val_psnr_y" in r or "val_psnr_rgb" in r]
    if len(steps_logged) < 3:
        sys.exit("error: the probe logged too few steps to time; raise --probe-steps")
    # The first logged interval holds warm-up (cuDNN autotuning, workers starting): time the rest.
    a, b = steps_logged[1], steps_logged[-1]
    rate = (b["step"] - a["step"]) / max(b["time"] - a["time"], 1e-6)
    val_s = (vals[-1]["time"] - b["time"]) if vals else 0.0
    startup_s = max(steps_logged[0]["time"] - t0 - (steps_logged[0]["step"] - step) / rate, 0.0)
    finish_s = max(t_end - (vals[-1]["time"] if vals else b["time"]), 0.0)
    return {"rate": rate, "val_s": val_s, "startup_s": startup_s, "finish_s": finish_s, "probe_s": t_end - t0}


def run_chunk(args: argparse.Namespace, steps: int, plan: str, stop_at: float, t_start: float,
              interrupt_is_plan: bool) -> int:
    """Resume RUN to ``steps``, its output to --log (after ``plan``, the log's record of why the chunk is this
    long), SIGINT it at ``stop_at`` (which makes it save a checkpoint); its exit status. ``interrupt_is_plan``:
    the stop is how the chunk is meant to end (--keep-steps), so Ctrl-C's status 130 counts as success."""
    print(plan, flush=True)
    log = open(args.log, "a") if args.log else None
    if log:
        log.write(plan + "\n")
        log.flush()
    proc = srgan_train(args.run, steps, args.set, log)
    try:
        rc = proc.wait(timeout=max(stop_at - time.time(), 1))
    except subprocess.TimeoutExpired:
        print("time is up: interrupting (the run saves a checkpoint)", flush=True)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait()
        if interrupt_is_plan and rc == 130:  # srgan train's status after Ctrl-C
            rc = 0
    print(f"done in {time.time() - t_start:.0f} s, exit {rc}", flush=True)
    return rc


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("--seconds", type=float, required=True, help="wall time for everything, the probe included")
    p.add_argument("--probe-steps", type=int, default=300)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed to srgan train (both runs)")
    p.add_argument("--log", type=Path, help="append the real run's output here (default: this terminal)")
    p.add_argument("--keep-steps", action="store_true",
                   help="keep the run's steps and learning-rate schedule; stop by SIGINT when the time is up (no probe)")
    p.add_argument("--stop-margin", type=float, default=20.0,
                   help="--keep-steps: seconds before the end at which SIGINT is sent (to finish a step or a "
                        "validation and save the checkpoint)")
    args = p.parse_args()
    t_start = time.time()
    step, ckpt = latest_step(args.run)
    from srgan.errors import SrganError
    from srgan.train.config import load_config

    try:  # the run's config with the overrides, as srgan train will resolve it (and a bad --set fails here)
        cfg = load_config(args.run / "config.yaml", sets=args.set)
    except SrganError as e:
        sys.exit(f"error: {e}")
    if args.keep_steps:
        stop_at = t_start + args.seconds - args.stop_margin
        if stop_at <= time.time():
            sys.exit("error: --stop-margin leaves no time for training")
        plan = (f"plan: keep steps {cfg.steps} (the run's learning-rate schedule); from step {step}, "
                f"SIGINT after {stop_at - t_start:.0f} s unless it finishes first")
        sys.exit(run_chunk(args, cfg.steps, plan, stop_at, t_start, interrupt_is_plan=True))
    m = probe(args.run, step, ckpt, args.probe_steps, args.set)
    left = args.seconds - (time.time() - t_start) - m["startup_s"] - m["finish_s"]
    # Each step costs 1/rate seconds, plus a validation every val_every steps.
    per_step = 1 / m["rate"] + m["val_s"] / cfg.val_every
    extra = max(0, math.floor(left / per_step))
    total = step + extra
    plan = (
        f"plan: {m['rate']:.2f} steps/s, start-up {m['startup_s']:.1f} s, one validation {m['val_s']:.1f} s, "
        f"probe {m['probe_s']:.1f} s; {left:.0f} s left -> {extra} steps, from {step} to {total}"
    )
    if extra == 0:
        print(plan, flush=True)
        sys.exit("error: no time left for training after the probe")
    # A minute of grace past the deadline before interrupting: the plan was meant to end on time by itself.
    sys.exit(run_chunk(args, total, plan, t_start + args.seconds + 60, t_start, interrupt_is_plan=False))


if __name__ == "__main__":
    main()
