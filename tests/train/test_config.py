"""The training config: YAML, flags and --set through the pydantic schema, path resolution, one-line errors,
and run folders' saved configs loading back."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from srgan.errors import SrganError
from srgan.train.config import TrainConfig, load_config, load_run_config
from train_runs import cli

REPO = Path(__file__).resolve().parents[2]


def test_yaml_flags_and_set_override_in_order(tmp_path, image_folder):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"kind: srresnet\ndata: [{image_folder}]\nsteps: 10\nlr: 1e-4\n")
    cfg = load_config(cfg_file, {"steps": 20}, ["lr=2e-4", "generator.num_blocks=4", "lr_decay_at=0.5"])
    assert cfg.steps == 20 and cfg.lr == 2e-4 and cfg.generator["num_blocks"] == 4 and cfg.generator["channels"] == 64
    assert isinstance(cfg.lr, float)


def test_yaml_floats_written_without_a_dot_are_floats(tmp_path):
    # YAML 1.1 reads 2e-4 as the string "2e-4"; the schema makes it the float the field wants.
    f = tmp_path / "c.yaml"
    f.write_text("data: [x]\nlr: 2e-4\nadversarial_weight: 1e-3\ncache_mb: 512\n")
    cfg = load_config(f)
    assert (cfg.lr, cfg.adversarial_weight, cfg.cache_mb) == (2e-4, 1e-3, 512.0)
    assert all(isinstance(v, float) for v in (cfg.lr, cfg.adversarial_weight, cfg.cache_mb))


def test_set_values_are_typed_by_the_schema(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None, {"data": ["x"]}, [
        "val=2024", "steps=20", "lr=2e-4", "generator.num_blocks=8", "content_taps=[7, 10]", "lr_decay_at=null",
        "val_sigmas=[0.1, 0.3]", "cache_mb=512", "kind=srgan", "init_generator=null",
    ])
    assert cfg.val == str(tmp_path / "2024")  # a str field keeps the text: a folder named 2024, cwd-relative
    assert cfg.steps == 20 and type(cfg.steps) is int
    assert cfg.lr == 2e-4 and cfg.cache_mb == 512.0 and type(cfg.cache_mb) is float
    assert cfg.generator == {"num_blocks": 8, "channels": 64}  # the default mapping, one key changed
    assert cfg.content_taps == [7, 10] and cfg.val_sigmas == [0.1, 0.3]
    assert cfg.lr_decay_at is None and cfg.init_generator is None and cfg.kind == "srgan"
    # One path where a list of paths is expected is a list of one; a YAML list is a list.
    assert load_config(None, {}, ["data=images"]).data == [str(tmp_path / "images")]
    assert load_config(None, {}, ["data=[a, /abs/b]"]).data == [str(tmp_path / "a"), "/abs/b"]


def test_set_on_a_resumed_run_reaches_nested_keys_of_the_saved_config(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    saved = TrainConfig(data=["/d"], generator={"num_blocks": 2, "channels": 8})
    (run / "config.yaml").write_text(yaml.safe_dump(saved.to_dict(), sort_keys=False))
    cfg = load_run_config(run, {"steps": 7}, ["generator.channels=16"])
    assert cfg.generator == {"num_blocks": 2, "channels": 16} and cfg.steps == 7


def test_relative_paths_in_a_yaml_are_relative_to_the_yaml(tmp_path, image_folder):
    (tmp_path / "cfgs").mkdir()
    cfg_file = tmp_path / "cfgs" / "c.yaml"
    cfg_file.write_text("data: [../images, mnist:../m, /abs/x]\nval: ../images\nexclude: val.txt\n"
                        "init_generator: ../pre/model.safetensors\n")
    cfg = load_config(cfg_file)
    assert Path(cfg.data[0]) == image_folder and Path(cfg.val) == image_folder
    assert cfg.data[1:] == [f"mnist:{tmp_path / 'm'}", "/abs/x"]
    assert cfg.exclude == [str(tmp_path / "cfgs" / "val.txt")]  # one path: a list of one
    assert cfg.init_generator == str(tmp_path / "pre" / "model.safetensors")


def test_flag_paths_are_relative_to_the_cwd(tmp_path, monkeypatch):
    (tmp_path / "cfgs").mkdir()
    cfg_file = tmp_path / "cfgs" / "c.yaml"
    cfg_file.write_text("data: [a]\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(cfg_file, {"val": "v", "data": ["b"]})
    assert cfg.data == [str(tmp_path / "b")] and cfg.val == str(tmp_path / "v")
    # ~ is the home folder, also where the shell does not expand it (after mnist:)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cfg = load_config(cfg_file, {"data": ["~/photos", "mnist:~/mnist"]})
    assert cfg.data == [str(tmp_path / "home" / "photos"), f"mnist:{tmp_path / 'home' / 'mnist'}"]


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
        ("data: [x]\npixel_weight: -1\n", r"config: pixel_weight must be a number >= 0, not -1\.0"),
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
        # ranges: each would otherwise end in a traceback (torch, numpy, the networks) or a silently broken run
        ("data: [x]\nlr: -1.0\n", r"^config: lr must be a number > 0, not -1\.0$"),
        ("data: [x]\nlr: 0\n", r"config: lr must be a number > 0, not 0\.0"),
        ("data: [x]\nlr: .nan\n", r"config: lr must be a number > 0, not nan"),
        ("data: [x]\nlr: .inf\n", r"config: lr must be a number > 0, not inf"),
        ("data: [x]\nbeta1: 1.0\n", r"config: beta1 must be in \[0, 1\), not 1\.0"),
        ("data: [x]\nbeta2: -0.1\n", r"config: beta2 must be in \[0, 1\), not -0\.1"),
        ("data: [x]\nlr_schedule: cosine\nlr_min: -1e-6\n", r"config: lr_min must be a number >= 0"),
        ("data: [x]\nlr_decay_at: 0\n", r"config: lr_decay_at must be a fraction of steps in \(0, 1\]"),
        ("data: [x]\nlr_decay_at: 1.5\n", r"config: lr_decay_at must be a fraction of steps in \(0, 1\]"),
        ("data: [x]\nlr_decay_gamma: 0\n", r"config: lr_decay_gamma must be in \(0, 1\], not 0\.0"),
        ("data: [x]\nlr_decay_gamma: 10\n", r"config: lr_decay_gamma must be in \(0, 1\], not 10\.0"),
        ("data: [x]\nval_max_images: 0\n", r"config: val_max_images must be a positive integer"),
        ("data: [x]\nsample_images: 0\n", r"config: sample_images must be a positive integer"),
        ("data: [x]\ncrop_tries: 0\n", r"config: crop_tries must be a positive integer"),
        ("data: [x]\ncache_mb: -1\n", r"config: cache_mb must be a number of MiB >= 0, not -1\.0"),
        ("data: [x]\ncache_mb: .inf\n", r"config: cache_mb must be a number of MiB >= 0, not inf"),
        ("data: [x]\nnum_workers: -1\n", r"config: num_workers must be an integer >= 0, not -1"),
        ("data: [x]\nthreads: -2\n", r"config: threads must be an integer >= 0, not -2"),
        ("data: [x]\nseed: -1\n", r"config: seed must be an integer >= 0, not -1"),
        ("kind: denoiser\ndata: [x]\nnoise_sigma: [0.1, 2]\n", r"config: noise_sigma must be \[low, high\] with 0 <= low <= high <= 1"),
        ("kind: denoiser\ndata: [x]\nnoise_sigma: [-0.1, 0.5]\n", r"config: noise_sigma must be \[low, high\]"),
        ("kind: denoiser\ndata: [x]\nval_sigmas: []\n", r"config: val_sigmas must be a non-empty list of σ in \[0, 1\], not \[\]"),
        ("kind: denoiser\ndata: [x]\nval_sigmas: [0.1, 1.5]\n", r"config: val_sigmas must be .* not \[0\.1, 1\.5\]"),
        ("kind: srgan\ndata: [x]\ncontent_feature_scale: 0\n", r"config: content_feature_scale must be a number > 0"),
        ("kind: srgan\ndata: [x]\ncontent_feature_scale: -1\n", r"config: content_feature_scale must be a number > 0"),
        ("kind: srgan\ndata: [x]\nselect_max_psnr_drop: .nan\n", "select_max_psnr_drop must be >= 0"),
        ("kind: srgan\ndata: [x]\ncontent_taps: [16]\n", r"config: content_taps must be EfficientNet-Lite0 block indices 0-15"),
        ("kind: srgan\ndata: [x]\ncontent_taps: []\n", r"config: content_taps must be EfficientNet-Lite0 block indices"),
        ("data: [x]\ncontent_loss: vgg19\n", r"config: content_loss must be mse, vgg22, vgg54 or effnet, not 'vgg19'"),
        ("kind: srgan\ndata: [x]\nadversarial_weight: .inf\n", r"config: adversarial_weight must be a number >= 0, not inf"),
        ("kind: srgan\ndata: [x]\ndiscriminator: patchgan\n", r"config: discriminator must be srgan or unet, not 'patchgan'"),
        ("kind: srgan\ndata: [x]\ngan_loss: wgan\n", r"config: gan_loss must be vanilla or relativistic, not 'wgan'"),
        ("kind: srgan\ndata: [x]\ndiscriminator_lr_ratio: 0\n", r"config: discriminator_lr_ratio must be a number > 0, not 0"),
        ("kind: srgan\ndata: [x]\ncontent_criterion: l2\n", r"config: content_criterion must be mse or l1, not 'l2'"),
        ("kind: srgan\ndata: [x]\ndiscriminator: unet\ndiscriminator_channels: 0\n",
         r"config: discriminator_channels must be an integer >= 1, not 0"),
        ("data: [x]\ngrid_weight: .nan\n", r"config: grid_weight must be a number >= 0, not nan"),
        ("data: [x]\nartifact_weight: -1\n", r"config: artifact_weight must be a number >= 0"),
        ("data: [x]\ngenerator: {num_blocks: 0}\n", r"config: generator\.num_blocks must be a positive integer, not 0"),
        ("data: [x]\ngenerator: {channels: -8}\n", r"config: generator\.channels must be a positive integer, not -8"),
        ("data: [x]\ngenerator: {in_channels: 2}\n", r"config: generator\.in_channels must be 1 \(grey\) or 3 \(RGB\), not 2"),
        ("data: [x]\ngenerator: {in_channels: 1}\n", r"config: generator\.out_channels must equal generator\.in_channels \(1\), not 3"),
        ("kind: denoiser\ndata: [x]\ndenoiser: {channels: 0}\n", r"config: denoiser\.channels must be 1 \(grey\) or 3 \(RGB\)"),
        ("kind: denoiser\ndata: [x]\ndenoiser: {widths: []}\n", r"config: denoiser\.widths must be a non-empty list of positive"),
        ("kind: denoiser\ndata: [x]\ndenoiser: {widths: [8, 0]}\n", r"config: denoiser\.widths must be .* not \[8, 0\]"),
        ("kind: denoiser\ndata: [x]\ndenoiser: {blocks_per_level: 0}\n", r"config: denoiser\.blocks_per_level must be a positive"),
        ("kind: denoiser\ndata: [x]\ncrop: 16\ndenoiser: {widths: [8, 8, 8, 8, 8, 8]}\n",
         r"config: crop 16 must be at least 32 for a denoiser of 6 levels \(denoiser\.widths\)"),
        ("kind: denoiser\ndata: [x]\ndenoiser: {arch: drunet}\n", r"config: denoiser\.arch must be one of unet, ffdnet, not 'drunet'"),
        ("kind: denoiser\ndata: [x]\ndenoiser: {arch: ffdnet, widths: []}\n", r"config: denoiser\.widths must be a non-empty"),
        ("kind: denoiser\ndata: [x]\ndenoiser: {arch: ffdnet, blocks_per_level: 0}\n", r"config: denoiser\.blocks_per_level must be"),
        # the schema's types, nested ones included
        ("data: [x]\nsteps: yes\n", r"config: steps must be int, not True"),
        ("data: [x]\nsteps: 10.5\n", r"config: steps must be int, not 10\.5"),
        ("data: [x]\nlr: fast\n", r"config: lr must be float, not 'fast'"),
        ("data: [x]\nval: [a, b]\n", r"config: val must be str \| None, not \['a', 'b'\]"),
        ("data: [x, 3]\n", r"config: data must be list\[str\], not \['/.*/x', 3\]"),
        ("data: [x]\nnoise_sigma: [low, 0.5]\n", r"config: noise_sigma must be list\[float\], not \['low', 0\.5\]"),
        ("data: [x]\ngenerator: {num_blocks: two}\n", r"config: generator\.num_blocks must be int, not 'two'"),
        ("data: [x]\ngenerator: 16\n", r"config: generator must be a mapping of num_blocks, channels"),
        ("data: [x]\ngenerator: {blocks: 2}\n", r"unknown config key generator\.blocks; valid keys in generator: num_blocks"),
        ("kind: denoiser\ndata: [x]\ndenoiser: {widths: 48}\n", r"config: denoiser\.widths must be list\[int\], not 48"),
    ],
)
def test_bad_configs_are_one_line_errors(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(SrganError, match=message) as e:
        load_config(f)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "item, message",
    [
        ("nope=1", r"unknown config key\(s\) nope; valid keys:"),
        ("generator.depth=3", r"unknown config key generator\.depth"),
        ("steps=abc", r"config: steps must be int, not 'abc'"),
        ("steps", r"--set steps: expected key=value"),
        ("lr=[1", r"--set lr=\[1: value is not valid YAML"),
        ("steps.x=1", r"--set steps\.x: steps is not a mapping"),
        ("bogus.x=1", r"unknown config key\(s\) bogus; valid keys:"),
    ],
)
def test_bad_set_items_are_one_line_errors(item, message):
    with pytest.raises(SrganError, match=message):
        load_config(None, {"data": ["x"]}, [item])


def test_a_run_config_round_trips_through_the_run_folder(tmp_path):
    cfg = load_config(None, {"kind": "srgan", "data": ["/d/a", "mnist:/d/m"], "val": "/d/v", "content_taps": [7, 10],
                             "generator": {"num_blocks": 4, "channels": 32}, "lr": 2e-4, "lr_decay_at": 0.75,
                             "ema_decay": 0.999, "artifact_weight": 300.0, "select": "niqe"})
    run = tmp_path / "run"
    run.mkdir()
    # what srgan train writes (srgan.train.loop.train) and what --resume reads
    (run / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    back = load_run_config(run)
    assert back == cfg and back.to_dict() == cfg.to_dict()
    assert load_run_config(run, {"steps": 5}).steps == 5


@pytest.mark.parametrize("saved", sorted((REPO / "records" / "training").glob("**/config.yaml")), ids=lambda p: p.parent.name)
def test_run_folders_of_earlier_versions_load_for_resume(saved):
    raw = yaml.safe_load(saved.read_text())
    cfg = load_run_config(saved.parent)
    assert {k: v for k, v in cfg.to_dict().items() if k in raw} == raw  # every saved value, as saved


@pytest.mark.parametrize("name", ["srresnet_x4", "srgan_x4", "srgan_x4_ldl", "denoiser", "denoiser_ffdnet"])
def test_shipped_configs_load_with_paths_beside_them(name):
    cfg = load_config(REPO / "configs" / f"{name}.yaml")
    assert cfg.val == str(REPO / "configs" / "cats_val.txt") and cfg.exclude == [cfg.val]
    assert cfg.data[0] == str(REPO.parent / "shared" / "data" / "train" / "T91")
    if cfg.kind == "srgan":
        assert cfg.init_generator == str(REPO / "src" / "srgan" / "weights" / "srresnet-x4.safetensors")


def test_cli_config_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [x]\nnope: 1\n")
    r = subprocess.run(cli("train", str(bad)), capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "nope" in r.stderr
    r = subprocess.run(cli("train", str(bad), "--set", "nope=2", "--set", "steps=many"), capture_output=True, text=True)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "nope" in r.stderr
    bad.write_text("data: [x]\n")
    r = subprocess.run(cli("train", str(bad), "--set", "steps=many"), capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.strip().splitlines() == ["srgan: error: config: steps must be int, not 'many'"]
    r = subprocess.run(cli("train", "--resume", str(tmp_path / "nothing")), capture_output=True, text=True)
    assert r.returncode == 1 and "not a run folder" in r.stderr
    # not text, a run folder's broken config, an --out that is a file: one line each
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary")
    r = subprocess.run(cli("train", str(bad)), capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [f"srgan: error: {bad}: not a text (UTF-8) YAML file"]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("kind: [unclosed\n")
    r = subprocess.run(cli("train", "--resume", str(tmp_path / "run")), capture_output=True, text=True)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "invalid YAML at line" in r.stderr
    bad.write_text("data: [x]\n")
    r = subprocess.run(cli("train", str(bad), "--out", str(bad)), capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [f"srgan: error: --out {bad}: exists and is not a folder"]


def test_range_limits_themselves_are_accepted():
    cfg = load_config(None, {
        "data": ["x"], "lr": 1e-12, "beta1": 0.0, "beta2": 0.9999, "lr_min": 0.0, "lr_decay_at": 1.0,
        "lr_decay_gamma": 1.0, "val_max_images": 1, "sample_images": 1, "cache_mb": 0, "num_workers": 0, "threads": 0,
        "seed": 0, "noise_sigma": [0.0, 1.0], "val_sigmas": [0.0, 1.0], "content_feature_scale": 1e-3,
        "content_taps": [0, 15], "generator": {"num_blocks": 1, "channels": 1, "in_channels": 1, "out_channels": 1},
    })
    assert cfg.lr_decay_at == 1.0 and cfg.content_taps == [0, 15] and cfg.image_channels == 1
    cfg = load_config(None, {"kind": "denoiser", "data": ["x"], "crop": 4, "denoiser": {"channels": 1, "widths": [8, 8, 8]}})
    assert cfg.image_channels == 1


def test_the_schema_names_what_the_losses_and_the_feature_network_accept():
    from srgan.models.features import _LITE0_STAGES
    from srgan.train.losses import CONTENT_CRITERIA, CONTENT_LOSSES

    for name in CONTENT_LOSSES:
        assert load_config(None, {"data": ["x"], "content_loss": name}).content_loss == name
    for name in CONTENT_CRITERIA:
        assert load_config(None, {"data": ["x"], "content_criterion": name}).content_criterion == name
    assert sum(stage[-1] for stage in _LITE0_STAGES) == 16  # content_taps' 0-15


@pytest.mark.parametrize(
    "args, message",
    [
        (["lr: -1.0"], "srgan: error: config: lr must be a number > 0, not -1.0"),  # the case
        (["kind: denoiser", "val_sigmas: []"], "srgan: error: config: val_sigmas must be a non-empty list of σ in [0, 1], not []"),
        (["--set", "generator.in_channels=2"], "srgan: error: config: generator.in_channels must be 1 (grey) or 3 (RGB), not 2"),
    ],
)
def test_cli_range_errors_are_one_line_before_anything_runs(tmp_path, image_folder, args, message):
    keys = [a for a in args if ":" in a]
    sets = [a for a in args if ":" not in a]
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"data: [{image_folder}]\ncrop: 16\n" + "".join(k + "\n" for k in keys))
    r = subprocess.run(cli("train", str(cfg), "--out", str(tmp_path / "run"), "--steps", "1", *sets), capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.splitlines() == [message]
    assert not (tmp_path / "run").exists()


def test_a_resume_with_a_bad_set_is_one_line_and_keeps_the_saved_config(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    saved = yaml.safe_dump(TrainConfig(data=["/d"]).to_dict(), sort_keys=False)
    (run / "config.yaml").write_text(saved)
    r = subprocess.run(cli("train", "--resume", str(run), "--set", "beta1=1"), capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.splitlines() == ["srgan: error: config: beta1 must be in [0, 1), not 1.0"]
    assert (run / "config.yaml").read_text() == saved


def test_real_photo_degradation_keys_are_checked_when_the_config_is_read(tmp_path):
    from srgan.ops.realistic import RealDegradation

    repo = Path(__file__).resolve().parents[2]
    cfg = load_config(repo / "configs" / "srresnet_x4_real.yaml")
    real = RealDegradation.from_dict(cfg.degradation)
    assert cfg.hr_downscale == 2 and cfg.val_degradation == "jpeg75" and real.clean_prob == 0.1
    assert real.second.blur.prob == 0.8  # keys the YAML leaves out keep Real-ESRGAN's defaults
    base = {"data": [str(tmp_path)]}
    for raw, key in [
        ({"degradation": {"clean_prob": 1.5}}, "degradation.clean_prob"),
        ({"degradation": {"first": {"jpeg_quality": [95, 30]}}}, "degradation.first.jpeg_quality"),
        ({"degradation": {"firts": {}}}, "degradation.firts"),
        ({"val_degradation": "jpeg10"}, "val_degradation"),
        ({"hr_downscale": 0.5}, "hr_downscale"),
        ({"kind": "denoiser", "degradation": {}}, "degradation"),
    ]:
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump({**base, **raw}))
        with pytest.raises(SrganError, match=key.replace(".", r"\.")):
            load_config(path)


def test_set_reaches_into_the_degradation_at_any_depth():
    from srgan.ops.realistic import RealDegradation

    repo = Path(__file__).resolve().parents[2]
    cfg = load_config(repo / "configs" / "srresnet_x4_real.yaml", None,
                      ["degradation.final_jpeg_last_prob=1.0", "degradation.second.noise.sigma=[0.0, 0.03]"])
    real = RealDegradation.from_dict(cfg.degradation)
    assert real.final_jpeg_last_prob == 1.0 and real.second.noise.sigma == [0.0, 0.03]
    # the YAML's other keys stay, the one beside the changed key included
    assert real.clean_prob == 0.1 and real.second.noise.poisson_scale == [0.05, 1.0]
    assert load_config(None, {"data": ["x"]}, ["degradation.clean_prob=0.5"]).degradation == {"clean_prob": 0.5}
    for item, key in [("degradation.clean_prob.x=1", "degradation.clean_prob is not a mapping"),
                      ("degradation.final_jpeg_last_prob=2", "degradation.final_jpeg_last_prob"),
                      ("lr.x=1", "lr is not a mapping")]:
        with pytest.raises(SrganError, match=key):
            load_config(repo / "configs" / "srresnet_x4_real.yaml", None, [item])


def test_the_real_photo_gan_trains_on_its_start_s_degradation():
    from srgan.ops.realistic import RealDegradation

    repo = Path(__file__).resolve().parents[2]
    psnr = load_config(repo / "configs" / "srresnet_x4_real.yaml")
    gan = load_config(repo / "configs" / "srgan_x4_real.yaml")
    assert gan.kind == "srgan" and gan.ema_decay and gan.artifact_weight and gan.select == "niqe"
    assert gan.init_generator.endswith("srresnet-x4-real.safetensors")
    assert (gan.hr_downscale, gan.val_degradation, gan.data, gan.exclude) == \
        (psnr.hr_downscale, psnr.val_degradation, psnr.data, psnr.exclude)
    # the GAN sees what its start saw: every final JPEG on the LR's 8×8 grid, 30 % sharp LR saved as JPEG
    real = RealDegradation.from_dict(gan.degradation)
    assert real == RealDegradation.from_dict(psnr.degradation)
    assert (real.final_jpeg_last_prob, real.jpeg_only_prob, real.clean_prob) == (1.0, 0.3, 0.1)
