"""Tiny models for the serve tests, and a stand-in for ``srgan.load`` that runs them.

The stand-in keeps the API tests independent of the inference module's internals; it follows the
inference API's contract (``name``, ``kind``, ``scale``, ``card``, ``upscale``/``denoise`` on H×W×C
arrays, same kind back) and nothing more.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from srgan.models import zoo
from srgan.io.picture import Picture, from_array, to_array
from srgan.infer.model import check_sigma, estimate_noise
from srgan.models.denoiser import DenoisingAutoencoder
from srgan.models.ffdnet import FFDNet
from srgan.models.generator import Generator


def make_tiny_models(folder: Path) -> dict[str, Path]:
    """A ×2 upscaler, a blind denoiser and one told σ (FFDNet), a few KB each, saved as model files in ``folder``."""
    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    upscaler = save_tiny_upscaler(folder / "tiny-x2.safetensors")
    denoiser = folder / "tiny-denoiser.safetensors"
    zoo.save_model(denoiser, DenoisingAutoencoder(widths=(8, 16), blocks_per_level=1), {"kind": "denoiser", "scale": 1})
    ffdnet = folder / "tiny-ffdnet.safetensors"
    net = FFDNet(widths=(8, 16), blocks_per_level=1)
    zoo.save_model(ffdnet, net, {"kind": "denoiser", "scale": 1, "architecture": net.config.to_dict()})
    return {"upscaler": upscaler, "denoiser": denoiser, "ffdnet": ffdnet}


@torch.no_grad()
def save_tiny_upscaler(path: Path, gain: float = 1.0) -> Path:
    """A hand-set ×2 upscaler at ``path``; a ``gain`` other than 1 scales its output, so two such models
    give different results (tests of which model ran)."""
    net = hand_set_upscaler()
    net.tail.weight.mul_(gain)
    card = {"kind": "srgan", "scale": 2, "note": "weights set by hand for tests (sharpened bicubic), not trained"}
    zoo.save_model(path, net, card)
    return path


@torch.no_grad()
def hand_set_upscaler() -> Generator:
    """A 1-block, 8-channel ×2 generator whose weights make it a bicubic ×2 with a little sharpening.

    Random weights would turn a test photo into noise; these keep the browser test's picture (and the
    screenshot of the page) recognisable. The body is switched off (zero body BN), the head and the
    sub-pixel stage copy the three colour channels into a nearest-neighbour ×2, and the 9×9 tail turns
    that into bicubic (nearest neighbour convolved with ``k`` is bicubic's ×2 kernel) plus an unsharp mask.
    """
    net = Generator(scale=2, num_blocks=1, channels=8)
    for p in net.parameters():
        p.zero_()
    for act in (net.head_act, net.upsample[0].prelu):
        act.weight.fill_(1.0)  # PReLU with slope 1 is the identity
    for c in range(3):
        net.head.weight[c, c, 4, 4] = 1.0
        net.upsample[0].conv.weight[4 * c : 4 * c + 4, c, 1, 1] = 1.0  # all four sub-pixels get channel c
    k = torch.tensor([-0.0234375, -0.046875, 0.2734375, 0.59375, 0.2734375, -0.046875, -0.0234375])
    blur = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    sharpen = -0.6 * blur
    sharpen[1, 1] += 1.6
    kernel = torch.nn.functional.conv2d(
        torch.outer(k, k)[None, None], sharpen.flip(0, 1)[None, None], padding=2
    )[0, 0]
    for c in range(3):
        net.tail.weight[c, c] = kernel
    return net.eval()


class TinyModel:
    """The inference API's Model, enough of it for the server: arrays or Pictures in, the same kind out."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        state, card = zoo.load_state(path)
        self.network, self.kind = zoo.build_from_state(state, card)
        self.name = path.stem
        self.scale = 1 if self.kind == "denoiser" else self.network.config.scale
        self.takes_sigma = bool(getattr(self.network, "takes_sigma", False))
        self.card = {**card, "name": self.name, "kind": self.kind, "scale": self.scale}
        self.sigmas: list[float] = []  # the σ each denoise was told, so tests can see what reached the network

    def upscale(self, img, *, tile=None, tile_overlap=None, outscale=None, precision=None):
        if isinstance(img, Picture):
            return _like(img, self.upscale(to_array(img), outscale=outscale))
        out = self._run(np.asarray(img))
        if outscale:
            h, w = np.asarray(img).shape[:2]
            out = _resize(out, round(w * outscale), round(h * outscale))
        return out

    def denoise(self, img, *, tile=None, tile_overlap=None, precision=None, sigma=None):
        if isinstance(img, Picture):
            return _like(img, self.denoise(to_array(img), sigma=sigma))
        sigma = self.noise_sigma(img, sigma)
        if sigma is not None:
            self.sigmas.append(sigma)
        return self._run(np.asarray(img), sigma)

    def noise_sigma(self, img, sigma=None):
        if not self.takes_sigma:
            return None
        if sigma is not None:
            return check_sigma(sigma)
        return estimate_noise(to_array(img) if isinstance(img, Picture) else np.asarray(img))

    def _run(self, arr: np.ndarray, sigma: float | None = None) -> np.ndarray:
        flat = arr.ndim == 2
        if flat:
            arr = arr[..., None]
        colour = 1 if arr.shape[2] <= 2 else 3
        out = self._network(np.ascontiguousarray(arr[..., :colour]), sigma)
        if arr.shape[2] in (2, 4):  # alpha: resized, not modelled
            alpha = _resize(arr[..., colour:], out.shape[1], out.shape[0])
            out = np.concatenate([out, alpha.reshape(*out.shape[:2], 1)], axis=2)
        return out[..., 0] if flat else out

    @torch.no_grad()
    def _network(self, pixels: np.ndarray, sigma: float | None = None) -> np.ndarray:
        """H×W×1 or H×W×3 uint8/uint16 through the 3-channel network (told ``sigma`` when it takes it), same
        dtype and channels back."""
        peak = 65535.0 if pixels.dtype == np.uint16 else 255.0
        x = torch.from_numpy(pixels.astype(np.float32) / peak).permute(2, 0, 1)[None]
        x = x.expand(1, 3, *x.shape[2:])
        y = (self.network(x) if sigma is None else self.network(x, sigma)).clamp(0, 1)
        if pixels.shape[2] == 1:
            y = y.mean(1, keepdim=True)
        return (y[0].permute(1, 2, 0).numpy() * peak).round().astype(pixels.dtype)


def _like(source: Picture, out: np.ndarray) -> Picture:
    pic = from_array(out)
    pic.exif, pic.icc_profile, pic.format = source.exif, source.icc_profile, source.format
    return pic


def _resize(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    planes = [np.asarray(Image.fromarray(arr[..., c]).resize((width, height), Image.BICUBIC)) for c in range(arr.shape[2])]
    return np.stack(planes, axis=2)


def tiny_loader(spec: str) -> TinyModel:
    return TinyModel(spec)


class BlockingLoader:
    """Models whose inference waits for ``release``: lets a test fill the queue deterministically."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, spec: str) -> TinyModel:
        model = TinyModel(spec)
        run = model._run

        def blocking_run(arr: np.ndarray, *rest) -> np.ndarray:
            self.started.set()
            if not self.release.wait(timeout=30):
                raise RuntimeError("test never released the blocked job")
            return run(arr, *rest)

        model._run = blocking_run
        return model
