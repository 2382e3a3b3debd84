"""The scheduler applies the Allowed hosts page at once: no restart, no waiting for a reload."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jobs import services
from jobs.models import Run
from tests.conftest import user_with_role, wait_for


class Portal(ThreadingHTTPServer):
    daemon_threads = True
    calls = 0


class Handler(BaseHTTPRequestHandler):
    server: Portal

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.calls += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def finished(run: Run) -> Run:
    found = wait_for(
        lambda: Run.objects.filter(pk=run.pk, state__in=Run.FINAL_STATES).first(), timeout=15
    )
    assert isinstance(found, Run)
    return found


@pytest.mark.timeout(90)
def test_an_entry_lets_runs_reach_an_internal_host_and_removing_it_blocks_the_next(
    start_scheduler, settings
):
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = []
    portal = Portal(("127.0.0.1", 0), Handler)
    threading.Thread(target=portal.serve_forever, args=(0.05,), daemon=True).start()
    admin = user_with_role("Admin")
    try:
        entry = services.allowed_host_create(
            actor=admin, host="127.0.0.0/8", note="the internal tools portal"
        )
        url = f"http://127.0.0.1:{portal.server_address[1]}/sync"
        job = services.job_create(
            actor=None,
            name="portal sync",
            kind="http",
            schedule="@manual",
            config={"method": "POST", "url": url, "body": "{}"},
        )
        # Nothing in the scheduler's settings allows it: only the table does.
        start_scheduler(CRONADMIN_HTTP_ALLOWED_HOSTS="")

        first = finished(services.job_run_now(actor=None, job=job))
        assert first.state == Run.State.SUCCEEDED, first.reason
        assert portal.calls == 1

        services.allowed_host_delete(actor=admin, entry=entry)
        second = finished(services.job_run_now(actor=None, job=job))
        assert second.state == Run.State.FAILED
        assert "127.0.0.1, a loopback address" in second.reason
        assert "Allowed hosts page" in second.reason
        assert portal.calls == 1

        services.allowed_host_create(actor=admin, host="127.0.0.1", note="back again")
        third = finished(services.job_run_now(actor=None, job=job))
        assert third.state == Run.State.SUCCEEDED, third.reason
        assert portal.calls == 2
    finally:
        portal.shutdown()
        portal.server_close()
