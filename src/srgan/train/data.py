"""Training data: image sources → in-memory pictures → random crops → (input, target) batches.

A source is a folder of images (searched recursively), ``mnist:DIR`` (the IDX files) or ``stl10:DIR``
(the binary files), read natively so no torchvision is needed. Pictures are decoded once and kept in memory
as uint8 arrays up to a budget, so the two CPU cores of a small machine stay busy on the model rather than
on JPEG decoding; past the budget they are decoded on demand.

Every batch is a pure function of (seed, step, rank): the crops, flips, rotations and noise for step ``s``
come from ``numpy.random.default_rng([seed, s, rank])``. Resuming at step ``s`` therefore continues with
exactly the batches an uninterrupted run would have seen, without saving any data-loader state, and each
DDP rank draws its own batches.
"""

from __future__ import annotations

import gzip
import os
import struct
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from srgan.errors import SrganError
from srgan.io.files import IMAGE_EXTENSIONS, image_files_in
from srgan.io.read import read_u8
from srgan.ops.imresize import imresize_uint8
from srgan.ops.pixels import luma, resize
from srgan.ops.realistic import JPEG_BLOCK, RealDegradation, degrade_real_blocks


# ---------------------------------------------------------------------------------------------- sources


def find_image_files(folder: Path) -> list[Path]:
    """Every image below ``folder``, sorted: the order datasets are read in. Which files count is
    :func:`srgan.io.files.is_image_name`, the rule the CLI lists inputs by (dotfiles and hidden folders skipped)."""
    return image_files_in(folder)


def read_path_list(txt: str | Path) -> list[Path]:
    """A ``.txt`` dataset: one image path per line, relative to the file; blank lines and # comments skipped."""
    txt = Path(txt)
    if not txt.is_file():
        raise SrganError(f"{txt}: list file not found")
    base = txt.resolve().parent
    paths = []
    for line in txt.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            paths.append((base / line).resolve())
    if not paths:
        raise SrganError(f"{txt}: the list is empty")
    return paths


def _open_maybe_gz(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def read_idx_images(path: str | Path) -> np.ndarray:
    """MNIST IDX image file (``*-images-idx3-ubyte[.gz]``) → uint8 array (N, 28, 28)."""
    data = _open_maybe_gz(Path(path))
    if len(data) < 16:
        raise SrganError(f"{path}: too short for an IDX image file")
    magic, n, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != 2051:
        raise SrganError(f"{path}: not an IDX image file (magic {magic}, expected 2051)")
    expected = 16 + n * rows * cols
    if len(data) < expected:
        raise SrganError(f"{path}: truncated IDX file ({len(data)} bytes, expected {expected})")
    return np.frombuffer(data, np.uint8, n * rows * cols, 16).reshape(n, rows, cols)


def read_stl10_images(path: str | Path) -> np.ndarray:
    """STL-10 binary file (``*_X.bin``): N × 3 × 96 × 96 bytes, each plane stored column-major → (N, 96, 96, 3)."""
    data = Path(path).read_bytes()
    size = 3 * 96 * 96
    if len(data) == 0 or len(data) % size:
        raise SrganError(f"{path}: not an STL-10 image file (size {len(data)} is not a multiple of {size})")
    return np.frombuffer(data, np.uint8).reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1).copy()


def _mnist_arrays(folder: Path) -> list[np.ndarray]:
    files = sorted(p for p in folder.rglob("*") if "idx3-ubyte" in p.name)
    if not files:
        raise SrganError(f"mnist:{folder}: no '*-images-idx3-ubyte[.gz]' files found")
    return [img[:, :, None] for f in files for img in read_idx_images(f)]


def _stl10_arrays(folder: Path) -> list[np.ndarray]:
    files = sorted(p for p in folder.rglob("*_X.bin")) or sorted(folder.rglob("*.bin"))
    files = [f for f in files if not f.name.endswith("_y.bin")]
    if not files:
        raise SrganError(f"stl10:{folder}: no '*_X.bin' files found")
    return [img for f in files for img in read_stl10_images(f)]


def to_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    """uint8 H×W×C → H×W×``channels``: gray replicated to RGB, or RGB to gray with BT.601 luma (PIL's "L")."""
    if arr.shape[2] == channels:
        return np.ascontiguousarray(arr)
    if channels == 3:
        return np.repeat(arr, 3, axis=2)
    return np.clip(np.rint(luma(arr)), 0, 255).astype(np.uint8)


def decode_u8(path: Path, channels: int) -> np.ndarray:
    """An image file as uint8 H×W×``channels`` (16-bit reduced to 8); SrganError when unreadable."""
    return to_channels(read_u8(path), channels)


def training_image(path: Path, channels: int, downscale: float = 1.0) -> np.ndarray:
    """A training picture as :class:`ImageStore` holds it: decoded, then shrunk by ``downscale`` (the config's
    hr_downscale, antialiased) when > 1; SrganError when unreadable."""
    arr = decode_u8(path, channels)
    if downscale > 1:
        h, w = (max(1, round(n / downscale)) for n in arr.shape[:2])
        arr = resize(arr, size=(h, w))
    return arr


