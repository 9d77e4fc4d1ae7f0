"""``srgan report``: measure bicubic, the peers and our shipped models in one run and write docs/RESULTS.md.

Every number comes from :func:`srgan.bench.evaluate.evaluate`, the one protocol (PSNR/SSIM-Y with a border of
``scale``, ``hf_ratio``, NIQE, seconds per output megapixel; clipped Gaussian noise with seed 0 for denoising),
so each table row can be reproduced alone with the ``srgan evaluate`` command printed beside it. This module
measures and writes the files; :mod:`srgan.bench.figures` draws the figures and :mod:`srgan.bench.render`
turns it all into markdown.

Output, under ``--out`` (default ``docs``)::

    RESULTS.md                       the tables, the machine, the commands, the skipped peers
    results/x4_per_image.csv         every ×4 method on every image
    results/denoise_per_image.csv    every denoiser on every image and σ
    results/real_per_image.csv       the real-photo section: each ×4 method on JPEG / blurred / noisy inputs
    figures/*.png                    small crops: SR comparison, faces, real photos, restore panel, training progress

Data and peers come from the shared folder (``--shared``, default ``../shared``; peers also ``--peers`` /
``$SRGAN_PEERS_DIR``; see :mod:`srgan.bench.places`) and are never copied here; a peer whose files or package
are missing is skipped with a note in the report.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

from srgan.bench.evaluate import DEFAULT_SIGMAS, evaluate, write_csv
from srgan.bench.figures import SCALE, face_figure, progress_figure, real_figure, restore_figure, sr_figure
from srgan.bench.places import checkout_dir, peers_dir as find_peers, shared_dir
from srgan.bench.render import describe_machine, find_name, render, rel
from srgan.errors import SrganError
from srgan.io.files import atomic_write_bytes

# NL-means h is searched as multiples of 255σ (the noise's std in pixel values): a coarse grid, then a
# finer one around the best. The validation cats are outside BSD100, so the tuning does not see the test.
_NLM_COARSE = (0.3, 0.45, 0.6, 0.75, 0.9, 1.1, 1.3)
_NLM_FINE = (-0.1, -0.05, 0.05, 0.1)
NLM_TUNE_IMAGES = 20
BM3D_IMAGES = 10
# Four decimals in the per-image CSVs: more than the metrics mean, and they keep the committed files small.
CSV_DECIMALS = 4
# The validation cats, listed in the checkout by paths relative to the list (into ../shared beside it).
CATS_LIST = Path("configs") / "cats_val.txt"

# The real-photo section (issue 19): each `srgan evaluate --degrade` preset that stands for a shared photo, then the
# clean benchmark input for reference, on photos outside the training data (BSD100 and the validation cats).
REAL_PRESETS = ("jpeg50", "jpeg75", "blur-noise-jpeg70", "bicubic")
REAL_SETS = ("BSD100", "cats_val")
REAL_PEER = "peer:realesrgan-x4plus"
# The first N photos of each set. Real-ESRGAN x4plus (ncnn, CPU) dominates the section: on the 2-core Xeon
# (AVX-512/AMX) shared with training runs (load 7-9) it took 21-48 s per BSD100- or cat-sized photo with 2 threads
# (4 s of CPU with 1 thread), and one photo per set through the four presets took 5.5 min with srresnet-x4 and
# srgan-x4, the crop figure 2 min more. Two per set keep the section near 13 min there (16 with both real-photo
# models shipped), a fraction of that on an idle machine.
REAL_IMAGES = 2


def log(msg: str) -> None:
    print(f"report: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ the run


def run_report(
    out: str | Path = "docs",
    datasets: list[str] | None = None,
    quick: bool = False,
    peers_dir: str | Path | None = None,
    srgan_run: str | None = None,
    bm3d_images: int | None = None,
    device: str = "cpu",
    shared: str | Path | None = None,
    checkout: str | Path | None = None,
) -> Path:
    """Measure everything and write the report; returns the path of RESULTS.md.

    ``shared`` and ``peers_dir`` override where data and peers are found, ``checkout`` the source checkout
    (configs/cats_val.txt, examples/chelsea.png); see :mod:`srgan.bench.places` for the defaults.
    """
    from srgan.bench.peers import SR_PEERS
    from srgan.device import pick_device

    # What would fail after tens of minutes of measuring is checked first: the folder, the data, the device.
    if shared and not Path(shared).is_dir():
        raise SrganError(f"--shared {shared}: folder not found")
    if srgan_run and not Path(srgan_run).is_dir():
        raise SrganError(f"--srgan-run {srgan_run}: run folder not found")
    pick_device(device)
    out = Path(out)
    existing = next(p for p in (out, *out.parents) if p.exists() or p == Path(p.anchor))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):  # os.access sees read-only mounts too
        raise SrganError(f"--out {out}: cannot write there ({existing} is not a writable folder)")

    # Where the peers were chosen, the commands name them; the default is what evaluate finds by itself.
    peers_root = find_peers(peers_dir, shared)
    cmd_extra = f" --peers {rel(peers_root)}" if peers_dir or shared else ""
    out, checkout = Path(out), Path(checkout) if checkout else checkout_dir()
    cats = cats_list(checkout)
    given = list(datasets or [])
    datasets = given or default_datasets(quick, shared_dir(shared), cats)
    # A quick run's ×4 tables use Set5 alone, but its real-photo rows still come from the photos they stand for.
    real_data = real_datasets(given or default_datasets(False, shared_dir(shared), cats))
    real_data = real_data[:1] if quick else real_data
    started, machine = time.time(), describe_machine(checkout)

    ours = shipped_by_kind()
    methods = [("bicubic", "bicubic")] + [(f"peer:{n}", t) for n, t in SR_PEERS.items()]
    methods += [(name, f"{name} (ours)") for name in ours["srresnet"] + ours["srgan"]]
    sr_rows, sr_images, skipped = sr_section(methods, datasets, 2 if quick else None, peers_root, device)
    if not ours["srresnet"] + ours["srgan"]:
        skipped.append("Ours: no ×4 model is shipped yet (src/srgan/weights/srresnet-x4 / srgan-x4).")
    if not quick:
        skipped.append("Real-ESRGAN animevideov3 is an anime model, listed as a side reference only.")
    if not given and (note := cats_missing_note(checkout, cats)):
        print(f"report: note: {note}", file=sys.stderr, flush=True)
        skipped.append(note)

    real = real_section(real_methods(ours), real_data, 1 if quick else REAL_IMAGES, peers_root, device)

    den = denoise_section(
        datasets, quick, peers_root, device, ours["denoiser"], tune_list=cats,
        bm3d_images=(0 if quick else BM3D_IMAGES) if bm3d_images is None else bm3d_images,
    )

    figures_dir = out / "figures"
    figures = [sr_figure(figures_dir, datasets, [m for m, _, _ in sr_rows], peers_root, device)]
    if not quick:
        figures.append(face_figure(figures_dir, datasets, peers_root, device))
    # Quick runs: one crop of the one real-photo set, a smoke test; the full run finds each crop's own set.
    fig_data = real_data if quick else list(dict.fromkeys(datasets + real_data))
    real["figure"] = real_figure(figures_dir, fig_data, [m for m, _, _ in real["methods"] if m != "bicubic"],
                                 peers_root, device)
    figures.append(restore_figure(figures_dir, ours, device, checkout / "examples" / "chelsea.png"))
    figures.append(progress_figure(figures_dir, srgan_run))

    (out / "results").mkdir(parents=True, exist_ok=True)
    write_csv(out / "results" / "x4_per_image.csv", sr_images, decimals=CSV_DECIMALS)
    write_csv(out / "results" / "denoise_per_image.csv", den["rows"], decimals=CSV_DECIMALS)
    write_csv(out / "results" / "real_per_image.csv", real["rows"], decimals=CSV_DECIMALS)
    text = render(
        machine=machine, datasets=datasets, sr_rows=sr_rows, skipped=skipped, den=den, real=real, figures=figures,
        quick=quick, seconds=time.time() - started, cmd_extra=cmd_extra, peers_root=peers_root,
    )
    path = out / "RESULTS.md"
    atomic_write_bytes(path, text.encode())
    log(f"wrote {path} in {time.time() - started:.0f} s")
    return path


def cats_list(checkout: Path) -> Path | None:
    """configs/cats_val.txt when it and the photos it lists (in the shared folder beside it) are there."""
    cats = checkout / CATS_LIST
    if not cats.is_file():
        return None
    from srgan.train.data import read_path_list

    try:
        first = read_path_list(cats)[0]
    except SrganError:
        return None
    return cats if first.is_file() else None


def cats_missing_note(checkout: Path, cats: Path | None) -> str | None:
    """Why the validation cats' column is missing although the checkout lists them, else None. Their list's paths
    are relative to it, so a checkout without ../shared beside it (a copy elsewhere, ``--shared`` pointing away)
    finds none: said, not silently dropped."""
    listed = checkout / CATS_LIST
    if cats is not None or not listed.is_file():
        return None
    return (f"Validation cats left out: the photos {rel(listed)} lists are not there (its paths are relative to it, "
            "../shared beside the checkout); run the report from a checkout beside ../shared, or pass --datasets.")


def default_datasets(quick: bool, shared: Path, cats: Path | None) -> list[str]:
    """Set5, Set14, BSD100 from the shared folder and the validation cats (``cats``); Set5 alone when quick."""
    bench = shared / "data" / "benchmark"
    found = [str(bench / s) for s in ("Set5", "Set14", "BSD100") if (bench / s / "HR").is_dir()]
    if cats is not None:
        found.append(str(cats))
    if not found:
        raise SrganError(f"no benchmark data under {bench}; pass --shared DIR or --datasets DIR ...")
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


def sr_section(methods, datasets, max_images, peers_root, device) -> tuple[list, list[dict], list[str]]:
    """Each ×4 method on the datasets: [(model, title, evaluate results)], the per-image rows, skip notes."""
    sr_rows, sr_images, skipped = [], [], []
    for model, title in methods:
        res, rows, note = _measure(model, datasets, max_images=max_images, peers_dir=peers_root, device=device)
        if note:
            skipped.append(note)
            continue
        for r in res:
            r["title"] = title
        sr_rows.append((model, title, res))
        sr_images += rows
    return sr_rows, sr_images, skipped


def _measure(model: str, datasets: list[str], **kw) -> tuple[list[dict], list[dict], str | None]:
    """evaluate() plus its per-image rows; a missing or broken peer gives a note instead."""
    from srgan.bench.peers import PeerUnavailable

    t0 = time.time()
    rows: list[dict] = []
    try:
        results = evaluate(model, datasets, scale=SCALE, per_image_rows=rows, **kw)
    except PeerUnavailable as e:
        log(str(e))
        return [], [], str(e)
    except SrganError as e:
        if not model.startswith("peer:"):
            raise  # our own models and datasets must work; only other projects' files may be odd
        log(f"{model} failed: {e}")
        return [], [], f"{model} failed: {e}"
    sigmas, degrade = kw.get("noise"), kw.get("degrade", "bicubic")
    where = (" σ=" + ",".join(map(str, sigmas)) if sigmas else "")
    where += f" --degrade {degrade}" if degrade != "bicubic" else ""
    log(f"{model}{where}: {time.time() - t0:.0f} s")
    return results, rows, None


# ------------------------------------------------------------------------------------------ real photos


def real_datasets(datasets: list[str]) -> list[str]:
    """The sets of :data:`REAL_SETS` among ``datasets`` (photos outside the training data); all of them when none is."""
    return [d for d in datasets if find_name(d) in REAL_SETS] or list(datasets)


def real_methods(ours: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(model, title) of the real-photo section: the paper's ×4 models, the real-photo ones, Real-ESRGAN, bicubic."""
    from srgan.bench.peers import SR_PEERS
    from srgan.models import zoo

    shipped = ours["srresnet"] + ours["srgan"]
    # The PSNR model before the GAN, as in the ×4 tables (REAL_UPSCALERS is in the default rule's order instead).
    names = [n for n in ("srresnet-x4", "srgan-x4") if n in shipped] + [n for n in shipped if n in zoo.REAL_UPSCALERS]
    default = zoo.default_upscaler()
    methods = [(n, f"{n} (ours{', the default' if n == default else ''})") for n in names]
    return methods + [(REAL_PEER, SR_PEERS[REAL_PEER.removeprefix("peer:")]), ("bicubic", "bicubic")]


