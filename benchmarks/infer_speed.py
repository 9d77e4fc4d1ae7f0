"""Inference speed: ``srgan.load(...).upscale`` vs the eager fp32 network, measured in one run.

All contestants run the paper-sized ×4 SRResNet (16 blocks, 64 channels, random weights: speed does not
depend on their values) on a 256×256 input, 1024×1024 output. The eager baseline is ``Generator()`` called
on a float32 NCHW tensor, as a training script would; ours is the public API on a uint8 array, conversions
and default tiling included, once per precision asked for: by default every path, fp32, bf16, ``int8``
(``srgan.infer.int8``, when ONNX Runtime is installed) and ``auto`` (the faster of fp32 and bf16 by a timed probe
on this machine, ``srgan.infer.autoprecision``); the last line checks ``auto`` against the faster of the two. The contestants alternate, round
after round, and each is summarised by its median, so load from other processes hits all alike. Prints
output megapixels per second for each, the ratio to eager, and the fraction of a physical limit (default
3.7 output MP/s, the bf16 limit the inference issue measured on its reference machine: 277 GFLOP per
output megapixel at ~1,035 GFLOP/s; benchmarks/conv_peak.py measures your CPU's, in bf16 and int8).

The int8 graph is built and calibrated once per weights before timing starts (seconds to a minute), as
the bf16 path's weights are prepacked at load, so the figures are steady-state speed.

    python benchmarks/infer_speed.py [--size 256] [--rounds 7] [--precision fp32 bf16 int8 auto] [--limit 3.7]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import srgan
from srgan.models import zoo
from srgan.models.generator import Generator


def main() -> None:
    have_ort = importlib.util.find_spec("onnxruntime") is not None
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256, help="input side in pixels (output is 4× that)")
    p.add_argument("--rounds", type=int, default=7, help="timed rounds per contestant (after one warm-up)")
    p.add_argument("--precision", nargs="+", default=["fp32", "bf16", "int8", "auto"] if have_ort else ["fp32", "bf16", "auto"],
                   help="precisions for ours: fp32, bf16, int8, auto (default: all; int8 when onnxruntime is installed)")
    p.add_argument("--limit", type=float, default=3.7, help="physical limit of this CPU in output MP/s")
    a = p.parse_args()

    torch.manual_seed(0)
    eager = Generator().eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "srresnet-x4-random.safetensors"
        zoo.save_model(path, eager, {"kind": "srresnet", "scale": 4})
        ours = {prec: srgan.load(path, device="cpu", precision=prec) for prec in a.precision}

    image = np.random.default_rng(0).integers(0, 256, (a.size, a.size, 3), dtype=np.uint8)
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255

    def run_eager() -> None:
        with torch.inference_mode():
            eager(tensor)

    contestants = {"eager fp32": run_eager}
    for prec, model in ours.items():
        label = f"auto -> {model.precision}" if prec == "auto" else prec
        contestants[f"srgan.load().upscale ({label})"] = lambda m=model: m.upscale(image)
    times: dict[str, list[float]] = {name: [] for name in contestants}
    for fn in contestants.values():
        fn()  # warm-up: oneDNN and ONNX Runtime pick and cache their kernels on the first call of each shape
    for _ in range(a.rounds):
        for name, fn in contestants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)

    megapixels = (4 * a.size) ** 2 / 1e6
    speeds = {name: megapixels / statistics.median(ts) for name, ts in times.items()}
    eager_speed = speeds["eager fp32"]
    from srgan.infer.autoprecision import cpu_name

    print(f"{cpu_name()}, torch {torch.__version__}")
    print(f"{a.size}x{a.size} -> {4 * a.size}x{4 * a.size}, {torch.get_num_threads()} threads, median of {a.rounds} rounds")
    print(f"{'':34s} {'MP/s':>7s} {'vs eager':>9s} {'of ' + f'{a.limit:g} MP/s':>12s}")
    for name, speed in speeds.items():
        print(f"{name:34s} {speed:7.3f} {speed / eager_speed:8.2f}x {speed / a.limit:12.1%}")
    if "auto" in ours:
        auto = next(v for k, v in speeds.items() if "(auto" in k)
        exact = [v for k, v in speeds.items() if k.endswith("(fp32)") or k.endswith("(bf16)")]
        if exact:
            print(f"auto / max(fp32, bf16) = {auto / max(exact):.3f}; auto / eager fp32 = {auto / eager_speed:.2f}x")


if __name__ == "__main__":
    main()
