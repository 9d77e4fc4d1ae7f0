"""Where do a ×4 model's steps between LR cells fall inside the input's JPEG blocks, against the photo's own?

    python tools/block_profile_check.py MODEL [MODEL ...] [--degrade blur-noise-jpeg70]
                                        [--data ../shared/data/benchmark/BSD100 configs/cats_val.txt] [--max-images 5]

For each model (and for HR and the input, nearest ×4) it prints ``srgan.ops.metrics.step_profile`` of the
outputs on the ``srgan evaluate --degrade`` inputs, averaged over the photos and divided by its mean: entry p is the
step from a block's LR cell p to p + 1, the last one the step across the block border. The photo's own profile is
flat up to noise; a JPEG input's border entry stands out (its tiles). A model that softened the border step by
moving it one LR pixel into the block reads low on the border and high on entries 0 and 1: the blocks survive as
soft cells, which ``blockiness`` does not see. Last column: mean ``block_profile`` (0: as the photo), per photo.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="shipped names, run folders, checkpoints, .safetensors files or peer:NAME")
    p.add_argument("--degrade", default="blur-noise-jpeg70", help="an srgan evaluate --degrade preset")
    p.add_argument("--data", nargs="+", default=["../shared/data/benchmark/BSD100", "configs/cats_val.txt"])
    p.add_argument("--max-images", type=int, default=5, help="the first N photos of each dataset (default 5)")
    a = p.parse_args()

    from srgan.bench.evaluate import benchmark_pair, find_dataset, load_upscaler
    from srgan.errors import SrganError
    from srgan.ops.metrics import profile_gap, step_profile
    from srgan.ops.realistic import JPEG_BLOCK

    scale = 4
    try:
        pairs = [pair for spec in a.data for pair in find_dataset(spec, scale)[1][: a.max_images]]
        upscalers = {m: load_upscaler(m, scale, "cpu", "fp32")[0] for m in a.models}
        profiles: dict[str, list[np.ndarray]] = {name: [] for name in ("HR", "input", *a.models)}
        gaps: dict[str, list[float]] = {name: [] for name in ("input", *a.models)}
        for hr_path, lr_path in pairs:
            hr, lr = benchmark_pair(hr_path, lr_path, scale, a.degrade)
            outputs = {"HR": hr, "input": np.kron(lr, np.ones((scale, scale, 1), dtype=lr.dtype))}
            outputs.update({m: fn(lr) for m, fn in upscalers.items()})
            prof_hr = step_profile(hr, scale, JPEG_BLOCK)
            for name, out in outputs.items():
                prof = prof_hr if name == "HR" else step_profile(out, scale, JPEG_BLOCK)
                profiles[name].append(prof / prof.mean())
                if name != "HR":
                    gaps[name].append(profile_gap(prof, prof_hr))
    except SrganError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{a.degrade}, {len(pairs)} photos; step profile / its mean, entries 0..{JPEG_BLOCK - 1} "
          f"({JPEG_BLOCK - 1}: across the block border); block_profile")
    width = max(len(n) for n in profiles)
    for name, profs in profiles.items():
        row = " ".join(f"{v:.3f}" for v in np.mean(profs, axis=0))
        gap = f"  {np.mean(gaps[name]):.4f}" if name in gaps else ""
        print(f"{name.ljust(width)}  {row}{gap}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
