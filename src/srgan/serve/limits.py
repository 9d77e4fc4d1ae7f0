"""Refuse request bodies over a byte limit before they are read into memory (413).

A pure ASGI middleware, so it sees the body as the server receives it, chunk by chunk, before any
form parsing.

A declared ``Content-Length`` over the limit is answered from the header alone, before a byte of the
body is read. Not reading matters: uvicorn sends ``100 Continue`` to a client that asked for it
(``Expect: 100-continue``, which curl sends for large uploads) on the first read, and the client
then starts sending a body the server will only throw away. Answered first, such a client gets the
413 and sends nothing; the response says ``Connection: close``, since the promised body never comes.
A client that sends its body straight away keeps the connection: uvicorn reads and discards the rest
of a body whose response is already complete, so the client is not cut off mid-upload (which most
clients report as a reset connection rather than the answer).

An undeclared (chunked) body is counted and refused as soon as it passes the limit; its rest is read
and thrown away, up to ``DRAIN_LIMIT``, before the 413 goes out, for the same reason. Past the drain
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
            await self._refuse(send, declared, close=_expects_continue(scope))
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
            await self._refuse(send, None, close=True)

    async def _refuse(self, send: Send, declared: int | None, *, close: bool) -> None:
        size = f" ({declared / 2**20:.1f} MB)" if declared is not None else ""
        limit = self.max_bytes / 2**20
        body = json.dumps({"detail": f"the {self.what} is too large{size}: the limit is {limit:.1f} MB"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
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


def _expects_continue(scope: Scope) -> bool:
    return any(name == b"expect" and value.lower() == b"100-continue" for name, value in scope.get("headers", ()))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
