"""Inference: the Python API, the exact network rewrites, tiling, the batch CLI and its bad inputs.

Small random models throughout (trained weights are not needed to check plumbing): a 2-block, 16-channel
generator, a tiny denoiser, and once the paper-sized generator on a small image.
"""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from conftest import shared_or_skip, smooth_image
from srgan.models import zoo
from srgan.cli import main
from srgan.errors import SrganError
from srgan.device import cpu_supports_bf16
from srgan.infer.fast import FusedGenerator, InferenceGenerator, fallback_reason, fold_batchnorm, prepare
from srgan.io.picture import from_array
from srgan.infer.model import DEFAULT_OVERLAP, DEFAULT_TILE, Tiling, load
from srgan.ops.metrics import psnr_rgb
from srgan.models.denoiser import DenoisingAutoencoder
from srgan.models.generator import Generator

ORIENTATION = 0x0112


def _randomise_bn(g: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial BN statistics, so folding them is actually tested (fresh BN is the identity)."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=gen) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=gen) * 0.2 - 0.1)
    return g.eval()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    gen = _randomise_bn(Generator(num_blocks=2, channels=16))
    den = DenoisingAutoencoder(widths=(8, 16, 32), blocks_per_level=1).eval()
    paths = {"gen": folder / "tiny-x4.safetensors", "den": folder / "tiny-denoiser.safetensors"}
    zoo.save_model(paths["gen"], gen, {"name": "tiny-x4", "kind": "srresnet", "scale": 4})
    zoo.save_model(paths["den"], den, {"kind": "denoiser", "scale": 1})
    return paths


@pytest.fixture(scope="module")
def up(models):
    return load(models["gen"], precision="fp32")


@pytest.fixture(scope="module")
def den(models):
    return load(models["den"], precision="fp32")


# ------------------------------------------------------------------------------------------- exact rewrites


@pytest.mark.parametrize(("scale", "in_channels"), [(4, 3), (2, 1), (8, 3)])
def test_rewrites_compute_the_same_function(scale, in_channels):
    torch.manual_seed(scale)
    g = _randomise_bn(Generator(scale=scale, num_blocks=2, channels=8, in_channels=in_channels, out_channels=in_channels))
    x = torch.rand(2, in_channels, 9, 7)
    with torch.inference_mode():
        want = g(x)
        assert (fold_batchnorm(g)(x) - want).abs().max() < 1e-5
        plain = InferenceGenerator(g).eval()
        assert (plain(x) - want).abs().max() < 1e-5
        fused = FusedGenerator(plain, torch.float32)
        assert (fused(x.contiguous(memory_format=torch.channels_last)) - want).abs().max() < 1e-5
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in g.modules())  # the original is untouched


def test_prepare_gives_the_fused_form_where_onednn_has_kernels_and_a_module_elsewhere():
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this PyTorch build has no oneDNN, so there is no fused form (tests/infer/test_fallback.py)")
    g = Generator(num_blocks=1, channels=8).eval()
    cpu = torch.device("cpu")
    assert isinstance(prepare(g, "srresnet", cpu, "fp32"), FusedGenerator)
    # oneDNN has bf16 kernels only with AVX-512 or AVX-NE-CONVERT; elsewhere (AVX2 laptops) bf16 gets the plain network.
    bf16 = prepare(g, "srresnet", cpu, "bf16")
    if cpu_supports_bf16():
        assert isinstance(bf16, FusedGenerator)
    else:
        assert isinstance(bf16, InferenceGenerator) and "bf16" in fallback_reason(bf16)
    plain = prepare(g, "srresnet", cpu, "fp32", fused=False)
    assert isinstance(plain, InferenceGenerator) and fallback_reason(plain) is None


def test_pipeline_matches_the_network_as_trained(models, up):
    img = smooth_image(37, 29)
    net = zoo.build_from_state(*zoo.load_state(models["gen"]))[0]
    with torch.inference_mode():
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
        want = (net(x).clamp(0, 1) * 255).round()[0].permute(1, 2, 0).numpy()
    got = up.upscale(img, tile=0)
    assert got.shape == (148, 116, 3) and got.dtype == np.uint8
    assert np.abs(got.astype(float) - want).max() <= 1


