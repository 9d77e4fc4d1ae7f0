"""``srgan plot RUN_DIR``: training curves from a run's ``metrics.jsonl``.

Writes ``RUN_DIR/loss.png`` (every logged loss against the step, log scale) and ``RUN_DIR/psnr.png``
(validation PSNR/SSIM against the step). matplotlib is an optional dependency, imported here only.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from srgan.errors import SrganError

LOSS_KEYS = ("loss", "content", "adversarial", "loss_d")


def read_metrics(run_dir: Path) -> list[dict]:
    """A run's logged records as one series: a torn last line dropped, and the repeats that resumes before
    truncation wrote resolved (see :func:`one_series`)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise SrganError(f"{run_dir}: no metrics.jsonl (not a run folder, or no step logged yet)")
    lines = path.read_text().splitlines()
    pairs, bad = parse_metrics(lines)
    # A run killed mid-write can leave a torn last line; anything else is a real problem.
    if bad and bad[0] != len(lines):
        raise SrganError(f"{path}: line {bad[0]} is not JSON")
    return [record for _, record in one_series(pairs)]


def parse_metrics(lines: list[str]) -> tuple[list[tuple[str, dict]], list[int]]:
    """The (line, record) pairs of a metrics.jsonl's lines, and the numbers (1-based) of the lines that are not
    records: not JSON objects with an integer step. Blank lines are neither."""
    pairs, bad = [], []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict) and isinstance(record.get("step"), int) and not isinstance(record["step"], bool):
            pairs.append((line, record))
        else:
            bad.append(n)
    return pairs, bad


def _record_kind(record: dict) -> str:
    if record.get("reference"):
        return "reference"
    return "validation" if any(k.startswith("val_") for k in record) else "training"


def one_series(pairs: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """``pairs`` with the records that a restarted run wrote again resolved in favour of the later ones.

    Runs resumed before resuming truncated the log appended after records of steps their checkpoint did not
    reach, so those steps appear twice and the step goes back where a run restarted. A restart shows as a
    record whose step is below the last one kept, or which repeats a kind (training, validation, reference)
    already kept at its step; everything kept from its step on belongs to the lost run and is dropped. The
    training and validation records of one step both stay: they are written one after the other."""
    kept: list[tuple[str, dict]] = []
    for line, record in pairs:
        step, kind = record["step"], _record_kind(record)
        same_step = itertools.takewhile(lambda pair: pair[1]["step"] == step, reversed(kept))
        if (kept and kept[-1][1]["step"] > step) or any(_record_kind(r) == kind for _, r in same_step):
            while kept and kept[-1][1]["step"] >= step:
                kept.pop()
        kept.append((line, record))
    return kept


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
