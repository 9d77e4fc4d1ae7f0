"""A blind look at ×4 models on real-photo inputs: which one would a user rather have, and what is wrong with each?

    python tools/blind_pairs.py make MODEL_1 MODEL_2 --photos LIST.txt [...] --presets jpeg50 blur-noise-jpeg70 \\
        --judges 3 --out DIR --key KEY.json --template
    python tools/blind_pairs.py rate MODEL [MODEL ...] --photos LIST.txt [...] --out DIR --key KEY.json --template
    python tools/blind_pairs.py score KEY.json VERDICTS.json [...]

The by-eye half of the real-photo bar has been one person looking at labelled crops; a judge who knows which side
is the GAN sees what they expect. ``make`` runs both models on each photo's degraded input (``srgan evaluate
--degrade`` presets, seeded per photo as there) and writes, per judge, one image per photo and preset: the input
(nearest ×4) on top, then the two outputs side by side at 1:1, left and right drawn at random for that judge and
the files in a shuffled order, under neutral names (``DIR/judge_N/pair_NNN.png``). Which model is on which side is
written only to ``KEY.json``, which the judges are not shown. Outputs wider than ``--width`` are cut to their middle
``--width`` columns so that a pair fits a screen at 1:1.

Beside another output, a judge's flags are relative: next to a soft output a sharp one reads as painted, next to a
crisper one as blotchy. ``rate`` shows one output at a time, the input (nearest ×4) on its left, every model's output
of every photo and preset shuffled together (``DIR/judge_N/image_NNN.png``), for the bar's absolute clauses: does this
output have JPEG tiles, a posterised face, halos? Its verdicts are {"image_NNN": {"keep": "yes" | "no", "flags":
[...]}}.

``score`` reads each judge's verdicts, a JSON object {"pair_NNN": {"better": "left" | "right" | "same", "flags":
{"left": [...], "right": [...]}}} (``--template`` in ``make`` writes an empty one to fill), unblinds them with the key
and prints, per preset and overall, how often each model was preferred (``rate``: kept), each flag raised against it, and on which
photos most judges raised one of the flags the bar rules out (JPEG tiles, posterised, halos).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from srgan.errors import SrganError

FLAGS = ("jpeg_tiles", "posterised", "halos", "grain", "mottled", "blurry")
# What the real-photo bar rules out by eye (issue 19: no JPEG tiles, faces not posterised, no halos).
BAR_FLAGS = ("jpeg_tiles", "posterised", "halos")


def _pad_to(img: np.ndarray, width: int) -> np.ndarray:
    out = np.full((img.shape[0], width, 3), 255, np.uint8)
    out[:, : img.shape[1]] = img
    return out


def _rgb(img: np.ndarray) -> np.ndarray:
    """A grey photo as three equal channels, so that it sits beside colour ones on a sheet."""
    if img.ndim == 2:
        img = img[..., None]
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img[..., :3]


def _middle(img: np.ndarray, width: int) -> np.ndarray:
    if img.shape[1] <= width:
        return img
    x0 = (img.shape[1] - width) // 2
    return img[:, x0:x0 + width]


def _outputs(models: list[str], photos: list[Path], presets: list[str], device: str) -> list[tuple]:
    """(preset, photo, input ×4 nearest, output of each model) for every preset and photo, cut to a common size."""
    from srgan.bench.evaluate import benchmark_pair, load_upscaler

    fns = [load_upscaler(m, 4, device, "fp32")[0] for m in models]
    items = []
    for preset in presets:
        for hr_path in photos:
            _, lr = benchmark_pair(hr_path, None, 4, preset)
            outs = [_rgb(fn(lr)) for fn in fns]
            lr = _rgb(lr)
            h, w = min(o.shape[0] for o in outs), min(o.shape[1] for o in outs)
            near = np.repeat(np.repeat(lr, 4, axis=0), 4, axis=1)[:h, :w]
            items.append((preset, str(hr_path), near, *(o[:h, :w] for o in outs)))
            print(f"{preset} {hr_path.name}", file=sys.stderr, flush=True)
    return items


def _check_args(a) -> list[Path]:
    """The photos of ``make``/``rate`` after checking the arguments that need no model."""
    from srgan.bench.evaluate import find_dataset
    from srgan.ops.realistic import PRESETS

    for preset in a.presets:
        if preset not in PRESETS:
            raise SrganError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if a.key.resolve().is_relative_to(a.out.resolve()):
        raise SrganError(f"{a.key}: the key must not be where the judges look (under {a.out})")
    if a.out.exists() and (not a.out.is_dir() or any(a.out.iterdir())):
        # a judge's filled verdicts.json there would be overwritten by the empty template
        raise SrganError(f"{a.out}: not an empty folder; give a new one")
    if a.judges < 1 or a.width < 16:
        raise SrganError("--judges must be >= 1 and --width >= 16")
    photos = [hr for spec in a.photos for hr, _ in find_dataset(spec, 4)[1]]
    if not photos:
        raise SrganError(f"no photos in {', '.join(a.photos)}")
    return photos


GAP = 8  # white pixels between the pictures of a sheet


def _beside(*imgs: np.ndarray) -> np.ndarray:
    """Images of one height side by side, GAP white pixels apart."""
    gap = np.full((imgs[0].shape[0], GAP, 3), 255, np.uint8)
    return np.concatenate([part for img in imgs for part in (gap, img)][1:], axis=1)


def _deal(a, mode: str, photos: list[Path], prefix: str, layout, blank: dict) -> None:
    """Each judge's folder: the sheets ``layout(rng)`` gives (sheet, key entry), in the order it gives them, as
    PREFIX_NNN.png, and with --template an empty verdict ``blank`` for each; then the key, apart from the judges.
    ``layout`` draws from the one generator judge after judge, so a seed gives the same sets again."""
    from PIL import Image

    from srgan.bench.figures import save_figure
    from srgan.io.files import atomic_write_json

    rng = np.random.default_rng(a.seed)
    key = {"mode": mode, "models": a.models, "presets": a.presets, "photos": [str(p) for p in photos], "judges": {}}
    for j in range(1, a.judges + 1):
        folder = a.out / f"judge_{j}"
        folder.mkdir(parents=True, exist_ok=True)
        entries = {}
        for n, (sheet, entry) in enumerate(layout(rng), 1):
            entries[name := f"{prefix}_{n:03d}"] = entry
            save_figure(Image.fromarray(sheet), folder / f"{name}.png")
        key["judges"][str(j)] = entries
        if a.template:
            atomic_write_json(folder / "verdicts.json", {name: blank for name in entries})
    a.key.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(a.key, key)


def rate(a) -> int:
    """One output at a time beside its input, every model's output of every photo and preset shuffled together."""
    photos = _check_args(a)
    items = _outputs(a.models, photos, a.presets, a.device)
    singles = [(preset, photo, near, m, out) for preset, photo, near, *outs in items for m, out in zip(a.models, outs)]

    def layout(rng):
        for i in rng.permutation(len(singles)):
            preset, photo, near, model, out = singles[i]
            width = min(a.width, near.shape[1])
            yield _beside(_middle(near, width), _middle(out, width)), {"preset": preset, "photo": photo, "model": model}

    _deal(a, "rate", photos, "image", layout, {"keep": "", "flags": [], "note": ""})
    print(f"{len(singles)} images for each of {a.judges} judges in {a.out}; key in {a.key}")
    return 0


