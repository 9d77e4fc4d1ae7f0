"""Start ``srgan serve`` as a real process on a free loopback port, for the browser and load tests.

The server binds port 0 and prints its URL; the helper reads it from the output file, waits for
``/healthz`` and stops the process (its own, by pid) afterwards. When ``srgan.load`` is not there
yet, the same ``serve`` function runs with the tests' stand-in loader instead of through the CLI.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import srgan

HERE = Path(__file__).resolve().parent


@contextlib.contextmanager
def running_server(
    models: list[Path], log_dir: Path, *options: str, timeout: float = 60, env: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """Yield (base URL, pid) of a server offering ``models`` (none: the shipped ones), once ``/healthz`` says
    it is ready; ``options`` are extra CLI flags, ``env`` extra environment variables."""
    if hasattr(srgan, "load"):
        args = [sys.executable, "-m", "srgan.cli", "serve", "--host", "127.0.0.1", "--port", "0"]
        for model in models:
            args += ["--model", str(model)]
        args += list(options)
    else:
        args = [sys.executable, "-c", _fallback_script(models, options)]
    # Tiny models: one thread is plenty, unless the test says otherwise.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    out_path, err_path = log_dir / "server.out", log_dir / "server.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
    try:
        url = _wait_for_url(proc, out_path, err_path, timeout)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_for_url(proc: subprocess.Popen, out_path: Path, err_path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"srgan serve exited with {proc.returncode}:\n{err_path.read_text()[-3000:]}")
        if url is None:
            m = re.search(r"(http://127\.0\.0\.1:\d+)/", out_path.read_text())
            url = m.group(1) if m else None
        if url is not None:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{url}/healthz", timeout=5) as r:
                    if r.status == 200:
                        return url
        time.sleep(0.1)
    raise RuntimeError(f"srgan serve did not come up in {timeout:.0f} s:\n{err_path.read_text()[-3000:]}")


def _fallback_script(models: list[Path], options: tuple[str, ...]) -> str:
    flags = dict(zip(options[::2], options[1::2]))
    kwargs = {
        "max_upload_mb": float(flags["--max-upload-mb"]) if "--max-upload-mb" in flags else None,
        "max_pixels": int(flags["--max-pixels"]) if "--max-pixels" in flags else None,
        "queue_size": int(flags["--queue-size"]) if "--queue-size" in flags else None,
    }
    return (
        f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
        "from serve_fakes import tiny_loader\n"
        "from srgan.serve.server import serve\n"
        f"serve('127.0.0.1', 0, models={[str(m) for m in models]!r}, loader=tiny_loader, **{kwargs!r})\n"
    )
