"""int8 inference on CPUs: the SRResNet generator quantized and run by ONNX Runtime.

Why this exists: on a 2-core AVX-512 CPU the bf16 path (``srgan.infer.fast``) is capped by the bf16
convolution rate, about 1.6 output MP/s for the ×4 SRResNet (``benchmarks/conv_peak.py``). The same
CPU's VNNI instructions run int8 dot products about twice as fast, so an int8 network can pass that.

Why ONNX Runtime rather than PyTorch's own int8 kernels: oneDNN's quantized convolution in PyTorch fuses
ReLU but not LeakyReLU, and every activation here is a PReLU (α ≈ 0.25), so each would cost a separate
pass over memory. ONNX Runtime's QDQ graph turns each PReLU into a 256-entry lookup table on the uint8
tensor (``QLinearLeakyRelu``) and runs the convolutions with its direct ("symmetric") VNNI kernels.

What is quantized: the inference form of the generator (``fast.InferenceGenerator``: BatchNorm folded,
sub-pixel tail) is exported to ONNX, then statically quantized: weights int8 per output channel,
activations uint8 per tensor with ranges measured on crops of a bundled photo. Two details
matter for speed: ONNX Runtime's direct kernel needs at least 16 output channels, so the 12-channel
sub-pixel tail is padded with 4 zero channels and sliced after (unpadded, it falls back to ONNX
Runtime's im2col kernel and becomes by far the slowest layer); and the graph is built once per weights
and kept in a cache folder, since calibration takes most of a minute.

What it costs: rounding 37 layers' activations to 256 levels loses 0.07–0.29 dB PSNR-Y against fp32
(``srgan evaluate --precision int8`` on Set5, Set14, BSD100 and the validation cats; see the README),
mostly in the residual trunk, whose running sum spans a far wider range than each block's correction
yet gets 256 levels per tensor. So int8 is opt-in (``--precision int8``), never what ``auto`` picks.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from srgan.errors import SrganError
from srgan.ops.pixels import luma

log = logging.getLogger(__name__)

# Bump when the export or quantization recipe changes, so cached graphs built the old way are not reused.
RECIPE = "qdq-percentile99.99-chunked4-perchannel-tail16-v2"
# Activation ranges: the 99.99th percentile of |activation| over the calibration crops; it kept Set5 closest
# to fp32 among MinMax, entropy and the 99.9th / 99.999th percentiles in a one-off comparison.
CALIBRATION_PERCENTILE = 99.99
CALIBRATION_PHOTO = Path(__file__).resolve().parents[1] / "assets" / "calibration.png"
CALIBRATION_CROP = 64
# ONNX Runtime's direct int8 convolution (MLAS "ConvSym") needs ≥ 16 output channels, a multiple of 8.
_MIN_OUT_CHANNELS = 16


def onnxruntime_module():
    try:
        import onnx  # noqa: F401 - the quantizer needs it
        import onnxruntime
    except ImportError:
        raise SrganError("precision int8 runs through ONNX Runtime: pip install 'srgan[onnx]'") from None
    return onnxruntime


class _ExportForm(nn.Module):
    """``InferenceGenerator`` with its tail convolution padded to 16 output channels (zeros), sliced after."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        tail = net.tail.conv
        self.out_channels = tail.out_channels
        padded = max(_MIN_OUT_CHANNELS, -(-tail.out_channels // 8) * 8)
        self.tail = nn.Conv2d(tail.in_channels, padded, tail.kernel_size, padding=tail.padding)
        with torch.no_grad():
            self.tail.weight.zero_()
            self.tail.bias.zero_()
            self.tail.weight[: tail.out_channels] = tail.weight
            self.tail.bias[: tail.out_channels] = tail.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.net.before_tail(x), self.net.tail.alpha)
        return F.pixel_shuffle(self.tail(h)[:, : self.out_channels], 2)


def calibration_windows(photos: list[np.ndarray] | None = None, crop: int = CALIBRATION_CROP,
                        channels: int = 3) -> list[np.ndarray]:
    """1×C×crop×crop float32 inputs in [0, 1]: non-overlapping crops of ``photos`` (H×W×3 uint8), by
    default of the bundled photo; C = 1 gives their luma. Deterministic: the same weights always give
    the same graph."""
    if photos is None:
        from srgan.io.read import read_image

        photos = [read_image(CALIBRATION_PHOTO).pixels]
    windows = []
    for photo in photos:
        h, w = photo.shape[:2]
        for y in range(0, h - crop + 1, crop):
            for x in range(0, w - crop + 1, crop):
                patch = photo[y : y + crop, x : x + crop, :3].astype(np.float32) / 255.0
                if channels == 1:
                    patch = luma(patch)
                windows.append(np.ascontiguousarray(patch.transpose(2, 0, 1)[None]))
    if not windows:
        raise SrganError(f"int8 calibration needs photos of at least {crop}×{crop} pixels")
    return windows


def quantize(net: nn.Module, windows: list[np.ndarray]) -> bytes:
    """The int8 QDQ ONNX graph (as bytes) of an ``InferenceGenerator``, calibrated on ``windows``."""
    onnxruntime_module()
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        """The windows, a few at a time: the calibrator keeps every intermediate tensor of the windows it
        is given (about 100 MB per 64-px window here), so all 48 at once peaked at 7.8 GB RSS."""

        def __init__(self) -> None:
            self.set_range(0, len(windows))

        def __len__(self) -> int:
            return len(windows)

        def set_range(self, start_index: int, end_index: int) -> None:
            self.items = iter(windows[start_index:end_index])

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {"image": item}

    form = _ExportForm(net).eval()
    sample = torch.from_numpy(windows[0])
    with tempfile.TemporaryDirectory(prefix="srgan-int8-") as tmp:
        fp32, pre, q8 = (os.path.join(tmp, n) for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        with torch.no_grad(), _quiet():
            torch.onnx.export(
                form, (sample,), fp32, dynamo=False, opset_version=17, input_names=["image"], output_names=["output"],
                dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"}, "output": {0: "batch", 2: "out_height", 3: "out_width"}},
            )
            quant_pre_process(fp32, pre, skip_symbolic_shape=True)
            quantize_static(
                pre, q8, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.Percentile,
                # Histograms are merged chunk by chunk; the option's name is historical, it applies to any method.
                extra_options={"CalibPercentile": CALIBRATION_PERCENTILE, "CalibStridedMinMax": _chunk(len(windows))},
            )
        return Path(q8).read_bytes()


def _chunk(n: int, most: int = 4) -> int:
    """The largest divisor of ``n`` up to ``most`` (the calibrator insists that chunks divide the windows)."""
    return max(d for d in range(1, most + 1) if n % d == 0)


@contextlib.contextmanager
def _quiet():
    """Silence the exporter's and quantizer's warnings, log records and progress prints (about their internals)."""
    import warnings

    level = logging.root.level
    logging.root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.root.setLevel(level)


class Int8Generator:
    """A quantized generator in an ONNX Runtime session: a 1×3×H×W float32 tensor in, 1×3×4H×4W out."""

    def __init__(self, model: bytes, threads: int | None = None) -> None:
        ort = onnxruntime_module()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # its warnings are about its own fusions, not about the user's input
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        image = x.detach().float().cpu().contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {"image": image})[0])


