"""Every write endpoint, API and HTML, checks the role before it reads the request: a person who
may not write gets 403 whatever the body (not field errors), and nothing is written."""

# ruff: noqa: F811 - fixtures imported from tests.test_api_support are parameters

from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from jobs import services
from jobs.api.auth import SAFE_METHODS
from jobs.models import (
    AllowedHost,
    ApiToken,
    AuditEvent,
    Calendar,
    Executor,
    Job,
    JobLink,
    JobVersion,
    Run,
)
from jobs.permissions import Role
from jobs.services.calendars import calendar_create
from tests.test_api_support import (  # noqa: F401 - fixtures
    Api,
    error_of,
    fresh_caches,
    make_job,
    make_run,
    user_with_role,
)

pytestmark = pytest.mark.django_db

NEEDED = {"operate": Role.OPERATOR, "edit": Role.EDITOR, "admin": Role.ADMIN}
# Bodies that would each fail validation differently, or pass it.
BODIES: list[Any] = [
    None,
    {},
    {"name": "x"},
    {"name": "x", "kind": "task", "schedule": "@daily", "config": {"task": "demo.noop"}},
    "not json",
]

# (method, path, least role): every unsafe method of every API endpoint.
API_WRITES = [
    ("POST", "/api/v1/jobs", "edit"),
    ("POST", "/api/v1/jobs/import", "edit"),
    ("PUT", "/api/v1/jobs/{job}", "edit"),
    ("PATCH", "/api/v1/jobs/{job}", "operate"),
    ("DELETE", "/api/v1/jobs/{job}", "edit"),
    ("POST", "/api/v1/jobs/{job}/pause", "operate"),
    ("POST", "/api/v1/jobs/{job}/resume", "operate"),
    ("POST", "/api/v1/jobs/{job}/run", "operate"),
    ("POST", "/api/v1/jobs/{job}/test-request", "operate"),
    ("POST", "/api/v1/jobs/{job}/test-notification", "operate"),
    ("POST", "/api/v1/calendars", "edit"),
    ("PATCH", "/api/v1/calendars/{calendar}", "edit"),
    ("DELETE", "/api/v1/calendars/{calendar}", "edit"),
    ("POST", "/api/v1/allowed-hosts", "admin"),
    ("DELETE", "/api/v1/allowed-hosts/{entry}", "admin"),
    ("POST", "/api/v1/runs/rerun-failed", "operate"),
    ("POST", "/api/v1/runs/{run}/cancel", "operate"),
    ("POST", "/api/v1/runs/{run}/run-slot", "operate"),
    ("POST", "/api/v1/executors/register", "edit"),
    ("POST", "/api/v1/executors/{executor}/heartbeat", "operate"),
    ("POST", "/api/v1/executors/{executor}/unregister", "edit"),
    ("POST", "/cron", "edit"),
    ("DELETE", "/cron/{job}", "edit"),
]
# (path, least role): every page that writes (they all take POST). The profile's own pages
# (language, tokens, password) change only the person's own account and need no role.
HTML_WRITES = [
    ("/jobs/bulk/", "operate"),
    ("/jobs/new/", "edit"),
    ("/jobs/import/", "edit"),
    ("/jobs/import/apply/", "edit"),
    ("/jobs/{job}/edit/", "edit"),
    ("/jobs/{job}/delete/", "edit"),
    ("/jobs/{job}/pause/", "operate"),
    ("/jobs/{job}/resume/", "operate"),
    ("/jobs/{job}/run/", "operate"),
    ("/jobs/{job}/run/params/", "operate"),
    ("/jobs/{job}/test-request/", "operate"),
    ("/jobs/{job}/test-notification/", "operate"),
    ("/calendars/new/", "edit"),
    ("/calendars/{calendar}/", "edit"),
    ("/calendars/{calendar}/delete/", "edit"),
    ("/settings/allowed-hosts/", "admin"),
    ("/jobs/{job}/versions/1/restore/", "edit"),
    ("/runs/{run}/cancel/", "operate"),
    ("/runs/{run}/run-slot/", "operate"),
    ("/runs/rerun-failed/", "operate"),
]
HTML_FORMS: list[dict[str, Any]] = [
    {},
    {"action": "pause", "job": "1"},
    {"name": "x", "kind": "task", "schedule": "61 * * * *"},
    {"text": "version: 1\njobs: {}\n", "format": "yaml"},
    {"until": "yesterday", "note": "x" * 600},
]


