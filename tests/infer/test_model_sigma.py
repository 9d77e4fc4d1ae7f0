"""Inference with a denoiser told σ (FFDNet): σ given or estimated, its fused CPU form, tiling, and the blind
denoiser left as it was. Tiny random networks: the plumbing, not the quality, is under test."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import srgan.infer.model as model_module
from conftest import smooth_image
from srgan.errors import SrganError
from srgan.infer.fast import FusedFFDNet, fallback_reason, prepare
from srgan.infer.model import check_sigma, load
from srgan.models import zoo
from srgan.models.denoiser import DenoisingAutoencoder
from srgan.models.ffdnet import FFDNet
from srgan.ops.noise_level import estimate_sigma
from srgan.ops.metrics import psnr_rgb


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    ffdnet = FFDNet(widths=(8, 16, 32), blocks_per_level=1).eval()
    paths = {"ffdnet": folder / "tiny-ffdnet.safetensors", "blind": folder / "tiny-denoiser.safetensors"}
    zoo.save_model(paths["ffdnet"], ffdnet, {"kind": "denoiser", "scale": 1, "architecture": ffdnet.config.to_dict()})
    zoo.save_model(paths["blind"], DenoisingAutoencoder(widths=(8, 16), blocks_per_level=1), {"kind": "denoiser", "scale": 1})
    return paths


def noisy_image(h: int = 48, w: int = 64, sigma: float = 0.1, seed: int = 0) -> np.ndarray:
    clean = smooth_image(h, w, seed).astype(np.float64) / 255
    noisy = clean + np.random.default_rng(seed).normal(0, sigma, clean.shape)
    return (np.clip(noisy, 0, 1) * 255).round().astype(np.uint8)


def test_sigma_given_or_estimated_reaches_the_network(models, caplog):
    m = load(models["ffdnet"], device="cpu", precision="fp32")
    assert m.takes_sigma and m.kind == "denoiser"
    img = noisy_image(sigma=0.1)
    given = m.denoise(img, sigma=0.1)
    assert given.shape == img.shape and given.dtype == np.uint8
    assert not np.array_equal(given, m.denoise(img, sigma=0.4))  # σ changes the result
    estimate = m.noise_sigma(img)
    assert estimate == pytest.approx(estimate_sigma(img)) and estimate > 0.05  # read off the image
    with caplog.at_level("INFO", logger="srgan.infer.model"):
        blind = m.denoise(img)
    assert np.array_equal(blind, m.denoise(img, sigma=estimate))
    assert [r.getMessage() for r in caplog.records] == [f"noise σ ≈ {estimate:.3f} (estimated)"]
    # every input kind the API takes, gray included
    assert isinstance(m.denoise(Image.fromarray(img), sigma=0.2), Image.Image)
    assert m.denoise(img[..., 0], sigma=0.2).shape == img.shape[:2]


def test_bad_sigma_is_one_line(models, monkeypatch):
    m = load(models["ffdnet"], device="cpu", precision="fp32")
    for bad in (-0.1, 1.5, float("nan"), float("inf"), "abc", [0.1]):
        with pytest.raises(SrganError, match=r"sigma must be a number in \[0, 1\]"):
            m.denoise(noisy_image(16, 16), sigma=bad)
    assert check_sigma("0.25") == 0.25 and check_sigma(0) == 0.0 and check_sigma(1) == 1.0
    import srgan.ops.noise_level as noise_level

    def refuse(pixels):
        raise SrganError("estimate_sigma: image 2×2 is smaller than one 3×3 patch")

    monkeypatch.setattr(noise_level, "estimate_sigma", refuse)
    with pytest.raises(SrganError, match=r"cannot estimate the noise level \(estimate_sigma: image 2×2 .*\); give sigma"):
        m.denoise(noisy_image(16, 16))  # what the estimator cannot read: one line saying σ must be given


def test_a_blind_denoiser_ignores_sigma(models):
    m = load(models["blind"], device="cpu", precision="fp32")
    img = noisy_image(24, 20)
    assert not m.takes_sigma and m.noise_sigma(img) is None and m.noise_sigma(img, 0.3) is None
    assert np.array_equal(m.denoise(img), m.denoise(img, sigma=0.3))


@pytest.mark.parametrize("precision, tolerance", [("fp32", 1e-5), ("bf16", 0.05)])
def test_the_fused_cpu_form_matches_the_network(precision, tolerance):
    torch.manual_seed(0)
    net = FFDNet(widths=(8, 16, 32), blocks_per_level=2).eval()
    fused = prepare(net, "denoiser", torch.device("cpu"), precision)
    if fallback_reason(fused) is not None:
        pytest.skip(f"no fused kernels here: {fallback_reason(fused)}")
    assert isinstance(fused, FusedFFDNet)
    x = torch.rand(2, 3, 21, 30)  # odd sides: padding and cropping take the same path in both
    sigma = torch.tensor([0.1, 0.4])
    dtype = torch.float32 if precision == "fp32" else torch.bfloat16
    with torch.inference_mode():
        got = fused(x.to(dtype).contiguous(memory_format=torch.channels_last), sigma).float()
        want = net(x, sigma)
    assert got.shape == want.shape and (got - want).abs().max() <= tolerance
    plain = prepare(net, "denoiser", torch.device("cpu"), precision, fused=False)
    assert isinstance(plain, FFDNet)


def test_tiles_are_told_the_same_sigma_and_blend_seamlessly(models):
    m = load(models["ffdnet"], device="cpu", precision="fp32")
    img = noisy_image(90, 76, sigma=0.2)  # neither side a multiple of the network's stride (8)
    estimate = m.noise_sigma(img)
    whole = m.denoise(img, sigma=estimate, tile=0)
    tiled = m.denoise(img, tile=32, tile_overlap=16)  # estimated once for the whole picture, not per tile
    assert psnr_rgb(tiled, whole, border=0) > 50


def test_auto_precision_probes_a_network_told_sigma(models, monkeypatch, tmp_path):
    monkeypatch.setenv("SRGAN_CACHE", str(tmp_path / "cache"))
    m = load(models["ffdnet"], device="cpu", precision="auto")
    assert m.precision in ("fp32", "bf16") and m.auto.rates.get("fp32", 0) > 0
    assert m.denoise(noisy_image(16, 16), sigma=0.1).shape == (16, 16, 3)


def test_restore_tells_the_denoiser_sigma_and_checks_it_before_loading(models, monkeypatch):
    gen = Path(models["ffdnet"]).parent / "tiny-x2.safetensors"
    from srgan.models.generator import Generator

    zoo.save_model(gen, Generator(scale=2, num_blocks=1, channels=8), {"kind": "srresnet", "scale": 2})
    img = noisy_image(16, 20)
    den = load(models["ffdnet"], device="cpu", precision="fp32")
    denoised, result = model_module.restore(img, denoiser=str(models["ffdnet"]), upscaler=str(gen), sigma=0.3,
                                            precision="fp32", return_intermediate=True)
    assert result.shape == (32, 40, 3) and np.array_equal(denoised, den.denoise(img, sigma=0.3))
    monkeypatch.setattr(model_module, "_load_cached", lambda *a, **k: pytest.fail("loaded a model for a bad sigma"))
    with pytest.raises(SrganError, match="sigma must be"):
        model_module.restore(img, denoiser=str(models["ffdnet"]), sigma=-1)


def test_onnx_export_takes_sigma_as_a_second_input(models, tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="srgan export needs the onnx extra")
    pytest.importorskip("onnx", reason="srgan export needs the onnx extra")
    from srgan.infer.onnx import export_onnx

    assert export_onnx(str(models["ffdnet"]), tmp_path / "f.onnx") <= 1e-3
    session = ort.InferenceSession(str(tmp_path / "f.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image", "sigma"]
    x = np.random.default_rng(0).random((2, 3, 30, 44), dtype=np.float32)
    sigma = np.array([0.1, 0.4], np.float32)
    net = load(models["ffdnet"], device="cpu", precision="fp32").network
    with torch.no_grad():
        want = net(torch.from_numpy(x), torch.from_numpy(sigma)).numpy()
    assert np.abs(session.run(None, {"image": x, "sigma": sigma})[0] - want).max() < 1e-4


def test_models_lists_a_denoiser_told_sigma_as_such(models, monkeypatch, tmp_path, capsys):
    from srgan.infer.onnx import print_models

    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path)
    for name, path in (("ffdnet", models["ffdnet"]), ("blind", models["blind"])):
        state, card = zoo.load_state(path)
        zoo.save_model(tmp_path / f"{name}.safetensors", zoo.build_from_state(state, card)[0], {**card, "name": name})
    print_models()
    lines = {line.split(":")[0]: line for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")}
    assert "told σ" in lines["ffdnet"] and "told σ" not in lines["blind"]
