"""Degradations that real photos have: blur, resizing, noise and JPEG, for training and for the realistic benchmark.

Two parts, both pure functions of arrays and a seeded ``numpy.random.Generator``:

- **The training pipeline** :func:`degrade_real` (an HR crop → its LR), the "high-order" degradation model of
  Real-ESRGAN (Wang et al., ICCVW 2021, Sec. 3.1 and its training options) after BSRGAN's (Zhang et al., ICCV 2021):
  blur (isotropic / anisotropic Gaussian, generalised Gaussian, plateau, or a 2-D sinc), a random resize (up, down
  or keep; area, bilinear or bicubic), Gaussian or Poisson noise (colour or gray), JPEG; the same again with its
  own probabilities and ranges; then the resize to the LR size with an optional sinc filter and a last JPEG, in
  random order. Every probability and range is a field of :class:`RealDegradation`, whose defaults are
  Real-ESRGAN's x4plus settings (noise given on our [0, 1] scale: their 1-30 of 255 is 0.004-0.118). Our
  additions: ``clean_prob`` (a crop keeps the benchmark's MATLAB bicubic LR, so the model stays faithful on clean
  inputs), ``jpeg_only_prob`` (a crop gets that LR and then only a JPEG: a sharp photo downsized and saved),
  ``lr_blur_prob`` (that LR blurred and noised at its own size, then the JPEG: a soft photo downsized) and
  ``second_order_prob`` (Real-ESRGAN always runs the second pass).
- **Fixed test degradations** :data:`PRESETS` (``jpeg50``, ``jpeg75``, ``blur-noise-jpeg70``): the benchmark's
  MATLAB-bicubic LR followed by what a shared photo goes through, each seeded by the caller so a benchmark is
  the same every time. ``srgan evaluate --degrade`` and the training validation use them.

Images are float32 H×W×C in [0, 1] between operations; JPEG rounds to 8 bits, as a saved file would.
"""

from __future__ import annotations

import io
import math
import zlib
from dataclasses import dataclass, field, fields, is_dataclass
from enum import IntEnum
from typing import NamedTuple

import numpy as np

from srgan.errors import SrganError

KERNEL_KINDS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
RESIZE_MODES = ("area", "bilinear", "bicubic")
# A JPEG's block side in pixels: a JPEG saved at LR size leaves a grid every JPEG_BLOCK · scale px of a ×scale
# output (what srgan.ops.metrics.blockiness measures and the block-edge training term watches).
JPEG_BLOCK = 8


# ------------------------------------------------------------------------------------------------ kernels


def _covariance_quadratic(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """xᵀ Σ⁻¹ x on a size×size grid centred on 0, Σ = R(θ) diag(σx², σy²) R(θ)ᵀ."""
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    inv = np.linalg.inv(rot @ np.diag([sigma_x**2, sigma_y**2]) @ rot.T)
    r = np.arange(size) - (size - 1) / 2
    xx, yy = np.meshgrid(r, r)
    grid = np.stack([xx, yy], axis=-1)
    return np.einsum("hwi,ij,hwj->hw", grid, inv, grid)


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0, beta: float = 1.0) -> np.ndarray:
    """A normalised (generalised) Gaussian kernel exp(−½ (xᵀΣ⁻¹x)^β); β = 1 is the Gaussian, σy = σx isotropic."""
    q = _covariance_quadratic(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)
    k = np.exp(-0.5 * q**beta)
    return (k / k.sum()).astype(np.float32)


def plateau_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0, beta: float = 1.0) -> np.ndarray:
    """A normalised plateau-shaped kernel 1 / (1 + (xᵀΣ⁻¹x)^β): flat top, heavy tails (Real-ESRGAN's Eq. 2 family)."""
    q = _covariance_quadratic(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)
    k = 1.0 / (1.0 + q**beta)
    return (k / k.sum()).astype(np.float32)


