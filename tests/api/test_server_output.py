"""What the real API server (``atomfleet api``) writes: every error on the API port in the shared
JSON error shape — gunicorn's own (request line too long, malformed request line or header) as
well as Django's (unknown path, wrong method) — and, with ``ATOMFLEET_LOG_FORMAT=json``, every
line of its output as JSON (gunicorn's access and error lines included)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.live_api import ApiServer

# The server reads the test database, which pytest-django creates only for a session with a
# django_db test in it.
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    api = ApiServer(tmp_path_factory.mktemp("server-output"), ATOMFLEET_LOG_FORMAT="json")
    api.start()
    try:
        yield api
    finally:
        api.stop()


def _raw(server: ApiServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as is (httpx would refuse or fix it); the status, headers and body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                headers = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:])
                length = int({k.lower(): v for k, v in headers.items()}.get("content-length", "-1"))
                if len(body) >= length >= 0:
                    break
    status = int(head.split(b" ", 2)[1])
    return status, {k.lower(): v for k, v in headers.items()}, body


def _assert_json_error(status: int, headers: dict[str, str], body: bytes, expected: int) -> dict[str, object]:
    assert status == expected, (status, body[:300])
    assert headers["content-type"].startswith("application/json"), (headers, body[:300])
    error = json.loads(body)["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)


@pytest.mark.parametrize(("request_bytes", "status", "code"), [
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414, "uri_too_long"),
    (b"NOT A REQUEST LINE\r\n\r\n", 400, "bad_request"),
    (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n", 400, "bad_request"),
    (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431, "request_header_fields_too_large"),
], ids=["request-line-too-long", "bad-request-line", "bad-header", "header-too-large"])
def test_gunicorn_errors_have_the_json_error_shape(server: ApiServer, request_bytes: bytes, status: int, code: str) -> None:
    error = _assert_json_error(*_raw(server, request_bytes), expected=status)
    assert error["code"] == code


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/no/such/path", 404, "not_found"),
    ("GET", "/api/v1/no-such-endpoint", 404, "not_found"),
    ("POST", "/healthz", 405, "method_not_allowed"),
    ("DELETE", "/readyz", 405, "method_not_allowed"),
])
def test_django_errors_have_the_json_error_shape(server: ApiServer, method: str, path: str, status: int, code: str) -> None:
    response = httpx.request(method, server.url + path, timeout=10)
    error = _assert_json_error(response.status_code, dict(response.headers), response.content, expected=status)
    assert error["code"] == code


def test_every_line_the_api_server_writes_is_json(server: ApiServer) -> None:
    for _ in range(3):  # access lines, as the kubelet's probes cause them
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    _raw(server, b"NOT A REQUEST LINE\r\n\r\n")  # gunicorn's warning about it
    time.sleep(0.5)
    lines = [line for line in server.log.read_text().splitlines() if line.strip()]
    assert any('"GET /healthz' in line for line in lines), lines[-20:]
    assert any("Booting worker" in line for line in lines), lines[:20]
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
        assert {"ts", "level", "logger", "message"} <= entry.keys(), line