@pytest.fixture
def world() -> dict[str, Any]:
    job = make_job("target")
    run = make_run(job, state=Run.State.FAILED)
    offer = {"name": "hook", "schedule": "@hourly", "path": "/hook"}
    services.executor_register(
        actor=None, name="fleet", base_url="https://fleet.example.com", jobs=[offer]
    )
    calendar = calendar_create(actor=None, name="days off", dates=["2026-12-24"])
    entry = services.allowed_host_create(actor=None, host="10.9.0.0/16", note="internal")
    return {
        "job": job.pk,
        "run": run.pk,
        "executor": "fleet",
        "calendar": calendar.pk,
        "entry": entry.pk,
    }


def written() -> tuple[int, ...]:
    models = (Job, JobVersion, JobLink, Run, AuditEvent, Executor, ApiToken, Calendar, AllowedHost)
    states = tuple(Job.objects.values_list("state", "version").order_by("pk"))
    return (*(model.objects.count() for model in models), hash(states))


def roles_below(least: str) -> list[str]:
    return [role.group_name for role in Role if role < NEEDED[least]]


def api_patterns(resolver: URLResolver | None = None, prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            found += api_patterns(pattern, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and hasattr(pattern.callback, "api_methods"):
            found.append((prefix + str(pattern.pattern), pattern.callback))
    return found


def test_the_table_names_every_api_write():
    declared = set()
    for route, view in api_patterns():
        if view.api_role is None:
            continue  # public: the schema, the docs, the health check, unknown paths
        for method in set(view.api_methods) - set(SAFE_METHODS):
            role = view.api_role if isinstance(view.api_role, str) else view.api_role[method]
            declared.add((method, route, role))
    in_table = {
        (method, path.replace("{job}", "<int:job_id>").replace("{run}", "<int:run_id>"), role)
        for method, path, role in API_WRITES
    }
    in_table = {
        (m, p.replace("{calendar}", "<int:calendar_id>").replace("{entry}", "<int:entry_id>"), r)
        for m, p, r in in_table
    }
    in_table = {
        (m, p.replace("{executor}", "<str:name>").lstrip("/").removeprefix("api/v1/"), r)
        for m, p, r in in_table
    }
    declared = {(m, p.removeprefix("api/v1/"), r) for m, p, r in declared}
    assert declared == in_table


@pytest.mark.parametrize(("method", "path", "least"), API_WRITES)
def test_an_api_write_checks_the_role_first(method, path, least, world):
    url = path.format(**world)
    for role in roles_below(least):
        api = Api(user_with_role(role, f"low {role}"))
        before = written()
        for body in BODIES:
            response = api.call(method, url, body)
            assert response.status_code == 403, (role, body, response.content)
            assert error_of(response)["code"] == "forbidden"
        assert written() == before
    # The least role passes the check (the request may still be refused for what it says).
    api = Api(user_with_role(NEEDED[least].group_name, "enough"))
    assert api.call(method, url, {}).status_code != 403


@pytest.mark.parametrize(("path", "least"), HTML_WRITES)
def test_a_page_write_checks_the_role_first(path, least, world):
    url = path.format(**world)
    for role in roles_below(least):
        client = Client()
        client.force_login(user_with_role(role, f"low {role}"))
        before = written()
        for form in HTML_FORMS:
            for headers in ({}, {"HX-Request": "true"}):
                response = client.post(url, form, headers=headers)
                assert response.status_code == 403, (role, form, response.content[:200])
        assert written() == before
    client = Client()
    client.force_login(user_with_role(NEEDED[least].group_name, "enough"))
    assert client.post(url, {}).status_code != 403
