"""The ``srgan`` command: argument parsing only; each subcommand calls one function elsewhere.

Errors the user can fix (``SrganError``) become one line on stderr and a non-zero exit code; heavy
modules are imported inside the subcommand that needs them, so ``srgan --help`` is instant.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from srgan import __version__
from srgan.errors import SrganError, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other usage error here
        raise UsageError(f"{self.prog}: {message}")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where it says something: not None/False, and not already in the help text."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, [], argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return _HelpFormatter(prog, max_help_position=32)


def _count(text: str) -> int:
    """An argparse type: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _opset(text: str) -> int:
    """An argparse type: an ONNX opset the TorchScript exporter writes (torch.onnx's 7 to 20; 7-11, 17 and 20 were
    tried with srresnet-x4). Outside it the exporter fails after dumping its whole graph."""
    value = _count(text)
    if not 7 <= value <= 20:
        raise argparse.ArgumentTypeError(f"the exporter writes opsets 7-20, not {value}")
    return value


def _positive(text: str) -> float:
    """An argparse type: a finite number > 0 (float() takes "nan" and "inf" too)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _given(text: str) -> str:
    """An argparse type: a name or path that is not empty (``-o ''`` would mean the current folder by accident)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _port(text: str) -> int:
    """An argparse type: a TCP port, 0-65535 (0: any free port)."""
    value = _count(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, not {value}")
    return value


# ------------------------------------------------------------------------------------------ subcommands


def cmd_train(a: argparse.Namespace) -> int:
    from srgan.train.config import load_config
    from srgan.train.loop import train

    overrides = {
        "data": a.data, "val": a.val, "steps": a.steps, "batch_size": a.batch_size, "crop": a.crop,
        "checkpoint_every": a.checkpoint_every, "precision": a.precision, "device": a.device, "seed": a.seed,
    }
    if a.resume:
        if a.config:
            raise UsageError("srgan train: --resume continues a run with its saved config; give no CONFIG")
        # Flags and --set still apply (e.g. more --steps, or threads); the run's saved config is updated.
        trainer = train(None, resume=a.resume, overrides=overrides, sets=a.set)
    else:
        if not a.config:
            raise UsageError("srgan train: give a CONFIG.yaml (see configs/) or --resume RUN_DIR")
        cfg = load_config(a.config, overrides, a.set)
        trainer = train(cfg, out=a.out)
    print(f"run folder: {trainer.run_dir}")
    return 130 if trainer.interrupted else 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from srgan.bench.evaluate import evaluate, print_table

    datasets = [d for group in a.data for d in group]
    results = evaluate(
        a.model, datasets, scale=a.scale, noise=a.noise, device=a.device, precision=a.precision,
        max_images=a.max_images, per_image_csv=a.csv, peers_dir=a.peers, with_niqe=not a.no_niqe,
        degrade=a.degrade, sigma_given=a.sigma_given,
    )
    if a.json:
        import json

        print(json.dumps({"results": results}))
    else:
        print_table(results)
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    from srgan.bench.report import run_report

    print(run_report(
        a.out, datasets=a.datasets, quick=a.quick, peers_dir=a.peers, srgan_run=a.srgan_run,
        bm3d_images=a.bm3d_images, device=a.device, shared=a.shared,
    ))
    return 0


def cmd_plot(a: argparse.Namespace) -> int:
    from srgan.train.plot import plot_run

    for path in plot_run(a.run_dir):
        print(path)
    return 0


def cmd_degrade(a: argparse.Namespace) -> int:
    from srgan.infer.batch import degrade_files

    written, failed = degrade_files(a.inputs, a.output, scale=a.scale, noise=a.noise, seed=a.seed)
    print(f"{written} written, {failed} failed -> {a.output}")
    return 1 if failed else 0


# --- inference: upscale, denoise, restore, models, export (srgan.infer.model, srgan.infer.batch, srgan.infer.onnx)


def _plan_run(a: argparse.Namespace, default_suffix: str, intermediates: tuple[str, ...] = ()):
    """What upscale, denoise and restore check before loading a model (which can take minutes and a GB the
    first time): the options, then the inputs and the output. Returns (plan, batch options, process kwargs)."""
    from srgan.infer.batch import BatchOptions, plan_batch

    options = BatchOptions(
        suffix=default_suffix if a.suffix is None else a.suffix, ext=a.ext, quality=a.quality,
        max_pixels=None if a.max_pixels == 0 else a.max_pixels,
        save_intermediate=getattr(a, "save_intermediate", False), intermediates=intermediates,
    )
    if a.max_output_pixels < 0:
        raise UsageError("--max-output-pixels must be 0 (no limit) or positive")
    outscale = getattr(a, "outscale", None)
    if outscale is not None and not 0 < outscale <= 16:  # Model.process's range
        raise UsageError(f"--outscale must be in (0, 16], got {outscale:g}")
    plan = plan_batch(a.inputs, a.output)
    # Last because it imports torch; the same check Model.process makes, so the rule lives in one place.
    from srgan.infer.tiling import Tiling

    Tiling(0 if a.tile is None else a.tile, a.tile_overlap)
    run_kwargs = {"tile": a.tile, "tile_overlap": a.tile_overlap, "progress": not a.no_progress,
                  "max_output_pixels": a.max_output_pixels or None}
    return plan, options, run_kwargs


def cmd_upscale(a: argparse.Namespace) -> int:
    from srgan.infer.model import default_upscaler, load

    plan, options, run_kwargs = _plan_run(a, "")
    model = load(a.model or default_upscaler(), device=a.device, precision=a.precision)
    if model.kind == "denoiser":
        raise UsageError(f"srgan upscale: {model.name} is a denoiser; use srgan denoise or srgan restore")
    if a.suffix is None:  # the default names the scale, known once the model is
        options.suffix = f"_x{a.outscale or model.scale:g}"

    def step(pic):
        return model.process(pic, outscale=a.outscale, **run_kwargs), {}

    return plan.run(step, options).exit_code


def _checked_sigma(a: argparse.Namespace) -> float | None:
    """``--sigma`` checked before anything loads (argparse has already refused what is not a number)."""
    from srgan.infer.model import check_sigma

    try:
        return None if a.sigma is None else check_sigma(a.sigma, "--sigma")
    except SrganError as e:
        raise UsageError(f"srgan {a.command}: {e}") from None


def _noise_level(model, pic, sigma: float | None) -> float | None:
    """The σ ``model`` is told for ``pic``: ``--sigma``, or estimated from the picture and said on stderr."""
    if sigma is None and model.takes_sigma:
        sigma = model.noise_sigma(pic)
        print(f"srgan: noise σ ≈ {sigma:.3f} (estimated)", file=sys.stderr, flush=True)
    return sigma


def _tell_blind(model, sigma: float | None) -> None:
    if sigma is not None and not model.takes_sigma:
        print(f"srgan: note: {model.name} is a blind denoiser (it has no noise level input); --sigma is ignored",
              file=sys.stderr)


def cmd_denoise(a: argparse.Namespace) -> int:
    from srgan.infer.model import load

    sigma = _checked_sigma(a)
    plan, options, run_kwargs = _plan_run(a, "_denoised")
    model = load(a.model, device=a.device, precision=a.precision)
    if model.kind != "denoiser":
        raise UsageError(f"srgan denoise: {model.name} is a ×{model.scale} upscaler, not a denoiser; use srgan upscale")
    _tell_blind(model, sigma)

    def step(pic):
        return model.process(pic, sigma=_noise_level(model, pic, sigma), **run_kwargs), {}

    return plan.run(step, options).exit_code


def cmd_restore(a: argparse.Namespace) -> int:
    from srgan.infer.model import default_upscaler, load

    sigma = _checked_sigma(a)
    plan, options, run_kwargs = _plan_run(a, "_restored", intermediates=("denoised",))
    # int8 exists for the ×4 generators only; the denoiser then runs in the precision auto picks.
    denoiser = load(a.denoiser, device=a.device, precision="auto" if a.precision == "int8" else a.precision)
    upscaler = load(a.upscaler or default_upscaler(), device=a.device, precision=a.precision)
    if denoiser.kind != "denoiser":
        raise UsageError(f"srgan restore: --denoiser {a.denoiser} is a {denoiser.kind} model, not a denoiser")
    if upscaler.kind == "denoiser":
        raise UsageError(f"srgan restore: --upscaler {a.upscaler} is a denoiser, not an upscaler")
    _tell_blind(denoiser, sigma)

    def step(pic):
        denoised = denoiser.process(pic, sigma=_noise_level(denoiser, pic, sigma), **run_kwargs)
        return upscaler.process(denoised, **run_kwargs), {"denoised": denoised}

    return plan.run(step, options).exit_code


def cmd_models(a: argparse.Namespace) -> int:
    from srgan.infer.onnx import print_models

    print_models(as_json=a.json)
    return 0


def cmd_info(a: argparse.Namespace) -> int:
    import json

    import torch

    import srgan
    from srgan.infer.autoprecision import PROBE_SIDE, cpu_name
    from srgan.device import cpu_supports_bf16
    from srgan.infer.model import load
    from srgan.infer.int8 import cache_dir

    names = a.model or [card["name"] for card in srgan.available_models()]
    rows = []
    for name in names:
        model = load(name, device="cpu", precision="auto")
        choice = model.auto
        rows.append({"model": model.name, "precision": choice.precision, "rates_mp_per_s": choice.rates,
                     "cached": choice.cached})
    info = {
        "srgan": srgan.__version__, "torch": torch.__version__, "cpu": cpu_name(), "threads": torch.get_num_threads(),
        "onednn_bf16": cpu_supports_bf16(), "cache": str(cache_dir()), "default_upscaler": srgan.DEFAULT_UPSCALER,
        "auto_precision": rows,
    }
    if a.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"srgan {info['srgan']}, torch {info['torch']}")
    print(f"CPU: {info['cpu']}, {info['threads']} threads, oneDNN bf16 kernels: {'yes' if info['onednn_bf16'] else 'no'}")
    print(f"cache: {info['cache']}")
    print(f"default upscaler: {info['default_upscaler']}")
    print(f"--precision auto on this CPU (output MP/s on a {PROBE_SIDE}x{PROBE_SIDE} input window, best of 3):")
    for row in rows:
        rates = "  ".join(f"{p} {r:.3f}" for p, r in row["rates_mp_per_s"].items())
        print(f"  {row['model']:<14} -> {row['precision']:<5} ({rates}{'; cached' if row['cached'] else ''})")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from pathlib import Path

    from srgan.infer.onnx import export_onnx

    folder = Path(a.output).parent
    if not folder.is_dir():  # before the model is loaded and exported, not after
        raise SrganError(f"{a.output}: folder {folder} does not exist")
    diff = export_onnx(a.model, a.output, opset=a.opset)
    print(f"wrote {a.output}; ONNX Runtime vs PyTorch on a test image: max abs difference {diff:.2e}")
    return 0