def test_bf16_stays_close_to_fp32(up):
    img = smooth_image(48, 40)
    assert psnr_rgb(up.upscale(img, precision="bf16"), up.upscale(img, precision="fp32"), border=0) > 40


# ---------------------------------------------------------------------------------------------- tiling


@pytest.mark.parametrize(("precision", "size"), [("bf16", 512), ("fp32", 192)])
def test_tiled_output_matches_untiled_above_50db(up, precision, size):
    """The issue's check (512×512, --tile 64, default overlap) at the CPU's default precision; fp32 smaller."""
    img = smooth_image(size, size, seed=3)
    untiled = up.upscale(img, tile=0, precision=precision)
    tiled = up.upscale(img, tile=64, precision=precision)
    assert psnr_rgb(tiled, untiled, border=0) >= 50


def test_tiling_with_the_paper_sized_generator(tmp_path):
    torch.manual_seed(0)
    zoo.save_model(tmp_path / "full.safetensors", Generator().eval(), {"kind": "srresnet", "scale": 4})
    m = load(tmp_path / "full.safetensors")
    img = smooth_image(64, 56, seed=5)
    assert psnr_rgb(m.upscale(img, tile=32), m.upscale(img, tile=0), border=0) >= 50


def test_file_backed_output_equals_the_in_memory_one(up, monkeypatch):
    """Outputs over bigarray.IN_MEMORY_LIMIT are blended into a file-backed array, rows released as they finish."""
    from srgan.io import bigarray

    img = smooth_image(70, 90)
    in_ram = up.upscale(img, tile=24)
    monkeypatch.setattr(bigarray, "IN_MEMORY_LIMIT", 0)
    pic = up.process(from_array(img), tile=24)
    assert bigarray.is_file_backed(pic.pixels)
    np.testing.assert_array_equal(pic.pixels, in_ram)


def test_output_pixel_limit_refuses_before_any_work(up, monkeypatch, tmp_path, capsys):
    from srgan.errors import OutputTooLarge

    monkeypatch.setattr(type(up), "_run_fitting", lambda *a, **k: pytest.fail("ran although refused"))
    with pytest.raises(OutputTooLarge, match=r"160x160 .* over the limit"):
        up.process(from_array(smooth_image(40, 40)), max_output_pixels=160 * 160 - 1)
    with pytest.raises(OutputTooLarge):
        up.process(from_array(smooth_image(40, 40)), outscale=2.5, max_output_pixels=99 * 99)


