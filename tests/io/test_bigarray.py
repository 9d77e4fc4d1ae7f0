"""File-backed output arrays: same values as RAM, and memory handed back as rows are finished."""

from pathlib import Path

import numpy as np
import pytest

from srgan.io import bigarray


def _rss_file_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:") or line.startswith("RssShmem:"):
            return int(line.split()[1])
    raise RuntimeError("no RssFile line")


def test_small_arrays_stay_in_ram_and_large_ones_go_to_a_file():
    assert not bigarray.is_file_backed(bigarray.empty((10, 10, 3), np.uint8))
    big = bigarray.empty((10, 10, 3), np.uint8, limit=0)
    assert bigarray.is_file_backed(big) and big.flags.writeable and big.flags.c_contiguous


def test_released_rows_keep_their_values():
    arr = bigarray.empty((300, 1000, 3), np.uint16, limit=0)
    arr[:] = np.arange(300, dtype=np.uint16)[:, None, None]
    bigarray.release(arr, 0, 300)
    bigarray.release(arr[10:20], 0, 5)  # a view: a no-op on the wrong rows would corrupt its neighbours
    assert (arr == np.arange(300, dtype=np.uint16)[:, None, None]).all()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads this process's memory from /proc")
def test_release_gives_the_pages_back():
    arr = bigarray.empty((1024, 1024, 64), np.uint8, limit=0)  # 64 MiB
    before = _rss_file_kb()
    arr[:] = 7
    filled = _rss_file_kb()
    bigarray.release(arr, 0, 1024)
    after = _rss_file_kb()
    assert filled - before > 50_000, (before, filled)
    assert filled - after > 50_000, (filled, after)
    assert arr[1023, 1023, 63] == 7