def cmd_serve(a: argparse.Namespace) -> int:
    from srgan.serve.server import serve

    serve(
        a.host, a.port, models=a.model or None, max_upload_mb=a.max_upload_mb, max_pixels=a.max_pixels,
        queue_size=a.queue_size, max_output_pixels=a.max_output_pixels,
    )
    return 0


# ---------------------------------------------------------------------------------------------- parser


# 12000x8000 and a bit: a 3000x2000 photo x4. Larger results take tens of minutes on a CPU, and formats other
# than PNG hold the whole result in memory while encoding.
DEFAULT_MAX_OUTPUT_PIXELS = 100_000_000


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="srgan",
        description="Super-resolve and denoise photos with SRGAN (Ledig et al., CVPR 2017).",
        formatter_class=_formatter,
    )
    p.add_argument("--version", action="version", version=f"srgan {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    # The order here is the order of `srgan --help`.
    _add_train_parser(sub)
    _add_evaluate_parser(sub)
    _add_report_parser(sub)
    _add_degrade_parser(sub)
    _add_upscale_parser(sub)
    _add_denoise_parser(sub)
    _add_restore_parser(sub)
    _add_models_parser(sub)
    _add_info_parser(sub)
    _add_export_parser(sub)
    _add_plot_parser(sub)
    _add_serve_parser(sub)
    return p


def _command(sub, name: str, func, help: str, description: str) -> argparse.ArgumentParser:
    """A subcommand's parser, formatted like every other, that runs ``func``."""
    q = sub.add_parser(name, formatter_class=_formatter, help=help, description=description)
    q.set_defaults(func=func)
    return q


def _add_train_parser(sub) -> None:
    t = _command(
        sub, "train", cmd_train,
        help="train SRResNet, SRGAN or the denoiser from a YAML config",
        description="Train a model. Flags override the YAML (flags left out keep the config's values); "
        "--set reaches any other config key. "
        "Checkpoints, metrics.jsonl, sample panels and model.safetensors go to the run folder.",
    )
    t.add_argument("config", nargs="?", help="YAML config (configs/srresnet_x4.yaml, srgan_x4.yaml, denoiser.yaml)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    t.add_argument("--out", metavar="RUN_DIR", help="run folder (default runs/KIND-TIMESTAMP)")
    t.add_argument("--data", nargs="+", metavar="SOURCE", help="training sources: folders, .txt lists, mnist:DIR, stl10:DIR")
    t.add_argument("--val", metavar="DIR", help="validation images: folder or .txt list")
    t.add_argument("--steps", type=int, help="total optimisation steps")
    t.add_argument("--batch-size", type=int, help="images per step per process")
    t.add_argument("--crop", type=int, help="HR crop size in pixels")
    t.add_argument("--checkpoint-every", type=int, metavar="N", help="write a checkpoint every N steps")
    t.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], help="auto: bf16 on CPUs that support it, AMP on CUDA")
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to train")
    t.add_argument("--seed", type=int, help="seed for initialisation and data order")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any config key (repeatable; dotted keys reach nested ones)")


