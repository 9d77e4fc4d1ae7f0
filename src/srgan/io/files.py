"""Files on disk: writing them atomically and finding the images among them.

Every output (images, weights, JSON cards and reports) goes through :func:`atomic_path`, so a crash or a
full disk never leaves half a file behind. Every folder of images (inputs to upscale, training and
evaluation sets) is listed by one rule, :func:`is_image_name`, so the CLI and training agree on which
files are images.

Nothing here imports numpy or Pillow: model cards and reports can be written without them.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path

from srgan.errors import SrganError

__all__ = [
    "IMAGE_EXTENSIONS",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "image_files_in",
    "is_image_name",
    "list_images",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


# --------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` only if the block succeeds.

    The temporary file already exists (empty) and keeps ``path``'s extension, so writers that go
    by the extension (``np.save``, Pillow) behave. Its name starts with a dot so folder scans
    such as :func:`list_images` skip it. On any exception, including KeyboardInterrupt, it is
    deleted and the exception propagates; ``path`` is then untouched.

    Raises:
        SrganError: the folder is missing or not writable, or the final rename fails.
    """
    target = Path(path)
    tmp = _create_temp_next_to(target)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        _fsync(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SrganError(f"{os.fspath(path)}: could not write ({exc.strerror or exc})") from exc


def _create_temp_next_to(target: Path) -> Path:
    folder = target.parent
    for _ in range(100):
        tmp = folder / f".{target.name}.{secrets.token_hex(4)}.tmp{target.suffix}"
        try:
            # os.open with 0o666 (not mkstemp's 0o600) so the result gets the usual umask rights.
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
        except FileNotFoundError as exc:
            raise SrganError(f"{os.fspath(target)}: folder {folder} does not exist") from exc
        except NotADirectoryError as exc:
            raise SrganError(f"{os.fspath(target)}: {folder} is not a folder") from exc
        except PermissionError as exc:
            raise SrganError(f"{os.fspath(target)}: no permission to write in {folder}") from exc
        except OSError as exc:
            raise SrganError(f"{os.fspath(target)}: cannot write here ({exc.strerror or exc})") from exc
    raise SrganError(f"{os.fspath(target)}: could not create a temporary file in {folder}")


def _fsync(path: Path) -> None:
    """Flush the file to disk so the rename never publishes a name whose data is still in flight."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + rename); see :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(path: str | os.PathLike[str], obj: object) -> None:
    """Write ``obj`` to ``path`` atomically as JSON: indented by 2, keys in their own order, newline-ended.

    The text is made before any file is created, so an object that cannot be serialised leaves ``path``
    untouched.
    """
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


# --------------------------------------------------------------------------------------------
# Finding images
# --------------------------------------------------------------------------------------------


def is_image_name(path: Path) -> bool:
    """Whether a folder scan takes this file: an :data:`IMAGE_EXTENSIONS` extension, any case, and a name
    not starting with a dot.

    Dot names are hidden files, macOS AppleDouble resource forks (``._photo.jpg``, which carry an image
    extension but no image) and our own temporary files (see :func:`atomic_path`).
    """
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def image_files_in(folder: Path, recursive: bool = True) -> list[Path]:
    """The image files in ``folder`` by :func:`is_image_name`, sorted; hidden sub-folders are not entered.

    A missing folder gives an empty list: callers word that error for their own context.
    """
    images = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        images.extend(Path(root) / f for f in files if is_image_name(Path(f)))
    return sorted(images)


def list_images(inputs: Iterable[str | os.PathLike[str]], recursive: bool = True) -> list[Path]:
    """Expand files, folders and glob patterns into image paths, in order, without duplicates.

    - A file is taken as is, whatever its extension (the reader will judge it).
    - A folder is searched (recursively unless ``recursive=False``) for files with an
      :data:`IMAGE_EXTENSIONS` extension, case-insensitively, in sorted order. Names starting with
      a dot are skipped: they are hidden files, macOS ``._`` resource forks or our own temporary
      files.
    - Anything else containing ``*``, ``?`` or ``[`` is a glob pattern (``**`` crosses folders);
      matched image files are taken and matched folders searched as above.

    Raises:
        SrganError: a missing path, a pattern that matches no images, or a folder without images.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for item in inputs:
        name = os.fspath(item)
        for path in _expand(name, recursive):
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                found.append(path)
    return found


def _expand(name: str, recursive: bool) -> list[Path]:
    path = Path(name)
    if path.is_file():
        return [path]
    if path.is_dir():
        images = image_files_in(path, recursive)
        if not images:
            looked_for = ", ".join(IMAGE_EXTENSIONS)
            raise SrganError(f"{name}: no images in this folder (looked for {looked_for})")
        return images
    if any(ch in name for ch in "*?["):
        images = []
        for match in sorted(glob.glob(name, recursive=True)):
            candidate = Path(match)
            if candidate.is_dir():
                images.extend(image_files_in(candidate, recursive))
            elif is_image_name(candidate):
                images.append(candidate)
        if not images:
            raise SrganError(f"{name}: pattern matches no images")
        return images
    raise SrganError(f"{name}: no such file or folder")
