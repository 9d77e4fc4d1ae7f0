"""``srgan models`` and ``srgan export``: what is shipped, and models as ONNX for other runtimes.

The ONNX file holds the inference form of the network (BatchNorm folded, the sub-pixel tail of
``srgan.infer.fast``), fp32, with dynamic batch, height and width, weights inside the one file. Input
``image``: N×C×H×W float in [0, 1] (and for a denoiser told σ, FFDNet, ``sigma``: N floats on the same
scale); output ``output``: N×C×(H·s)×(W·s), not clamped (clamp to [0, 1] before converting to pixels, as
``srgan.infer.model`` does). The export is checked before the file
is published: ONNX Runtime and PyTorch run a test image and their largest difference is reported.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import numpy as np

from srgan.errors import SrganError

# Largest |ONNX Runtime − PyTorch| accepted on the test image (values are in [0, 1]).
TOLERANCE = 1e-3


def print_models(as_json: bool = False, file=None) -> None:
    """One line per shipped model with the main facts of its card (or the cards as JSON)."""
    from srgan.infer.model import available_models, default_upscaler
    from srgan.models import zoo

    file = file or sys.stdout  # looked up now: a default bound at import would outlive a redirected stdout

    cards = available_models()
    if as_json:
        print(json.dumps(cards, indent=2), file=file)
        return
    if not cards:
        print("no models are shipped with this install yet; pass a .safetensors file, checkpoint or run folder to --model",
              file=file)
        return
    for card in cards:
        scale = card.get("scale")
        data = card.get("data") or card.get("training_data") or card.get("dataset") or ""
        if isinstance(data, list | tuple):
            data = ", ".join(str(d) for d in data)
        elif isinstance(data, dict):
            data = ", ".join(str(v) for v in data.values() if isinstance(v, str | int)) or json.dumps(data)
        facts = [card.get("kind", "?"), f"×{scale}" if scale else "", f"{card['steps']:,} steps" if isinstance(card.get("steps"), int) else ""]
        if zoo.card_takes_sigma(card):
            facts.append("told σ (FFDNet; --sigma, or estimated)")
        print(f"{card['name']}: " + ", ".join(f for f in facts if f), file=file)
        if data:
            print(f"    data: {data}", file=file)
        metrics = _metric_summary(card)
        if metrics:
            print(f"    {metrics}", file=file)
    print(f"default upscaler: {default_upscaler()}", file=file)


def _metric_summary(card: dict) -> str:
    """``Set5 PSNR-Y 31.9 / SSIM-Y 0.890; ...`` from whichever metrics the card has."""
    metrics = card.get("metrics") or card.get("benchmarks") or {}
    parts = []
    if isinstance(metrics, dict):
        for key, value in metrics.items():
            if isinstance(value, dict):
                shown = [f"{k} {v:.4g}" for k, v in value.items() if isinstance(v, int | float)][:3]
                if shown:
                    parts.append(f"{key}: " + ", ".join(shown))
            elif isinstance(value, int | float):
                parts.append(f"{key} {value:.4g}")
    return "; ".join(parts[:4])


# -------------------------------------------------------------------------------------------------- ONNX


def export_onnx(model: str, output: str | os.PathLike[str], opset: int = 17) -> float:
    """Write ``model`` as ONNX to ``output`` (atomically, only if the check passes); the max difference."""
    import torch

    from srgan.io.files import atomic_path
    from srgan.infer.model import load

    onnx, ort = _onnx_modules()
    out = os.fspath(output)
    if not out.lower().endswith(".onnx"):
        raise SrganError(f"{out}: the output name must end in .onnx")
    m = load(model, device="cpu", precision="fp32")
    net = _exportable(m)
    channels = m.network.config.channels if m.kind == "denoiser" else m.network.config.in_channels
    # Odd, non-square and not a multiple of the denoiser's stride: exercises every dynamic path.
    sample = torch.rand(1, channels, 37, 29, generator=torch.Generator().manual_seed(0))
    test = _test_image(channels)
    names, axes, feed = ["image"], {"image": {0: "batch", 2: "height", 3: "width"}}, {"image": test}
    if m.takes_sigma:  # σ is a second input, one value per image
        from srgan.models.ffdnet import CHECK_SIGMA

        sample = (sample, torch.tensor([CHECK_SIGMA]))
        names, axes["sigma"], feed["sigma"] = [*names, "sigma"], {0: "batch"}, np.array([CHECK_SIGMA], np.float32)
    with atomic_path(out) as tmp:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            # The TorchScript exporter: it needs no extra packages and keeps height and width symbolic
            # through the denoiser's pad-and-crop; torch.export's exporter would need onnxscript too.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net, sample if isinstance(sample, tuple) else (sample,), str(tmp), dynamo=False, opset_version=opset,
                input_names=names, output_names=["output"],
                dynamic_axes={**axes, "output": {0: "batch", 2: "out_height", 3: "out_width"}},
            )
        try:
            onnx.checker.check_model(str(tmp))
            session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            got = session.run(None, feed)[0]
        except Exception as exc:  # noqa: BLE001 - any failure here means the file is not usable
            first = (str(exc).strip().splitlines() or [""])[0][:200]  # its checker's messages run to many lines
            raise SrganError(f"{out}: the exported model does not run in ONNX Runtime ({type(exc).__name__}: {first})") from None
        with torch.no_grad():
            want = m.network(*(torch.from_numpy(v) for v in feed.values())).numpy()
        if got.shape != want.shape:
            raise SrganError(f"{out}: ONNX output shape {got.shape} differs from PyTorch's {want.shape}")
        diff = float(np.abs(got - want).max())
        if not diff <= TOLERANCE:
            raise SrganError(f"{out}: ONNX Runtime differs from PyTorch by {diff:.2e} (more than {TOLERANCE:g}); not written")
    return diff


def _onnx_modules():
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise SrganError("srgan export needs onnx and onnxruntime: pip install 'srgan[onnx]'") from None
    return onnx, onnxruntime


def _exportable(m):
    """The network in the form to export: the inference rewrite for generators, a pad-and-crop
    wrapper for the denoiser (so any height and width work, not just multiples of its stride)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from srgan.infer.fast import InferenceGenerator

    if m.kind != "denoiser":
        return InferenceGenerator(m.network).eval()
    if m.takes_sigma:
        # FFDNet pads and crops itself; traced, its padding is always taken (by 0 when already a multiple).
        return m.network.eval()

    class PaddedDenoiser(nn.Module):
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net
            self.stride = net.stride

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h, w = x.shape[-2], x.shape[-1]
            # Always pad (by 0 when already a multiple): the traced graph must not depend on the
            # sample's size, and the network then never takes its own data-dependent padding branch.
            pad_h = (self.stride - h % self.stride) % self.stride
            pad_w = (self.stride - w % self.stride) % self.stride
            y = self.net(F.pad(x, (0, pad_w, 0, pad_h), mode="reflect"))
            return y[..., :h, :w]

    return PaddedDenoiser(m.network).eval()


def _test_image(channels: int) -> np.ndarray:
    """A deterministic photo-like test input, 1×C×61×47 float32: gradients, edges and noise."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:61, 0:47] / 60.0
    planes = [np.sin(7 * x + 2 * c) * np.cos(5 * y - c) * 0.3 + 0.5 for c in range(channels)]
    img = np.stack(planes) + (x > 0.5) * 0.1 + rng.normal(0, 0.03, (channels, 61, 47))
    return np.clip(img, 0, 1)[None].astype(np.float32)
