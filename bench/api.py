"""API throughput and latency under gunicorn, beside a trivial Django view as the ceiling.

    .venv/bin/python -m bench.api [--seconds 10] [--clients 4] [--workers 2]

Starts gunicorn (`cronadmin.wsgi`, sync workers) on 127.0.0.1 against a temporary, migrated
SQLite database, makes an Editor with an API token (`manage.py createapitoken`) and one job, then
loads each endpoint in turn from client threads on loopback, each thread sending requests one
after another (closed loop) over http.client:

- GET /api/v1/ping: the ceiling. A real liveness view, through the same middleware, no database.
- GET /api/v1/jobs/<id>: token check, one job with its last run and next run, serialized.
- POST /api/v1/jobs/<id>/run: token check, a run row and an audit row written in a transaction.

No scheduler runs, so the runs stay queued. The table goes to stdout, progress to stderr.
"""

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@contextmanager
def gunicorn(env: dict[str, str], port: int, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "cronadmin.wsgi",
        "--workers",
        str(workers),
        "--bind",
        f"{HOST}:{port}",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _body = request("GET", port, "/api/v1/ping", {})
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)
        yield server
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def request(
    method: str, port: int, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def load(
    name: str,
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    clients: int,
    seconds: float,
    expect: int,
) -> Result:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        # One connection per thread; http.client reopens it when a sync worker closes it.
        connection = http.client.HTTPConnection(HOST, port, timeout=10)
        mine: list[float] = []
        failed = 0
        body = b"" if method == "POST" else None
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                ok = response.status == expect
            except (OSError, http.client.HTTPException):
                connection.close()
                ok = False
            mine.append(time.perf_counter() - started)
            failed += not ok
        connection.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Result(name, len(latencies), errors[0], time.monotonic() - began, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per endpoint")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=None,
        help="DB_CONN_MAX_AGE for the server (default: the product's, a connection per request)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cronadmin-bench-api-") as tmp:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "cronadmin.settings",
            "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
            "CRONADMIN_OUTPUT_DIR": f"{tmp}/output",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": HOST,
        }
        if args.conn_max_age is not None:
            env["DB_CONN_MAX_AGE"] = str(args.conn_max_age)
        args.conn_max_age = int(env.get("DB_CONN_MAX_AGE") or 0)
        log("migrating a temporary database…")
        manage(env, "migrate", "--no-input", "-v0")
        manage(
            env,
            "shell",
            "-c",
            "from django.contrib.auth.models import Group, User; "
            "User.objects.create_user('bench').groups.add(Group.objects.get(name='Editor'))",
        )
        token = manage(env, "createapitoken", "bench", "--name", "bench").strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {token}"}
        port = free_port()
        log(f"gunicorn with {args.workers} workers on {HOST}:{port}, {args.clients} clients")
        with gunicorn(env, port, args.workers):
            job = {"name": "bench", "kind": "task", "task": "demo.noop", "schedule": "@hourly"}
            status, body = request(
                "POST",
                port,
                "/api/v1/jobs",
                {**auth, "Content-Type": "application/json"},
                json.dumps(job).encode(),
            )
            assert status == 201, body
            job_id = json.loads(body)["id"]
            cases = [
                ("GET /api/v1/ping (ceiling)", "GET", "/api/v1/ping", {}, 200),
                ("GET /api/v1/jobs/<id>", "GET", f"/api/v1/jobs/{job_id}", auth, 200),
                ("POST /api/v1/jobs/<id>/run", "POST", f"/api/v1/jobs/{job_id}/run", auth, 202),
            ]
            results = []
            for name, method, path, headers, expect in cases:
                log(f"{name}: {args.warmup:g} s warm-up, {args.seconds:g} s measured")
                load(name, port, method, path, headers, args.clients, args.warmup, expect)
                results.append(
                    load(name, port, method, path, headers, args.clients, args.seconds, expect)
                )
    print_table(results, args)


def print_table(results: list[Result], args: argparse.Namespace) -> None:
    ceiling = results[0]
    connections = (
        "a database connection per request"
        if not args.conn_max_age
        else f"persistent database connections ({args.conn_max_age} s)"
    )
    print(
        f"\nAPI under gunicorn ({args.workers} sync workers, SQLite, {connections}), "
        f"{args.clients} closed-loop "
        f"clients on loopback, {args.seconds:g} s per endpoint, {os.cpu_count()} CPUs shared "
        "with the load generator\n"
    )
    header = ("endpoint", "requests", "errors", "req/s", "p50 ms", "p99 ms", "req/s vs ceiling")
    rows = [
        (
            r.name,
            str(r.requests),
            str(r.errors),
            f"{r.rate:.0f}",
            f"{r.percentile(50):.1f}",
            f"{r.percentile(99):.1f}",
            f"{r.rate / ceiling.rate:.2f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
    mean = statistics.mean(ceiling.latencies) * 1000
    print(f"\nceiling mean latency {mean:.1f} ms")


if __name__ == "__main__":
    main()
