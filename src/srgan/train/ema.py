"""The exponential moving average of a generator's weights (BasicSR, Real-ESRGAN): ``ema_decay`` in TrainConfig.

A GAN fine-tune's weights swing from step to step; their average does not. When a run has one, the average is
what validation scores, what checkpoints keep beside the raw weights, and what model.safetensors holds.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """A frozen copy of a model whose weights follow the model's as ema ← decay·ema + (1 − decay)·w.

    Parameters and BatchNorm running statistics alike are averaged (integer buffers such as BN's batch count
    are copied), so the copy in eval mode is a consistent model. It starts from the model it is given."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        src = model.state_dict()
        for name, e in self.model.state_dict().items():
            if e.is_floating_point():
                e.lerp_(src[name].detach(), 1.0 - self.decay)
            else:
                e.copy_(src[name])