# The evaluate and report help texts name these defaults; srgan.bench.places applies them.
_PEERS_HELP = "where peer models live (default $SRGAN_PEERS_DIR, else ../shared/peers)"


def _add_evaluate_parser(sub) -> None:
    from srgan.bench.peers import DENOISE_PEERS, SR_PEERS
    from srgan.ops.realistic import PRESETS

    e = _command(
        sub, "evaluate", cmd_evaluate,
        help="PSNR/SSIM on benchmark sets with the field's protocol",
        description="Evaluate a model on datasets: PSNR and SSIM on the Y channel (BT.601), border of `scale` "
        "pixels removed, plus RGB PSNR/SSIM and the no-reference NIQE of the output (on Y, same border; lower is "
        "more natural). A DATASET is a benchmark folder with HR/ (and LR_bicubic/X<scale>/), "
        "a flat folder of HR images, or a .txt list of HR image paths relative to the file.",
    )
    e.add_argument(
        "--model", type=_given, default="bicubic",
        help="bicubic, a shipped model name, a .safetensors file, a checkpoint, a run folder, or another project's "
        f"model peer:NAME (×4: {', '.join(SR_PEERS)}; denoising, with --noise: {', '.join(DENOISE_PEERS)}, "
        "nlmeans:h=H)",
    )
    e.add_argument("--data", nargs="+", action="append", required=True, metavar="DATASET", help="one or more datasets (repeat the flag to add more)")
    e.add_argument("--scale", type=int, default=4, help="upscaling factor")
    e.add_argument("--noise", type=float, nargs="+", metavar="SIGMA", help="for a denoiser: Gaussian σ on [0,1] (default 0.1 0.2 0.4 0.5)")
    e.add_argument("--sigma-given", action="store_true", help="with --noise, tell a denoiser that has a noise-level "
                   "input the true σ (default: it estimates σ from each noisy image, as srgan denoise without --sigma)")
    e.add_argument("--json", action="store_true", help='print one JSON object {"results": [...]} on stdout')
    e.add_argument("--csv", metavar="FILE", help="also write per-image metrics to this CSV file")
    e.add_argument("--max-images", type=_count, metavar="N", help="only the first N images of each dataset (0: all)")
    e.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where to run the model")
    e.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16", "int8"], default="fp32", help="model precision "
                   "(int8: the ×4 generators quantized, on the CPU through ONNX Runtime)")
    e.add_argument("--degrade", choices=list(PRESETS), default="bicubic", help="what the LR goes through after the "
                   "bicubic downscale, as shared photos do (seeded per image): jpeg50, jpeg75, blur-noise-jpeg70 (Gaussian "
                   "blur σ 1 px, noise σ 0.02, JPEG 70); the results then add blockiness, the output's 32-px grid over its "
                   "other lines (1.0: no JPEG tiles), block_profile, how far its steps between LR pixels follow the "
                   "JPEG's 8×8 blocks beyond the photo's own (0: not at all), and flat_noise, detail drawn where the "
                   "photo is flat. Default: the benchmark's clean bicubic input")
    e.add_argument("--peers", metavar="DIR", help=_PEERS_HELP)
    e.add_argument("--no-niqe", action="store_true", help="skip NIQE (no-reference, on Y; about 35 ms per 481×321 "
                   "output, a third of a bicubic evaluation); its fields are then null")


