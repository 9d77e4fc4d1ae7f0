"""docs/RESULTS.md as text: the report's measurements rendered as markdown, with nothing measured here.

:func:`render` takes what :mod:`srgan.bench.report` measured (the ×4 rows, the denoising section, the
figures, the machine) and returns the whole file. Every table row comes with the ``srgan evaluate``
command that reproduces it, so the text, not only the numbers, is part of the report's format.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path

import numpy as np


def describe_machine(checkout: Path | None = None) -> dict:
    """CPU, cores, torch threads and versions, the date, and the commit of ``checkout`` (``unknown`` without one)."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu, "cores": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "python": platform.python_version(), "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": (_commit(checkout) if checkout else "") or "unknown", "load": load,
    }


def _commit(checkout: Path) -> str:
    """The short commit of the checkout, marked when tracked files differ from it; empty without git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=checkout, capture_output=True, text=True, timeout=10).stdout

    try:
        commit = git("rev-parse", "--short", "HEAD").strip()
        if commit and git("status", "--porcelain", "--untracked-files=no").strip():
            commit += " (with uncommitted changes)"
    except (OSError, subprocess.SubprocessError):
        return ""
    return commit


def rel(path) -> str:
    """Relative to the working directory when that reads well (``../shared/...``), else absolute."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(Path(path).resolve()) if relative.startswith(f"..{os.sep}..") else relative


def find_name(spec: str) -> str:
    """A dataset's name as evaluate reports it: a folder's name, a .txt list's stem."""
    p = Path(spec)
    return p.stem if p.suffix == ".txt" else p.name


def _cell(v, digits: int) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _skipped(notes: list[str]) -> list[str]:
    return ["", "Skipped or noted:", ""] + [f"- {s}" for s in notes] if notes else []


# ------------------------------------------------------------------------------------------ the file


def render(*, machine, datasets, sr_rows, skipped, den, real, figures, quick, seconds, cmd_extra, peers_root) -> str:
    """The whole RESULTS.md: header and machine, the ×4 section, real photos, the denoising section, the figures."""
    out = _header(machine, quick, seconds)
    out += sr_text(datasets, sr_rows, skipped, quick, cmd_extra, peers_root)
    out += real_text(real, machine, cmd_extra)
    out += denoise_text(den, quick)
    out += figures_text(figures)
    return "\n".join(out).rstrip() + "\n"


def _header(machine: dict, quick: bool, seconds: float) -> list[str]:
    out = ["# Results", ""]
    out.append(
        f"Written by `srgan report` on {machine['date']} at commit {machine['commit']} in {seconds / 60:.0f} min. "
        "Do not edit by hand: run `make report` (or `srgan report --out docs`) again."
    )
    if quick:
        out += ["", "**Quick run (`--quick`): the first images of each dataset only, NL-means tuned on the test image, "
                "no BM3D. These numbers are a smoke test, not results.**"]
    load = f", load average {machine['load']:.1f} when it started" if machine["load"] is not None else ""
    out += [
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['threads']} thread(s) per model "
        f"(OMP_NUM_THREADS), torch {machine['torch']}, Python {machine['python']}{load}. "
        "Seconds per output megapixel (s/MP) are wall-clock on this CPU, shared with other jobs: compare them "
        "within one report, not across machines.",
    ]
    return out


_SR_PROTOCOL = (
    "Protocol (`srgan evaluate`): the benchmark sets' standard MATLAB-bicubic LR inputs (`LR_bicubic/X4`); "
    "the validation cats (`configs/cats_val.txt`, JPEG photos) get their LR from our MATLAB-compatible "
    "`imresize`. PSNR and SSIM on the Y channel (BT.601) with 4 border pixels removed, as in Ledig et al. "
    "`hf_ratio` is the high-frequency energy of the output over the ground truth's (1 = as much fine "
    "texture as the truth; below 1 = too smooth, above 1 = invented detail or noise). NIQE (Mittal et al. 2013) "
    "scores the output alone against a model of pristine natural photos (lower = more natural), on Y with "
    "the same 4-pixel border, computed as BasicSR and the authors' MATLAB code do; an output smaller than "
    "two 96×96 blocks is left out of its mean (– when none is left)."
)


