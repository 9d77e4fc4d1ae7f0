"""Running a model over files: ``srgan upscale | denoise | restore INPUT... -o OUTPUT``.

Inputs are files, folders (searched recursively) and glob patterns. OUTPUT is a file when there is one
input image and OUTPUT ends in an image extension; otherwise it is a folder (created when absent) that
receives ``<stem><suffix>.<ext>`` for each input, mirroring the sub-folders of an input folder so two
``photo.jpg`` in different folders never collide.

A bad file never stops the batch: its problem is printed as one line on stderr, the batch goes on, and a
summary ends it; the exit code is 1 when any file failed. Outputs are written atomically (temporary file
+ rename), so a failure leaves no partial file, and an input is never overwritten unless the user named it
as the output file.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from srgan.errors import OutputTooLarge, SrganError, UsageError
from srgan.io.files import IMAGE_EXTENSIONS, list_images
from srgan.io.picture import Picture
from srgan.io.read import DEFAULT_MAX_PIXELS, read_image
from srgan.io.write import write_image

# What a step returns: the result, plus named intermediates to save beside it when asked ("denoised": ...).
Step = Callable[[Picture], tuple[Picture, dict[str, Picture]]]

EXTENSIONS = ("auto", "png", "jpg", "webp", "tif")
_NO_ALPHA = (".jpg", ".jpeg", ".bmp")


@dataclass
class BatchOptions:
    suffix: str
    ext: str = "auto"  # auto: the input's own format (PNG when it has alpha and the format has none)
    quality: int = 95  # JPEG/WebP quality
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    save_intermediate: bool = False


class BatchResult(NamedTuple):
    written: int
    failed: int
    exit_code: int  # 0; 1 when any file failed; 2 when any result was refused as too large (OutputTooLarge)


@dataclass
class _Job:
    source: Path
    relative: Path  # where the output goes below an output folder (the input's path below its folder)
    target: Path | None = None  # the output file, decided here in file mode, after reading in folder mode


def run_batch(inputs: list[str], output: str, step: Step, options: BatchOptions) -> BatchResult:
    """Apply ``step`` to every input image and write the results."""
    jobs, failures = _expand(inputs)
    if not jobs and failures:
        for message in failures:
            _error(message)
        raise SrganError(f"no input images ({len(failures)} input{'s' if len(failures) > 1 else ''} not found)")
    out = Path(output)
    file_mode = out.suffix.lower() in IMAGE_EXTENSIONS and not out.is_dir()
    if file_mode and len(jobs) + len(failures) > 1:
        raise UsageError(f"-o {output} names one file, but there are {len(jobs)} input images; give a folder")
    if file_mode:
        jobs[0].target = out
    else:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SrganError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from None
        if not os.access(out, os.W_OK):
            raise SrganError(f"{out}: no permission to write in the output folder")

    inputs_resolved = {job.source.resolve() for job in jobs}
    claimed: dict[Path, Path] = {}
    written = 0
    refused = False
    failed_names: list[str] = []
    for message in failures:
        _error(message)
        failed_names.append(message.split(": ")[0])
    for job in jobs:
        try:
            t0 = time.perf_counter()
            pic = read_image(job.source, max_pixels=options.max_pixels)
            target = job.target or out / job.relative.parent / (job.relative.stem + options.suffix + _extension(job.source, pic, options.ext))
            key = target.resolve()
            if job.target is None and key in inputs_resolved:
                raise SrganError(f"{job.source}: the output {target} would overwrite an input; choose another -o or --suffix")
            if key in claimed:
                raise SrganError(f"{job.source}: the output {target} is also the output of {claimed[key]}; rename one input")
            claimed[key] = job.source
            result, intermediates = step(pic)
            target.parent.mkdir(parents=True, exist_ok=True)
            for name, picture in intermediates.items() if options.save_intermediate else ():
                write_image(target.with_name(f"{target.stem}_{name}{target.suffix}"), picture, quality=options.quality)
            write_image(target, result, quality=options.quality)
            h, w = pic.pixels.shape[:2]
            oh, ow = result.pixels.shape[:2]
            print(f"{job.source} -> {target}  ({w}x{h} -> {ow}x{oh}, {time.perf_counter() - t0:.1f} s)", flush=True)
            written += 1
        except SrganError as exc:
            if isinstance(exc, OutputTooLarge):
                if len(jobs) == 1 and not failures:  # one image: the refusal is the whole answer, one line
                    raise OutputTooLarge(f"{job.source}: {exc}") from None
                refused = True
            message = str(exc)
            _error(message if message.startswith(str(job.source)) else f"{job.source}: {message}")
            failed_names.append(str(job.source))
        except MemoryError:
            _error(f"{job.source}: not enough memory (try a smaller --tile)")
            failed_names.append(str(job.source))
        except OSError as exc:  # mkdir of a sub-folder, mostly
            _error(f"{job.source}: {exc.strerror or exc}")
            failed_names.append(str(job.source))
        except RuntimeError as exc:
            if "out of memory" not in str(exc).lower():
                raise
            _error(f"{job.source}: the device ran out of memory (try a smaller --tile)")
            failed_names.append(str(job.source))
    summary = f"{written} written, {len(failed_names)} failed"
    if failed_names:
        print(f"srgan: {summary}: {', '.join(failed_names)}", file=sys.stderr)
    else:
        print(summary)
    return BatchResult(written, len(failed_names), 2 if refused else 1 if failed_names else 0)


def _expand(inputs: list[str]) -> tuple[list[_Job], list[str]]:
    """Jobs for every input image, and one message per input that named nothing usable."""
    jobs: list[_Job] = []
    failures: list[str] = []
    seen: set[Path] = set()
    for spec in inputs:
        try:
            paths = list_images([spec])
        except SrganError as exc:
            failures.append(str(exc))
            continue
        root = Path(spec) if Path(spec).is_dir() else None
        for path in paths:
            key = path.resolve()
            if key in seen:
                continue
            seen.add(key)
            jobs.append(_Job(path, path.relative_to(root) if root else Path(path.name)))
    return jobs, failures


def _extension(source: Path, pic: Picture, ext: str) -> str:
    if ext != "auto":
        return "." + ext
    own = source.suffix.lower()
    if own not in IMAGE_EXTENSIONS:
        return ".png"
    if pic.alpha is not None and own in _NO_ALPHA:
        return ".png"
    keeps_16 = own == ".png" or (own in (".tif", ".tiff") and pic.is_gray and pic.alpha is None)
    if pic.bit_depth == 16 and not keeps_16:
        return ".png"  # the only format here that keeps 16-bit colour
    return own


def _error(message: str) -> None:
    print(message if message.startswith("srgan") else f"srgan: error: {message}", file=sys.stderr, flush=True)
