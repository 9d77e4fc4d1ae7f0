"""Files in, files out: ``srgan upscale | denoise | restore INPUT... -o OUTPUT`` and ``srgan degrade``.

Inputs are files, folders (searched recursively) and glob patterns. OUTPUT is a file when there is one
input image and OUTPUT ends in an image extension; otherwise it is a folder (created when absent) that
receives ``<stem><suffix>.<ext>`` for each input, mirroring the sub-folders of an input folder so two
``photo.jpg`` in different folders never collide. One input with an OUTPUT that ends in another
extension (``-o res.gif``) is refused rather than made a folder; a trailing ``/`` asks for a folder.

:func:`plan_batch` lists the inputs and checks OUTPUT without touching a model, so a typo costs nothing;
:meth:`BatchPlan.run` then applies a step (the model) to each image. A bad file never stops the batch:
its problem is printed as one line on stderr, the batch goes on, and a summary ends it; the exit code is
1 when any file failed. Outputs are written atomically (temporary file + rename), so a failure leaves no
partial file; temporary files left by a killed run are removed by the next run into the same folder.
An input is never overwritten unless the user named it as the output file, and files this command wrote
on an earlier run into a folder that is also its input are neither taken as new inputs nor redone.
"""

from __future__ import annotations

import os
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from srgan.errors import OutputTooLarge, SrganError, UsageError
from srgan.io.files import IMAGE_EXTENSIONS, list_images, remove_stale_temps
from srgan.io.picture import Picture
from srgan.io.read import DEFAULT_MAX_PIXELS, read_image
from srgan.io.write import write_image
from srgan.ops.degrade import degrade_array

# What a step returns: the result, plus named intermediates to save beside it when asked ("denoised": ...).
Step = Callable[[Picture], tuple[Picture, dict[str, Picture]]]

EXTENSIONS = ("auto", "png", "jpg", "webp", "tif")
_NO_ALPHA = (".jpg", ".jpeg", ".bmp")


@dataclass
class BatchOptions:
    """How results are named and written; checked when made, so a bad option is refused before any work."""

    suffix: str
    ext: str = "auto"  # auto: the input's own format (PNG when it has alpha and the format has none)
    quality: int = 95  # JPEG/WebP quality
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    save_intermediate: bool = False
    # Names of the intermediates a step returns, saved as <stem><suffix>_<name>.<ext> with save_intermediate.
    intermediates: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.ext not in EXTENSIONS:
            raise UsageError(f"--ext {self.ext}: use one of {', '.join(EXTENSIONS)}")
        if not 1 <= self.quality <= 100:
            raise UsageError(f"--quality must be between 1 and 100, got {self.quality}")
        if self.max_pixels is not None and self.max_pixels < 0:
            raise UsageError("--max-pixels must be 0 (no limit) or positive")
        if any(sep in self.suffix for sep in {"/", os.sep}):
            raise UsageError(f"--suffix {self.suffix!r}: a suffix cannot contain a path separator")


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
    """Apply ``step`` to every input image and write the results (:func:`plan_batch`, then :meth:`BatchPlan.run`)."""
    return plan_batch(inputs, output).run(step, options)


@dataclass
class BatchPlan:
    """The input images and where their results go, checked; nothing written yet."""

    jobs: list[_Job]
    failures: list[str]  # one message per input that named nothing usable
    out: Path  # the output file (file_mode) or folder
    file_mode: bool

    def run(self, step: Step, options: BatchOptions) -> BatchResult:
        """Apply ``step`` to every input image and write the results."""
        return _run(self, step, options)


def plan_batch(inputs: list[str], output: str) -> BatchPlan:
    """List the inputs and check the output, without creating anything: everything that can be refused
    before a model is loaded is refused here.

    Symbolic-link loops among the inputs are skipped, each with a warning line.

    Raises:
        SrganError: no input names an image; the output folder cannot be created or written to.
        UsageError: one output file for several inputs; an output extension that is no image format.
    """
    jobs, failures = _expand(inputs)
    if not jobs and len(failures) == 1:
        raise SrganError(failures[0])  # the one line says it all
    if not jobs and failures:
        for message in failures:
            _error(message)
        raise SrganError(f"no input images ({len(failures)} inputs not found)")
    out = Path(output)
    count = len(jobs) + len(failures)
    # A trailing slash is how to ask for a folder whose name has a dot in it ("-o v1.5/").
    wants_folder = output.endswith(("/", os.sep)) or out.is_dir()
    file_mode = out.suffix.lower() in IMAGE_EXTENSIONS and not wants_folder
    if file_mode and count > 1:
        raise UsageError(f"-o {output} names one file, but there are {len(jobs)} input images; give a folder")
    if count == 1 and not wants_folder and out.suffix and not file_mode:
        raise UsageError(
            f"-o {output}: {out.suffix} is not an output format (use {', '.join(IMAGE_EXTENSIONS)}); "
            f"to write into a folder of that name, end it with /"
        )
    if file_mode:
        jobs[0].target = out
        _check_file_target(out)
    else:
        _check_folder_target(out)
    return BatchPlan(jobs, failures, out, file_mode)


