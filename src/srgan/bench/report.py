"""``srgan report``: measure bicubic, the peers and our shipped models in one run and write docs/RESULTS.md.

Every number comes from :func:`srgan.bench.evaluate.evaluate`, the one protocol (PSNR/SSIM-Y with a border of
``scale``, ``hf_ratio``, NIQE, seconds per output megapixel; clipped Gaussian noise with seed 0 for denoising),
so each table row can be reproduced alone with the ``srgan evaluate`` command printed beside it.

Output, under ``--out`` (default ``docs``)::

    RESULTS.md                       the tables, the machine, the commands, the skipped peers
    results/x4_per_image.csv         every ×4 method on every image
    results/denoise_per_image.csv    every denoiser on every image and σ
    figures/*.png                    small crops: SR comparison, restore panel, training progress

Peers come from ``../shared/peers`` (or ``--peers`` / ``$SRGAN_PEERS_DIR``) and are never copied here; a peer
whose files or package are missing is skipped with a note in the report.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from srgan.errors import SrganError
from srgan.bench.evaluate import DEFAULT_SIGMAS, evaluate

SCALE = 4
REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"

# NL-means h is searched as multiples of 255σ (the noise's std in pixel values): a coarse grid, then a
# finer one around the best. The validation cats are outside BSD100, so the tuning does not see the test.
_NLM_COARSE = (0.3, 0.45, 0.6, 0.75, 0.9, 1.1, 1.3)
_NLM_FINE = (-0.1, -0.05, 0.05, 0.1)
NLM_TUNE_IMAGES = 20
BM3D_IMAGES = 10

# The image and HR region (y, x, size) of the SR comparison figure: a tiger's eyes, where fur, whiskers
# and edges show how each model treats texture. Shown enlarged ×2 (nearest) so the pixels can be seen.
SR_FIGURE = ("BSD100", "img_007.png", (96, 300, 64))
FIGURE_ZOOM = 2
# Faces at 1:1, where a GAN's halos (eyes, lips) and wrinkles (smooth skin) show first: Set5's baby (eye,
# nose and cheek) and Set14's face (eye and freckled cheek). The models a user chooses between: HR, bicubic,
# our shipped ×4 models and Real-ESRGAN x4plus, the GAN people reach for.
FACE_FIGURE = (("Set5", "img_001.png", (150, 110, 160)), ("Set14", "img_006.png", (96, 100, 120)))
FACE_MODELS = ("bicubic", "srresnet-x4", "srgan-x4", "peer:realesrgan-x4plus")


def log(msg: str) -> None:
    print(f"report: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ the run


def run_report(
    out: str | Path = "docs",
    datasets: list[str] | None = None,
    quick: bool = False,
    peers_dir: str | None = None,
    srgan_run: str | None = None,
    bm3d_images: int | None = None,
    device: str = "cpu",
) -> Path:
    """Measure everything and write the report; returns the path of RESULTS.md."""
    from srgan.bench.peers import SR_PEERS, peers_dir as find_peers

    out = Path(out)
    peers_root = find_peers(peers_dir)
    datasets = datasets or default_datasets(quick)
    max_images = 2 if quick else None
    started = time.time()
    machine = describe_machine()
    cmd_extra = f" --peers {_rel(peers_root)}" if peers_dir else ""

    ours = shipped_by_kind()
    # ---- ×4 super-resolution
    methods = [("bicubic", "bicubic")] + [(f"peer:{n}", t) for n, t in SR_PEERS.items()]
    methods += [(name, f"{name} (ours)") for name in ours["srresnet"] + ours["srgan"]]
    sr_rows, sr_images, skipped = [], [], []
    for model, title in methods:
        res, rows, note = _measure(model, datasets, max_images=max_images, peers_dir=peers_dir, device=device)
        if note:
            skipped.append(note)
            continue
        for r in res:
            r["title"] = title
        sr_rows.append((model, title, res))
        sr_images += rows
    if not ours["srresnet"] + ours["srgan"]:
        skipped.append("Ours: no ×4 model is shipped yet (src/srgan/weights/srresnet-x4 / srgan-x4).")
    if not quick:
        skipped.append("Real-ESRGAN animevideov3 is an anime model, listed as a side reference only.")

    # ---- denoising
    den = denoise_section(
        datasets, quick, peers_dir, device, ours["denoiser"],
        bm3d_images=(0 if quick else BM3D_IMAGES) if bm3d_images is None else bm3d_images,
    )

    # ---- figures
    figures_dir = out / "figures"
    figures = [sr_figure(figures_dir, datasets, [m for m, _, _ in sr_rows], peers_dir, device)]
    if not quick:
        figures.append(face_figure(figures_dir, datasets, peers_dir, device))
    figures.append(restore_figure(figures_dir, ours, device))
    figures.append(progress_figure(figures_dir, srgan_run))

    # ---- files
    (out / "results").mkdir(parents=True, exist_ok=True)
    _write_rows(out / "results" / "x4_per_image.csv", sr_images)
    _write_rows(out / "results" / "denoise_per_image.csv", den["rows"])
    text = render(
        machine=machine, datasets=datasets, sr_rows=sr_rows, skipped=skipped, den=den, figures=figures,
        quick=quick, seconds=time.time() - started, cmd_extra=cmd_extra, peers_root=peers_root,
    )
    path = out / "RESULTS.md"
    from srgan.io.images import atomic_write_bytes

    atomic_write_bytes(path, text.encode())
    log(f"wrote {path} in {time.time() - started:.0f} s")
    return path


def default_datasets(quick: bool) -> list[str]:
    """Set5, Set14, BSD100 from ../shared and the validation cats (configs/cats_val.txt); Set5 alone when quick."""
    bench = SHARED / "data" / "benchmark"
    found = [str(bench / s) for s in ("Set5", "Set14", "BSD100") if (bench / s / "HR").is_dir()]
    cats = REPO / "configs" / "cats_val.txt"
    if cats.is_file() and (SHARED / "data" / "cats").is_dir():
        found.append(str(cats))
    if not found:
        raise SrganError(f"no benchmark data under {bench}; pass --datasets DIR ...")
    return found[:1] if quick else found


def shipped_by_kind() -> dict[str, list[str]]:
    """Names of the shipped models of each kind, read from their cards (or their weights when a card lacks it)."""
    from srgan.models import zoo

    kinds: dict[str, list[str]] = {"srresnet": [], "srgan": [], "denoiser": []}
    for name, path in zoo.shipped_models().items():
        kind = zoo.read_card(path).get("kind")
        if kind not in kinds:
            _, kind = zoo.build_from_state(*zoo.load_state(path))
        kinds[kind].append(name)
    return kinds


def _measure(model: str, datasets: list[str], **kw) -> tuple[list[dict], list[dict], str | None]:
    """evaluate() plus its per-image rows; a missing or broken peer gives a note instead."""
    from srgan.bench.peers import PeerUnavailable

    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "rows.csv"
        try:
            results = evaluate(model, datasets, scale=SCALE, per_image_csv=str(csv_path), **kw)
        except PeerUnavailable as e:
            log(str(e))
            return [], [], str(e)
        except SrganError as e:
            if not model.startswith("peer:"):
                raise  # our own models and datasets must work; only other projects' files may be odd
            log(f"{model} failed: {e}")
            return [], [], f"{model} failed: {e}"
        rows = list(csv.DictReader(csv_path.open())) if csv_path.exists() else []
    log(f"{model}: {time.time() - t0:.0f} s")
    return results, rows, None


def _write_rows(path: Path, rows: list[dict]) -> None:
    from srgan.io.images import atomic_write_bytes
    import io

    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for r in rows:
            # Four decimals are more than the metrics mean and keep the committed CSVs small.
            writer.writerow({k: _short(v) for k, v in r.items()})
    atomic_write_bytes(path, buf.getvalue().encode())


def _short(v):
    try:
        return f"{float(v):.4f}"
    except ValueError:  # names, not numbers
        return v


# ------------------------------------------------------------------------------------------ denoising


def denoise_section(datasets, quick, peers_dir, device, denoisers, bm3d_images) -> dict:
    """NL-means tuned per σ on validation cats, then noisy / NL-means / BM3D / ours on BSD100 (or its subset).

    Returns the settings, ``methods`` = [(key, title, evaluate results)], the per-image rows (each tagged
    with its method's key) and notes on what was skipped.
    """
    sigmas = list(DEFAULT_SIGMAS)
    target = next((d for d in datasets if Path(d).name == "BSD100"), datasets[0])
    max_images = 1 if quick else None
    cats = REPO / "configs" / "cats_val.txt"
    # Quick runs tune on one image of the test set itself: a smoke test of the machinery, not a result.
    tune_on = str(cats) if cats.is_file() and (SHARED / "data" / "cats").is_dir() and not quick else target
    tune_images = 1 if quick else NLM_TUNE_IMAGES
    den = {"target": target, "sigmas": sigmas, "tune_on": tune_on, "tune_images": tune_images, "h": {},
           "methods": [], "rows": [], "notes": [], "bm3d_images": bm3d_images, "max_images": max_images}

    def add(key, title, model, sigmas, images):
        res, rows, note = _measure_denoise(model, target, sigmas, images, peers_dir, device)
        if note:
            den["notes"].append(note)
            return
        den["rows"] += [{"method": key, **r} for r in rows]
        known = next((m for m in den["methods"] if m[0] == key), None)
        if known:
            known[2].extend(res)
        else:
            den["methods"].append((key, title, res))

    try:
        import cv2  # noqa: F401
    except ImportError:
        den["notes"].append("OpenCV NL-means skipped: opencv-contrib-python-headless is not installed.")
    else:
        for sigma in sigmas:
            den["h"][sigma] = tune_nlmeans(sigma, tune_on, tune_images, quick)
            log(f"NL-means σ={sigma}: h={den['h'][sigma]:g} (tuned on {tune_images} images of {find_name(tune_on)})")
            add("nlmeans", "OpenCV NL-means (h tuned per σ)", f"peer:nlmeans:h={den['h'][sigma]:g}", [sigma], max_images)
    if bm3d_images:
        add("bm3d", "BM3D (σ given)", "peer:bm3d", sigmas, bm3d_images)
    else:
        den["notes"].append("BM3D skipped in --quick runs (tens of seconds per image); the full report runs it.")
    for name in denoisers:
        add(name, f"{name} (ours)", name, sigmas, max_images)
    if not denoisers:
        den["notes"].append("Ours: no denoiser is shipped yet (src/srgan/weights/denoiser.safetensors).")
    return den


def _measure_denoise(model, target, sigmas, max_images, peers_dir, device):
    from srgan.bench.peers import PeerUnavailable

    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "rows.csv"
        try:
            res = evaluate(model, [target], noise=sigmas, max_images=max_images, per_image_csv=str(csv_path),
                           peers_dir=peers_dir, device=device)
        except PeerUnavailable as e:
            return [], [], str(e)
        rows = list(csv.DictReader(csv_path.open()))
    log(f"{model} σ={','.join(map(str, sigmas))}: {time.time() - t0:.0f} s")
    return res, rows, None


def tune_nlmeans(sigma: float, data: str, images: int, quick: bool = False) -> float:
    """The h (rounded to 0.5) that maximises mean PSNR-RGB of NL-means at σ on ``data``'s first images."""
    scores: dict[float, float] = {}

    def score(h: float) -> float:
        h = max(0.5, round(h * 2) / 2)
        if h not in scores:
            res = evaluate(f"peer:nlmeans:h={h:g}", [data], noise=[sigma], max_images=images)
            scores[h] = res[0]["psnr_rgb"]
        return h

    coarse = (0.45, 0.75, 1.1) if quick else _NLM_COARSE
    for k in coarse:
        score(k * 255 * sigma)
    best_k = max(scores, key=scores.get) / (255 * sigma)
    if not quick:
        for dk in _NLM_FINE:
            score((best_k + dk) * 255 * sigma)
    return max(scores, key=scores.get)


# ------------------------------------------------------------------------------------------ figures


def _label_grid(rows: list[list[tuple[str, np.ndarray]]], pad: int = 3, label_h: int = 13):
    """Tiles in rows with a small caption under each; all tiles of a row the same height. A PIL image."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    # Pillow's built-in font has no Greek and no multiplication sign: they would print as empty boxes.
    ascii_label = lambda text: text.replace("σ", "sigma ").replace("×", "x")  # noqa: E731
    widths = [sum(t.shape[1] + pad for _, t in row) + pad for row in rows]
    heights = [max(t.shape[0] for _, t in row) + label_h + pad for row in rows]
    canvas = Image.new("RGB", (max(widths), sum(heights) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    y = pad
    for row, h in zip(rows, heights):
        x = pad
        for label, tile in row:
            tile = np.repeat(tile, 3, axis=2) if tile.ndim == 3 and tile.shape[2] == 1 else tile
            canvas.paste(Image.fromarray(np.ascontiguousarray(tile)), (x, y))
            draw.text((x + 1, y + tile.shape[0] + 1), ascii_label(label), fill="black", font=font)
            x += tile.shape[1] + pad
        y += h
    return canvas


def _save_png(image, path: Path) -> Path:
    from srgan.io.images import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", optimize=True)
    return path


def sr_figure(figures_dir: Path, datasets: list[str], models: list[str], peers_dir, device) -> dict:
    """HR | bicubic | each peer | ours on one crop of a benchmark image, each model run on the whole LR."""
    from srgan.io.images import read_u8
    from srgan.bench.evaluate import find_dataset, load_upscaler
    from srgan.bench.peers import SR_PEERS

    ds_name, image, (y, x, size) = SR_FIGURE
    spec = next((d for d in datasets if Path(d).name == ds_name), None)
    pairs = find_dataset(spec, SCALE)[1] if spec else []
    pair = next((p for p in pairs if p[0].name == image), None)
    if pair is None:  # quick runs and other datasets: the middle of the first image
        pair = find_dataset(datasets[0], SCALE)[1][0]
        ds_name, image = Path(datasets[0]).stem, pair[0].name
        hr = read_u8(pair[0])
        size = min(64, hr.shape[0], hr.shape[1]) // SCALE * SCALE
        y, x = (hr.shape[0] - size) // 2 // SCALE * SCALE, (hr.shape[1] - size) // 2 // SCALE * SCALE
    hr = read_u8(pair[0])
    lr = read_u8(pair[1]) if pair[1] else None
    if lr is None:
        from srgan.ops.imresize import imresize_uint8

        hr = hr[: hr.shape[0] // SCALE * SCALE, : hr.shape[1] // SCALE * SCALE]
        lr = imresize_uint8(hr, scale=1 / SCALE)
    crop = lambda a: np.repeat(np.repeat(a[y : y + size, x : x + size], FIGURE_ZOOM, 0), FIGURE_ZOOM, 1)  # noqa: E731
    tiles = [("HR", crop(hr))]
    for model in models:
        fn, *_ = load_upscaler(model, SCALE, device, "fp32", peers_dir)
        label = model.removeprefix("peer:")
        tiles.append((label if label in SR_PEERS or label == "bicubic" else f"{label} (ours)", crop(fn(lr))))
    per_row = 6
    rows = [tiles[i : i + per_row] for i in range(0, len(tiles), per_row)]
    path = _save_png(_label_grid(rows), figures_dir / "sr_comparison.png")
    return {"title": "×4 super-resolution, one crop", "path": path,
            "caption": f"{ds_name} {image}, HR crop {size}×{size} at x={x}, y={y}, shown ×{FIGURE_ZOOM} (nearest); "
            "every model ran on the whole LR image."}


def face_figure(figures_dir: Path, datasets: list[str], peers_dir, device, models=FACE_MODELS) -> dict:
    """HR | bicubic | our ×4 models | Real-ESRGAN x4plus on face crops at 1:1, each model run on the whole LR."""
    from srgan.io.images import read_u8
    from srgan.bench.evaluate import find_dataset, load_upscaler

    upscalers, missing = {}, []
    for model in models:
        try:
            upscalers[model] = load_upscaler(model, SCALE, device, "fp32", peers_dir)[0]
        except SrganError as exc:  # PeerUnavailable included
            missing.append(f"{model} ({str(exc).splitlines()[0]})")
    rows, where = [], []
    for ds_name, image, (y, x, size) in FACE_FIGURE:
        spec = next((d for d in datasets if Path(d).name == ds_name), None)
        pair = next((p for p in find_dataset(spec, SCALE)[1] if p[0].name == image), None) if spec else None
        if pair is None or pair[1] is None:
            continue
        hr, lr = read_u8(pair[0]), read_u8(pair[1])
        row = [("HR", hr[y : y + size, x : x + size])]
        for model, fn in upscalers.items():
            label = model.removeprefix("peer:")
            row.append((label if model.startswith("peer:") or model == "bicubic" else f"{label} (ours)",
                        fn(lr)[y : y + size, x : x + size]))
        rows.append(row)
        where.append(f"{ds_name} {image} at x={x}, y={y}, {size}×{size}")
    if not rows:
        return {"title": "×4 on faces, 1:1", "note": "Skipped: Set5/Set14 with their LR images are not among the datasets."}
    path = _save_png(_label_grid(rows), figures_dir / "face_comparison.png")
    note = f" Not shown: {'; '.join(missing)}." if missing else ""
    return {"title": "×4 on faces, 1:1", "path": path,
            "caption": f"HR crops ({'; '.join(where)}) at 1:1 with each model's output of the same region; every model "
            f"ran on the whole LR image. Look for halos at eyes and lips and wrinkles on smooth skin.{note}"}


def restore_figure(figures_dir: Path, ours: dict[str, list[str]], device: str) -> dict:
    """Rows per σ: noisy | denoised | generated (denoised, then ×4), on examples/chelsea.png."""
    title = "Restore: noisy | denoised | generated"
    upscalers = ours["srgan"] + ours["srresnet"]
    if not ours["denoiser"] or not upscalers:
        return {"title": title, "path": None, "note": "skipped: needs a shipped denoiser and a shipped ×4 model."}
    from srgan.io.images import read_u8
    from srgan.bench.evaluate import load_upscaler

    photo = REPO / "examples" / "chelsea.png"
    denoise, *_ = load_upscaler(ours["denoiser"][0], SCALE, device, "fp32")
    upscale, *_ = load_upscaler(upscalers[0], SCALE, device, "fp32")
    panel = restore_panel(read_u8(photo), denoise, upscale, DEFAULT_SIGMAS)
    path = _save_png(panel, figures_dir / "restore.png")
    return {"title": title, "path": path, "caption": f"examples/chelsea.png (CC0, outside the training data); "
            f"{ours['denoiser'][0]} then {upscalers[0]}; noisy and denoised shown enlarged ×4 (nearest)."}


def restore_panel(photo: np.ndarray, denoise, upscale, sigmas, box=(104, 200, 40)):
    """A PIL panel: per σ, the crop ``box`` = (y, x, size) of the noisy photo, the denoised one, and ×4."""
    from srgan.ops.degrade import add_gaussian_noise

    y, x, size = box
    rows = []
    for sigma in sigmas:
        noisy = add_gaussian_noise(photo, sigma, np.random.default_rng(0))
        clean = denoise(noisy)
        big = upscale(clean)
        crop = lambda a: a[y : y + size, x : x + size]  # noqa: E731
        near = lambda a: np.repeat(np.repeat(crop(a), SCALE, 0), SCALE, 1)  # noqa: E731
        up = big[y * SCALE : (y + size) * SCALE, x * SCALE : (x + size) * SCALE]
        rows.append([(f"noisy σ={sigma:g}", near(noisy)), ("denoised", near(clean)), ("generated ×4", up)])
    return _label_grid(rows)


def progress_figure(figures_dir: Path, run_dir: str | None) -> dict:
    title = "Training progress"
    if not run_dir:
        return {"title": title, "path": None, "note": "skipped: no run folder given (srgan report --srgan-run RUN_DIR)."}
    try:
        panel, caption = progress_panel(Path(run_dir))
    except SrganError as e:  # a run without samples yet must not sink an hour-long report at its end
        return {"title": title, "path": None, "note": f"skipped: {e}"}
    path = _save_png(panel, figures_dir / "training_progress.png")
    return {"title": title, "path": path, "caption": caption}


def progress_panel(run_dir: Path, steps: int = 5, tile: int = 96, images: int = 2):
    """LR | original | generated at a few steps, cut from the run's samples/step_*.png validation panels.

    Each sample panel has rows of [LR (nearest) | bicubic | output | HR] tiles (denoiser runs: [noisy |
    output | clean]), each tile padded by 2 white pixels; see train.Validator.panel.
    """
    import yaml

    from srgan.io.images import read_u8

    samples = sorted((run_dir / "samples").glob("step_*.png"))
    if not samples:
        raise SrganError(f"{run_dir}: no samples/step_*.png (has the run validated yet?)")
    kind = "srresnet"
    if (run_dir / "config.yaml").is_file():
        kind = (yaml.safe_load((run_dir / "config.yaml").read_text()) or {}).get("kind", kind)
    cols = 3 if kind == "denoiser" else 4
    n = min(steps, len(samples))
    picks = [samples[round(i * (len(samples) - 1) / max(n - 1, 1))] for i in range(n)]  # first, last, even between
    panels = [read_u8(p) for p in picks]
    cell = panels[0].shape[1] // cols
    n_rows = panels[0].shape[0] // cell if panels[0].shape[0] % cell == 0 else 1

    def tile_at(panel, row, col):
        t = panel[row * cell + 2 : (row + 1) * cell - 2, col * cell + 2 : (col + 1) * cell - 2]
        c = min(tile, t.shape[0], t.shape[1])
        y0, x0 = (t.shape[0] - c) // 2, (t.shape[1] - c) // 2
        return t[y0 : y0 + c, x0 : x0 + c]

    rows = []
    for r in range(min(images, n_rows)):
        first = panels[0]
        row = [("noisy" if cols == 3 else "LR", tile_at(first, r, 0)), ("original", tile_at(first, r, cols - 1))]
        for p, path in zip(panels, picks):
            row.append((f"step {int(path.stem.split('_')[1])}", tile_at(p, r, cols - 2)))
        rows.append(row)
    caption = f"{kind} run {run_dir.name}: validation images, centre {tile}×{tile} crop, at {_count(len(picks), 'step')}."
    return _label_grid(rows), caption


# ------------------------------------------------------------------------------------------ the text


def describe_machine() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        git = lambda *args: subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout  # noqa: E731
        commit = git("rev-parse", "--short", "HEAD").strip()
        if commit and git("status", "--porcelain", "--untracked-files=no").strip():
            commit += " (with uncommitted changes)"
    except (OSError, subprocess.SubprocessError):
        commit = ""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu, "cores": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "python": platform.python_version(), "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit or "unknown", "load": load,
    }


def _rel(path) -> str:
    """Relative to the working directory when that reads well (``../shared/...``), else absolute."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(Path(path).resolve()) if rel.startswith(f"..{os.sep}..") else rel


def _cell(v, digits: int) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def render(*, machine, datasets, sr_rows, skipped, den, figures, quick, seconds, cmd_extra, peers_root) -> str:
    ds_names = [find_name(d) for d in datasets]
    data_args = " ".join(_rel(d) for d in datasets)
    limit = " --max-images 2" if quick else ""
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
        "",
        "## ×4 super-resolution",
        "",
        "Protocol (`srgan evaluate`): the benchmark sets' standard MATLAB-bicubic LR inputs (`LR_bicubic/X4`); "
        "the validation cats (`configs/cats_val.txt`, JPEG photos) get their LR from our MATLAB-compatible "
        "`imresize`. PSNR and SSIM on the Y channel (BT.601) with 4 border pixels removed, as in Ledig et al. "
        "`hf_ratio` is the high-frequency energy of the output over the ground truth's (1 = as much fine "
        "texture as the truth; below 1 = too smooth, above 1 = invented detail or noise). NIQE (Mittal et al. 2013) "
        "scores the output alone against a model of pristine natural photos (lower = more natural), on Y with "
        "the same 4-pixel border, computed as BasicSR and the authors' MATLAB code do; an output smaller than "
        "two 96×96 blocks is left out of its mean (– when none is left).",
        "",
        "### PSNR-Y (dB) / SSIM-Y",
        "",
        "| method | " + " | ".join(ds_names) + " |",
        "|---|" + "---|" * len(ds_names),
    ]
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
    for model, title, _ in sr_rows:
        out.append(f"- {title}: `srgan evaluate --model {model} --data {data_args}{limit}{cmd_extra}`")
    out += ["", f"Peers are read from `{_rel(peers_root)}` (never copied into the repository)."]
    if skipped:
        out += ["", "Skipped or noted:", ""] + [f"- {s}" for s in skipped]

    out += denoise_text(den, quick)

    out += ["", "## Figures", ""]
    for fig in figures:
        out += [f"### {fig['title']}", ""]
        if fig.get("path"):
            rel = os.path.relpath(fig["path"], Path(fig["path"]).parents[1])
            out += [f"![{fig['title']}]({rel})", "", fig["caption"], ""]
        else:
            out += [fig["note"], ""]
    return "\n".join(out).rstrip() + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def find_name(spec: str) -> str:
    p = Path(spec)
    return p.stem if p.suffix == ".txt" else p.name