def cache_dir() -> Path:
    """Where built int8 graphs are kept: ``$SRGAN_CACHE``, else ``~/.cache/srgan``."""
    return Path(os.environ.get("SRGAN_CACHE") or Path.home() / ".cache" / "srgan")


def fingerprint(net: nn.Module) -> str:
    """A digest of the weights, the recipe and the runtime versions: the cache key of the int8 graph."""
    ort = onnxruntime_module()
    h = hashlib.sha256(f"{RECIPE} torch {torch.__version__} ort {ort.__version__}".encode())
    for name, tensor in sorted(net.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    for name in ("head_alpha", "block_alphas", "up_alphas"):
        h.update(repr(getattr(net, name)).encode())
    h.update(repr(net.tail.alpha).encode())
    return h.hexdigest()[:24]


def prepare_int8(net: nn.Module) -> Int8Generator:
    """The int8 form of an ``InferenceGenerator``, from the cache when it was built before."""
    key = fingerprint(net)
    path = cache_dir() / f"int8-{key}.onnx"
    if path.is_file():
        model = path.read_bytes()
        try:
            return Int8Generator(model)
        except Exception as exc:  # noqa: BLE001 - a damaged cache file is rebuilt, not fatal
            log.warning("rebuilding the int8 graph: cached %s does not load (%s)", path, str(exc).splitlines()[0])
    print(f"srgan: building the int8 graph (once per weights; kept in {cache_dir()})", file=sys.stderr)
    model = quantize(net, calibration_windows(channels=net.config.in_channels))
    try:
        from srgan.io.files import atomic_write_bytes

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, model)
    except OSError as exc:  # a read-only home still gets int8, just rebuilt each time
        log.warning("int8 graph not cached (%s)", exc)
    return Int8Generator(model)
