"""The field's evaluation protocol for ×s super-resolution and for denoising.

SR: each HR image is cropped to a multiple of the scale; its LR input is the dataset's own
``LR_bicubic/X<s>/<name>`` when the dataset ships one (the standard MATLAB-bicubic inputs), else our
MATLAB-compatible ``imresize`` in uint8 mode. The output is compared with HR by PSNR and SSIM on the Y
channel (BT.601) with ``s`` border pixels removed, as in Ledig et al. and every SR paper since, and also
on RGB. With ``degrade`` other than ``bicubic`` that LR then goes through one of the fixed real-photo presets of
:mod:`srgan.ops.realistic` (JPEG 50, JPEG 75, blur + noise + JPEG 70), seeded by the image's file name, and
``blockiness`` (the output's 32-px grid over its other lines, :func:`srgan.ops.metrics.blockiness`) says
whether JPEG blocks came out as tiles, ``block_profile`` (:func:`srgan.ops.metrics.block_profile`) whether their
steps were only moved off the border, into the block, and ``flat_noise`` (:func:`srgan.ops.metrics.flat_noise`) how
much texture was drawn where the photo is flat (a GAN's speckle on a blurred, noisy JPEG). Gray images are compared
as R = G = B. The output alone is also scored by NIQE (no reference,
lower = more natural; :mod:`srgan.ops.niqe`) on Y with the same border; an image too small for NIQE (fewer
than two 96×96 blocks) is left out of that mean, with a note on stderr.

Denoising: clipped Gaussian noise of each σ (seed 0) is added to HR, the result quantised to 8 bits like a
saved photo; PSNR/SSIM on RGB of the noisy input and of the denoised output.
"""

from __future__ import annotations

import csv
import math
import sys
import time
from pathlib import Path

import numpy as np

from srgan.ops.degrade import add_gaussian_noise
from srgan.errors import SrganError
from srgan.io.read import read_u8

DEFAULT_SIGMAS = (0.1, 0.2, 0.4, 0.5)


def find_dataset(spec: str | Path, scale: int) -> tuple[str, list[tuple[Path, Path | None]]]:
    """(name, [(hr_path, lr_path or None)]) for a benchmark folder, a flat folder or a .txt list."""
    from srgan.train.data import find_image_files, read_path_list

    p = Path(spec)
    if p.is_file() and p.suffix == ".txt":
        return p.stem, [(hr, None) for hr in read_path_list(p)]
    if not p.is_dir():
        raise SrganError(f"{p}: dataset not found (a benchmark folder with HR/, a folder of images, or a .txt list)")
    if not (p / "HR").is_dir() and (p / "LR_bicubic").is_dir():
        # Its images are inputs, not ground truth: scoring them as HR would print meaningless numbers.
        raise SrganError(f"{p}: has LR_bicubic/ but no HR/ folder; a benchmark folder needs its HR images")
    if (p / "HR").is_dir():
        hrs = find_image_files(p / "HR")
        lr_dir = p / "LR_bicubic" / f"X{scale}"
        pairs = []
        for hr in hrs:
            lr = None
            if lr_dir.is_dir():
                lr = lr_dir / hr.relative_to(p / "HR")
                if not lr.is_file():
                    raise SrganError(f"{lr}: LR image missing for {hr.name}")
            pairs.append((hr, lr))
    else:
        pairs = [(hr, None) for hr in find_image_files(p)]
    if not pairs:
        raise SrganError(f"{p}: no images found")
    return p.name, pairs


def _rgb(a: np.ndarray) -> np.ndarray:
    return np.repeat(a, 3, axis=2) if a.ndim == 3 and a.shape[2] == 1 else a


