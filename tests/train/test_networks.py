"""The networks a run builds from its config."""

from __future__ import annotations

import pytest
import torch

from srgan.errors import SrganError
from srgan.models.denoiser import DenoisingAutoencoder
from srgan.models.ffdnet import FFDNet
from srgan.models.generator import Generator
from srgan.train.config import TrainConfig, load_config
from srgan.train.networks import autocast, build_model, load_init_generator


def test_build_model_follows_the_config():
    g = build_model(load_config(None, {"data": ["x"], "scale": 2, "generator": {"num_blocks": 2, "channels": 8, "in_channels": 1, "out_channels": 1}}))
    assert isinstance(g, Generator) and g.config.to_dict() == {"scale": 2, "num_blocks": 2, "channels": 8, "in_channels": 1, "out_channels": 1}
    d = build_model(load_config(None, {"kind": "denoiser", "data": ["x"], "denoiser": {"channels": 1, "widths": [8, 16], "blocks_per_level": 1}}))
    assert isinstance(d, DenoisingAutoencoder) and d.config.widths == (8, 16) and d.config.channels == 1
    f = build_model(load_config(None, {"kind": "denoiser", "data": ["x"], "crop": 4,
                                       "denoiser": {"arch": "ffdnet", "widths": [8, 16, 32], "blocks_per_level": 2}}))
    assert isinstance(f, FFDNet) and f.takes_sigma and f.config.widths == (8, 16, 32) and f.config.blocks_per_level == 2


def test_impossible_network_arguments_are_one_line_config_errors():
    with pytest.raises(SrganError, match=r"config: generator\.num_blocks must be a positive integer, not 0"):
        load_config(None, {"data": ["x"], "generator": {"num_blocks": 0}})
    # A config made without the schema's check (TrainConfig(...) runs none) still fails in one line here.
    with pytest.raises(SrganError, match="config: generator: num_blocks and channels must be positive"):
        build_model(TrainConfig(data=["x"], generator={"num_blocks": 0}))


def test_init_generator_must_fit(tmp_path):
    from srgan.models import zoo

    zoo.save_model(tmp_path / "g.safetensors", Generator(num_blocks=2, channels=8), {"kind": "srresnet", "scale": 4})
    fits = Generator(num_blocks=2, channels=8)
    load_init_generator(fits, tmp_path / "g.safetensors")
    assert torch.equal(fits.head.weight, zoo.load_state(tmp_path / "g.safetensors")[0]["head.weight"])
    with pytest.raises(SrganError, match="does not fit the generator"):
        load_init_generator(Generator(num_blocks=1, channels=8), tmp_path / "g.safetensors")


def test_autocast_follows_the_precision():
    x = torch.rand(2, 2)
    with autocast(torch.device("cpu"), "bf16"):
        assert (x @ x).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), "fp32"):
        assert (x @ x).dtype == torch.float32
