import torch

from srgan.models.discriminator import Discriminator, UNetDiscriminator


def test_eight_convs_with_the_papers_channels_and_strides():
    d = Discriminator()
    convs = [m for m in d.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert all(c.kernel_size == (3, 3) for c in convs)
    # BN after all but the first conv; LeakyReLU(0.2) everywhere.
    bns = [m for m in d.features if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 7 and not isinstance(d.features[1], torch.nn.BatchNorm2d)
    assert all(m.negative_slope == 0.2 for m in d.modules() if isinstance(m, torch.nn.LeakyReLU))
    dense = [m for m in d.classifier if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in dense] == [1024, 1]
    # On the paper's 96-px crops the dense layer sees the paper's 6x6x512 map.
    assert dense[0].in_features == 6 * 6 * 512


def test_returns_one_logit_per_image_for_several_sizes():
    d = Discriminator().eval()
    for size in (96, 64, 128):
        out = d(torch.rand(2, 3, size, size))
        assert out.shape == (2,)
    # Logits, not probabilities: unbounded values, sigmoid maps them to (0, 1).
    p = torch.sigmoid(out)
    assert ((p > 0) & (p < 1)).all()


def test_gradients_reach_the_input():
    d = Discriminator()
    x = torch.rand(2, 3, 96, 96, requires_grad=True)
    d(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_unet_discriminator_gives_one_logit_per_pixel_for_any_size():
    d = UNetDiscriminator(channels=8).eval()
    for h, w in ((96, 96), (50, 70), (17, 9)):
        assert d(torch.rand(2, 3, h, w)).shape == (2, h, w)


def test_unet_discriminator_convs_are_spectrally_normalised():
    torch.manual_seed(0)
    d = UNetDiscriminator(channels=8)
    x = torch.rand(2, 3, 32, 32)
    for _ in range(30):  # each training-mode forward runs one power iteration
        d(x)
    d.eval()
    normed = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d) and hasattr(m, "parametrizations")]
    assert len(normed) == 8  # 3 down, 3 up, 2 refine; the first and last convs are left free
    for conv in normed:
        sigma = torch.linalg.matrix_norm(conv.weight.flatten(1), ord=2)
        assert 0.9 < sigma < 1.1
        raw = torch.linalg.matrix_norm(conv.parametrizations.weight.original.flatten(1), ord=2)
        assert abs(raw - 1) > 0.05  # ... which the raw weight alone would not give


def test_unet_discriminator_says_where_an_image_looks_fake():
    # Trained on whole images (real: smooth ramps; fake: the same with noise everywhere), then shown an image
    # that is noisy on its left half only: its per-pixel logits must call the left half more fake than the right,
    # which is what tells the generator where to change. One logit per image could not.
    torch.manual_seed(0)
    d = UNetDiscriminator(channels=8)
    opt = torch.optim.Adam(d.parameters(), lr=2e-3)
    from srgan.train.losses import discriminator_loss

    def ramps():
        return (torch.linspace(0, 1, 32).view(1, 1, 1, 32) * torch.rand(8, 3, 1, 1)).expand(8, 3, 32, 32).clone()

    for _ in range(60):
        real = ramps()
        loss = discriminator_loss(d(real), d(real + 0.2 * torch.randn_like(real)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    d.eval()
    half = ramps()
    half[..., :16] += 0.2 * torch.randn(8, 3, 32, 16)
    with torch.no_grad():
        logits = d(half)
    assert logits[..., 2:14].mean() < logits[..., 18:30].mean() - 0.5


def _pairs(n: int, correlated: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(image, LR ×4 nearest) pairs: a smooth ramp plus 4-px texture; the LR is the ramp plus its own noise. In
    ``correlated`` pairs the image's texture *is* the LR's noise (a generator drawing its input's noise); in the
    others it is independent of it (real HR). Each image alone has the same distribution either way."""
    ramp = (torch.linspace(0, 1, 16).view(1, 1, 1, 16) * torch.rand(n, 3, 1, 1)).expand(n, 3, 16, 16)
    lr_noise = 0.2 * torch.randn(n, 3, 4, 4)
    texture = lr_noise if correlated else 0.2 * torch.randn(n, 3, 4, 4)
    up = torch.nn.functional.interpolate
    image = ramp + up(texture, scale_factor=4, mode="nearest")
    return image, ramp + up(lr_noise, scale_factor=4, mode="nearest")


def test_a_conditional_unet_discriminator_tells_texture_that_copies_the_lr_s_noise_where_a_plain_one_cannot(one_thread):
    from srgan.train.losses import discriminator_loss

    final = {}
    for conditional in (False, True):
        torch.manual_seed(0)
        d = UNetDiscriminator(in_channels=6 if conditional else 3, channels=8)
        opt = torch.optim.Adam(d.parameters(), lr=2e-3)
        for _ in range(150):
            (real, real_lr), (fake, fake_lr) = _pairs(8, False), _pairs(8, True)
            if conditional:
                real, fake = torch.cat([real, real_lr], 1), torch.cat([fake, fake_lr], 1)
            loss = discriminator_loss(d(real), d(fake))
            opt.zero_grad()
            loss.backward()
            opt.step()
        d.eval()
        torch.manual_seed(1)
        (real, real_lr), (fake, fake_lr) = _pairs(16, False), _pairs(16, True)
        if conditional:
            real, fake = torch.cat([real, real_lr], 1), torch.cat([fake, fake_lr], 1)
        with torch.no_grad():
            final[conditional] = (torch.sigmoid(d(real)).mean() - torch.sigmoid(d(fake)).mean()).item()
    # real minus fake probability on new pairs: the plain D can only guess, the conditional one separates them
    assert abs(final[False]) < 0.1
    assert final[True] > 0.3


def test_widen_input_keeps_the_saved_judge_and_zeroes_the_new_channels():
    from srgan.models.discriminator import widen_input

    torch.manual_seed(0)
    for make in (lambda c: UNetDiscriminator(in_channels=c, channels=8), lambda c: Discriminator(in_channels=c)):
        saved, wide = make(3).eval(), make(6).eval()
        state = widen_input(saved.state_dict(), wide)
        wide.load_state_dict(state)
        x = torch.rand(2, 3, 96, 96)
        with torch.no_grad():
            # whatever the new channels hold, the widened D scores the image as the saved one did
            assert torch.allclose(wide(torch.cat([x, torch.rand_like(x)], 1)), saved(x), atol=1e-5)
        first = next(k for k, v in state.items() if v.dim() == 4)
        assert state[first].shape[1] == 6 and not state[first][:, 3:].any()
    # anything else that does not fit is left for load_state_dict to refuse
    narrow = UNetDiscriminator(channels=4).state_dict()
    assert all(torch.equal(widen_input(narrow, UNetDiscriminator(in_channels=6, channels=8))[k], v) for k, v in narrow.items())
