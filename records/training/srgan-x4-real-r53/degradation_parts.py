"""Which part of the blurred preset (blur σ 1 LR px, noise σ 0.02, JPEG 70) a model mishandles: one face (Set5
img_005, the report's face crop) through each part and pair of parts alone, every model on the whole LR, the
128-px face crop at 2× nearest. Rows: the preset itself (seeded as `srgan evaluate` seeds it), blur, noise, blur +
JPEG 70, noise + JPEG 70, blur + noise; columns: the models named.

    python records/training/srgan-x4-real-r53/degradation_parts.py OUT.png MODEL [MODEL ...]
"""

import sys

import numpy as np
from PIL import Image

import srgan
from srgan.ops.imresize import imresize_uint8
from srgan.ops.realistic import apply_preset, degrade_lr, preset_rng

PARTS = {"blur-noise-jpeg70 (the preset)": None, "blur": (1.0, 0.0, None), "noise": (0.0, 0.02, None),
         "blur + JPEG 70": (1.0, 0.0, 70), "noise + JPEG 70": (0.0, 0.02, 70), "blur + noise": (1.0, 0.02, None)}


def main(out: str, models: list[str]) -> None:
    hr = np.asarray(Image.open("../shared/data/benchmark/Set5/HR/img_005.png").convert("RGB"))
    lr = imresize_uint8(hr, scale=0.25)
    nets = [srgan.load(m, device="cpu", precision="fp32") for m in models]
    rows = []
    for part in PARTS.values():
        if part is None:  # seeded as `srgan evaluate` seeds it
            x = apply_preset(lr, "blur-noise-jpeg70", preset_rng("img_005.png"))
        else:
            x = degrade_lr(lr, *part, np.random.default_rng(0))
        outs = [net.upscale(x, tile=0) for net in nets]
        rows.append(np.concatenate([o[64:192, 48:176] for o in outs], 1))
    grid = np.concatenate(rows, 0)
    Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(out)
    print(f"wrote {out}: rows {', '.join(PARTS)}; columns {', '.join(models)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
