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
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time

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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="srgan-x4", help="the GAN model: a shipped name or a file")
    p.add_argument("--reference", default="srresnet-x4", help="the faithful model it must beat on NIQE")
    p.add_argument("--peer", default="peer:leftthomas", help="the public SRGAN it must beat on NIQE")
    p.add_argument("--max-psnr-drop", type=float, default=2.5, help="largest PSNR-Y drop below the reference, dB")
    p.add_argument("--visual", choices=["ok", "fail"], help="the verdict of a look at face and flat-area crops at 1:1")
    p.add_argument("--visual-note", default="", help="what the look found")
    p.add_argument("--write", action="store_true", help="write default_bar into the model's card")
    a = p.parse_args()
    if not BENCH.is_dir():
        print(f"default_bar: {BENCH} not found (needs ../shared)", file=sys.stderr)
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
