"""The report's figures: small labelled crops that show what the tables cannot.

Each ``*_figure`` function writes one PNG under the figures folder and returns a dict for the text:
``title`` and ``path`` and ``caption``, or ``title`` and a ``note`` saying why it was skipped. The
``*_panel`` functions build the image alone (a PIL image), so they can be tested on fake inputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from srgan.bench.evaluate import DEFAULT_SIGMAS, benchmark_pair, find_dataset, load_upscaler
from srgan.bench.render import describe_preset, find_name
from srgan.errors import SrganError
from srgan.io.files import atomic_path
from srgan.io.read import read_u8
from srgan.models.zoo import default_upscaler

# The one scale of the report's SR tables and figures.
SCALE = 4

# The image and HR region (y, x, size) of the SR comparison figure: a tiger's eyes, where fur, whiskers
# and edges show how each model treats texture. Shown enlarged ×2 (nearest) so the pixels can be seen.
SR_FIGURE = ("BSD100", "img_007.png", (96, 300, 64))
FIGURE_ZOOM = 2
# Faces at 1:1, where a GAN's halos (eyes, lips) and wrinkles (smooth skin) show first: Set5's baby (eye,
# nose and cheek) and Set14's face (eye and freckled cheek). The models a user chooses between: HR, bicubic,
# our shipped ×4 models and Real-ESRGAN x4plus, the GAN people reach for.
FACE_FIGURE = (("Set5", "img_001.png", (150, 110, 160)), ("Set14", "img_006.png", (96, 100, 120)))
FACE_MODELS = ("bicubic", "srresnet-x4", "srgan-x4", "peer:realesrgan-x4plus")
# Real photos (issue 19) at 1:1 on JPEG-50 inputs, where tiles show most; HR regions (y, x, size) picked by looking
# at the images: a face from eyes to lips that fills the crop (Set5's woman), fur around an eye (validation cat.10,
# one of the section's measured photos) and flat sky above a treetop (BSD100 img_020), where tiles and halos have
# nowhere to hide. Origins and sizes are multiples of 4, so the input tile is whole LR pixels.
REAL_FIGURE = (("Set5", "img_005.png", (64, 48, 128)), ("cats_val", "cat.10.jpg", (192, 288, 128)),
               ("BSD100", "img_020.png", (0, 320, 128)))
REAL_FIGURE_PRESET = "jpeg50"


def label_grid(rows: list[list[tuple[str, np.ndarray]]], pad: int = 3, label_h: int = 13):
    """Tiles in rows with a small caption under each; all tiles of a row the same height. A PIL image."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
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
            text = _ascii_label(label)
            # A label wider than its tile would run into the next one's: cut it to the tile, marked with "..".
            while len(text) > 3 and draw.textlength(text, font=font) > tile.shape[1] - 1:
                text = text[:-3] + ".."
            draw.text((x + 1, y + tile.shape[0] + 1), text, fill="black", font=font)
            x += tile.shape[1] + pad
        y += h
    return canvas


def _ascii_label(text: str) -> str:
    # Pillow's built-in font has no Greek and no multiplication sign: they would print as empty boxes.
    return text.replace("σ", "sigma ").replace("×", "x")


