"""Running a trained network on pixels: uint8/uint16 arrays in, arrays out.

``Runner`` wraps a generator or denoiser for inference: eval mode, the chosen device and precision,
channels_last, and conversion between H×W×C integer arrays and [0, 1] float tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from srgan.errors import SrganError


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SrganError("--device cuda: no CUDA device is available")
    if name == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise SrganError("--device mps: no Apple GPU is available")
    return torch.device(name)


def pick_precision(name: str, device: torch.device) -> str:
    from srgan.train import cpu_supports_bf16

    if name != "auto":
        if name == "fp16" and device.type == "cpu":
            raise SrganError("fp16 inference needs a GPU; use bf16 or fp32 on the CPU")
        return name
    if device.type == "cuda":
        return "fp16"
    return "bf16" if device.type == "cpu" and cpu_supports_bf16() else "fp32"


@dataclass
class Runner:
    model: nn.Module
    kind: str  # srresnet | srgan | denoiser
    scale: int
    device: torch.device
    precision: str = "fp32"

    @classmethod
    def create(cls, model: nn.Module, kind: str, device: str = "auto", precision: str = "fp32") -> "Runner":
        dev = pick_device(device)
        prec = pick_precision(precision, dev)
        scale = 1 if kind == "denoiser" else model.config.scale
        model = model.eval().to(dev).to(memory_format=torch.channels_last)
        return cls(model, kind, scale, dev, prec)

    @property
    def channels(self) -> int:
        cfg = self.model.config
        return cfg.channels if self.kind == "denoiser" else cfg.in_channels

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Float (N, C, H, W) in [0, 1] on any device → output on the CPU, float32, clamped to [0, 1]."""
        x = x.to(self.device).contiguous(memory_format=torch.channels_last)
        if self.precision == "fp32":
            y = self.model(x)
        else:
            dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
            with torch.autocast(self.device.type, dtype=dtype):
                y = self.model(x)
        return y.float().clamp_(0, 1).cpu()

    def run_array(self, pixels: np.ndarray) -> np.ndarray:
        """H×W×C uint8 or uint16 → same dtype, H·s×W·s×C. Gray/colour adapted to the model's channels."""
        if pixels.ndim != 3:
            raise SrganError(f"expected an H×W×C array, got shape {pixels.shape}")
        peak = 65535.0 if pixels.dtype == np.uint16 else 255.0
        c = pixels.shape[2]
        x = torch.from_numpy(np.ascontiguousarray(pixels).astype(np.float32) / peak).permute(2, 0, 1)[None]
        if c == 1 and self.channels == 3:
            x = x.expand(1, 3, *x.shape[2:])
        elif c == 3 and self.channels == 1:
            x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        y = self.forward(x)
        if c == 1 and y.shape[1] == 3:
            y = y.mean(1, keepdim=True)
        out = (y[0].permute(1, 2, 0).numpy() * peak).round()
        return out.astype(pixels.dtype)
