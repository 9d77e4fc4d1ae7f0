"""Files on disk: writing them atomically and finding the images among them.

Every output (images, weights, JSON cards and reports) goes through :func:`atomic_path`, so a crash or a
full disk never leaves half a file behind. Every folder of images (inputs to upscale, training and
evaluation sets) is listed by one rule, :func:`is_image_name`, so the CLI and training agree on which
files are images.

Nothing here imports numpy or Pillow: model cards and reports can be written without them.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
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
    "remove_stale_temps",
]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


# --------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` only if the block succeeds.

    The temporary file already exists (empty) and keeps ``path``'s extension, so writers that go
    by the extension (``np.save``, Pillow) behave. Its name starts with a dot so folder scans
    such as :func:`list_images` skip it. On any exception, including KeyboardInterrupt (the CLI
    turns SIGTERM into one), it is deleted and the exception propagates; ``path`` is then untouched.
    A process killed outright leaves it behind, named ``.NAME.PID-XXXXXXXX.tmp.EXT``;
    :func:`remove_stale_temps` recognises those once PID has ended.

    Raises:
        SrganError: the folder is missing or not writable, or the final rename fails.
    """
    target = Path(path)
    tmp = _create_temp_next_to(target)
    try:
        yield tmp
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename is None and exc.errno is not None:  # a full disk says so without a name: it is this file
            exc.filename = os.fspath(path)
        raise
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
        tmp = folder / f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{target.suffix}"
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


# .NAME.PID-HEX.tmp.EXT as made above; PID- is absent in the names of versions before it was added.
_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.(?:(?P<pid>\d+)-)?[0-9a-f]{8}\.tmp(?P<ext>(?:\.[^.]*)?)", re.DOTALL)
# A temporary file no process has touched for this long is abandoned whoever made it: writers fill it
# from the moment it is created, and an old-style name carries no PID to ask about.
_ABANDONED_AFTER_S = 600.0


def remove_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files :func:`atomic_path` left in ``folder`` (not below it) when its process
    was killed; the paths removed.

    Only names of exactly that pattern, whose final name keeps the temporary's extension, are
    candidates, and only regular files. One is stale when the PID in its name is no longer running, or
    when nobody has written to it for 10 minutes (old-style names without a PID; a PID reused by an
    unrelated process). A file another live process is still writing is therefore left alone.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if not match or Path(match["name"]).suffix != match["ext"]:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            idle = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        pid = int(match["pid"]) if match["pid"] else None
        if idle < _ABANDONED_AFTER_S and (pid is None or _running(pid)):
            continue
        try:
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def _running(pid: int) -> bool:
    """Whether a process with this id exists; True when we cannot tell, so nothing live is deleted."""
    if pid == os.getpid() or os.name != "posix":
        return True  # on Windows os.kill(pid, 0) would send CTRL_C_EVENT, not probe
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # EPERM: it exists, owned by someone else
    return True


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


# Told about each folder entry that is skipped although its name is an image's: (path, why).
OnSkip = Callable[[Path, str], None]


def _log_skip(path: Path, reason: str) -> None:
    log.warning("%s: %s; skipped", path, reason)


def _link_loop(path: Path) -> bool:
    """Whether ``path`` is a symbolic link that never reaches a file (a -> b -> a)."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def _usable(paths: Iterable[Path], on_skip: OnSkip | None) -> list[Path]:
    """``paths`` without symbolic-link loops, each reported to ``on_skip``: a loop cannot be read,
    resolved or compared with other paths (pathlib raises on it), and one must not stop the others."""
    kept = []
    for path in paths:
        if _link_loop(path):
            (on_skip or _log_skip)(path, "a symbolic link loop")
        else:
            kept.append(path)
    return kept


def image_files_in(folder: Path, recursive: bool = True, on_skip: OnSkip | None = None) -> list[Path]:
    """The image files in ``folder`` by :func:`is_image_name`, sorted; hidden sub-folders are not entered.

    A missing folder gives an empty list: callers word that error for their own context. Entries that are
    symbolic-link loops are left out and reported to ``on_skip(path, reason)`` (default: a logged warning).
    """
    images = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        images.extend(Path(root) / f for f in files if is_image_name(Path(f)))
    return _usable(sorted(images), on_skip)


def list_images(
    inputs: Iterable[str | os.PathLike[str]], recursive: bool = True, on_skip: OnSkip | None = None
) -> list[Path]:
    """Expand files, folders and glob patterns into image paths, in order, without duplicates.

    - A file is taken as is, whatever its extension (the reader will judge it).
    - A folder is searched (recursively unless ``recursive=False``) for files with an
      :data:`IMAGE_EXTENSIONS` extension, case-insensitively, in sorted order. Names starting with
      a dot are skipped: they are hidden files, macOS ``._`` resource forks or our own temporary
      files.
    - Anything else containing ``*``, ``?`` or ``[`` is a glob pattern (``**`` crosses folders);
      matched image files are taken and matched folders searched as above.
    - Symbolic-link loops found in folders or by patterns are skipped and reported to ``on_skip``
      (see :func:`image_files_in`).

    Raises:
        SrganError: a missing path or a link loop named as an input, a pattern that matches no images,
            or a folder without images.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for item in inputs:
        name = os.fspath(item)
        for path in _expand(name, recursive, on_skip):
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                found.append(path)
    return found


def _expand(name: str, recursive: bool, on_skip: OnSkip | None) -> list[Path]:
    path = Path(name)
    if path.is_file():
        return [path]
    if path.is_dir():
        images = image_files_in(path, recursive, on_skip)
        if not images:
            looked_for = ", ".join(IMAGE_EXTENSIONS)
            raise SrganError(f"{name}: no images in this folder (looked for {looked_for})")
        return images
    if any(ch in name for ch in "*?["):
        images = []
        for match in sorted(glob.glob(name, recursive=True)):
            candidate = Path(match)
            if candidate.is_dir():
                images.extend(image_files_in(candidate, recursive, on_skip))
            elif is_image_name(candidate):
                images.extend(_usable([candidate], on_skip))
        if not images:
            raise SrganError(f"{name}: pattern matches no images")
        return images
    if _link_loop(path):
        raise SrganError(f"{name}: a symbolic link loop, not a file")
    if path.exists():  # a device, a pipe, a socket
        raise SrganError(f"{name}: not a regular file (a device, pipe or socket)")
    raise SrganError(f"{name}: no such file or folder")
