"""Does bf16 training reach the same validation PSNR as fp32? Two short runs that differ only in precision.

Both runs use the same config, seed, data order and step count (``srgan train`` batches are a pure function of
(seed, step)), so the only difference is the arithmetic. Each run's generator is then scored the same way,
in fp32, on the validation split with ``srgan evaluate``, and the trainer's own last validation value
(computed in the run's precision) is printed beside it.

    python tools/precision_check.py [--out runs/precision] [--steps 2000] [--batch-size 16] [--config configs/srresnet_x4.yaml]

Prints a table and writes OUT/precision_check.json. Interrupted? Run it again: finished runs are reused and
an unfinished one resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from srgan.io.files import atomic_write_json
from srgan.train.plot import read_metrics

REPO = Path(__file__).resolve().parents[1]


def last_val(run: Path) -> dict:
    vals = [r for r in read_metrics(run) if "val_psnr_y" in r]
    if not vals:
        raise SystemExit(f"{run}: no validation entry in metrics.jsonl")
    return vals[-1]


def train(run: Path, precision: str, a: argparse.Namespace, env: dict) -> None:
    if (run / "model.safetensors").exists() and last_val(run)["step"] == a.steps:
        print(f"{precision}: reusing finished run {run}", flush=True)
        return
    if (run / "checkpoints").exists():
        cmd = ["srgan", "train", "--resume", str(run)]
    else:
        cmd = ["srgan", "train", str(a.config), "--out", str(run), "--precision", precision, "--steps", str(a.steps),
               "--batch-size", str(a.batch_size), "--seed", str(a.seed), "--set", f"val_every={a.steps}",
               "--set", f"threads={a.threads}", "--set", "log_every=100"]
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)


def evaluate_fp32(run: Path, val: str, env: dict) -> dict:
    out = subprocess.run(["srgan", "evaluate", "--model", str(run / "model.safetensors"), "--data", val,
                          "--precision", "fp32", "--json"], check=True, env=env, capture_output=True, text=True).stdout
    return json.loads(out)["results"][0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=REPO / "runs" / "precision")
    p.add_argument("--config", type=Path, default=REPO / "configs" / "srresnet_x4.yaml")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--val", default=str(REPO / "configs" / "cats_val.txt"))
    a = p.parse_args()

    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    results = {}
    for precision in ("fp32", "bf16"):
        run = a.out / precision
        train(run, precision, a, env)
        v = last_val(run)
        e = evaluate_fp32(run, a.val, env)
        results[precision] = {"run": str(run), "step": v["step"], "train_val_psnr_y": v["val_psnr_y"],
                              "fp32_eval_psnr_y": e["psnr_y"], "fp32_eval_ssim_y": e["ssim_y"]}

    diff = results["bf16"]["fp32_eval_psnr_y"] - results["fp32"]["fp32_eval_psnr_y"]
    report = {"steps": a.steps, "batch_size": a.batch_size, "seed": a.seed, "config": str(a.config),
              "val": a.val, "runs": results, "bf16_minus_fp32_db": diff, "within_0_1_db": abs(diff) <= 0.1}
    a.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(a.out / "precision_check.json", report)
    print(f"\n{a.steps} steps, batch {a.batch_size}, seed {a.seed}; validation {a.val}")
    print(f"{'precision':<10}{'val PSNR-Y (trainer)':>22}{'PSNR-Y (fp32 eval)':>20}{'SSIM-Y':>9}")
    for k, r in results.items():
        print(f"{k:<10}{r['train_val_psnr_y']:>22.3f}{r['fp32_eval_psnr_y']:>20.3f}{r['fp32_eval_ssim_y']:>9.4f}")
    print(f"bf16 − fp32: {diff:+.3f} dB ({'within' if abs(diff) <= 0.1 else 'NOT within'} 0.1 dB)")
    sys.exit(0 if abs(diff) <= 0.1 else 1)


if __name__ == "__main__":
    main()
