"""The card of a run's exported model (srgan.train.card)."""

from __future__ import annotations

import json

import pytest
import torch

from srgan.models import zoo
from srgan.models.denoiser import DenoisingAutoencoder
from srgan.models.generator import Generator
from srgan.train.card import data_terms, run_card
from srgan.train.config import load_config

# The keys every trainer card has, in their order (older shipped cards have fewer: see tests/models/test_zoo.py).
RUN_CARD_KEYS = ["name", "kind", "scale", "architecture", "steps", "batch_size", "crop", "crop_tries", "precision",
                 "content_loss", "backbone", "loss_weights", "data", "data_terms", "exclude", "validation", "selected_by",
                 "ema_decay", "freeze_bn", "noise_sigma", "degradation", "trained_on", "torch"]


@pytest.mark.parametrize("kind", ["srresnet", "srgan", "denoiser"])
def test_every_kind_writes_the_same_keys_with_null_where_one_does_not_apply(tmp_path, kind):
    cfg = load_config(None, {"kind": kind, "data": ["/d"], "val": "/v", "pixel_weight": 2.0})
    net = DenoisingAutoencoder(widths=(8, 16), blocks_per_level=1) if kind == "denoiser" else Generator(num_blocks=1, channels=8)
    card = run_card(cfg, name="r1", network=net, step=7, world=2, precision="bf16", backbone="none",
                    content_feature_scale=1.0 if kind == "srgan" else None, validation={"val_psnr_y": 30.0, "step": 7},
                    ref_psnr=None, device=torch.device("cpu"))
    zoo.save_model(tmp_path / "model.safetensors", net, card)
    written = json.loads((tmp_path / "model.json").read_text())
    assert list(written) == RUN_CARD_KEYS
    assert written["batch_size"] == 2 * cfg.batch_size and written["validation"] == {"set": "/v", "val_psnr_y": 30.0, "step": 7}
    assert written["architecture"] == net.config.to_dict() and written["scale"] == (1 if kind == "denoiser" else 4)
    assert (written["loss_weights"] is None) == (kind != "srgan") and (written["noise_sigma"] is None) == (kind != "denoiser")
    assert written["degradation"] is None  # the paper's bicubic LR
    if kind == "srgan":
        assert written["loss_weights"]["pixel"] == 2.0 and written["content_loss"] == "effnet"
    assert written["content_loss"] == {"srresnet": "mse", "srgan": "effnet", "denoiser": "mse"}[kind]
    assert zoo.ModelCard.read(tmp_path / "model.safetensors").to_dict() == card.to_dict() == written


def test_data_terms_come_from_source_md_beside_the_data(tmp_path):
    (tmp_path / "T91").mkdir()
    (tmp_path / "T91" / "SOURCE.md").write_text("# T91\n\n- License/terms: research use.\n")
    (tmp_path / "mnist").mkdir()
    (tmp_path / "SOURCE.md").write_text("# Digits\n")
    assert data_terms([str(tmp_path / "T91"), f"mnist:{tmp_path / 'mnist'}", str(tmp_path / "none" / "x")]) == [
        "T91: License/terms: research use.", "mnist: Digits"]


def test_a_real_photo_run_card_records_every_degradation_setting(tmp_path):
    cfg = load_config(None, {"kind": "srresnet", "data": ["/d"], "degradation": {"clean_prob": 0.25},
                             "hr_downscale": 2, "val_degradation": "jpeg75"})
    card = run_card(cfg, name="m", network=Generator(num_blocks=1, channels=8), step=3, world=1, precision="fp32",
                    backbone="none", content_feature_scale=None, validation={}, ref_psnr=None, device=torch.device("cpu"))
    d = card.to_dict()["degradation"]
    assert d["hr_downscale"] == 2 and d["validation"] == "jpeg75"
    assert d["pipeline"]["clean_prob"] == 0.25 and d["pipeline"]["first"]["jpeg_quality"] == [30, 95]
