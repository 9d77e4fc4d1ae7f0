import pytest
import torch
import torch.nn.functional as F

from srgan.models.ffdnet import ARCH, FFDNet, FFDNetConfig, config_from_state_dict
from srgan.train.config import DENOISER_ARCHS

TINY = {"widths": (8, 16), "blocks_per_level": 1}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(28, 28), (37, 41), (33, 8), (3, 5), (1, 1)])
def test_any_size_and_channel_count(channels, size):
    # Pixel-unshuffle needs even sides and the U-Net a multiple of its stride: odd and tiny sizes are padded
    # (by replication where reflection does not fit) and cropped back.
    m = FFDNet(channels=channels, **TINY).eval()
    x = torch.rand(2, channels, *size)
    with torch.no_grad():
        y = m(x, 0.1)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_stride_is_the_unshuffle_times_the_levels():
    assert FFDNet(widths=(8,)).stride == 2
    assert FFDNet(widths=(8, 16, 32)).stride == 8


def test_the_noise_level_map_changes_the_output():
    torch.manual_seed(0)
    m = FFDNet(**TINY).eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        low, high = m(x, 0.05), m(x, 0.5)
    assert (low - high).abs().max() > 1e-4


def test_one_sigma_per_image_in_a_batch():
    torch.manual_seed(0)
    m = FFDNet(**TINY).eval()
    x = torch.rand(2, 3, 16, 12)
    with torch.no_grad():
        both = m(x, torch.tensor([0.1, 0.3]))
        torch.testing.assert_close(both[:1], m(x[:1], 0.1))
        torch.testing.assert_close(both[1:], m(x[1:], 0.3))
        with pytest.raises(ValueError, match="one per image"):
            m(x, torch.tensor([0.1, 0.2, 0.3]))


def test_predicts_the_noise_residually():
    # With the exit convolution zeroed, the network outputs its input: it learns the noise, not the image.
    m = FFDNet(**TINY).eval()
    torch.nn.init.zeros_(m.exit.weight)
    x = torch.rand(1, 3, 19, 23)
    with torch.no_grad():
        assert torch.equal(m(x, 0.2), x)


def test_config_is_read_back_from_a_state_dict():
    cfg = FFDNetConfig(channels=1, widths=(8, 16, 32, 64), blocks_per_level=3)
    assert config_from_state_dict(FFDNet(cfg).state_dict()) == cfg
    assert FFDNet(**cfg.to_dict()).config == cfg  # a card's architecture dict builds it back
    with pytest.raises(ValueError, match="not an FFDNet"):
        config_from_state_dict({"stem.0.weight": torch.zeros(1)})


def test_bad_configs_are_refused():
    for bad in ({"channels": 2}, {"widths": ()}, {"widths": (8, 0)}, {"blocks_per_level": 0}):
        with pytest.raises(ValueError):
            FFDNetConfig(**bad)


def test_the_training_configs_arch_names_this_model():
    assert ARCH in DENOISER_ARCHS and FFDNetConfig().to_dict()["arch"] == ARCH


def test_learns_to_use_the_noise_level(one_thread):
    """Two noise levels on one clean signal: told σ, the network learns both; the loss falls well below the
    noisy input's."""
    torch.manual_seed(0)
    m = FFDNet(channels=1, widths=(8, 16), blocks_per_level=1)
    opt = torch.optim.Adam(m.parameters(), lr=5e-3)
    clean = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(4, 1, 16, 16).contiguous()
    sigma = torch.tensor([0.05, 0.3]).repeat(2)
    for _ in range(60):
        noisy = (clean + sigma.view(-1, 1, 1, 1) * torch.randn_like(clean)).clamp(0, 1)
        loss = F.mse_loss(m(noisy, sigma), clean)
        opt.zero_grad()
        loss.backward()
        opt.step()
    noisy = (clean + sigma.view(-1, 1, 1, 1) * torch.randn_like(clean)).clamp(0, 1)
    with torch.no_grad():
        assert F.mse_loss(m(noisy, sigma), clean) < 0.5 * F.mse_loss(noisy, clean)
