"""What open pages cost: 200 simulated pages asking "changed since?", and the real-browser delay.

    .venv/bin/python -m bench.live [--pages 200] [--seconds 20] [--workers 2] [--browser-runs 10]

Starts gunicorn (`cronadmin.wsgi`, sync workers) on a temporary, migrated SQLite database, with
one job and a viewer's session. Then, each for `--seconds`:

1. idle: `--pages` open job pages, each asking GET /live/?topics=job:<id>&since=… every 2 s
   (open loop, phases spread evenly), nothing changing: every answer should be a 204;
2. changing: the same, while a run of the job is asked for through the API every 10 s, so
   every page learns of it and fetches its run history once (what the pages cost when they
   must redraw);
3. baseline: the pages redraw their run history every 2 s instead (GET /jobs/<id>/runs/ with
   HX-Request), which is what polling a region without the change check costs.

Server CPU is the gunicorn process tree's user + system time over the window. Last, a real
Chromium (Playwright, /usr/bin/chromium) opens the job page while the idle load runs, and the
time from each POST /api/v1/jobs/<id>/run to the run's row showing in the page is measured.
The table goes to stdout, progress to stderr.
"""

import argparse
import heapq
import http.client
import json
import os
import re
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field

import psutil

from bench.api import HOST, free_port, gunicorn, log, manage, request
from bench.measure import tree_cpu_seconds

POLL_SECONDS = 2.0
SESSION_SCRIPT = """
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import Group, User
from django.contrib.sessions.backends.db import SessionStore
from jobs import services
viewer = User.objects.create_user('viewer', password='bench-password-1')
viewer.groups.add(Group.objects.get(name='Viewer'))
User.objects.create_user('ops').groups.add(Group.objects.get(name='Operator'))
job = services.job_create(actor=None, name='bench', kind='task',
    config={'task': 'demo.noop', 'params': {}}, schedule='@manual')
session = SessionStore()
session[SESSION_KEY] = str(viewer.pk)
session[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'
session[HASH_SESSION_KEY] = viewer.get_session_auth_hash()
session.create()
print(job.pk, session.session_key)
"""


@dataclass
class Load:
    name: str
    seconds: float
    cpu_seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies) or [0.0]
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def simulate(
    port: int,
    paths: list[str],
    headers: dict[str, str],
    seconds: float,
    threads: int,
    server: psutil.Process,
    name: str,
    while_running=None,
    redraw: str = "",
) -> Load:
    """Open pages asking on their own clocks: page i at phase i/N of every 2 s period."""
    start = time.monotonic() + 0.2
    due = [(start + POLL_SECONDS * i / len(paths), i) for i in range(len(paths))]
    heapq.heapify(due)
    stop = start + seconds
    lock = threading.Lock()
    result = Load(name, seconds, 0.0)

    def worker() -> None:
        while True:
            with lock:
                at, i = heapq.heappop(due)
                if at >= stop:
                    heapq.heappush(due, (at, i))
                    return
                heapq.heappush(due, (at + POLL_SECONDS, i))
            delay = at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            began = time.perf_counter()
            try:
                connection = http.client.HTTPConnection(HOST, port, timeout=10)
                connection.request("GET", paths[i], headers=headers)
                response = connection.getresponse()
                body = response.read()
                status = response.status
                connection.close()
            except (OSError, http.client.HTTPException):
                status, body = 0, b""
            took = time.perf_counter() - began
            if status == 200 and "/live/" in paths[i]:
                # The page follows its watcher to the new versions and redraws its history.
                found = re.search(rb"since=([0-9.]+)", body)
                if found:
                    paths[i] = re.sub(r"since=[0-9.]*", f"since={found[1].decode()}", paths[i])
                if redraw:
                    connection = http.client.HTTPConnection(HOST, port, timeout=10)
                    connection.request("GET", redraw, headers={**headers, "HX-Request": "true"})
                    connection.getresponse().read()
                    connection.close()
                    took = time.perf_counter() - began
            with lock:
                result.latencies.append(took)
                result.statuses[status] = result.statuses.get(status, 0) + 1

    cpu_before = tree_cpu_seconds(server)
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    if while_running:
        while_running(stop)
    for thread in pool:
        thread.join()
    result.cpu_seconds = tree_cpu_seconds(server) - cpu_before
    return result