def make(a) -> int:
    """Both models' outputs side by side, left and right drawn at random per judge, below the input."""
    photos = _check_args(a)
    items = _outputs(a.models, photos, a.presets, a.device)

    def layout(rng):
        order, flips = rng.permutation(len(items)), rng.integers(0, 2, len(items))
        for i in order:
            preset, photo, near, *outs = items[i]
            left, right = (1, 0) if flips[i] else (0, 1)
            width = min(a.width, near.shape[1])
            bottom = _beside(_middle(outs[left], width), _middle(outs[right], width))
            top = _pad_to(_middle(near, width), bottom.shape[1])
            sheet = np.concatenate([top, np.full((GAP, top.shape[1], 3), 255, np.uint8), bottom], axis=0)
            yield sheet, {"preset": preset, "photo": photo, "left": a.models[left], "right": a.models[right]}

    _deal(a, "pairs", photos, "pair", layout, {"better": "", "flags": {"left": [], "right": []}, "note": ""})
    print(f"{len(items)} pairs for each of {a.judges} judges in {a.out}; key in {a.key}")
    return 0


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise SrganError(f"{path}: cannot be read ({e.__class__.__name__}: {e})") from None
    except json.JSONDecodeError as e:
        raise SrganError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict):
        raise SrganError(f"{path}: must be a JSON object")
    return data


