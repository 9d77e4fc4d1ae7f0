"""Where a model runs and in which precision: one policy for training and inference."""

from __future__ import annotations

import torch

from srgan.errors import SrganError

# int8 is inference-only and CPU-only (srgan.infer.int8, through ONNX Runtime); auto never picks it.
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")


def _mps_available() -> bool:
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def pick_device(name: str = "auto", *, allow_mps: bool = True) -> torch.device:
    """``auto``: CUDA, else (for inference) Apple's MPS, else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if allow_mps and _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SrganError("--device cuda: no CUDA device is available")
    if name == "mps" and not (allow_mps and _mps_available()):
        raise SrganError("--device mps: no Apple GPU is available" if allow_mps else "training runs on cpu or cuda, not mps")
    if name not in ("cpu", "cuda", "mps"):
        raise SrganError(f"unknown device {name!r} (use auto, cpu, cuda or mps)")
    return torch.device(name)


def cpu_supports_bf16() -> bool:
    """Native bf16 convolutions (AVX-512-BF16 or AMX): where bf16 is a speed-up rather than an emulation."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def pick_precision(name: str, device: torch.device, *, training: bool = False) -> str:
    """``auto``: bf16 on CPUs with native bf16, else fp32; on GPUs fp16 for inference, and bf16 (or fp16
    with loss scaling where bf16 is missing) for training, whose gradients need bf16's range.

    For inference on the CPU, ``srgan.infer.model`` does not use this guess: it measures both
    (``srgan.infer.autoprecision``), since a CPU flag does not say which one is faster."""
    if name not in PRECISIONS:
        raise SrganError(f"unknown precision {name!r} (use {', '.join(PRECISIONS)})")
    if name != "auto":
        if name == "fp16" and device.type == "cpu":
            raise SrganError("fp16 needs a GPU; use bf16 or fp32 on the CPU")
        if name == "int8" and (training or device.type != "cpu"):
            raise SrganError("int8 is for inference on the CPU; use --device cpu, or another precision")
        return name
    if device.type == "cuda":
        return "bf16" if training and torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "mps":
        return "fp16"
    return "bf16" if cpu_supports_bf16() else "fp32"
