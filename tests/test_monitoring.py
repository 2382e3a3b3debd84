"""The web's /healthz, /healthz/scheduler, /metrics, the schedulers page and /api/v1/schedulers."""

import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from jobs import services
from jobs.models import ChangeMarker, Job, Run, SchedulerLease, SchedulerNode
from tests.conftest import ROOT, free_port, user_with_role, wait_for
from tests.test_views_base import HX, logged_in, login_redirect


def make_job(name: str, **fields) -> Job:
    return services.job_create(
        actor=None,
        name=name,
        kind="task",
        config={"task": "demo.noop", "params": {}},
        schedule="@hourly",
        **fields,
    )


def make_run(job: Job, state: str, ago: timedelta) -> Run:
    return Run.objects.create(
        job=job,
        job_version=1,
        trigger=Run.Trigger.MANUAL,
        state=state,
        scheduled_for=timezone.now() - ago,
    )


def make_leader(*, heartbeat_age: timedelta, term: int = 3, pid: int = 4242) -> SchedulerNode:
    now = timezone.now()
    node = SchedulerNode.objects.create(
        host="sched-a",
        pid=pid,
        started_at=now - timedelta(hours=1),
        heartbeat_at=now - heartbeat_age,
    )
    SchedulerLease.objects.update_or_create(
        name="scheduler",
        defaults={"holder": node, "term": term, "expires_at": now + timedelta(seconds=10)},
    )
    return node


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text answer, by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


# --- /healthz ------------------------------------------------------------------------------------