def _judged(a, key: dict):
    """(verdicts file, the key's entries for its judge, its verdicts) for each file, checked against the key."""
    ids = a.judge_ids or list(range(1, len(a.verdicts) + 1))
    if len(ids) != len(a.verdicts):
        raise SrganError(f"--judge-ids names {len(ids)} judges for {len(a.verdicts)} verdicts files")
    for j, path in zip(ids, a.verdicts):
        if str(j) not in key["judges"]:
            raise SrganError(f"{a.key}: no judge {j} (the key has {', '.join(key['judges'])})")
        entries = key["judges"][str(j)]
        verdicts = _read_json(path)
        if set(verdicts) != set(entries):
            raise SrganError(f"{path}: judge {j}'s verdicts must cover exactly the {len(entries)} images of the key")
        for name, v in verdicts.items():
            if not isinstance(v, dict):
                raise SrganError(f"{path}: {name}: each verdict must be a JSON object")
        yield path, entries, verdicts


def _tally(tallies: dict, path, name: str, where: tuple, raised) -> None:
    """Count the flags one judge raised against one output in ``tallies[(preset, photo, model)]``."""
    raised = set(raised or [])
    if raised - set(FLAGS):
        raise SrganError(f"{path}: {name}: unknown flag(s) {sorted(raised - set(FLAGS))} (flags: {', '.join(FLAGS)})")
    tallies.setdefault(where, Counter()).update(raised)


def _flag_table(presets, models, tallies: dict, n_judges: int) -> None:
    """Per preset and model, every flag's count over judges and photos, and the photos on which most judges
    raised one of the bar's flags."""
    print(f"\nflags raised (judges × photos), and photos where most of the {n_judges} judges raised one of the bar's "
          f"({', '.join(BAR_FLAGS)}):\n")
    print("| preset | model | " + " | ".join(FLAGS) + " | photos failing the bar by most judges |")
    print("|---" * (len(FLAGS) + 3) + "|")
    for preset in presets:
        for m in models:
            mine = {photo: c for (p_, photo, m_), c in tallies.items() if p_ == preset and m_ == m}
            total = sum(mine.values(), Counter())
            failing = sorted(Path(photo).name for photo, c in mine.items()
                             if any(2 * c[f] > n_judges for f in BAR_FLAGS))
            print(f"| {preset} | {m} | " + " | ".join(str(total[f]) for f in FLAGS)
                  + f" | {len(failing)}{': ' + ', '.join(failing) if failing else ''} |")


def score(a) -> int:
    key = _read_json(a.key)
    return (score_rate if key.get("mode") == "rate" else score_pairs)(a, key)


