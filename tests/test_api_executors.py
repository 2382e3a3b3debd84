"""Executors that register their own HTTP jobs, heartbeat, go offline and come back."""

# ruff: noqa: F811 - fixtures imported from tests.test_api_support are parameters

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.request import Request, urlopen

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import AuditEvent, Executor, Job, Run
from jobs.vault import unseal
from tests.conftest import wait_for
from tests.test_api_support import (  # noqa: F401 - fixtures
    Api,
    as_editor,
    as_operator,
    as_viewer,
    editor,
    error_of,
    fresh_caches,
    make_job,
    operator,
    user_with_role,
    viewer,
)

OFFERS = [
    {"name": "invoices", "schedule": "*/5 * * * *", "path": "/jobs/invoices"},
    {
        "name": "cleanup",
        "schedule": "@daily",
        "path": "/jobs/cleanup",
        "method": "DELETE",
        "headers": {"X-Job": "cleanup"},
        "labels": {"team": "billing"},
        "max_retries": 2,
    },
]
REGISTRATION = {
    "name": "billing",
    "base_url": "https://billing.example.com/hooks/",
    "heartbeat_seconds": 10,
    "headers": {"Authorization": "Bearer from-cronadmin"},
    "jobs": OFFERS,
}


@pytest.mark.django_db
class TestRegister:
    def test_it_works(self, as_editor, editor):
        response = as_editor.post("/api/v1/executors/register", REGISTRATION)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["heartbeat_seconds"] == 10 and body["offline_after_seconds"] == 30
        assert body["state"] == "online"
        assert [job["name"] for job in body["jobs"]] == ["billing/cleanup", "billing/invoices"]
        executor = Executor.objects.get(name="billing")
        cleanup = Job.objects.get(name="billing/cleanup")
        assert cleanup.executor == executor and cleanup.kind == "http"
        # The secret header is stored encrypted.
        headers = cleanup.config["headers"]
        headers["Authorization"] = unseal(headers["Authorization"])
        assert cleanup.config == {
            "method": "DELETE",
            "url": "https://billing.example.com/hooks/jobs/cleanup",
            "headers": {"Authorization": "Bearer from-cronadmin", "X-Job": "cleanup"},
            "body": "",
            "expect_status": [],
        }
        assert cleanup.labels == {"team": "billing", "executor": "billing"}
        assert cleanup.max_retries == 2 and cleanup.created_by == editor
        invoices = Job.objects.get(name="billing/invoices")
        assert invoices.config["method"] == "POST"
        assert AuditEvent.objects.filter(object_type="executor", action="create").exists()

    def test_registering_again_updates_and_removes_jobs(self, as_editor):
        as_editor.post("/api/v1/executors/register", REGISTRATION)
        invoices = Job.objects.get(name="billing/invoices")
        services.job_pause(actor=None, job=invoices, note="month end")
        changed = {**OFFERS[0], "schedule": "*/10 * * * *"}
        response = as_editor.post("/api/v1/executors/register", {**REGISTRATION, "jobs": [changed]})
        assert response.status_code == 200
        invoices.refresh_from_db()
        assert invoices.schedule == "*/10 * * * *" and invoices.version == 2
        assert invoices.state == "paused"  # a pause is the operators' business
        assert not Job.objects.filter(name="billing/cleanup").exists()

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"name": "bad name!"}, "name"),
            ({"base_url": "ftp://billing"}, "base_url"),
            ({"heartbeat_seconds": 0}, "heartbeat_seconds"),
            ({"jobs": [OFFERS[0], OFFERS[0]]}, "jobs[1].name"),
            ({"jobs": [OFFERS[0], {**OFFERS[1], "schedule": "@sometimes"}]}, "jobs[1].schedule"),
            ({"jobs": [{**OFFERS[0], "path": "no-slash"}]}, "jobs[0].path"),
            ({"jobs": [{**OFFERS[0], "colour": "red"}]}, "jobs[0].colour"),
            ({"jobs": "all"}, "jobs"),
        ],
    )
    def test_it_rejects_bad_input_and_writes_nothing(self, as_editor, change, field):
        response = as_editor.post("/api/v1/executors/register", {**REGISTRATION, **change})
        assert response.status_code == 422, response.content
        assert field in error_of(response)["fields"]
        assert not Executor.objects.exists() and not Job.objects.exists()

    def test_a_job_it_does_not_own_is_a_conflict(self, as_editor):
        make_job("billing/invoices")
        response = as_editor.post("/api/v1/executors/register", REGISTRATION)
        assert response.status_code == 409
        assert "jobs[0].name" in error_of(response)["fields"]
        assert not Executor.objects.exists()
        assert Job.objects.get().executor is None


