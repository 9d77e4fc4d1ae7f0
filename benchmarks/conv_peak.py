"""This CPU's ceiling for ×4 SRResNet inference: how fast can its convolutions go at all?

Times the convolution that makes up most of the SRResNet (3×3, 64 → 64 channels, the 32 residual-block
convs) on one large input, in the given precision and memory format, and converts its GFLOP/s into
output megapixels per second for the whole network: the ×4 SRResNet costs 277 GFLOP per output
megapixel (2 × 138,636 multiply-adds per output pixel: 9×9 head, 33 body convs, two 64→256 upsampling
convs at 1× and 2×, 9×9 tail at 4×). An implementation that computes the network's convolutions directly
(no Winograd/FFT arithmetic savings) cannot beat that figure as long as the other layers run no
faster than this kernel (the 64→256 and sub-pixel tail convolutions are of the same kind). It is the "physical limit" the inference issue names (3.7 MP/s on its reference CPU).

`--precision int8` times PyTorch's quantized convolution (x86 engine, uint8 activations, per-channel int8
weights), which uses VNNI dot products where the CPU has them: the ceiling an int8 path could approach.

    python benchmarks/conv_peak.py [--precision bf16|fp32|int8] [--size 256] [--threads 2] [--rounds 20]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
import torch.nn.functional as F

GFLOP_PER_OUTPUT_MP = 277.3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--precision", choices=["bf16", "fp32", "int8"], default="bf16")
    p.add_argument("--size", type=int, default=256, help="feature map side in pixels")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=20)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    if a.precision == "int8":
        conv, x = int8_conv(a.size)
    else:
        dtype = torch.bfloat16 if a.precision == "bf16" else torch.float32
        x = torch.randn(1, 64, a.size, a.size, dtype=dtype).contiguous(memory_format=torch.channels_last)
        w = torch.randn(64, 64, 3, 3, dtype=dtype).contiguous(memory_format=torch.channels_last)
        b = torch.randn(64, dtype=dtype)

        def conv(t):
            return F.conv2d(t, w, b, padding=1)

    flops = 2 * 64 * 64 * 9 * a.size * a.size
    times = []
    with torch.no_grad():
        for i in range(a.rounds + 3):
            t = time.perf_counter()
            conv(x)
            if i >= 3:
                times.append(time.perf_counter() - t)
    gflops = flops / statistics.median(times) / 1e9
    unit = "GOP/s" if a.precision == "int8" else "GFLOP/s"
    print(f"conv 3x3 64->64 {a.size}x{a.size} {a.precision} channels_last, {a.threads} threads: {gflops:,.0f} {unit}")
    print(f"implied ceiling for the x4 SRResNet: {gflops / GFLOP_PER_OUTPUT_MP:.2f} output MP/s")


def int8_conv(size: int):
    """A quantized 3×3 64→64 convolution and a uint8 channels_last input for it."""
    warnings.filterwarnings("ignore", message=".*quantized tensor creation.*")
    engines = torch.backends.quantized.supported_engines
    torch.backends.quantized.engine = "x86" if "x86" in engines else "fbgemm"
    x = torch.quantize_per_tensor(torch.randn(1, 64, size, size), 0.05, 128, torch.quint8)
    conv = torch.ao.nn.quantized.Conv2d(64, 64, 3, padding=1)
    w = torch.quantize_per_channel(torch.randn(64, 64, 3, 3), torch.full((64,), 0.01), torch.zeros(64, dtype=torch.long), 0, torch.qint8)
    conv.set_weight_bias(w, torch.zeros(64))
    conv.scale, conv.zero_point = 0.1, 128
    return conv, x.contiguous(memory_format=torch.channels_last)


if __name__ == "__main__":
    main()
