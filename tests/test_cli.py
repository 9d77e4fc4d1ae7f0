import signal
import subprocess
import sys

import pytest

from srgan import cli
from srgan.cli import build_parser, main


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("train", "evaluate", "degrade"):
        assert cmd in out


def test_every_option_of_every_subcommand_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.dest != "help":
                assert action.help, f"srgan {name} {action.option_strings or action.dest} has no help"


def test_usage_errors_exit_2_in_one_line(capsys):
    assert main(["evaluate", "--data", "x", "--bogus"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unrecognized arguments" in err[0]


@pytest.mark.parametrize("argv, message", [
    (["serve", "--port", "70000"], "a port is 0-65535, not 70000"),
    (["serve", "--port", "-1"], "must be 0 or more, not -1"),
    (["evaluate", "--data", "x", "--max-images", "-1"], "must be 0 or more, not -1"),
    (["report", "--bm3d-images", "-2"], "must be 0 or more, not -2"),
    (["upscale", "in.png", "-o", ""], "--output: must not be empty"),
    (["upscale", "in.png", "-o", "out.png", "--model", " "], "--model: must not be empty"),
    (["evaluate", "--data", "x", "--model", ""], "--model: must not be empty"),
    (["export", "--model", "srresnet-x4", "-o", "x.onnx", "--opset", "1"], "the exporter writes opsets 7-20, not 1"),
    (["serve", "--max-upload-mb", "nan"], "--max-upload-mb: must be a positive number, not nan"),
])
def test_bad_option_values_are_usage_errors_before_any_work(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_the_machine_s_refusals_are_one_line_errors(tmp_path, monkeypatch, capsys):
    import errno

    from srgan.bench import evaluate as evaluate_module

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.csv"))

    monkeypatch.setattr(evaluate_module, "write_csv", full_disk)
    from PIL import Image
    import numpy as np

    (tmp_path / "data").mkdir()
    Image.fromarray(np.full((32, 32, 3), 120, np.uint8)).save(tmp_path / "data" / "a.png")
    Image.fromarray(np.full((6, 40, 3), 120, np.uint8)).save(tmp_path / "data" / "b.png")
    assert main(["evaluate", "--data", str(tmp_path / "data"), "--max-images", "1", "--no-niqe",
                 "--csv", str(tmp_path / "x.csv")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"srgan: error: {tmp_path / 'x.csv'}: No space left on device"]  # and no numpy warning before it
    # an image too small to score names itself
    monkeypatch.undo()
    assert main(["evaluate", "--data", str(tmp_path / "data"), "--no-niqe"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"srgan: error: {tmp_path / 'data' / 'b.png'}: 40×6 is too small to score at ×4 (at least 8×8)"]


def test_report_checks_its_folder_data_and_device_before_measuring(tmp_path, monkeypatch, capsys):
    from srgan.bench import report as report_module

    monkeypatch.setattr(report_module, "sr_section", lambda *a, **k: pytest.fail("measured before checking"))
    assert main(["report", "--quick", "--shared", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"srgan: error: --shared {tmp_path / 'nowhere'}: folder not found"]
    (tmp_path / "file").write_text("x")
    assert main(["report", "--quick", "--out", str(tmp_path / "file" / "sub")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"srgan: error: --out {tmp_path / 'file' / 'sub'}: cannot write there")
    assert main(["report", "--quick", "--device", "cuda", "--out", str(tmp_path / "r")]) in (1, 2)
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_console_script_without_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "srgan.cli", "evaluate", "--data", str(tmp_path / "nope")], capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1


def test_sigterm_interrupts_file_commands_only_while_they_run(monkeypatch):
    """upscale, degrade and the others clean up after SIGTERM as after Ctrl-C; train and serve keep their own
    handling, and the handler is put back when main returns."""
    seen = {}

    def fake(name):
        def run(args):
            seen[name] = signal.getsignal(signal.SIGTERM)
            return 0
        return run

    for name in ("degrade", "train", "serve"):
        monkeypatch.setattr(cli, f"cmd_{name}", fake(name))
    before = signal.getsignal(signal.SIGTERM)
    assert main(["degrade", "in", "-o", "out"]) == main(["train"]) == main(["serve"]) == 0
    assert seen == {"degrade": cli._raise_terminated, "train": before, "serve": before}
    assert signal.getsignal(signal.SIGTERM) is before


def test_export_checks_its_output_folder_before_loading(tmp_path, monkeypatch, capsys):
    import srgan.infer.model as model_module

    monkeypatch.setattr(model_module, "load", lambda *a, **k: pytest.fail("loaded a model for an output it cannot write"))
    assert main(["export", "--model", "srresnet-x4", "-o", str(tmp_path / "missing" / "m.onnx")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("srgan: error: ") and "does not exist" in err[0]


# --------------------------------------------------------------------------- denoising with σ given or estimated


@pytest.fixture(scope="module")
def sigma_models(tmp_path_factory):
    import torch

    from srgan.models import zoo
    from srgan.models.denoiser import DenoisingAutoencoder
    from srgan.models.ffdnet import FFDNet
    from srgan.models.generator import Generator

    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    net = FFDNet(widths=(8, 16), blocks_per_level=1)
    paths = {"ffdnet": folder / "tiny-ffdnet.safetensors", "blind": folder / "tiny-denoiser.safetensors",
             "x2": folder / "tiny-x2.safetensors"}
    zoo.save_model(paths["ffdnet"], net, {"kind": "denoiser", "scale": 1, "architecture": net.config.to_dict()})
    zoo.save_model(paths["blind"], DenoisingAutoencoder(widths=(8, 16), blocks_per_level=1), {"kind": "denoiser", "scale": 1})
    zoo.save_model(paths["x2"], Generator(scale=2, num_blocks=1, channels=8), {"kind": "srresnet", "scale": 2})
    return {k: str(v) for k, v in paths.items()}


@pytest.fixture
def noisy_png(tmp_path, monkeypatch):
    """A noisy photo-like PNG; the precision probe's cache kept in ``tmp_path`` (the commands run precision auto)."""
    import numpy as np
    from PIL import Image

    from conftest import smooth_image

    monkeypatch.setenv("SRGAN_CACHE", str(tmp_path / "cache"))
    clean = smooth_image(24, 32).astype(np.float64) / 255
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 0.1, clean.shape), 0, 1)
    pixels = (noisy * 255).round().astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "n.png")
    return tmp_path / "n.png", pixels


def test_denoise_with_sigma_given_or_estimated(tmp_path, sigma_models, noisy_png, capsys):
    from PIL import Image

    from srgan.ops.noise_level import estimate_sigma

    path, pixels = noisy_png
    assert main(["denoise", str(path), "-o", str(tmp_path / "given.png"), "--model", sigma_models["ffdnet"], "--sigma", "0.1"]) == 0
    assert "σ" not in capsys.readouterr().err  # told, nothing to report
    assert main(["denoise", str(path), "-o", str(tmp_path / "est.png"), "--model", sigma_models["ffdnet"]]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"srgan: noise σ ≈ {min(1.0, estimate_sigma(pixels)):.3f} (estimated)"]
    given, estimated = (Image.open(tmp_path / f"{n}.png") for n in ("given", "est"))
    assert given.size == estimated.size == (32, 24)
    assert main(["restore", str(path), "-o", str(tmp_path / "r.png"), "--denoiser", sigma_models["ffdnet"],
                 "--upscaler", sigma_models["x2"], "--sigma", "0.2"]) == 0
    assert Image.open(tmp_path / "r.png").size == (64, 48) and "σ" not in capsys.readouterr().err


def test_a_blind_denoiser_says_it_ignores_sigma(tmp_path, sigma_models, noisy_png, capsys):
    path, _ = noisy_png
    assert main(["denoise", str(path), "-o", str(tmp_path / "d.png"), "--model", sigma_models["blind"], "--sigma", "0.1"]) == 0
    assert "is a blind denoiser (it has no noise level input); --sigma is ignored" in capsys.readouterr().err


@pytest.mark.parametrize("value, words", [("-0.1", "must be a number in [0, 1]"), ("1.5", "must be a number in [0, 1]"),
                                          ("nan", "must be a number in [0, 1]"), ("abc", "invalid float value")])
@pytest.mark.parametrize("command", ["denoise", "restore"])
def test_bad_sigma_is_one_line_before_any_model_loads(tmp_path, sigma_models, noisy_png, monkeypatch, capsys,
                                                      command, value, words):
    import srgan.infer.model as model_module

    monkeypatch.setattr(model_module, "load", lambda *a, **k: pytest.fail("loaded a model for a bad --sigma"))
    path, _ = noisy_png
    model = ["--model", sigma_models["ffdnet"]] if command == "denoise" else ["--denoiser", sigma_models["ffdnet"]]
    assert main([command, str(path), "-o", str(tmp_path / "o.png"), *model, "--sigma", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"srgan {command}: ") and words in err[0] and "--sigma" in err[0]
    assert not (tmp_path / "o.png").exists()


def test_info_probes_a_denoiser_told_sigma(sigma_models, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SRGAN_CACHE", str(tmp_path / "cache"))
    assert main(["info", "--model", sigma_models["ffdnet"], "--json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)["auto_precision"]
    assert rows[0]["model"] == "tiny-ffdnet" and rows[0]["rates_mp_per_s"]["fp32"] > 0
