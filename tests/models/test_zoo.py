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


# ------------------------------------------------------------------------------------------- model cards


@pytest.mark.parametrize("card, message", [
    ("[1, 2]", "model card must be a JSON object"), ("null", "model card must be a JSON object"),
    ("{bad", "model card is not valid JSON"), (b"\xff\xfe{}", "model card cannot be read"),
])
def test_a_card_that_is_not_a_json_object_is_one_line(tmp_path, card, message):
    weights = tmp_path / "m.safetensors"
    zoo.save_model(weights, Generator(num_blocks=1, channels=8), {"kind": "srresnet", "scale": 4})
    card_path = weights.with_suffix(".json")
    card_path.write_bytes(card if isinstance(card, bytes) else card.encode())
    with pytest.raises(SrganError, match=message):
        zoo.load_state(weights)


@pytest.mark.parametrize("name", ["srresnet-x4", "srgan-x4", "denoiser"])
def test_shipped_cards_read_and_write_back_unchanged(tmp_path, name):
    shipped = zoo.shipped_models().get(name)
    if shipped is None:
        pytest.skip(f"{name} weights not shipped yet")
    text = shipped.with_suffix(".json").read_text()
    card = zoo.ModelCard.read(shipped)
    assert card.name == name and card.kind in ("srresnet", "srgan", "denoiser") and card.steps > 0
    card.write(tmp_path / "copy.safetensors")
    assert (tmp_path / "copy.json").read_text() == text  # same keys, order, nulls and values


def test_card_keeps_unknown_keys_and_nulls_and_updates_by_name():
    d = {"name": "m", "kind": "srgan", "noise_sigma": None, "custom": {"a": 1}, "steps": 3}
    card = zoo.ModelCard.from_dict(d)
    assert card.extra == {"custom": {"a": 1}} and card.to_dict() == d
    assert list(card.to_dict()) == ["name", "kind", "steps", "noise_sigma", "custom"]  # known keys in card order
    new = card.updated(steps=None, note="n", other=2, noise_sigma=[0.1, 0.2])
    assert new.to_dict() == {"name": "m", "kind": "srgan", "noise_sigma": [0.1, 0.2], "note": "n", "custom": {"a": 1}, "other": 2}
    assert card.to_dict() == d  # updated() copies
    assert zoo.ModelCard(kind="srresnet", nulls=frozenset({"loss_weights"})).to_dict() == {"kind": "srresnet", "loss_weights": None}


def test_saved_models_get_the_usual_file_rights(tmp_path):
    import os
    import stat

    g = Generator(num_blocks=1, channels=8)
    old = os.umask(0o022)
    try:
        zoo.save_model(tmp_path / "m.safetensors", g, {"kind": "srresnet", "scale": 4})
    finally:
        os.umask(old)
    for f in ("m.safetensors", "m.json"):  # readable by others as any file written under umask 022
        assert stat.S_IMODE((tmp_path / f).stat().st_mode) == 0o644, f
    assert zoo.load_state(tmp_path / "m.safetensors")[1]["kind"] == "srresnet"


def test_save_model_takes_a_card_object(tmp_path):
    g = Generator(num_blocks=1, channels=8).eval()
    zoo.save_model(tmp_path / "m.safetensors", g, zoo.ModelCard(kind="srgan", scale=4, blend=[{"weight": 1.0, "model": "a"}]))
    assert json.loads((tmp_path / "m.json").read_text()) == {"kind": "srgan", "scale": 4, "blend": [{"weight": 1.0, "model": "a"}]}
    assert zoo.build_from_state(*zoo.load_state(tmp_path / "m.safetensors"))[1] == "srgan"


# ------------------------------------------------------------------------------------------ architectures


def test_describe_reads_the_architecture_off_the_state_dict():
    arch = zoo.describe(Generator(scale=2, num_blocks=3, channels=8, in_channels=1, out_channels=1).state_dict())
    assert (arch.kind, arch.scale, arch.in_channels, arch.out_channels, arch.width, arch.blocks, arch.stride) == ("srresnet", 2, 1, 1, 8, 3, 1)
    assert arch.arguments == {"scale": 2, "num_blocks": 3, "channels": 8, "in_channels": 1, "out_channels": 1}
    arch = zoo.describe(DenoisingAutoencoder(channels=1, widths=(8, 16, 32), blocks_per_level=3).state_dict())
    assert (arch.kind, arch.scale, arch.in_channels, arch.out_channels, arch.width, arch.blocks, arch.stride) == ("denoiser", 1, 1, 1, 8, 3, 4)
    assert arch.build().config == DenoisingAutoencoder(channels=1, widths=(8, 16, 32), blocks_per_level=3).config
    assert arch.design == "unet" and not arch.takes_sigma


