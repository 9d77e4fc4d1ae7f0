"""Phase-locked detail energy: how much of an upscaler's fine detail is one fixed periodic pattern (a grid).

    python tools/grid_check.py MODEL [MODEL ...] [--images N] [--periods 2 4 8 16]

For each model, each LR image of Set5 and the first N of BSD100 (../shared/data/benchmark) is upscaled; on the
Y channel of the result the detail layer d = Y - gaussian_filter(Y, 1.5) (the hf_ratio filter) is folded by
period P: m[i, j] = mean of d over all pixels with (y mod P, x mod P) = (i, j). Real texture has no preferred
phase, so m is close to flat and var(m) / var(d) is tiny (~1e-4 for srresnet-x4 at P 4); a grid that repeats
every P pixels at the same phase in every image survives the folding. Printed in thousandths, per period.
Period 4 is the LR pixel grid of a ×4 model (its PixelShuffle's sub-pixel positions).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def phase_locked_energy(y: np.ndarray, period: int) -> float:
    from srgan.ops.metrics import detail_layer

    d = detail_layer(y)
    h, w = d.shape[0] // period * period, d.shape[1] // period * period
    d = d[:h, :w]
    m = d.reshape(h // period, period, w // period, period).mean(axis=(0, 2))
    return float((m - m.mean()).var() / max(d.var(), 1e-12))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="shipped names, .safetensors files, checkpoints or run folders")
    p.add_argument("--images", type=int, default=8, help="BSD100 images besides Set5 (default 8)")
    p.add_argument("--periods", type=int, nargs="+", default=[2, 4, 8, 16])
    p.add_argument("--benchmark", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/benchmark")
    a = p.parse_args()
    from PIL import Image

    import srgan
    from srgan.ops.metrics import rgb_to_y

    lrs = sorted((a.benchmark / "Set5/LR_bicubic/X4").glob("*.png"))
    lrs += sorted((a.benchmark / "BSD100/LR_bicubic/X4").glob("*.png"))[: a.images]
    if not lrs:
        raise SystemExit(f"error: no LR images under {a.benchmark}")
    print(f"phase-locked share of detail energy (x1000), {len(lrs)} images: Set5 + {a.images} of BSD100")
    for name in a.models:
        up = srgan.load(name)
        per = {P: [] for P in a.periods}
        for f in lrs:
            y = rgb_to_y(up.upscale(np.asarray(Image.open(f).convert("RGB")))).astype(np.float64)
            for P in per:
                per[P].append(phase_locked_energy(y, P))
        print(f"{name}: " + "  ".join(f"P{P} {np.mean(v) * 1000:.2f}" for P, v in per.items()), flush=True)


if __name__ == "__main__":
    main()