def test_weights_that_make_nan_are_an_error_not_a_black_image(tmp_path, capsys):
    g = Generator(num_blocks=1, channels=8).eval()
    with torch.no_grad():
        g.head.weight.fill_(float("nan"))
    weights = tmp_path / "nan-x4.safetensors"
    zoo.save_model(weights, g, {"kind": "srresnet", "scale": 4})
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(smooth_image(20, 24)).save(src)
    out.write_bytes(b"the user's earlier result")
    code = main(["upscale", str(src), "-o", str(out), "--model", str(weights), "--precision", "fp32", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and "output is NaN" in err[0] and "Traceback" not in "".join(err)
    assert out.read_bytes() == b"the user's earlier result"


def test_cli_refuses_a_too_large_result_with_exit_2(tmp_path, models, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(smooth_image(40, 50)).save(src)
    code = main(["upscale", str(src), "-o", str(tmp_path / "out.png"), "--model", str(models["gen"]), "--max-output-pixels", "1000"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "200x160" in err[0] and "--max-output-pixels" in err[0]
    assert not (tmp_path / "out.png").exists()
    # In a folder batch the refusal is one failed file among others, and the exit code is still 2.
    (tmp_path / "many").mkdir()
    Image.fromarray(smooth_image(40, 50)).save(tmp_path / "many" / "big.png")
    Image.fromarray(smooth_image(10, 10)).save(tmp_path / "many" / "small.png")
    code = main(["upscale", str(tmp_path / "many"), "-o", str(tmp_path / "outs"), "--model", str(models["gen"]), "--max-output-pixels", "2000"])
    assert code == 2 and (tmp_path / "outs" / "small_x4.png").is_file() and not (tmp_path / "outs" / "big_x4.png").exists()


def test_denoiser_tiles_and_keeps_the_size(den):
    img = smooth_image(90, 70, seed=2)
    out = den.denoise(img, tile=32)
    assert out.shape == img.shape
    assert psnr_rgb(out, den.denoise(img, tile=0), border=0) >= 40


def test_defaults_are_what_the_cli_says():
    from srgan.cli import build_parser

    a = build_parser().parse_args(["upscale", "x.png", "-o", "y"])
    assert (a.tile, a.tile_overlap) == (None, DEFAULT_OVERLAP)  # None: Model.default_tile(), 256 on CPUs


def test_default_tile_is_256_on_cpu(up):
    assert up.default_tile() == DEFAULT_TILE == 256


def test_out_of_memory_halves_the_tile(up, monkeypatch):
    from srgan.infer import model as infer

    tiles = []
    real = infer.Model._run_tiled

    def fake(self, pixels, tiling, precision, progress=False, sigma=None):
        tiles.append(tiling.tile)
        if tiling.tile > 32:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, pixels, tiling, precision, progress, sigma)

    monkeypatch.setattr(infer.Model, "_run_tiled", fake)
    assert up.upscale(smooth_image(40, 40), tile=128).shape == (160, 160, 3)
    assert tiles == [128, 64, 32]
    with pytest.raises(SrganError, match="out of memory even with 32-pixel tiles"):
        monkeypatch.setattr(infer.Model, "_run_tiled", lambda *a: (_ for _ in ()).throw(torch.OutOfMemoryError("out of memory")))
        up.upscale(smooth_image(40, 40))


# ------------------------------------------------------------------------------------------ Python API


def test_import_srgan_does_not_import_torch():
    code = "import sys, srgan; srgan.DEFAULT_UPSCALER; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_load_gives_the_documented_attributes(models, up, den):
    assert (up.name, up.kind, up.scale, up.card["kind"]) == ("tiny-x4", "srresnet", 4, "srresnet")
    assert (den.name, den.kind, den.scale) == ("tiny-denoiser", "denoiser", 1)
    with pytest.raises(SrganError, match="use denoise"):
        den.upscale(smooth_image(8, 8))
    with pytest.raises(SrganError, match="use upscale"):
        up.denoise(smooth_image(8, 8))


def test_load_refuses_unknown_names_and_foreign_state_dicts(tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(SrganError, match="unknown model 'nope'"):
        load("nope")
    save_file({"foo.weight": torch.zeros(3)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(SrganError, match="fits no srgan architecture"):
        load(tmp_path / "foreign.safetensors")


def test_numpy_in_numpy_out_keeps_dtype_and_layout(up):
    rgb = smooth_image(20, 16)
    assert up.upscale(rgb).shape == (80, 64, 3)
    gray = rgb[..., 1]
    assert up.upscale(gray).shape == (80, 64)
    assert up.upscale(gray[..., None]).shape == (80, 64, 1)
    wide = rgb.astype(np.uint16) * 257
    out16 = up.upscale(wide)
    assert out16.dtype == np.uint16
    assert np.abs(out16 / 257.0 - up.upscale(rgb)).max() <= 1.5
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)])
    out = up.upscale(rgba)
    assert out.shape == (80, 64, 4) and (out[..., 3] == 200).all()  # alpha resized on its own
    with pytest.raises(SrganError, match="uint8 or uint16"):
        up.upscale(rgb.astype(np.float32))


def test_read_only_arrays_upscale_without_warnings(up):
    import warnings

    rgb = smooth_image(20, 16)
    frozen = rgb.copy()
    frozen.flags.writeable = False  # what np.asarray(PIL image) gives
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = up.upscale(frozen)
    assert np.array_equal(out, up.upscale(rgb)) and not frozen.flags.writeable


@pytest.mark.parametrize(("mode", "want"), [("RGB", "RGB"), ("L", "L"), ("LA", "LA"), ("RGBA", "RGBA"), ("P", "RGB"), ("CMYK", "RGB"), ("I;16", "I;16")])
def test_pil_in_pil_out(up, mode, want):
    base = Image.fromarray(smooth_image(12, 10))
    img = Image.fromarray(np.asarray(base.convert("L"), np.uint16) * 257) if mode == "I;16" else base.convert(mode)
    out = up.upscale(img, outscale=2)
    assert isinstance(out, Image.Image) and out.mode == want and out.size == (20, 24)


def test_palette_with_transparency_becomes_rgba(up):
    img = Image.fromarray(smooth_image(12, 10)).convert("P")
    img.info["transparency"] = 0
    assert up.upscale(img).mode == "RGBA"


def test_restore_runs_denoiser_then_upscaler(models):
    import srgan

    img = Image.fromarray(smooth_image(16, 12))
    denoised, result = srgan.restore(img, denoiser=str(models["den"]), upscaler=str(models["gen"]), return_intermediate=True)
    assert denoised.size == (12, 16) and result.size == (48, 64)


def test_available_models_and_default(monkeypatch, tmp_path):
    import srgan

    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path)
    assert srgan.available_models() == []
    zoo.save_model(tmp_path / "srresnet-x4.safetensors", Generator(num_blocks=1, channels=8), {"kind": "srresnet", "scale": 4, "steps": 10})
    assert srgan.available_models() == [{"kind": "srresnet", "scale": 4, "steps": 10, "name": "srresnet-x4"}]
    m = srgan.load("srresnet-x4")
    assert m.name == "srresnet-x4"


# ------------------------------------------------------------------------------------------------- CLI


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "TestCam"
    return exif.tobytes()


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".")]


def test_upscale_batch_continues_past_bad_files(tmp_path, models, capsys):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(smooth_image(20, 24)).save(src / "a.png")
    Image.fromarray(smooth_image(20, 24, 1)).save(src / "sub" / "a.png")  # same name, other folder
    Image.fromarray(smooth_image(16, 16, 2)).convert("RGBA").save(src / "b.jpg.png")
    (src / "empty.png").write_bytes(b"")
    (src / "text.png").write_text("not an image")
    full = (src / "a.png").read_bytes()
    (src / "cut.png").write_bytes(full[: len(full) // 2])
    out = tmp_path / "out"
    assert main(["upscale", str(src), "-o", str(out), "--model", str(models["gen"])]) == 1
    cap = capsys.readouterr()
    errors = cap.err.strip().splitlines()
    assert len(errors) == 4  # one line per bad file, then the summary
    assert "empty.png: empty file" in errors[1] and "not an image" in errors[2] and "truncated or corrupt" in errors[0]
    assert errors[-1].startswith("srgan: 3 written, 3 failed")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["a_x4.png", "b.jpg_x4.png", "sub/a_x4.png"]
    assert Image.open(out / "a_x4.png").size == (96, 80)
    assert not _leftovers(out) and "Traceback" not in cap.err


def test_single_file_output_keeps_exif_icc_and_16_bits(tmp_path, models, capsys):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(smooth_image(10, 14)).save(tmp_path / "p.jpg", exif=_exif(6), icc_profile=icc, quality=95)
    assert main(["upscale", str(tmp_path / "p.jpg"), "-o", str(tmp_path / "big.jpg"), "--model", str(models["gen"])]) == 0
    big = Image.open(tmp_path / "big.jpg")
    assert big.size == (40, 56)  # orientation 6 applied: 10 wide × 14 high becomes 14 × 10, then ×4
    assert big.info.get("icc_profile") == icc
    assert big.getexif()[ORIENTATION] == 1 and big.getexif()[0x010F] == "TestCam"

    from srgan.io.picture import from_array
    from srgan.io.read import read_image
    from srgan.io.write import write_image

    write_image(tmp_path / "w.png", from_array(smooth_image(9, 11).astype(np.uint16) * 257))
    assert main(["upscale", str(tmp_path / "w.png"), "-o", str(tmp_path / "o16"), "--model", str(models["gen"])]) == 0
    back = read_image(tmp_path / "o16" / "w_x4.png")
    assert back.pixels.dtype == np.uint16 and back.pixels.shape == (36, 44, 3)
    assert main(["upscale", str(tmp_path / "w.png"), "-o", str(tmp_path / "o16"), "--ext", "jpg", "--outscale", "2",
                 "--model", str(models["gen"])]) == 0
    assert Image.open(tmp_path / "o16" / "w_x2.jpg").size == (22, 18)


def test_inputs_are_never_overwritten_unless_named(tmp_path, models, capsys):
    Image.fromarray(smooth_image(8, 8)).save(tmp_path / "a.png")
    before = (tmp_path / "a.png").read_bytes()
    gen = str(models["gen"])
    assert main(["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path), "--suffix", "", "--model", gen]) == 1
    assert "would overwrite an input" in capsys.readouterr().err
    assert (tmp_path / "a.png").read_bytes() == before
    assert main(["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.png"), "--model", gen]) == 0
    assert Image.open(tmp_path / "a.png").size == (32, 32)


def test_usage_and_setup_errors_are_one_line(tmp_path, models, capsys):
    Image.fromarray(smooth_image(8, 8)).save(tmp_path / "a.png")
    Image.fromarray(smooth_image(8, 8)).save(tmp_path / "b.png")
    gen, a, b = str(models["gen"]), str(tmp_path / "a.png"), str(tmp_path / "b.png")
    (tmp_path / "file").write_text("x")
    cases = [
        (["upscale", a, b, "-o", str(tmp_path / "one.png"), "--model", gen], 2, "names one file"),
        (["upscale", a, "-o", str(tmp_path / "o"), "--model", "no-such-model"], 1, "unknown model"),
        (["upscale", a, "-o", str(tmp_path / "file" / "sub"), "--model", gen], 1, "cannot create the output folder"),
        (["upscale", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o"), "--model", gen], 1, "no such file"),
        (["upscale", a, "-o", str(tmp_path / "o"), "--model", str(models["den"])], 2, "is a denoiser"),
        (["denoise", a, "-o", str(tmp_path / "o"), "--model", gen], 2, "not a denoiser"),
        (["upscale", a, "-o", str(tmp_path / "o"), "--model", gen, "--max-pixels", "10"], 1, "more than the limit"),
        (["upscale", a, "-o", str(tmp_path / "o"), "--model", gen, "--tile", "-3"], 1, "must not be negative"),
    ]
    for argv, code, message in cases:
        assert main(argv) == code, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
        assert all(line.startswith("srgan") for line in err.strip().splitlines()), err
    assert not _leftovers(tmp_path)


def test_denoise_and_restore_commands(tmp_path, models, capsys):
    Image.fromarray(smooth_image(12, 16)).convert("LA").save(tmp_path / "n.png")
    assert main(["denoise", str(tmp_path / "n.png"), "-o", str(tmp_path / "d"), "--model", str(models["den"])]) == 0
    assert Image.open(tmp_path / "d" / "n_denoised.png").mode == "LA"
    assert main(["restore", str(tmp_path / "n.png"), "-o", str(tmp_path / "r"), "--denoiser", str(models["den"]),
                 "--upscaler", str(models["gen"]), "--save-intermediate"]) == 0
    assert Image.open(tmp_path / "r" / "n_restored.png").size == (64, 48)
    assert Image.open(tmp_path / "r" / "n_restored_denoised.png").size == (16, 12)


def test_models_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path)
    assert main(["models"]) == 0
    assert "no models are shipped" in capsys.readouterr().out
    card = {"kind": "srresnet", "scale": 4, "steps": 1000, "data": ["DIV2K"], "metrics": {"Set5": {"psnr_y": 31.5}}}
    zoo.save_model(tmp_path / "srresnet-x4.safetensors", Generator(num_blocks=1, channels=8), card)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "srresnet-x4: srresnet, ×4, 1,000 steps" in out and "DIV2K" in out and "psnr_y 31.5" in out
    assert main(["models", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] == "srresnet-x4"


def test_evaluate_accepts_a_denoiser_file(tmp_path, models, capsys):
    folder = tmp_path / "clean"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(smooth_image(24, 28, i)).save(folder / f"{i}.png")
    assert main(["evaluate", "--model", str(models["den"]), "--data", str(folder), "--noise", "0.1", "0.4", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert [r["sigma"] for r in results] == [0.1, 0.4]
    for r in results:
        assert {"noisy_psnr_rgb", "noisy_ssim_rgb", "psnr_rgb", "ssim_rgb"} <= set(r) and r["model"] == "tiny-denoiser"
    assert results[0]["noisy_psnr_rgb"] > results[1]["noisy_psnr_rgb"]


@pytest.mark.parametrize("isa", [None, "AVX2"])
def test_console_script_reports_without_traceback(tmp_path, models, isa):
    """Also with oneDNN capped at AVX2 (no bf16 kernels, as on most laptops): auto's bf16 probe adds no line."""
    if isa and platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("ONEDNN_MAX_CPU_ISA caps x86 instruction sets only")
    env = {**os.environ, "SRGAN_CACHE": str(tmp_path / "cache"), **({"ONEDNN_MAX_CPU_ISA": isa} if isa else {})}
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    Image.fromarray(smooth_image(8, 8)).save(tmp_path / "ok.png")
    srgan = Path(sys.executable).with_name("srgan")
    cmd = [str(srgan) if srgan.exists() else sys.executable, *([] if srgan.exists() else ["-m", "srgan.cli"])]
    r = subprocess.run([*cmd, "upscale", str(tmp_path / "bad.png"), str(tmp_path / "ok.png"), "-o", str(tmp_path / "out"),
                        "--model", str(models["gen"])], capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 2 and "bad.png" in r.stderr  # the file's line and the summary
    assert (tmp_path / "out" / "ok_x4.png").is_file() and not (tmp_path / "out" / "bad_x4.png").exists()


# ---------------------------------------------------------------------------------------------- memory


MEMORY_SCRIPT = """
import resource, sys
import numpy as np
import srgan
from srgan.infer import fast
model, precision, path = sys.argv[1:]
if path == "plain":  # no fused kernels, and ATen's own (im2col) convolution instead of oneDNN's
    import torch
    fast._fused_ops_available = lambda: False
    torch.backends.mkldnn.enabled = False
m = srgan.load(model, precision=precision)
img = np.random.default_rng(0).integers(0, 256, (540, 960, 3), dtype=np.uint8)
out = m.upscale(img)
assert out.shape == (2160, 3840, 3)
print(type(m._prepare(m.precision)).__name__, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


@pytest.mark.parametrize(
    ("precision", "path", "channels"),
    [
        ("auto", "native", 4),  # what srgan.load gives by default: the probe prepares and runs both
        ("fp32", "native", 4),
        ("bf16", "native", 4),  # fused with AVX-512, the plain network on AVX2-only CPUs
        # The path bf16 takes on AVX2-only CPUs, forced: ATen's convolution copies k²·C_in values per output
        # pixel (im2col); with 16 channels the tail's copy alone would be 1.5 GB per tile without strips.
        ("fp32", "plain", 16),
        ("bf16", "avx2", 4),  # oneDNN capped at AVX2 (x86 only): its bf16 kernels are gone, as on such CPUs
    ],
)
def test_4k_output_memory_is_bounded_by_the_tile(tmp_path, precision, path, channels):
    """960×540 → 3840×2160 with default tiling peaks under 1.5 GB on every path: the image-sized arrays are
    the input, the float32 blending buffer and the result. 1-block models keep it quick; the full ×4 SRResNet
    peaked here (Xeon with AMX) at 0.59 GB in bf16 and 0.74 GB in fp32 fused, 0.82 GB in fp32 without oneDNN,
    and 0.69 GB in bf16 with oneDNN capped at AVX2 (3.56 GB for one window of it before strips)."""
    if path == "avx2" and platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("ONEDNN_MAX_CPU_ISA caps x86 instruction sets only")
    env = {**os.environ, "SRGAN_CACHE": str(tmp_path / "cache")}
    if path == "avx2":
        env["ONEDNN_MAX_CPU_ISA"] = "AVX2"
    torch.manual_seed(0)
    model = tmp_path / "micro.safetensors"
    zoo.save_model(model, Generator(num_blocks=1, channels=channels).eval(), {"kind": "srresnet"})
    r = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(model), precision, path],
                       capture_output=True, text=True, check=True, env=env)
    form, peak = r.stdout.split()
    if path in ("plain", "avx2"):
        assert form == "InferenceGenerator"  # the fallback really ran
    assert int(peak) < 1.5e9


# --------------------------------------------------------------------------------- trained weights, if any


def test_bf16_within_005_db_of_fp32_on_set5():
    if "srresnet-x4" not in zoo.shipped_models():
        pytest.skip("srresnet-x4 weights not shipped yet")
    from srgan.bench.evaluate import evaluate

    set5 = shared_or_skip("data", "benchmark", "Set5")
    fp32 = evaluate("srresnet-x4", [str(set5)], precision="fp32")[0]["psnr_y"]
    bf16 = evaluate("srresnet-x4", [str(set5)], precision="bf16")[0]["psnr_y"]
    assert abs(bf16 - fp32) <= 0.05