def _add_report_parser(sub) -> None:
    r = _command(
        sub, "report", cmd_report,
        help="measure bicubic, the peers and our models; write RESULTS.md, CSVs and figures",
        description="Run the ×4 benchmark (bicubic, every peer found, every shipped model) on Set5, Set14, BSD100 "
        "and the validation cats, the denoising benchmark (noisy, NL-means with h tuned per σ, BM3D on a fixed "
        "BSD100 subset, the shipped denoiser) and the figures, then write OUT/RESULTS.md, OUT/results/*.csv and "
        "OUT/figures/*.png. A peer whose files or package are missing is skipped with a note. The full run takes "
        "tens of minutes on a CPU.",
    )
    r.add_argument("--out", default="docs", metavar="DIR", help="output folder")
    r.add_argument("--datasets", nargs="+", metavar="DATASET", help="datasets as for evaluate (default: ../shared Set5, Set14, BSD100 and configs/cats_val.txt)")
    r.add_argument("--quick", action="store_true", help="a smoke test: the first two images of each dataset (default Set5 alone), no BM3D")
    r.add_argument("--shared", metavar="DIR", help="the shared folder with data/benchmark and peers (default: ../shared beside "
                   "the working directory, else beside the source checkout); the validation cats come from "
                   "configs/cats_val.txt, whose paths are relative to it")
    r.add_argument("--peers", metavar="DIR", help=_PEERS_HELP)
    r.add_argument("--srgan-run", metavar="RUN_DIR", help="a training run folder whose samples/ make the training-progress figure")
    r.add_argument("--bm3d-images", type=_count, metavar="N", help="BM3D on the first N BSD100 images (default 10; 0 skips it)")
    r.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu", help="where to run our models")