def denoise_text(den: dict, quick: bool) -> list[str]:
    sigmas, name = den["sigmas"], find_name(den["target"])
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

    def table(heading: str, images: set[str] | None) -> list[str]:
        lines = ["", heading, "", "| method | " + " | ".join(f"σ = {s:g}" for s in sigmas) + " |",
                 "|---|" + "---|" * len(sigmas)]
        for key, title, _ in [("noisy", "noisy input", None)] + den["methods"]:
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
            if key != "bm3d" or images is not None:
                lines.append(f"| {title} | " + " | ".join(cells) + " |")
        return lines

    all_images = {r["image"] for r in den["rows"] if r["method"] != "bm3d"}
    if all_images:
        out += table(f"### {name}, {_count(len(all_images), 'image')}", None)
    subset = sorted({r["image"] for r in den["rows"] if r["method"] == "bm3d"})
    if subset:
        out += ["", f"BM3D (PyPI `bm3d`, `bm3d_rgb`, told σ) takes tens of seconds per image on this machine, so it runs "
                f"on a fixed subset, the first {len(subset)} images of {name}: {', '.join(subset)}. The table below "
                "averages every method over that same subset."]
        out += table(f"### {name}, first {len(subset)} images (the BM3D subset)", set(subset))

    tgt = _rel(den["target"])
    limit = f" --max-images {den['max_images']}" if den["max_images"] else ""
    out += ["", "Per image: [results/denoise_per_image.csv](results/denoise_per_image.csv).", "", "Reproduce:", ""]
    for s, h in den["h"].items():
        out.append(f"- NL-means σ {s:g} (and the noisy row): `srgan evaluate --model peer:nlmeans:h={h:g} --data {tgt} "
                   f"--noise {s:g}{limit}`")
    noise = " ".join(f"{s:g}" for s in sigmas)
    for key, title, _ in den["methods"]:
        if key == "bm3d":
            out.append(f"- {title}: `srgan evaluate --model peer:bm3d --data {tgt} --noise {noise} "
                       f"--max-images {den['bm3d_images']}`")
        elif key != "nlmeans":
            out.append(f"- {title}: `srgan evaluate --model {key} --data {tgt} --noise {noise}{limit}`")
    if den["h"]:
        out.append("- The h tuning: `srgan report` (`tune_nlmeans` in src/srgan/bench/report.py).")
    if den["notes"]:
        out += ["", "Skipped or noted:", ""] + [f"- {s}" for s in den["notes"]]
    return out
