import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from jobs.kinds import http
from jobs.kinds.base import KindResult
from jobs.output import OutputCapture, read_output

# The guard reads the Allowed hosts table when a target is internal and the setting does not
# allow it.
pytestmark = pytest.mark.django_db


class RecordingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily) -> None:
        self.address_family = family
        self.requests: list[dict[str, Any]] = []
        self.connections = 0
        super().__init__(address, Handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        # Called for every accepted connection, before any byte of a request is read.
        self.connections += 1
        return True


class Handler(BaseHTTPRequestHandler):
    server: RecordingServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append(
            {"method": self.command, "path": self.path, "headers": self.headers, "body": body}
        )
        status, headers, payload = ROUTES.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET


ROUTES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/ok": (200, {}, b"hello from the server"),
    "/created": (201, {}, b"created"),
    "/broken": (500, {}, b"boom"),
    "/redirect": (302, {"Location": "/ok"}, b""),
    "/big": (200, {}, b"x" * 10_000),
}


def start_server(host: str, family: socket.AddressFamily) -> RecordingServer:
    server = RecordingServer((host, 0), family)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


@pytest.fixture
def server(settings) -> Iterator[RecordingServer]:
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    server = start_server("127.0.0.1", socket.AF_INET)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[OutputCapture]:
    capture = OutputCapture(tmp_path / "run", head_bytes=4096, tail_bytes=4096)
    yield capture
    capture.close()


def run(
    url: str,
    capture: OutputCapture,
    *,
    deadline: float = 5.0,
    cancel: threading.Event | None = None,
    **config: Any,
) -> KindResult:
    return http.execute(
        {"url": url, **config},
        deadline_seconds=deadline,
        idempotency_key="run-17-attempt-1",
        output=capture,
        cancel=cancel or threading.Event(),
    )


def url(server: RecordingServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_it_records_status_and_body(server: RecordingServer, capture: OutputCapture) -> None:
    result = run(url(server, "/ok"), capture)

    assert result.state == "succeeded"
    assert result.http_status == 200
    assert result.reason.english == "HTTP 200"
    text, _dropped = read_output(capture.path)
    assert text == "HTTP/1.0 200 OK\n\nhello from the server"


def test_it_sends_idempotency_key_user_agent_headers_and_body(
    server: RecordingServer, capture: OutputCapture
) -> None:
    result = run(
        url(server, "/created"),
        capture,
        method="POST",
        headers={"X-Token": "abc", "Content-Type": "application/json"},
        body='{"a": 1}',
    )

    assert result.state == "succeeded"
    [request] = server.requests
    assert request["method"] == "POST"
    assert request["headers"]["Idempotency-Key"] == "run-17-attempt-1"
    assert request["headers"]["User-Agent"] == "CronAdmin"
    assert request["headers"]["X-Token"] == "abc"
    assert request["headers"]["Host"] == f"127.0.0.1:{server.server_address[1]}"
    assert request["body"] == b'{"a": 1}'


def test_it_fails_on_an_unexpected_status(server: RecordingServer, capture: OutputCapture) -> None:
    result = run(url(server, "/broken"), capture)

    assert result.state == "failed"
    assert result.http_status == 500
    assert result.reason.english == "HTTP 500, expected 200-299"
    assert read_output(capture.path)[0].endswith("boom")


def test_it_uses_the_expected_statuses(server: RecordingServer, capture: OutputCapture) -> None:
    assert run(url(server, "/broken"), capture, expect_status=[500]).state == "succeeded"

    result = run(url(server, "/ok"), capture, expect_status=[201, 204])

    assert result.state == "failed"
    assert result.reason.english == "HTTP 200, expected 201, 204"


def test_it_does_not_follow_redirects(server: RecordingServer, capture: OutputCapture) -> None:
    result = run(url(server, "/redirect"), capture)

    assert result.state == "failed"
    assert result.http_status == 302
    assert result.reason.english == "HTTP 302 (redirect to /ok not followed), expected 200-299"
    assert [request["path"] for request in server.requests] == ["/redirect"]


def test_it_truncates_a_big_response(
    server: RecordingServer, capture: OutputCapture, settings
) -> None:
    settings.CRONADMIN_HTTP_MAX_RESPONSE_BYTES = 1000

    result = run(url(server, "/big"), capture)

    assert result.state == "succeeded"
    text, _dropped = read_output(capture.path)
    assert text.count("x") == 1000
    assert text.endswith("\n[response truncated at 1000 bytes]\n")


def test_it_sends_head_without_reading_a_body(
    server: RecordingServer, capture: OutputCapture
) -> None:
    result = run(url(server, "/ok"), capture, method="HEAD")

    assert result.state == "succeeded"
    assert server.requests[0]["method"] == "HEAD"
    assert read_output(capture.path)[0] == "HTTP/1.0 200 OK\n\n"


def test_it_reports_a_refused_connection(settings, capture: OutputCapture) -> None:
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]

    result = run(f"http://127.0.0.1:{port}/", capture)

    assert result.state == "failed"
    assert result.reason.english == "connection refused"


