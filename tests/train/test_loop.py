"""The trainer on tiny models: configs, the three kinds, checkpoints, exact resume, Ctrl-C, SIGKILL, DDP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from srgan.models import zoo
from srgan.cli import main
from srgan.errors import SrganError
from srgan.train.loop import TrainConfig, load_config, lr_at, train

TINY = {"num_blocks": 1, "channels": 8}


def tiny_cfg(data: Path, **kw) -> TrainConfig:
    base = dict(
        kind="srresnet", data=[str(data)], generator=TINY, crop=16, batch_size=2, steps=6, precision="fp32",
        checkpoint_every=2, val_every=3, log_every=1, keep_checkpoints=2, val=str(data), val_max_images=2,
        sample_images=2, seed=3,
    )
    base.update(kw)
    return load_config(None, base)


def weights(run: Path, name: str = "generator") -> dict:
    ckpt = sorted((run / "checkpoints").glob("step_*.pt"))[-1]
    return torch.load(ckpt, weights_only=True)["models"][name]


def max_diff(a: dict, b: dict) -> float:
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


# ------------------------------------------------------------------------------------------------ config


def test_yaml_flags_and_set_override_in_order(tmp_path, image_folder):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"kind: srresnet\ndata: [{image_folder}]\nsteps: 10\nlr: 1e-4\n")
    cfg = load_config(cfg_file, {"steps": 20}, ["lr=2e-4", "generator.num_blocks=4", "lr_decay_at=0.5"])
    assert cfg.steps == 20 and cfg.lr == 2e-4 and cfg.generator["num_blocks"] == 4 and cfg.generator["channels"] == 64
    assert isinstance(cfg.lr, float)


def test_relative_paths_in_a_yaml_are_relative_to_the_yaml(tmp_path, image_folder):
    (tmp_path / "cfgs").mkdir()
    cfg_file = tmp_path / "cfgs" / "c.yaml"
    cfg_file.write_text("data: [../images]\nval: ../images\n")
    cfg = load_config(cfg_file)
    assert Path(cfg.data[0]) == image_folder and Path(cfg.val) == image_folder


@pytest.mark.parametrize(
    "text, message",
    [
        ("kind: srresnet\ndata: [x]\nbogus_key: 1\n", "unknown config key.*bogus_key.*valid keys:.*batch_size"),
        ("kind: [unclosed\n", "invalid YAML at line"),
        ("kind: wgan\ndata: [x]\n", "kind must be one of"),
        ("data: [x]\nsteps: many\n", "steps must be int"),
        ("data: [x]\ncrop: 30\n", "multiple of scale"),
        ("- just\n- a list\n", "mapping"),
        ("kind: srresnet\n", "no training data"),
        ("data: [x]\npixel_weight: -1\n", "pixel_weight, adversarial_weight and grid_weight must be >= 0"),
        ("kind: srgan\ndata: [x]\ncontent_shift: 48\n", "content_shift must be in"),
        ("kind: srgan\ndata: [x]\nadversarial_shift: -1\n", "adversarial_shift must be in"),
        ("data: [x]\npixel_loss: l2\n", "pixel_loss must be full or lowpass"),
        ("kind: srgan\ndata: [x]\ncontent_taps: [deep]\n", "content_taps must be a list of EfficientNet block numbers"),
        ("data: [x]\nselect: sharpest\n", "select must be auto, psnr, texture or niqe"),
        ("kind: denoiser\ndata: [x]\nselect: texture\n", "select texture is for super-resolution runs"),
        ("kind: denoiser\ndata: [x]\nselect: niqe\n", "select niqe is for super-resolution runs"),
        ("data: [x]\nema_decay: 1.0\n", "ema_decay must be in"),
        ("kind: srgan\ndata: [x]\nartifact_weight: 1.0\n", "artifact_weight needs kind srgan and ema_decay > 0"),
        ("data: [x]\nema_decay: 0.9\nartifact_weight: 1.0\n", "artifact_weight needs kind srgan"),
        ("kind: srgan\ndata: [x]\nselect_max_psnr_drop: -1\n", "select_max_psnr_drop must be >= 0"),
    ],
)
def test_bad_configs_are_one_line_errors(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(SrganError, match=message):
        load_config(f)


def test_learning_rate_schedules():
    paper = TrainConfig(data=["x"], steps=100, lr=1e-4, lr_decay_at=0.5)
    assert lr_at(paper, 50) == 1e-4 and lr_at(paper, 51) == pytest.approx(1e-5)
    cos = TrainConfig(data=["x"], steps=100, lr=2e-4, lr_schedule="cosine", lr_min=0.0)
    assert lr_at(cos, 1) == pytest.approx(2e-4) and lr_at(cos, 100) == pytest.approx(0.0, abs=1e-12)


# ------------------------------------------------------------------------------------------------- runs


def test_srresnet_run_writes_everything_and_its_model_loads(tmp_path, image_folder):
    run = train(tiny_cfg(image_folder), out=tmp_path / "run").run_dir
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["best.pt", "step_0000004.pt", "step_0000006.pt"]  # last K=2 kept, plus best
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4, 5, 6]
    assert any("val_psnr_y" in r for r in records) and all("img_per_s" in r for r in records if "loss" in r)
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_0000003.png", "step_0000006.png"]
    card = json.loads((run / "model.json").read_text())
    assert card["kind"] == "srresnet" and card["scale"] == 4 and card["architecture"]["num_blocks"] == 1
    assert card["precision"] == "fp32" and "val_psnr_y" in card["validation"] and card["trained_on"].startswith("cpu")
    state, _ = zoo.load_state(run / "model.safetensors")
    model, kind = zoo.build_from_state(state, card)
    assert kind == "srresnet" and model(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)
    assert yaml.safe_load((run / "config.yaml").read_text())["steps"] == 6


def test_loss_decreases_on_a_real_problem(tmp_path, image_folder):
    run = train(tiny_cfg(image_folder, steps=60, val=None, checkpoint_every=60, lr=1e-3, log_every=10), out=tmp_path / "r").run_dir
    losses = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < 0.5 * losses[0]


def test_resume_matches_an_uninterrupted_run(tmp_path, image_folder):
    full = train(tiny_cfg(image_folder, val=None), out=tmp_path / "full").run_dir
    part = train(tiny_cfg(image_folder, val=None, steps=4), out=tmp_path / "part").run_dir
    resumed = train(None, resume=part, overrides={"steps": 6}).run_dir
    assert max_diff(weights(full), weights(resumed)) <= 1e-5


def test_existing_run_is_never_overwritten(tmp_path, image_folder):
    run = train(tiny_cfg(image_folder, val=None, steps=2), out=tmp_path / "run").run_dir
    before = {p.name: p.stat().st_mtime_ns for p in (run / "checkpoints").iterdir()}
    with pytest.raises(SrganError, match="already holds a run"):
        train(tiny_cfg(image_folder, val=None, steps=2), out=run)
    assert before == {p.name: p.stat().st_mtime_ns for p in (run / "checkpoints").iterdir()}


def test_srgan_kind_trains_generator_and_discriminator(tmp_path, image_folder):
    pre = train(tiny_cfg(image_folder, val=None, steps=2), out=tmp_path / "pre").run_dir
    cfg = tiny_cfg(image_folder, kind="srgan", steps=3, crop=32, init_generator=str(pre / "model.safetensors"), content_loss="effnet",
                   pixel_weight=0.5, content_shift=4)
    run = train(cfg, out=tmp_path / "gan").run_dir
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert {"content", "adversarial", "pixel", "loss_d", "d_real", "d_fake"} <= set(records[-1])
    r = records[-1]  # the logged total is the paper's sum plus the optional pixel term
    assert r["loss"] == pytest.approx(r["content"] + 1e-3 * r["adversarial"] + 0.5 * r["pixel"], rel=1e-4)
    ckpt = torch.load(sorted((run / "checkpoints").glob("step_*.pt"))[-1], weights_only=True)
    assert "discriminator" in ckpt["models"] and "discriminator" in ckpt["optimizers"]
    card = json.loads((run / "model.json").read_text())
    assert card["kind"] == "srgan" and card["backbone"].startswith("EfficientNet-Lite0")
    assert card["loss_weights"] == {"content": 1.0, "content_feature_scale": 1.0, "content_shift": 4, "adversarial": 1e-3,
                                  "adversarial_shift": 0, "pixel": 0.5, "pixel_loss": "full", "grid": 0.0,
                                  "artifact": 0.0}
    assert max_diff(weights(pre), ckpt["models"]["generator"]) > 0  # started from pre, then moved


def test_content_shift_crops_sr_and_hr_alike_at_a_step_dependent_offset(tmp_path, image_folder):
    from srgan.train.loop import Trainer

    t = Trainer(tiny_cfg(image_folder, kind="srgan", content_loss="mse", content_shift=8, crop=32), tmp_path / "r")
    hr = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).reshape(2, 3, 32, 32)
    seen, other = set(), set()
    for step in range(1, 30):
        t.step = step
        a, b = t._shifted(hr, hr.clone(), 8, salt=1)
        assert a.shape[-2:] == (25, 25) and torch.equal(a, b)
        seen.add(int(a[0, 0, 0, 0]))
        t.step = step  # the same step gives the same offset (exact resume)
        assert torch.equal(t._shifted(hr, hr, 8, salt=1)[0], a)
        other.add(int(t._shifted(hr, hr, 8, salt=2)[0][0, 0, 0, 0]))
    assert len(seen) > 10 and seen != other  # the offset really moves, and each salt (content, D) draws its own
    assert t._shifted(hr, hr, 0, salt=1)[0] is hr  # 0: no crop (the paper)


def test_adversarial_shift_and_lowpass_pixel_loss_train(tmp_path, image_folder):
    pre = train(tiny_cfg(image_folder, val=None, steps=1), out=tmp_path / "pre").run_dir
    cfg = tiny_cfg(image_folder, kind="srgan", steps=2, crop=32, init_generator=str(pre / "model.safetensors"),
                   content_loss="mse", adversarial_shift=5, pixel_weight=2.0, pixel_loss="lowpass", grid_weight=30.0)
    run = train(cfg, out=tmp_path / "gan").run_dir
    r = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"loss"' in line][-1]
    assert r["loss"] == pytest.approx(r["content"] + 1e-3 * r["adversarial"] + 2.0 * r["pixel"] + 30.0 * r["grid"], rel=1e-4)
    card = json.loads((run / "model.json").read_text())
    assert card["loss_weights"]["adversarial_shift"] == 5 and card["loss_weights"]["grid"] == 30.0 and card["loss_weights"]["pixel_loss"] == "lowpass"



def test_selection_score_rules():
    from srgan.train.loop import selection_score

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
    from srgan.train.loop import selection_score

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


def test_ema_averages_parameters_and_bn_statistics():
    from srgan.models.generator import Generator
    from srgan.train.loop import EMA

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


def test_ema_is_checkpointed_resumed_exactly_validated_and_exported(tmp_path, image_folder):
    kw = dict(val_every=2, ema_decay=0.5, lr=1e-3)
    full = train(tiny_cfg(image_folder, **kw), out=tmp_path / "full").run_dir
    part = train(tiny_cfg(image_folder, **kw, steps=4), out=tmp_path / "part").run_dir
    resumed = train(None, resume=part, overrides={"steps": 6}).run_dir
    for name in ("generator", "generator_ema"):
        assert max_diff(weights(full, name), weights(resumed, name)) <= 1e-5
    assert max_diff(weights(full), weights(full, "generator_ema")) > 0  # the average lags the weights
    best = torch.load(full / "checkpoints" / "best.pt", weights_only=True)
    state, card = zoo.load_state(full / "model.safetensors")
    assert max_diff(state, best["models"]["generator_ema"]) == 0 and card["ema_decay"] == 0.5
    # what was validated is what was exported: the EMA generator's PSNR
    val = {r["step"]: r for r in map(json.loads, (full / "metrics.jsonl").read_text().splitlines()) if "val_psnr_y" in r}
    assert card["validation"]["val_psnr_y"] == pytest.approx(val[best["step"]]["val_psnr_y"])


def test_artifact_loss_and_niqe_selection_train_end_to_end(tmp_path, image_folder):
    pytest.importorskip("srgan.ops.niqe")
    from PIL import Image

    from conftest import smooth_image
    from srgan.train.loop import selection_score

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


def test_srgan_rejects_a_generator_of_the_wrong_shape(tmp_path, image_folder):
    other = train(tiny_cfg(image_folder, val=None, steps=1, generator={"num_blocks": 2, "channels": 8}), out=tmp_path / "o").run_dir
    cfg = tiny_cfg(image_folder, kind="srgan", init_generator=str(other / "model.safetensors"), content_loss="mse")
    with pytest.raises(SrganError, match="does not fit the generator"):
        train(cfg, out=tmp_path / "gan")


def test_vgg_content_loss_without_weights_is_one_line(tmp_path, image_folder):
    cfg = tiny_cfg(image_folder, kind="srgan", content_loss="vgg54")
    with pytest.raises(SrganError, match="VGG19"):
        train(cfg, out=tmp_path / "gan")


def test_denoiser_run_on_gray_mnist_like_data(tmp_path):
    import gzip
    import struct

    import numpy as np

    imgs = (np.random.default_rng(0).random((20, 28, 28)) * 255).astype(np.uint8)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(struct.pack(">IIII", 2051, 20, 28, 28) + imgs.tobytes()))
    cfg = load_config(None, dict(
        kind="denoiser", data=[f"mnist:{tmp_path / 'm'}"], denoiser={"channels": 1, "widths": [8, 16], "blocks_per_level": 1},
        crop=24, batch_size=4, steps=3, precision="fp32", checkpoint_every=3, denoise_loss="l1",
    ))
    run = train(cfg, out=tmp_path / "den").run_dir
    card = json.loads((run / "model.json").read_text())
    assert card["kind"] == "denoiser" and card["architecture"]["channels"] == 1
    _, kind = zoo.build_from_state(*zoo.load_state(run / "model.safetensors"))
    assert kind == "denoiser"


# ------------------------------------------------------------------------------------ real processes


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "srgan.cli", *args]


def _write_cfg(tmp_path: Path, data: Path, **kw) -> Path:
    cfg = dict(kind="srresnet", data=[str(data)], generator=TINY, crop=16, batch_size=2, steps=200,
               precision="fp32", checkpoint_every=5, log_every=5, seed=1)
    cfg.update(kw)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _wait_for(pred, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_sigkill_then_resume_reaches_the_same_weights(tmp_path, image_folder):
    cfg = _write_cfg(tmp_path, image_folder, steps=40)
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(_cli("train", str(cfg), "--out", str(run)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert _wait_for(lambda: len(list((run / "checkpoints").glob("step_*.pt"))) >= 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = int(sorted((run / "checkpoints").glob("step_*.pt"))[-1].stem.split("_")[1])
    assert killed_at < 40
    # Atomic writes: whatever the kill interrupted, every checkpoint under its final name is complete.
    for ckpt in (run / "checkpoints").glob("step_*.pt"):
        assert torch.load(ckpt, weights_only=True)["step"] == int(ckpt.stem.split("_")[1])
    # The resumed run and the reference run as processes like the killed one, with the same thread
    # count: Adam turns float-rounding differences from other thread counts into visible ones.
    assert subprocess.run(_cli("train", "--resume", str(run)), env=env, capture_output=True).returncode == 0
    assert (run / "checkpoints" / "step_0000040.pt").exists()
    reference = tmp_path / "ref"
    assert subprocess.run(_cli("train", str(cfg), "--out", str(reference)), env=env, capture_output=True).returncode == 0
    assert max_diff(weights(reference), weights(run)) <= 1e-5


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path, image_folder):
    cfg = _write_cfg(tmp_path, image_folder, steps=100000, checkpoint_every=100000)
    run = tmp_path / "run"
    proc = subprocess.Popen(_cli("train", str(cfg), "--out", str(run)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert _wait_for(lambda: (run / "metrics.jsonl").exists() and (run / "metrics.jsonl").stat().st_size > 0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and "resume with" in err
    ckpts = list((run / "checkpoints").glob("step_*.pt"))
    assert len(ckpts) == 1


def test_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [x]\nnope: 1\n")
    r = subprocess.run(_cli("train", str(bad)), capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "nope" in r.stderr
    r = subprocess.run(_cli("train", "--resume", str(tmp_path / "nothing")), capture_output=True, text=True)
    assert r.returncode == 1 and "not a run folder" in r.stderr


DDP_SCRIPT = """
import sys, torch, torch.distributed as dist
from srgan.train.loop import load_config, train
cfg_path, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
from pathlib import Path
if (Path(out) / "checkpoints").exists():
    trainer = train(None, resume=out, overrides={"steps": steps})
