"""The upload limit against a real ``srgan serve`` process, on the wire: what curl and raw clients see.

An in-process test client never sends ``Expect: 100-continue`` and never has a socket reset under it,
and those two are exactly how an oversize upload went wrong (a "100 Continue", then a reset instead of
the 413). So these tests speak HTTP over a loopback socket.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
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
