"""Inference speed: ``srgan.load(...).upscale`` vs the eager fp32 network, measured in one run.

Both run the paper-sized ×4 SRResNet (16 blocks, 64 channels, random weights: speed does not depend on
their values) on a 256×256 input, 1024×1024 output. The eager baseline is ``Generator()`` called on a
float32 NCHW tensor, as a training script would; ours is the public API on a uint8 array, conversions
and default tiling included. The two alternate, round after round, and each is summarised by its median,
so load from other processes hits both alike. Prints output megapixels per second for both, the ratio,
and the fraction of this CPU's physical limit (about 3.7 output MP/s on the 2-core reference machine:
277 GFLOP per output megapixel at the ~1,035 GFLOP/s its bf16 convolutions reach; measure your own
CPU's with benchmarks/conv_peak.py and pass it as --limit).

``--precision int8`` times the ONNX Runtime int8 path (``srgan.int8``; needs srgan[onnx]). Its graph is
built and calibrated once per weights before timing starts (a few seconds up to a minute), so the
figures are steady-state speed, as for the fused bf16 path whose weights are prepacked at load.

    python benchmarks/infer_speed.py [--size 256] [--rounds 7] [--precision auto|fp32|bf16|int8] [--limit 3.7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import srgan
from srgan import zoo
from srgan.models.generator import Generator


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256, help="input side in pixels (output is 4× that)")
    p.add_argument("--rounds", type=int, default=7, help="timed rounds per contestant (after one warm-up)")
    p.add_argument("--precision", default="auto", help="precision for ours: auto, fp32, bf16 or int8")
    p.add_argument("--limit", type=float, default=3.7, help="physical limit of this CPU in output MP/s")
    a = p.parse_args()

    torch.manual_seed(0)
    eager = Generator().eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "srresnet-x4-random.safetensors"
        zoo.save_model(path, eager, {"kind": "srresnet", "scale": 4})
        ours = srgan.load(path, precision=a.precision)

    image = np.random.default_rng(0).integers(0, 256, (a.size, a.size, 3), dtype=np.uint8)
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255

    def run_eager() -> None:
        with torch.inference_mode():
            eager(tensor)

    def run_ours() -> None:
        ours.upscale(image)

    contestants = {"eager fp32": run_eager, f"srgan.load().upscale ({ours.precision})": run_ours}
    times: dict[str, list[float]] = {name: [] for name in contestants}
    for name, fn in contestants.items():
        fn()  # warm-up: oneDNN picks and caches its kernels on the first call of each shape
    for _ in range(a.rounds):
        for name, fn in contestants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)

    megapixels = (4 * a.size) ** 2 / 1e6
    speeds = {name: megapixels / statistics.median(ts) for name, ts in times.items()}
    (eager_name, eager_speed), (ours_name, ours_speed) = speeds.items()
    print(f"{a.size}x{a.size} -> {4 * a.size}x{4 * a.size}, {torch.get_num_threads()} threads, median of {a.rounds} rounds")
    print(f"{eager_name:34s} {eager_speed:6.3f} output MP/s")
    print(f"{ours_name:34s} {ours_speed:6.3f} output MP/s")
    print(f"{'ratio':34s} {ours_speed / eager_speed:6.2f}x")
    print(f"{'fraction of the ' + f'{a.limit:g} MP/s limit':34s} {ours_speed / a.limit:6.1%}")


if __name__ == "__main__":
    main()
