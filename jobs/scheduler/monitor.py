"""The scheduler's own HTTP endpoint (CRONADMIN_SCHEDULER_HTTP): /healthz and /metrics.

It answers from the process's memory, never from the database, so it can say "database
unreachable since ..." exactly when the scheduler cannot write its heartbeat, which the web's
view of the heartbeat row can only guess at. /metrics serves the run histograms observed live
(jobs.scheduler.run_metrics) and the engine's queues.
"""

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from jobs.metrics import bearer_matches
from jobs.scheduler import run_metrics
from jobs.scheduler.process import SchedulerProcess

logger = logging.getLogger("jobs.scheduler")


def parse_address(value: str) -> tuple[str, int]:
    host, _colon, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ImproperlyConfigured(
            f"CRONADMIN_SCHEDULER_HTTP must be host:port (like 127.0.0.1:9108), not {value!r}."
        )
    return host.strip("[]"), int(port)


def db_unreachable_since(process: SchedulerProcess) -> datetime | None:
    """When the sync loop or the engine began failing to reach the database, if they are now.

    Both keep that instant on the monotonic clock in their error handlers; it is read here, never
    written, and turned into wall-clock time for people.
    """
    engine = process.engine
    failing = [
        since
        for since in (process.db_failing_since, engine.db_failing_since if engine else None)
        if since is not None
    ]
    if not failing:
        return None
    return datetime.fromtimestamp(time.time() - (time.monotonic() - min(failing)), UTC)


def health(process: SchedulerProcess) -> tuple[int, dict[str, Any]]:
    node = str(process.node) if process.node else None
    role = "leader" if process.engine else "standby" if process.node else "starting"
    body: dict[str, Any] = {"node": node, "role": role, "term": process.term or None}
    since = db_unreachable_since(process)
    if since is not None:
        problem = f"database unreachable since {since.isoformat(timespec='seconds')}"
        return 503, {"status": "unhealthy", "problem": problem, **body}
    if process.stop.is_set():
        return 503, {"status": "unhealthy", "problem": "stopping", **body}
    if process.node is None:
        return 503, {"status": "unhealthy", "problem": "starting", **body}
    return 200, {"status": "ok", **body}


class EngineCollector(Collector):
    def __init__(self, process: SchedulerProcess) -> None:
        self.process = process

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        process, engine = self.process, self.process.engine
        yield GaugeMetricFamily(
            "cronadmin_scheduler_leading", "1 while this process leads.", value=1 if engine else 0
        )
        since = db_unreachable_since(process)
        yield GaugeMetricFamily(
            "cronadmin_scheduler_database_unreachable_seconds",
            "How long this scheduler has been unable to reach the database (0 when it can).",
            value=(datetime.now(UTC) - since).total_seconds() if since else 0,
        )
        if engine is None:
            return
        yield GaugeMetricFamily(
            "cronadmin_scheduler_running_runs",
            "Runs this process is running.",
            value=len(engine.active),
        )
        queued = GaugeMetricFamily(
            "cronadmin_scheduler_queued_runs",
            "Claimed runs not started yet: ready (free worker awaited), waiting (overlap "
            "policy) or delayed (retry backoff).",
            labels=["queue"],
        )
        for queue, count in engine.waiting_summary().items():
            queued.add_metric([queue], count)
        yield queued


class _Handler(BaseHTTPRequestHandler):
    process: SchedulerProcess
    registry: Any

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            status, body = health(self.process)
            self._send(status, json.dumps(body).encode(), "application/json")
        elif path == "/metrics":
            if not bearer_matches(self.headers.get("Authorization", "")):
                self._send(401, b"Send the metrics token as a bearer token.\n", "text/plain")
                return
            self._send(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)
        else:
            self._send(404, b"Not found: /healthz and /metrics only.\n", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="cronadmin-metrics"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Scrapes every few seconds would drown the scheduler's own lines.
        pass


def serve(process: SchedulerProcess, address: str) -> ThreadingHTTPServer:
    """Listen on `address` in a daemon thread for as long as the process lives."""
    host, port = parse_address(address)
    run_metrics.REGISTRY.register(EngineCollector(process))
    handler = type(
        "SchedulerHandler", (_Handler,), {"process": process, "registry": run_metrics.REGISTRY}
    )
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="monitor", daemon=True).start()
    logger.info("serving /healthz and /metrics on http://%s:%d/", host, port)
    return server
