"""Flip self-ensembles of srgan-x4-real on the bar's 10 photos: does averaging over flips take the speckle out
without giving back NIQE? Run from the checkout: python records/training/srgan-x4-real-r67/probes/self_ensemble.py"""
import numpy as np

from srgan.bench.evaluate import benchmark_pair, find_dataset, load_upscaler
from srgan.ops.metrics import blockiness, flat_noise, psnr_y
from srgan.ops.niqe import niqe

fn = load_upscaler("srgan-x4-real", 4, "cpu", "fp32")[0]
FLIPS = [lambda x: x, lambda x: x[:, ::-1], lambda x: x[::-1], lambda x: x[::-1, ::-1]]  # each its own inverse


def ensemble(lr: np.ndarray, k: int) -> np.ndarray:
    acc = sum(f(fn(np.ascontiguousarray(f(lr)))).astype(np.float64) for f in FLIPS[:k])
    return np.clip(np.round(acc / k), 0, 255).astype(np.uint8)


pairs = find_dataset("../shared/data/benchmark/BSD100", 4)[1][:5] + find_dataset("configs/cats_val.txt", 4)[1][:5]
for preset in ("blur-noise-jpeg70", "jpeg50"):
    for k in (1, 2, 4):
        rows = []
        for hr_path, lr_path in pairs:
            hr, lr = benchmark_pair(hr_path, lr_path, 4, preset)
            sr = ensemble(lr, k)
            try:
                q = niqe(sr, 4)
            except Exception:  # too small for NIQE's blocks: left out of the mean, as srgan evaluate does
                q = np.nan
            rows.append((psnr_y(sr, hr, 4), q, flat_noise(sr, hr, 4), blockiness(sr, 32, 4)))
        r = np.nanmean(np.array(rows), 0)
        print(f"{preset} x{k}: psnr_y {r[0]:.2f} niqe {r[1]:.2f} flat_noise {r[2]:.2f} blockiness {r[3]:.3f}", flush=True)
