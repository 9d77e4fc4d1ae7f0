"""A bounded load test of a real ``srgan serve`` on loopback: 200 requests, 8 at a time.

The traffic mixes valid photos with oversized (bytes and pixels) and malformed uploads. The queue
holds fewer than 8, so some valid requests must be told to retry (503 with Retry-After); none may get
any other 5xx, each error must be the right 4xx, and the server's memory must stay bounded. Every
request has a timeout and the whole run a deadline, so the test stops by itself.
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="srgan serve needs the web extra (pip install 'srgan[web]')")
httpx = pytest.importorskip("httpx", reason="the load test's client is httpx")
from live_server import running_server  # noqa: E402
from serve_fakes import make_tiny_models  # noqa: E402

REQUESTS = 200
CONCURRENCY = 8
QUEUE_SIZE = 3
MAX_UPLOAD_MB = 0.1
MAX_PIXELS = 40_000
RSS_LIMIT_MB = 1500
DEADLINE_S = 60


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def traffic() -> list[tuple[str, bytes, set[int]]]:
    """(kind, body, allowed statuses) for each request, in a fixed order."""
    rng = np.random.default_rng(0)
    valid = _png(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8))
    too_many_bytes = _png(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8))  # ~120 KB of noise
    too_many_pixels = _png(np.zeros((250, 250, 3), np.uint8))  # small file, 62,500 pixels
    assert len(valid) < MAX_UPLOAD_MB * 2**20 < len(too_many_bytes) and len(too_many_pixels) < len(valid)
    kinds = [
        ("valid", valid, {200, 503}),
        ("valid", valid, {200, 503}),
        ("bytes", too_many_bytes, {413}),
        ("valid", valid, {200, 503}),
        ("pixels", too_many_pixels, {413}),
        ("valid", valid, {200, 503}),
        ("text", b"this is not an image " * 20, {415}),
        ("truncated", valid[: len(valid) // 2], {422, 503}),  # found out only when decoded, in the queue
    ]
    return [kinds[i % len(kinds)] for i in range(REQUESTS)]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's memory from /proc")
def test_mixed_load_on_loopback(tmp_path):
    models = make_tiny_models(tmp_path / "models")
    options = ("--queue-size", str(QUEUE_SIZE), "--max-upload-mb", str(MAX_UPLOAD_MB), "--max-pixels", str(MAX_PIXELS))
    with running_server([models["upscaler"]], tmp_path, *options) as (url, pid):
        assert url.startswith("http://127.0.0.1:")  # loopback only
        peak = [rss_mb(pid)]
        done = threading.Event()

        def sample_memory() -> None:
            while not done.wait(0.1):
                peak.append(rss_mb(pid))

        sampler = threading.Thread(target=sample_memory, daemon=True)
        sampler.start()
        deadline = time.monotonic() + DEADLINE_S
        local = threading.local()

        def send(request: tuple[str, bytes, set[int]]) -> tuple[str, int, str | None, set[int]]:
            kind, body, allowed = request
            if time.monotonic() > deadline:
                return kind, -1, None, allowed
            if not hasattr(local, "client"):
                local.client = httpx.Client(timeout=30)
            files = {"image": ("upload.png", body, "image/png")}
            r = local.client.post(f"{url}/api/upscale", files=files)
            return kind, r.status_code, r.headers.get("retry-after"), allowed

        started = time.monotonic()
        try:
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                results = list(pool.map(send, traffic()))
        finally:
            done.set()
            sampler.join(5)
        seconds = time.monotonic() - started

        assert all(status != -1 for _, status, _, _ in results), f"not finished within {DEADLINE_S} s"
        counts = Counter((kind, status) for kind, status, _, _ in results)
        unexpected = [(kind, status) for kind, status, _, allowed in results if status not in allowed]
        assert not unexpected, f"unexpected answers: {Counter(unexpected)}; all: {counts}"
        assert all(retry and int(retry) >= 1 for _, status, retry, _ in results if status == 503)
        assert counts[("valid", 200)] > 0, counts
        assert counts[("valid", 503)] > 0, f"a queue of {QUEUE_SIZE} under {CONCURRENCY} clients never filled: {counts}"
        assert max(peak) < RSS_LIMIT_MB, f"server RSS peaked at {max(peak):.0f} MB"

        # Still healthy and serving afterwards.
        assert httpx.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}
        print(f"\n{REQUESTS} requests in {seconds:.1f} s, peak RSS {max(peak):.0f} MB: {dict(sorted(counts.items()))}")