def _check_file_target(target: Path) -> None:
    folder = target.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise SrganError(f"{target}: folder {folder} {what}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SrganError(f"{target}: no permission to write in {folder}")


def _check_folder_target(out: Path) -> None:
    """Whether ``mkdir -p out`` would succeed and leave a folder we can write in; nothing is created, so a
    run refused later (an unknown model) leaves no empty folder behind."""
    if out.is_dir():
        if not os.access(out, os.W_OK | os.X_OK):
            raise SrganError(f"{out}: no permission to write in the output folder")
        return
    existing = out
    while not existing.exists() and not existing.is_symlink() and existing != existing.parent:
        existing = existing.parent
    if existing.is_symlink() and not existing.exists():
        raise SrganError(f"{out}: cannot create the output folder ({existing} is a broken symbolic link)")
    if existing != out and existing.is_dir():
        if not os.access(existing, os.W_OK | os.X_OK):
            raise SrganError(f"{out}: cannot create the output folder (no permission to write in {existing})")
        return
    raise SrganError(f"{out}: cannot create the output folder ({existing} is a file)")


def _run(plan: BatchPlan, step: Step, options: BatchOptions) -> BatchResult:
    out = plan.out
    if not plan.file_mode:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SrganError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from None
        if not os.access(out, os.W_OK):
            raise SrganError(f"{out}: no permission to write in the output folder")
    jobs, earlier = _without_earlier_results(plan, options)
    for folder in dict.fromkeys(job.target.parent if job.target else out / job.relative.parent for job in jobs):
        _sweep(folder)

    inputs_resolved = {_resolved(job.source) for job in jobs}
    claimed: dict[Path, Path] = {}
    written = skipped = 0
    refused = False
    failed_names: list[str] = []
    for message in plan.failures:
        _error(message)
        failed_names.append(message.split(": ")[0])
    for job in jobs:
        try:
            t0 = time.perf_counter()
            pic = read_image(job.source, max_pixels=options.max_pixels)
            target = job.target or out / job.relative.parent / (job.relative.stem + options.suffix + _extension(job.source, pic, options.ext))
            key = _resolved(target)
            if key in earlier:
                print(f"{job.source}: its result {target} is already there; skipped (delete it to redo)", flush=True)
                skipped += 1
                continue
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
                if len(jobs) == 1 and not plan.failures:  # one image: the refusal is the whole answer, one line
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
    summary = f"{written} written, {len(failed_names)} failed" + (f", {skipped} skipped" if skipped else "")
    if failed_names and len(jobs) + len(plan.failures) > 1:  # one input: its error line above says it all
        print(f"srgan: {summary}: {', '.join(failed_names)}", file=sys.stderr)
    elif not failed_names:
        print(summary)
    return BatchResult(written, len(failed_names), 2 if refused else 1 if failed_names else 0)


def _without_earlier_results(plan: BatchPlan, options: BatchOptions) -> tuple[list[_Job], set[Path]]:
    """The jobs, less the inputs that are this command's results from an earlier run; and those results.

    ``srgan upscale d -o d`` run twice would otherwise take d/t_x4.png as an input and write t_x4_x4.png.
    The rule: an input is an earlier result when it lies exactly where another input's result goes in
    this run, i.e. at OUTPUT/<that input's sub-folder>/<its stem><suffix>[_<intermediate>].<an extension
    this run could pick for it>. Names are all there is to go by without writing records beside the
    user's files, and a name can lie: the user's own photo_x4.jpg beside photo.jpg looks the same. So
    such a file is neither read as an input nor overwritten: the input whose result it would be is
    skipped too, with a line saying so (delete the result to redo it). Inputs stay never overwritten,
    and a re-run into the same folder does only the new images. An empty suffix names no result apart
    from its source, so nothing is skipped then (the overwrite check refuses instead).
    """
    if plan.file_mode or not options.suffix:
        return plan.jobs, set()
    results: set[Path] = set()
    for job in plan.jobs:
        own = job.source.suffix.lower()
        exts = {"." + options.ext} if options.ext != "auto" else {own if own in IMAGE_EXTENSIONS else ".png", ".png"}
        stem = job.relative.stem + options.suffix
        stems = [stem, *(f"{stem}_{name}" for name in options.intermediates if options.save_intermediate)]
        results.update(_resolved(plan.out / job.relative.parent / (s + e)) for s in stems for e in exts)
    kept = [job for job in plan.jobs if _resolved(job.source) not in results]
    earlier = [job.source for job in plan.jobs if _resolved(job.source) in results]
    if earlier:
        shown = ", ".join(map(str, earlier[:3])) + (f" and {len(earlier) - 3} more" if len(earlier) > 3 else "")
        many = len(earlier) > 1
        print(f"{len(earlier)} earlier result{'s' if many else ''} of this command, not taken as input{'s' if many else ''}: "
              f"{shown}", flush=True)
    return kept, {_resolved(path) for path in earlier}


def _sweep(folder: Path) -> None:
    """Remove the temporary files a killed run left in an output folder we are about to write in."""
    removed = remove_stale_temps(folder)
    if removed:
        print(f"srgan: removed {len(removed)} temporary file{'s' if len(removed) > 1 else ''} left in {folder} "
              "by an interrupted run", file=sys.stderr, flush=True)


def _resolved(path: Path) -> Path:
    """``path.resolve()``, or its absolute form when it is a symbolic-link loop (resolve raises on those)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def _expand(inputs: list[str]) -> tuple[list[_Job], list[str]]:
    """Jobs for every input image, and one message per input that named nothing usable."""
    jobs: list[_Job] = []
    failures: list[str] = []
    seen: set[Path] = set()
    for spec in inputs:
        try:
            paths = list_images([spec], on_skip=_warn_skipped)
        except SrganError as exc:
            failures.append(str(exc))
            continue
        root = Path(spec) if Path(spec).is_dir() else None
        for path in paths:
            key = _resolved(path)
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


def _warn_skipped(path: Path, reason: str) -> None:
    print(f"srgan: warning: {path}: {reason}; skipped", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------- srgan degrade


def degrade_files(inputs: list[str], outdir: str, scale: int = 4, noise: float | None = None, seed: int = 0) -> tuple[int, int]:
    """Write each input's degraded copy (:func:`srgan.ops.degrade.degrade_array`) to ``outdir/<stem>.png``:
    (written, failed).

    Each file's noise is seeded by (seed, file name), so the output does not depend on which other files
    are processed.
    """
    if scale < 1:
        raise SrganError(f"--scale must be a positive integer, not {scale}")
    if noise is not None and not 0 <= noise <= 1:
        raise SrganError(f"--noise {noise}: σ must be on the [0, 1] scale")
    if scale == 1 and not noise:
        raise SrganError("--scale 1 without --noise would only copy the images")
    paths = list_images(inputs, on_skip=_warn_skipped)
    out = Path(outdir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SrganError(f"{out}: cannot create the output folder ({e.strerror})") from None
    _sweep(out)
    written = failed = 0
    claimed: dict[Path, Path] = {}
    for path in paths:
        try:
            target = out / (path.stem + ".png")
            if _resolved(target) == _resolved(path):
                raise SrganError(f"{path}: output would overwrite the input; choose another -o")
            if _resolved(target) in claimed:  # a.png and a.jpg, or two folders' a.png: one would silently win
                raise SrganError(f"{path}: the output {target} is also the output of {claimed[_resolved(target)]}; "
                                 "rename one input")
            claimed[_resolved(target)] = path
            pic = read_image(path)
            rng = np.random.default_rng([seed, zlib.crc32(path.name.encode())])
            pixels = degrade_array(pic.pixels, scale, noise, rng)
            alpha = None
            if pic.alpha is not None:
                alpha = degrade_array(pic.alpha[:, :, None], scale, None)[:, :, 0]
            write_image(target, Picture(pixels=pixels, alpha=alpha, mode=pic.mode, exif=pic.exif, icc_profile=pic.icc_profile, format="PNG"))
            written += 1
        except SrganError as e:
            message = str(e)
            print(f"srgan: error: {message if message.startswith(str(path)) else f'{path}: {message}'}", file=sys.stderr)
            failed += 1
    return written, failed