def sr_text(datasets, sr_rows, skipped, quick, cmd_extra, peers_root) -> list[str]:
    """The ×4 section: a PSNR/SSIM overview, a full table per dataset, the commands, what was skipped."""
    ds_names = [find_name(d) for d in datasets]
    out = ["", "## ×4 super-resolution", "", _SR_PROTOCOL, "", "### PSNR-Y (dB) / SSIM-Y", "",
           "| method | " + " | ".join(ds_names) + " |", "|---|" + "---|" * len(ds_names)]
    for _, title, res in sr_rows:
        by = {r["dataset"]: r for r in res}
        cells = [f"{by[n]['psnr_y']:.2f} / {by[n]['ssim_y']:.4f}" if n in by else "–" for n in ds_names]
        out.append(f"| {title} | " + " | ".join(cells) + " |")
    for n in ds_names:
        out += ["", f"### {n}", "", "| method | PSNR-Y | SSIM-Y | PSNR-RGB | hf_ratio | NIQE | s/MP |",
                "|---|---|---|---|---|---|---|"]
        for _, title, res in sr_rows:
            r = next((r for r in res if r["dataset"] == n), None)
            if r:
                out.append(f"| {title} | {r['psnr_y']:.2f} | {r['ssim_y']:.4f} | {r['psnr_rgb']:.2f} | "
                           f"{r['hf_ratio']:.2f} | {_cell(r.get('niqe'), 2)} | {_cell(r['seconds_per_mp'], 2)} |")
    out += ["", "Per image: [results/x4_per_image.csv](results/x4_per_image.csv).", "",
            "Reproduce a row (from the repository root):", ""]
    data_args = " ".join(rel(d) for d in datasets)
    limit = " --max-images 2" if quick else ""
    for model, title, _ in sr_rows:
        out.append(f"- {title}: `srgan evaluate --model {model} --data {data_args}{limit}{cmd_extra}`")
    out += ["", f"Peers are read from `{rel(peers_root)}` (never copied into the repository)."]
    return out + _skipped(skipped)


def figures_text(figures: list[dict]) -> list[str]:
    """Each figure as a heading and its image with the caption, or the note saying why it is missing."""
    out = ["", "## Figures", ""]
    for fig in figures:
        out += [f"### {fig['title']}", ""] + _figure(fig)
    return out


def _figure(fig: dict) -> list[str]:
    """The image (linked relative to the report, one folder above figures/) and its caption, or the note."""
    if not fig.get("path"):
        return [fig["note"], ""]
    link = os.path.relpath(fig["path"], Path(fig["path"]).parents[1])
    return [f"![{fig['title']}]({link})", "", fig["caption"], ""]


# ------------------------------------------------------------------------------------------ real photos


def describe_preset(name: str) -> str:
    """A ``srgan evaluate --degrade`` preset in words, from its settings (``JPEG 75``, ``blur σ 1 px + JPEG 70``)."""
    from srgan.ops.realistic import PRESETS

    blur, sigma, quality = PRESETS[name]
    steps = ([f"blur σ {blur:g} px"] if blur else []) + ([f"noise σ {sigma:g}"] if sigma else [])
    steps += [f"JPEG {quality}"] if quality else []
    return " + ".join(steps) or "clean bicubic input"


def real_text(real: dict, machine: dict, cmd_extra: str) -> list[str]:
    """The real-photo section: the inputs, what blockiness is, the method × preset table, the commands, the figure."""
    presets, names = real["presets"], [find_name(d) for d in real["datasets"]]
    n = real["max_images"]
    images = {(r["dataset"], r["image"]) for r in real["rows"]}
    out = [
        "", "## Real photos: JPEG, blur and noise", "",
        "What people upscale is rarely the benchmark's clean bicubic LR: it is a JPEG, often a little blurred or "
        f"noisy. Inputs: {_count(len(images), 'photo')}, the first {n} of each of {', '.join(names)}, each taken down "
        "by the protocol's MATLAB-bicubic ×¼ (the set's own `LR_bicubic/X4` where it has one) and then through each "
        "`srgan evaluate --degrade` preset, seeded by its file name (Gaussian blur, noise σ on the 0..1 scale, JPEG "
        "quality; the clean bicubic input is there for reference).",
        "",
        "**Blockiness** is the output's mean luma step across its 32-px grid (where the LR's 8×8 JPEG blocks land "
        "after ×4) over the mean step across its other lines of the same 4-px phase: ≈ 1.0 means no JPEG tiles, "
        "and every step above it is a tile edge drawn into the picture. PSNR-Y and NIQE barely notice tiles, so "
        "read the three together and look at the crops below.",
    ]
    if real["methods"]:
        out += ["", "| method | " + " | ".join(describe_preset(p) for p in presets) + " |",
                "|---|" + "---|" * len(presets)]
        for _, title, by in real["methods"]:
            out.append(f"| {title} | " + " | ".join(_real_cell(by.get(p)) for p in presets) + " |")
        out += ["", "Each cell: PSNR-Y (dB) / NIQE / blockiness, the mean over all the photos (`srgan evaluate` prints "
                "each set's mean; NIQE leaves out an output too small for it, – when none is left)."]
    out += ["", f"Measured on the machine above ({machine['cpu']}, {machine['cores']} cores, {machine['threads']} "
            "thread(s) per model)."]
    peer = next(((m, title) for m, title, _ in real["methods"] if m.startswith("peer:")), None)
    if peer and real["seconds_per_mp"].get(peer[0]) is not None:
        # The subset's size is set by this one method's speed: say what it was, so the choice can be checked.
        out[-1] += (f" {peer[1]} ran at {real['seconds_per_mp'][peer[0]]:.1f} s per output megapixel here (the mean "
                    "of its runs in this section), which is why the section takes a subset.")
    out += ["", "Per image: [results/real_per_image.csv](results/real_per_image.csv).", "",
            "Reproduce a row (from the repository root; one `srgan evaluate` per preset):", ""]
    data_args = " ".join(rel(d) for d in real["datasets"])
    for model, title, _ in real["methods"]:
        out.append(f"- {title}: `for d in {' '.join(presets)}; do srgan evaluate --model {model} --data {data_args} "
                   f"--max-images {n} --degrade $d{cmd_extra}; done`")
    if real.get("figure"):
        out += ["", f"### {real['figure']['title']}", ""] + _figure(real["figure"])
    return out + _skipped(real["notes"])


