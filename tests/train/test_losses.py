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


def test_relativistic_losses_compare_each_side_with_the_other_side_s_average():
    from srgan.train.losses import relativistic_discriminator_loss, relativistic_generator_loss

    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([1.0, -1.0])  # means 1.0 and 0.0
    bce = lambda x, label: -torch.log(torch.sigmoid(x) if label else 1 - torch.sigmoid(x))  # noqa: E731
    d = 0.5 * (bce(real - 0.0, 1).mean() + bce(fake - 1.0, 0).mean())
    g = 0.5 * (bce(real - 0.0, 0).mean() + bce(fake - 1.0, 1).mean())
    assert relativistic_discriminator_loss(real, fake) == pytest.approx(d.item(), rel=1e-6)
    assert relativistic_generator_loss(real, fake) == pytest.approx(g.item(), rel=1e-6)
    # Shifting every logit alike changes nothing: only the gap between real and fake counts (unlike the paper's loss).
    assert relativistic_discriminator_loss(real + 50, fake + 50) == pytest.approx(d.item(), rel=1e-5)
    assert torch.isfinite(relativistic_generator_loss(real * 300, fake * 300))
    # The generator's gradient reaches its fakes and not D's view of the reals, and moves fakes up.
    real_g, fake_g = real.clone().requires_grad_(), fake.clone().requires_grad_()
    relativistic_generator_loss(real_g, fake_g).backward()
    assert real_g.grad is None and (fake_g.grad < 0).all()


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


def test_content_criterion_l1_compares_the_scaled_features_by_absolute_error():
    from srgan.errors import SrganError
    from srgan.train.losses import ContentLoss

    torch.manual_seed(0)
    hr, sr = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    l1 = ContentLoss("effnet", feature_scale=0.5, taps=(7, 10), criterion="l1").eval()
    mse = ContentLoss("effnet", feature_scale=0.5, taps=(7, 10)).eval()
    with torch.no_grad():
        f_sr, f_hr = l1.features(sr), l1.features(hr)
        want_l1 = torch.stack([(0.5 * (a - b)).abs().mean() for a, b in zip(f_sr, f_hr)]).mean()
        want_mse = torch.stack([(0.5 * (a - b)).pow(2).mean() for a, b in zip(f_sr, f_hr)]).mean()
        assert torch.allclose(l1(sr, hr), want_l1, rtol=1e-5) and torch.allclose(mse(sr, hr), want_mse, rtol=1e-5)
        assert l1(hr, hr).item() == 0
    # The gradient of L1 has the same size wherever SR's features differ: a small difference is pulled as hard
    # as a large one, unlike MSE's, which fades with the difference.
    small = (hr + 0.01 * torch.randn_like(hr)).requires_grad_()
    large = (hr + 0.3 * torch.randn_like(hr)).requires_grad_()
    g = {name: [torch.autograd.grad(loss(x, hr), x)[0].norm().item() for x in (small, large)]
         for name, loss in (("l1", l1), ("mse", mse))}
    assert g["mse"][1] / g["mse"][0] > 3 * g["l1"][1] / g["l1"][0]
    with pytest.raises(SrganError, match="criterion"):
        ContentLoss("effnet", criterion="l2")


def test_content_loss_crop_weights_scale_each_crop_s_share():
    from srgan.train.losses import ContentLoss

    torch.manual_seed(1)
    hr, sr = torch.rand(3, 3, 64, 64), torch.rand(3, 3, 64, 64)
    w = torch.tensor([1.0, 3.0, 0.0])
    for loss in (ContentLoss("mse"), ContentLoss("effnet", feature_scale=0.5, taps=(7, 10)).eval(),
                 ContentLoss("effnet", feature_scale=0.5, taps=(7, 10), criterion="l1").eval()):
        with torch.no_grad():
            each = torch.stack([loss(sr[i : i + 1], hr[i : i + 1]) for i in range(3)])
            assert loss(sr, hr, torch.ones(3)).item() == pytest.approx(loss(sr, hr).item(), rel=1e-5)
            assert loss(sr, hr, w).item() == pytest.approx((each * w).mean().item(), rel=1e-5)
        x = sr.clone().requires_grad_()
        loss(x, hr, w).backward()  # a crop weighed 0 is not pulled at all; one weighed 3 three times as hard
        assert x.grad[2].abs().sum() == 0
        g0 = torch.autograd.grad(loss(x, hr)[None].sum(), x)[0]
        assert torch.allclose(x.grad[1], 3 * g0[1], rtol=1e-3, atol=1e-4 * g0[1].abs().max().item())


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


