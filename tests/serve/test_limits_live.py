"""The upload limit, the header timeout and HEAD against a real ``srgan serve`` process, on the wire: what
curl and raw clients see.

An in-process test client never sends ``Expect: 100-continue`` and never has a socket reset under it,
and those two are exactly how an oversize upload went wrong (a "100 Continue", then a reset instead of
the 413). So these tests speak HTTP over a loopback socket.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="srgan serve needs the web extra (pip install 'srgan[web]')")
from live_server import running_server  # noqa: E402
from serve_fakes import make_tiny_models  # noqa: E402

MAX_UPLOAD_MB = 1


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("limits")
    models = make_tiny_models(tmp / "models")
    with running_server([models["upscaler"]], tmp, "--max-upload-mb", str(MAX_UPLOAD_MB)) as (url, _pid):
        yield url


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest


def _request_head(url: str, length: int, expect: bool) -> bytes:
    lines = [
        "POST /api/upscale HTTP/1.1",
        f"Host: {url.removeprefix('http://')}",
        "Content-Type: multipart/form-data; boundary=xyz",
        f"Content-Length: {length}",
    ]
    if expect:
        lines.append("Expect: 100-continue")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_expect_100_continue_gets_413_and_no_continue(server):
    """The answer comes from the header alone: no 100 Continue, so the client never sends the body."""
    with socket.create_connection(_address(server), timeout=10) as sock:
        sock.sendall(_request_head(server, 300 * 2**20, expect=True))
        response = _read_response(sock)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b"100 Continue" not in response
    body = json.loads(response.partition(b"\r\n\r\n")[2])
    assert "too large" in body["detail"] and "300.0 MB" in body["detail"]


def test_body_sent_without_expect_still_gets_the_413(server):
    """A client that sends at once gets the 413 while still sending, and no reset while it finishes."""
    with socket.create_connection(_address(server), timeout=10) as sock:
        length = 8 * 2**20
        sock.sendall(_request_head(server, length, expect=False))
        chunk = b"\0" * 2**16
        for _ in range(length // len(chunk)):
            sock.sendall(chunk)  # a reset here (ConnectionResetError) is what the fix prevents
        response = _read_response(sock)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert "too large" in json.loads(response.partition(b"\r\n\r\n")[2])["detail"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_upload_of_a_large_file_gets_the_json_413(server, tmp_path):
    """The issue's command: curl -F image=@big.bin (curl sends Expect: 100-continue for large bodies)."""
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(64 * 2**20)  # sparse: a 64 MB upload costs no disk
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "30", "-w", "\n%{http_code}", "-F", f"image=@{big}", f"{server}/api/upscale"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr  # 0: an answer arrived (a reset is exit 55 or 56)
    body, _, status = done.stdout.rpartition("\n")
    assert status == "413"
    assert "too large" in json.loads(body)["detail"]


# ------------------------------------------------------------------------------ slow headers and HEAD


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_client_that_never_finishes_its_header_is_dropped(server):
    """Half a header, or nothing at all, holds a connection only HEADER_TIMEOUT seconds; meanwhile others
    are served, a header sent in two parts within the time is answered, and so is a second request on a
    kept-alive connection, whose own header gets the same time."""
    from srgan.serve.server import HEADER_TIMEOUT

    address = _address(server)
    started = time.monotonic()
    held = [socket.create_connection(address, timeout=HEADER_TIMEOUT + 10) for _ in range(8)]
    for sock in held[:6]:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    # held[6] sends nothing; held[7] completes one request, then stalls on the next.
    held[7].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _read_response(held[7]).startswith(b"HTTP/1.1 200")
    held[7].sendall(b"GET /healthz HTTP/1.1\r\nHo")

    with socket.create_connection(address, timeout=10) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        time.sleep(1)
        slow.sendall(b"\r\n")
        assert _read_response(slow).startswith(b"HTTP/1.1 200")
    with urllib.request.urlopen(f"{server}/healthz", timeout=5) as r:
        assert r.status == 200

    answers = []
    for sock in held:
        with sock:
            answers.append(_read_until_closed(sock))
    waited = time.monotonic() - started
    assert waited < HEADER_TIMEOUT + 5, f"held for {waited:.1f} s"
    for answer in answers[:6] + answers[7:]:
        assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
        assert "did not arrive" in json.loads(answer.partition(b"\r\n\r\n")[2])["detail"]
    assert answers[6] == b""  # nothing asked, nothing said: just closed


def test_head_over_the_wire_keeps_the_connection_usable(server):
    with socket.create_connection(_address(server), timeout=10) as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n"), head  # headers only
        length = next(int(v) for k, _, v in (line.partition(b": ") for line in head.split(b"\r\n")) if k.lower() == b"content-length")
        assert length > 1000  # the page's size, as GET would send it
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200")
