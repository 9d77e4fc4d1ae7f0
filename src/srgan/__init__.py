"""srgan: super-resolve and denoise photos with SRGAN.

    import srgan
    model = srgan.load("srresnet-x4")      # a shipped name, a .safetensors file, a checkpoint
    big = model.upscale(photo)             # PIL image or uint8/uint16 array in, the same kind out
    clean = srgan.restore(noisy_photo)     # the shipped denoiser, then the default ×4 model

``import srgan`` stays cheap (no torch): the API below is imported on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["DEFAULT_UPSCALER", "Model", "available_models", "load", "restore"]

_LAZY = {name: "srgan.infer.model" for name in ("Model", "load", "restore", "available_models")}


def __getattr__(name: str):
    if name == "DEFAULT_UPSCALER":
        # Looked up on each access, so weights added after import count; no torch needed for it.
        from srgan.models.zoo import default_upscaler

        return default_upscaler()
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'srgan' has no attribute {name!r}")