def browser_delays(base: str, job_id: int, session: str, token: str, runs: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    delays = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("CRONADMIN_CHROMIUM", "/usr/bin/chromium"),
            args=["--no-sandbox", "--disable-gpu"],
        )
        context = browser.new_context()
        context.add_cookies([{"name": "sessionid", "value": session, "url": base}])
        page = context.new_page()
        page.goto(f"{base}/jobs/{job_id}/")
        page.wait_for_selector("#live-watch", state="attached")
        for _ in range(runs):
            port = int(base.rsplit(":", 1)[1])
            began = time.perf_counter()
            status, body = request(
                "POST",
                port,
                f"/api/v1/jobs/{job_id}/run",
                {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                b"{}",
            )
            assert status == 202, body
            run_id = json.loads(body)["id"]
            page.wait_for_selector(f'#job-runs a[href="/runs/{run_id}/"]', timeout=15_000)
            delays.append(time.perf_counter() - began)
            time.sleep(0.7)  # land at different points of the poll period
        browser.close()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--threads", type=int, default=24, help="load generator threads")
    parser.add_argument("--browser-runs", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cronadmin-bench-live-") as tmp:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "cronadmin.settings",
            # Plain HTTP on loopback, as the other benchmarks run (see cronadmin/settings.py).
            "CRONADMIN_DEV": "1",
            "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
            "CRONADMIN_OUTPUT_DIR": f"{tmp}/output",
            "STATIC_ROOT": f"{tmp}/static",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": HOST,
        }
        log("migrating a temporary database…")
        manage(env, "migrate", "--no-input", "-v0")
        manage(env, "collectstatic", "--no-input", "-v0")  # the browser needs htmx
        job_id, session = manage(env, "shell", "-c", SESSION_SCRIPT).split()[-2:]
        token = manage(env, "createapitoken", "ops", "--name", "bench").strip().splitlines()[-1]
        port = free_port()
        base = f"http://{HOST}:{port}"
        cookie = {"Cookie": f"sessionid={session}"}
        with gunicorn(env, port, args.workers) as server_proc:
            server = psutil.Process(server_proc.pid)
            status, page = request("GET", port, f"/jobs/{job_id}/", cookie)
            assert status == 200, status
            watch = re.search(rb'hx-get="(/live/\?[^"]+)"', page)[1].decode().replace("&amp;", "&")
            api = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

            def request_runs(stop: float) -> None:
                while time.monotonic() < stop:
                    request("POST", port, f"/api/v1/jobs/{job_id}/run", api, b"{}")
                    time.sleep(10.0)

            loads = []
            log(f"{args.pages} idle pages for {args.seconds:g} s…")
            loads.append(
                simulate(
                    port,
                    [watch] * args.pages,
                    cookie,
                    args.seconds,
                    args.threads,
                    server,
                    "idle: GET /live/ (nothing changed)",
                )
            )
            log(f"{args.pages} pages while a run is asked for every 10 s…")
            watching = [watch] * args.pages

            def changing(stop: float) -> None:
                request_runs(stop)

            loads.append(
                simulate(
                    port,
                    watching,
                    cookie,
                    args.seconds,
                    args.threads,
                    server,
                    "changing: GET /live/ + redraw, a run every 10 s",
                    changing,
                    redraw=f"/jobs/{job_id}/runs/",
                )
            )
            log(f"{args.pages} pages redrawing their history every 2 s (baseline)…")
            runs_path = f"/jobs/{job_id}/runs/"
            loads.append(
                simulate(
                    port,
                    [runs_path] * args.pages,
                    {**cookie, "HX-Request": "true"},
                    args.seconds,
                    args.threads,
                    server,
                    "baseline: redraw the run history every 2 s",
                )
            )
            log(f"real browser: {args.browser_runs} runs asked for through the API…")
            delays: list[float] = []
            load_thread = threading.Thread(
                target=lambda: simulate(
                    port,
                    [watch] * args.pages,
                    cookie,
                    args.browser_runs * 3 + 10,
                    args.threads,
                    server,
                    "bg",
                ),
            )
            load_thread.start()
            try:
                delays = browser_delays(base, int(job_id), session, token, args.browser_runs)
            except Exception as exc:  # noqa: BLE001 - the table says why the row is missing
                log(f"browser measurement failed: {exc}")
            load_thread.join()
    print_table(loads, delays, args)


def print_table(loads: list[Load], delays: list[float], args: argparse.Namespace) -> None:
    print(
        f"\nOpen pages under gunicorn ({args.workers} sync workers, SQLite), {args.pages} pages "
        f"asking every {POLL_SECONDS:g} s, {args.seconds:g} s each, {os.cpu_count()} CPUs "
        "shared with the load generator\n"
    )
    header = ("load", "req/s", "answers", "p50 ms", "p95 ms", "server CPU %", "CPU ms/req")
    rows = []
    for load in loads:
        n = len(load.latencies) or 1
        answers = ", ".join(f"{s}×{c}" for s, c in sorted(load.statuses.items()))
        rows.append(
            (
                load.name,
                f"{len(load.latencies) / load.seconds:.0f}",
                answers,
                f"{load.percentile(50):.1f}",
                f"{load.percentile(95):.1f}",
                f"{100 * load.cpu_seconds / load.seconds:.0f}",
                f"{1000 * load.cpu_seconds / n:.2f}",
            )
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    if delays:
        ordered = sorted(delays)
        print(
            f"\nAPI run request → row visible in Chromium (job page open, {args.pages} pages "
            f"polling): n={len(delays)}, median {statistics.median(delays):.2f} s, "
            f"p95 {ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]:.2f} s, "
            f"max {ordered[-1]:.2f} s"
        )


if __name__ == "__main__":
    main()
