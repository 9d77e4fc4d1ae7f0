"""Denoiser speed: today's blind U-Net (``denoiser``) against the σ-aware FFDNet, through ``srgan.load(...).denoise``.

Both run as users run them: the public API on a uint8 RGB array, conversions and default tiling included, once
per precision asked for (default fp32 and bf16; the same precision for both, so the ratio compares designs, not
arithmetic). The old model is the blind U-Net that shipped as ``denoiser`` before issue 20 (widths 48/96/192,
two convolutions per level, records/training/denoiser-r1), built with random weights, or a model file
(``--old``); the new one is an FFDNet of the default architecture with random weights, or a trained one
(``--new``, for example the shipped ``denoiser``). Speed does not depend on the weights' values. FFDNet
is told σ 0.1, so the time is the network's; the noise estimate it runs when σ is not given
(``srgan.ops.noise_level.estimate_sigma``) is timed on its own. The contestants alternate, round after round,
and each is summarised by the median and the best of its rounds (the best is what a machine shared with other
work shows when it is left alone for a moment). Multiply-adds per output pixel are counted by hooks on every
convolution.

Prints the CPU, the thread count, and for each precision the output MP/s of each model and the ratio new/old.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/denoise_speed.py [--size 256] [--rounds 7] [--threads 2]
        [--precision fp32 bf16] [--old PATH] [--new denoiser | --widths 64 128 256 --blocks 1]

OMP_WAIT_POLICY=PASSIVE: on a CPU shared with other processes, OpenMP threads that spin while waiting for a
descheduled peer cost the many short layers of both networks several times their compute.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import srgan
from srgan.infer.autoprecision import cpu_name
from srgan.models import zoo
from srgan.models.denoiser import DenoisingAutoencoder
from srgan.models.ffdnet import FFDNet, FFDNetConfig
from srgan.ops.noise_level import estimate_sigma


def macs_per_pixel(net: nn.Module, *args) -> float:
    """Multiply-adds of every convolution per output pixel, on a 64×64 input."""
    total = 0

    def count(module: nn.Conv2d, inputs, output) -> None:
        nonlocal total
        k = module.kernel_size[0] * module.kernel_size[1]
        total += output[0, 0].numel() * module.in_channels * module.out_channels * k // module.groups

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            net(torch.rand(1, 3, 64, 64), *args)
    finally:
        for h in hooks:
            h.remove()
    return total / 64**2


def main() -> None:
    default = FFDNetConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256, help="image side in pixels (one tile at the default tile size)")
    p.add_argument("--rounds", type=int, default=7, help="timed rounds per contestant (after one warm-up)")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    p.add_argument("--old", default=None, help="the old denoiser: a model file (default: its architecture, random weights)")
    p.add_argument("--new", default=None, help="a trained FFDNet: a shipped name or a model file (default: random weights)")
    p.add_argument("--widths", type=int, nargs="+", default=list(default.widths), help="random FFDNet: widths")
    p.add_argument("--blocks", type=int, default=default.blocks_per_level, help="random FFDNet: blocks per level")
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    with tempfile.TemporaryDirectory() as tmp:
        new_path, old_path = a.new, a.old
        torch.manual_seed(0)
        if new_path is None:
            new_path = Path(tmp) / "ffdnet-random.safetensors"
            zoo.save_model(new_path, FFDNet(widths=a.widths, blocks_per_level=a.blocks), {"kind": "denoiser", "scale": 1})
        if old_path is None:
            old_path = Path(tmp) / "denoiser-r1-random.safetensors"
            old = DenoisingAutoencoder(channels=3, widths=(48, 96, 192), blocks_per_level=2)
            zoo.save_model(old_path, old, {"kind": "denoiser", "scale": 1, "name": "denoiser-r1 (random weights)"})
        models = {}
        for prec in a.precision:
            models[("old", prec)] = srgan.load(old_path, device="cpu", precision=prec)
            models[("new", prec)] = srgan.load(new_path, device="cpu", precision=prec)
    old_net, new_net = models[("old", a.precision[0])].network, models[("new", a.precision[0])].network
    macs = {"old": macs_per_pixel(old_net), "new": macs_per_pixel(new_net, 0.1)}

    image = np.random.default_rng(0).integers(0, 256, (a.size, a.size, 3), dtype=np.uint8)
    contestants = {key: (lambda m=m: m.denoise(image, sigma=0.1)) for key, m in models.items()}
    contestants[("estimate", "-")] = lambda: estimate_sigma(image)
    times: dict = {key: [] for key in contestants}
    for fn in contestants.values():
        fn()  # warm-up: oneDNN picks and caches its kernels on the first call of each shape
    for _ in range(a.rounds):
        for key, fn in contestants.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)

    megapixels = a.size**2 / 1e6
    print(f"{cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{a.size}x{a.size} RGB uint8 through srgan.load().denoise, {a.rounds} rounds")
    names = {"old": f"{models[('old', a.precision[0])].name} (blind U-Net {old_net.config.to_dict()})",
             "new": f"FFDNet {new_net.config.to_dict()}"}
    for which in ("old", "new"):
        print(f"  {which}: {names[which]}: {macs[which] / 1e3:.1f}k MACs per output pixel, "
              f"{sum(q.numel() for q in (old_net if which == 'old' else new_net).parameters()) / 1e6:.2f}M parameters")
    print(f"  MACs ratio old/new: {macs['old'] / macs['new']:.2f}")
    for prec in a.precision:
        rate = {}
        for which in ("old", "new"):
            ts = times[(which, prec)]
            rate[which] = (megapixels / statistics.median(ts), megapixels / min(ts))
            print(f"  {prec} {which}: {rate[which][0]:.3f} output MP/s median, {rate[which][1]:.3f} best")
        print(f"  {prec} new/old: {rate['new'][0] / rate['old'][0]:.2f}x median, {rate['new'][1] / rate['old'][1]:.2f}x best")
    est = times[("estimate", "-")]
    print(f"  noise estimate (σ not given): {statistics.median(est) * 1e3:.0f} ms median on this image")


if __name__ == "__main__":
    main()
