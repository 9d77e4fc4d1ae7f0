"""The server's memory under the largest requests its default limits allow, read from the real process.

Every image a request makes is bounded by ``--max-output-pixels`` (checked from the upload's header before
any work), and every image-sized step in between is done in strips, so the server's peak resident size
(VmHWM, which includes start-up) must stay under 1.5 GB for the largest result of each kind. The costliest
results are WebP with alpha from 16-bit RGBA uploads (the most bytes a pixel at every step), at the limit.

The network is the tests' tiny ×2 model: its tiles' activations are the inference code's to bound (its own
tests), and do not grow with the request; everything that does is the server's, and is here at full size.
"""

from __future__ import annotations

import io
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="srgan serve needs the web extra (pip install 'srgan[web]')")
httpx = pytest.importorskip("httpx", reason="the client is httpx")
from live_server import running_server  # noqa: E402
from serve_fakes import make_tiny_models  # noqa: E402

from srgan.io.picture import Picture  # noqa: E402
from srgan.io.write import encode_image  # noqa: E402
from srgan.serve.app import DEFAULT_MAX_OUTPUT_PIXELS, DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_MB  # noqa: E402

MAX_RSS_MB = 1500

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's memory from /proc")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM line")


def rgba16_png(side: int) -> bytes:
    """A smooth 16-bit RGBA picture (smooth, so the upload is small and quick to make)."""
    y, x = np.mgrid[0:side, 0:side].astype(np.uint32)
    planes = [(x * 26) % 65536, (y * 26) % 65536, ((x + y) * 13) % 65536, 65535 - (x * 7) % 4096]
    pixels = np.stack(planes, -1).astype(np.uint16)
    return encode_image(Picture(pixels=pixels[..., :3], alpha=pixels[..., 3]), ".png")


def test_the_largest_allowed_bicubic_and_upscale_stay_under_the_bar(tmp_path):
    side = math.isqrt(DEFAULT_MAX_OUTPUT_PIXELS)  # the largest square result
    source = math.isqrt(DEFAULT_MAX_OUTPUT_PIXELS // 4)  # the largest square input whose ×2 result is allowed
    assert source * source <= DEFAULT_MAX_PIXELS
    small, large = rgba16_png(64), rgba16_png(source)
    assert len(large) < DEFAULT_MAX_UPLOAD_MB * 2**20

    models = make_tiny_models(tmp_path / "models")
    threads = {"OMP_NUM_THREADS": str(os.cpu_count() or 1)}  # as a user runs it
    with running_server([models["upscaler"]], tmp_path, env=threads) as (url, pid), httpx.Client(timeout=600) as client:
        def post(route: str, data: bytes, **fields: object) -> httpx.Response:
            files = {"image": ("photo.png", data, "image/png")}
            return client.post(f"{url}/api/{route}", files=files, data={k: str(v) for k, v in fields.items()})

        idle = peak_rss_mb(pid)
        # The request (3.8 GB before), and one pixel over the limit: refused at once.
        for width, height in [(6000, 6000), (side + 1, side + 1)]:
            started = time.monotonic()
            r = post("bicubic", small, width=width, height=height)
            assert r.status_code == 413 and "limit" in r.json()["detail"], r.text
            assert time.monotonic() - started < 5

        started = time.monotonic()
        r = post("bicubic", small, width=side, height=side, format="webp")
        assert r.status_code == 200, r.text
        assert Image.open(io.BytesIO(r.content)).size == (side, side)
        after_bicubic, bicubic_s = peak_rss_mb(pid), time.monotonic() - started

        # ×2 at the limit, then resized to just under ×2: the network's result, the resize and the WebP
        # encoder all at (nearly) full size.
        started = time.monotonic()
        r = post("upscale", large, outscale=1.999, format="webp")
        assert r.status_code == 200, r.text
        final = round(source * 1.999)
        assert Image.open(io.BytesIO(r.content)).size == (final, final)
        after_upscale, upscale_s = peak_rss_mb(pid), time.monotonic() - started

    print(
        f"\nserver VmHWM: {idle:.0f} MB idle, {after_bicubic:.0f} MB after a {side}x{side} bicubic WebP "
        f"({bicubic_s:.1f} s), {after_upscale:.0f} MB after a {source}x{source} → {final}x{final} upscale WebP "
        f"({upscale_s:.1f} s)"
    )
    assert after_bicubic < MAX_RSS_MB and after_upscale < MAX_RSS_MB