# --- servers that misbehave ---


def serve_raw(behaviour: Callable[[socket.socket], None]) -> tuple[int, threading.Event]:
    """A one-connection TCP server on 127.0.0.1 running `behaviour`; the event ends it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        connection, _address = listener.accept()
        try:
            connection.recv(65536)
            behaviour(connection)
        except OSError:
            pass  # The client hung up, which is what the test wants.
        finally:
            stop.wait(10)
            connection.close()
            listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1], stop


def trickle(payload: bytes) -> Callable[[socket.socket], None]:
    def behaviour(connection: socket.socket) -> None:
        for byte in payload:
            connection.sendall(bytes([byte]))
            time.sleep(1)

    return behaviour


def send_headers_then_trickle(connection: socket.socket) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    trickle(b"y" * 100)(connection)


@pytest.mark.parametrize(
    "behaviour",
    [trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), send_headers_then_trickle],
    ids=["slow-headers", "slow-body"],
)
def test_it_times_out_against_a_slow_server(
    settings, capture: OutputCapture, behaviour: Callable[[socket.socket], None]
) -> None:
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    port, stop = serve_raw(behaviour)

    started = time.monotonic()
    result = run(f"http://127.0.0.1:{port}/", capture, deadline=2.0)
    elapsed = time.monotonic() - started
    stop.set()

    assert result.state == "timed_out"
    assert result.reason.english == "timed out after 2 s"
    assert 1.9 < elapsed < 2.5


def test_it_stops_quickly_on_cancel(settings, capture: OutputCapture) -> None:
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    port, stop = serve_raw(lambda connection: None)  # accepts, reads, never answers
    cancel = threading.Event()
    results: list[KindResult] = []
    worker = threading.Thread(
        target=lambda: results.append(
            run(f"http://127.0.0.1:{port}/", capture, deadline=30, cancel=cancel)
        )
    )
    worker.start()
    time.sleep(0.3)

    cancelled_at = time.monotonic()
    cancel.set()
    worker.join(5)
    stop.set()

    assert time.monotonic() - cancelled_at < 0.2
    assert results[0].state == "cancelled"


def test_it_is_cancelled_before_it_starts(server: RecordingServer, capture: OutputCapture) -> None:
    cancel = threading.Event()
    cancel.set()

    result = run(url(server, "/ok"), capture, cancel=cancel)

    assert result.state == "cancelled"
    assert server.connections == 0


# --- SSRF ---


@pytest.fixture
def trap(settings) -> Iterator[Callable[[str], RecordingServer]]:
    """Local servers that must never see a connection from a refused job."""
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = []
    servers: list[RecordingServer] = []

    def open_trap(host: str) -> RecordingServer:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        servers.append(start_server(host, family))
        return servers[-1]

    yield open_trap
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("trap_host", "template"),
    [
        ("127.0.0.1", "http://127.0.0.1:{port}/"),
        ("127.0.0.1", "http://[::ffff:127.0.0.1]:{port}/"),
        ("127.0.0.1", "http://[::ffff:7f00:1]:{port}/"),
        ("127.0.0.1", "http://0x7f.1:{port}/"),
        ("127.0.0.1", "http://2130706433:{port}/"),
        ("127.0.0.1", "http://0177.0.0.1:{port}/"),
        ("127.0.0.1", "http://127.1:{port}/"),
        ("127.0.0.1", "http://localhost:{port}/"),
        ("127.0.0.1", "https://127.0.0.1:{port}/"),
        ("::1", "http://[::1]:{port}/"),
    ],
)
def test_it_refuses_loopback_without_connecting(
    trap: Callable[[str], RecordingServer], capture: OutputCapture, trap_host: str, template: str
) -> None:
    server = trap(trap_host)

    result = run(template.format(port=server.server_address[1]), capture)

    assert result.state == "failed"
    assert "a loopback address" in result.reason.english
    assert "CRONADMIN_HTTP_ALLOWED_HOSTS" in result.reason.english
    assert server.connections == 0
    assert server.requests == []


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("http://[::ffff:169.254.169.254]/", "a cloud metadata address"),
        ("http://[fd00:ec2::254]/", "a cloud metadata address"),
        ("http://100.100.100.200/", "a cloud metadata address"),
        ("http://169.254.1.1/", "a link-local address"),
        ("http://[fe80::1]/", "a link-local address"),
        ("http://10.0.0.1/", "a private address"),
        ("http://172.16.5.4/", "a private address"),
        ("http://192.168.1.1/", "a private address"),
        ("http://[fd12:3456::1]/", "a private address"),
        ("http://100.64.0.1/", "a carrier-grade NAT address"),
        ("http://0.0.0.0/", "the unspecified address"),
        ("http://[::]/", "the unspecified address"),
        ("http://224.0.0.1/", "a multicast address"),
        ("http://240.0.0.1/", "a reserved address"),
        ("http://[::127.0.0.1]/", "a loopback address"),
        ("http://[64:ff9b::a00:1]/", "a private address"),
        ("http://192.0.2.1/", "not a public address"),
    ],
)
def test_it_refuses_internal_addresses(
    settings, capture: OutputCapture, target: str, problem: str
) -> None:
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = []

    started = time.monotonic()
    result = run(target, capture)

    assert result.state == "failed"
    assert problem in result.reason.english
    assert time.monotonic() - started < 0.5


def test_it_allows_listed_hosts_only_as_written(
    server: RecordingServer, capture: OutputCapture
) -> None:
    port = server.server_address[1]

    assert run(f"http://127.0.0.1:{port}/ok", capture).state == "succeeded"
    result = run(f"http://localhost:{port}/ok", capture)

    assert result.state == "failed"
    assert "loopback" in result.reason.english
    assert server.connections == 1


# --- TLS ---


@pytest.fixture
def tls_server(tmp_path: Path, settings, monkeypatch) -> Iterator[RecordingServer]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost"],
        check=True,
        capture_output=True,
    )
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["localhost"]
    server = RecordingServer(("127.0.0.1", 0), socket.AF_INET)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    server.cert = cert  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()


def test_it_verifies_tls_certificates(tls_server: RecordingServer, capture: OutputCapture) -> None:
    result = run(f"https://localhost:{tls_server.server_address[1]}/ok", capture)

    assert result.state == "failed"
    assert result.reason.english.startswith("TLS certificate check failed")


def test_it_checks_the_certificate_against_the_url_host(
    tls_server: RecordingServer, capture: OutputCapture, monkeypatch
) -> None:
    # Trust the test certificate (issued to "localhost"): the connection goes to the resolved
    # address, yet SNI and the name check still use the host from the URL.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.cert))  # type: ignore[attr-defined]

    result = run(f"https://localhost:{tls_server.server_address[1]}/ok", capture)

    assert result.state == "succeeded", result
    assert tls_server.requests[0]["headers"]["Host"] == f"localhost:{tls_server.server_address[1]}"


# --- settings ---


def errors_of(config: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        http.clean_config(config)
    return {field: [e.code for e in errors] for field, errors in caught.value.error_dict.items()}


def test_clean_config_fills_defaults_and_normalises() -> None:
    cleaned = http.clean_config(
        {
            "url": " HTTPS://Example.COM:8443/a?b=1#frag ",
            "method": "post",
            "expect_status": [204, 200],
        }
    )

    assert cleaned == {
        "method": "POST",
        "url": "https://example.com:8443/a?b=1",
        "headers": {},
        "body": "",
        "expect_status": [200, 204],
    }


def test_clean_config_converts_international_names() -> None:
    assert http.clean_config({"url": "http://bücher.example/"})["url"] == (
        "http://xn--bcher-kva.example/"
    )


@pytest.mark.parametrize(
    ("config", "field", "code"),
    [
        ({"url": "ftp://example.com/file"}, "url", "invalid_scheme"),
        ({"url": "file:///etc/passwd"}, "url", "invalid_scheme"),
        ({"url": "http:///path-only"}, "url", "missing_host"),
        ({"url": "example.com/no-scheme"}, "url", "invalid_scheme"),
        ({"url": ""}, "url", "required"),
        ({}, "url", "required"),
        ({"url": 42}, "url", "required"),
        ({"url": "http://exa mple.com/"}, "url", "invalid_url"),
        ({"url": "http://example.com:99999/"}, "url", "invalid_port"),
        ({"url": "http://user:pw@example.com/"}, "url", "credentials_in_url"),
        ({"url": "http://bad!host/"}, "url", "invalid_host"),
        ({"url": "http://example.com/", "method": "FETCH"}, "method", "invalid_method"),
        ({"url": "http://example.com/", "method": 1}, "method", "invalid_method"),
        ({"url": "http://example.com/", "headers": ["X-A"]}, "headers", "invalid_headers"),
        ({"url": "http://example.com/", "headers": {"X-A": 1}}, "headers", "invalid_header_value"),
        (
            {"url": "http://example.com/", "headers": {"X-A": "a\r\nX-B: b"}},
            "headers",
            "invalid_header_value",
        ),
        (
            {"url": "http://example.com/", "headers": {"Bad Name": "x"}},
            "headers",
            "invalid_header_name",
        ),
        ({"url": "http://example.com/", "headers": {"Host": "x"}}, "headers", "reserved_header"),
        (
            {"url": "http://example.com/", "headers": {"X-A": "1", "x-a": "2"}},
            "headers",
            "duplicate_header",
        ),
        ({"url": "http://example.com/", "body": {"a": 1}}, "body", "invalid_body"),
        (
            {"url": "http://example.com/", "expect_status": ["200"]},
            "expect_status",
            "invalid_status",
        ),
        ({"url": "http://example.com/", "expect_status": [700]}, "expect_status", "invalid_status"),
        ({"url": "http://example.com/", "expect_status": 200}, "expect_status", "invalid_status"),
        ({"url": "http://example.com/", "timeout": 5}, NON_FIELD_ERRORS, "unknown_setting"),
    ],
)
def test_clean_config_rejects_bad_settings(config: dict[str, Any], field: str, code: str) -> None:
    assert errors_of(config)[field] == [code]


def test_clean_config_reports_every_field_at_once() -> None:
    errors = errors_of({"url": "ftp://x", "method": "FETCH", "expect_status": "2xx"})

    assert set(errors) == {"url", "method", "expect_status"}


def test_clean_config_does_not_resolve_names() -> None:
    # Resolution happens at run time: a name that does not resolve yet is still valid settings.
    assert http.clean_config({"url": "http://no-such-host.invalid/"})["url"] == (
        "http://no-such-host.invalid/"
    )


def test_it_fails_on_invalid_settings(capture: OutputCapture) -> None:
    result = run("ftp://example.com/", capture)

    assert result.state == "failed"
    assert result.reason.english == "invalid HTTP settings"
