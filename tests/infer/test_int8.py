"""precision int8: the generator quantized and run by ONNX Runtime (srgan.infer.int8)."""

import sys

import numpy as np
import pytest
import torch
from PIL import Image

import srgan
from srgan.infer import int8
from srgan.models import zoo
from srgan.cli import main
from srgan.device import pick_precision
from srgan.errors import SrganError
from srgan.infer.fast import InferenceGenerator
from srgan.ops.metrics import psnr
from srgan.models.denoiser import DenoisingAutoencoder
from srgan.models.generator import Generator

from conftest import smooth_image

pytest.importorskip("onnxruntime")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Every test builds into its own cache folder, never the user's ~/.cache."""
    monkeypatch.setenv("SRGAN_CACHE", str(tmp_path / "cache"))


def _tiny(tmp_path, seed=0):
    torch.manual_seed(seed)
    net = Generator(num_blocks=2, channels=16).eval()
    path = tmp_path / f"tiny{seed}.safetensors"
    zoo.save_model(path, net, {"kind": "srresnet", "scale": 4})
    return path


def test_export_form_pads_the_tail_and_computes_the_same_function():
    torch.manual_seed(0)
    plain = InferenceGenerator(Generator(num_blocks=2, channels=16).eval()).eval()
    form = int8._ExportForm(plain).eval()
    assert form.tail.out_channels == 16 and plain.tail.conv.out_channels == 12
    x = torch.rand(1, 3, 13, 9)
    with torch.no_grad():
        assert torch.equal(form(x), plain(x))


def test_int8_output_is_close_to_fp32(tmp_path, capsys):
    path = _tiny(tmp_path)
    img = smooth_image(40, 28)
    fast = srgan.load(path, precision="int8")
    assert "building the int8 graph" in capsys.readouterr().err  # a first build says why it takes seconds
    got = fast.upscale(img)
    want = srgan.load(path, precision="fp32").upscale(img)
    assert got.shape == want.shape == (160, 112, 3) and got.dtype == np.uint8
    assert psnr(got, want) > 35  # quantization noise, not a different picture
    # Tiling still blends windows of the int8 network seamlessly.
    tiled = fast.upscale(img, tile=16)
    assert psnr(tiled, got) > 35


def test_int8_graph_is_cached_per_weights_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    path = _tiny(tmp_path)
    srgan.load(path, precision="int8")
    cached = list((tmp_path / "cache").glob("int8-*.onnx"))
    assert len(cached) == 1

    def no_rebuild(*args, **kwargs):
        raise AssertionError("quantized again although the graph was cached")

    monkeypatch.setattr(int8, "quantize", no_rebuild)
    img = smooth_image(16, 16)
    first = srgan.load(path, precision="int8").upscale(img)

    # Other weights get their own graph, never the cached one.
    with pytest.raises(AssertionError, match="quantized again"):
        srgan.load(_tiny(tmp_path, seed=1), precision="int8")

    monkeypatch.undo()
    monkeypatch.setenv("SRGAN_CACHE", str(tmp_path / "cache"))
    cached[0].write_bytes(b"not an onnx graph")
    again = srgan.load(path, precision="int8").upscale(img)
    assert np.array_equal(first, again)
    assert cached[0].read_bytes().startswith(b"\x08")  # rebuilt: a protobuf again


def test_int8_cache_folder_unwritable_still_runs(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("SRGAN_CACHE", str(blocker / "cache"))  # under a file: cannot be created
    out = srgan.load(_tiny(tmp_path), precision="int8").upscale(smooth_image(12, 12))
    assert out.shape == (48, 48, 3)


def test_int8_refuses_gpus_training_and_denoisers(tmp_path):
    with pytest.raises(SrganError, match="int8 is for inference on the CPU"):
        pick_precision("int8", torch.device("cuda"))
    with pytest.raises(SrganError, match="int8 is for inference on the CPU"):
        pick_precision("int8", torch.device("cpu"), training=True)
    assert pick_precision("auto", torch.device("cpu")) != "int8"
    zoo.save_model(tmp_path / "d.safetensors", DenoisingAutoencoder(widths=(8, 16, 32), blocks_per_level=1).eval(), {"kind": "denoiser"})
    with pytest.raises(SrganError, match="int8 is available for the ×4 generators"):
        srgan.load(tmp_path / "d.safetensors", precision="int8")


def test_int8_without_onnxruntime_says_what_to_install(tmp_path, monkeypatch):
    path = _tiny(tmp_path)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(SrganError, match=r"pip install 'srgan\[onnx\]'"):
        srgan.load(path, precision="int8")


def test_cli_upscale_and_restore_in_int8(tmp_path, capsys):
    up = _tiny(tmp_path)
    den = tmp_path / "den.safetensors"
    torch.manual_seed(0)
    zoo.save_model(den, DenoisingAutoencoder(widths=(8, 16, 32), blocks_per_level=1).eval(), {"kind": "denoiser"})
    src = tmp_path / "in.png"
    Image.fromarray(smooth_image(20, 24)).save(src)
    assert main(["upscale", str(src), "-o", str(tmp_path / "up.png"), "--model", str(up), "--precision", "int8"]) == 0
    assert Image.open(tmp_path / "up.png").size == (96, 80)
    # restore runs the denoiser in the precision auto picks and the upscaler in int8
    assert main(["restore", str(src), "-o", str(tmp_path / "r.png"), "--denoiser", str(den), "--upscaler", str(up),
                 "--precision", "int8"]) == 0
    assert Image.open(tmp_path / "r.png").size == (96, 80)
    assert main(["denoise", str(src), "-o", str(tmp_path / "d.png"), "--model", str(den), "--precision", "int8"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("srgan: ") and "int8 is available for the ×4 generators" in err[-1]
    assert "Traceback" not in "\n".join(err)


@pytest.mark.parametrize("arch", [{"scale": 2}, {"in_channels": 1, "out_channels": 1}])
def test_int8_other_scales_and_gray_generators(tmp_path, arch):
    torch.manual_seed(0)
    path = tmp_path / "g.safetensors"
    zoo.save_model(path, Generator(num_blocks=1, channels=16, **arch).eval(), {"kind": "srresnet", "scale": arch.get("scale", 4)})
    img = smooth_image(24, 20)
    got = srgan.load(path, precision="int8").upscale(img)
    want = srgan.load(path, precision="fp32").upscale(img)
    assert got.shape == want.shape
    assert psnr(got, want) > 35
