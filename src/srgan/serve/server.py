"""Run the app under uvicorn: what ``srgan serve`` does.

The socket is bound here, before uvicorn starts, so that a port in use is one clear error line rather
than a uvicorn log, and so that ``--port 0`` works: the URL printed is the one actually bound (tests
start the server on port 0 and read the URL from its first line of output).
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

from srgan.errors import SrganError


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    models: Sequence[str] | None = None,
    max_upload_mb: float | None = None,
    max_pixels: int | None = None,
    queue_size: int | None = None,
    loader: Callable[[str], Any] | None = None,
    log_level: str = "info",
) -> None:
    """Load the models, bind ``host:port``, print the URL and serve until interrupted.

    Options left None take :func:`~srgan.serve.app.create_app`'s defaults; ``loader`` is for tests.
    """
    try:
        import uvicorn

        from srgan.serve.app import create_app
    except ImportError as exc:
        raise SrganError(f"srgan serve needs the web extra ({exc.name} is missing): pip install 'srgan[web]'") from None

    options = {"max_upload_mb": max_upload_mb, "max_pixels": max_pixels, "queue_size": queue_size}
    app = create_app(models, loader=loader, **{k: v for k, v in options.items() if v is not None})
    if not app.state.catalog.cards():
        raise SrganError("no models to serve: none are shipped yet; name model files with --model")
    sock = _bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    if not _is_loopback(bound_host):
        print(
            f"srgan serve: warning: listening on {bound_host}, reachable from other machines; "
            "the server has no authentication",
            file=sys.stderr,
        )
    print(f"srgan serve: open {_url(bound_host, bound_port)} (Ctrl+C to stop)", flush=True)
    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn shuts down cleanly, then re-raises Ctrl+C; for a server that is the normal way out.
        print("srgan serve: stopped", flush=True)


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise SrganError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        # Listening now means a client that connects before uvicorn is up waits instead of failing.
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = "already in use (choose another --port)" if exc.errno == 98 else exc.strerror
        raise SrganError(f"cannot listen on {host}:{port}: {reason}") from None
    return sock


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
