"""The maintainer tools in tools/ that the shipped weights depend on: checkpoint selection and publishing."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from srgan.models import zoo
from srgan.train.config import load_config
from srgan.train.loop import train

REPO = Path(__file__).resolve().parents[1]
TINY = {"num_blocks": 1, "channels": 8}


def gan_run(tmp_path: Path, data: Path, keep: int = 5) -> Path:
    common = dict(data=[str(data)], generator=TINY, batch_size=2, precision="fp32", log_every=1, val=str(data),
                  val_max_images=2, sample_images=1, seed=3)
    pre = train(load_config(None, {**common, "kind": "srresnet", "crop": 16, "steps": 2, "val": None}), out=tmp_path / "pre").run_dir
    cfg = load_config(None, {**common, "kind": "srgan", "crop": 32, "steps": 6, "val_every": 2, "checkpoint_every": 2,
                             "keep_checkpoints": keep, "content_loss": "mse", "lr": 3e-3, "select_max_psnr_drop": 100.0,
                             "init_generator": str(pre / "model.safetensors")})
    return train(cfg, out=tmp_path / "gan").run_dir


def publish_into(weights: Path, *args: str) -> subprocess.CompletedProcess:
    """tools/publish_weights.py ARGS in a subprocess whose package weights folder is ``weights``."""
    return subprocess.run([sys.executable, "-c", "import sys, runpy; from srgan.models import zoo; from pathlib import Path; "
                           f"zoo.WEIGHTS_DIR = Path({str(weights)!r}); sys.argv = sys.argv[1:]; "
                           f"runpy.run_path({str(REPO / 'tools/publish_weights.py')!r}, run_name='__main__')",
                           "publish_weights.py", *args], capture_output=True, text=True, timeout=300)


def test_select_checkpoint_repicks_what_the_trainer_picked_and_publish_ships_it(tmp_path, image_folder):
    run = gan_run(tmp_path, image_folder)
    out = tmp_path / "pick.json"
    res = subprocess.run([sys.executable, str(REPO / "tools/select_checkpoint.py"), str(run), "--json", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    card = json.loads((run / "model.json").read_text())
    assert [r["step"] for r in doc["rows"]] == [0, 2, 4, 6] and "closest to 1" in doc["rule"]
    assert Path(doc["pick"]).name == f"step_{card['steps']:07d}.pt"  # same images, same rule, same pick
    assert res.stdout.strip().splitlines()[-1] == doc["pick"]

    # publishing that checkpoint ships its generator, with the run's card and the checkpoint's step
    other = sorted((run / "checkpoints").glob("step_*.pt"))[0]
    res = publish_into(tmp_path / "weights", str(run), "tiny-gan", "--checkpoint", str(other), "--selection", str(out))
    assert res.returncode == 0, res.stderr
    shipped = tmp_path / "weights" / "tiny-gan.safetensors"
    state, card2 = zoo.load_state(shipped)
    import torch

    ckpt = torch.load(other, weights_only=True)
    assert card2["steps"] == ckpt["step"] and card2["checkpoint"] == other.name and card2["kind"] == "srgan"
    assert card2["selection"]["pick"] == doc["pick"] and "validation" not in card2
    assert max((state[k] - ckpt["models"]["generator"][k].float()).abs().max().item() for k in state) < 1e-2  # fp16 storage


def test_publish_gives_a_checkpoint_of_a_run_that_never_exported_the_runs_own_card(tmp_path, image_folder):
    # a branch stopped with Ctrl-C before its selection rule picked a step has checkpoints but no model.safetensors
    import torch

    from srgan.train.checkpoint import exported_weights

    run = gan_run(tmp_path, image_folder)
    (run / "model.safetensors").unlink()
    (run / "model.json").unlink()
    ckpt_path = run / "checkpoints" / "step_0000004.pt"
    res = publish_into(tmp_path / "weights", str(run), "tiny-branch", "--checkpoint", str(ckpt_path),
                       "--command", "srgan train x", "--selected-by", "by hand")
    assert res.returncode == 0, res.stderr
    state, card = zoo.load_state(tmp_path / "weights" / "tiny-branch.safetensors")
    ckpt = torch.load(ckpt_path, weights_only=True)
    step4 = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    step4 = [r for r in step4 if r.get("step") == 4 and "val_psnr_y" in r][-1]
    assert card["steps"] == 4 and card["checkpoint"] == ckpt_path.name and card["kind"] == "srgan"
    assert card["validation"]["step"] == 4 and card["validation"]["val_psnr_y"] == step4["val_psnr_y"]
    assert card["loss_weights"]["content_criterion"] == "mse" and card["data"] == [str(image_folder)]
    assert card["command"] == "srgan train x" and card["selected_by"] == "by hand"
    assert not (run / "model.safetensors").exists()
    want = exported_weights(ckpt)
    assert max((state[k] - want[k].float()).abs().max().item() for k in state) < 1e-2  # fp16 storage


def test_select_checkpoint_sees_a_best_older_than_the_kept_steps(tmp_path, image_folder):
    import shutil

    run = gan_run(tmp_path, image_folder)
    ck = run / "checkpoints"
    shutil.copy(ck / "step_0000002.pt", ck / "best.pt")  # as if step 2 were best and rotated out
    (ck / "step_0000002.pt").unlink()
    (ck / "step_0000004.pt").unlink()
    res = subprocess.run([sys.executable, str(REPO / "tools/select_checkpoint.py"), str(run), "--json", str(tmp_path / "p.json")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    doc = json.loads((tmp_path / "p.json").read_text())
    assert [(r["step"], Path(r["checkpoint"]).name) for r in doc["rows"]] == [(0, "start"), (2, "best.pt"), (6, "step_0000006.pt")]


def test_select_checkpoint_on_a_folder_that_is_no_run_is_one_line(tmp_path):
    res = subprocess.run([sys.executable, str(REPO / "tools/select_checkpoint.py"), str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and res.stderr.strip() == f"error: {tmp_path}: not a run folder (no config.yaml)"


def test_blend_weights_averages_tensors_and_refuses_other_architectures(tmp_path, image_folder):
    import torch

    common = dict(kind="srresnet", data=[str(image_folder)], generator=TINY, crop=16, batch_size=2, precision="fp32",
                  val=None, steps=2, seed=3)
    a = train(load_config(None, common), out=tmp_path / "a").run_dir / "model.safetensors"
    b = train(load_config(None, {**common, "seed": 4, "lr": 1e-2}), out=tmp_path / "b").run_dir / "model.safetensors"
    out = tmp_path / "mix.safetensors"
    tool = str(REPO / "tools/blend_weights.py")
    res = subprocess.run([sys.executable, tool, str(out), "0.25", str(a), "0.75", str(b)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    sa, sb, sm = (zoo.load_state(p)[0] for p in (a, b, out))
    key = "head.weight"
    assert not torch.equal(sa[key], sb[key])
    assert torch.allclose(sm[key], 0.25 * sa[key] + 0.75 * sb[key], atol=1e-6)
    assert json.loads(out.with_suffix(".json").read_text())["blend"][1] == {"weight": 0.75, "model": str(b)}

    other = train(load_config(None, {**common, "generator": {"num_blocks": 2, "channels": 8}}), out=tmp_path / "o").run_dir
    res = subprocess.run([sys.executable, tool, str(tmp_path / "bad.safetensors"), "0.5", str(a), "0.5", str(other / "model.safetensors")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "not the same architecture" in res.stderr
    assert not (tmp_path / "bad.safetensors").exists()


def test_tools_use_only_public_srgan_names():
    """Tools are clients of the package: an underscore name of srgan is the package's to change."""
    private = []
    for tool in sorted((REPO / "tools").glob("*.py")):
        tree = ast.parse(tool.read_text())
        srgan_modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("srgan"):
                private += [f"{tool.name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
                srgan_modules.update(a.asname or a.name for a in node.names)
            elif isinstance(node, ast.Import):
                srgan_modules.update(a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("srgan"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in srgan_modules \
                    and node.attr.startswith("_"):
                private.append(f"{tool.name}: {node.value.id}.{node.attr}")
    assert private == []


def test_real_photo_bar_judges_blockiness_psnr_and_niqe_only_for_a_gan(monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("default_bar", REPO / "tools" / "default_bar.py")
    bar = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bar)
    shipped = zoo.resolve("srresnet-x4")
    monkeypatch.setattr(zoo, "resolve", lambda name: shipped)  # the candidate has srresnet-x4's architecture

    def preset(psnr, niqe, block):
        return {"psnr_y": psnr, "niqe": niqe, "blockiness": block, "seconds_per_mp": 1.0}

    ref = {p: preset(26.0, 7.0, 1.4) for p in bar.REAL_PRESETS} | {"bicubic": preset(27.0, None, 1.0)}
    peer = {p: preset(24.5, 5.3, 1.05) for p in bar.REAL_PRESETS}
    good = {p: preset(26.3, 6.5, 1.05) for p in bar.REAL_PRESETS} | {"bicubic": preset(26.0, None, 1.0)}

    def judge(cand, role, visual="ok"):
        return bar.verdict_real({"cand": cand, "ref": ref, "peer": peer}, "cand", "ref", "peer", role, visual)

    assert judge(good, "psnr")["met"] is True
    assert judge(good, "gan")["met"] is False  # NIQE 6.5 is more than 0.3 above the peer's 5.3
    assert judge(good, "psnr", visual=None)["met"] is False  # nobody looked at the crops
    assert judge({**good, "jpeg50": preset(26.3, 6.5, 1.2)}, "psnr")["checks"]["blockiness_jpeg50"] is False
    assert judge({**good, "jpeg75": preset(25.4, 6.5, 1.05)}, "psnr")["checks"]["psnr_jpeg75"] is False
    assert judge({**good, "bicubic": preset(25.4, None, 1.0)}, "psnr")["checks"]["psnr_bicubic"] is False


def test_real_photo_bar_reuses_only_numbers_measured_on_the_same_inputs(tmp_path):
    import importlib.util

    from srgan.errors import SrganError

    spec = importlib.util.spec_from_file_location("default_bar", REPO / "tools" / "default_bar.py")
    bar = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bar)
    earlier = tmp_path / "bar.json"
    numbers = {"cand": {"jpeg50": {"psnr_y": 1.0}}, "ref": {"jpeg50": {"psnr_y": 2.0}}, "peer": {"jpeg50": {"psnr_y": 3.0}}}
    earlier.write_text(json.dumps({"data": [str(tmp_path)], "max_images": 5, "numbers": numbers}))
    # the reference and the peer come back; the earlier candidate never does
    assert bar.reusable(str(earlier), [str(tmp_path)], 5, ["ref", "peer"]) == {k: numbers[k] for k in ("ref", "peer")}
    with pytest.raises(SrganError, match="max_images 5"):
        bar.reusable(str(earlier), [str(tmp_path)], 10, ["ref", "peer"])
    with pytest.raises(SrganError, match="measured on"):
        bar.reusable(str(earlier), [str(tmp_path / "other")], 5, ["ref", "peer"])
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(SrganError, match="not a default_bar --json result"):
        bar.reusable(str(tmp_path / "bad.json"), [str(tmp_path)], 5, ["ref"])
    # one line on stderr from the command itself
    r = subprocess.run([sys.executable, str(REPO / "tools" / "default_bar.py"), "--real", "--model", "srresnet-x4",
                        "--reuse", str(tmp_path / "bad.json")], capture_output=True, text=True)
    # without ../shared the tool stops before it reads --reuse, with that one line
    expected = "not a default_bar --json result" if bar.BENCH.is_dir() else "needs ../shared"
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and expected in r.stderr


def test_checkpoint_weights_writes_the_exported_or_the_raw_generator(tmp_path, image_folder):
    import torch
    from safetensors.torch import load_file

    run = train(load_config(None, dict(kind="srresnet", data=[str(image_folder)], generator={"num_blocks": 1, "channels": 8},
                                       crop=16, batch_size=2, steps=2, precision="fp32", checkpoint_every=2, val=None,
                                       ema_decay=0.5)), out=tmp_path / "run").run_dir
    ckpt_path = sorted((run / "checkpoints").glob("step_*.pt"))[-1]
    ckpt = torch.load(ckpt_path, weights_only=True)
    tool = [sys.executable, str(REPO / "tools" / "checkpoint_weights.py"), str(ckpt_path)]
    for extra, key in [([], "generator_ema"), (["--raw"], "generator")]:
        out = tmp_path / f"{key}.safetensors"
        r = subprocess.run([*tool, str(out), *extra], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        got = load_file(out)
        assert got.keys() == ckpt["models"][key].keys() and all(torch.equal(got[k], ckpt["models"][key][k]) for k in got)
    raw, ema = ckpt["models"]["generator"], ckpt["models"]["generator_ema"]
    assert any(not torch.equal(raw[k], ema[k]) for k in raw)  # two different networks came out
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    r = subprocess.run([sys.executable, str(REPO / "tools" / "checkpoint_weights.py"), str(bad), str(tmp_path / "x.safetensors")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not a training checkpoint" in r.stderr
    assert not (tmp_path / "x.safetensors").exists()


def test_block_shift_check_tells_a_model_that_sees_blocks_from_one_that_knows_their_place():
    import importlib.util

    import numpy as np

    from srgan.ops.realistic import jpeg

    spec = importlib.util.spec_from_file_location("block_shift_check", REPO / "tools" / "block_shift_check.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    rng = np.random.default_rng(0)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(64, 64, 3)), 0), 1)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    lr = np.clip(np.rint(jpeg(smooth.astype(np.float32), 20) * 255), 0, 255).astype(np.uint8)

    def nearest(x):  # draws every block as a tile, wherever it is
        return np.repeat(np.repeat(x, 4, 0), 4, 1)

    def placed(x):  # nearest, then flattens the 32-px lines counted from the corner, whatever is there
        out = nearest(x).astype(np.float32)
        for k in range(32, out.shape[1], 32):
            out[:, k] = out[:, k - 1]
        for k in range(32, out.shape[0], 32):
            out[k, :] = out[k - 1, :]
        return np.clip(out, 0, 255).astype(np.uint8)

    origin, shifted = tool.shift_check(nearest, [lr])
    assert origin > 1.2 and abs(origin - shifted) < 0.15 * origin  # tiles both ways: it follows the content
    origin, shifted = tool.shift_check(placed, [lr])
    assert origin < 1.0 < shifted  # flat where blocks usually are, tiles where they really are


def test_real_crops_shows_each_model_on_the_preset_s_input_and_refuses_an_unknown_preset(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    hr = tmp_path / "shared" / "data" / "benchmark" / "Set5" / "HR"
    hr.mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(hr / "img_005.png")
    tool = [sys.executable, str(REPO / "tools" / "real_crops.py"), "bicubic", "--shared", str(tmp_path / "shared")]
    out = tmp_path / "crops.png"
    r = subprocess.run([*tool, "--preset", "jpeg50", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Set5 img_005.png" in r.stdout and "--degrade jpeg50" in r.stdout
    # One row per photo found (Set5's face, plus the validation cat where ../shared has it): HR, input, bicubic.
    w, h = Image.open(out).size
    assert w == 3 + 3 * (128 + 3) and h >= 128 + 13 + 6
    r = subprocess.run([*tool, "--preset", "jpeg60", "--out", str(tmp_path / "x.png")], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.strip().splitlines() == ["error: unknown preset 'jpeg60'; choose one of "
                                                                   "bicubic, jpeg50, jpeg75, blur-noise-jpeg70"]
    assert not (tmp_path / "x.png").exists()
    # A model that does not load is an error, not a figure without it.
    r = subprocess.run([*tool[:3], str(tmp_path / "nowhere.safetensors"), *tool[3:], "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and r.stderr.startswith(f"error: not shown: {tmp_path / 'nowhere.safetensors'} (")
    # --photos: a row per photo of the lists, at its most detailed window, as lossless WebP.
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        img = np.full((96, 160, 3), 90, np.uint8)
        img[40:80, 100:140] = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        Image.fromarray(img).save(photos / f"p{i}.png")
    (tmp_path / "list.txt").write_text("photos/p1.png\n")
    out = tmp_path / "held.webp"
    r = subprocess.run([*tool, "--photos", str(photos), str(tmp_path / "list.txt"), "--size", "64", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("at x=96, y=32, 64×64") == 3 and "list p1.png" in r.stdout
    with Image.open(out) as im:
        assert im.format == "WEBP" and im.size == (3 + 3 * (64 + 3), 3 + 3 * (64 + 13 + 3))
    r = subprocess.run([*tool, "--photos", str(photos), "--out", str(tmp_path / "x.jpg")], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1


def test_block_profile_check_prints_where_the_steps_fall_in_the_jpeg_blocks(tmp_path):
    from PIL import Image
    from scipy import ndimage

    rng = np.random.default_rng(1)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        img = ndimage.gaussian_filter(rng.normal(128, 60, (192, 192, 3)), (2, 2, 0))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(photos / f"p{i}.png")
    tool = [sys.executable, str(REPO / "tools" / "block_profile_check.py"), "bicubic", "--data", str(photos)]
    r = subprocess.run([*tool, "--degrade", "jpeg50"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in r.stdout.splitlines()[1:]}
    assert set(rows) == {"HR", "input", "bicubic"} and len(rows["HR"]) == 8 and len(rows["input"]) == 9
    # the JPEG input's steps stand out on the block border (the last entry); the photo's do not
    assert rows["input"][7] == max(rows["input"][:8]) and rows["input"][7] > rows["HR"][7] + 0.1
    assert rows["input"][8] > 0
    r = subprocess.run([*tool, "--degrade", "jpeg60"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and r.stderr.strip().splitlines() == ["error: unknown degradation 'jpeg60'; choose one of "
                                                                   "bicubic, jpeg50, jpeg75, blur-noise-jpeg70"]


def test_blind_pairs_hides_which_model_is_where_and_score_unblinds_it(tmp_path, image_folder):
    """Each judge gets the same photos under neutral names, sides drawn at random; only the key says which model
    is where, and score counts a verdict for the model that was on the chosen side."""
    from PIL import Image

    tool = str(REPO / "tools" / "blind_pairs.py")
    out, key_path = tmp_path / "pairs", tmp_path / "hidden" / "key.json"
    res = subprocess.run([sys.executable, tool, "make", "bicubic", "srresnet-x4", "--photos", str(image_folder),
                          "--presets", "jpeg50", "--judges", "2", "--width", "40", "--out", str(out), "--key",
                          str(key_path), "--template"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    key = json.loads(key_path.read_text())
    n = len(key["photos"])
    assert n == 4 and set(key["judges"]) == {"1", "2"}
    for j, entries in key["judges"].items():
        assert sorted(p.name for p in (out / f"judge_{j}").glob("pair_*.png")) == sorted(f"{e}.png" for e in entries)
        assert {e["photo"] for e in entries.values()} == set(key["photos"])
        for e in entries.values():
            assert {e["left"], e["right"]} == {"bicubic", "srresnet-x4"}
    # nothing in a judge's folder names a model
    for f in out.rglob("*"):
        if f.is_file():
            assert b"srresnet" not in f.read_bytes() and b"bicubic" not in f.read_bytes()
    # the sheet: input on top, two outputs of at most --width columns side by side below
    sheet = np.asarray(Image.open(out / "judge_1" / "pair_001.png"))
    assert sheet.shape[1] <= 2 * 40 + 8

    # judge 1 always picks left and calls it posterised; judge 2 always picks right
    for j, side in (("1", "left"), ("2", "right")):
        verdicts = {name: {"better": side, "flags": {side: ["posterised"], "left" if side == "right" else "right": []}}
                    for name in key["judges"][j]}
        (tmp_path / f"v{j}.json").write_text(json.dumps(verdicts))
    res = subprocess.run([sys.executable, tool, "score", str(key_path), str(tmp_path / "v1.json"), str(tmp_path / "v2.json")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    picks = [e["left"] for e in key["judges"]["1"].values()] + [e["right"] for e in key["judges"]["2"].values()]
    wins = {m: picks.count(m) for m in ("bicubic", "srresnet-x4")}
    row = next(line for line in res.stdout.splitlines() if line.startswith("| all |"))
    assert row == (f"| all | {wins['bicubic']} ({wins['bicubic'] / (2 * n):.0%}) | "
                   f"{wins['srresnet-x4']} ({wins['srresnet-x4'] / (2 * n):.0%}) | 0 |")

    # a verdicts file that misses a pair, or the key among the judges' files, is one line and exit 1
    (tmp_path / "short.json").write_text(json.dumps(dict(list(verdicts.items())[:-1])))
    res = subprocess.run([sys.executable, tool, "score", str(key_path), str(tmp_path / "short.json")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1 and "cover exactly" in res.stderr
    verdicts[next(iter(verdicts))]["flags"] = ["posterised"]  # a pair's flags go by side
    (tmp_path / "flat.json").write_text(json.dumps(verdicts))
    res = subprocess.run([sys.executable, tool, "score", str(key_path), str(tmp_path / "v1.json"), str(tmp_path / "flat.json")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1 and "'flags' must be" in res.stderr
    res = subprocess.run([sys.executable, tool, "make", "bicubic", "srresnet-x4", "--photos", str(image_folder),
                          "--out", str(out), "--key", str(out / "key.json")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "must not be where the judges look" in res.stderr
    # a folder that already holds judges' work is not written over
    res = subprocess.run([sys.executable, tool, "make", "bicubic", "srresnet-x4", "--photos", str(image_folder),
                          "--out", str(out), "--key", str(tmp_path / "other_key.json")], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 1 and "not an empty folder" in res.stderr and not (tmp_path / "other_key.json").exists()


def test_blind_rate_shows_one_output_at_a_time_and_score_counts_keeps_per_model(tmp_path, image_folder):
    from PIL import Image

    from conftest import smooth_image

    tool = str(REPO / "tools" / "blind_pairs.py")
    out, key_path = tmp_path / "rate", tmp_path / "key.json"
    grey = tmp_path / "grey"
    grey.mkdir()
    Image.fromarray(smooth_image(64, 64, 5)[..., 0]).save(grey / "grey.png")  # an L-mode photo beside RGB ones
    res = subprocess.run([sys.executable, tool, "rate", "bicubic", "srresnet-x4", "--photos", str(image_folder), str(grey),
                          "--presets", "jpeg50", "--judges", "1", "--out", str(out), "--key", str(key_path), "--template"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    entries = json.loads(key_path.read_text())["judges"]["1"]
    assert len(entries) == 2 * 5 and sorted(p.name for p in (out / "judge_1").glob("image_*.png")) == sorted(f"{n}.png" for n in entries)
    # keep every bicubic output, none of the others, and call the others posterised: a majority of 1 judge
    verdicts = {n: {"keep": "yes" if e["model"] == "bicubic" else "no",
                    "flags": [] if e["model"] == "bicubic" else ["posterised"]} for n, e in entries.items()}
    (tmp_path / "v.json").write_text(json.dumps(verdicts))
    res = subprocess.run([sys.executable, tool, "score", str(key_path), str(tmp_path / "v.json")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "| jpeg50 | 5 of 5 | 0 of 5 |" in res.stdout
    assert next(line for line in res.stdout.splitlines() if line.startswith("| jpeg50 | srresnet-x4 |")).split("|")[-2].strip().startswith("5:")
    verdicts[next(iter(verdicts))]["keep"] = "maybe"
    (tmp_path / "v.json").write_text(json.dumps(verdicts))
    res = subprocess.run([sys.executable, tool, "score", str(key_path), str(tmp_path / "v.json")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "'keep' must be yes or no" in res.stderr