def test_healthz_works(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    # No session is made for a probe.
    assert "sessionid" not in response.cookies


def test_healthz_rejects_post(client, db):
    assert client.post("/healthz").status_code == 405


# --- /healthz/scheduler --------------------------------------------------------------------------


def test_scheduler_healthz_is_ok_with_a_fresh_leader(client, db):
    make_leader(heartbeat_age=timedelta(seconds=1), term=7)
    response = client.get("/healthz/scheduler")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["term"] == 7 and body["problem"] == ""
    assert 0.5 < body["leader_heartbeat_age_seconds"] < 30


def test_scheduler_healthz_is_503_without_a_leader(client, db):
    SchedulerNode.objects.create(host="standby", pid=1)
    response = client.get("/healthz/scheduler")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert "No scheduler is in charge" in response.json()["problem"]


def test_scheduler_healthz_is_503_when_the_leader_heartbeat_is_older_than_the_lease(
    client, db, settings
):
    settings.CRONADMIN_HEARTBEAT_SECONDS = 2.0  # a 10 s lease
    make_leader(heartbeat_age=timedelta(seconds=11))
    response = client.get("/healthz/scheduler")
    assert response.status_code == 503
    assert "more than the 10 s lease" in response.json()["problem"]


def test_scheduler_healthz_rejects_post(client, db):
    assert client.post("/healthz/scheduler").status_code == 405


# --- /metrics ------------------------------------------------------------------------------------


def test_metrics_works(client, db, settings):
    settings.CRONADMIN_METRICS_TOKEN = "s3cret-token"
    nightly, hourly = make_job("nightly"), make_job("hourly")
    services.job_pause(actor=None, job=hourly)
    for _ in range(3):
        make_run(nightly, Run.State.SUCCEEDED, timedelta(minutes=10))
    make_run(nightly, Run.State.FAILED, timedelta(minutes=5))
    make_run(hourly, Run.State.FAILED, timedelta(minutes=5))
    make_run(hourly, Run.State.FAILED, timedelta(minutes=6))
    make_run(hourly, Run.State.TIMED_OUT, timedelta(minutes=7))
    # Outside the hour: not in the recent counts.
    make_run(hourly, Run.State.FAILED, timedelta(hours=2))
    make_run(nightly, Run.State.RUNNING, timedelta(seconds=5))
    make_run(nightly, Run.State.QUEUED, timedelta(seconds=1))
    node = make_leader(heartbeat_age=timedelta(seconds=2), term=5)
    version = ChangeMarker.objects.get(id=1).version
    SchedulerNode.objects.filter(pk=node.pk).update(applied_change=version)

    response = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    found = samples(response.content)

    assert found[("cronadmin_runs_active", (("state", "running"),))] == 1
    assert found[("cronadmin_runs_active", (("state", "queued"),))] == 1
    assert found[("cronadmin_runs_last_hour", (("state", "succeeded"),))] == 3
    assert found[("cronadmin_runs_last_hour", (("state", "failed"),))] == 3
    assert found[("cronadmin_runs_last_hour", (("state", "timed_out"),))] == 1
    assert found[("cronadmin_runs_last_hour", (("state", "missed"),))] == 0

    def per_job(job: Job, state: str) -> float | None:
        labels = (("job_id", str(job.pk)), ("job_name", job.name), ("state", state))
        return found.get(("cronadmin_job_problem_runs_last_hour", labels))

    assert per_job(hourly, "failed") == 2
    assert per_job(hourly, "timed_out") == 1
    assert per_job(nightly, "failed") == 1
    assert per_job(nightly, "succeeded") is None

    assert found[("cronadmin_jobs", (("kind", "task"), ("state", "active")))] == 1
    assert found[("cronadmin_jobs", (("kind", "task"), ("state", "paused")))] == 1
    assert found[("cronadmin_jobs", (("kind", "http"), ("state", "active")))] == 0

    name = (("node", "sched-a:4242"),)
    assert found[("cronadmin_scheduler_healthy", ())] == 1
    assert found[("cronadmin_scheduler_lease_term", ())] == 5
    assert found[("cronadmin_scheduler_leader", name)] == 1
    assert 1 < found[("cronadmin_scheduler_heartbeat_age_seconds", name)] < 60
    assert found[("cronadmin_scheduler_applied_change", name)] == version
    assert found[("cronadmin_change_version", ())] == version


def test_metrics_reports_the_change_propagation_delay(client, db):
    node = make_leader(heartbeat_age=timedelta(seconds=1))
    changed = timezone.now() - timedelta(seconds=30)
    ChangeMarker.objects.filter(id=1).update(version=41, changed_at=changed)
    standby = SchedulerNode.objects.create(host="sched-b", pid=7)
    SchedulerNode.objects.filter(pk=node.pk).update(
        applied_change=41, applied_at=changed + timedelta(seconds=0.75)
    )
    found = samples(client.get("/metrics").content)
    delay = ("cronadmin_scheduler_change_delay_seconds", (("node", "sched-a:4242"),))
    assert found[delay] == pytest.approx(0.75)
    assert found[("cronadmin_scheduler_leader", (("node", str(standby)),))] == 0
    # A standby applies nothing: it gets no delay series that would grow forever.
    assert ("cronadmin_scheduler_change_delay_seconds", (("node", str(standby)),)) not in found

    # A newer change the leader has not applied yet: the delay grows with the wait.
    ChangeMarker.objects.filter(id=1).update(
        version=42, changed_at=timezone.now() - timedelta(seconds=20)
    )
    found = samples(client.get("/metrics").content)
    assert 19 < found[delay] < 60


def test_metrics_bounds_the_per_job_series(client, db, monkeypatch, settings):
    settings.CRONADMIN_METRICS_TOKEN = "s3cret-token"
    client.defaults["HTTP_AUTHORIZATION"] = "Bearer s3cret-token"
    monkeypatch.setattr("jobs.metrics.MAX_JOB_SERIES", 2)
    jobs = [make_job(f"job {i}") for i in range(4)]
    for i, job in enumerate(jobs):
        for minute in range(i + 1):
            make_run(job, Run.State.FAILED, timedelta(minutes=minute + 1))
    found = samples(client.get("/metrics").content)
    kept = {
        dict(labels)["job_name"]
        for name, labels in found
        if name == "cronadmin_job_problem_runs_last_hour"
    }
    # The two jobs with the most failures.
    assert kept == {"job 3", "job 2"}
    assert found[("cronadmin_job_problem_series_dropped", ())] == 2


def test_metrics_needs_the_token_when_one_is_set(client, db, settings):
    settings.CRONADMIN_METRICS_TOKEN = "s3cret-token"
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert b"Authorization: Bearer" in missing.content
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    basic = client.get("/metrics", headers={"Authorization": "Basic s3cret-token"})
    assert basic.status_code == 401
    right = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert right.status_code == 200
    assert b"cronadmin_jobs" in right.content


def test_metrics_without_a_token_names_no_job(client, db, settings):
    settings.CRONADMIN_METRICS_TOKEN = ""
    job = make_job("payroll export for acme")
    make_run(job, Run.State.FAILED, timedelta(minutes=5))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"payroll" not in response.content
    found = samples(response.content)
    labels = (("job_id", str(job.pk)), ("job_name", ""), ("state", "failed"))
    assert found[("cronadmin_job_problem_runs_last_hour", labels)] == 1


def test_metrics_rejects_post(client, db):
    assert client.post("/metrics").status_code == 405


# --- the schedulers page -------------------------------------------------------------------------


def test_scheduler_page_works(db):
    make_leader(heartbeat_age=timedelta(seconds=1), term=9)
    SchedulerNode.objects.create(host="sched-b<i>", pid=77)
    response = logged_in(user_with_role("Viewer")).get("/schedulers/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Healthy" in page and "lease term 9" in page
    assert "sched-a:4242" in page and "Leader" in page and "Standby" in page
    assert "sched-b&lt;i&gt;:77" in page and "sched-b<i>" not in page


def test_scheduler_page_shows_an_unhealthy_verdict(db):
    response = logged_in(user_with_role("Viewer")).get("/schedulers/", headers=HX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Unhealthy" in page and "No scheduler is in charge" in page
    assert "No scheduler has registered." in page


def test_scheduler_page_requires_login(client, db):
    assert login_redirect(client.get("/schedulers/"))


def test_scheduler_page_checks_role(db):
    assert logged_in(user_with_role(None)).get("/schedulers/").status_code == 403


def test_scheduler_page_rejects_post(db):
    assert logged_in(user_with_role("Admin")).post("/schedulers/").status_code == 405
    assert SchedulerNode.objects.count() == 0


# --- /api/v1/schedulers --------------------------------------------------------------------------


def api_client(role: str | None = "Viewer"):
    user = user_with_role(role, name=f"api-{role}")
    token = services.api_token_create(actor=user, user=user, name="monitor")[1]
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_api_schedulers_works(client, db):
    node = make_leader(heartbeat_age=timedelta(seconds=1), term=4)
    response = client.get("/api/v1/schedulers", **api_client())
    assert response.status_code == 200
    body = response.json()
    assert body["healthy"] is True and body["leader"] == str(node) and body["term"] == 4
    [listed] = body["nodes"]
    assert listed["leader"] is True and listed["pid"] == 4242 and listed["host"] == "sched-a"
    assert 0.5 < listed["heartbeat_age_seconds"] < 30


def test_api_schedulers_is_503_when_unhealthy(client, db):
    response = client.get("/api/v1/schedulers", **api_client())
    assert response.status_code == 503
    assert response.json()["healthy"] is False
    assert response.json()["problem"]


def test_api_schedulers_requires_a_token(client, db):
    response = client.get("/api/v1/schedulers")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    bad = client.get("/api/v1/schedulers", HTTP_AUTHORIZATION="Bearer wrong")
    assert bad.json()["error"]["code"] == "invalid_token"


def test_api_schedulers_checks_role(client, db):
    response = client.get("/api/v1/schedulers", **api_client(None))
    assert response.status_code == 403


def test_api_schedulers_rejects_post(client, db):
    response = client.post("/api/v1/schedulers", **api_client())
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


# --- a real gunicorn whose database is down ------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_gunicorn_with_its_database_down_answers_503(tmp_path):
    port, unused = free_port(), free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "CRONADMIN_DEV": "1",
        "DJANGO_SETTINGS_MODULE": "cronadmin.settings",
        # Nothing listens on this port: every connection is refused.
        "DATABASE_URL": f"postgresql://cronadmin:pw@127.0.0.1:{unused}/cronadmin",
        "CRONADMIN_METRICS_TOKEN": "tok",
    }
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "cronadmin.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "2"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:

        def get(path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}", headers=headers or {}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read()

        def answers() -> bool:
            try:
                get("/healthz")
            except OSError:
                time.sleep(0.1)
                return False
            return True

        wait_for(answers, timeout=30)
        status, body = get("/healthz")
        assert status == 503, body
        assert b'"status": "error"' in body and b'"database": "unreachable"' in body
        status, body = get("/healthz/scheduler")
        assert status == 503 and b"unreachable" in body
        status, body = get("/metrics", {"Authorization": "Bearer tok"})
        assert status == 503 and b"database unreachable" in body
        # The token is checked before anything else, database or not.
        assert get("/metrics")[0] == 401
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