def _real_cell(m: dict | None) -> str:
    return "–" if m is None else f"{_cell(m['psnr_y'], 2)} / {_cell(m['niqe'], 2)} / {_cell(m['blockiness'], 2)}"


# ------------------------------------------------------------------------------------------ denoising


def denoise_text(den: dict, quick: bool) -> list[str]:
    """The denoising section: the protocol, the tuned h, the tables (all images, the BM3D subset), the commands."""
    name = find_name(den["target"])
    out = [
        "", "## Denoising", "",
        f"Protocol (`srgan evaluate --noise`): {name} HR images, clipped Gaussian noise of each σ (on the 0..1 "
        "scale, seed 0) quantised to 8 bits; PSNR-RGB (dB) / SSIM-RGB of the output against the clean image.",
    ]
    if den["h"]:
        hs = ", ".join(f"σ {s:g}: h = {h:g}" for s, h in den["h"].items())
        out += ["", f"OpenCV `fastNlMeansDenoisingColored` (template 7, search 21, hColor = h), h tuned per σ "
                f"for the best mean PSNR-RGB on the first {den['tune_images']} images of {find_name(den['tune_on'])} "
                f"(a grid of multiples of 255σ, then a finer one): **{hs}**."]
    all_images = {r["image"] for r in den["rows"] if r["method"] != "bm3d"}
    if all_images:
        out += _denoise_table(den, f"### {name}, {_count(len(all_images), 'image')}", None)
    subset = sorted({r["image"] for r in den["rows"] if r["method"] == "bm3d"})
    if subset:
        out += ["", f"BM3D (PyPI `bm3d`, `bm3d_rgb`, told σ) takes tens of seconds per image on this machine, so it runs "
                f"on a fixed subset, the first {len(subset)} images of {name}: {', '.join(subset)}. The table below "
                "averages every method over that same subset."]
        out += _denoise_table(den, f"### {name}, first {len(subset)} images (the BM3D subset)", set(subset))
    return out + _denoise_commands(den) + _skipped(den["notes"])


def _denoise_table(den: dict, heading: str, images: set[str] | None) -> list[str]:
    """Mean PSNR / SSIM per method and σ over ``images`` (None: all; BM3D, measured on a subset, is then left out)."""
    sigmas = den["sigmas"]
    lines = ["", heading, "", "| method | " + " | ".join(f"σ = {s:g}" for s in sigmas) + " |",
             "|---|" + "---|" * len(sigmas)]
    for key, title, _ in [("noisy", "noisy input", None)] + den["methods"]:
        if key == "bm3d" and images is None:
            continue
        cells = []
        for s in sigmas:
            rows = [r for r in den["rows"] if float(r["sigma"]) == s and (images is None or r["image"] in images)]
            if key == "noisy":  # the same noise for every method: take each image once
                rows = list({r["image"]: r for r in rows}.values())
                vals = [(float(r["noisy_psnr_rgb"]), float(r["noisy_ssim_rgb"])) for r in rows]
            else:
                vals = [(float(r["psnr_rgb"]), float(r["ssim_rgb"])) for r in rows if r["method"] == key]
            # evaluate() averages per-image values, so this mean is its table's mean.
            cells.append("–" if not vals else "{:.2f} / {:.4f}".format(*np.mean(vals, axis=0)))
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return lines


def _denoise_commands(den: dict) -> list[str]:
    tgt = rel(den["target"])
    limit = f" --max-images {den['max_images']}" if den["max_images"] else ""
    out = ["", "Per image: [results/denoise_per_image.csv](results/denoise_per_image.csv).", "", "Reproduce:", ""]
    for s, h in den["h"].items():
        out.append(f"- NL-means σ {s:g} (and the noisy row): `srgan evaluate --model peer:nlmeans:h={h:g} --data {tgt} "
                   f"--noise {s:g}{limit}`")
    noise = " ".join(f"{s:g}" for s in den["sigmas"])
    for key, title, _ in den["methods"]:
        if key == "bm3d":
            out.append(f"- {title}: `srgan evaluate --model peer:bm3d --data {tgt} --noise {noise} "
                       f"--max-images {den['bm3d_images']}`")
        elif key != "nlmeans":
            out.append(f"- {title}: `srgan evaluate --model {key} --data {tgt} --noise {noise}{limit}`")
    if den["h"]:
        out.append("- The h tuning: `srgan report` (`tune_nlmeans` in src/srgan/bench/report.py).")
    return out
