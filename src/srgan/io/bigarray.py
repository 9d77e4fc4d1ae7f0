"""Image-sized output arrays that need not stay in RAM.

A 6000×4000 photo upscaled ×4 is 384 megapixels: 1.15 GB of 8-bit RGB, more than the rest of the
program needs together. Outputs over ``IN_MEMORY_LIMIT`` bytes therefore live in a memory-mapped,
already-unlinked temporary file: the tiler writes finished rows into it and calls :func:`release`,
which hands those pages back to the kernel (they stay in the file and the page cache, and are read
back on the next access), and the PNG writer releases each block of rows after encoding it. The
process's resident memory is then bounded by the tiles and row blocks in flight, not by the image.

Everything else sees a plain ``np.ndarray``; nothing is left on disk when the array is freed, even after
a crash, since the file has no name.
"""

from __future__ import annotations

import mmap
import os
import tempfile

import numpy as np

IN_MEMORY_LIMIT = 256 * 2**20  # bytes; a 12000×8000 RGB output (288 MB) and up go to disk


def empty(shape: tuple[int, ...], dtype: np.dtype | type, *, limit: int | None = None) -> np.ndarray:
    """An uninitialised C-contiguous array, file-backed when larger than ``limit`` bytes
    (default ``IN_MEMORY_LIMIT``; the temporary folder is ``$SRGAN_TMPDIR``, else the system's)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if nbytes <= (IN_MEMORY_LIMIT if limit is None else limit) or nbytes == 0:
        return np.empty(shape, dtype)
    with tempfile.TemporaryFile(prefix="srgan-", dir=os.environ.get("SRGAN_TMPDIR") or None) as f:
        f.truncate(nbytes)
        mapping = mmap.mmap(f.fileno(), nbytes)  # the mapping keeps the unlinked file alive after close
    return np.frombuffer(mapping, dtype).reshape(shape)


def is_file_backed(arr: np.ndarray) -> bool:
    return _mapping(arr) is not None


def release(arr: np.ndarray, start_row: int, stop_row: int) -> None:
    """Drop rows ``[start_row, stop_row)`` of a file-backed array from this process's memory.

    Their data is kept (a shared file mapping's pages live in the page cache and the file); only whole
    pages inside the rows are dropped, so neighbouring rows are never touched. A no-op for arrays in RAM.
    """
    mapping = _mapping(arr)
    if mapping is None or stop_row <= start_row or not hasattr(mapping, "madvise"):
        return
    base = np.frombuffer(mapping, np.uint8).ctypes.data
    row_bytes = arr.strides[0]
    page = mmap.PAGESIZE
    first = arr.ctypes.data - base + start_row * row_bytes
    last = arr.ctypes.data - base + stop_row * row_bytes
    begin = -(-first // page) * page
    end = last // page * page
    if end > begin:
        mapping.madvise(mmap.MADV_DONTNEED, begin, end - begin)


def _mapping(arr: np.ndarray) -> mmap.mmap | None:
    base = arr
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):  # np.frombuffer keeps a memoryview of the mapping
        base = base.obj
    return base if isinstance(base, mmap.mmap) else None
