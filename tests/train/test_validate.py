"""Validation: the fixed validation inputs, the selection rules (psnr, texture, niqe) and the step they export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from srgan.errors import SrganError
from srgan.models import zoo
from srgan.ops.metrics import psnr
from srgan.train.config import load_config
from srgan.train.loop import train
from srgan.train.validate import Validator, selection_score
from train_runs import max_diff, tiny_cfg


class Nearest(nn.Module):
    """×4 nearest-neighbour upsampling: an upscaler whose every output is known."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.repeat_interleave(4, -2).repeat_interleave(4, -1)


def test_denoiser_validation_images_get_the_val_sigmas_in_turn(image_folder):
    cfg = load_config(None, {"kind": "denoiser", "data": ["x"], "val": str(image_folder), "val_sigmas": [0.1, 0.3]})
    v = Validator(cfg, channels=3)
    assert [sigma for *_, sigma in v.items] == [0.1, 0.3, 0.1, 0.3]
    metrics, outputs = v.run(nn.Identity(), torch.device("cpu"), "fp32")  # the noisy input, scored
    assert metrics["val_psnr_rgb"] == pytest.approx(np.mean([psnr(noisy, clean) for _, noisy, clean, _ in v.items]))
    assert all(np.array_equal(o, noisy) for o, (_, noisy, _, _) in zip(outputs, v.items))


def test_a_denoiser_told_sigma_is_told_each_images_true_sigma(image_folder):
    cfg = load_config(None, {"kind": "denoiser", "data": ["x"], "val": str(image_folder), "val_sigmas": [0.1, 0.3],
                             "denoiser": {"arch": "ffdnet"}})

    class Told(nn.Module):
        takes_sigma = True

        def __init__(self) -> None:
            super().__init__()
            self.told: list[float] = []

        def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            self.told.append(float(sigma))
            return x

    model = Told()
    Validator(cfg, channels=3).run(model, torch.device("cpu"), "fp32")
    assert model.told == pytest.approx([0.1, 0.3, 0.1, 0.3])


def test_sr_validation_crops_hr_to_the_scale_and_draws_a_panel(image_folder):
    cfg = load_config(None, {"data": ["x"], "val": str(image_folder), "val_max_images": 3})
    v = Validator(cfg, channels=3)
    assert len(v.items) == 3
    for _, lr, hr, _ in v.items:
        assert hr.shape[0] % 4 == 0 and hr.shape[1] % 4 == 0 and lr.shape[:2] == (hr.shape[0] // 4, hr.shape[1] // 4)
    metrics, outputs = v.run(Nearest(), torch.device("cpu"), "fp32")
    assert set(metrics) == {"val_psnr_y", "val_ssim_y", "val_hf_ratio"} and 10 < metrics["val_psnr_y"] < 40
    panel = v.panel(outputs, 2)
    # two rows of LR (nearest) | bicubic | output | HR tiles, each a centre crop framed by 2 white pixels
    sides = [min(160, hr.shape[0], hr.shape[1]) // 4 * 4 + 4 for _, _, hr, _ in v.items[:2]]
    assert panel.shape == (sum(sides), 4 * max(sides), 3) and panel.dtype == np.uint8


def test_validation_runs_in_eval_mode_and_gives_each_submodule_its_own_mode_back(image_folder):
    class Seen(Nearest):
        def forward(self, x):
            self.modes.append((self.training, self.norm.training))
            return super().forward(x)

    model = Seen()
    model.modes, model.norm = [], nn.BatchNorm2d(3)
    model.train()
    model.norm.eval()  # a frozen BatchNorm inside a training model
    v = Validator(load_config(None, {"data": ["x"], "val": str(image_folder), "val_max_images": 2}), channels=3)
    v.run(model, torch.device("cpu"), "fp32")
    assert model.modes == [(False, False)] * 2
    assert model.training and not model.norm.training


def test_validation_with_no_readable_image_is_one_line(tmp_path):
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "a.png").write_bytes(b"not a png")
    cfg = load_config(None, {"data": ["x"], "val": str(tmp_path / "v")})
    with pytest.raises(SrganError, match="no readable images"):
        Validator(cfg, channels=3)


@pytest.mark.parametrize(
    "kw, sides, kept",
    [
        # SR ×4: 11 pixels after a 4-pixel border of the size cropped to a multiple of 4 (19 → 16 → 8: out)
        ({}, [(20, 40), (19, 40), (40, 18)], ["a.png"]),
        # the denoiser: SSIM's 11 pixels, and a 32-px stride's padding under the size (12 → pad 20: out)
        ({"kind": "denoiser", "crop": 32, "denoiser": {"widths": [4] * 6}}, [(40, 40), (10, 40), (40, 12)], ["a.png"]),
        ({"kind": "denoiser"}, [(11, 11), (10, 40), (40, 10)], ["a.png"]),
    ],
)
def test_validation_images_too_small_to_score_are_skipped_before_training(tmp_path, capsys, kw, sides, kept):
    (tmp_path / "v").mkdir()
    for name, (h, w) in zip("abc", sides):
        pixels = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "v" / f"{name}.png")
    cfg = load_config(None, {"data": ["x"], "val": str(tmp_path / "v"), **kw})
    v = Validator(cfg, channels=3)
    assert [name for name, *_ in v.items] == kept
    assert capsys.readouterr().err.count("is too small to score") == 2
    model = nn.Identity() if cfg.kind == "denoiser" else Nearest()
    if cfg.kind == "denoiser" and cfg.denoiser["widths"] == [4] * 6:
        from srgan.models.denoiser import DenoisingAutoencoder

        model = DenoisingAutoencoder(**cfg.denoiser)
    metrics, _ = v.run(model, torch.device("cpu"), "fp32")  # what is kept scores
    assert all(np.isfinite(list(metrics.values())))
    (tmp_path / "v" / "a.png").unlink()
    with pytest.raises(SrganError, match="no readable images large enough to score"):
        Validator(cfg, channels=3)


