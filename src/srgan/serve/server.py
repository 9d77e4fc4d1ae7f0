"""Run the app under uvicorn: what ``srgan serve`` does.

The socket is bound here, before uvicorn starts, so that a port in use is one clear error line rather
than a uvicorn log, and so that ``--port 0`` works: the URL printed is the one actually bound (tests
start the server on port 0 and read the URL from its first line of output). The default model loads
after that, while ``/healthz`` answers 503; a second line says when the server is ready.

uvicorn drops an idle keep-alive connection, but waits for ever on one whose request header never ends:
a few slow (or hostile) clients could hold connections open indefinitely. The protocol here closes a
connection whose header is not complete ``HEADER_TIMEOUT`` seconds after it opened or after the previous
response, with a 408 when part of a request had come.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

from srgan.errors import SrganError

HEADER_TIMEOUT = 10.0  # seconds; a browser or curl sends its whole header in one packet


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
    max_output_pixels: int | None = None,
) -> None:
    """Load the named models, bind ``host:port``, print the URL, load the default model and serve until
    interrupted.

    Options left None take :func:`~srgan.serve.app.create_app`'s defaults; ``loader`` is for tests.
    """
    try:
        import uvicorn

        from srgan.serve.app import create_app
    except ImportError as exc:
        raise SrganError(f"srgan serve needs the web extra ({exc.name} is missing): pip install 'srgan[web]'") from None

    options = {
        "max_upload_mb": max_upload_mb, "max_pixels": max_pixels, "queue_size": queue_size,
        "max_output_pixels": max_output_pixels,
    }
    app = create_app(models, loader=loader, on_ready=_announce, **{k: v for k, v in options.items() if v is not None})
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
    config = uvicorn.Config(
        app, log_level=log_level, timeout_graceful_shutdown=5, http=_header_timeout_protocol(HEADER_TIMEOUT)
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn shuts down cleanly, then re-raises Ctrl+C; for a server that is the normal way out.
        print("srgan serve: stopped", flush=True)


def _announce(readiness) -> None:
    """The console's line once the start-up load is over (called on the worker thread)."""
    if readiness.error is not None:
        message = f"srgan serve: error: the default model did not load ({readiness.error}); /healthz says so"
        print(message, file=sys.stderr, flush=True)
    elif readiness.model is not None:
        print(f"srgan serve: ready (default model {readiness.model}, {readiness.seconds:.1f} s)", flush=True)
    else:
        print("srgan serve: ready", flush=True)


def _header_timeout_protocol(seconds: float) -> type:
    """uvicorn's h11 protocol, closing connections whose request header takes longer than ``seconds``."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    detail = json.dumps({"detail": f"the request header did not arrive within {seconds:g} s"}).encode()
    timed_out = (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
        b"content-length: " + str(len(detail)).encode() + b"\r\n\r\n" + detail
    )

    class HeaderTimeoutProtocol(H11Protocol):
        _header_timer = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # the whole header has come
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # Kept alive: the next request's header gets the same time, counted from now.
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(seconds, self._timed_out)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _timed_out(self) -> None:
            self._header_timer = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            if self.conn.trailing_data[0]:  # part of a header: say why, rather than just hang up
                self.transport.write(timed_out)
            self.transport.close()

    return HeaderTimeoutProtocol


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