def save_figure(image, path: Path) -> Path:
    """Write a PIL image as an optimised PNG, or lossless WebP (smaller) for a .webp path, atomically,
    creating the folder. Never a lossy format: a figure that judges artifacts must not add its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".webp":
            image.save(tmp, format="WEBP", lossless=True, quality=100, method=6)
        else:
            image.save(tmp, format="PNG", optimize=True)
    return path


def _model_label(model: str) -> str:
    """Peers and bicubic by their own names, our models marked as ours."""
    label = model.removeprefix("peer:")
    return label if model.startswith("peer:") or model == "bicubic" else f"{label} (ours)"


def _load_upscalers(models, peers_dir, device) -> tuple[dict, list[str]]:
    """{model: function} for the models that load, and a "model (why)" note for each that does not."""
    upscalers, missing = {}, []
    for model in models:
        try:
            upscalers[model] = load_upscaler(model, SCALE, device, "fp32", peers_dir)[0]
        except SrganError as exc:  # PeerUnavailable included
            missing.append(f"{model} ({str(exc).splitlines()[0]})")
    return upscalers, missing


def _find_pair(datasets: list[str], ds_name: str, image: str) -> tuple[Path, Path | None] | None:
    """The (HR, LR) files of ``image`` in the dataset named ``ds_name`` (as evaluate names it) among ``datasets``."""
    spec = next((d for d in datasets if find_name(d) == ds_name), None)
    if spec is None:
        return None
    return next((p for p in find_dataset(spec, SCALE)[1] if p[0].name == image), None)


# ------------------------------------------------------------------------------------------ ×4 comparisons


def sr_figure(figures_dir: Path, datasets: list[str], models: list[str], peers_dir, device) -> dict:
    """HR | bicubic | each peer | ours on one crop of a benchmark image, each model run on the whole LR."""
    ds_name, image, (y, x, size) = SR_FIGURE
    pair = _find_pair(datasets, ds_name, image)
    if pair is None:  # quick runs and other datasets: the middle of the first image
        pair = find_dataset(datasets[0], SCALE)[1][0]
        ds_name, image = Path(datasets[0]).stem, pair[0].name
        hr = read_u8(pair[0])
        size = min(64, hr.shape[0], hr.shape[1]) // SCALE * SCALE
        y, x = (hr.shape[0] - size) // 2 // SCALE * SCALE, (hr.shape[1] - size) // 2 // SCALE * SCALE
    hr, lr = benchmark_pair(*pair, SCALE)
    crop = lambda a: np.repeat(np.repeat(a[y : y + size, x : x + size], FIGURE_ZOOM, 0), FIGURE_ZOOM, 1)  # noqa: E731
    tiles = [("HR", crop(hr))]
    for model in models:
        fn, *_ = load_upscaler(model, SCALE, device, "fp32", peers_dir)
        tiles.append((_model_label(model), crop(fn(lr))))
    per_row = 6
    rows = [tiles[i : i + per_row] for i in range(0, len(tiles), per_row)]
    path = save_figure(label_grid(rows), figures_dir / "sr_comparison.png")
    return {"title": "×4 super-resolution, one crop", "path": path,
            "caption": f"{ds_name} {image}, HR crop {size}×{size} at x={x}, y={y}, shown ×{FIGURE_ZOOM} (nearest); "
            "every model ran on the whole LR image."}


def face_figure(figures_dir: Path, datasets: list[str], peers_dir, device, models=FACE_MODELS) -> dict:
    """HR | bicubic | our ×4 models | Real-ESRGAN x4plus on face crops at 1:1, each model run on the whole LR."""
    title = "×4 on faces, 1:1"
    upscalers, missing = _load_upscalers(models, peers_dir, device)
    rows, where = [], []
    for ds_name, image, (y, x, size) in FACE_FIGURE:
        pair = _find_pair(datasets, ds_name, image)
        if pair is None or pair[1] is None:
            continue
        hr, lr = read_u8(pair[0]), read_u8(pair[1])
        row = [("HR", hr[y : y + size, x : x + size])]
        row += [(_model_label(model), fn(lr)[y : y + size, x : x + size]) for model, fn in upscalers.items()]
        rows.append(row)
        where.append(f"{ds_name} {image} at x={x}, y={y}, {size}×{size}")
    if not rows:
        return {"title": title, "note": "Skipped: Set5/Set14 with their LR images are not among the datasets."}
    path = save_figure(label_grid(rows), figures_dir / "face_comparison.png")
    note = f" Not shown: {'; '.join(missing)}." if missing else ""
    return {"title": title, "path": path,
            "caption": f"HR crops ({'; '.join(where)}) at 1:1 with each model's output of the same region; every model "
            f"ran on the whole LR image. Look for halos at eyes and lips and wrinkles on smooth skin.{note}"}


def real_figure(figures_dir: Path, datasets: list[str], models: list[str], peers_dir, device,
                crops=REAL_FIGURE, preset: str = REAL_FIGURE_PRESET, filename: str = "real_photos.png") -> dict:
    """HR | the JPEG input | each model on :data:`REAL_FIGURE`'s crops at 1:1, each model run on the whole input.

    The input is what ``srgan evaluate --degrade preset`` gives the models (the same seed per file name). Crops
    whose dataset is not among ``datasets`` are left out; with none left (quick runs, other data), the middle of
    the first image of the first dataset. A crop's box is (y, x, size), or a size alone for the photo's most
    detailed window of that side (:func:`busiest_box`). ``missing`` in the result: "model (why)" for each model
    not shown.
    """
    title = f"Real photos: ×4 on {describe_preset(preset)} inputs, 1:1"
    upscalers, missing = _load_upscalers(models, peers_dir, device)
    picked = [(ds, pair, box) for ds, image, box in crops if (pair := _find_pair(datasets, ds, image))]
    if not picked:
        pair = find_dataset(datasets[0], SCALE)[1][0]
        h, w = read_u8(pair[0]).shape[:2]
        size = min(128, h, w) // SCALE * SCALE
        middle = ((h - size) // 2 // SCALE * SCALE, (w - size) // 2 // SCALE * SCALE, size)
        picked = [(find_name(datasets[0]), pair, middle)]
    rows, where = [], []
    for ds_name, (hr_path, lr_path), box in picked:
        hr, lr = benchmark_pair(hr_path, lr_path, SCALE, preset)
        box = busiest_box(hr, box) if isinstance(box, int) else box
        outputs = [(_model_label(m), fn(lr)) for m, fn in upscalers.items()]
        rows.append(real_row(hr, lr, outputs, box, f"input, {describe_preset(preset)}"))
        y, x, size = box
        where.append(f"{ds_name} {hr_path.name} at x={x}, y={y}, {size}×{size}")
    path = save_figure(label_grid(rows), figures_dir / filename)
    note = f" Not shown: {'; '.join(missing)}." if missing else ""
    return {"title": title, "path": path, "missing": missing,
            "caption": f"HR crops ({'; '.join(where)}) at 1:1; the input is the MATLAB-bicubic ×¼ then `srgan evaluate "
            f"--degrade {preset}`'s JPEG (seeded by the file name), shown ×{SCALE} nearest so its 8×8 blocks show as "
            f"32-px squares; every model ran on the whole input and is shown unresampled. Look for those squares "
            f"repeated as tiles in the outputs, posterised skin, ringing at edges and smeared fur.{note}"}


def busiest_box(hr: np.ndarray, size: int = 128, step: int = 32) -> tuple[int, int, int]:
    """(y, x, size): the ``size``-px window of ``hr`` with the most detail (mean |luma gradient|), its corner on a
    ``step`` grid. A crop picked this way shows what a model has to draw (fur, foliage, an eye), where a fixed place
    often falls on sky. ``step`` 32 puts the corner on the output's JPEG grid (8-px LR blocks ×4)."""
    if step % SCALE or size % SCALE:
        raise SrganError(f"crop size {size} and step {step} must be multiples of {SCALE}")
    size = min(size, hr.shape[0], hr.shape[1]) // SCALE * SCALE
    luma = hr[..., :3].astype(np.float32).mean(axis=2) if hr.ndim == 3 else hr.astype(np.float32)
    detail = np.zeros_like(luma)
    detail[:, 1:] += np.abs(np.diff(luma, axis=1))
    detail[1:, :] += np.abs(np.diff(luma, axis=0))
    best = (-1.0, 0, 0)
    for y in range(0, hr.shape[0] - size + 1, step):
        for x in range(0, hr.shape[1] - size + 1, step):
            best = max(best, (float(detail[y : y + size, x : x + size].mean()), -y, -x))
    return -best[1], -best[2], size


