"""``srgan degrade``: HR images → LR (and/or noisy) images, the degradation our models are trained on.

Downscaling is MATLAB-compatible bicubic in uint8 mode (what the benchmark LR sets were made with); noise,
when asked, is clipped Gaussian noise with σ on the [0, 1] scale, added after the downscale. Each file's
noise is seeded by (seed, file name), so the output does not depend on which other files are processed.
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import numpy as np

from srgan.errors import SrganError
from srgan.ops.pixels import peak, resize


def add_gaussian_noise(pixels: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Clipped Gaussian noise with σ on the [0, 1] scale, quantised back to the input's integer type."""
    top = peak(pixels.dtype)
    noisy = pixels / top + rng.standard_normal(pixels.shape) * sigma
    return np.rint(np.clip(noisy, 0, 1) * top).astype(pixels.dtype)


def degrade_array(pixels: np.ndarray, scale: int = 4, noise: float | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
    """H×W×C uint8/uint16 → (H/scale)×(W/scale)×C, plus noise when ``noise`` is given."""
    out = resize(pixels, scale=1 / scale) if scale != 1 else pixels
    if noise:
        out = add_gaussian_noise(out, noise, rng if rng is not None else np.random.default_rng(0))
    return out


def degrade_files(inputs: list[str], outdir: str, scale: int = 4, noise: float | None = None, seed: int = 0) -> tuple[int, int]:
    """Write each input's degraded copy to ``outdir/<stem>.png``: (written, failed)."""
    from srgan.io.files import list_images
    from srgan.io.picture import Picture
    from srgan.io.read import read_image
    from srgan.io.write import write_image

    if scale < 1:
        raise SrganError(f"--scale must be a positive integer, not {scale}")
    if noise is not None and not 0 <= noise <= 1:
        raise SrganError(f"--noise {noise}: σ must be on the [0, 1] scale")
    if scale == 1 and not noise:
        raise SrganError("--scale 1 without --noise would only copy the images")
    paths = list_images(inputs)
    out = Path(outdir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SrganError(f"{out}: cannot create the output folder ({e.strerror})") from None
    written = failed = 0
    for path in paths:
        try:
            pic = read_image(path)
            rng = np.random.default_rng([seed, zlib.crc32(path.name.encode())])
            pixels = degrade_array(pic.pixels, scale, noise, rng)
            alpha = None
            if pic.alpha is not None:
                alpha = degrade_array(pic.alpha[:, :, None], scale, None)[:, :, 0]
            target = out / (path.stem + ".png")
            if target.resolve() == path.resolve():
                raise SrganError(f"{path}: output would overwrite the input; choose another -o")
            write_image(target, Picture(pixels=pixels, alpha=alpha, mode=pic.mode, exif=pic.exif, icc_profile=pic.icc_profile, format="PNG"))
            written += 1
        except SrganError as e:
            print(f"srgan: error: {e}", file=sys.stderr)
            failed += 1
    return written, failed
