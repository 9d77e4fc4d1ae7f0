"""Refuse request bodies over a byte limit before they are read into memory (413).

A pure ASGI middleware, so it sees the body as the server receives it, chunk by chunk, before any
form parsing. A declared ``Content-Length`` over the limit is refused without keeping a byte; an
undeclared (chunked) body is counted and refused as soon as it passes the limit.

Either way the rest of the body is read and thrown away, up to ``DRAIN_LIMIT``, before the 413 goes
out: a server that answers and closes while the client is still sending makes most clients report a
broken connection instead of the answer, so the user would never see "too large". Past the drain
limit the connection is simply dropped.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DRAIN_LIMIT = 64 * 2**20


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Answer 413 with a JSON ``detail`` for any HTTP request body over ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int, what: str = "upload") -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.what = what

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _drain(receive, 0)
            await self._refuse(send, declared)
            return

        received = 0
        over = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    if message.get("more_body", False):
                        await _drain(receive, received)
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # Once over the limit, whatever the app makes of the cut-off body (FastAPI turns a
            # failed read into a 400) is replaced by the 413 below.
            if over:
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            pass
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._refuse(send, None)

    async def _refuse(self, send: Send, declared: int | None) -> None:
        size = f" ({declared / 2**20:.1f} MB)" if declared is not None else ""
        limit = self.max_bytes / 2**20
        body = json.dumps({"detail": f"the {self.what} is too large{size}: the limit is {limit:.1f} MB"}).encode()
        await send({
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        })
        await send({"type": "http.response.body", "body": body})


async def _drain(receive: Receive, already: int) -> None:
    """Read and discard the rest of the body, up to ``DRAIN_LIMIT`` bytes in all."""
    total = already
    while total <= DRAIN_LIMIT:
        message = await receive()
        if message["type"] != "http.request":
            return
        total += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
