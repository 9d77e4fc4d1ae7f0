"""Does a ×4 model find JPEG blocks by what it sees, or by where they usually are?

    python tools/block_shift_check.py MODEL [MODEL ...] [--data DIR] [--max-images 10] [--degrade jpeg50]

A JPEG saved at LR size has its 8×8 block borders every 8 px from the corner, so after ×4 they sit every 32 px:
where ``srgan.ops.metrics.blockiness`` looks. A convolutional network can learn positions from the image border,
and a loss that watches the 32-px lines (``block_edge_weight``) could teach it to flatten those lines wherever the
blocks are. So each input is also upscaled with its first 4 LR rows and columns cut off, which moves every block
border to 16 + 32k in the output, and blockiness is measured on that output from px 16 on: a model that finds the
blocks by content scores the same both ways; one that learned the positions scores higher when shifted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import numpy as np

from srgan.ops.realistic import JPEG_BLOCK

SCALE = 4
SHIFT = JPEG_BLOCK // 2  # LR pixels: half a JPEG block


def shift_check(upscale: Callable[[np.ndarray], np.ndarray], inputs: list[np.ndarray]) -> tuple[float, float]:
    """(mean blockiness with the blocks where the input has them, mean with the input shifted by half a block)."""
    from srgan.ops.metrics import blockiness

    at_origin, shifted = [], []
    for lr in inputs:
        at_origin.append(blockiness(upscale(lr), period=JPEG_BLOCK * SCALE, scale=SCALE))
        out = upscale(np.ascontiguousarray(lr[SHIFT:, SHIFT:]))
        # the borders, 8k − SHIFT in the cut LR, are at 32k − 16 in its output: from px 16 on, on the 32-px grid
        shifted.append(blockiness(out[SCALE * SHIFT :, SCALE * SHIFT :], period=JPEG_BLOCK * SCALE, scale=SCALE))
    return float(np.mean(at_origin)), float(np.mean(shifted))


def degraded_inputs(data: str, max_images: int, preset: str) -> list[np.ndarray]:
    """The LR inputs ``srgan evaluate --degrade preset`` gives a model."""
    from srgan.bench.evaluate import benchmark_pair, find_dataset

    return [benchmark_pair(hr, lr, SCALE, preset)[1] for hr, lr in find_dataset(data, SCALE)[1][:max_images]]


def main() -> int:
    from srgan.bench.places import shared_dir
    from srgan.errors import SrganError

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="shipped names, .safetensors files or checkpoints")
    p.add_argument("--data", default=str(shared_dir() / "data" / "benchmark" / "BSD100"))
    p.add_argument("--max-images", type=int, default=10)
    p.add_argument("--degrade", default="jpeg50", help="a srgan evaluate --degrade preset with JPEG in it")
    a = p.parse_args()
    try:
        from srgan.infer.model import load

        inputs = degraded_inputs(a.data, a.max_images, a.degrade)
        for name in a.models:
            model = load(name, device="cpu", precision="fp32")
            origin, shifted = shift_check(model.run_array, inputs)
            print(f"{name}: blockiness {origin:.3f} with the blocks at the corner, {shifted:.3f} shifted by half a block "
                  f"({a.degrade}, {len(inputs)} images of {a.data})", flush=True)
    except SrganError as e:
        print(f"block_shift_check: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
