"""Shared fixtures: tiny generated images, the path of ../shared when it exists, torch on one thread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_or_skip(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available (../shared is absent)")
    return path


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A photo-like uint8 RGB image: smooth gradients plus some texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * x + 1), np.cos(5 * y), np.sin(4 * (x + y))], -1) * 0.35 + 0.5
    tex = rng.normal(0, 0.04, (h, w, 3))
    return (np.clip(base + tex, 0, 1) * 255).round().astype(np.uint8)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    for i, (h, w) in enumerate([(64, 80), (72, 72), (100, 60)]):
        Image.fromarray(smooth_image(h, w, i)).save(folder / f"img{i}.png")
    Image.fromarray(smooth_image(50, 70, 9)).save(folder / "sub" / "nested.jpg", quality=95)
    return folder


@pytest.fixture
def one_thread():
    """Torch on one thread for a test that trains tiny networks: on 16×16 tensors a second thread only adds
    synchronisation, and on a busy 2-core machine, where it waits for a time slice at every op, a training test
    took 100× its 1-thread time (tests/models/test_ffdnet.py)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