def load_upscaler(model: str, scale: int, device: str, precision: str, peers_dir: str | None = None):
    """A function uint8 H×W×C → uint8 H·s×W·s×C, plus its name, kind and content backbone."""
    from srgan.ops.imresize import imresize_uint8

    if model == "bicubic":
        return (lambda lr: imresize_uint8(lr, scale=scale)), "bicubic", "bicubic", "none"
    if model.startswith("peer:"):
        from srgan.bench.peers import load_peer

        fn, name, kind = load_peer(model[len("peer:"):], scale, peers_dir)
        return fn, name, kind, "none"
    from srgan.infer.model import load

    m = load(model, device=device, precision=precision)
    if m.kind != "denoiser" and m.scale != scale:
        raise SrganError(f"model {model} is ×{m.scale}, but --scale is {scale}")
    if m.takes_sigma:
        def told(pixels: np.ndarray, sigma: float | None = None) -> np.ndarray:
            return m.run_array(pixels, sigma=sigma)

        told.takes_sigma = True
        return told, m.name, m.kind, m.card.get("backbone", "none")
    return m.run_array, m.name, m.kind, m.card.get("backbone", "none")


def evaluate(
    model: str,
    datasets: list[str],
    scale: int = 4,
    noise: list[float] | None = None,
    device: str = "auto",
    precision: str = "fp32",
    max_images: int | None = None,
    per_image_csv: str | Path | None = None,
    peers_dir: str | Path | None = None,
    with_niqe: bool = True,
    per_image_rows: list[dict] | None = None,
    degrade: str = "bicubic",
    sigma_given: bool = False,
) -> list[dict]:
    """Per-dataset means (a dict per dataset, or per dataset and σ for denoisers); see the module docstring.

    A denoiser with a noise-level input estimates σ from each noisy image, as ``srgan denoise`` does without
    ``--sigma``; ``sigma_given`` tells it the true σ instead (classical peers are always told it).

    Every image's metrics (dataset, image, model[, sigma] and each metric) go to ``per_image_csv`` and are
    appended to the list ``per_image_rows``, when given. ``with_niqe=False`` skips NIQE (the ``niqe``
    fields are then None), which saves about 35 ms per BSD100-sized image.
    """
    if scale not in (2, 3, 4, 8):
        raise SrganError(f"--scale must be 2, 3, 4 or 8, not {scale}")
    from srgan.ops.realistic import PRESETS

    if degrade not in PRESETS:
        raise SrganError(f"--degrade must be one of {', '.join(PRESETS)}, not {degrade!r}")
    fn, name, kind, backbone = load_upscaler(model, scale, device, precision, peers_dir)
    if kind == "denoiser":
        results, rows = _evaluate_denoiser(fn, name, datasets, list(noise or DEFAULT_SIGMAS), max_images, sigma_given)
    elif noise or sigma_given:
        raise SrganError(f"{'--noise' if noise else '--sigma-given'} applies to denoiser models only")
    else:
        results, rows = _evaluate_upscaler(fn, name, backbone, datasets, scale, max_images, with_niqe, degrade)
    if per_image_csv:
        write_csv(per_image_csv, rows)
    if per_image_rows is not None:
        per_image_rows.extend(rows)
    return results