def test_selection_score_rules():
    m = {"val_psnr_y": 30.0, "val_hf_ratio": 0.9}
    psnr_cfg = load_config(None, {"kind": "srgan", "data": ["x"], "select": "psnr"})
    assert selection_score(psnr_cfg, m, None) == 30.0
    tex = load_config(None, {"kind": "srgan", "data": ["x"], "select_max_psnr_drop": 1.5})
    assert tex.selection == "texture" and load_config(None, {"data": ["x"]}).selection == "psnr"
    # closest to 1 wins, from either side; PSNR more than the budget below the start is out
    assert selection_score(tex, {**m, "val_hf_ratio": 1.05}, 31.0) > selection_score(tex, m, 31.0)
    assert selection_score(tex, {**m, "val_hf_ratio": 1.15}, 31.0) < selection_score(tex, m, 31.0)
    assert selection_score(tex, m, 31.4) > float("-inf") and selection_score(tex, m, 31.6) == float("-inf")
    assert selection_score(tex, m, None) == pytest.approx(-0.1)  # no reference: no budget
    niqe = load_config(None, {"kind": "srgan", "data": ["x"], "select": "niqe", "select_max_psnr_drop": 1.5})
    assert selection_score(niqe, {**m, "val_niqe": 4.0}, 31.0) > selection_score(niqe, {**m, "val_niqe": 5.0}, 31.0)
    assert selection_score(niqe, {**m, "val_niqe": 4.0}, 31.6) == float("-inf")  # the same budget as texture's


