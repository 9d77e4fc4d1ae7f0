"""The FastAPI app of ``srgan serve``: the page, the image API and its limits.

Routes:

- ``GET /``: the page (HTML, CSS and JavaScript from ``static/``, nothing from elsewhere).
- ``POST /api/upscale``, ``/api/denoise``, ``/api/restore``: a multipart form with the photo in
  ``image`` and options named like the CLI's flags; the answer is the result image. A denoiser told σ
  reports the σ it used (``sigma``, or estimated from the image) in ``X-Noise-Sigma``.
- ``POST /api/bicubic``: the upload resized with MATLAB-style bicubic, the baseline the page compares
  an upscaled result against.
- ``GET /api/models``: the model cards, ``default`` marking the ones that run when a request names none;
  ``GET /healthz``: ``{"status": "ok"}`` once the default model is loaded, 503 until then; ``/docs``: OpenAPI.
- ``HEAD`` on every ``GET`` route: the same headers, no body.

Errors are JSON ``{"detail": ...}``: 413 for too many bytes or pixels, in the upload or in any image the
request would make (``max_output_pixels``, checked from the upload's header before any work), 415 for files
that are not an accepted image, 422 for bad options, unknown models and images that fail to decode, 503
with ``Retry-After`` when the queue is full. Inference runs one job at a time (:mod:`srgan.serve.queue`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, BinaryIO, Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from srgan import __version__
from srgan.errors import SrganError
from srgan.infer.tiling import DEFAULT_TILE
from srgan.io.picture import Picture
from srgan.serve import codec, jobs
from srgan.serve.catalog import DENOISER_KINDS, UPSCALER_KINDS, Catalog, Loader, UnknownModel
from srgan.serve.limits import BodyLimit
from srgan.serve.queue import JobQueue, QueueFull

STATIC = Path(__file__).parent / "static"

DEFAULT_MAX_UPLOAD_MB = 25.0
DEFAULT_MAX_PIXELS = 8_000_000  # an 8 MP photo is a 128 MP result at ×4: minutes and GBs on a CPU
# The largest image a request may make (upscaled, resized or denoised): 4000×4000, or 1280×720 ×4. The costliest
# result, a WebP with alpha (its encoder and Pillow hold ~32 bytes a pixel), then leaves the server well under
# 1.5 GB whatever it is asked (tests/serve/test_memory_live.py); 24 MP came within 0.2 GB of it.
DEFAULT_MAX_OUTPUT_PIXELS = 16_000_000
DEFAULT_QUEUE_SIZE = 4
MAX_OUTSCALE = 8.0
# The network's activations grow with the square of the tile; the inference default keeps them to a few
# hundred MB, and a larger tile is never needed on a CPU, so it is also the most a request may ask for.
MAX_TILE = DEFAULT_TILE
# What the encoders can store: a result they would refuse is refused before the work instead.
MAX_SIDE = {"jpeg": 65_535, "webp": 16_383}
# Room for the form's other fields and the multipart boundaries on top of the file itself.
FORM_OVERHEAD = 64 * 1024

# The page needs nothing but its own origin; blob: is how it shows results it has fetched.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

Format = Literal["png", "jpeg", "webp"]
ImageField = Annotated[UploadFile, File(description="the photo: PNG, JPEG, WebP, BMP or TIFF")]
FormatField = Annotated[Format, Form(description="encoding of the result")]
TileField = Annotated[
    int | None, Form(ge=16, le=MAX_TILE, description="process in tiles of this many pixels (less memory)")
]
SigmaField = Annotated[
    float | None,
    Form(ge=0, le=1, allow_inf_nan=False, description=(
        "the noise's standard deviation on the [0, 1] scale (0.1 is 25.5 of 255), for a denoiser told σ (FFDNet; "
        "blind ones ignore it); omit it to estimate σ from the image. The σ used comes back in X-Noise-Sigma, "
        "with X-Noise-Sigma-Source 'given' or 'estimated'"
    )),
]

IMAGE_RESPONSES: dict[int | str, dict] = {
    200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}, "description": "the result image"},
    413: {"description": "the upload, or the image the request would make, has more bytes or pixels than this server allows"},
    415: {"description": "not an image, or an image format that is not accepted"},
    422: {"description": "bad options, unknown model, or an image that does not decode"},
    503: {"description": "the queue is full: retry after the Retry-After header's seconds"},
}


def create_app(
    models: Sequence[str] | None = None,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    loader: Loader | None = None,
    max_output_pixels: int | None = DEFAULT_MAX_OUTPUT_PIXELS,
    on_ready: Callable[[Readiness], None] | None = None,
) -> FastAPI:
    """Build the app.

    Args:
        models: model names or files to offer (loaded now); None offers every shipped model, the
            default upscaler loaded at start-up, the others on first use.
        max_upload_mb: largest upload in MB (2**20 bytes); bigger ones get 413.
        max_pixels: largest upload in pixels, judged from the header; 0 or None for no limit.
        queue_size: requests that may wait while one runs; more get 503 with Retry-After.
        loader: name or path → model with ``upscale``/``denoise`` (default ``srgan.load``); tests
            inject their own.
        max_output_pixels: largest image a request may make, judged before any work; 0 or None for no limit.
        on_ready: called (on the worker thread) once the start-up load has finished or failed.
    """
    if not 0 < max_upload_mb < float("inf"):  # NaN fails this too
        raise SrganError(f"--max-upload-mb must be a positive number, got {max_upload_mb}")
    if max_pixels is not None and max_pixels < 0:
        raise SrganError(f"--max-pixels must be 0 (no limit) or positive, got {max_pixels}")
    if max_output_pixels is not None and max_output_pixels < 0:
        raise SrganError(f"--max-output-pixels must be 0 (no limit) or positive, got {max_output_pixels}")
    if queue_size < 0:
        raise SrganError(f"--queue-size must be 0 or more, got {queue_size}")
    catalog = Catalog(models, loader)
    queue = JobQueue(queue_size)
    responder = Responder(queue, max_upload_mb, max_pixels, max_output_pixels)
    readiness = Readiness(on_ready)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        default = catalog.default(UPSCALER_KINDS)
        if default is None or catalog.loaded(default):
            # Named models were loaded before the server started: ready now, not after a trip to the worker.
            loaded: Future = Future()
            loaded.set_result(default)
            readiness.start(loaded)
        else:
            # On the worker, so requests that arrive meanwhile wait behind the load instead of loading again.
            readiness.start(queue.submit(catalog.warm_up))
        yield
        queue.close()

    app = FastAPI(
        title="srgan",
        version=__version__,
        summary="Super-resolve and denoise photos with SRGAN, on this machine.",
        docs_url=None,  # FastAPI's default /docs loads Swagger UI from a CDN; ours serves it from a package
        redoc_url=None,
        lifespan=lifespan,
    )
    _mount_docs(app)
    app.add_middleware(BodyLimit, max_bytes=responder.max_bytes + FORM_OVERHEAD)
    app.add_middleware(HeadAsGet)
    app.state.catalog = catalog
    app.state.queue = queue
    app.state.readiness = readiness
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_error_handlers(app)
    _add_info_routes(app, catalog, readiness, (STATIC / "index.html").read_text(encoding="utf-8"))
    _add_model_routes(app, catalog, responder)
    _add_bicubic_route(app, responder)
    return app


class Readiness:
    """Whether the start-up load has finished: what ``/healthz`` reports."""

    def __init__(self, on_ready: Callable[[Readiness], None] | None = None) -> None:
        self.on_ready = on_ready
        self.model: str | None = None
        self.error: str | None = None
        self.seconds: float | None = None
        self._started = time.monotonic()
        self._done = threading.Event()

    @property
    def ready(self) -> bool:
        return self._done.is_set() and self.error is None

    def start(self, loading: Future) -> None:
        self._started = time.monotonic()
        loading.add_done_callback(self._finished)

    def state(self) -> tuple[int, dict]:
        """(HTTP status, JSON body) for ``/healthz``."""
        if self.ready:
            return 200, {"status": "ok"}
        if self._done.is_set():
            return 503, {"status": "failed", "detail": f"the default model did not load: {self.error}"}
        waited = time.monotonic() - self._started
        return 503, {"status": "loading", "detail": f"loading the default model ({waited:.0f} s so far); requests wait for it"}

    def _finished(self, loading: Future) -> None:
        self.seconds = time.monotonic() - self._started
        try:
            self.model = loading.result()
        except Exception as exc:  # noqa: BLE001 - reported by /healthz and on the console, not raised
            self.error = str(exc) or type(exc).__name__
        self._done.set()
        if self.on_ready is not None:
            self.on_ready(self)


class HeadAsGet:
    """Answer ``HEAD`` wherever ``GET`` is answered: the GET response's status and headers, without its body.

    FastAPI's routes take only the methods they name, so without this every HEAD (link checkers, ``curl -I``,
    monitoring) got 405. Routes without GET still answer 405, as the GET would.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class Responder:
    """Checks an upload against the limits, runs the work in the queue, and answers with the result."""

    def __init__(self, queue: JobQueue, max_upload_mb: float, max_pixels: int | None, max_output_pixels: int | None):
        self.queue = queue
        self.max_upload_mb = max_upload_mb
        self.max_bytes = int(max_upload_mb * 2**20)
        self.max_pixels = max_pixels
        self.max_output_pixels = max_output_pixels

    def check_output(self, width: int, height: int, fmt: str | None = None, what: str = "the result") -> None:
        """Refuse, before any work, an image the request would make that is over the limits (413) or that
        ``fmt`` cannot store (422)."""
        pixels = width * height
        if self.max_output_pixels and pixels > self.max_output_pixels:
            raise codec.UploadError(
                413,
                f"{what} would be {width}x{height} ({pixels / 1e6:.1f} MP), more than this server's limit of "
                f"{self.max_output_pixels / 1e6:g} MP; send a smaller image or ask for a smaller result",
            )
        side = MAX_SIDE.get(fmt or "")
        if side and max(width, height) > side:
            raise codec.UploadError(
                422, f"{what} would be {width}x{height}; {fmt.upper()} stores at most {side} pixels a side (choose PNG)"
            )

    async def answer(
        self,
        image: UploadFile,
        fmt: str,
        label: str,
        work: Callable[[Picture], Picture],
        check: Callable[[codec.Header], None],
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Read and check the upload (``check`` judges, from its header, what the request would make), then
        run ``work`` on the worker and answer with the result, encoded as ``fmt``. ``headers``: filled in by
        ``work`` (what it found out, e.g. the noise level), added to the answer's."""
        data = await image.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise codec.UploadError(413, f"the upload is too large: the limit is {self.max_upload_mb:g} MB")
        check(codec.probe(data, self.max_pixels))
        # The result goes to a file, not to memory: a large PNG is as big as the image. The response streams
        # it from the open file, whose folder is removed first, so nothing is left on disk whatever the client does.
        folder = Path(tempfile.mkdtemp(prefix="srgan-serve-", dir=os.environ.get("SRGAN_TMPDIR") or None))
        suffix, content_type = codec.OUTPUT_FORMATS[fmt]
        path = folder / f"result{suffix}"

        def job() -> str:
            # Each image is dropped as soon as the one made from it exists, so they are not all alive at once.
            try:
                source = codec.decode(data, self.max_pixels)
                height, width = source.pixels.shape[:2]
                result = work(source)
                source = None
                result = codec.for_format(result, fmt)
                codec.write(result, path)
                return f"{width}x{height}"
            finally:
                source = result = None  # before the trim, so that it can hand their memory back
                jobs.release_freed_memory()

        try:
            source_size = await self.queue.run(job)
            file = open(path, "rb")  # noqa: SIM115 - closed by _chunks, once sent or abandoned
        except MemoryError:
            raise codec.UploadError(413, "not enough memory for an image this large; try a smaller one or a tile size") from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return StreamingResponse(
            _chunks(file),
            media_type=content_type,
            headers={
                "Content-Length": str(os.fstat(file.fileno()).st_size),
                "Content-Disposition": f'inline; filename="{_stem(image.filename)}-{label}{suffix}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                # The upload's upright size, so a client can tell the scale and label its comparison.
                "X-Source-Size": source_size,
                **(headers or {}),
            },
        )


def _chunks(file: BinaryIO, size: int = 2**20) -> Iterator[bytes]:
    with file:
        while chunk := file.read(size):
            yield chunk


def _add_error_handlers(app: FastAPI) -> None:
    def reply(status: int, headers: Callable[[Exception], dict] | None = None):
        async def handler(_request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers(exc) if headers else None)

        return handler

    async def upload_error(_request: Request, exc: codec.UploadError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    app.add_exception_handler(codec.UploadError, upload_error)
    app.add_exception_handler(UnknownModel, reply(422))
    app.add_exception_handler(SrganError, reply(422))
    app.add_exception_handler(QueueFull, reply(503, lambda exc: {"Retry-After": str(exc.retry_after)}))


def _add_info_routes(app: FastAPI, catalog: Catalog, readiness: Readiness, page: str) -> None:
    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers=PAGE_HEADERS)

    @app.get(
        "/healthz", summary="Readiness check",
        responses={503: {"description": "still loading the default model (status 'loading'), or it failed to load ('failed')"}},
    )
    async def healthz() -> JSONResponse:
        status, body = readiness.state()
        return JSONResponse(body, status_code=status, headers={"Retry-After": "1"} if body["status"] == "loading" else None)

    @app.get("/api/models", summary="The model cards this server offers; default: runs when a request names none")
    async def list_models() -> list[dict]:
        return catalog.cards()


def _add_model_routes(app: FastAPI, catalog: Catalog, responder: Responder) -> None:
    @app.post("/api/upscale", summary="Super-resolve a photo", response_class=Response, responses=IMAGE_RESPONSES)
    async def upscale(
        image: ImageField,
        model: Annotated[str | None, Form(description="an SRGAN or SRResNet model (default: the one `srgan info` names)")] = None,
        outscale: Annotated[float | None, Form(gt=0, le=MAX_OUTSCALE, description="final scale, if not the model's own")] = None,
        tile: TileField = None,
        format: FormatField = "png",
    ) -> Response:
        name = catalog.pick(model, UPSCALER_KINDS, "upscaler")
        model_scale = catalog.scale(name)
        scale = outscale or model_scale

        def check(header: codec.Header) -> None:
            # The network's own result comes first, then the resize to outscale: both must fit.
            responder.check_output(header.width * model_scale, header.height * model_scale,
                                   what=f"the model's ×{model_scale} result")
            height, width = jobs.output_size(header.height, header.width, model_scale, outscale)
            responder.check_output(width, height, format)

        def work(pic: Picture) -> Picture:
            return jobs.upscale(catalog, pic, name, outscale=outscale, tile=tile)

        return await responder.answer(image, format, f"x{scale:g}", work, check)

    @app.post("/api/denoise", summary="Remove noise from a photo", response_class=Response, responses=IMAGE_RESPONSES)
    async def denoise(
        image: ImageField,
        model: Annotated[str | None, Form(description="a denoiser model (default: the first offered)")] = None,
        sigma: SigmaField = None,
        tile: TileField = None,
        format: FormatField = "png",
    ) -> Response:
        name = catalog.pick(model, DENOISER_KINDS, "denoiser")
        noise: dict[str, str] = {}

        def check(header: codec.Header) -> None:
            responder.check_output(header.width, header.height, format)

        def work(pic: Picture) -> Picture:
            return jobs.denoise(catalog, pic, name, tile=tile, sigma=sigma, report=noise)

        return await responder.answer(image, format, "denoised", work, check, noise)

    @app.post("/api/restore", summary="Denoise, then optionally upscale", response_class=Response, responses=IMAGE_RESPONSES)
    async def restore(
        image: ImageField,
        denoiser: Annotated[str | None, Form(description="the denoiser (default: the first offered)")] = None,
        upscaler: Annotated[
            str | None,
            Form(description="the upscaler to run after denoising (default: the one `srgan info` names; 'none': denoise only)"),
        ] = None,
        sigma: SigmaField = None,
        tile: TileField = None,
        format: FormatField = "png",
    ) -> Response:
        denoiser_name = catalog.pick(denoiser, DENOISER_KINDS, "denoiser")
        # Like srgan.restore: denoise, then super-resolve with the default upscaler unless told otherwise.
        wants_upscaler = upscaler != "none" and (upscaler is not None or catalog.names(UPSCALER_KINDS))
        upscaler_name = catalog.pick(upscaler, UPSCALER_KINDS, "upscaler") if wants_upscaler else None
        scale = catalog.scale(upscaler_name) if upscaler_name else 1

        def check(header: codec.Header) -> None:
            responder.check_output(header.width * scale, header.height * scale, format)

        noise: dict[str, str] = {}

        def work(pic: Picture) -> Picture:
            return jobs.restore(catalog, pic, denoiser_name, upscaler_name, tile=tile, sigma=sigma, report=noise)

        return await responder.answer(image, format, "restored", work, check, noise)


def _add_bicubic_route(app: FastAPI, responder: Responder) -> None:
    @app.post(
        "/api/bicubic", summary="Bicubic resize (the baseline to compare with)",
        response_class=Response, responses=IMAGE_RESPONSES,
    )
    async def bicubic(
        image: ImageField,
        width: Annotated[int | None, Form(ge=1, description="target width (default: the image's)")] = None,
        height: Annotated[int | None, Form(ge=1, description="target height (default: the image's)")] = None,
        format: FormatField = "png",
    ) -> Response:
        if (width is None) != (height is None):
            raise codec.UploadError(422, "give both width and height, or neither")

        def check(header: codec.Header) -> None:
            if width is None:
                responder.check_output(header.width, header.height, format)
            else:
                responder.check_output(width, height, format)

        def work(pic: Picture) -> Picture:
            h, w = pic.pixels.shape[:2]
            return jobs.bicubic(pic, width or w, height or h)

        return await responder.answer(image, format, "bicubic", work, check)


def _stem(filename: str | None) -> str:
    """A safe download name from the client's file name (which may hold anything, quotes included)."""
    stem = Path(filename or "image").stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:80].strip("._") or "image"


def _mount_docs(app: FastAPI) -> None:
    """OpenAPI docs at /docs with Swagger UI's files from the PyPI package swagger-ui-bundle (Apache-2.0),
    so the docs work offline like the page; without the package /docs says how to get it."""
    from fastapi.openapi.docs import get_swagger_ui_html

    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        swagger_ui_path = None
    if swagger_ui_path is not None:
        app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        if swagger_ui_path is None:
            return HTMLResponse(
                "<p>Interactive docs need the package swagger-ui-bundle (pip install 'srgan[web]'); "
                "the schema is at <a href='/openapi.json'>/openapi.json</a>.</p>"
            )
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title="srgan API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )
