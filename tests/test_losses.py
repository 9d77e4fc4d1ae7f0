import pytest
import torch


def test_phase_locked_error_sees_a_fixed_grid_and_not_texture():
    from srgan.losses import phase_locked_error

    g = torch.Generator().manual_seed(0)
    hr = torch.rand(4, 3, 96, 96, generator=g)
    pattern = (torch.rand(1, 3, 4, 4, generator=g) - 0.5) * 0.02  # ±1 % (±2.5 grey levels): a visible grid
    grid = hr + pattern.repeat(1, 1, 24, 24)
    texture = hr + (torch.rand(hr.shape, generator=g) - 0.5) * 0.2  # 10x stronger, but with no preferred phase
    dc = hr + 0.05  # a global shift is pixel MSE's business, not a grid
    e_grid, e_texture = phase_locked_error(grid, hr, 4).item(), phase_locked_error(texture, hr, 4).item()
    assert e_grid == pytest.approx((pattern - pattern.mean(dim=(2, 3), keepdim=True)).pow(2).mean().item(), rel=1e-3)
    assert e_texture < e_grid / 20
    assert phase_locked_error(dc, hr, 4) < 1e-10
    sr = grid.clone().requires_grad_()
    phase_locked_error(sr, hr, 4).backward()
    assert sr.grad.abs().sum() > 0  # a loss term, so it must pass gradients to the generator


def test_adversarial_loss_is_minus_log_d_and_finite_where_d_saturates():
    from srgan.losses import adversarial_loss

    logits = torch.tensor([0.0, 2.0, -200.0])
    expected = -torch.log(torch.sigmoid(logits[:2]))
    assert adversarial_loss(logits[:2]) == pytest.approx(expected.mean().item(), rel=1e-6)
    assert torch.isfinite(adversarial_loss(logits))  # log(sigmoid(-200)) would be -inf in float32


def test_content_taps_pick_effnet_blocks_and_only_effnet_has_them():
    from srgan.errors import SrganError
    from srgan.losses import ContentLoss

    deep = ContentLoss("effnet", taps=(7, 10))
    assert deep.backbone == "EfficientNet-Lite0 (ImageNet), blocks 7, 10"
    hr = torch.rand(1, 3, 64, 64)
    assert [f.shape[1] for f in deep.features(hr)] == [80, 112]  # the blocks' channel counts (stride 16 both)
    assert deep(hr, hr).item() == 0 and deep((hr + 0.1).clamp(0, 1), hr).item() > 0
    with pytest.raises(SrganError, match="taps"):
        ContentLoss("mse", taps=(7,))
    with pytest.raises(SrganError, match="tap"):
        ContentLoss("effnet", taps=(99,))
