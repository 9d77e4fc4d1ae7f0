"""``srgan serve`` as a user starts it, with the shipped models: the default upscaler is the one ``srgan info``
names, it is loaded (precision probe included) before ``/healthz`` says ready, and a request without a model
gets exactly what naming that model gets.
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="srgan serve needs the web extra (pip install 'srgan[web]')")
httpx = pytest.importorskip("httpx", reason="the client is httpx")
from live_server import running_server  # noqa: E402

import srgan  # noqa: E402
from srgan.models import zoo  # noqa: E402

pytestmark = pytest.mark.skipif(
    not hasattr(srgan, "load") or zoo.default_upscaler() not in zoo.shipped_models(),
    reason="needs the inference API and the shipped default model",
)


def test_the_shipped_default_is_loaded_at_start_and_used_without_a_model(tmp_path):
    default = zoo.default_upscaler()
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(buf, format="PNG")
    photo = {"image": ("photo.png", buf.getvalue(), "image/png")}
    started = time.monotonic()
    # An empty precision cache: the load at start-up includes the probe, as on a first run.
    with running_server([], tmp_path, timeout=300, env={"SRGAN_CACHE": str(tmp_path / "cache")}) as (url, _pid):
        ready = time.monotonic() - started
        log = (tmp_path / "server.out").read_text()
        assert f"ready (default model {default}," in log, log

        with httpx.Client(base_url=url, timeout=120) as client:
            cards = client.get("/api/models").json()
            defaults = {card["name"] for card in cards if card["default"]}
            assert default in defaults
            assert {card["kind"] for card in cards if card["default"]} == {zoo.read_card(zoo.shipped_models()[default])["kind"], "denoiser"}
            implicit = client.post("/api/upscale", files=photo)
            named = client.post("/api/upscale", files=photo, data={"model": default})
        assert implicit.status_code == named.status_code == 200, implicit.text
        assert implicit.content == named.content
        assert Image.open(io.BytesIO(implicit.content)).size == (128, 96)
    print(f"\nready {ready:.1f} s after start ({default} loaded and probed)")