def score_rate(a, key: dict) -> int:
    models, presets = key["models"], key["presets"]
    keep = {(preset, m): Counter() for preset in presets for m in models}
    tallies: dict[tuple, Counter] = {}  # (preset, photo, model) -> judges raising each flag
    judged = 0
    for path, entries, verdicts in _judged(a, key):
        for name, v in verdicts.items():
            e = entries[name]
            if v.get("keep") not in ("yes", "no"):
                raise SrganError(f"{path}: {name}: 'keep' must be yes or no, not {v.get('keep')!r}")
            keep[(e["preset"], e["model"])][v["keep"]] += 1
            _tally(tallies, path, name, (e["preset"], e["photo"], e["model"]), v.get("flags"))
            judged += 1
    n_judges = len(a.verdicts)
    print(f"{judged} verdicts from {n_judges} judges\n")
    print("| preset | " + " | ".join(f"{m} kept" for m in models) + " |")
    print("|---" * (len(models) + 1) + "|")
    for preset in presets:
        print(f"| {preset} | " + " | ".join(f"{keep[(preset, m)]['yes']} of {sum(keep[(preset, m)].values())}"
                                            for m in models) + " |")
    _flag_table(presets, models, tallies, n_judges)
    return 0


def score_pairs(a, key: dict) -> int:
    models, presets = key["models"], key["presets"]
    wins = {preset: Counter() for preset in presets}  # preset -> Counter over models and "same"
    tallies: dict[tuple, Counter] = {}  # (preset, photo, model) -> judges raising each flag
    judged = 0
    for path, entries, verdicts in _judged(a, key):
        for name, v in verdicts.items():
            e = entries[name]
            better = v.get("better")
            if better not in ("left", "right", "same"):
                raise SrganError(f"{path}: {name}: 'better' must be left, right or same, not {better!r}")
            wins[e["preset"]]["same" if better == "same" else e[better]] += 1
            sides = v.get("flags") or {}
            if not isinstance(sides, dict):
                raise SrganError(f"{path}: {name}: 'flags' must be {{\"left\": [...], \"right\": [...]}}")
            for side in ("left", "right"):
                _tally(tallies, path, name, (e["preset"], e["photo"], e[side]), sides.get(side))
            judged += 1
    n_judges = len(a.verdicts)
    print(f"{judged} verdicts from {n_judges} judges\n")
    print("| preset | " + " | ".join(f"{m} preferred" for m in models) + " | same |")
    print("|---" * (len(models) + 2) + "|")
    for preset, c in [*wins.items(), ("all", sum(wins.values(), Counter()))]:
        total = sum(c.values()) or 1
        print(f"| {preset} | " + " | ".join(f"{c[m]} ({c[m] / total:.0%})" for m in models) + f" | {c['same']} |")
    _flag_table(presets, models, tallies, n_judges)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make", help="write the blind pairs and the key")
    m.add_argument("models", nargs=2, help="two models: shipped names, .safetensors files, run folders or peer:NAME")
    r = sub.add_parser("rate", help="write one output at a time beside its input, shuffled over models, and the key")
    r.add_argument("models", nargs="+", help="models: shipped names, .safetensors files, run folders or peer:NAME")
    for q in (m, r):
        q.add_argument("--photos", nargs="+", required=True, help="photo lists (.txt) or folders of HR photos")
        q.add_argument("--presets", nargs="+", default=["jpeg50", "jpeg75", "blur-noise-jpeg70"])
        q.add_argument("--judges", type=int, default=3)
        q.add_argument("--width", type=int, default=480, help="widest output shown, px (default 480)")
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--out", type=Path, required=True)
        q.add_argument("--key", type=Path, required=True)
        q.add_argument("--template", action="store_true", help="write an empty verdicts.json beside each judge's images")
        q.add_argument("--device", default="cpu")
    s = sub.add_parser("score", help="unblind the verdicts and count")
    s.add_argument("key", type=Path)
    s.add_argument("verdicts", nargs="+", help="one verdicts JSON per judge, in judge order")
    s.add_argument("--judge-ids", nargs="+", type=int, help="which judge each verdicts file is (default 1, 2, ...)")
    a = p.parse_args()
    try:
        return {"make": make, "rate": rate, "score": score}[a.cmd](a)
    except (SrganError, OSError) as e:
        print(f"blind_pairs: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
