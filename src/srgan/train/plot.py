"""``srgan plot RUN_DIR``: training curves from a run's ``metrics.jsonl``.

Writes ``RUN_DIR/loss.png`` (every logged loss against the step, log scale) and ``RUN_DIR/psnr.png``
(validation PSNR/SSIM against the step). matplotlib is an optional dependency, imported here only.
"""

from __future__ import annotations

import json
from pathlib import Path

from srgan.errors import SrganError

LOSS_KEYS = ("loss", "content", "adversarial", "loss_d")


def read_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise SrganError(f"{run_dir}: no metrics.jsonl (not a run folder, or no step logged yet)")
    records = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            # A run killed mid-write can leave a torn last line; anything else is a real problem.
            if n != len(path.read_text().splitlines()):
                raise SrganError(f"{path}: line {n} is not JSON") from None
    return records


def plot_run(run_dir: str | Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SrganError("srgan plot needs matplotlib: pip install 'srgan[plot]'") from None
    from srgan.io.files import atomic_path

    run_dir = Path(run_dir)
    records = read_metrics(run_dir)
    written = []

    train = [r for r in records if any(k in r for k in LOSS_KEYS)]
    if train:
        fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
        for key in LOSS_KEYS:
            pts = [(r["step"], r[key]) for r in train if key in r and r[key] > 0]
            if pts:
                ax.plot(*zip(*pts), label=key, linewidth=1)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(f"{run_dir.name}: training losses")
        ax.grid(alpha=0.3)
        ax.legend()
        written.append(_save(fig, run_dir / "loss.png", atomic_path))
        plt.close(fig)

    val = [r for r in records if any(k.startswith("val_psnr") for k in r)]
    if val:
        key = "val_psnr_y" if "val_psnr_y" in val[0] else "val_psnr_rgb"
        fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
        ax.plot([r["step"] for r in val], [r[key] for r in val], marker="o", linewidth=1, label=key)
        ax.set_xlabel("step")
        ax.set_ylabel("PSNR (dB)")
        ssim_key = key.replace("psnr", "ssim")
        if ssim_key in val[0]:
            ax2 = ax.twinx()
            ax2.plot([r["step"] for r in val], [r[ssim_key] for r in val], color="tab:orange", marker=".", linewidth=1, label=ssim_key)
            ax2.set_ylabel("SSIM")
            ax2.legend(loc="lower right")
        ax.set_title(f"{run_dir.name}: validation")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left")
        written.append(_save(fig, run_dir / "psnr.png", atomic_path))
        plt.close(fig)
    if not written:
        raise SrganError(f"{run_dir}: metrics.jsonl has nothing to plot yet")
    return written


def _save(fig, path: Path, atomic_path) -> Path:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
