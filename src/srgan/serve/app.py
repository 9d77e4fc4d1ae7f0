"""The FastAPI app of ``srgan serve``: the page, the image API and its limits.

Routes:

- ``GET /``: the page (HTML, CSS and JavaScript from ``static/``, nothing from elsewhere).
- ``POST /api/upscale``, ``/api/denoise``, ``/api/restore``: a multipart form with the photo in
  ``image`` and options named like the CLI's flags; the answer is the result image.
- ``POST /api/bicubic``: the upload resized with MATLAB-style bicubic, the baseline the page compares
  an upscaled result against.
- ``GET /api/models``: the model cards; ``GET /healthz``: ``{"status": "ok"}``; ``/docs``: OpenAPI.

Errors are JSON ``{"detail": ...}``: 413 for too many bytes or pixels, 415 for files that are not an
accepted image, 422 for bad options, unknown models and images that fail to decode, 503 with
``Retry-After`` when the queue is full. Inference runs one job at a time (:mod:`srgan.serve.queue`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from srgan import __version__
from srgan.errors import SrganError
from srgan.io.picture import Picture
from srgan.serve import codec, jobs
from srgan.serve.catalog import DENOISER_KINDS, UPSCALER_KINDS, Catalog, Loader, UnknownModel
from srgan.serve.limits import BodyLimit
from srgan.serve.queue import JobQueue, QueueFull

STATIC = Path(__file__).parent / "static"

DEFAULT_MAX_UPLOAD_MB = 25.0
DEFAULT_MAX_PIXELS = 8_000_000  # an 8 MP photo is a 128 MP result at ×4: minutes and GBs on a CPU
DEFAULT_QUEUE_SIZE = 4
MAX_OUTSCALE = 8.0
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
TileField = Annotated[int | None, Form(ge=16, description="process in tiles of this many pixels (less memory)")]

IMAGE_RESPONSES: dict[int | str, dict] = {
    200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}, "description": "the result image"},
    413: {"description": "the upload has more bytes or pixels than this server allows"},
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
) -> FastAPI:
    """Build the app.

    Args:
        models: model names or files to offer (loaded now); None offers every shipped model,
            each loaded on first use.
        max_upload_mb: largest upload in MB (2**20 bytes); bigger ones get 413.
        max_pixels: largest upload in pixels, judged from the header; 0 or None for no limit.
        queue_size: requests that may wait while one runs; more get 503 with Retry-After.
        loader: name or path → model with ``upscale``/``denoise`` (default ``srgan.load``); tests
            inject their own.
    """
    if max_upload_mb <= 0:
        raise SrganError(f"--max-upload-mb must be positive, got {max_upload_mb}")
    if max_pixels is not None and max_pixels < 0:
        raise SrganError(f"--max-pixels must be 0 (no limit) or positive, got {max_pixels}")
    if queue_size < 0:
        raise SrganError(f"--queue-size must be 0 or more, got {queue_size}")
    catalog = Catalog(models, loader)
    queue = JobQueue(queue_size)
    responder = Responder(queue, max_upload_mb, max_pixels)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
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
    app.state.catalog = catalog
    app.state.queue = queue
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_error_handlers(app)
    _add_info_routes(app, catalog, (STATIC / "index.html").read_text(encoding="utf-8"))
    _add_model_routes(app, catalog, responder)
    _add_bicubic_route(app, responder)
    return app


class Responder:
    """Checks an upload against the limits, runs the work in the queue, and answers with the result."""

    def __init__(self, queue: JobQueue, max_upload_mb: float, max_pixels: int | None):
        self.queue = queue
        self.max_upload_mb = max_upload_mb
        self.max_bytes = int(max_upload_mb * 2**20)
        self.max_pixels = max_pixels

    async def answer(self, image: UploadFile, fmt: str, label: str, work: Callable[[Picture], Picture]) -> Response:
        data = await image.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise codec.UploadError(413, f"the upload is too large: the limit is {self.max_upload_mb:g} MB")
        codec.probe(data, self.max_pixels)

        def job() -> tuple[bytes, str]:
            source = codec.decode(data, self.max_pixels)
            height, width = source.pixels.shape[:2]
            return codec.encode(work(source), fmt), f"{width}x{height}"

        try:
            body, source_size = await self.queue.run(job)
        except MemoryError:
            raise codec.UploadError(413, "not enough memory for an image this large; try a smaller one or a tile size") from None
        suffix, content_type = codec.OUTPUT_FORMATS[fmt]
        return Response(
            body,
            media_type=content_type,
            headers={
                "Content-Disposition": f'inline; filename="{_stem(image.filename)}-{label}{suffix}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                # The upload's upright size, so a client can tell the scale and label its comparison.
                "X-Source-Size": source_size,
            },
        )


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


def _add_info_routes(app: FastAPI, catalog: Catalog, page: str) -> None:
    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers=PAGE_HEADERS)

    @app.get("/healthz", summary="Liveness check")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/api/models", summary="The model cards this server offers")
    async def list_models() -> list[dict]:
        return catalog.cards()


def _add_model_routes(app: FastAPI, catalog: Catalog, responder: Responder) -> None:
    @app.post("/api/upscale", summary="Super-resolve a photo", response_class=Response, responses=IMAGE_RESPONSES)
    async def upscale(
        image: ImageField,
        model: Annotated[str | None, Form(description="an SRGAN or SRResNet model (default: the first offered)")] = None,
        outscale: Annotated[float | None, Form(gt=0, le=MAX_OUTSCALE, description="final scale, if not the model's own")] = None,
        tile: TileField = None,
        format: FormatField = "png",
    ) -> Response:
        name = catalog.pick(model, UPSCALER_KINDS, "upscaler")
        scale = outscale or catalog.card(name).get("scale")

        def work(pic: Picture) -> Picture:
            return jobs.upscale(catalog, pic, name, outscale=outscale, tile=tile)

        return await responder.answer(image, format, f"x{scale:g}" if scale else "upscaled", work)

    @app.post("/api/denoise", summary="Remove noise from a photo", response_class=Response, responses=IMAGE_RESPONSES)
    async def denoise(
        image: ImageField,
        model: Annotated[str | None, Form(description="a denoiser model (default: the first offered)")] = None,
        tile: TileField = None,
        format: FormatField = "png",
    ) -> Response:
        name = catalog.pick(model, DENOISER_KINDS, "denoiser")

        def work(pic: Picture) -> Picture:
            return jobs.denoise(catalog, pic, name, tile=tile)

        return await responder.answer(image, format, "denoised", work)

    @app.post("/api/restore", summary="Denoise, then optionally upscale", response_class=Response, responses=IMAGE_RESPONSES)
    async def restore(
        image: ImageField,
        denoiser: Annotated[str | None, Form(description="the denoiser (default: the first offered)")] = None,
        upscaler: Annotated[
            str | None,
            Form(description="the upscaler to run after denoising (default: the first offered; 'none': denoise only)"),
        ] = None,
        tile: TileField = None,
        format: FormatField = "png",
    ) -> Response:
        denoiser_name = catalog.pick(denoiser, DENOISER_KINDS, "denoiser")
        # Like srgan.restore: denoise, then super-resolve with the default upscaler unless told otherwise.
        wants_upscaler = upscaler != "none" and (upscaler is not None or catalog.names(UPSCALER_KINDS))
        upscaler_name = catalog.pick(upscaler, UPSCALER_KINDS, "upscaler") if wants_upscaler else None

        def work(pic: Picture) -> Picture:
            return jobs.restore(catalog, pic, denoiser_name, upscaler_name, tile=tile)

        return await responder.answer(image, format, "restored", work)


def _add_bicubic_route(app: FastAPI, responder: Responder) -> None:
    max_pixels = responder.max_pixels

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
        if width and height and max_pixels and width * height > max_pixels * MAX_OUTSCALE**2:
            raise codec.UploadError(422, f"{width}x{height} is larger than any result this server makes")

        def work(pic: Picture) -> Picture:
            h, w = pic.pixels.shape[:2]
            return jobs.bicubic(pic, width or w, height or h)

        return await responder.answer(image, format, "bicubic", work)


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