def benchmark_pair(hr_path: Path, lr_path: Path | None, scale: int, degrade: str = "bicubic") -> tuple[np.ndarray, np.ndarray]:
    """(HR, the model's input) as every benchmark here makes them: HR cut to a multiple of ``scale``; the set's own
    LR file, else the MATLAB-bicubic ×1/scale of HR; then the ``degrade`` preset, seeded by the file name."""
    from srgan.ops.imresize import imresize_uint8
    from srgan.ops.realistic import apply_preset, preset_rng

    hr = read_u8(hr_path)
    h, w = hr.shape[0] - hr.shape[0] % scale, hr.shape[1] - hr.shape[1] % scale
    if h < scale * 2 or w < scale * 2:  # its LR would be a pixel or none: nothing to measure
        raise SrganError(f"{hr_path}: {hr.shape[1]}×{hr.shape[0]} is too small to score at ×{scale} "
                         f"(at least {2 * scale}×{2 * scale})")
    hr = np.ascontiguousarray(hr[:h, :w])
    if lr_path is not None:
        lr = read_u8(lr_path)
        if lr.shape[:2] != (h // scale, w // scale):
            raise SrganError(f"{lr_path}: LR size {lr.shape[1]}×{lr.shape[0]} does not match HR {w}×{h} / {scale}")
        if lr.shape[2] != hr.shape[2]:
            lr, hr = _rgb(lr), _rgb(hr)
    else:
        lr = imresize_uint8(hr, scale=1 / scale)
    return hr, apply_preset(lr, degrade, preset_rng(hr_path.name))


def _evaluate_upscaler(fn, name, backbone, datasets, scale, max_images, with_niqe, degrade="bicubic") -> tuple[list[dict], list[dict]]:
    from srgan.ops.metrics import block_profile, blockiness, flat_noise, hf_ratio, psnr_rgb, psnr_y, ssim_rgb, ssim_y
    from srgan.ops.realistic import JPEG_BLOCK

    results, rows, no_niqe = [], [], []
    for spec in datasets:
        ds_name, pairs = find_dataset(spec, scale)
        pairs = pairs[:max_images] if max_images else pairs
        m = {"psnr_y": [], "ssim_y": [], "psnr_rgb": [], "ssim_rgb": [], "hf_ratio": [], "blockiness": [], "block_profile": [],
             "flat_noise": []}
        niqes = []
        seconds, megapixels = 0.0, 0.0
        for hr_path, lr_path in pairs:
            hr, lr = benchmark_pair(hr_path, lr_path, scale, degrade)
            t0 = time.perf_counter()
            sr = fn(lr)
            seconds += time.perf_counter() - t0
            megapixels += sr.shape[0] * sr.shape[1] / 1e6
            sr3, hr3 = _rgb(sr), _rgb(hr)
            vals = {
                "psnr_y": psnr_y(sr3, hr3, border=scale), "ssim_y": ssim_y(sr3, hr3, border=scale),
                "psnr_rgb": psnr_rgb(sr3, hr3, border=scale), "ssim_rgb": ssim_rgb(sr3, hr3, border=scale),
                "hf_ratio": hf_ratio(sr3, hr3, border=scale),
                "blockiness": (blockiness(sr3, period=JPEG_BLOCK * scale, scale=scale)
                               if min(sr3.shape[:2]) > JPEG_BLOCK * scale else math.nan),
                "block_profile": (block_profile(sr3, hr3, scale=scale, block=JPEG_BLOCK)
                                  if min(sr3.shape[:2]) >= 2 * JPEG_BLOCK * scale else math.nan),
                "flat_noise": flat_noise(sr3, hr3, border=scale),
            }
            for k, v in vals.items():
                m[k].append(v)
            vals["niqe"] = _niqe_or_none(sr3, scale) if with_niqe else None
            if vals["niqe"] is not None:
                niqes.append(vals["niqe"])
            elif with_niqe:
                no_niqe.append(f"{ds_name}/{hr_path.name}")
            rows.append({"dataset": ds_name, "image": hr_path.name, "model": name, "degrade": degrade, **vals})
        results.append({
            "dataset": ds_name, "model": name, "scale": scale, "images": len(pairs), "degrade": degrade,
            **{k: _nanmean(v) for k, v in m.items()},
            "niqe": round(float(np.mean(niqes)), 4) if niqes else None,
            "seconds_per_mp": round(seconds / megapixels, 4) if megapixels else None,
            "backbone": backbone,
        })
    if no_niqe:
        shown = ", ".join(no_niqe[:5]) + (f" and {len(no_niqe) - 5} more" if len(no_niqe) > 5 else "")
        print(f"srgan: note: NIQE left out of the mean for {len(no_niqe)} output(s) it cannot measure (it needs two "
              f"96×96 blocks with texture after the {scale}-pixel border): {shown}", file=sys.stderr)
    return results, rows


def _niqe_or_none(sr: np.ndarray, scale: int) -> float | None:
    """NIQE of an SR output on Y with the PSNR border, or None when NIQE cannot measure it (too small, flat)."""
    from srgan.ops.niqe import NiqeUndefined, niqe

    try:
        return niqe(sr, crop_border=scale)
    except NiqeUndefined:
        return None


def _evaluate_denoiser(fn, name, datasets, sigmas, max_images, sigma_given=False) -> tuple[list[dict], list[dict]]:
    from srgan.ops.metrics import psnr_rgb, ssim_rgb

    # What the denoiser knew of σ: "given" (told the true σ; classical peers always are), "estimated" (a learned
    # one with a noise-level input, from the noisy image) or "blind" (no such input).
    if getattr(fn, "needs_sigma", False):
        mode = "given"
    elif getattr(fn, "takes_sigma", False):
        mode = "given" if sigma_given else "estimated"
    else:
        mode = "blind"
    results, rows = [], []
    for spec in datasets:
        ds_name, pairs = find_dataset(spec, 4)
        pairs = pairs[:max_images] if max_images else pairs
        clean = [_rgb(read_u8(hr)) for hr, _ in pairs]
        for sigma in sigmas:
            if not 0 <= sigma <= 1:
                raise SrganError(f"--noise {sigma}: σ must be on the [0, 1] scale")
            rng = np.random.default_rng(0)
            m = {"noisy_psnr_rgb": [], "noisy_ssim_rgb": [], "psnr_rgb": [], "ssim_rgb": []}
            for (hr_path, _), hr in zip(pairs, clean):
                noisy = add_gaussian_noise(hr, sigma, rng)
                out = _rgb(fn(noisy, sigma) if mode == "given" else fn(noisy))
                vals = {
                    "noisy_psnr_rgb": psnr_rgb(noisy, hr, border=0), "noisy_ssim_rgb": ssim_rgb(noisy, hr, border=0),
                    "psnr_rgb": psnr_rgb(out, hr, border=0), "ssim_rgb": ssim_rgb(out, hr, border=0),
                }
                for k, v in vals.items():
                    m[k].append(v)
                rows.append({"dataset": ds_name, "image": hr_path.name, "model": name, "sigma": sigma, "sigma_input": mode, **vals})
            results.append({
                "dataset": ds_name, "model": name, "scale": 1, "images": len(pairs), "sigma": sigma, "sigma_input": mode,
                **{k: round(float(np.mean(v)), 4) for k, v in m.items()},
            })
    return results, rows


def _nanmean(values: list[float]) -> float | None:
    """The mean of the values a metric could measure (NaN where it could not: a flat photo's texture ratios),
    rounded; None when it measured none."""
    kept = [v for v in values if not np.isnan(v)]
    return round(float(np.mean(kept)), 4) if kept else None


def write_csv(path: str | Path, rows: list[dict], decimals: int | None = None) -> None:
    """Rows (dicts with the first row's keys) as CSV at ``path``, atomically: a failed write leaves ``path`` as it was.

    ``decimals`` rounds float cells (the committed report CSVs use 4: more than the metrics mean, and
    small diffs); None writes them in full. None cells are empty; no rows make an empty file.
    """
    from srgan.io.files import atomic_path

    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        if rows:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows if decimals is None else ({k: _rounded(v, decimals) for k, v in r.items()} for r in rows))


def _rounded(v, decimals: int):
    return f"{v:.{decimals}f}" if isinstance(v, (float, np.floating)) else v


def print_table(results: list[dict], file=None) -> None:
    file = file or sys.stdout
    if not results:
        return
    if "sigma" in results[0]:
        cols = ["dataset", "model", "sigma", "sigma_input", "images", "noisy_psnr_rgb", "noisy_ssim_rgb", "psnr_rgb", "ssim_rgb"]
    else:
        cols = ["dataset", "model", "scale", "images", "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "hf_ratio", "niqe",
                "seconds_per_mp"]
        if any(r.get("degrade", "bicubic") != "bicubic" for r in results):
            cols[3:3] = ["degrade"]
            cols[-1:-1] = ["blockiness", "block_profile", "flat_noise"]
    cells = [[_fmt(r.get(c)) for c in cols] for r in results]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)), file=file)
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)), file=file)
    backbones = sorted({r.get("backbone", "none") for r in results} - {"none", None})
    if backbones:
        print(f"content-loss backbone: {', '.join(backbones)}", file=file)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return "" if v is None else str(v)