def real_row(hr: np.ndarray, lr: np.ndarray, outputs: list[tuple[str, np.ndarray]], box, input_label: str) -> list:
    """[(label, tile)]: the HR crop ``box`` = (y, x, size), the same region of ``lr`` repeated ×SCALE (nearest), and
    each output's crop at 1:1."""
    y, x, size = box
    if y % SCALE or x % SCALE or size % SCALE:
        raise SrganError(f"crop {box}: origin and size must be multiples of {SCALE} to show whole LR pixels")
    crop = lambda a: a[y : y + size, x : x + size]  # noqa: E731
    small = lr[y // SCALE : (y + size) // SCALE, x // SCALE : (x + size) // SCALE]
    return [("HR", crop(hr)), (input_label, np.repeat(np.repeat(small, SCALE, 0), SCALE, 1))] + [
        (label, crop(out)) for label, out in outputs]


# ------------------------------------------------------------------------------------------ restore


def restore_figure(figures_dir: Path, ours: dict[str, list[str]], device: str, photo: Path) -> dict:
    """Rows per σ: noisy | denoised | generated (denoised, then ×4), on ``photo`` (examples/chelsea.png)."""
    title = "Restore: noisy | denoised | generated"
    # What `srgan restore` runs by default: the default upscaler first, when it is shipped.
    upscalers = sorted(ours["srgan"] + ours["srresnet"], key=lambda name: name != default_upscaler())
    if not ours["denoiser"] or not upscalers:
        return {"title": title, "path": None, "note": "skipped: needs a shipped denoiser and a shipped ×4 model."}
    if not photo.is_file():  # an installed package run outside a checkout has no examples/
        return {"title": title, "path": None, "note": f"skipped: {photo} not found."}
    denoise, *_ = load_upscaler(ours["denoiser"][0], SCALE, device, "fp32")
    upscale, *_ = load_upscaler(upscalers[0], SCALE, device, "fp32")
    panel = restore_panel(read_u8(photo), denoise, upscale, DEFAULT_SIGMAS)
    path = save_figure(panel, figures_dir / "restore.png")
    return {"title": title, "path": path, "caption": f"examples/{photo.name} (CC0, outside the training data); "
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
    return label_grid(rows)


# ------------------------------------------------------------------------------------------ training progress


def progress_figure(figures_dir: Path, run_dir: str | Path | None) -> dict:
    """LR | original | the output at a few steps of a training run (``srgan report --srgan-run``)."""
    title = "Training progress"
    if not run_dir:
        return {"title": title, "path": None, "note": "skipped: no run folder given (srgan report --srgan-run RUN_DIR)."}
    try:
        panel, caption = progress_panel(Path(run_dir))
    except SrganError as e:  # a run without samples yet must not sink an hour-long report at its end
        return {"title": title, "path": None, "note": f"skipped: {e}"}
    path = save_figure(panel, figures_dir / "training_progress.png")
    return {"title": title, "path": path, "caption": caption}


def progress_panel(run_dir: Path, steps: int = 5, tile: int = 96, images: int = 2):
    """LR | original | generated at a few steps, cut from the run's samples/step_*.png validation panels.

    Each sample panel has rows of [LR (nearest) | bicubic | output | HR] tiles (denoiser runs: [noisy |
    output | clean]), each tile padded by 2 white pixels; see train.Validator.panel.
    """
    import yaml

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
    n_steps = f"{len(picks)} step" + ("" if len(picks) == 1 else "s")
    caption = f"{kind} run {run_dir.name}: validation images, centre {tile}×{tile} crop, at {n_steps}."
    return label_grid(rows), caption
