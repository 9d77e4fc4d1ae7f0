import json

import pytest
import torch

from srgan.models import zoo
from srgan.errors import SrganError
from srgan.models.denoiser import DenoisingAutoencoder
from srgan.models.generator import Generator


def test_save_and_load_round_trip_with_card(tmp_path):
    g = Generator(num_blocks=2, channels=8).eval()
    zoo.save_model(tmp_path / "m.safetensors", g, {"kind": "srgan", "scale": 4})
    state, card = zoo.load_state(tmp_path / "m.safetensors")
    model, kind = zoo.build_from_state(state, card)
    assert kind == "srgan" and card["scale"] == 4
    x = torch.rand(1, 3, 6, 6)
    assert torch.equal(model(x), g(x))


def test_architecture_is_detected_without_a_card(tmp_path):
    d = DenoisingAutoencoder(channels=1, widths=(8, 16)).eval()
    torch.save(d.state_dict(), tmp_path / "bare.pt")
    model, kind = zoo.build_from_state(*zoo.load_state(tmp_path / "bare.pt"))
    assert kind == "denoiser" and model.config.channels == 1


def test_fp16_publish_keeps_outputs_close(tmp_path, monkeypatch):
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path / "weights")
    run = tmp_path / "run"
    run.mkdir()
    g = Generator(num_blocks=2, channels=8).eval()
    zoo.save_model(run / "model.safetensors", g, {"kind": "srresnet", "scale": 4})
    out = zoo.publish(run, "tiny-x4", card_extra={"command": "srgan train ..."})
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["name"] == "tiny-x4" and card["weights_dtype"] == "float16" and "license" in card
    assert out.stat().st_size < (run / "model.safetensors").stat().st_size * 0.6
    model, _ = zoo.build_from_state(*zoo.load_state(out))
    x = torch.rand(1, 3, 8, 8)
    assert (model(x) - g(x)).abs().max() < 5e-3
    assert "tiny-x4" in zoo.shipped_models()


@pytest.mark.parametrize("content", [b"", b"garbage" * 10])
def test_bad_files_are_one_line_errors(tmp_path, content):
    for suffix in (".safetensors", ".pt"):
        f = tmp_path / f"bad{suffix}"
        f.write_bytes(content)
        with pytest.raises(SrganError, match="bad"):
            zoo.load_state(f)
    with pytest.raises(SrganError, match="fits no srgan architecture"):
        zoo.build_from_state({"foo.weight": torch.zeros(1)})
    with pytest.raises(SrganError, match="unknown model"):
        zoo.resolve("no-such-model")
