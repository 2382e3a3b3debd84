"""Who may call the API: tokens, sessions with CSRF, roles, and the methods each URL takes."""

# ruff: noqa: F811 - fixtures imported from tests.test_api_support are parameters

import hashlib
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from jobs import services
from jobs.models import ApiToken, AuditEvent, Executor, Job, Run
from tests.test_api_support import (  # noqa: F401 - fixtures
    TASK_JOB,
    Api,
    admin,
    anonymous,
    as_viewer,
    editor,
    error_of,
    fresh_caches,
    make_job,
    make_run,
    operator,
    user_with_role,
    viewer,
)

pytestmark = pytest.mark.django_db

REGISTRATION = {"name": "billing", "base_url": "https://billing.example.com", "jobs": []}
# Every endpoint, with a body that would succeed and the least role it needs.
ENDPOINTS: list[tuple[str, str, Any, str | None]] = [
    ("GET", "/api/v1/jobs", None, "Viewer"),
    ("POST", "/api/v1/jobs", TASK_JOB, "Editor"),
    ("GET", "/api/v1/jobs/{job}", None, "Viewer"),
    ("PUT", "/api/v1/jobs/{job}", TASK_JOB, "Editor"),
    ("PATCH", "/api/v1/jobs/{job}", {"priority": 3}, "Editor"),
    ("DELETE", "/api/v1/jobs/{job}", None, "Editor"),
    ("POST", "/api/v1/jobs/{job}/pause", {"note": "x"}, "Operator"),
    ("POST", "/api/v1/jobs/{job}/resume", None, "Operator"),
    ("POST", "/api/v1/jobs/{job}/run", None, "Operator"),
    ("GET", "/api/v1/jobs/{job}/runs", None, "Viewer"),
    ("GET", "/api/v1/runs", None, "Viewer"),
    ("GET", "/api/v1/runs/{run}", None, "Viewer"),
    ("POST", "/api/v1/runs/{run}/cancel", None, "Operator"),
    ("GET", "/api/v1/schedule/preview?schedule=@daily", None, "Viewer"),
    ("GET", "/api/v1/tasks", None, "Viewer"),
    ("GET", "/api/v1/executors", None, "Viewer"),
    ("POST", "/api/v1/executors/register", REGISTRATION, "Editor"),
    ("POST", "/api/v1/executors/billing/heartbeat", None, "Operator"),
    ("POST", "/api/v1/executors/billing/unregister", None, "Editor"),
    ("GET", "/cron", None, "Viewer"),
    ("POST", "/cron", {"spec": "@daily", "job": "demo.noop"}, "Editor"),
    ("DELETE", "/cron/{job}", None, "Editor"),
]
WEAKER = {"Viewer": None, "Operator": "Viewer", "Editor": "Operator"}
ALLOWED = {
    "/api/v1/jobs": {"GET", "POST"},
    "/api/v1/jobs/{job}": {"GET", "PUT", "PATCH", "DELETE"},
    "/api/v1/jobs/{job}/pause": {"POST"},
    "/api/v1/jobs/{job}/run": {"POST"},
    "/api/v1/runs": {"GET"},
    "/api/v1/runs/{run}/cancel": {"POST"},
    "/api/v1/schedule/preview": {"GET"},
    "/api/v1/tasks": {"GET"},
    "/api/v1/executors/register": {"POST"},
    "/api/v1/executors/billing/heartbeat": {"POST"},
    "/cron": {"GET", "POST"},
    "/cron/{job}": {"DELETE"},
}


def world() -> dict[str, Any]:
    """A job with a queued run and a registered executor: something for every endpoint."""
    job = make_job("existing")
    run = make_run(job, state=Run.State.QUEUED, started_at=None, finished_at=None)
    services.executor_register(actor=None, **REGISTRATION)
    return {"job": job.pk, "run": run.pk}


def snapshot() -> tuple[Any, ...]:
    jobs = tuple(Job.objects.values_list("pk", "version", "state", "priority").order_by("pk"))
    runs = tuple(Run.objects.values_list("pk", "state").order_by("pk"))
    executors = tuple(Executor.objects.values_list("name", "last_heartbeat_at"))
    return jobs, runs, executors, AuditEvent.objects.exclude(object_type="api_token").count()


class TestEveryEndpoint:
    @pytest.mark.parametrize(("method", "path", "body", "role"), ENDPOINTS)
    def test_it_requires_a_token(self, anonymous, method, path, body, role):
        ids = world()
        before = snapshot()
        response = anonymous.call(method, path.format(**ids), body)
        assert response.status_code == 401
        assert error_of(response)["code"] == "not_authenticated"
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert snapshot() == before

    @pytest.mark.parametrize(("method", "path", "body", "role"), ENDPOINTS)
    def test_it_checks_the_role(self, method, path, body, role):
        ids = world()
        before = snapshot()
        weaker = Api(user_with_role(WEAKER[role], "weak"))
        response = weaker.call(method, path.format(**ids), body)
        assert response.status_code == 403, response.content
        assert error_of(response)["code"] == "forbidden"
        assert snapshot() == before
        allowed = Api(user_with_role(role, "strong"))
        response = allowed.call(method, path.format(**ids), body)
        assert response.status_code < 300, response.content

    @pytest.mark.parametrize(("path", "allowed"), ALLOWED.items())
    def test_it_rejects_other_methods(self, as_viewer, path, allowed):
        ids = world()
        before = snapshot()
        for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - allowed:
            response = as_viewer.call(method, path.format(**ids), {})
            assert response.status_code == 405, (method, path)
            assert error_of(response)["code"] == "method_not_allowed"
            assert set(response["Allow"].split(", ")) == allowed
        assert snapshot() == before