def source_files(source: str, exclude: set[Path] | None = None) -> list[Path]:
    """The image files one data source (a folder, scanned, or a ``.txt`` list) gives :class:`ImageStore`, in its
    order, less ``exclude`` (resolved paths)."""
    folder = Path(source)
    if folder.is_file() and folder.suffix == ".txt":
        found = read_path_list(folder)
    elif folder.is_dir():
        found = find_image_files(folder)
    else:
        raise SrganError(f"{source}: data folder not found")
    found = [p for p in found if p.resolve() not in (exclude or set())]
    if not found:
        raise SrganError(f"{source}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return found


@dataclass
class LoadReport:
    images: int = 0
    skipped_unreadable: int = 0  # files that could not be decoded, each warned about once
    cached_bytes: int = 0
    on_demand: int = 0


class ImageStore:
    """All training pictures: decoded uint8 arrays (H, W, C) in memory up to ``cache_mb``, paths beyond."""

    def __init__(
        self,
        sources: list[str],
        channels: int = 3,
        exclude: set[Path] | None = None,
        cache_mb: float = 4096,
        min_size: int = 0,
        downscale: float = 1.0,
    ) -> None:
        self.channels = channels
        self.min_size = min_size
        self.downscale = downscale
        self.report = LoadReport()
        self._items: list[np.ndarray | Path] = []
        budget = int(cache_mb * 2**20)
        exclude = exclude or set()
        paths: list[Path] = []
        for source in sources:
            kind, _, rest = source.partition(":")
            if kind in ("mnist", "stl10") and rest:
                folder = Path(rest)
                if not folder.is_dir():
                    raise SrganError(f"{source}: folder not found")
                arrays = _mnist_arrays(folder) if kind == "mnist" else _stl10_arrays(folder)
                for a in arrays:
                    self._add_array(to_channels(a, self.channels))
                continue
            paths.extend(source_files(source, exclude))

        # PIL releases the GIL while decoding, so threads decode in parallel.
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
            for path, arr in zip(paths, pool.map(self._decode_or_none, paths)):
                if arr is None:
                    continue
                if self.report.cached_bytes + arr.nbytes <= budget:
                    self._add_array(arr)
                else:
                    self._items.append(path)
                    self.report.on_demand += 1
        self.report.images = len(self._items)
        if not self._items:
            raise SrganError("no usable training images in " + ", ".join(sources))
        small = sum(1 for it in self._items if isinstance(it, np.ndarray) and min(it.shape[:2]) < min_size)
        if small:
            print(f"note: {small} image(s) smaller than the {min_size}-px crop are reflect-padded to it", file=sys.stderr)

    def _add_array(self, arr: np.ndarray) -> None:
        self._items.append(arr)
        self.report.cached_bytes += arr.nbytes

    def _decode_or_none(self, path: Path) -> np.ndarray | None:
        try:
            return training_image(path, self.channels, self.downscale)
        except SrganError as e:
            print(f"warning: skipping {e}", file=sys.stderr)
            self.report.skipped_unreadable += 1
            return None

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> np.ndarray:
        item = self._items[i]
        if isinstance(item, np.ndarray):
            return item
        arr = self._decode_or_none(item)
        if arr is None:  # became unreadable after the start: use a neighbour instead of crashing the run
            return self[(i + 1) % len(self)]
        return arr


# ------------------------------------------------------------------------------------------- batches


def random_crop(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A ``size``×``size`` crop; images smaller than that are reflect-padded first."""
    h, w = img.shape[:2]
    if h < size or w < size:
        ph, pw = max(0, size - h), max(0, size - w)
        img = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(h, w) > 1 else "edge")
        h, w = img.shape[:2]
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    return img[y : y + size, x : x + size]


def crop_detail(crop: np.ndarray) -> float:
    """How much detail a uint8 crop holds: the mean absolute difference between neighbouring luma pixels."""
    y = luma(crop) if crop.shape[-1] == 3 else crop.astype(np.float32)
    return float(np.abs(np.diff(y, axis=0)).mean() + np.abs(np.diff(y, axis=1)).mean())


def detailed_crop(img: np.ndarray, size: int, tries: int, rng: np.random.Generator) -> np.ndarray:
    """The crop with the most detail (:func:`crop_detail`) among ``tries`` random ones; ``tries`` 1 is
    :func:`random_crop` with the same draws.

    Why: in photos most of the area is sky, wall and out-of-focus background, so a uniform crop seldom holds the
    fur, foliage or fabric whose texture a GAN must learn to draw; picking the busiest of a few crops spends more
    of each step on it.
    """
    crops = [random_crop(img, size, rng) for _ in range(tries)]
    return max(crops, key=crop_detail) if tries > 1 else crops[0]


def augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random horizontal flip and 0/90/180/270° rotation: the 8 dihedral variants of a square crop."""
    if rng.random() < 0.5:
        img = img[:, ::-1]
    return np.rot90(img, int(rng.integers(0, 4)))


@dataclass
class BatchSpec:
    kind: str  # "sr" or "denoise"
    batch_size: int = 16
    crop: int = 96
    crop_tries: int = 1  # keep the most detailed of this many random crops (detailed_crop); 1: uniform crops
    scale: int = 4
    noise_sigma: tuple[float, float] = (0.05, 0.5)
    seed: int = 0
    rank: int = 0
    degradation: RealDegradation | None = None  # SR: None is the benchmark's MATLAB bicubic
    # Denoise: also return each crop's σ (an N-vector), for a denoiser that is told it (srgan.models.ffdnet).
    with_sigma: bool = False


def make_batch(store: ImageStore, spec: BatchSpec, step: int) -> tuple[torch.Tensor, ...]:
    """The (input, target) pair of float tensors in [0, 1] for one training step; (input, target, σ) for
    denoising with ``spec.with_sigma``; (input, target, grid, branch) with a degradation whose ``random_jpeg_grid``
    is on, grid an (N, 2) integer tensor: where each LR's JPEG blocks start (row, column; LR px, 0-7), −1 for a crop
    whose last step was not a JPEG at LR size; branch an N-vector: which :class:`srgan.ops.realistic.Branch` made
    each LR.

    For SR the input is the ×``scale`` MATLAB-bicubic downscale of the HR crop in uint8 mode, the exact
    degradation of the benchmark LR images, or with ``spec.degradation`` each crop's own draw of the
    real-photo pipeline (:func:`srgan.ops.realistic.degrade_real`, from the same step generator). For denoising it is the clean crop plus Gaussian noise with a
    σ drawn per sample from ``noise_sigma``, clipped to [0, 1]; the same draws with or without ``with_sigma``.
    """
    rng = np.random.default_rng([spec.seed, step, spec.rank])
    idx = rng.integers(0, len(store), spec.batch_size)
    crops = np.stack([augment(detailed_crop(store[int(i)], spec.crop, spec.crop_tries, rng), rng) for i in idx])
    hr_u8 = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2)
    hr = hr_u8.float().div_(255)
    if spec.kind == "sr" and spec.degradation is not None:
        # Drawn only when asked for, so that runs without it keep their random stream (and their resumes).
        random_grid = spec.degradation.random_jpeg_grid
        grids = rng.integers(0, JPEG_BLOCK, (len(crops), 2)) if random_grid else np.zeros((len(crops), 2), np.int64)
        pairs = [degrade_real_blocks(c, spec.scale, spec.degradation, rng, (int(g[0]), int(g[1])))
                 for c, g in zip(np.ascontiguousarray(crops), grids)]
        lr = torch.from_numpy(np.stack([p.image for p in pairs])).permute(0, 3, 1, 2).float().div_(255)
        if not random_grid:
            return lr, hr
        grids[[not p.on_grid for p in pairs]] = -1  # no JPEG at LR size: no block borders to watch
        return lr, hr, torch.from_numpy(grids), torch.tensor([int(p.branch) for p in pairs])
    if spec.kind == "sr":
        lr = imresize_uint8(hr_u8.contiguous(), scale=1 / spec.scale).float().div_(255)
        return lr, hr
    lo, hi = spec.noise_sigma
    sigma = torch.from_numpy(rng.uniform(lo, hi, spec.batch_size).astype(np.float32)).view(-1, 1, 1, 1)
    noise = torch.from_numpy(rng.standard_normal(hr.shape, dtype=np.float32))
    noisy = (hr + sigma * noise).clamp_(0, 1)
    return (noisy, hr, sigma.view(-1)) if spec.with_sigma else (noisy, hr)


class StepBatches(torch.utils.data.Dataset):
    """Map-style view of ``make_batch`` so a DataLoader's workers can prefetch whole batches by step."""

    def __init__(self, store: ImageStore, spec: BatchSpec, first_step: int, last_step: int) -> None:
        self.store, self.spec, self.first, self.last = store, spec, first_step, last_step

    def __len__(self) -> int:
        return max(0, self.last - self.first)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        return make_batch(self.store, self.spec, self.first + i)


def batches(store: ImageStore, spec: BatchSpec, first_step: int, last_step: int, num_workers: int = 0):
    """Iterate over the batches for steps ``first_step + 1 .. last_step`` (step numbers start at 1)."""
    dataset = StepBatches(store, spec, first_step + 1, last_step + 1)
    if num_workers <= 0:
        return (dataset[i] for i in range(len(dataset)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iter(
            torch.utils.data.DataLoader(
                dataset, batch_size=None, shuffle=False, num_workers=num_workers, prefetch_factor=4,
                persistent_workers=False,
            )
        )


# --------------------------------------------------------------------------------------- evaluation sets


def dataset_paths(spec: str | Path) -> list[Path]:
    """HR image paths of a validation or evaluation dataset: a folder (recursive) or a ``.txt`` list."""
    p = Path(spec)
    if p.is_file() and p.suffix == ".txt":
        return read_path_list(p)
    if p.is_dir():
        hr = p / "HR"
        files = find_image_files(hr if hr.is_dir() else p)
        if files:
            return files
        raise SrganError(f"{p}: no images found")
    raise SrganError(f"{p}: dataset not found (a folder of images, a benchmark folder with HR/, or a .txt list)")
