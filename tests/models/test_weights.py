"""The weights shipped in ``src/srgan/weights``: cards complete, and each model does its job on a photo that no
model trained on (``examples/chelsea.png``, CC0). A model that is not shipped yet is skipped, not passed."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import srgan
from srgan.models import zoo
from srgan.ops.degrade import add_gaussian_noise
from srgan.ops.imresize import imresize_uint8
from srgan.ops.metrics import hf_ratio, psnr, psnr_y

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "chelsea.png"
NAMES = ("srresnet-x4", "srgan-x4", "denoiser")


def shipped(name: str) -> Path:
    path = zoo.shipped_models().get(name)
    if path is None:
        pytest.skip(f"{name} weights not shipped yet")
    return path


def photo() -> np.ndarray:
    px = np.asarray(Image.open(EXAMPLE).convert("RGB"))
    return px[: px.shape[0] // 4 * 4, : px.shape[1] // 4 * 4]


@pytest.mark.parametrize("name", NAMES)
def test_card_says_what_produced_the_weights(name):
    card = json.loads(shipped(name).with_suffix(".json").read_text())
    assert card["name"] == name
    for key in ("license", "data", "command", "steps", "precision", "backbone"):
        assert card.get(key), f"{name}.json lacks {key!r}"
    assert card["kind"] == {"srresnet-x4": "srresnet", "srgan-x4": "srgan", "denoiser": "denoiser"}[name]
    if name == "srgan-x4":
        assert "EfficientNet" in card["backbone"] or "VGG" in card["backbone"]


def test_shipped_denoiser_removes_most_of_the_noise():
    shipped("denoiser")
    clean = photo()
    model = srgan.load("denoiser", precision="fp32")
    for sigma in (0.1, 0.3, 0.5):
        noisy = add_gaussian_noise(clean, sigma, np.random.default_rng(0))
        gain = psnr(model.denoise(noisy), clean) - psnr(noisy, clean)
        assert gain > 9.0, f"σ {sigma}: only {gain:.2f} dB better than the noisy input"


# The blind U-Net that shipped as `denoiser` before issue 20 (records/training/denoiser-r1) scored these PSNR-RGB
# dB on this photo with this noise: `git show 55cb3ec:src/srgan/weights/denoiser.safetensors` (and .json) into a
# folder, then psnr(srgan.load(that file, precision="fp32").denoise(noisy), clean) as below. Its FFDNet successor
# must stay well above them.
BLIND_DENOISER_DB = {0.1: 30.69, 0.3: 26.18, 0.5: 23.68}


def test_shipped_denoiser_told_or_estimating_sigma_beats_the_blind_one_it_replaced():
    shipped("denoiser")
    clean = photo()
    model = srgan.load("denoiser", precision="fp32")
    assert model.takes_sigma
    for sigma, blind in BLIND_DENOISER_DB.items():
        noisy = add_gaussian_noise(clean, sigma, np.random.default_rng(0))
        assert psnr(model.denoise(noisy, sigma=sigma), clean) > blind + 0.5, f"σ {sigma} given"
        assert psnr(model.denoise(noisy), clean) > blind + 0.5, f"σ {sigma} estimated"


def test_shipped_srgan_is_sharper_than_srresnet_at_a_bounded_psnr_cost():
    shipped("srgan-x4")
    shipped("srresnet-x4")
    hr = photo()
    lr = imresize_uint8(hr, 1 / 4)
    out = {name: srgan.load(name, precision="fp32").upscale(lr) for name in ("srresnet-x4", "srgan-x4")}
    texture = {name: hf_ratio(sr, hr) for name, sr in out.items()}
    quality = {name: psnr_y(sr, hr, border=4) for name, sr in out.items()}
    # srgan-x4 (EMA + LDL, run srgan-x4-ldl-r2) keeps less invented texture than the r8 model did (0.29 vs 0.20 here)
    assert texture["srgan-x4"] > texture["srresnet-x4"] + 0.05
    assert quality["srgan-x4"] > quality["srresnet-x4"] - 3.0
    assert quality["srgan-x4"] > psnr_y(imresize_uint8(lr, 4), hr, border=4) - 3.0