class TestTokens:
    def test_only_the_hash_is_stored(self, viewer):
        record, token = services.api_token_create(actor=viewer, user=viewer, name="ci")
        assert token.startswith("cra_") and len(token) > 40
        assert record.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert record.prefix == token[:12]
        assert not ApiToken.objects.filter(token_hash__contains=token[4:20]).exists()
        assert AuditEvent.objects.filter(object_type="api_token", action="create").exists()

    @pytest.mark.parametrize(
        "header", ["Token abc", "Bearer", "Bearer cra_unknown", "Basic dXNlcjpwYXNz"]
    )
    def test_a_bad_header_gets_401(self, viewer, header):
        response = Client().get("/api/v1/jobs", headers={"Authorization": header})
        assert response.status_code == 401
        assert error_of(response)["code"] in {"not_authenticated", "invalid_token"}

    def test_a_revoked_token_gets_401(self, viewer):
        api = Api(viewer)
        assert api.get("/api/v1/jobs").status_code == 200
        services.api_token_revoke(actor=viewer, token=ApiToken.objects.get(user=viewer))
        response = api.get("/api/v1/jobs")
        assert response.status_code == 401
        assert error_of(response)["code"] == "invalid_token"

    def test_a_disabled_user_gets_401(self, viewer):
        api = Api(viewer)
        User.objects.filter(pk=viewer.pk).update(is_active=False)
        assert api.get("/api/v1/jobs").status_code == 401

    def test_a_user_without_a_role_gets_403(self, db):
        api = Api(user_with_role(None))
        assert api.get("/api/v1/jobs").status_code == 403

    def test_last_use_is_written_at_most_once_a_minute(self, viewer):
        api = Api(viewer)
        record = ApiToken.objects.get(user=viewer)
        assert record.last_used_at is None
        api.get("/api/v1/tasks")
        record.refresh_from_db()
        first = record.last_used_at
        assert first is not None
        api.get("/api/v1/tasks")
        record.refresh_from_db()
        assert record.last_used_at == first
        ApiToken.objects.filter(pk=record.pk).update(last_used_at=first - timedelta(minutes=2))
        api.get("/api/v1/tasks")
        record.refresh_from_db()
        assert record.last_used_at > first

    def test_only_admins_manage_other_peoples_tokens(self, viewer, admin):
        record, _token = services.api_token_create(actor=viewer, user=viewer, name="mine")
        other = user_with_role("Viewer", "other")
        with pytest.raises(PermissionDenied):
            services.api_token_create(actor=other, user=viewer, name="sneaky")
        with pytest.raises(PermissionDenied):
            services.api_token_revoke(actor=other, token=record)
        services.api_token_revoke(actor=admin, token=record)
        record.refresh_from_db()
        assert record.revoked_at is not None


class TestCreateApiTokenCommand:
    def test_it_prints_a_working_token_last(self, viewer):
        out = StringIO()
        call_command("createapitoken", "viewer", "--name", "deploys", stdout=out)
        token = out.getvalue().strip().splitlines()[-1]
        assert ApiToken.objects.get(user=viewer).name == "deploys"
        assert Api(token=token).get("/api/v1/jobs").status_code == 200

    def test_it_rejects_an_unknown_user(self, db):
        with pytest.raises(CommandError, match="no user named"):
            call_command("createapitoken", "ghost", stdout=StringIO())
        assert not ApiToken.objects.exists()


class TestSession:
    def test_a_logged_in_browser_may_read(self, viewer):
        client = Client()
        client.force_login(viewer)
        assert client.get("/api/v1/jobs").status_code == 200

    def test_unsafe_methods_need_the_csrf_token(self, editor):
        client = Client(enforce_csrf_checks=True)
        client.force_login(editor)
        refused = client.post("/api/v1/jobs", TASK_JOB, content_type="application/json")
        assert refused.status_code == 403
        assert error_of(refused)["code"] == "csrf_failed"
        assert not Job.objects.exists()
        client.get("/api/v1/docs")  # any page; the token comes from the cookie jar below
        from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret

        secret = _get_new_csrf_string()
        client.cookies["csrftoken"] = secret
        accepted = client.post(
            "/api/v1/jobs",
            TASK_JOB,
            content_type="application/json",
            headers={"X-CSRFToken": _mask_cipher_secret(secret)},
        )
        assert accepted.status_code == 201, accepted.content
        assert Job.objects.count() == 1

    def test_a_token_needs_no_csrf_token(self, editor):
        api = Api(editor)
        api.client = Client(enforce_csrf_checks=True)
        assert api.post("/api/v1/jobs", TASK_JOB).status_code == 201


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing/here", "/api/v1/jobs/a%0Ab/pause", "/cron/x%0Ay"]
)
def test_unknown_api_urls_answer_json_404(as_viewer, path):
    # An encoded line break too: the catch-all must not miss it and leave it to the pages.
    response = as_viewer.post(path, {})
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_timestamps_carry_an_offset(as_viewer):
    job = make_job()
    make_run(job, scheduled_for=timezone.now())
    body = as_viewer.get("/api/v1/runs").json()["results"][0]
    for name in ("scheduled_for", "started_at", "finished_at", "created_at"):
        assert body[name].endswith("+00:00"), name
