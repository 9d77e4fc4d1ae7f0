"""How well srgan.ops.noise_level.estimate_sigma reads σ: BSD100 HR images with known clipped Gaussian noise.

    python tools/noise_level_check.py [--images N] [--sigmas 0.05 0.1 0.2 0.3 0.4 0.5] [--seed 0]

Each image (the first N of ../shared/data/benchmark/BSD100/HR, all 100 by default) gets the noise our denoiser's
inputs get (srgan.ops.degrade.add_gaussian_noise: σ on the [0, 1] scale, clipped, back to uint8), seeded by
(seed, image index, σ) so every run draws the same noise. Per σ it prints the mean estimate, the mean |relative
error|, the worst relative error (signed), the share of images within 10 % (the issue-20 bar) and the time per
estimate; the first line is the estimate on the clean images.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=100, help="first N images of BSD100 (default all 100)")
    p.add_argument("--sigmas", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.3, 0.4, 0.5])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--benchmark", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/benchmark")
    a = p.parse_args()
    from PIL import Image

    from srgan.ops.degrade import add_gaussian_noise
    from srgan.ops.noise_level import estimate_sigma

    files = sorted((a.benchmark / "BSD100/HR").glob("*.png"))[: a.images]
    if not files:
        raise SystemExit(f"error: no images under {a.benchmark / 'BSD100/HR'}")
    images = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    print(f"estimate_sigma on {len(images)} BSD100 HR images, clipped Gaussian noise, seed {a.seed}")
    clean = np.array([estimate_sigma(img) for img in images])
    print(f"clean images: mean estimate {clean.mean():.4f}, largest {clean.max():.4f}")
    print(f"{'sigma':>6} {'mean est':>9} {'mean |err|':>11} {'worst err':>10} {'within 10%':>11} {'s/image':>8}")
    for sigma in a.sigmas:
        est, spent = [], 0.0
        for i, img in enumerate(images):
            rng = np.random.default_rng([a.seed, i, round(sigma * 10000)])
            noisy = add_gaussian_noise(img, sigma, rng)
            start = time.perf_counter()
            est.append(estimate_sigma(noisy))
            spent += time.perf_counter() - start
        rel = np.array(est) / sigma - 1
        worst = rel[np.argmax(np.abs(rel))]
        print(f"{sigma:>6.2f} {np.mean(est):>9.4f} {np.abs(rel).mean():>10.1%} {worst:>+10.1%} "
              f"{np.mean(np.abs(rel) < 0.1):>11.0%} {spent / len(images):>8.3f}", flush=True)


if __name__ == "__main__":
    main()
