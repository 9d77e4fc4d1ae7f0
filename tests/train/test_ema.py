"""The EMA generator: what it averages."""

from __future__ import annotations

import torch

from srgan.models.generator import Generator
from srgan.train.ema import EMA
from train_runs import TINY


def test_ema_averages_parameters_and_bn_statistics():
    model = Generator(scale=4, **TINY)
    ema = EMA(model, 0.9)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model(torch.rand(2, 3, 8, 8))  # moves the BN running statistics
    ema.update(model)
    now = model.state_dict()
    for k, e in ema.model.state_dict().items():
        if e.is_floating_point():
            assert torch.allclose(e, 0.9 * start[k] + 0.1 * now[k], atol=1e-6), k
        else:
            assert torch.equal(e, now[k]), k  # BN's batch count is copied
    assert not any(p.requires_grad for p in ema.model.parameters()) and not ema.model.training
