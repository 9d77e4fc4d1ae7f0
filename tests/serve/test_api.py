"""The HTTP API of ``srgan serve`` through FastAPI's TestClient: every endpoint and every error path."""

from __future__ import annotations

import io
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="srgan serve needs the web extra (pip install 'srgan[web]')")
from fastapi.testclient import TestClient  # noqa: E402
from serve_fakes import BlockingLoader, make_tiny_models, tiny_loader  # noqa: E402

import srgan  # noqa: E402
from srgan.errors import SrganError  # noqa: E402
from srgan.ops.imresize import imresize_uint8  # noqa: E402
from srgan.serve.app import STATIC, create_app  # noqa: E402

RNG = np.random.default_rng(6)


def png_bytes(h: int = 12, w: int = 16, mode: str = "RGB", fmt: str = "PNG", **save) -> bytes:
    shape = (h, w) if len(mode) == 1 else (h, w, len(mode))
    img = Image.fromarray(RNG.integers(0, 256, shape, dtype=np.uint8), mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


def decoded(response) -> Image.Image:
    img = Image.open(io.BytesIO(response.content))
    img.load()
    return img


def upload(data: bytes, name: str = "photo.png") -> dict:
    return {"image": (name, data, "application/octet-stream")}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    return make_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def client(tiny):
    app = create_app([str(tiny["upscaler"]), str(tiny["denoiser"])], loader=tiny_loader)
    with TestClient(app) as c:
        yield c


# ------------------------------------------------------------------------------------- the simple GETs


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_models_lists_the_cards(client):
    r = client.get("/api/models")
    assert r.status_code == 200
    cards = {c["name"]: c for c in r.json()}
    assert cards["tiny-x2"]["kind"] == "srgan" and cards["tiny-x2"]["scale"] == 2
    assert cards["tiny-denoiser"]["kind"] == "denoiser"


def test_page_and_its_files_come_from_the_app_alone(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for name in ("app.js", "app.css"):
        assert f"/static/{name}" in r.text
        assert client.get(f"/static/{name}").status_code == 200
    for path in STATIC.iterdir():  # nothing fetched from a CDN or any other site
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", path.read_text()), path.name


def test_openapi_docs(client):
    docs = client.get("/docs")
    assert docs.status_code == 200
    # Swagger UI comes from this server (the swagger-ui-bundle package), not from a CDN.
    assert "/docs-assets/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs-assets/swagger-ui.css").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/upscale", "/api/denoise", "/api/restore", "/api/bicubic", "/api/models", "/healthz"):
        assert path in paths
    fields = paths["/api/upscale"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert fields  # the form (image, model, outscale, tile, format) is documented


# ------------------------------------------------------------------------------------------ the work


def test_upscale_answers_with_the_image(client):
    r = client.post("/api/upscale", files=upload(png_bytes(12, 16), "my photo.png"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-source-size"] == "16x12"
    assert 'filename="my_photo-x2.png"' in r.headers["content-disposition"]
    assert decoded(r).size == (32, 24)


@pytest.mark.parametrize("fmt, content_type, pil_format", [("jpeg", "image/jpeg", "JPEG"), ("webp", "image/webp", "WEBP")])
def test_output_formats(client, fmt, content_type, pil_format):
    r = client.post("/api/upscale", files=upload(png_bytes()), data={"format": fmt, "model": "tiny-x2"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == content_type
    assert decoded(r).format == pil_format


def test_upscale_options_reach_the_model(client):
    r = client.post("/api/upscale", files=upload(png_bytes(10, 10)), data={"outscale": "3", "tile": "64"})
    assert r.status_code == 200, r.text
    assert decoded(r).size == (30, 30)


def test_denoise_keeps_the_size(client):
    r = client.post("/api/denoise", files=upload(png_bytes(12, 20, "L")))
    assert r.status_code == 200, r.text
    img = decoded(r)
    assert img.size == (20, 12) and img.mode == "L"


def test_restore_denoises_then_upscales_like_srgan_restore(client):
    data = png_bytes(12, 16)
    for fields in ({}, {"denoiser": "tiny-denoiser", "upscaler": "tiny-x2"}):
        r = client.post("/api/restore", files=upload(data), data=fields)
        assert r.status_code == 200, r.text
        assert decoded(r).size == (32, 24)
    r = client.post("/api/restore", files=upload(data), data={"upscaler": "none"})
    assert r.status_code == 200, r.text
    assert decoded(r).size == (16, 12)


def test_restore_without_upscalers_only_denoises(tiny):
    with TestClient(create_app([str(tiny["denoiser"])], loader=tiny_loader)) as c:
        r = c.post("/api/restore", files=upload(png_bytes(12, 16)))
        assert r.status_code == 200, r.text
        assert decoded(r).size == (16, 12)


# ------------------------------------------------------------------------------ the noise level σ, given or estimated


@pytest.fixture(scope="module")
def sigma_client(tiny):
    app = create_app([str(tiny["upscaler"]), str(tiny["denoiser"]), str(tiny["ffdnet"])], loader=tiny_loader)
    with TestClient(app) as c:
        yield c


def test_models_say_which_denoiser_is_told_sigma(sigma_client):
    cards = {c["name"]: c for c in sigma_client.get("/api/models").json()}
    assert cards["tiny-ffdnet"]["takes_sigma"] is True
    assert cards["tiny-denoiser"]["takes_sigma"] is False and cards["tiny-x2"]["takes_sigma"] is False


def test_denoise_is_told_sigma_or_estimates_it_and_says_which(sigma_client):
    from srgan.ops.noise_level import estimate_sigma

    net = sigma_client.app.state.catalog.get("tiny-ffdnet")
    data = png_bytes(24, 32)
    given = sigma_client.post("/api/denoise", files=upload(data), data={"model": "tiny-ffdnet", "sigma": "0.25"})
    assert given.status_code == 200, given.text
    assert (given.headers["X-Noise-Sigma"], given.headers["X-Noise-Sigma-Source"]) == ("0.2500", "given")
    assert net.sigmas[-1] == 0.25
    estimated = sigma_client.post("/api/denoise", files=upload(data), data={"model": "tiny-ffdnet"})
    assert estimated.status_code == 200, estimated.text
    expected = min(1.0, estimate_sigma(np.asarray(Image.open(io.BytesIO(data)))))
    assert estimated.headers["X-Noise-Sigma-Source"] == "estimated"
    assert float(estimated.headers["X-Noise-Sigma"]) == pytest.approx(expected, abs=1e-4) and net.sigmas[-1] == expected
    assert decoded(given).size == decoded(estimated).size == (32, 24)
    assert decoded(given).tobytes() != decoded(estimated).tobytes()  # a different σ, a different result
    # restore tells its denoiser the same way
    r = sigma_client.post("/api/restore", files=upload(data), data={"denoiser": "tiny-ffdnet", "upscaler": "tiny-x2", "sigma": "0.1"})
    assert r.status_code == 200 and r.headers["X-Noise-Sigma"] == "0.1000" and decoded(r).size == (64, 48)


def test_a_blind_denoiser_reports_no_sigma(sigma_client):
    r = sigma_client.post("/api/denoise", files=upload(png_bytes()), data={"model": "tiny-denoiser", "sigma": "0.3"})
    assert r.status_code == 200 and "X-Noise-Sigma" not in r.headers


@pytest.mark.parametrize("value", ["-0.1", "1.5", "abc", "nan", "inf"])
def test_bad_sigma_is_422_before_any_model_loads(value):
    loads = []

    def loader(spec: str):
        loads.append(spec)
        raise SrganError("no model is loaded in this test")

    with TestClient(create_app(None, loader=loader)) as c:  # the shipped models, loaded on first use
        for path in ("/api/denoise", "/api/restore"):
            r = c.post(path, files=upload(png_bytes()), data={"sigma": value})
            assert r.status_code == 422, r.text
            assert r.json()["detail"][0]["loc"] == ["body", "sigma"]
    assert set(loads) <= {srgan.DEFAULT_UPSCALER}  # at most the start-up load, nothing for these requests


def test_bicubic_is_matlab_bicubic(client):
    data = png_bytes(12, 16)
    r = client.post("/api/bicubic", files=upload(data), data={"width": "32", "height": "24"})
    assert r.status_code == 200, r.text
    expected = imresize_uint8(np.asarray(Image.open(io.BytesIO(data))), size=(24, 32))
    np.testing.assert_array_equal(np.asarray(decoded(r)), expected)
    # Without a size: the upload itself, re-encoded as PNG (for formats a browser cannot show).
    tiff = png_bytes(6, 5, fmt="TIFF")
    r = client.post("/api/bicubic", files=upload(tiff, "scan.tif"))
    assert r.status_code == 200 and decoded(r).size == (5, 6)


def test_sixteen_bit_and_alpha_survive(client):
    buf = io.BytesIO()
    Image.fromarray(RNG.integers(0, 65536, (8, 9), dtype=np.uint16)).save(buf, format="PNG")
    r = client.post("/api/upscale", files=upload(buf.getvalue()))
    assert r.status_code == 200, r.text
    assert decoded(r).mode.startswith("I;16") and decoded(r).size == (18, 16)
    r = client.post("/api/upscale", files=upload(png_bytes(8, 8, "RGBA")))
    assert r.status_code == 200, r.text
    assert decoded(r).mode == "RGBA"


def test_exif_orientation_is_applied(client):
    img = Image.fromarray(RNG.integers(0, 256, (10, 20, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes())
    r = client.post("/api/upscale", files=upload(buf.getvalue(), "phone.jpg"))
    assert r.status_code == 200, r.text
    assert r.headers["x-source-size"] == "10x20"
    assert decoded(r).size == (20, 40)


def test_default_loader_is_srgan_load(tiny):
    """The real inference API behind the server: every kind of picture an upload can be."""
    if not hasattr(srgan, "load"):
        pytest.skip("srgan.load (the inference API) is not there yet")
    buf = io.BytesIO()
    Image.fromarray(RNG.integers(0, 65536, (8, 9), dtype=np.uint16)).save(buf, format="PNG")
    uploads = {"RGB": png_bytes(8, 9), "L": png_bytes(8, 9, "L"), "RGBA": png_bytes(8, 9, "RGBA"), "I;16": buf.getvalue()}
    with TestClient(create_app([str(tiny["upscaler"]), str(tiny["denoiser"])])) as c:
        kinds = {card["kind"]: card["name"] for card in c.get("/api/models").json()}
        assert set(kinds) == {"srgan", "denoiser"}
        for mode, data in uploads.items():
            r = c.post("/api/upscale", files=upload(data))
            assert r.status_code == 200, (mode, r.text)
            assert decoded(r).size == (18, 16) and decoded(r).mode.startswith(mode[:3]), mode
            r = c.post("/api/restore", files=upload(data), data={"upscaler": kinds["srgan"]})
            assert r.status_code == 200, (mode, r.text)


# ------------------------------------------------------------------------------------------- errors


def assert_json_error(r, status: int, words: str = "") -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert detail
    if words:
        assert words in str(detail).lower(), detail


def test_413_too_many_bytes(tiny):
    app = create_app([str(tiny["upscaler"])], loader=tiny_loader, max_upload_mb=0.1)
    big = png_bytes(200, 200)  # ~120 KB of noise
    assert len(big) > 0.1 * 2**20
    with TestClient(app) as c:
        # Declared by Content-Length: refused by the body limit before the form is parsed.
        assert_json_error(c.post("/api/upscale", files=upload(big + b"\0" * 2**17)), 413, "too large")
        # Within the body limit's slack for the form, but over the file limit.
        assert_json_error(c.post("/api/upscale", files=upload(big)), 413, "too large")
        # Streamed without a length (chunked): counted while it arrives.
        body = b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n\r\n" + big * 2 + b"\r\n--b--\r\n"
        chunks = (body[i : i + 8192] for i in range(0, len(body), 8192))
        r = c.post("/api/upscale", content=chunks, headers={"content-type": "multipart/form-data; boundary=b"})
        assert_json_error(r, 413, "too large")
        # And the server still works afterwards.
        assert c.post("/api/upscale", files=upload(png_bytes(8, 8))).status_code == 200


def test_413_too_many_pixels(tiny):
    app = create_app([str(tiny["upscaler"])], loader=tiny_loader, max_pixels=400)
    with TestClient(app) as c:
        assert_json_error(c.post("/api/upscale", files=upload(png_bytes(21, 20))), 413, "pixels")
        assert c.post("/api/upscale", files=upload(png_bytes(20, 20))).status_code == 200


def test_415_not_an_image(client):
    assert_json_error(client.post("/api/upscale", files=upload(b"just some text, no pixels", "notes.png")), 415, "not an image")
    assert_json_error(client.post("/api/denoise", files=upload(b"%PDF-1.4\n" + bytes(500), "doc.pdf")), 415)


def test_415_unsupported_format(client):
    gif = png_bytes(8, 8, "P", fmt="GIF")
    assert_json_error(client.post("/api/upscale", files=upload(gif, "anim.gif")), 415, "supported format")


def test_422_truncated_image(client):
    data = png_bytes(64, 64)
    assert_json_error(client.post("/api/upscale", files=upload(data[: len(data) // 2])), 422, "truncated")


def test_422_empty_file(client):
    assert_json_error(client.post("/api/upscale", files=upload(b"")), 422, "empty")


def test_422_no_image_field(client):
    assert_json_error(client.post("/api/upscale", data={"model": "tiny-x2"}), 422)


@pytest.mark.parametrize(
    "path, fields, words",
    [
        ("/api/upscale", {"model": "no-such-model"}, "unknown model"),
        ("/api/upscale", {"model": "tiny-denoiser"}, "not a upscaler"),
        ("/api/denoise", {"model": "tiny-x2"}, "not a denoiser"),
        ("/api/restore", {"upscaler": "nope"}, "unknown model"),
    ],
)
def test_422_unknown_or_wrong_model(client, path, fields, words):
    assert_json_error(client.post(path, files=upload(png_bytes()), data=fields), 422, words)


@pytest.mark.parametrize(
    "fields",
    [{"format": "gif"}, {"outscale": "0"}, {"outscale": "100"}, {"outscale": "big"}, {"tile": "-1"}],
)
def test_422_bad_options(client, fields):
    assert_json_error(client.post("/api/upscale", files=upload(png_bytes()), data=fields), 422)


def test_422_bicubic_needs_both_sides(client):
    assert_json_error(client.post("/api/bicubic", files=upload(png_bytes()), data={"width": "10"}), 422, "both")


def test_503_with_retry_after_when_the_queue_is_full(tiny):
    loader = BlockingLoader()
    app = create_app([str(tiny["upscaler"])], loader=loader, queue_size=1)
    data = png_bytes(8, 8)
    with TestClient(app) as c:
        results: list[int] = []

        def post() -> None:
            results.append(c.post("/api/upscale", files=upload(data)).status_code)

        running = threading.Thread(target=post)
        running.start()
        assert loader.started.wait(10), "the first job never started"
        waiting = threading.Thread(target=post)
        waiting.start()
        deadline = time.monotonic() + 10
        while app.state.queue.admitted < 2:  # one running, one queued: the queue (size 1) is full
            assert time.monotonic() < deadline, "the second request never reached the queue"
            time.sleep(0.01)

        r = c.post("/api/upscale", files=upload(data))
        assert_json_error(r, 503, "busy")
        assert int(r.headers["retry-after"]) >= 1
        # Refusals happen before decoding, so cheap requests still get their own answers at once.
        assert c.get("/healthz").status_code == 200

        loader.release.set()
        running.join(10)
        waiting.join(10)
        assert results == [200, 200]
        assert app.state.queue.admitted == 0
        assert c.post("/api/upscale", files=upload(data)).status_code == 200


# ------------------------------------------------------------------------------- defaults and start-up


def test_the_default_upscaler_is_the_one_srgan_info_names_when_offered(tmp_path):
    """Offered after another upscaler, the rule's model still runs when a request names none, and the
    cards say so; without it, the first upscaler named does."""
    from serve_fakes import save_tiny_upscaler

    from srgan.models.zoo import default_upscaler

    other = save_tiny_upscaler(tmp_path / "srgan-other.safetensors", gain=0.5)
    rule = save_tiny_upscaler(tmp_path / f"{default_upscaler()}.safetensors")
    data = png_bytes(10, 12)
    with TestClient(create_app([str(other), str(rule)], loader=tiny_loader)) as c:
        cards = c.get("/api/models").json()
        assert [card["name"] for card in cards] == ["srgan-other", default_upscaler()]
        assert [card["default"] for card in cards] == [False, True]
        implicit = c.post("/api/upscale", files=upload(data))
        named = c.post("/api/upscale", files=upload(data), data={"model": default_upscaler()})
        assert implicit.status_code == named.status_code == 200
        assert implicit.content == named.content
        assert c.post("/api/upscale", files=upload(data), data={"model": "srgan-other"}).content != implicit.content
    with TestClient(create_app([str(other)], loader=tiny_loader)) as c:
        assert [card["default"] for card in c.get("/api/models").json()] == [True]


def test_healthz_says_loading_until_the_default_model_is_loaded(tiny):
    """Without a model list the server loads the default upscaler at start-up, on the worker; /healthz
    answers 503 with a reason until then, and a request made meanwhile waits for the load, not fails."""
    from srgan.models.zoo import default_upscaler

    asked: list[str] = []
    release = threading.Event()

    def slow_loader(name: str):
        asked.append(name)
        assert release.wait(30), "the test never released the load"
        return tiny_loader(str(tiny["upscaler"]))

    app = create_app(None, loader=slow_loader)
    with TestClient(app) as c:
        r = c.get("/healthz")
        assert_json_error(r, 503, "loading the default model")
        assert r.json()["status"] == "loading" and r.headers["retry-after"] == "1"
        answers: list[int] = []
        waiting = threading.Thread(target=lambda: answers.append(c.post("/api/upscale", files=upload(png_bytes(8, 8))).status_code))
        waiting.start()
        time.sleep(0.3)
        assert not answers, "a request made while loading did not wait for the load"
        release.set()
        waiting.join(30)
        assert answers == [200]
        assert c.get("/healthz").json() == {"status": "ok"}
        assert asked == [default_upscaler()]  # loaded once, the model `srgan info` names


def test_healthz_reports_a_default_model_that_failed_to_load():
    def broken(name: str):
        raise SrganError(f"{name}: not a readable safetensors file")

    with TestClient(create_app(None, loader=broken)) as c:
        deadline = time.monotonic() + 10
        while (r := c.get("/healthz")).json()["status"] == "loading":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert_json_error(r, 503, "not a readable safetensors file")
        assert r.json()["status"] == "failed"


# --------------------------------------------------------------------------------------------- HEAD


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/models", "/static/app.js", "/docs", "/openapi.json"])
def test_head_answers_like_get_without_a_body(client, path):
    get, head = client.get(path), client.head(path)
    assert get.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert int(head.headers["content-length"]) == len(get.content)


def test_head_on_a_post_route_is_still_405(client):
    assert client.head("/api/upscale").status_code == 405


# ------------------------------------------------------------------------------------- output limits


def test_output_limits_are_checked_before_any_work(tiny):
    """With the worker busy and no room to wait, a request that reached the queue would get 503: the 413s
    and 422s here show each refusal comes first, from the upload's header and the options alone."""
    loader = BlockingLoader()
    app = create_app([str(tiny["upscaler"]), str(tiny["denoiser"])], loader=loader, queue_size=0, max_output_pixels=1000)
    with TestClient(app) as c:
        running = threading.Thread(target=lambda: c.post("/api/upscale", files=upload(png_bytes(8, 8))))
        running.start()
        assert loader.started.wait(10), "the first job never started"
        try:
            small, big = png_bytes(16, 16), png_bytes(40, 30)
            refusals = [
                (c.post("/api/bicubic", files=upload(small), data={"width": "40", "height": "26"}), 413, "40x26 (0.0 mp)"),
                (c.post("/api/bicubic", files=upload(big)), 413, "30x40"),
                (c.post("/api/upscale", files=upload(small)), 413, "the model's ×2 result would be 32x32"),
                (c.post("/api/upscale", files=upload(png_bytes(10, 10)), data={"outscale": "4"}), 413, "the result would be 40x40"),
                (c.post("/api/restore", files=upload(small)), 413, "32x32"),
                (c.post("/api/denoise", files=upload(big)), 413, "limit of 0.001 mp"),
                (c.post("/api/bicubic", files=upload(small), data={"width": "1001", "height": "1", "format": "webp"}), 413, "1001x1"),
            ]
            for r, status, words in refusals:
                assert_json_error(r, status, words)
            assert_json_error(c.post("/api/upscale", files=upload(png_bytes(10, 10))), 503, "busy")  # within limits
        finally:
            loader.release.set()
            running.join(10)


def test_results_a_format_cannot_hold_are_refused_before_the_work(client):
    r = client.post("/api/bicubic", files=upload(png_bytes()), data={"width": "16384", "height": "1", "format": "webp"})
    assert_json_error(r, 422, "webp stores at most 16383 pixels a side")
    r = client.post("/api/bicubic", files=upload(png_bytes()), data={"width": "16384", "height": "1", "format": "png"})
    assert r.status_code == 200 and decoded(r).size == (16384, 1)


def test_a_tile_over_the_limit_is_refused(client):
    assert_json_error(client.post("/api/upscale", files=upload(png_bytes()), data={"tile": "100000"}), 422, "tile")


def test_outscale_and_alpha_match_the_library(tiny):
    """The server resizes the network's result and the alpha plane itself, in strips; it must still give
    what ``srgan.load(...).upscale(..., outscale=...)`` gives."""
    if not hasattr(srgan, "load"):
        pytest.skip("srgan.load (the inference API) is not there yet")
    from srgan.io.read import decode_image

    data = png_bytes(9, 13, "RGBA")
    with TestClient(create_app([str(tiny["upscaler"])])) as c:
        r = c.post("/api/upscale", files=upload(data), data={"outscale": "3"})
    assert r.status_code == 200, r.text
    want = srgan.load(str(tiny["upscaler"])).upscale(decode_image(data), outscale=3.0)
    got = decode_image(r.content)
    np.testing.assert_array_equal(got.pixels, want.pixels)
    np.testing.assert_array_equal(got.alpha, want.alpha)


def test_results_leave_nothing_on_disk(client, tmp_path, monkeypatch):
    """Results are written to a temporary folder and streamed from the open file, whose folder is already
    gone: after a result, a failure inside the job, and a refusal, the folder for them is empty."""
    monkeypatch.setenv("SRGAN_TMPDIR", str(tmp_path))
    assert client.post("/api/upscale", files=upload(png_bytes(20, 20))).status_code == 200
    data = png_bytes(64, 64)
    assert client.post("/api/upscale", files=upload(data[: len(data) // 2])).status_code == 422  # fails in the job
    assert client.post("/api/upscale", files=upload(b"not an image")).status_code == 415
    assert list(tmp_path.iterdir()) == []