def sinc_kernel(size: int, cutoff: float) -> np.ndarray:
    """The ideal circular low-pass filter ω_c·J1(ω_c r) / (2π r) cut to size×size and normalised: ringing and
    overshoot, as sharpening and some resamplers leave them. ``cutoff`` ω_c in (0, π]."""
    from scipy.special import j1

    r = np.hypot(*np.meshgrid(np.arange(size) - (size - 1) / 2, np.arange(size) - (size - 1) / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        k = cutoff * j1(cutoff * r) / (2 * np.pi * r)
    k[r == 0] = cutoff**2 / (4 * np.pi)
    return (k / k.sum()).astype(np.float32)


def filter2d(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """H×W×C float image convolved with a k×k kernel per channel, reflect-padded (same size back)."""
    from scipy.signal import fftconvolve

    pad = kernel.shape[0] // 2
    mode = "reflect" if min(img.shape[:2]) > pad else "edge"
    padded = np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode=mode)
    # By FFT: 3-4x faster than torch's depthwise conv2d for the 7-21 px kernels on a training crop.
    out = fftconvolve(padded, kernel[:, :, None], mode="valid", axes=(0, 1))
    return out.astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------- operations


def resize_float(img: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """H×W×C float → size (h, w) by torch's area / bilinear / bicubic, without anti-aliasing (as cameras and
    careless resamplers alias)."""
    import torch
    import torch.nn.functional as F

    if mode not in RESIZE_MODES:
        raise SrganError(f"resize mode must be one of {', '.join(RESIZE_MODES)}, not {mode!r}")
    x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
    kw = {} if mode == "area" else {"align_corners": False}
    y = F.interpolate(x, size=(max(1, size[0]), max(1, size[1])), mode=mode, **kw)
    return y[0].numpy().transpose(1, 2, 0)


def gaussian_noise(img: np.ndarray, sigma: float, gray: bool, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise with σ on the [0, 1] scale; ``gray``: one noise plane for all channels (luma noise)."""
    shape = img.shape[:2] + ((1,) if gray else img.shape[2:])
    return img + sigma * rng.standard_normal(shape, dtype=np.float32)


def poisson_noise(img: np.ndarray, scale: float, gray: bool, rng: np.random.Generator) -> np.ndarray:
    """Shot noise: (Poisson(256·v) / 256 − v)·scale, as Real-ESRGAN draws it for 8-bit images; ``gray``: drawn
    on the luma and added to every channel."""
    base = np.clip(img, 0, 1)
    if gray and img.shape[2] == 3:
        base = base @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
    noise = rng.poisson(base * 256.0).astype(np.float32) / 256.0 - base
    return img + scale * noise


def _u8(img: np.ndarray) -> np.ndarray:
    """Float [0, 1] → uint8, rounded as a saved file would be."""
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Round to 8 bits, save as a baseline JPEG at ``quality`` (Pillow, 4:2:0 chroma for colour), decode again."""
    from PIL import Image

    u8 = _u8(img)
    pil = Image.fromarray(u8[..., 0] if u8.shape[2] == 1 else u8)
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    out = np.asarray(Image.open(buf).convert(pil.mode), dtype=np.float32) / 255.0
    return out[..., None] if out.ndim == 2 else out


# --------------------------------------------------------------------------------------- training pipeline


@dataclass
class BlurStage:
    """One blur: which kernel family (``kernel_prob`` over :data:`KERNEL_KINDS`), its size and shape ranges."""

    prob: float = 1.0  # chance the blur happens at all
    kernel_prob: list[float] = field(default_factory=lambda: [0.45, 0.25, 0.12, 0.03, 0.12, 0.03])
    sinc_prob: float = 0.1  # chance of a 2-D sinc kernel instead of the families above
    kernel_size: list[int] = field(default_factory=lambda: [7, 21])  # odd sizes in [low, high]
    sigma: list[float] = field(default_factory=lambda: [0.2, 3.0])  # σ of the Gaussian families, pixels
    beta_generalized: list[float] = field(default_factory=lambda: [0.5, 4.0])
    beta_plateau: list[float] = field(default_factory=lambda: [1.0, 2.0])


@dataclass
class NoiseStage:
    """One noise draw: Gaussian with ``gaussian_prob``, else Poisson; colour or (``gray_prob``) luma only."""

    gaussian_prob: float = 0.5
    sigma: list[float] = field(default_factory=lambda: [1 / 255, 30 / 255])  # Gaussian σ on [0, 1]
    poisson_scale: list[float] = field(default_factory=lambda: [0.05, 3.0])
    gray_prob: float = 0.4


@dataclass
class OrderStage:
    """One order of the degradation: blur → resize → noise → JPEG."""

    blur: BlurStage = field(default_factory=BlurStage)
    resize_prob: list[float] = field(default_factory=lambda: [0.2, 0.7, 0.1])  # up, down, keep
    resize_range: list[float] = field(default_factory=lambda: [0.15, 1.5])  # factor for up (>1) or down (<1)
    noise: NoiseStage = field(default_factory=NoiseStage)
    jpeg_quality: list[int] = field(default_factory=lambda: [30, 95])


def _second_order_defaults() -> OrderStage:
    return OrderStage(
        blur=BlurStage(prob=0.8, sigma=[0.2, 1.5]),
        resize_prob=[0.3, 0.4, 0.3],
        resize_range=[0.3, 1.2],
        noise=NoiseStage(sigma=[1 / 255, 25 / 255], poisson_scale=[0.05, 2.5]),
    )


@dataclass
class RealDegradation:
    """The whole training degradation (defaults: Real-ESRGAN x4plus's), HR crop → LR at 1/scale."""

    first: OrderStage = field(default_factory=OrderStage)
    second: OrderStage = field(default_factory=_second_order_defaults)
    second_order_prob: float = 1.0  # chance the second order runs (Real-ESRGAN: always)
    final_sinc_prob: float = 0.8  # chance of the sinc filter beside the final resize
    final_jpeg_quality: list[int] = field(default_factory=lambda: [30, 95])
    # Chance the final JPEG comes after the final resize, its 8×8 blocks then on the LR's own grid as in a photo
    # shared at the size it is upscaled from (Real-ESRGAN: either order, 0.5).
    final_jpeg_last_prob: float = 0.5
    clean_prob: float = 0.0  # chance a crop gets the benchmark's MATLAB-bicubic LR instead (ours)
    # Chance a crop gets the MATLAB-bicubic LR and then only the final JPEG (quality from final_jpeg_quality): a sharp
    # photo downsized with antialiasing and saved as JPEG, the commonest thing people upscale. In the full pipeline
    # a JPEG nearly always lands on an image already blurred and noisy, whose blocks are flat steps; on a sharp
    # image it leaves ringing and blocks a model so trained keeps drawing (records/training/srresnet-x4-real-r3).
    # BSRGAN (Zhang et al. 2021) skips each degradation at random for the same reason. Ours; 0 draws nothing.
    jpeg_only_prob: float = 0.0
    # Where the 8×8 grid of a JPEG saved at LR size starts in the crop: at its corner (false), or a random 0-7 LR px
    # from it each way (true), as in a photo cropped after it was saved. A network sees a crop's corner (zero
    # padding), so with the grid always there a loss that watches block borders (block_edge_weight) teaches it
    # where they are rather than what they look like: 1,000 steps of that left clean inputs' 32-px lines 9 %
    # softer than the rest (blockiness 0.91, records/training/srresnet-x4-real-r5). make_batch draws the offsets
    # and hands them to the loss, marking the crops whose last step was not such a JPEG (no blocks to watch). Ours.
    random_jpeg_grid: bool = False
    # Chance a crop gets the MATLAB-bicubic LR, then a blur at LR size (``lr_blur``), noise (``lr_noise``) and the
    # final JPEG: a soft photo (focus, shake, a cheap lens) downsized and saved, whose blur is then about as wide
    # as the LR's pixels. In the full pipeline a blur that wide needs a first-order σ near 4 HR px, the far end of
    # its range, and noise is then added at a larger size and shrunk; BSRGAN's shuffled order (Zhang et al. 2021,
    # Sec. 3.2) puts blur and noise after the downsampling as often as before. Drawn after jpeg_only_prob. Ours.
    lr_blur_prob: float = 0.0
    lr_blur: BlurStage = field(default_factory=lambda: BlurStage(kernel_size=[7, 13], sigma=[0.5, 1.5], sinc_prob=0.0))
    lr_noise: NoiseStage = field(default_factory=lambda: NoiseStage(sigma=[1 / 255, 10 / 255], poisson_scale=[0.05, 1.0]))

    def check(self) -> None:
        """Ranges and probabilities; one SrganError line naming the key."""
        _check_stage("degradation.first", self.first)
        _check_stage("degradation.second", self.second)
        for name in ("second_order_prob", "final_sinc_prob", "final_jpeg_last_prob", "clean_prob", "jpeg_only_prob",
                     "lr_blur_prob"):
            _check_prob(f"degradation.{name}", getattr(self, name))
        _check_blur("degradation.lr_blur", self.lr_blur)
        _check_noise("degradation.lr_noise", self.lr_noise)
        _check_range("degradation.final_jpeg_quality", self.final_jpeg_quality, 1, 100)

    @classmethod
    def from_dict(cls, raw: dict | None) -> "RealDegradation":
        """Nested mappings (a YAML ``degradation:`` block) → the dataclass; unknown keys are an SrganError."""
        return _build(cls, raw or {}, "degradation")


def _build(cls, raw: dict, where: str, base=None):
    """``base`` (default: ``cls()``) with the keys of ``raw`` replaced, nested stages merged key by key."""
    if not isinstance(raw, dict):
        raise SrganError(f"config: {where} must be a mapping, not {raw!r}")
    base = cls() if base is None else base
    kwargs = _as_dict(base)
    unknown = sorted(set(raw) - set(kwargs))
    if unknown:
        raise SrganError(f"unknown config key {where}.{unknown[0]}; valid keys there: {', '.join(kwargs)}")
    for name, value in raw.items():
        current = kwargs[name]
        kwargs[name] = _build(type(current), value, f"{where}.{name}", current) if is_dataclass(current) else value
    obj = cls(**kwargs)
    for f in fields(obj):
        if isinstance(getattr(base, f.name), bool):
            if not isinstance(getattr(obj, f.name), bool):
                raise SrganError(f"config: {where}.{f.name} must be true or false, not {getattr(obj, f.name)!r}")
            continue
        _coerce(obj, f.name, f"{where}.{f.name}")
    return obj


def _as_dict(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _coerce(obj, name: str, where: str) -> None:
    """Numbers as floats (ints where the default is a list of ints); a clear line for anything else."""
    value = getattr(obj, name)
    if is_dataclass(value):
        return
    want_int = name in ("kernel_size", "jpeg_quality", "final_jpeg_quality")
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
        raise SrganError(f"config: {where} must be {'a list of numbers' if isinstance(value, list) else 'a number'}, not {value!r}")
    conv = (lambda v: int(v)) if want_int else float
    setattr(obj, name, [conv(v) for v in value] if isinstance(value, list) else conv(value))


def _check_prob(where: str, p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise SrganError(f"config: {where} must be a probability in [0, 1], not {p}")


def _check_range(where: str, pair: list, low: float, high: float) -> None:
    if len(pair) != 2 or not low <= pair[0] <= pair[1] <= high:
        raise SrganError(f"config: {where} must be [low, high] with {low} <= low <= high <= {high}, not {pair}")


def _check_probs(where: str, probs: list[float], n: int) -> None:
    if len(probs) != n or any(p < 0 for p in probs) or not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
        raise SrganError(f"config: {where} must be {n} probabilities that add up to 1, not {probs}")


def _check_blur(where: str, b: BlurStage) -> None:
    _check_prob(f"{where}.prob", b.prob)
    _check_prob(f"{where}.sinc_prob", b.sinc_prob)
    _check_probs(f"{where}.kernel_prob", b.kernel_prob, len(KERNEL_KINDS))
    _check_range(f"{where}.kernel_size", b.kernel_size, 3, 41)
    if b.kernel_size[0] % 2 == 0 or b.kernel_size[1] % 2 == 0:
        raise SrganError(f"config: {where}.kernel_size must be odd sizes, not {b.kernel_size}")
    _check_range(f"{where}.sigma", b.sigma, 0.01, 20)
    _check_range(f"{where}.beta_generalized", b.beta_generalized, 0.05, 20)
    _check_range(f"{where}.beta_plateau", b.beta_plateau, 0.05, 20)


def _check_noise(where: str, n: NoiseStage) -> None:
    _check_prob(f"{where}.gaussian_prob", n.gaussian_prob)
    _check_prob(f"{where}.gray_prob", n.gray_prob)
    _check_range(f"{where}.sigma", n.sigma, 0, 1)
    _check_range(f"{where}.poisson_scale", n.poisson_scale, 0, 10)


def _check_stage(where: str, st: OrderStage) -> None:
    _check_blur(f"{where}.blur", st.blur)
    _check_probs(f"{where}.resize_prob", st.resize_prob, 3)
    _check_range(f"{where}.resize_range", st.resize_range, 0.05, 4)
    _check_noise(f"{where}.noise", st.noise)
    _check_range(f"{where}.jpeg_quality", st.jpeg_quality, 1, 100)


def random_kernel(stage: BlurStage, rng: np.random.Generator) -> np.ndarray:
    """One blur kernel drawn as ``stage`` says."""
    lo, hi = stage.kernel_size
    size = int(rng.choice(np.arange(lo, hi + 1, 2)))
    if rng.random() < stage.sinc_prob:
        # Small kernels cannot hold a low cut-off's wide main lobe: Real-ESRGAN keeps ω_c ≥ π/3 below 13 px.
        cutoff = rng.uniform(math.pi / 3 if size < 13 else math.pi / 5, math.pi)
        return sinc_kernel(size, cutoff)
    kind = KERNEL_KINDS[int(rng.choice(len(KERNEL_KINDS), p=np.asarray(stage.kernel_prob) / sum(stage.kernel_prob)))]
    sx = rng.uniform(*stage.sigma)
    sy, theta = (rng.uniform(*stage.sigma), rng.uniform(-math.pi, math.pi)) if kind.endswith("aniso") else (sx, 0.0)
    if kind.startswith("generalized"):
        return gaussian_kernel(size, sx, sy, theta, beta=rng.uniform(*stage.beta_generalized))
    if kind.startswith("plateau"):
        return plateau_kernel(size, sx, sy, theta, beta=rng.uniform(*stage.beta_plateau))
    return gaussian_kernel(size, sx, sy, theta)


def _random_noise(img: np.ndarray, stage: NoiseStage, rng: np.random.Generator) -> np.ndarray:
    gray = rng.random() < stage.gray_prob
    if rng.random() < stage.gaussian_prob:
        return gaussian_noise(img, rng.uniform(*stage.sigma), gray, rng)
    return poisson_noise(img, rng.uniform(*stage.poisson_scale), gray, rng)


def _order(img: np.ndarray, st: OrderStage, base_hw: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    if rng.random() < st.blur.prob:
        img = filter2d(img, random_kernel(st.blur, rng))
    way = int(rng.choice(3, p=np.asarray(st.resize_prob) / sum(st.resize_prob)))
    factor = (rng.uniform(1, st.resize_range[1]), rng.uniform(st.resize_range[0], 1), 1.0)[way]
    mode = RESIZE_MODES[int(rng.integers(len(RESIZE_MODES)))]
    # Real-ESRGAN scales the current image; a floor of 1/8 of the crop keeps the kernels meaningful.
    h = max(int(img.shape[0] * factor), base_hw[0] // 8, 4)
    w = max(int(img.shape[1] * factor), base_hw[1] // 8, 4)
    img = resize_float(img, (h, w), mode)
    img = np.clip(_random_noise(img, st.noise, rng), 0, 1)
    return jpeg(img, int(rng.integers(st.jpeg_quality[0], st.jpeg_quality[1] + 1)))


def jpeg_on_grid(img: np.ndarray, quality: int, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """:func:`jpeg` with the 8×8 block borders at rows ``origin[0] + 8k`` and columns ``origin[1] + 8k``: the image
    is edge-padded on the top and left so that the file's own grid lands there, then cut back."""
    py, px = ((JPEG_BLOCK - o % JPEG_BLOCK) % JPEG_BLOCK for o in origin)
    if not (py or px):
        return jpeg(img, quality)
    return jpeg(np.pad(img, ((py, 0), (px, 0), (0, 0)), mode="edge"), quality)[py:, px:]


def degrade_real(hr: np.ndarray, scale: int, cfg: RealDegradation, rng: np.random.Generator,
                 grid: tuple[int, int] = (0, 0)) -> np.ndarray:
    """An HR crop (uint8 H×W×C, H and W multiples of ``scale``) → its LR (uint8, H/scale × W/scale × C).

    ``grid``: (row, column) in the LR where the 8×8 blocks of a JPEG saved at LR size start (see
    ``RealDegradation.random_jpeg_grid``); a JPEG saved before the final resize is not on the LR's grid anyway."""
    return degrade_real_blocks(hr, scale, cfg, rng, grid).image


def _bicubic_lr(hr: np.ndarray, scale: int) -> np.ndarray:
    """The benchmark's MATLAB-bicubic LR of an HR crop (uint8), where the clean, JPEG-only and LR-blur crops start."""
    from srgan.ops.imresize import imresize_uint8

    return imresize_uint8(np.ascontiguousarray(hr), scale=1 / scale)


def _final_quality(cfg: RealDegradation, rng: np.random.Generator) -> int:
    return int(rng.integers(cfg.final_jpeg_quality[0], cfg.final_jpeg_quality[1] + 1))


class Branch(IntEnum):
    """Which branch of :func:`degrade_real_blocks` made an LR. The plain ones (the bicubic LR, or it saved as a
    JPEG: no blur or noise for the model to undo) are :data:`PLAIN_BRANCHES`."""

    CLEAN = 0
    JPEG_ONLY = 1
    LR_BLUR = 2
    FULL = 3


PLAIN_BRANCHES = (Branch.CLEAN, Branch.JPEG_ONLY)


class RealLR(NamedTuple):
    image: np.ndarray  # the LR, uint8 H/scale × W/scale × C
    on_grid: bool  # its last step was a JPEG saved at its size, blocks on the given grid
    branch: Branch


def degrade_real_blocks(hr: np.ndarray, scale: int, cfg: RealDegradation, rng: np.random.Generator,
                        grid: tuple[int, int] = (0, 0)) -> RealLR:
    """:func:`degrade_real`, whether the LR's last step was a JPEG saved at its size (its blocks on ``grid``) and
    which :class:`Branch` made it."""
    h, w = hr.shape[0] // scale, hr.shape[1] // scale
    if rng.random() < cfg.clean_prob:
        return RealLR(_bicubic_lr(hr, scale), False, Branch.CLEAN)
    # Drawn only when asked for, so that runs without the branch keep their random stream (and their resumes).
    if cfg.jpeg_only_prob and rng.random() < cfg.jpeg_only_prob:
        lr = jpeg_on_grid(_bicubic_lr(hr, scale).astype(np.float32) / 255.0, _final_quality(cfg, rng), grid)
        return RealLR(_u8(lr), True, Branch.JPEG_ONLY)
    if cfg.lr_blur_prob and rng.random() < cfg.lr_blur_prob:
        img = _bicubic_lr(hr, scale).astype(np.float32) / 255.0
        if rng.random() < cfg.lr_blur.prob:
            img = filter2d(img, random_kernel(cfg.lr_blur, rng))
        img = np.clip(_random_noise(img, cfg.lr_noise, rng), 0, 1)
        return RealLR(_u8(jpeg_on_grid(img, _final_quality(cfg, rng), grid)), True, Branch.LR_BLUR)
    img = hr.astype(np.float32) / 255.0
    img = _order(img, cfg.first, hr.shape[:2], rng)
    if rng.random() < cfg.second_order_prob:
        img = _order(img, cfg.second, hr.shape[:2], rng)
    sinc = sinc_kernel(21, rng.uniform(math.pi / 3, math.pi)) if rng.random() < cfg.final_sinc_prob else None
    quality = _final_quality(cfg, rng)
    mode = RESIZE_MODES[int(rng.integers(len(RESIZE_MODES)))]
    # Real-ESRGAN's two final orders: resize + sinc then JPEG, or JPEG then resize + sinc.
    if rng.random() < cfg.final_jpeg_last_prob:
        img = resize_float(img, (h, w), mode)
        img = filter2d(img, sinc) if sinc is not None else img
        return RealLR(_u8(jpeg_on_grid(np.clip(img, 0, 1), quality, grid)), True, Branch.FULL)
    img = jpeg(np.clip(img, 0, 1), quality)
    img = resize_float(img, (h, w), mode)
    img = filter2d(img, sinc) if sinc is not None else img
    return RealLR(_u8(img), False, Branch.FULL)


# ------------------------------------------------------------------------------------ fixed test degradations

# What a benchmark LR goes through after the MATLAB-bicubic downscale: (blur σ in LR pixels, Gaussian noise σ on
# [0, 1], JPEG quality); 0 / None: that step is skipped. "bicubic" is the benchmark's own clean input.
PRESETS: dict[str, tuple[float, float, int | None]] = {
    "bicubic": (0.0, 0.0, None),
    "jpeg50": (0.0, 0.0, 50),
    "jpeg75": (0.0, 0.0, 75),
    "blur-noise-jpeg70": (1.0, 0.02, 70),
}


def preset_rng(key: str, seed: int = 0) -> np.random.Generator:
    """The generator for one image's preset draw, from (seed, its file name): an image's degraded copy does not
    depend on which other images are processed, so validation and ``srgan evaluate`` see the same inputs."""
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def apply_preset(lr: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    """A uint8 LR image through the preset ``name`` (see :data:`PRESETS`), seeded by ``rng``; uint8 back."""
    if name not in PRESETS:
        raise SrganError(f"unknown degradation {name!r}; choose one of {', '.join(PRESETS)}")
    return degrade_lr(lr, *PRESETS[name], rng)


def degrade_lr(lr: np.ndarray, blur: float, sigma: float, quality: int | None, rng: np.random.Generator) -> np.ndarray:
    """A uint8 LR image blurred (Gaussian σ ``blur`` LR px), noised (colour Gaussian σ ``sigma`` on [0, 1], from
    ``rng``) and saved as JPEG at ``quality``, in that order; 0 / None skips a step. The steps of :data:`PRESETS`,
    callable one at a time (records/training/srgan-x4-real-r53/degradation_parts.py takes a preset apart)."""
    if not (blur or sigma or quality):
        return lr
    img = lr.astype(np.float32) / 255.0
    if blur:
        size = 2 * math.ceil(3 * blur) + 1
        img = filter2d(img, gaussian_kernel(size, blur))
    if sigma:
        img = gaussian_noise(img, sigma, gray=False, rng=rng)
    img = np.clip(img, 0, 1)
    if quality:
        img = jpeg(img, quality)
    return _u8(img)
