import pytest
import torch

from srgan.models.generator import Generator, GeneratorConfig, config_from_state_dict


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_paper_generator_has_the_pinned_parameter_count():
    # 16 blocks, 64 channels, x4, one PReLU alpha per layer (the paper's reference implementations).
    assert n_params(Generator()) == 1_549_462


def test_layers_follow_the_paper():
    g = Generator()
    assert g.head.kernel_size == (9, 9) and g.head.out_channels == 64
    assert g.tail.kernel_size == (9, 9) and g.tail.out_channels == 3
    assert len(g.blocks) == 16 and len(g.upsample) == 2
    block = g.blocks[0]
    assert [type(m).__name__ for m in block.children()] == ["Conv2d", "BatchNorm2d", "PReLU", "Conv2d", "BatchNorm2d"]
    assert all(m.weight.numel() == 1 for m in g.modules() if isinstance(m, torch.nn.PReLU))
    assert g.upsample[0].conv.out_channels == 256


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("channels", [1, 3])
def test_output_shape(scale, channels):
    g = Generator(scale=scale, num_blocks=2, channels=8, in_channels=channels, out_channels=channels).eval()
    assert g(torch.rand(2, channels, 7, 9)).shape == (2, channels, 7 * scale, 9 * scale)


def test_residual_blocks_are_identity_skips():
    g = Generator(num_blocks=1, channels=8).eval()
    block = g.blocks[0]
    torch.nn.init.zeros_(block.bn2.weight)
    torch.nn.init.zeros_(block.bn2.bias)
    x = torch.randn(1, 8, 5, 5)
    assert torch.equal(block(x), x)


def test_config_is_read_back_from_a_state_dict():
    cfg = GeneratorConfig(scale=8, num_blocks=3, channels=16, in_channels=1, out_channels=1)
    assert config_from_state_dict(Generator(cfg).state_dict()) == cfg
    with pytest.raises(ValueError):
        config_from_state_dict({"foo": torch.zeros(1)})


def test_bad_scale_is_refused():
    with pytest.raises(ValueError):
        GeneratorConfig(scale=3)
