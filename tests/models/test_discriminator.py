import torch

from srgan.models.discriminator import Discriminator


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
