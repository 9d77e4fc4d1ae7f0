"""The shipped denoiser in front of srgan-x4-real on the bar's blurred, noisy JPEG 70 inputs (σ 0.02 and 0.04
told to it), beside srgan-x4-real alone and srresnet-x4-real: do the grain and blotches come from the input's noise?
Run from the repo root: python records/training/srgan-x4-real-r74/denoise_first.py (writes denoise_first.png)."""
import numpy as np, srgan
from PIL import Image
from srgan.bench.figures import benchmark_pair, real_row, label_grid, save_png
from pathlib import Path
from srgan.bench.figures import _find_pair, REAL_FIGURE
from srgan.bench.report import cats_list
bench = Path('../shared/data/benchmark')
datasets = [str(bench/'Set5'), str(bench/'BSD100'), str(cats_list(Path('.')))]
dn = srgan.load('denoiser'); gan = srgan.load('srgan-x4-real'); psnr = srgan.load('srresnet-x4-real')
rows=[]
for ds, image, box in REAL_FIGURE:
    pair = _find_pair(datasets, ds, image)
    hr, lr = benchmark_pair(*pair, 4, 'blur-noise-jpeg70')
    outs=[('srgan-x4-real', gan.upscale(lr))]
    for s in (0.02, 0.04):
        d = dn.denoise(lr, sigma=s) if hasattr(dn,'denoise') else None
        outs.append((f'denoise {s} + gan', gan.upscale(d)))
    outs.append(('srresnet-x4-real', psnr.upscale(lr)))
    rows.append(real_row(hr, lr, outs, box, 'input'))
save_png(label_grid(rows), Path('records/training/srgan-x4-real-r74/denoise_first.png'))