def _add_degrade_parser(sub) -> None:
    d = _command(
        sub, "degrade", cmd_degrade,
        help="make LR (and/or noisy) images from HR images",
        description="HR images -> LR images with the same file names, as PNG: MATLAB-compatible bicubic ×SCALE "
        "downscale (uint8 mode), then, if asked, clipped Gaussian noise. --scale 1 --noise S makes noisy copies only.",
    )
    d.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (recursive) or glob patterns")
    d.add_argument("-o", "--output", type=_given, required=True, metavar="OUTDIR", help="output folder (created when absent)")
    d.add_argument("--scale", type=int, default=4, help="downscaling factor (1: no resize)")
    d.add_argument("--noise", type=float, metavar="SIGMA", help="Gaussian noise σ on the [0,1] scale, added after the downscale")
    d.add_argument("--seed", type=int, default=0, help="noise seed")


# --- inference

_MODELS_HELP = "a shipped model name (see srgan models), a .safetensors file with its card, a checkpoint or a run folder"


def _add_run_options(q: argparse.ArgumentParser, model_help: str | None, model_default: str | None, default_suffix: str) -> None:
    """The inputs, output, model, tiling, format and device options upscale, denoise and restore share."""
    q.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (recursive) or glob patterns")
    q.add_argument("-o", "--output", type=_given, required=True, metavar="OUTPUT", help="an output file when there is one input and "
                   "OUTPUT ends in .png/.jpg/.jpeg/.webp/.tif/.tiff; otherwise a folder (created when absent; end it "
                   "with / when its name has a dot). A folder that is also an input: earlier results are not re-read")
    if model_help:
        q.add_argument("--model", type=_given, default=model_default, help=model_help)
    # 16 is srgan.infer.model.DEFAULT_OVERLAP (not imported: it would load torch for --help).
    q.add_argument("--tile", type=int, metavar="PX", help="tile side in input pixels, so memory is bounded by the tile, "
                   "not the image; 0: the whole image at once (default: 256 on CPUs, as large as fits on a GPU)")
    q.add_argument("--tile-overlap", type=int, default=16, metavar="PX", help="context pixels around each tile, blended smoothly")
    q.add_argument("--suffix", default=None, help=f"added to each output file name in a folder (default {default_suffix})")
    q.add_argument("--ext", choices=["auto", "png", "jpg", "webp", "tif"], default="auto", help="output format in a folder; "
                   "auto: the input's (PNG when it has alpha or 16 bits the format cannot keep)")
    q.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality")
    q.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto", help="where to run the model")
    q.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16", "int8"], default="auto", help="auto: on CPUs "
                   "the faster of fp32 and bf16, measured once per machine and model (srgan info); fp16 on GPUs. int8 "
                   "(×4 models, CPU, needs srgan[onnx]): fastest on CPUs with VNNI, 0.07-0.3 dB PSNR below fp32")
    q.add_argument("--max-pixels", type=int, default=100_000_000, metavar="N", help="refuse larger input images "
                   "(decompression-bomb guard; 0: no limit)")
    q.add_argument("--max-output-pixels", type=int, default=DEFAULT_MAX_OUTPUT_PIXELS, metavar="N", help="refuse "
                   "(exit 2) a result with more pixels, before any work: a 6000x4000 photo x4 is 384 MP and an hour "
                   "on 2 CPU cores (0: no limit). PNG results of any size are written in bounded memory")
    q.add_argument("--no-progress", action="store_true", help="no progress bar (it shows on a terminal only)")