def real_section(methods, datasets, max_images, peers_root, device) -> dict:
    """Each method on each of :data:`REAL_PRESETS`, over the first ``max_images`` photos of each dataset.

    Returns ``methods`` = [(model, title, {preset: means})] where the means (``psnr_y``, ``niqe``,
    ``blockiness``, ``images``) are over every photo of every dataset together, the per-image ``rows``
    (evaluate's, each tagged with its ``degrade``), the ``notes`` for skipped methods, and the settings.
    """
    real = {"datasets": list(datasets), "max_images": max_images, "presets": list(REAL_PRESETS), "methods": [],
            "rows": [], "notes": [], "seconds_per_mp": {}}
    for model, title in methods:
        by_preset, rows, speeds = {}, [], []
        for preset in REAL_PRESETS:
            res, images, note = _measure(model, datasets, max_images=max_images, peers_dir=peers_root, device=device,
                                         degrade=preset)
            if note:
                real["notes"].append(note)
                break
            by_preset[preset] = pooled_means(images)
            speeds += [r["seconds_per_mp"] for r in res if r["seconds_per_mp"] is not None]
            rows += images
        else:  # only a method measured on every preset gets a row: a peer that fails half-way has its note instead
            real["methods"].append((model, title, by_preset))
            real["rows"] += rows
            real["seconds_per_mp"][model] = round(sum(speeds) / len(speeds), 2) if speeds else None
    return real