else:
    trainer = train(load_config(cfg_path, {"steps": steps}), out=out)
torch.save(trainer.model.state_dict(), f"{out}/rank{dist.get_rank()}.pt")
dist.barrier()
dist.destroy_process_group()
"""


def test_torchrun_two_cpu_processes_stay_in_sync_and_resume(tmp_path, image_folder):
    cfg = _write_cfg(tmp_path, image_folder, checkpoint_every=2)
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for steps in (3, 5):
        for _attempt in range(3):
            with socket.socket() as s:  # a free loopback port for the rendezvous
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            r = subprocess.run(
                [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
                 f"--master_port={port}", str(script), str(cfg), str(run), str(steps)],
                capture_output=True, text=True, env=env, timeout=240,
            )
            # Another process may grab the port between our probe and torchrun's bind: only that is retried.
            if r.returncode == 0 or "address already in use" not in r.stderr.lower():
                break
        assert r.returncode == 0, r.stderr[-3000:]
        a = torch.load(run / "rank0.pt", weights_only=True)
        b = torch.load(run / "rank1.pt", weights_only=True)
        assert max_diff(a, b) == 0.0
        assert (run / "checkpoints" / f"step_{steps:07d}.pt").exists()
    # Only rank 0 logs: every step appears once.
    steps_logged = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps_logged == sorted(set(steps_logged))


def test_plot_writes_loss_and_psnr_curves(tmp_path, image_folder):
    from PIL import Image

    run = train(tiny_cfg(image_folder), out=tmp_path / "run").run_dir
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 7, "lo')  # a torn last line, as a killed run may leave
    assert main(["plot", str(run)]) == 0
    for name in ("loss.png", "psnr.png"):
        assert Image.open(run / name).size[0] > 300
    assert main(["plot", str(tmp_path)]) == 1
