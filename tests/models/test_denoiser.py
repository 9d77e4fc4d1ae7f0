import pytest
import torch

from srgan.models.denoiser import DenoiserConfig, DenoisingAutoencoder, config_from_state_dict


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(28, 28), (37, 41), (96, 96)])
def test_any_size_and_channel_count(channels, size):
    m = DenoisingAutoencoder(channels=channels, widths=(8, 16, 32), blocks_per_level=1).eval()
    x = torch.rand(2, channels, *size)
    assert m(x).shape == x.shape


def test_predicts_the_noise_residually():
    # With the last layer zeroed, the network outputs its input: it learns the noise, not the image.
    m = DenoisingAutoencoder(widths=(8, 16)).eval()
    torch.nn.init.zeros_(m.out.weight)
    torch.nn.init.zeros_(m.out.bias)
    x = torch.rand(1, 3, 20, 20)
    assert torch.equal(m(x), x)


def test_config_is_read_back_from_a_state_dict():
    cfg = DenoiserConfig(channels=1, widths=(8, 16, 32, 64), blocks_per_level=3)
    assert config_from_state_dict(DenoisingAutoencoder(cfg).state_dict()) == cfg


def test_learns_to_denoise_a_tiny_problem():
    torch.manual_seed(0)
    m = DenoisingAutoencoder(channels=1, widths=(8, 16), blocks_per_level=1)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    clean = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(8, 1, 16, 16).contiguous()
    for _ in range(150):
        noisy = (clean + 0.2 * torch.randn_like(clean)).clamp(0, 1)
        loss = torch.nn.functional.mse_loss(m(noisy), clean)
        opt.zero_grad()
        loss.backward()
        opt.step()
    noisy = (clean + 0.2 * torch.randn_like(clean)).clamp(0, 1)
    with torch.no_grad():
        assert torch.nn.functional.mse_loss(m(noisy), clean) < 0.5 * torch.nn.functional.mse_loss(noisy, clean)
