"""This CPU's ceiling for ×4 SRResNet inference: how fast can its convolutions go at all?

Times the convolution that makes up most of the SRResNet (3×3, 64 → 64 channels, the 32 residual-block
convs) on one large input, in the given precision and memory format, and converts its GFLOP/s into
output megapixels per second for the whole network: the ×4 SRResNet costs 277 GFLOP per output
megapixel (2 × 138,636 multiply-adds per output pixel: 9×9 head, 33 body convs, two 64→256 upsampling
convs at 1× and 2×, 9×9 tail at 4×). An implementation that computes the network's convolutions directly
(no Winograd/FFT arithmetic savings) cannot beat that figure as long as the other layers run no
faster than this kernel (the 64→256 and sub-pixel tail convolutions are of the same kind). It is the "physical limit" the inference issue names (3.7 MP/s on its reference CPU).

    python benchmarks/conv_peak.py [--precision bf16] [--size 256] [--threads 2] [--rounds 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

GFLOP_PER_OUTPUT_MP = 277.3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    p.add_argument("--size", type=int, default=256, help="feature map side in pixels")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=20)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    dtype = torch.bfloat16 if a.precision == "bf16" else torch.float32
    x = torch.randn(1, 64, a.size, a.size, dtype=dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(64, 64, 3, 3, dtype=dtype).contiguous(memory_format=torch.channels_last)
    b = torch.randn(64, dtype=dtype)
    flops = 2 * 64 * 64 * 9 * a.size * a.size
    times = []
    with torch.no_grad():
        for i in range(a.rounds + 3):
            t = time.perf_counter()
            F.conv2d(x, w, b, padding=1)
            if i >= 3:
                times.append(time.perf_counter() - t)
    gflops = flops / statistics.median(times) / 1e9
    print(f"conv 3x3 64->64 {a.size}x{a.size} {a.precision} channels_last, {a.threads} threads: {gflops:,.0f} GFLOP/s")
    print(f"implied ceiling for the x4 SRResNet: {gflops / GFLOP_PER_OUTPUT_MP:.2f} output MP/s")


if __name__ == "__main__":
    main()
