import pytest
import torch


def test_phase_locked_error_sees_a_fixed_grid_and_not_texture():
    from srgan.train.losses import phase_locked_error

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
    from srgan.train.losses import adversarial_loss

    logits = torch.tensor([0.0, 2.0, -200.0])
    expected = -torch.log(torch.sigmoid(logits[:2]))
    assert adversarial_loss(logits[:2]) == pytest.approx(expected.mean().item(), rel=1e-6)
    assert torch.isfinite(adversarial_loss(logits))  # log(sigmoid(-200)) would be -inf in float32


def test_content_taps_pick_effnet_blocks_and_only_effnet_has_them():
    from srgan.errors import SrganError
    from srgan.train.losses import ContentLoss

    deep = ContentLoss("effnet", taps=(7, 10))
    assert deep.backbone == "EfficientNet-Lite0 (ImageNet), blocks 7, 10"
    hr = torch.rand(1, 3, 64, 64)
    assert [f.shape[1] for f in deep.features(hr)] == [80, 112]  # the blocks' channel counts (stride 16 both)
    assert deep(hr, hr).item() == 0 and deep((hr + 0.1).clamp(0, 1), hr).item() > 0
    with pytest.raises(SrganError, match="taps"):
        ContentLoss("mse", taps=(7,))
    with pytest.raises(SrganError, match="tap"):
        ContentLoss("effnet", taps=(99,))


def test_artifact_map_is_zero_where_sr_is_hr_and_sees_noisy_residuals_more_than_smooth_ones():
    from srgan.train.losses import artifact_map

    g = torch.Generator().manual_seed(0)
    hr = torch.rand(1, 3, 32, 64, generator=g)
    exact = hr  # an exact EMA output: the mask keeps every departure of SR
    assert artifact_map(hr, hr, exact).abs().max() == 0  # SR == HR: no residual, no artifact
    # Left half: a smooth (constant) residual, right half: noise of the same mean size.
    smooth = torch.full((1, 3, 32, 32), 0.1)
    noisy = 0.1 + 0.1 * torch.randn(1, 3, 32, 32, generator=g)
    sr = hr + torch.cat([smooth, noisy], dim=-1)
    m = artifact_map(sr, hr, exact)
    assert m.shape == (1, 1, 32, 64) and not m.requires_grad
    assert m[..., 4:-4, 4:28].max() < 1e-6 and m[..., 4:-4, 36:-4].min() > 0  # a 7×7 window away from the seam


def test_artifact_map_keeps_only_where_the_ema_model_is_closer_to_hr():
    from srgan.train.losses import artifact_loss, artifact_map

    g = torch.Generator().manual_seed(1)
    hr = torch.rand(2, 3, 24, 24, generator=g)
    sr = hr + 0.1 * torch.randn(hr.shape, generator=g)
    assert artifact_map(sr, hr, hr).gt(0).float().mean() > 0.9  # EMA exact: every noisy departure is an artifact
    assert artifact_map(sr, hr, sr).abs().max() == 0  # EMA = SR: not closer anywhere
    assert artifact_map(sr, hr, hr + 2 * (sr - hr)).abs().max() == 0  # EMA further off: SR's departure is progress
    # Half the image each way: the map follows the mask and the rest of it is unchanged.
    ema = torch.where(torch.arange(24).view(1, 1, 1, 24) < 12, hr, hr + 2 * (sr - hr))
    m, full = artifact_map(sr, hr, ema), artifact_map(sr, hr, hr)
    assert m[..., 12:].abs().max() == 0 and torch.equal(m[..., :12], full[..., :12])
    # The loss is mean(map · |SR − HR|) and its gradient reaches SR only through |SR − HR| (the map is a weight).
    x = sr.clone().requires_grad_()
    loss = artifact_loss(x, hr, hr)
    assert loss.item() == pytest.approx((full * (sr - hr).abs()).mean().item(), rel=1e-6)
    loss.backward()
    expected = full * torch.sign(sr - hr) / sr.numel()
    assert torch.allclose(x.grad, expected, atol=1e-9)


def test_block_edge_error_counts_only_steps_on_the_grid_beyond_hr_s():
    from srgan.train.losses import block_edge_error

    hr = torch.full((2, 3, 64, 64), 0.5)
    tiled = hr.clone()
    tiled[..., :, 32:] += 0.1  # a step across the column line at 32 that HR does not have
    assert block_edge_error(hr, hr, 32) == 0
    # one of the two lines (a column and a row) carries a 0.1 step on every pixel: mean excess 0.05
    assert block_edge_error(tiled, hr, 32).item() == pytest.approx(0.05, abs=1e-6)
    # the same step in HR (a true edge on the grid) costs nothing, and a softer one than HR's neither
    assert block_edge_error(tiled, tiled, 32) == 0
    assert block_edge_error(hr, tiled, 32) == 0
    off = hr.clone()
    off[..., :, 30:] += 0.1  # a step between columns 29 and 30: not on the grid
    assert block_edge_error(off, hr, 32) == 0
    rows = hr.clone()
    rows[..., 32:, :] -= 0.1  # the sign of the step does not matter, rows count as columns do
    assert block_edge_error(rows, hr, 32).item() == pytest.approx(0.05, abs=1e-6)
    sr = tiled.clone().requires_grad_()
    block_edge_error(sr, hr, 32).backward()
    assert sr.grad[..., :, 31].abs().sum() > 0 and sr.grad[..., :, 10].abs().sum() == 0
    assert block_edge_error(hr[..., :32, :32], hr[..., :32, :32], 32) == 0  # no line inside a 32-px crop
