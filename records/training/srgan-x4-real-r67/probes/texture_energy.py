"""Does a windowed texture-energy mismatch see what is wrong with srgan-x4-real on blurred input? Per 16-px window
(8-px stride) of luma, log((E_SR + eps) / (E_HR + eps)), E the mean squared detail layer (srgan.ops.metrics.detail_layer),
eps = 4 (a 2-grey-level RMS); prints the mean |log ratio|, its mean, the over- and under-parts, its spread and the
correlation of log E_SR with log E_HR over windows, averaged over the bar's 10 photos.
Run from the checkout: python records/training/srgan-x4-real-r67/probes/texture_energy.py"""
import numpy as np
from scipy import ndimage

from srgan.bench.evaluate import benchmark_pair, find_dataset, load_upscaler
from srgan.ops.metrics import detail_layer, rgb_to_y


def windows(y: np.ndarray, win: int = 16) -> np.ndarray:
    return ndimage.uniform_filter(detail_layer(y) ** 2, win)[win // 2::win // 2, win // 2::win // 2]


def mismatch(sr: np.ndarray, hr: np.ndarray, eps: float = 4.0, border: int = 4) -> tuple:
    es = windows(rgb_to_y(sr)[border:-border, border:-border])
    eh = windows(rgb_to_y(hr)[border:-border, border:-border])
    d = np.log((es + eps) / (eh + eps))
    corr = np.corrcoef(np.log(es + eps).ravel(), np.log(eh + eps).ravel())[0, 1]
    return np.abs(d).mean(), d.mean(), np.maximum(d, 0).mean(), np.maximum(-d, 0).mean(), d.std(), corr


pairs = find_dataset("../shared/data/benchmark/BSD100", 4)[1][:5] + find_dataset("configs/cats_val.txt", 4)[1][:5]
for model in ("srresnet-x4-real", "srgan-x4-real", "peer:realesrgan-x4plus"):
    fn = load_upscaler(model, 4, "cpu", "fp32")[0]
    rows = []
    for hr_path, lr_path in pairs:
        hr, lr = benchmark_pair(hr_path, lr_path, 4, "blur-noise-jpeg70")
        sr = fn(lr)
        h, w = min(sr.shape[0], hr.shape[0]), min(sr.shape[1], hr.shape[1])
        rows.append(mismatch(sr[:h, :w], hr[:h, :w]))
    r = np.array(rows).mean(0)
    print(f"{model:24s} |log ratio| {r[0]:.3f} mean {r[1]:+.3f} over {r[2]:.3f} under {r[3]:.3f} "
          f"spread {r[4]:.3f} corr {r[5]:.3f}", flush=True)
