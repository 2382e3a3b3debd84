"""Processes in production mode for the serving tests: the environment, manage.py commands, and a
real gunicorn (or the container entrypoint) on a free local port."""

import base64
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
HOST = "cron.example.test"


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The environment docs/deploy.md documents, on a temporary SQLite file and static folder."""
    # Nothing of development or of the test run (the browser tests allow async-unsafe ORM calls).
    dropped = {"CRONADMIN_DEV", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        {
            "SECRET_KEY": secrets.token_urlsafe(50),
            "CRONADMIN_ENCRYPTION_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "ALLOWED_HOSTS": f"{HOST},127.0.0.1",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "STATIC_ROOT": str(tmp_path / "static"),
            "CRONADMIN_OUTPUT_DIR": str(tmp_path / "output"),
            "USE_X_FORWARDED_PROTO": "true",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
            "SECURE_HSTS_PRELOAD": "true",
            "WEB_CONCURRENCY": "1",
            "GUNICORN_THREADS": "2",
        }
    )
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name, "")

    def cookies(self) -> dict[str, str]:
        """Each Set-Cookie header by cookie name (the whole header line, flags included)."""
        return {line.split("=", 1)[0]: line for line in self.headers.get_all("Set-Cookie") or []}


@dataclass
class Server:
    """A web process started with `command`; stopped (SIGTERM) by the fixture that made it."""

    command: list[str]
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    def start(self) -> "Server":
        self.env = {**self.env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"the server did not start:\n{self.log()}") from None
                time.sleep(0.1)

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: str = ""
    ) -> Response:
        # Through the TLS proxy unless a test says otherwise: the Host and scheme it forwards.
        sent = {"Host": HOST, "X-Forwarded-Proto": "https", **(headers or {})}
        sent = {k: v for k, v in sent.items() if v is not None}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body or None, headers=sent)
            response = connection.getresponse()
            return Response(response.status, response.headers, response.read())
        finally:
            connection.close()

    def get(self, path: str, **headers: str | None) -> Response:
        return self.request(
            "GET", path, headers={k.replace("_", "-"): v for k, v in headers.items()}
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


def gunicorn(env: dict[str, str], log_path: Path) -> Server:
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "cronadmin" / "gunicorn.conf.py")]
    return Server(command, env, log_path)