def _add_upscale_parser(sub) -> None:
    up = _command(
        sub, "upscale", cmd_upscale, help="super-resolve photos (×4)",
        description="Super-resolve images. The default model is the first model for real photos (srgan-x4-real, then "
        "srresnet-x4-real) whose card records that it met the project's bar on JPEG, blurred and noisy inputs, else the "
        "faithful srresnet-x4 (srgan info prints which); pick any with --model. EXIF, the ICC profile, 16 bits and alpha "
        "(resized with bicubic) are kept. A bad file is reported and skipped; the exit code is 1 if any failed.",
    )
    _add_run_options(up, f"{_MODELS_HELP} (default: srgan info's default upscaler)", None, "_x<scale>, e.g. _x4")
    up.add_argument("--outscale", type=float, metavar="F", help="final scale if not the model's (bicubic resize of its output)")


def _add_denoise_parser(sub) -> None:
    dn = _command(
        sub, "denoise", cmd_denoise, help="remove noise from photos (Gaussian noise, σ given or estimated)",
        description="Denoise images; same input, output and error rules as srgan upscale. A denoiser told the noise "
        "level (FFDNet, the shipped denoiser) uses --sigma, or estimates σ from each image and says so on stderr; "
        "a blind one (the denoising autoencoder of configs/denoiser.yaml) needs neither.",
    )
    _add_run_options(dn, _MODELS_HELP, "denoiser", "_denoised")
    _add_sigma_option(dn)


def _add_restore_parser(sub) -> None:
    rs = _command(
        sub, "restore", cmd_restore, help="denoise, then super-resolve",
        description="Denoise each image, then super-resolve it (noisy -> denoised -> generated).",
    )
    _add_run_options(rs, None, None, "_restored")
    rs.add_argument("--denoiser", default="denoiser", help="the denoiser: " + _MODELS_HELP)
    rs.add_argument("--upscaler", default=None, help="the upscaler: " + _MODELS_HELP + " (default: srgan info's default upscaler)")
    rs.add_argument("--save-intermediate", action="store_true", help="also save the denoised image as <name>_denoised.<ext>")
    _add_sigma_option(rs)


def _add_sigma_option(q: argparse.ArgumentParser) -> None:
    q.add_argument("--sigma", type=float, metavar="S", help="the noise's standard deviation on the [0, 1] scale (0.1 "
                   "is 25.5 of 255), for a denoiser told σ (FFDNet; a blind one ignores it); default: estimated from "
                   "each image, one line on stderr")


def _add_models_parser(sub) -> None:
    ms = _command(
        sub, "models", cmd_models, help="list the shipped models with their model cards",
        description="The models shipped with srgan: kind, scale, training data, steps and metrics from each model card.",
    )
    ms.add_argument("--json", action="store_true", help="print the cards as one JSON list")