def pooled_means(rows: list[dict]) -> dict:
    """Means over the per-image rows of one evaluate call (all its datasets together); NIQE and blockiness over the
    images they could measure (None when none), with ``niqe_images`` saying how many that was."""
    def mean(key):
        vals = [r[key] for r in rows if r[key] is not None and not math.isnan(r[key])]
        return (round(sum(vals) / len(vals), 4) if vals else None), len(vals)

    niqe, niqe_images = mean("niqe")
    return {"images": len(rows), "psnr_y": mean("psnr_y")[0], "niqe": niqe, "niqe_images": niqe_images,
            "blockiness": mean("blockiness")[0]}


# ------------------------------------------------------------------------------------------ denoising


def denoise_section(datasets, quick, peers_root, device, denoisers, bm3d_images, tune_list=None) -> dict:
    """NL-means tuned per σ on validation cats, then noisy / NL-means / BM3D / ours on BSD100 (or its subset).

    ``tune_list`` is the validation list NL-means is tuned on (a quick run, or none, tunes on the test set).
    Returns the settings, ``methods`` = [(key, title, evaluate results)], the per-image rows (each tagged
    with its method's key) and notes on what was skipped.
    """
    sigmas = list(DEFAULT_SIGMAS)
    target = next((d for d in datasets if Path(d).name == "BSD100"), datasets[0])
    max_images = 1 if quick else None
    # Quick runs tune on one image of the test set itself: a smoke test of the machinery, not a result.
    tune_on = str(tune_list) if tune_list is not None and not quick else target
    tune_images = 1 if quick else NLM_TUNE_IMAGES
    den = {"target": target, "sigmas": sigmas, "tune_on": tune_on, "tune_images": tune_images, "h": {},
           "methods": [], "rows": [], "notes": [], "bm3d_images": bm3d_images, "max_images": max_images}

    def add(key, title, model, sigmas, images, **kw):
        res, rows, note = _measure(model, [target], noise=sigmas, max_images=images, peers_dir=peers_root, device=device, **kw)
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
    from srgan.models import zoo

    shipped = zoo.shipped_models()
    for name in denoisers:
        if zoo.card_takes_sigma(zoo.read_card(shipped[name])):
            # Users mostly do not know σ: the estimate is the headline, σ given the model's ceiling.
            add(name, f"{name} (ours, σ estimated)", name, sigmas, max_images)
            key = f"{name} --sigma-given"  # also the command's arguments after --model
            add(key, f"{name} (ours, σ given)", name, sigmas, max_images, sigma_given=True)
        else:
            add(name, f"{name} (ours)", name, sigmas, max_images)
    if not denoisers:
        den["notes"].append("Ours: no denoiser is shipped yet (src/srgan/weights/denoiser.safetensors).")
    return den


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
