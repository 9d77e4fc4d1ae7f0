"""Does the denoiser still help in front of an upscaler? ``restore`` (denoise → ×4) against the upscaler alone.

    python tools/restore_check.py [--upscaler NAME ...] [--data DATASET] [--max-images 10] [--sigmas 0.1 0.2 0.4 0.5]

For each HR image of ``--data`` (default BSD100), the LR input is the benchmark's MATLAB-bicubic ×¼ with clipped
Gaussian noise of σ added (seeded by σ and the file name, as ``srgan degrade --noise`` does). Each upscaler then
runs on the noisy LR directly and behind the shipped denoiser (``srgan.restore``); the table is PSNR-Y against
HR with the protocol's 4-pixel border. A model trained on real-photo degradations has seen noise and may not
need the denoiser in front; this says at which σ it does.
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib

import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upscaler", nargs="+", default=None, help="×4 models (default: srresnet-x4 and the default upscaler)")
    p.add_argument("--denoiser", default="denoiser")
    p.add_argument("--data", default=None, help="a dataset as for srgan evaluate (default ../shared BSD100)")
    p.add_argument("--max-images", type=int, default=10)
    p.add_argument("--sigmas", type=float, nargs="+", default=[0.1, 0.2, 0.4, 0.5])
    p.add_argument("--json", help="also write the table to this file")
    a = p.parse_args()

    import srgan
    from srgan.bench.evaluate import find_dataset
    from srgan.bench.places import shared_dir
    from srgan.io.read import read_u8
    from srgan.ops.degrade import add_gaussian_noise
    from srgan.ops.imresize import imresize_uint8
    from srgan.ops.metrics import psnr_y

    data = a.data or str(shared_dir() / "data" / "benchmark" / "BSD100")
    upscalers = a.upscaler or sorted({"srresnet-x4", srgan.DEFAULT_UPSCALER})
    _, pairs = find_dataset(data, 4)
    pairs = pairs[: a.max_images]
    denoiser = srgan.load(a.denoiser)
    models = {name: srgan.load(name) for name in upscalers}
    rows = []
    for sigma in a.sigmas:
        scores: dict[str, list[float]] = {f"{n}{suffix}": [] for n in upscalers for suffix in ("", " after denoiser")}
        for hr_path, _ in pairs:
            hr = read_u8(hr_path)
            h, w = hr.shape[0] - hr.shape[0] % 4, hr.shape[1] - hr.shape[1] % 4
            hr = np.ascontiguousarray(hr[:h, :w])
            rng = np.random.default_rng([int(sigma * 1000), zlib.crc32(hr_path.name.encode())])
            noisy = add_gaussian_noise(imresize_uint8(hr, scale=0.25), sigma, rng)
            clean = denoiser.denoise(noisy, sigma=sigma)
            for name, model in models.items():
                scores[name].append(psnr_y(model.upscale(noisy), hr, border=4))
                scores[f"{name} after denoiser"].append(psnr_y(model.upscale(clean), hr, border=4))
        row = {"sigma": sigma, "images": len(pairs), **{k: round(float(np.mean(v)), 2) for k, v in scores.items()}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if a.json:
        from srgan.io.files import atomic_write_bytes

        atomic_write_bytes(a.json, (json.dumps({"data": data, "denoiser": a.denoiser, "rows": rows}, indent=1) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