def test_block_edge_error_counts_only_steps_on_the_grid_unlike_hr_s():
    from srgan.train.losses import block_edge_error

    hr = torch.full((2, 3, 64, 64), 0.5)
    tiled = hr.clone()
    tiled[..., :, 32:] += 0.1  # a step across the column line at 32 that HR does not have
    assert block_edge_error(hr, hr, 32) == 0
    # one of the two lines (a column and a row) carries a 0.1 step on every pixel: mean mismatch 0.05
    assert block_edge_error(tiled, hr, 32).item() == pytest.approx(0.05, abs=1e-6)
    # the same step in HR (a true edge on the grid) costs nothing; HR's edge drawn flat in SR costs as much
    assert block_edge_error(tiled, tiled, 32) == 0
    assert block_edge_error(hr, tiled, 32).item() == pytest.approx(0.05, abs=1e-6)
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
    # a grid that starts 12 px in: invisible at the corner's lines, seen when the loss is told the origin
    moved = torch.roll(tiled, shifts=(12, 12), dims=(-2, -1))
    here = torch.roll(hr, shifts=(12, 12), dims=(-2, -1))
    assert block_edge_error(moved, here, 32) == 0
    origin = torch.tensor([[12, 12]] * hr.shape[0])
    assert block_edge_error(moved, here, 32, origin).item() > 0.01
    assert block_edge_error(tiled, hr, 32, torch.zeros_like(origin)) == block_edge_error(tiled, hr, 32)
    # an image marked as having no grid (−1) adds nothing; all marked: zero
    assert block_edge_error(moved, here, 32, torch.tensor([[12, 12], [-1, -1]])).item() == pytest.approx(
        block_edge_error(moved[:1], here[:1], 32, origin[:1]).item())
    assert block_edge_error(moved, here, 32, -torch.ones_like(origin)) == 0


def test_block_edge_error_charges_a_step_only_where_it_stands_out_from_its_neighbours():
    from srgan.train.losses import block_edge_error

    hr = torch.full((1, 1, 64, 64), 0.5)
    ramp = hr + torch.linspace(0, 0.3, 64).view(1, 1, 1, 64)  # steps everywhere, none larger on the grid
    assert block_edge_error(ramp, hr, 32).item() == pytest.approx(0, abs=1e-7)
    tile = ramp.clone()
    tile[..., 32:] += 0.05  # a tile edge on top of it: 0.05 beyond its neighbours, on one of the two lines
    assert block_edge_error(tile, hr, 32).item() == pytest.approx(0.025, abs=1e-6)
    # HR's own edge on the grid excuses as much in SR
    assert block_edge_error(tile, tile, 32).item() == pytest.approx(0, abs=1e-7)
    # the gradient lowers the step across the line and leaves its neighbours alone (roughening them would be
    # a cheaper way down than removing the tile)
    x = tile.clone().requires_grad_(True)
    block_edge_error(x, hr, 32).backward()
    moved = x.grad.abs().sum(dim=(0, 1, 2)).nonzero().flatten().tolist()
    assert moved == [31, 32] and x.grad[0, 0, 0, 31] < 0 < x.grad[0, 0, 0, 32]


