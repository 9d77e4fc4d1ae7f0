"""Pick a run's checkpoint by the trainer's selection rule, on the run's validation images.

    python tools/select_checkpoint.py RUN [--max-images N] [--select texture|psnr] [--max-drop DB] [--json OUT]

Validates the run's starting generator (``init_generator``: the texture rule's reference) and every
``checkpoints/step_*.pt`` (and ``best.pt``) with the trainer's own Validator in fp32, prints one row each, and names the one
``srgan.train.validate.selection_score`` ranks first. For runs made before the trainer picked by texture, and to
re-pick on more validation images than the run validated on (``--max-images``). The benchmark sets play
no part: only the run's ``val`` images are read.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

from srgan.errors import SrganError
from srgan.train.checkpoint import exported_weights
from srgan.train.config import load_run_config
from srgan.train.networks import build_model, load_init_generator
from srgan.train.validate import Validator, selection_score


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--max-images", type=int, help="validation images (default: the run's val_max_images)")
    p.add_argument("--select", choices=("texture", "psnr"), help="the rule (default: the run's)")
    p.add_argument("--max-drop", type=float, help="texture rule's PSNR budget in dB (default: the run's)")
    p.add_argument("--json", help="write the rows and the pick here")
    a = p.parse_args()
    try:
        pick = select(Path(a.run), a.max_images, a.select, a.max_drop, a.json)
    except SrganError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(pick)
    return 0


def select(run: Path, max_images: int | None, rule: str | None, max_drop: float | None, json_out: str | None) -> Path:
    cfg = load_run_config(run, {"val_max_images": max_images, "select": rule, "select_max_psnr_drop": max_drop})
    if not cfg.val:
        raise SrganError(f"{run}: the run has no validation set (val:)")
    ckpts = sorted((run / "checkpoints").glob("step_*.pt"))
    if not ckpts:
        raise SrganError(f"{run}: no checkpoints/step_*.pt")
    # the trainer keeps the last few steps and best.pt: the best may be older than all of them
    best_pt = run / "checkpoints" / "best.pt"
    if best_pt.is_file():
        ckpts.append(best_pt)  # read last: a step file of the same step names it
    validator = Validator(cfg, cfg.image_channels)
    device = torch.device("cpu")
    model = build_model(cfg)

    ref_psnr = None
    rows = []
    if cfg.selection in ("texture", "niqe") and cfg.init_generator:
        load_init_generator(model, cfg.init_generator)
        metrics, _ = validator.run(model, device, "fp32")
        ref_psnr = metrics["val_psnr_y"]
        rows.append({"checkpoint": "start", "step": 0, **metrics})
        print(_row(rows[-1]), flush=True)
    seen = set()
    for path in ckpts:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if int(ckpt["step"]) in seen:  # best.pt is also one of the step files
            continue
        seen.add(int(ckpt["step"]))
        # Runs with ema_decay validate and export the averaged generator, so that is what is re-picked.
        model.load_state_dict(exported_weights(ckpt))
        metrics, _ = validator.run(model, device, "fp32")
        rows.append({"checkpoint": str(path), "step": int(ckpt["step"]), **metrics,
                     "score": selection_score(cfg, metrics, ref_psnr)})
        print(_row(rows[-1]), flush=True)
    rows.sort(key=lambda r: r["step"])
    candidates = [r for r in rows if "score" in r]
    best = max(candidates, key=lambda r: r["score"])
    if best["score"] == -math.inf:
        raise SrganError(f"no checkpoint kept val_psnr_y within {cfg.select_max_psnr_drop} dB of the start's {ref_psnr:.2f}")
    rule_text = (f"val_hf_ratio closest to 1 with val_psnr_y >= {ref_psnr - cfg.select_max_psnr_drop:.4f} "
                 f"(start {ref_psnr:.4f} - {cfg.select_max_psnr_drop} dB)" if ref_psnr is not None else cfg.selection)
    print(f"rule: {rule_text}; {len(validator.items)} validation images; pick: step {best['step']}", flush=True)
    if json_out:
        from srgan.io.files import atomic_write_bytes

        doc = {"run": str(run), "rule": rule_text, "images": len(validator.items), "rows": rows, "pick": best["checkpoint"]}
        atomic_write_bytes(Path(json_out), (json.dumps(doc, indent=2) + "\n").encode())
    return Path(best["checkpoint"])


def _row(r: dict) -> str:
    cells = [f"{k} {v:.4f}" for k, v in r.items() if k.startswith("val_")]
    return f"step {r['step']:>7}: " + ", ".join(cells)


if __name__ == "__main__":
    sys.exit(main())
