"""srgan export: single-file ONNX with dynamic height and width, checked against PyTorch."""

import re
import sys

import numpy as np
import pytest
import torch

from srgan.models import zoo
from srgan.cli import main
from srgan.models.denoiser import DenoisingAutoencoder
from srgan.models.generator import Generator

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("kind", ["srresnet", "denoiser"])
def test_export_runs_any_size_and_matches_pytorch(tmp_path, capsys, kind):
    torch.manual_seed(0)
    net = Generator(num_blocks=2, channels=8) if kind == "srresnet" else DenoisingAutoencoder(widths=(8, 16, 32), blocks_per_level=1)
    zoo.save_model(tmp_path / "m.safetensors", net.eval(), {"kind": kind})
    assert main(["export", "--model", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "m.onnx")]) == 0
    out = capsys.readouterr().out
    diff = float(re.search(r"max abs difference ([0-9.e+-]+)", out).group(1))
    assert diff < 1e-4
    assert [p.name for p in tmp_path.iterdir() if "onnx" in p.name] == ["m.onnx"]  # one file, no external data

    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    scale = 4 if kind == "srresnet" else 1
    for h, w in [(16, 16), (23, 30)]:
        x = np.random.default_rng(h).random((2, 3, h, w), dtype=np.float32)
        got = session.run(None, {"image": x})[0]
        with torch.no_grad():
            want = net(torch.from_numpy(x)).numpy()
        assert got.shape == (2, 3, h * scale, w * scale)
        assert np.abs(got - want).max() < 1e-4


def test_export_without_onnxruntime_says_what_to_install(tmp_path, capsys, monkeypatch):
    zoo.save_model(tmp_path / "m.safetensors", Generator(num_blocks=1, channels=8).eval(), {"kind": "srresnet"})
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    assert main(["export", "--model", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "m.onnx")]) == 1
    assert "pip install 'srgan[onnx]'" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_export_refuses_other_extensions(tmp_path, capsys):
    zoo.save_model(tmp_path / "m.safetensors", Generator(num_blocks=1, channels=8).eval(), {"kind": "srresnet"})
    assert main(["export", "--model", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "m.pt")]) == 1
    assert "must end in .onnx" in capsys.readouterr().err