def test_jpeg_block_error_reads_tiles_between_lr_cells_and_nothing_inside_a_cell():
    from srgan.train.losses import block_edge_error, jpeg_block_error

    hr = torch.full((2, 3, 64, 64), 0.5)
    tiled = hr.clone()
    tiled[..., :, 32:] += 0.1  # a tile edge on the LR's block border 8 (HR px 32)
    assert jpeg_block_error(tiled, hr, 4).item() == pytest.approx(0.05, abs=1e-6)
    # a fixed pattern inside every 4×4 cell, with its step where each cell ends: HR-pixel steps see it on the
    # block lines, the cell means do not
    cells = hr.clone()
    cells[..., :, 3::4] += 0.1
    assert block_edge_error(cells, hr, 32).item() > 0.01
    assert jpeg_block_error(cells, hr, 4) == 0
    # the grid in LR px: a tile edge at LR column 11 is on a grid that starts at column 3
    moved = hr.clone()
    moved[..., :, 44:] += 0.1
    assert jpeg_block_error(moved, hr, 4) == 0
    assert jpeg_block_error(moved, hr, 4, torch.tensor([[3, 3], [3, 3]])).item() > 0.01


def test_masked_mse_is_the_kept_crops_mse_over_the_whole_batch():
    from srgan.train.losses import masked_mse

    hr = torch.zeros(4, 3, 8, 8)
    sr = torch.stack([torch.full((3, 8, 8), v) for v in (0.1, 0.2, 0.3, 0.4)])
    keep = torch.tensor([True, False, True, False])
    # kept: 0.01 and 0.09; the two others count 0 over the batch of 4
    assert masked_mse(sr, hr, keep).item() == pytest.approx((0.01 + 0.09) / 4)
    assert masked_mse(sr, hr, torch.zeros(4, dtype=torch.bool)).item() == 0
    assert masked_mse(sr, hr, torch.ones(4, dtype=torch.bool)).item() == pytest.approx(torch.mean((sr - hr) ** 2).item())
    # its gradient reaches only the kept crops
    sr.requires_grad_(True)
    masked_mse(sr, hr, keep).backward()
    assert sr.grad[1].abs().sum() == 0 and sr.grad[0].abs().sum() > 0


def test_crop_weights_scale_each_crop_s_share_of_the_adversarial_terms():
    from srgan.train.losses import adversarial_loss, relativistic_generator_loss

    g = torch.Generator().manual_seed(0)
    fake = torch.randn(4, 6, 6, generator=g)  # a per-pixel D's logits for 4 crops
    real = torch.randn(4, 6, 6, generator=g)
    w = torch.tensor([1.0, 0.3, 0.0, 1.0])
    per_crop = torch.nn.functional.softplus(-fake).mean(dim=(1, 2))
    assert adversarial_loss(fake, w).item() == pytest.approx((per_crop * w).mean().item(), rel=1e-6)
    assert adversarial_loss(fake, torch.ones(4)).item() == pytest.approx(adversarial_loss(fake).item(), rel=1e-6)
    one_logit = fake[:, 0, 0]  # the paper's D: one logit per crop
    assert adversarial_loss(one_logit, w).item() == pytest.approx((torch.nn.functional.softplus(-one_logit) * w).mean().item(), rel=1e-6)
    f = fake.clone().requires_grad_()
    adversarial_loss(f, w).backward()
    assert f.grad[2].abs().sum() == 0 and 0 < f.grad[1].abs().sum() < f.grad[0].abs().sum()
    # relativistic: each crop's own halves scaled; the batch averages it is compared with are not
    rel = relativistic_generator_loss
    assert rel(real, fake, torch.ones(4)).item() == pytest.approx(rel(real, fake).item(), rel=1e-6)
    sp = torch.nn.functional.softplus
    halves = 0.5 * (sp(real - fake.mean()).mean(dim=(1, 2)) + sp(-(fake - real.mean())).mean(dim=(1, 2)))
    assert rel(real, fake, w).item() == pytest.approx((halves * w).mean().item(), rel=1e-6)


def test_step_profile_puts_each_step_at_its_place_in_the_image_s_own_grid():
    from srgan.train.losses import step_profile

    x = torch.zeros(1, 1, 24, 24)
    x[..., 9:] = 1.0  # one step, from column 8 to 9: entry 0 of a grid at the corner, 72 + 72 steps in that entry
    assert torch.allclose(step_profile(x, 8), torch.tensor([24 / 144] + [0.0] * 7))
    # the same step on a grid that starts at column 1 is the step across its border: the last entry
    assert torch.allclose(step_profile(x, 8, torch.tensor([[0, 1]])), torch.tensor([0.0] * 7 + [24 / 120]))
    # an image without a grid (negative origin) is left out; with none left, zeros
    both = torch.cat([x, torch.rand(1, 1, 24, 24)])
    assert torch.allclose(step_profile(both, 8, torch.tensor([[0, 0], [-1, -1]])), step_profile(x, 8))
    assert step_profile(x, 8, torch.tensor([[-1, -1]])).abs().sum() == 0


