"""The path taken where the fused oneDNN kernels do not run: bf16 on CPUs without AVX-512 (most
laptops), or a PyTorch build without oneDNN. It is forced here, so that every machine tests it:
in-process by switching the fused kernels and ATen's oneDNN convolutions off, and in a subprocess by
capping oneDNN at AVX2 (``ONEDNN_MAX_CPU_ISA``), which removes its bf16 kernels as such a CPU lacks them.
"""

import os
import platform
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import smooth_image
from srgan.infer import fast
from srgan.infer.fast import InferenceGenerator, conv_in_strips, fallback_reason, prepare, uses_im2col
from srgan.infer.model import load
from srgan.models import zoo
from srgan.models.generator import Generator
from srgan.ops.metrics import psnr_rgb

X86 = platform.machine().lower() in ("x86_64", "amd64")


@pytest.fixture
def no_onednn():
    """ATen's own convolution, the one bf16 gets where oneDNN has no bf16 kernels."""
    was = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False  # not mkldnn.flags(): it warns about TF32 on Intel GPUs
    yield
    torch.backends.mkldnn.enabled = was


@pytest.mark.parametrize("k", [1, 3, 5, 9])
@pytest.mark.parametrize("rows", [1, 4, 100])
def test_conv_in_strips_is_the_whole_convolution(no_onednn, k, rows):
    torch.manual_seed(k)
    conv = torch.nn.Conv2d(6, 5, k, padding=k // 2)
    x = torch.rand(2, 6, 13, 11).contiguous(memory_format=torch.channels_last)
    budget = rows * 2 * 6 * k * k * 11 * 4  # im2col bytes of `rows` output rows
    assert uses_im2col(conv, x)
    with torch.inference_mode():
        got = conv_in_strips(conv, x, budget)
        want = conv(x)
    assert got.shape == want.shape and got.is_contiguous(memory_format=torch.channels_last)
    assert (got - want).abs().max() < 1e-5


def test_pytorch_says_which_convolutions_use_im2col():
    """Strips only where they bound something: oneDNN's fp32 convolution has no im2col buffer. (PyTorch
    keeps small inputs on its own kernels, hence 64×64.)"""
    conv = torch.nn.Conv2d(8, 4, 3, padding=1)
    x = torch.rand(1, 8, 64, 64).contiguous(memory_format=torch.channels_last)
    was, torch.backends.mkldnn.enabled = torch.backends.mkldnn.enabled, False
    try:
        assert uses_im2col(conv, x)
    finally:
        torch.backends.mkldnn.enabled = was
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this PyTorch build has no oneDNN")
    assert not uses_im2col(conv, x)


def test_conv_in_strips_refuses_what_it_cannot_cut():
    with pytest.raises(ValueError, match="stride-1"):
        conv_in_strips(torch.nn.Conv2d(3, 3, 3, stride=2, padding=1), torch.rand(1, 3, 8, 8), 1)


def test_the_plain_network_in_strips_computes_the_generator(no_onednn, monkeypatch):
    torch.manual_seed(0)
    g = Generator(num_blocks=2, channels=8).eval()
    monkeypatch.setattr(fast, "STRIP_BYTES", 4096)  # a few rows per strip, for every conv
    plain = prepare(g, "srresnet", torch.device("cpu"), "fp32", fused=False)
    assert isinstance(plain, InferenceGenerator) and plain.strip_bytes == 4096
    x = torch.rand(1, 3, 21, 17)
    with torch.inference_mode():
        assert (plain(x.contiguous(memory_format=torch.channels_last)) - g(x)).abs().max() < 1e-5


def test_without_fused_kernels_bf16_runs_the_plain_network_and_says_why_only_when_asked(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SRGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fast, "_fused_ops_available", lambda: False)
    torch.manual_seed(0)
    path = tmp_path / "tiny-x4.safetensors"
    zoo.save_model(path, Generator(num_blocks=1, channels=8).eval(), {"kind": "srresnet", "scale": 4})
    img = smooth_image(40, 36)

    caplog.set_level("WARNING")
    auto = load(path, precision="auto")  # probes bf16 on the plain network: nothing to tell the user
    assert fallback_reason(auto._prepare(auto.precision)) and not caplog.records

    m = load(path, precision="bf16")
    net = m._prepare("bf16")
    assert isinstance(net, InferenceGenerator) and net.strip_bytes == fast.STRIP_BYTES
    assert "no oneDNN" in fallback_reason(net)
    assert len(caplog.records) == 1 and caplog.records[0].getMessage().startswith("bf16: ")
    assert psnr_rgb(m.upscale(img), m.upscale(img, precision="fp32"), border=0) > 40
    m.upscale(img, precision="bf16")
    assert len(caplog.records) == 1  # once per model, not per call


AVX2_SCRIPT = """
import sys
from srgan.device import cpu_supports_bf16
from srgan.infer.model import load
m = load(sys.argv[1], precision="bf16")
print(cpu_supports_bf16(), type(m._prepare("bf16")).__name__, m.precision)
"""


@pytest.mark.skipif(not X86, reason="ONEDNN_MAX_CPU_ISA caps x86 instruction sets only")
def test_an_avx2_only_cpu_runs_bf16_on_the_plain_network_and_auto_says_nothing(tmp_path):
    """The CPUs the issue met (AMD EPYC Zen 1): oneDNN has no bf16 kernels there; emulated by capping its ISA."""
    torch.manual_seed(0)
    path = tmp_path / "tiny-x4.safetensors"
    zoo.save_model(path, Generator(num_blocks=1, channels=8).eval(), {"kind": "srresnet", "scale": 4})
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "SRGAN_CACHE": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "-c", AVX2_SCRIPT, str(path)], capture_output=True, text=True, env=env, check=True)
    assert r.stdout.split() == ["False", "InferenceGenerator", "bf16"]
    # One line, in a user's words: what happens and what to do instead; no oneDNN internals.
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "emulated" in lines[0] and "fp32 or auto" in lines[0] and "mkldnn" not in lines[0]

    Image.fromarray(smooth_image(24, 20)).save(tmp_path / "in.png")
    srgan = [sys.executable, "-m", "srgan.cli", "upscale", str(tmp_path / "in.png"), "--model", str(path)]
    quiet = subprocess.run([*srgan, "-o", str(tmp_path / "auto.png")], capture_output=True, text=True, env=env)
    assert quiet.returncode == 0 and quiet.stderr == ""  # auto probed bf16 and chose: nothing to warn about
    told = subprocess.run([*srgan, "-o", str(tmp_path / "bf16.png"), "--precision", "bf16"], capture_output=True, text=True, env=env)
    assert told.returncode == 0 and told.stderr.strip() == lines[0]
    out = np.asarray(Image.open(tmp_path / "bf16.png"))
    assert out.shape == (96, 80, 3) and psnr_rgb(out, np.asarray(Image.open(tmp_path / "auto.png")), border=0) > 40