def test_an_ffdnet_is_told_apart_from_the_blind_denoiser_and_round_trips(tmp_path):
    from srgan.models.ffdnet import FFDNet

    net = FFDNet(channels=1, widths=(8, 16, 32), blocks_per_level=2).eval()
    arch = zoo.describe(net.state_dict())
    assert (arch.kind, arch.design, arch.takes_sigma, arch.in_channels, arch.width, arch.blocks, arch.stride) == (
        "denoiser", "ffdnet", True, 1, 8, 2, 8)
    assert arch.build().config == net.config
    # A bare checkpoint and a safetensors file with its card both load back as the same denoiser.
    torch.save(net.state_dict(), tmp_path / "bare.pt")
    zoo.save_model(tmp_path / "f.safetensors", net, {"kind": "denoiser", "scale": 1, "architecture": net.config.to_dict()})
    x = torch.rand(1, 1, 13, 18)
    for path in (tmp_path / "bare.pt", tmp_path / "f.safetensors"):
        state, card = zoo.load_state(path)
        model, kind = zoo.build_from_state(state, card)
        assert kind == "denoiser" and torch.equal(model(x, 0.2), net(x, 0.2))
    assert zoo.card_takes_sigma(zoo.ModelCard.read(tmp_path / "f.safetensors"))
    blind = DenoisingAutoencoder(channels=1, widths=(8, 16), blocks_per_level=1)
    zoo.save_model(tmp_path / "b.safetensors", blind, {"kind": "denoiser", "scale": 1, "architecture": blind.config.to_dict()})
    assert not zoo.card_takes_sigma(zoo.ModelCard.read(tmp_path / "b.safetensors"))
    assert not zoo.card_takes_sigma({})
    if (zoo.WEIGHTS_DIR / "denoiser.safetensors").is_file():  # since issue 20 the shipped denoiser is told σ
        assert zoo.card_takes_sigma(zoo.ModelCard.read(zoo.WEIGHTS_DIR / "denoiser.safetensors"))


def test_a_generator_is_srgan_only_when_its_card_says_so():
    state = Generator(num_blocks=1, channels=8).state_dict()
    assert zoo.build_from_state(state, {"kind": "srgan"})[1] == "srgan"
    assert zoo.build_from_state(state, zoo.ModelCard(kind="srgan"))[1] == "srgan"
    assert zoo.build_from_state(state, {"kind": "denoiser"})[1] == "srresnet"  # a card cannot make it a denoiser
    assert zoo.build_from_state(state)[1] == "srresnet"
    den = DenoisingAutoencoder(widths=(8, 16), blocks_per_level=1).state_dict()
    assert zoo.build_from_state(den, {"kind": "srgan"})[1] == "denoiser"


def test_a_generator_state_dict_without_its_tail_is_one_line():
    state = {k: v for k, v in Generator(num_blocks=1, channels=8).state_dict().items() if not k.startswith("tail.")}
    with pytest.raises(SrganError, match="no tail.weight"):
        zoo.build_from_state(state)


def test_default_upscaler_is_the_first_real_photo_model_that_met_its_bar(tmp_path, monkeypatch):
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path)
    g = Generator(num_blocks=1, channels=4).eval()

    def ship(name: str, met: bool | None) -> None:
        card = {"kind": "srresnet", "scale": 4}
        if met is not None:
            card["default_bar"] = {"met": met}
        zoo.save_model(tmp_path / f"{name}.safetensors", g, card)

    ship("srresnet-x4", None)
    ship("srgan-x4", True)  # the paper's GAN learned clean bicubic LR: never the default, whatever its card says
    assert zoo.default_upscaler() == "srresnet-x4"
    ship("srresnet-x4-real", None)  # shipped but never measured against the bar
    assert zoo.default_upscaler() == "srresnet-x4"
    ship("srresnet-x4-real", True)
    ship("srgan-x4-real", False)
    assert zoo.default_upscaler() == "srresnet-x4-real"
    ship("srgan-x4-real", True)
    assert zoo.default_upscaler() == "srgan-x4-real"