@pytest.mark.django_db
class TestHeartbeatAndUnregister:
    def test_heartbeat_works(self, as_operator):
        services.executor_register(actor=None, **REGISTRATION)
        Executor.objects.update(last_heartbeat_at=timezone.now() - timedelta(minutes=5))
        assert Executor.objects.get().state == "offline"
        response = as_operator.post("/api/v1/executors/billing/heartbeat")
        assert response.status_code == 200
        assert response.json()["state"] == "online"
        assert Executor.objects.get().state == "online"

    def test_offline_shows_on_the_executor_and_its_jobs(self, as_viewer):
        services.executor_register(actor=None, **REGISTRATION)
        Executor.objects.update(last_heartbeat_at=timezone.now() - timedelta(seconds=31))
        [executor] = as_viewer.get("/api/v1/executors").json()["results"]
        assert executor["state"] == "offline"
        job = Job.objects.get(name="billing/invoices")
        body = as_viewer.get(f"/api/v1/jobs/{job.pk}").json()
        assert body["executor"] == {"name": "billing", "state": "offline"}
        overview = Executor.objects.overview().get()
        assert overview.job_count == 2

    def test_unregister_works(self, as_editor):
        services.executor_register(actor=None, **REGISTRATION)
        response = as_editor.post("/api/v1/executors/billing/unregister")
        assert response.status_code == 200
        assert response.json() == {"name": "billing", "deleted_jobs": 2}
        assert not Executor.objects.exists() and not Job.objects.exists()

    @pytest.mark.parametrize("action", ["heartbeat", "unregister"])
    def test_an_unknown_executor_is_404(self, as_editor, action):
        response = as_editor.post(f"/api/v1/executors/nobody/{action}")
        assert response.status_code == 404
        error_of(response)


class TinyExecutor:
    """A real HTTP service on 127.0.0.1 that registers with CronAdmin and heartbeats."""

    def __init__(self, api_url: str, token: str) -> None:
        self.api_url = api_url
        self.token = token
        self.calls: list[dict[str, Any]] = []
        self.beating = threading.Event()
        self.stopped = threading.Event()
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length") or 0)
                calls.append(
                    {
                        "path": self.path,
                        "at": timezone.now(),
                        "key": self.headers.get("Idempotency-Key"),
                        "body": self.rfile.read(length),
                    }
                )
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.heartbeats = threading.Thread(target=self._beat, daemon=True)

    def call_api(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        request = Request(
            f"{self.api_url}/api/v1/executors/{path}",
            data=json.dumps(body or {}).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def register(self) -> dict[str, Any]:
        offer = {"name": "ping", "schedule": "@every 1s", "path": "/ping", "body": "{}"}
        answer = self.call_api(
            "register",
            {"name": "tiny", "base_url": self.base_url, "heartbeat_seconds": 1, "jobs": [offer]},
        )
        self.period = answer["heartbeat_seconds"]
        self.beating.set()
        self.heartbeats.start()
        return answer

    def _beat(self) -> None:
        while not self.stopped.is_set():
            if self.beating.is_set():
                self.call_api("tiny/heartbeat")
            # Twice per period: a heartbeat delayed by a busy test machine is not a missed one.
            self.stopped.wait(self.period / 2)

    def close(self) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.timeout(90)
def test_an_executor_goes_offline_and_comes_back(start_scheduler, live_server, settings):
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    token = Api(user_with_role("Editor")).token
    executor = TinyExecutor(live_server.url, token)
    try:
        answer = executor.register()
        job = Job.objects.get(name="tiny/ping", executor__name="tiny")
        assert answer["jobs"][0]["http"]["url"] == f"{executor.base_url}/ping"
        start_scheduler(CRONADMIN_HTTP_ALLOWED_HOSTS="127.0.0.1")

        def succeeded(after: Any = None) -> int:
            runs = Run.objects.filter(job=job, state=Run.State.SUCCEEDED)
            return runs.filter(scheduled_for__gt=after).count() if after else runs.count()

        wait_for(lambda: succeeded() >= 2 and len(executor.calls) >= 2, timeout=20)
        assert all(call["path"] == "/ping" and call["key"] for call in executor.calls)

        executor.beating.clear()  # still serving, but silent
        silent_at = timezone.now()
        # A slow ping can also be skipped by the overlap policy: only the executor's count here.
        offline = Run.objects.filter(
            job=job, state=Run.State.SKIPPED, cause=Run.Cause.EXECUTOR_OFFLINE
        ).order_by("scheduled_for")
        first_skip = wait_for(offline.first, timeout=15)
        assert "Executor tiny offline" in first_skip.reason and "3 missed" in first_skip.reason
        # Three missed heartbeats of one second each, not sooner.
        assert first_skip.scheduled_for - silent_at > timedelta(seconds=2)
        calls_when_offline = len(executor.calls)
        wait_for(lambda: offline.count() >= 3, timeout=10)
        later = Run.objects.filter(job=job, scheduled_for__gt=first_skip.scheduled_for)
        assert set(later.values_list("state", flat=True)) == {Run.State.SKIPPED}
        assert len(executor.calls) <= calls_when_offline + 1  # one may have been under way
        api = Api(token=token)
        assert api.get(f"/api/v1/jobs/{job.pk}").json()["executor"]["state"] == "offline"

        executor.beating.set()
        back_at = timezone.now()
        wait_for(lambda: succeeded(after=back_at) >= 2, timeout=15)
        assert len(executor.calls) >= calls_when_offline + 2
        assert api.get(f"/api/v1/jobs/{job.pk}").json()["executor"]["state"] == "online"

        executor.stopped.set()
        executor.heartbeats.join(timeout=10)
        assert executor.call_api("tiny/unregister") == {"name": "tiny", "deleted_jobs": 1}
        assert not Job.objects.filter(pk=job.pk).exists()
    finally:
        executor.close()
