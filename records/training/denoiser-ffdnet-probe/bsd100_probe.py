"""PSNR-RGB of the probe runs on the first 10 BSD100 images at σ 0.1 / 0.2 / 0.4 / 0.5, the protocol of
``srgan evaluate`` (clipped Gaussian noise, seed 0, quantised to 8 bits): FFDNet told the true σ and blind
(σ estimated from each noisy image, what ``srgan denoise`` does without --sigma), the blind U-Nets as they are.

    OMP_WAIT_POLICY=PASSIVE nice -n 19 python records/training/denoiser-ffdnet-probe/bsd100_probe.py RUN_OR_MODEL...
"""

import sys

import numpy as np

import srgan
from srgan.bench.evaluate import DEFAULT_SIGMAS, _rgb, find_dataset
from srgan.bench.places import shared_dir
from srgan.io.read import read_u8
from srgan.ops.degrade import add_gaussian_noise
from srgan.ops.metrics import psnr_rgb

_, pairs = find_dataset(str(shared_dir() / "data" / "benchmark" / "BSD100"), 4)
clean = [_rgb(read_u8(hr)) for hr, _ in pairs[:10]]
for spec in sys.argv[1:]:
    m = srgan.load(spec, device="cpu", precision="fp32")
    modes = {"σ given": True, "σ estimated": False} if m.takes_sigma else {"blind": False}
    for mode, told in modes.items():
        row = []
        for sigma in DEFAULT_SIGMAS:
            rng = np.random.default_rng(0)
            scores = []
            for hr in clean:
                noisy = add_gaussian_noise(hr, sigma, rng)
                scores.append(psnr_rgb(m.denoise(noisy, sigma=sigma if told else None), hr, border=0))
            row.append(f"{np.mean(scores):.2f}")
        print(f"{m.name} ({mode}): " + " / ".join(row), flush=True)
