"""Does a GAN ×4 model meet the bar to be the default upscaler? Measure it, and record the verdict in its card.

The bar (the project's issue 13), on the standard benchmark sets with the field's protocol (``srgan evaluate``):

- NIQE (lower is more natural) on Set14 and on BSD100 below the faithful ``srresnet-x4``'s and below the public
  leftthomas SRGAN's;
- PSNR-Y on Set5, Set14 and BSD100 within ``--max-psnr-drop`` (2.5 dB) of ``srresnet-x4``'s;
- and by eye: no halos or wrinkles on faces, no blotches in flat areas. No number catches those (hf_ratio
  rewarded halos), so a person looks at 1:1 crops and says so with ``--visual ok`` (or ``--visual fail``,
  with ``--visual-note`` saying what they saw). Without ``--visual ok`` the bar is not met.

The numbers, the verdict and the note go into ``default_bar`` of the model's card (``--write``, for a shipped
model: ``src/srgan/weights/<name>.json``), where ``srgan.models.zoo.default_upscaler`` reads ``met``. The benchmark sets
are test sets: nothing here picks a checkpoint, it only says yes or no to the one already picked on the
validation cats.

    python tools/default_bar.py --model srgan-x4 [--visual ok|fail --visual-note "..."] [--write]

``--real`` measures the bar for the models for real photos instead (issue 19), which is what
``default_upscaler`` reads for ``srgan-x4-real`` and ``srresnet-x4-real``: on photos that are not in the repo
(``--data``, default BSD100: the validation cats are JPEGs whose own 8×8 blocks sit on the 32-px grid, so
the first five HR files measured 1.1-1.5 blockiness) with each of the ``srgan evaluate --degrade`` presets
jpeg50, jpeg75 and blur-noise-jpeg70,

- blockiness at most 1.10 (no JPEG tiles);
- PSNR-Y at most 0.5 dB below srresnet-x4's on the same inputs;
- NIQE at most 0.3 above Real-ESRGAN x4plus's on the same inputs (``--role gan``; a PSNR model, ``--role psnr``,
  has its NIQE recorded but not judged: it is the fallback when no GAN meets the bar);

and on the clean bicubic inputs PSNR-Y within 1.5 dB of srresnet-x4; the same architecture as srresnet-x4 (so
the same speed; both measured seconds per output megapixel are recorded); and a look at 1:1 crops (``--visual``).

    python tools/default_bar.py --real --model srresnet-x4-real --role psnr [--visual ok ...] [--write]

Unlike the benchmark bar's, the real-photo bar's photos have been used to pick runs and steps (the records name
``--max-images 5`` on BSD100 and configs/cats_val.txt from srgan-x4-real-r13 on), so a candidate that meets it
there is measured again on photos that picked nothing before it ships:
``--data records/training/srgan-x4-real-r51/holdout_bsd100_6-15.txt
records/training/srgan-x4-real-r51/holdout_cats_val_51-60.txt``.

The presets are seeded per image, so a later candidate on the same ``--data`` and ``--max-images`` can take
srresnet-x4's and Real-ESRGAN's numbers from an earlier ``--json`` result (``--reuse FILE``) instead of spending
another quarter of an hour on Real-ESRGAN.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from srgan.bench.places import shared_dir

# The one rule for where ../shared is (srgan report uses it too).
BENCH = shared_dir() / "data" / "benchmark"
PSNR_SETS = ("Set5", "Set14", "BSD100")
NIQE_SETS = ("Set14", "BSD100")


def measure(model: str, reference: str, peer: str) -> dict[str, dict[str, dict]]:
    """{model name: {dataset: {psnr_y, niqe}}} for the candidate, the faithful reference and the peer."""
    from srgan.bench.evaluate import evaluate

    out: dict[str, dict[str, dict]] = {}
    for name in (model, reference, peer):
        rows = evaluate(name, [str(BENCH / s) for s in PSNR_SETS], precision="fp32")
        out[name] = {s: {"psnr_y": round(r["psnr_y"], 4), "niqe": round(r["niqe"], 4)} for s, r in zip(PSNR_SETS, rows)}
        print(f"{name}: " + "  ".join(f"{s} {v['psnr_y']:.2f} dB / NIQE {v['niqe']:.3f}" for s, v in out[name].items()), flush=True)
    return out


def verdict(numbers: dict, model: str, reference: str, peer: str, max_drop: float, visual: str | None) -> dict:
    checks = {}
    for s in NIQE_SETS:
        mine = numbers[model][s]["niqe"]
        checks[f"niqe_{s}"] = mine < numbers[reference][s]["niqe"] and mine < numbers[peer][s]["niqe"]
    for s in PSNR_SETS:
        checks[f"psnr_{s}"] = numbers[reference][s]["psnr_y"] - numbers[model][s]["psnr_y"] <= max_drop
    checks["visual"] = visual == "ok"
    return {"met": all(checks.values()), "checks": checks}


REAL_PRESETS = ("jpeg50", "jpeg75", "blur-noise-jpeg70")


def measure_real(models: list[str], data: list[str], max_images: int | None, peer: str,
                 reused: dict[str, dict] | None = None) -> dict[str, dict[str, dict]]:
    """{model: {preset: {psnr_y, niqe, blockiness, block_profile, flat_noise, seconds_per_mp}}}, each preset's means over all of ``data``.
    The peer (Real-ESRGAN, tens of seconds a photo on 2 cores) runs only the presets its NIQE is compared on.
    A model in ``reused`` (numbers of an earlier run on the same inputs) is not measured again."""
    from srgan.bench.evaluate import evaluate

    out: dict[str, dict[str, dict]] = {}
    for name in models:
        if name in (reused or {}):
            out[name] = reused[name]
            print(f"{name}: numbers reused from --reuse", flush=True)
            continue
        out[name] = {}
        for preset in REAL_PRESETS if name == peer else (*REAL_PRESETS, "bicubic"):
            rows = evaluate(name, data, precision="fp32", max_images=max_images, degrade=preset, with_niqe=preset != "bicubic")
            weights = [r["images"] for r in rows]

            def mean(key: str) -> float | None:
                vals = [r[key] for r in rows]
                return None if None in vals else round(sum(v * w for v, w in zip(vals, weights)) / sum(weights), 4)

            # block_profile and flat_noise are recorded, not judged: diagnostics for soft JPEG cells and for speckle
            # on blurred input (srgan.ops.metrics)
            out[name][preset] = {k: mean(k) for k in ("psnr_y", "niqe", "blockiness", "block_profile", "flat_noise",
                                                      "seconds_per_mp")}
            print(f"{name} {preset}: " + ", ".join(f"{k} {v}" for k, v in out[name][preset].items()), flush=True)
    return out


def verdict_real(numbers: dict, model: str, reference: str, peer: str, role: str, visual: str | None) -> dict:
    from srgan.models import zoo

    checks = {}
    for preset in REAL_PRESETS:
        mine, ref, other = numbers[model][preset], numbers[reference][preset], numbers[peer][preset]
        checks[f"blockiness_{preset}"] = mine["blockiness"] <= 1.10
        checks[f"psnr_{preset}"] = ref["psnr_y"] - mine["psnr_y"] <= 0.5
        if role == "gan":
            checks[f"niqe_{preset}"] = mine["niqe"] <= other["niqe"] + 0.3
    checks["psnr_bicubic"] = numbers[reference]["bicubic"]["psnr_y"] - numbers[model]["bicubic"]["psnr_y"] <= 1.5
    arch = lambda name: zoo.describe(zoo.load_state(zoo.resolve(name))[0]).arguments  # noqa: E731
    checks["same_architecture"] = arch(model) == arch(reference)
    checks["visual"] = visual == "ok"
    return {"met": all(checks.values()), "checks": checks}


def reusable(path: str, data: list[str], max_images: int | None, models: list[str]) -> dict[str, dict]:
    """The reference's and the peer's numbers from an earlier ``--json`` result, when it measured the same inputs.

    The presets are seeded per image, so the same data and image count give the same inputs and the same scores;
    measuring Real-ESRGAN again costs about 15 minutes on 2 cores for ten photos. The candidate is always measured.
    """
    from srgan.errors import SrganError

    try:
        earlier = json.loads(Path(path).read_text())
        same = ([str(Path(d).resolve()) for d in earlier["data"]] == [str(Path(d).resolve()) for d in data]
                and earlier["max_images"] == max_images)
        numbers = earlier["numbers"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SrganError(f"--reuse {path}: not a default_bar --json result ({e})") from None
    if not same:
        raise SrganError(f"--reuse {path}: measured on {earlier['data']} (max_images {earlier['max_images']}), "
                         f"not on {data} (max_images {max_images})")
    return {m: numbers[m] for m in models if m in numbers}


def main_real(a: argparse.Namespace) -> int:
    from srgan.models import zoo

    data = a.data or [str(BENCH / "BSD100")]
    reused = reusable(a.reuse, data, a.max_images, [a.reference, a.real_peer]) if a.reuse else {}
    numbers = measure_real([a.model, a.reference, a.real_peer], data, a.max_images, a.real_peer, reused)
    result = {
        **verdict_real(numbers, a.model, a.reference, a.real_peer, a.role, a.visual),
        "role": a.role, "visual": a.visual, "visual_note": a.visual_note, "numbers": numbers,
        "data": data, "max_images": a.max_images, "reused": {m: a.reuse for m in reused},
        "rule": f"on {', '.join(REAL_PRESETS)} inputs: blockiness <= 1.10, PSNR-Y at most 0.5 dB below {a.reference}"
                + (f", NIQE at most 0.3 above {a.real_peer}" if a.role == "gan" else " (NIQE recorded, not judged: a PSNR model)")
                + f"; clean bicubic inputs: PSNR-Y within 1.5 dB of {a.reference}; {a.reference}'s architecture; "
                "no JPEG tiles, posterised faces or halos at 1:1",
        "command": "python " + shlex.join(["tools/default_bar.py", *sys.argv[1:]]),
        "measured": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps({k: result[k] for k in ("met", "checks", "visual", "visual_note")}, indent=2))
    if a.json:
        from srgan.io.files import atomic_write_bytes

        atomic_write_bytes(a.json, (json.dumps(result, indent=1) + "\n").encode())
    if a.write:
        weights = zoo.resolve(a.model)
        zoo.ModelCard.read(weights).updated(default_bar=result).write(weights)
        print(f"wrote default_bar into {weights.with_suffix('.json')}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="srgan-x4", help="the GAN model: a shipped name or a file")
    p.add_argument("--reference", default="srresnet-x4", help="the faithful model it must beat on NIQE")
    p.add_argument("--peer", default="peer:leftthomas", help="the public SRGAN it must beat on NIQE")
    p.add_argument("--max-psnr-drop", type=float, default=2.5, help="largest PSNR-Y drop below the reference, dB")
    p.add_argument("--visual", choices=["ok", "fail"], help="the verdict of a look at face and flat-area crops at 1:1")
    p.add_argument("--visual-note", default="", help="what the look found")
    p.add_argument("--write", action="store_true", help="write default_bar into the model's card")
    p.add_argument("--real", action="store_true", help="the bar for the models for real photos (see above)")
    p.add_argument("--role", choices=["gan", "psnr"], default="gan", help="--real: a GAN is judged on NIQE too")
    p.add_argument("--real-peer", default="peer:realesrgan-x4plus", help="--real: the NIQE reference")
    p.add_argument("--data", nargs="+", help="--real: datasets as for srgan evaluate (default BSD100)")
    p.add_argument("--max-images", type=int, help="--real: the first N images of each dataset")
    p.add_argument("--json", help="--real: also write the whole result to this file")
    p.add_argument("--reuse", metavar="JSON", help="--real: take the reference's and the peer's numbers from an "
                   "earlier --json result on the same --data and --max-images instead of measuring them again")
    a = p.parse_args()
    if not BENCH.is_dir():
        print(f"default_bar: {BENCH} not found (needs ../shared)", file=sys.stderr)
        return 2
    if a.real:
        from srgan.errors import SrganError

        try:
            return main_real(a)
        except SrganError as e:
            print(f"default_bar: {e}", file=sys.stderr)
            return 2

    from srgan.models import zoo

    numbers = measure(a.model, a.reference, a.peer)
    result = {
        **verdict(numbers, a.model, a.reference, a.peer, a.max_psnr_drop, a.visual),
        "visual": a.visual, "visual_note": a.visual_note, "numbers": numbers,
        "rule": f"NIQE on {', '.join(NIQE_SETS)} below {a.reference} and {a.peer}; PSNR-Y on {', '.join(PSNR_SETS)} "
                f"within {a.max_psnr_drop} dB of {a.reference}; no halos, wrinkles or blotches at 1:1",
        "command": "python " + shlex.join(["tools/default_bar.py", *sys.argv[1:]]),
        "measured": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps({k: result[k] for k in ("met", "checks", "visual", "visual_note")}, indent=2))
    if a.write:
        weights = zoo.resolve(a.model)
        zoo.ModelCard.read(weights).updated(default_bar=result).write(weights)
        print(f"wrote default_bar into {weights.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
