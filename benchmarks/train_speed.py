"""Trainer throughput vs a plain training loop, measured in one run on the same machine.

The plain loop is the floor any SRResNet trainer pays: synthetic tensors, bf16 autocast (or fp32),
channels_last, Adam, MSE, no data loading. Ours is ``srgan.train.loop.Trainer`` on real images (decode,
crop, augment, MATLAB-bicubic LR), validation excluded. Prints both in img/s and the ratio.

    python benchmarks/train_speed.py [--steps 60] [--warmup 10] [--precision bf16] [--data DIR ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from srgan.bench.places import shared_dir
from srgan.models.generator import Generator
from srgan.train.config import load_config
from srgan.train.loop import Trainer
from srgan.train.networks import autocast


def plain_loop(steps: int, warmup: int, batch: int, crop: int, precision: str) -> float:
    torch.manual_seed(0)
    g = Generator().to(memory_format=torch.channels_last).train()
    opt = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.9, 0.999))
    lr = torch.rand(batch, 3, crop // 4, crop // 4).contiguous(memory_format=torch.channels_last)
    hr = torch.rand(batch, 3, crop, crop).contiguous(memory_format=torch.channels_last)
    dev = torch.device("cpu")
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        with autocast(dev, precision):
            sr = g(lr)
        loss = F.mse_loss(sr.float(), hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0)


def our_trainer(steps: int, warmup: int, batch: int, crop: int, precision: str, data: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(None, {
            "kind": "srresnet", "data": data, "steps": warmup, "batch_size": batch, "crop": crop,
            "precision": precision, "log_every": 10**9, "checkpoint_every": 10**9, "val_every": 10**9,
        })
        trainer = Trainer(cfg, Path(tmp) / "run")
        trainer.fit()  # warm-up (includes decoding the images into memory, excluded from the timing)
        trainer.cfg.steps = warmup + steps
        t0 = time.perf_counter()
        trainer.fit()
        return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--crop", type=int, default=96)
    p.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    p.add_argument("--data", nargs="+", default=[str(shared_dir() / "data" / "train" / "T91")])
    a = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, precision {a.precision}, batch {a.batch_size}, crop {a.crop}")
    plain = plain_loop(a.steps, a.warmup, a.batch_size, a.crop, a.precision)
    print(f"plain loop (synthetic tensors): {plain:.1f} img/s", flush=True)
    ours = our_trainer(a.steps, a.warmup, a.batch_size, a.crop, a.precision, a.data)
    print(f"srgan trainer (data included):  {ours:.1f} img/s")
    print(f"ratio: {ours / plain:.3f}")


if __name__ == "__main__":
    main()
