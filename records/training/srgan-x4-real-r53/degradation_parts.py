"""Which part of the blurred preset (blur σ 1 LR px, noise σ 0.02, JPEG 70) a model mishandles: one face (Set5
img_005, the report's face crop) through each part and pair of parts alone, every model on the whole LR, the
128-px face crop at 2× nearest. Rows: the preset itself (seeded as `srgan evaluate` seeds it), blur, noise, blur +
JPEG 70, noise + JPEG 70, blur + noise; columns: the models named.

    python records/training/srgan-x4-real-r53/degradation_parts.py OUT.png MODEL [MODEL ...]
"""

import math
import sys

import numpy as np
import torch
from PIL import Image

from srgan.models import zoo
from srgan.ops.imresize import imresize_uint8
from srgan.ops.realistic import apply_preset, filter2d, gaussian_kernel, gaussian_noise, jpeg, preset_rng

PARTS = {"blur-noise-jpeg70 (the preset)": None, "blur": (1.0, 0.0, None), "noise": (0.0, 0.02, None),
         "blur + JPEG 70": (1.0, 0.0, 70), "noise + JPEG 70": (0.0, 0.02, 70), "blur + noise": (1.0, 0.02, None)}


def degrade(lr: np.ndarray, blur: float, sigma: float, quality: int | None) -> np.ndarray:
    img = lr.astype(np.float32) / 255.0
    if blur:
        img = filter2d(img, gaussian_kernel(2 * math.ceil(3 * blur) + 1, blur))
    if sigma:
        img = gaussian_noise(img, sigma, gray=False, rng=np.random.default_rng(0))
    img = np.clip(img, 0, 1)
    img = jpeg(img, quality) if quality else img
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def main(out: str, models: list[str]) -> None:
    hr = np.asarray(Image.open("../shared/data/benchmark/Set5/HR/img_005.png").convert("RGB"))
    lr = imresize_uint8(hr, scale=0.25)
    nets = [zoo.build_from_state(zoo.load_state(zoo.resolve(m))[0])[0].eval() for m in models]
    rows = []
    for part in PARTS.values():
        x = apply_preset(lr, "blur-noise-jpeg70", preset_rng("img_005.png")) if part is None else degrade(lr, *part)
        t = torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            outs = [(net(t).clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for net in nets]
        rows.append(np.concatenate([o[64:192, 48:176] for o in outs], 1))
    grid = np.concatenate(rows, 0)
    Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(out)
    print(f"wrote {out}: rows {', '.join(PARTS)}; columns {', '.join(models)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
