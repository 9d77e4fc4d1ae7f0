"""1:1 crops of candidate ×4 models on real-photo inputs: the by-eye half of the real-photo bar, for any checkpoint.

    python tools/real_crops.py MODEL [MODEL ...] --preset jpeg75 --out crops_jpeg75.png

The same crops as ``srgan report``'s real-photo figure (srgan.bench.figures.REAL_FIGURE: a face, cat fur, flat sky;
each model run on the whole degraded input), on any ``srgan evaluate --degrade`` preset, for models that are not
shipped: run folders, checkpoints or .safetensors files (``tools/checkpoint_weights.py`` makes one from a
checkpoint), shipped names and peers (``peer:realesrgan-x4plus``). Rows whose photo is missing are left out; a
model that does not load is named on stderr and the exit status is 1 (the others are still drawn).

    python tools/real_crops.py MODEL [MODEL ...] --preset blur-noise-jpeg70 --photos LIST.txt [...] --out x.webp

``--photos`` takes photo lists (.txt, as default_bar.py's ``--data``) or folders instead: one row per photo, its most
detailed 128-px window (srgan.bench.figures.busiest_box), so held-out photos are looked at where models differ. An
.webp ``--out`` is lossless WebP, smaller than PNG.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="shipped names, run folders, checkpoints, .safetensors files or peer:NAME")
    p.add_argument("--preset", default="jpeg50", help="an srgan evaluate --degrade preset (default jpeg50)")
    p.add_argument("--out", type=Path, required=True, help="the figure to write (.png, or .webp: lossless)")
    p.add_argument("--photos", nargs="+", metavar="LIST",
                   help="photo lists (.txt) or folders: a row per photo at its most detailed window, instead of the "
                        "report's three crops")
    p.add_argument("--size", type=int, default=128, help="crop side in output pixels with --photos (default 128)")
    p.add_argument("--shared", help="the shared data folder (default: ../shared)")
    p.add_argument("--device", default="cpu")
    a = p.parse_args()

    from srgan.bench.evaluate import find_dataset
    from srgan.bench.figures import REAL_FIGURE, SCALE, real_figure
    from srgan.bench.places import peers_dir, shared_dir
    from srgan.bench.report import cats_list
    from srgan.errors import SrganError
    from srgan.ops.realistic import PRESETS

    try:
        if a.preset not in PRESETS:
            raise SrganError(f"unknown preset {a.preset!r}; choose one of {', '.join(PRESETS)}")
        if a.out.suffix.lower() not in (".png", ".webp"):
            raise SrganError(f"{a.out}: the figure is written as .png or .webp (lossless)")
        if a.photos:
            # Each photo at its most detailed window (a box given by its size alone), picked on HR where
            # real_figure reads it: the input's lost detail is what the models have to draw.
            data = a.photos
            crops = [(name, hr_path.name, a.size) for name, pairs in (find_dataset(spec, SCALE) for spec in a.photos)
                     for hr_path, _ in pairs]
            if not crops:
                raise SrganError(f"no photos in {', '.join(a.photos)}")
        else:
            bench = shared_dir(a.shared) / "data" / "benchmark"
            data = [str(d) for d in (bench / "Set5", bench / "BSD100") if d.is_dir()]
            data += [str(cats)] if (cats := cats_list(CHECKOUT)) else []
            crops = REAL_FIGURE
            if not data:
                raise SrganError(f"no photos to crop: {bench}/Set5, BSD100 and the photos of configs/cats_val.txt "
                                 "are missing")
        fig = real_figure(a.out.parent, data, a.models, peers_dir(None, a.shared), a.device, crops=crops,
                          preset=a.preset, filename=a.out.name)
    except SrganError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {a.out}: {fig['caption']}")
    if fig["missing"]:  # a model the user named and does not see is an error, even with the others drawn
        print(f"error: not shown: {'; '.join(fig['missing'])}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