def test_srgan_run_exports_the_checkpoint_the_texture_rule_picks(tmp_path, image_folder):
    pre = train(tiny_cfg(image_folder, val=None, steps=2), out=tmp_path / "pre").run_dir
    cfg = tiny_cfg(image_folder, kind="srgan", steps=6, val_every=2, crop=32, init_generator=str(pre / "model.safetensors"),
                   content_loss="mse", lr=3e-3, select_max_psnr_drop=100.0)
    run = train(cfg, out=tmp_path / "gan").run_dir
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in records if "val_hf_ratio" in r]
    assert val[0]["step"] == 0 and val[0]["reference"] is True and [r["step"] for r in val[1:]] == [2, 4, 6]
    ref = val[0]["val_psnr_y"]
    scores = {r["step"]: selection_score(cfg, r, ref) for r in val[1:]}
    pick = max(scores, key=scores.get)
    card = json.loads((run / "model.json").read_text())
    assert card["steps"] == pick and "closest to 1" in card["selected_by"]
    assert card["validation"]["val_hf_ratio"] == pytest.approx(next(r for r in val if r["step"] == pick)["val_hf_ratio"])
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    assert best["step"] == pick and best["ref_psnr"] == pytest.approx(ref)
    state, _ = zoo.load_state(run / "model.safetensors")
    assert max_diff(state, best["models"]["generator"]) == 0


def test_texture_rule_keeps_its_reference_across_resume_and_respects_the_budget(tmp_path, image_folder):
    pre = train(tiny_cfg(image_folder, val=None, steps=2), out=tmp_path / "pre").run_dir
    # a budget of 0 dB: a step that lowers validation PSNR is not eligible
    cfg = tiny_cfg(image_folder, kind="srgan", steps=4, val_every=2, crop=32, init_generator=str(pre / "model.safetensors"),
                   content_loss="mse", lr=3e-3, select_max_psnr_drop=0.0)
    run = train(cfg, out=tmp_path / "gan").run_dir
    train(None, resume=run, overrides={"steps": 6})
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert sum(1 for r in records if r.get("reference")) == 1  # step 0 is validated once, not again on resume
    ref = next(r for r in records if r.get("reference"))["val_psnr_y"]
    chosen = [r for r in records if "val_hf_ratio" in r and not r.get("reference") and r["val_psnr_y"] >= ref]
    card = json.loads((run / "model.json").read_text())
    if chosen:
        assert card["steps"] in [r["step"] for r in chosen]
    else:
        assert card["steps"] == 6  # none eligible: the last step, with a warning


def test_artifact_loss_and_niqe_selection_train_end_to_end(tmp_path, image_folder):
    pytest.importorskip("srgan.ops.niqe")
    from conftest import smooth_image

    val = tmp_path / "val"  # NIQE needs two 96×96 blocks after the 4-pixel border
    val.mkdir()
    for i in range(2):
        Image.fromarray(smooth_image(208, 208, 20 + i)).save(val / f"v{i}.png")
    pre = train(tiny_cfg(image_folder, val=None, steps=2), out=tmp_path / "pre").run_dir
    cfg = tiny_cfg(image_folder, kind="srgan", steps=4, val_every=2, crop=32, init_generator=str(pre / "model.safetensors"),
                   content_loss="mse", lr=3e-3, ema_decay=0.5, artifact_weight=2.0, select="niqe",
                   select_max_psnr_drop=100.0, val=str(val))
    run = train(cfg, out=tmp_path / "gan").run_dir
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    r = [r for r in records if "loss" in r][-1]
    assert r["artifact"] > 0
    assert r["loss"] == pytest.approx(r["content"] + 1e-3 * r["adversarial"] + 2.0 * r["artifact"], rel=1e-4)
    vals = [r for r in records if "val_niqe" in r]
    assert [v["step"] for v in vals] == [0, 2, 4] and vals[0]["reference"] is True
    ref = vals[0]["val_psnr_y"]
    scores = {v["step"]: selection_score(cfg, v, ref) for v in vals[1:]}
    card = json.loads((run / "model.json").read_text())
    assert card["steps"] == max(scores, key=scores.get) and card["selected_by"].startswith("lowest val_niqe")
    assert card["loss_weights"]["artifact"] == 2.0 and card["ema_decay"] == 0.5
    # The validation images must be large enough for NIQE: one clear error, not a NaN to select on.
    small = tiny_cfg(image_folder, kind="srgan", steps=2, crop=32, init_generator=str(pre / "model.safetensors"),
                     content_loss="mse", select="niqe")
    with pytest.raises(SrganError, match="no image is large enough for NIQE"):
        train(small, out=tmp_path / "small")