def _add_info_parser(sub) -> None:
    inf = _command(
        sub, "info", cmd_info, help="this machine, and which precision auto picks for each model",
        description="Print the CPU, torch and cache folder, and for each model which precision --precision auto "
        "runs on the CPU: the faster of fp32 and bf16 by a timed probe of the real network (about 2 s per model "
        "the first time, then cached per CPU, thread count, torch version and weights).",
    )
    inf.add_argument("--model", type=_given, action="append", metavar="NAME_OR_FILE", help="a model to probe (repeatable; default: every shipped model)")
    inf.add_argument("--json", action="store_true", help="print it as JSON")


def _add_export_parser(sub) -> None:
    ex = _command(
        sub, "export", cmd_export, help="export a model to ONNX (dynamic height and width)",
        description="Write a single-file ONNX model (BatchNorm folded, weights inside) with dynamic height and width, "
        "then run it with ONNX Runtime on a test image and print the largest difference from PyTorch. "
        "Needs the onnx extra: pip install 'srgan[onnx]'.",
    )
    ex.add_argument("--model", type=_given, required=True, help=_MODELS_HELP)
    ex.add_argument("-o", "--output", type=_given, required=True, metavar="FILE.onnx", help="the ONNX file to write")
    ex.add_argument("--opset", type=_opset, default=17, help="ONNX opset version, 7-20 (the range of torch's exporter)")


def _add_plot_parser(sub) -> None:
    pl = _command(
        sub, "plot", cmd_plot,
        help="draw a run's loss and validation PSNR curves",
        description="Read RUN_DIR/metrics.jsonl and write RUN_DIR/loss.png and RUN_DIR/psnr.png.",
    )
    pl.add_argument("run_dir", metavar="RUN_DIR", help="a training run folder")


def _add_serve_parser(sub) -> None:
    s = _command(
        sub, "serve", cmd_serve,
        help="a local web page (and HTTP API) to upscale, denoise and compare photos",
        description="Serve a page to drop a photo on, run a model and compare before and after, plus the HTTP API "
        "behind it (POST /api/upscale, /api/denoise, /api/restore; docs at /docs). Needs the web extra: "
        "pip install 'srgan[web]'. Runs one image at a time; requests beyond the queue get 503 with Retry-After.",
    )
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (the default is reachable from this machine only)")
    s.add_argument("--port", type=_port, default=8000, help="port to listen on (0: any free port)")
    s.add_argument("--model", type=_given, action="append", metavar="NAME_OR_FILE", help="a model to offer (repeatable; default: every shipped model)")
    s.add_argument("--max-upload-mb", type=_positive, default=25.0, metavar="N", help="largest upload, in MB")
    s.add_argument("--max-pixels", type=int, default=8_000_000, metavar="N", help="largest upload, in pixels (0: no limit)")
    s.add_argument("--max-output-pixels", type=int, default=16_000_000, metavar="N", help="largest image a request may make (upscaled or resized), in pixels (0: no limit)")
    s.add_argument("--queue-size", type=int, default=4, metavar="N", help="requests that may wait while one runs")


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is. A KeyboardInterrupt, so whatever cleans up after Ctrl-C (the
    temporary file of a write in progress, srgan.io.files.atomic_path) cleans up after `kill` too."""


def _raise_terminated(signum, frame) -> None:
    # Once: a second SIGTERM must not cut the cleanup the first one started (SIGKILL still ends it all).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Terminated


# train stops at a step boundary on its own signal handling, and serve leaves SIGTERM to its web server.
_OWN_SIGTERM = {"train", "serve"}


@contextlib.contextmanager
def _sigterm_as_interrupt(command: str | None):
    if command in _OWN_SIGTERM or threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread (main() called from a worker)
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        with _sigterm_as_interrupt(args.command):
            return args.func(args)
    except SrganError as e:
        msg = str(e)
        print(msg if msg.startswith("srgan") else f"srgan: error: {msg}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # the machine's refusal (disk full, read-only, no permission): the user's to fix, in one line
        where = f"{e.filename}: " if e.filename else ""
        print(f"srgan: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except _Terminated:
        print("srgan: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("srgan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
