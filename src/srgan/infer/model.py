"""Running a trained network on photos: ``srgan.load(...)`` → :class:`Model` → ``upscale`` / ``denoise``.

A :class:`Model` takes images as users have them (a PIL image, an H×W×C uint8/uint16 array, or a
:class:`~srgan.io.picture.Picture`) and returns the same kind. Colour goes through the network; gray is
run as three equal channels and averaged back to one; alpha is resized on its own with MATLAB-style
bicubic (``srgan.ops.imresize``) rather than by the network, since a GAN would invent texture in a
mask, and re-attached. 16-bit pixels stay 16-bit.

Tiling. An image is cut, in CPU memory, into equal windows of at most ``tile + 2·overlap`` input
pixels; one window at a time is sent to the device, and its output is blended into a float32 CPU
buffer the size of the result, the only full-size float array. Along each axis, a window's weight
is zero within ``overlap/2`` of an inner edge (the network sees zero padding there, so those pixels
are the least faithful), then rises smoothly to one over the next ``overlap`` pixels; neighbouring
windows overlap by at least ``2·overlap``, so every pixel gets a positive total weight, and the
result is the weighted mean. Weights are products of per-axis ramps, so their sum is one outer
product of two vectors and never needs an image-sized array. Memory is therefore bounded by the
tile, plus the input and the output themselves.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from srgan.device import pick_device, pick_precision
from srgan.errors import OutputTooLarge, SrganError
from srgan.ops.pixels import LUMA_WEIGHTS, resize
from srgan.ops.pixels import peak as pixel_peak
from srgan.infer.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, VALUES_PER_INPUT_PIXEL, Tiling, run_tiled

log = logging.getLogger(__name__)

def _dtype(precision: str) -> torch.dtype:
    from srgan.infer.fast import dtype_of

    return dtype_of(precision)


# ------------------------------------------------------------------------------------------------- model


@dataclass
class Model:
    """A loaded upscaler or denoiser, ready to run on images (see :func:`load`).

    Attributes:
        name: the shipped name, the card's ``name``, or the file (or run folder) name.
        kind: "srresnet", "srgan" or "denoiser".
        scale: the upscaling factor (1 for the denoiser).
        card: the model card (empty for a bare state dict).
        device: where the network runs.
        precision: the default precision for calls that pass none ("fp32", "bf16" or "fp16").
        network: the network as trained (eval mode, on the CPU); runs use an optimised copy.
        auto: on the CPU, what ``precision="auto"`` measured and chose (``srgan.infer.autoprecision``).
    """

    name: str
    kind: str
    scale: int
    card: dict
    device: torch.device
    precision: str
    network: nn.Module = field(repr=False)
    auto: Any = None
    _prepared: dict = field(default_factory=dict, repr=False)
    _told: set = field(default_factory=set, repr=False)

    # ----------------------------------------------------------------------------------- public API

    def upscale(self, img: Any, *, tile: int | None = None, tile_overlap: int | None = None,
                outscale: float | None = None, precision: str | None = None) -> Any:
        """Super-resolve ``img`` (PIL image, H×W[×C] uint8/uint16 array, or Picture), same kind back.

        Args:
            tile: window side in input pixels (default: ``default_tile()``, 256 on CPUs; 0: the
                whole image in one go). A tile that runs the device out of memory is halved and
                the image retried.
            tile_overlap: context pixels on each inner window side (default 16).
            outscale: final scale relative to the input, when not the model's own (bicubic resize
                of the model's output, as Real-ESRGAN's ``--outscale``).
            precision: "fp32", "bf16", "fp16" or "auto"; default: the model's.
        """
        if self.kind == "denoiser":
            raise SrganError(f"model {self.name} is a denoiser; use denoise(), or load an upscaler")
        return self._apply(img, tile, tile_overlap, outscale, precision)

    def denoise(self, img: Any, *, tile: int | None = None, tile_overlap: int | None = None,
                precision: str | None = None, sigma: float | None = None) -> Any:
        """Remove noise from ``img`` (PIL image, H×W[×C] uint8/uint16 array, or Picture), same kind back.

        ``sigma``: the noise's standard deviation on the [0, 1] scale (0.1 is 25.5 levels of 255), for a
        denoiser that is told it (:attr:`takes_sigma`); None estimates it from the image (:meth:`noise_sigma`,
        logged at INFO). A blind denoiser ignores it.
        """
        if self.kind != "denoiser":
            raise SrganError(f"model {self.name} is a ×{self.scale} {self.kind} upscaler; use upscale(), or load a denoiser")
        return self._apply(img, tile, tile_overlap, None, precision, sigma)

    @property
    def takes_sigma(self) -> bool:
        """Whether the network is told the noise level σ (an FFDNet-style noise level map), not blind."""
        return bool(getattr(self.network, "takes_sigma", False))

    def noise_sigma(self, img: Any, sigma: float | None = None) -> float | None:
        """The σ a denoise of ``img`` runs with: ``sigma`` checked (:func:`check_sigma`), or when None estimated
        from the image (:func:`estimate_noise`); None for a model that is not told σ."""
        if not self.takes_sigma:
            return None
        if sigma is not None:
            return check_sigma(sigma)
        return estimate_noise(_as_picture(img)[0].pixels)

    def run_array(self, pixels: np.ndarray, sigma: float | None = None) -> np.ndarray:
        """H×W×C uint8/uint16 → the model's output, same dtype and channels (for ``srgan evaluate``); ``sigma``
        as for :meth:`denoise`."""
        from srgan.io.picture import Picture

        return self.process(Picture(pixels=np.ascontiguousarray(pixels)), sigma=sigma).pixels

    # --------------------------------------------------------------------------------- the pipeline

    def _apply(self, img: Any, tile, tile_overlap, outscale, precision, sigma=None) -> Any:
        pic, back = _as_picture(img)
        return back(self.process(pic, tile=tile, tile_overlap=tile_overlap, outscale=outscale, precision=precision,
                                 sigma=sigma))

    def process(self, pic, *, tile: int | None = None, tile_overlap: int | None = None,
                outscale: float | None = None, precision: str | None = None, progress: bool = False,
                max_output_pixels: int | None = None, sigma: float | None = None):
        """Picture in, Picture out: pixels through the network, alpha resized, metadata kept.

        ``progress`` shows a bar with an ETA on a terminal; ``max_output_pixels`` refuses (``OutputTooLarge``,
        exit code 2 in the CLI) a result with more pixels, before any work. Outputs over
        ``srgan.io.bigarray.IN_MEMORY_LIMIT`` bytes come back file-backed, so memory stays bounded by the tile.
        ``sigma``: as :meth:`denoise`'s; one value for the whole picture, so every tile is told the same σ.
        """
        from srgan.io.picture import Picture

        precision = self._precision(precision)
        tiling = Tiling(
            self.default_tile(precision) if tile is None else int(tile),
            DEFAULT_OVERLAP if tile_overlap is None else int(tile_overlap),
            getattr(self.network, "stride", 1),
        )
        h, w = pic.pixels.shape[:2]
        size = None
        if outscale is not None:
            if not 0 < outscale <= 16:
                raise SrganError(f"outscale must be in (0, 16], got {outscale}")
            if outscale != self.scale:
                size = (max(1, round(h * outscale)), max(1, round(w * outscale)))
        out_h, out_w = size or (h * self.scale, w * self.scale)
        if max_output_pixels and out_h * out_w > max_output_pixels:
            raise OutputTooLarge(
                f"the result would be {out_w}x{out_h} ({out_w * out_h / 1e6:.0f} MP), over the limit of "
                f"{max_output_pixels / 1e6:g} MP; raise --max-output-pixels to allow it"
            )
        if self.takes_sigma:
            estimated = sigma is None
            sigma = self.noise_sigma(pic, sigma)
            if estimated:
                log.info("noise σ ≈ %.3f (estimated)", sigma)
        else:
            sigma = None  # a blind network has no input for it
        pixels = self._run_fitting(pic.pixels, tiling, precision, progress, sigma)
        if size is not None:
            pixels = resize(pixels, size=size, matlab_uint8=False)
        alpha = pic.alpha
        if alpha is not None and alpha.shape != pixels.shape[:2]:
            alpha = resize(alpha[..., None], size=pixels.shape[:2], matlab_uint8=False)[..., 0]
        return Picture(pixels=pixels, alpha=alpha, mode=pic.mode, exif=pic.exif, icc_profile=pic.icc_profile,
                       format=pic.format, flat_gray=pic.flat_gray)

    def _precision(self, name: str | None) -> str:
        """The precision a call runs in: the model's own for None; ``auto`` on the CPU is measured."""
        if not name:
            return self.precision
        if name == "auto" and self.device.type == "cpu":
            return self.choose_auto().precision
        chosen = pick_precision(name, self.device)
        if name != "auto":
            self._tell_if_slow(chosen)
        return chosen

    def _tell_if_slow(self, precision: str) -> None:
        """Warn once a user who chose bf16 that this CPU runs it on the slow path. Only then: ``auto``
        probes bf16 on every CPU, and a warning about a path it then does not take misleads."""
        if precision != "bf16" or self.device.type != "cpu" or precision in self._told:
            return
        from srgan.device import cpu_supports_bf16
        from srgan.infer.fast import fallback_reason

        reason = fallback_reason(self._prepare(precision))
        native = cpu_supports_bf16()
        if native and reason is None:
            return
        self._told.add(precision)
        if not native:
            log.warning("bf16: this CPU lacks the instructions PyTorch needs for fast bf16 (AVX-512 or AVX-NE-CONVERT), "
                        "so bf16 is emulated: many times slower than fp32 and no more accurate; "
                        "precision fp32 or auto is faster here")
        else:
            log.warning("bf16: the fused CPU kernels are not available here (%s), so a slower form of the network "
                        "runs; precision fp32 or auto may be faster", reason)

    def choose_auto(self):
        """fp32 or bf16, whichever runs this network faster on this CPU (``srgan.infer.autoprecision``)."""
        if self.auto is None:
            from srgan.infer.autoprecision import choose

            prepared = self._prepare
            if self.takes_sigma:
                from srgan.models.ffdnet import CHECK_SIGMA

                # The probe calls the network on an image alone; its speed does not depend on σ's value.
                prepared = lambda p: functools.partial(self._prepare(p), sigma=CHECK_SIGMA)  # noqa: E731
            self.auto = choose(self.network, self.kind, prepared, self._in_channels(), self.scale)
        return self.auto

    def default_tile(self, precision: str | None = None) -> int:
        """256 input pixels on CPUs (memory bounded well under 1 GB); on CUDA, the largest multiple of
        64 up to 1024 whose activations fit in half the free memory (fewer tiles, less overlap work)."""
        if self.device.type != "cuda":
            return DEFAULT_TILE
        free, _ = torch.cuda.mem_get_info(self.device)
        itemsize = torch.finfo(_dtype(precision or self.precision)).bits // 8
        per_pixel = VALUES_PER_INPUT_PIXEL * itemsize * max(1, self.scale / 4) ** 2
        side = int(math.sqrt(free / 2 / per_pixel)) // 64 * 64
        return max(DEFAULT_TILE // 2, min(1024, side))

    def _run_fitting(self, pixels: np.ndarray, tiling: Tiling, precision: str, progress: bool = False,
                     sigma: float | None = None) -> np.ndarray:
        """``_run_tiled``, halving the tile whenever the device runs out of memory (Real-ESRGAN's
        fixed tile simply fails there)."""
        while True:
            try:
                return self._run_tiled(pixels, tiling, precision, progress, sigma)
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                message = str(exc).lower()
                if not isinstance(exc, torch.OutOfMemoryError) and "out of memory" not in message and "allocate" not in message:
                    raise
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                current = tiling.tile or max(pixels.shape[:2])
                if current <= 32:
                    raise SrganError("out of memory even with 32-pixel tiles") from None
                log.warning("out of memory with %d-pixel tiles; retrying with %d", current, current // 2)
                tiling = Tiling(current // 2, tiling.overlap, tiling.align)

    def _prepare(self, precision: str):
        if precision not in self._prepared:
            from srgan.infer.fast import prepare

            self._prepared[precision] = prepare(self.network, self.kind, self.device, precision)
        return self._prepared[precision]

    def _in_channels(self) -> int:
        cfg = self.network.config
        return cfg.channels if self.kind == "denoiser" else cfg.in_channels

    @torch.inference_mode()
    def _run_tiled(self, pixels: np.ndarray, tiling: Tiling, precision: str, progress: bool = False,
                   sigma: float | None = None) -> np.ndarray:
        """H×W×C uint8/uint16 → (H·s)×(W·s)×C of the same dtype, one window on the device at a time; ``sigma``
        is passed to a network told σ."""
        from srgan.infer.fast import dtype_of

        net = self._prepare(precision)
        dtype = dtype_of(precision)
        peak = pixel_peak(pixels.dtype)
        want = self._in_channels()
        return run_tiled(lambda window: self._forward(net, window, peak, want, dtype, sigma), pixels, tiling, self.scale, progress)

    def _forward(self, net, window: np.ndarray, peak: float, want: int, dtype: torch.dtype,
                 sigma: float | None = None) -> torch.Tensor:
        """One H×W×C integer window → the network's H·s×W·s×C float32 CPU output, clamped to [0, 1]."""
        have = window.shape[2]
        if not window.flags.writeable:  # e.g. np.asarray(PIL image): torch warns on read-only memory
            window = window.copy()
        # An H×W×C array viewed as 1×C×H×W is already channels_last: no copy before the device.
        x = torch.from_numpy(window).permute(2, 0, 1)[None]
        x = x.to(self.device, dtype=torch.float32).div_(peak)
        if have == 1 and want == 3:
            x = x.expand(1, 3, *x.shape[2:])
        elif have == 3 and want == 1:
            x = (x * torch.tensor(LUMA_WEIGHTS, device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
        x = x.to(dtype).contiguous(memory_format=torch.channels_last)
        y = net(x) if sigma is None else net(x, sigma)
        y = y.float().clamp_(0, 1).permute(0, 2, 3, 1)[0]
        if y.shape[2] != have:
            y = y.mean(2, keepdim=True) if have == 1 else y.expand(-1, -1, have)
        return y.cpu()


# ------------------------------------------------------------------------------------------- noise level


def check_sigma(sigma: Any, what: str = "sigma") -> float:
    """``sigma`` as a float when it is a noise level a denoiser can be told: a number in [0, 1], σ on the [0, 1]
    pixel scale; else one ``SrganError`` line naming ``what``."""
    try:
        value = float(sigma)
    except (TypeError, ValueError):
        value = math.nan
    if not 0 <= value <= 1:  # NaN and text that is not a number fail here too
        raise SrganError(f"{what} must be a number in [0, 1] (σ on the [0, 1] pixel scale: 0.1 is 25.5 of 255), not {sigma!r}")
    return value


def estimate_noise(pixels: np.ndarray) -> float:
    """σ of the noise in H×W×C uint8/uint16 ``pixels`` (:func:`srgan.ops.noise_level.estimate_sigma`), at most 1,
    the largest σ a denoiser is told."""
    from srgan.ops.noise_level import estimate_sigma

    try:
        return min(1.0, estimate_sigma(pixels))
    except SrganError as exc:
        raise SrganError(f"cannot estimate the noise level ({exc}); give sigma") from None


def _as_picture(img: Any):
    """(``img`` as a Picture, the function that gives a result Picture back as ``img``'s kind) for a Picture,
    a PIL image or an H×W[×C] uint8/uint16 array."""
    from PIL import Image

    from srgan.io.picture import Picture, from_array, from_pil, to_array, to_pil

    if isinstance(img, Picture):
        return img, lambda pic: pic
    if isinstance(img, Image.Image):
        return from_pil(img), to_pil
    if isinstance(img, np.ndarray):
        return from_array(img), to_array
    raise SrganError(f"expected a PIL image or a NumPy uint8/uint16 array, got {type(img).__name__}")


# ----------------------------------------------------------------------------------------------- loading


def load(name_or_path: str | os.PathLike[str], *, device: str = "auto", precision: str = "auto") -> Model:
    """Load a model: a shipped name (``srgan.available_models()``), a ``.safetensors`` file with its
    card beside it, a training checkpoint (.pt) or a run folder. The architecture is read off the
    state dict, so no settings are needed.
    """
    from srgan.models import zoo

    spec = os.fspath(name_or_path)
    path = zoo.resolve(spec)
    state, card = zoo.load_state(path)
    try:
        network, kind = zoo.build_from_state(state, card)
    except SrganError as exc:
        raise SrganError(f"{spec}: {exc}") from None
    dev = pick_device(device)
    _give_freed_tensors_back()
    measured = precision == "auto" and dev.type == "cpu"
    prec = "fp32" if measured else pick_precision(precision, dev)
    scale = 1 if kind == "denoiser" else int(network.config.scale)
    for p in network.parameters():
        p.requires_grad_(False)
    model = Model(
        name=_model_name(spec, path, card), kind=kind, scale=scale, card=card, device=dev, precision=prec,
        network=network,
    )
    if measured:
        model.precision = model.choose_auto().precision
        # The probe prepared both forms; keep only the one that runs (prepacked weights cost memory).
        model._prepared = {k: v for k, v in model._prepared.items() if k == model.precision}
    model._prepare(model.precision)  # BN folding and weight prepacking now, so the first image is as fast as any
    if precision != "auto":
        model._tell_if_slow(model.precision)
    return model


# glibc's malloc threshold above which a block is mmapped (and unmapped when freed); mallopt's M_MMAP_THRESHOLD.
MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3


def _give_freed_tensors_back() -> None:
    """Have glibc map each block over ``MMAP_THRESHOLD`` on its own, so a freed tensor goes back to the kernel.

    By default glibc raises that threshold to the size of the largest block freed so far (up to 32 MB), and
    from then on serves tile-sized tensors from its heap, which reuses them poorly: one 212×272 window through
    the fused fp32 ×4 SRResNet grew peak RSS by 0.5 to 0.7 GB instead of 0.3, and a 960×540 → 4K upscale
    peaked at 0.88 to 1.14 GB from run to run instead of 0.74 (bf16: 0.76 to 0.81 instead of 0.59), no slower.
    Process-wide; glibc starts at 128 KB and adjusts from there, this stays at 1 MB.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (AttributeError, OSError):  # not glibc (musl has no mallopt): its own policy stands
        pass


def _model_name(spec: str, path: Path, card: dict) -> str:
    from srgan.models import zoo

    if spec in zoo.shipped_models():
        return spec
    if card.get("name"):
        return str(card["name"])
    if path.is_dir():
        return path.resolve().name
    if path.name == "model.safetensors":
        return path.resolve().parent.name
    return path.stem


def available_models() -> list[dict]:
    """The shipped models' cards, each with its ``name``, in name order."""
    from srgan.models import zoo

    return [{**zoo.read_card(path), "name": name} for name, path in zoo.shipped_models().items()]


def default_upscaler() -> str:
    """``srgan.DEFAULT_UPSCALER``: the GAN model while it meets the default bar, else srresnet-x4 (``zoo.default_upscaler``)."""
    from srgan.models import zoo

    return zoo.default_upscaler()


_LOADED: dict[tuple[str, str, str], Model] = {}


def _load_cached(name: str, device: str, precision: str) -> Model:
    """``load`` for ``restore``: models by name are kept, so repeated calls don't reload them."""
    key = (name, device, precision)
    if key not in _LOADED:
        _LOADED[key] = load(name, device=device, precision=precision)
    return _LOADED[key]


def restore(img: Any, *, denoiser: str = "denoiser", upscaler: str | None = None, tile: int | None = None,
            precision: str | None = None, return_intermediate: bool = False, sigma: float | None = None) -> Any:
    """Denoise, then super-resolve (the shipped denoiser, then the default ×4 model).

    ``sigma``: the noise level for a denoiser told σ (``Model.denoise``); None estimates it from ``img``.
    Returns the result, or ``(denoised, result)`` when ``return_intermediate``; same kind as ``img``.
    """
    if sigma is not None:
        sigma = check_sigma(sigma)  # before any model loads
    den = _load_cached(denoiser, "auto", "auto" if precision in (None, "int8") else precision)
    up = _load_cached(upscaler or default_upscaler(), "auto", precision or "auto")
    if den.kind != "denoiser":
        raise SrganError(f"restore: {denoiser} is not a denoiser (it is a {den.kind} model)")
    denoised = den.denoise(img, tile=tile, sigma=sigma)
    result = up.upscale(denoised, tile=tile)
    return (denoised, result) if return_intermediate else result