def test_block_profile_error_charges_a_step_moved_into_the_block_that_the_edge_term_lets_pass():
    from srgan.train.losses import block_profile_error, jpeg_block_error

    g = torch.Generator().manual_seed(0)
    hr = torch.rand(4, 3, 96, 96, generator=g) * 0.1 + 0.45  # texture with no preferred place in the blocks
    assert block_profile_error(hr, hr, 4) == 0
    cells = torch.zeros(1, 1, 96, 96)
    for c in range(36, 96, 32):  # a step one LR px (4 px) after each block border: the soft cells
        cells[..., c:] += 0.05
        cells[..., c:, :] += 0.05
    moved = hr + cells
    assert block_profile_error(moved, hr, 4) > 0.1  # the step's share of its entry, far above the texture's noise
    # the edge term's gradient moves only the LR cells on either side of the border (HR columns 28-35), never the
    # cell after the moved step (36-39): it cannot take that step away; this term's gradient reaches it
    for term, reaches in ((jpeg_block_error, False), (block_profile_error, True)):
        x = moved.clone().requires_grad_()
        term(x, hr, 4).backward()
        assert (x.grad[0, :, 50, 36:40].abs().sum() > 0) == reaches
    assert block_profile_error(hr + 0.02 * torch.rand(hr.shape, generator=g), hr, 4) < 0.02  # noise anywhere: little
    # overall sharpness is not its business: the profile's shape is
    assert block_profile_error(0.5 + (hr - 0.5) * 3, hr, 4).item() == pytest.approx(0, abs=1e-5)
    sr = moved.clone().requires_grad_()
    block_profile_error(sr, hr, 4).backward()
    assert sr.grad.abs().sum() > 0
    # the crop's grid: the same cells 3 LR px further on are where a grid starting at LR (3, 3) has them
    shifted = hr + torch.roll(cells, (12, 12), (-2, -1))
    origin = torch.tensor([[3, 3]] * 4)
    assert block_profile_error(shifted, hr, 4, origin).item() == pytest.approx(
        block_profile_error(moved, hr, 4).item(), rel=0.3)


def test_usm_sharpen_steepens_edges_and_leaves_flat_noise_and_far_areas_alone():
    from srgan.train.losses import usm_sharpen

    edge = torch.full((1, 3, 32, 128), 0.1)
    edge[..., 64:] = 0.9
    out = usm_sharpen(edge, 0.5)
    # overshoot on both sides of the edge: the target's step is steeper than the photo's
    assert (out[..., 60:64] < edge[..., 60:64] - 0.01).all() and (out[..., 64:68] > edge[..., 64:68] + 0.01).all()
    assert out.min() >= 0 and out.max() <= 1
    # beyond the edge's reach (residual over the threshold within ~13 px, the mask's blur 25 more) nothing moves
    assert torch.equal(out[..., :20], edge[..., :20]) and torch.equal(out[..., -20:], edge[..., -20:])
    # noise under the threshold is not amplified into the target, nor is anything at weight 0
    flat = 0.5 + 0.02 * (torch.rand(2, 3, 64, 64) - 0.5)
    assert torch.equal(usm_sharpen(flat, 0.5), flat)
    assert torch.allclose(usm_sharpen(edge, 0.0), edge)
    # the same noise over the threshold is sharpened: the threshold, not the image, decides
    assert not torch.equal(usm_sharpen(flat, 0.5, threshold=0.001), flat)
    # a wider Gaussian sharpens a wider band
    wide = usm_sharpen(edge, 0.5, sigma=4.0)
    assert torch.equal(wide[..., :40], edge[..., :40]) and (out[..., 52] < wide[..., 52]).all()
