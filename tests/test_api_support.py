"""Shared fixtures of the API tests: users of each role, clients that send their API token.

Other test_api_* modules import the fixtures from here.
"""

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from jobs import services
from jobs.models import Job, Run

# Re-exported so the test modules that import them from here keep working.
from tests.conftest import fresh_caches_fixture as fresh_caches  # noqa: E402, F401
from tests.conftest import user_with_role  # noqa: E402, F401


class Api:
    """The Django test client speaking JSON, with a user's API token (or none)."""

    def __init__(self, user: User | None = None, token: str | None = None) -> None:
        self.client = Client()
        self.user = user
        self.token = token
        if user is not None and token is None:
            _record, self.token = services.api_token_create(actor=None, user=user, name="tests")

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        all_headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        all_headers.update(headers or {})
        data = (
            body if isinstance(body, str | bytes) else json.dumps(body) if body is not None else ""
        )
        return self.client.generic(
            method, path, data=data, content_type=content_type, headers=all_headers
        )

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call("POST", path, body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.call("DELETE", path, **kwargs)


@pytest.fixture
def viewer(db) -> User:
    return user_with_role("Viewer")


@pytest.fixture
def operator(db) -> User:
    return user_with_role("Operator")


@pytest.fixture
def editor(db) -> User:
    return user_with_role("Editor")


@pytest.fixture
def admin(db) -> User:
    return user_with_role("Admin")


@pytest.fixture
def anonymous(db) -> Api:
    return Api()


@pytest.fixture
def as_viewer(viewer) -> Api:
    return Api(viewer)


@pytest.fixture
def as_operator(operator) -> Api:
    return Api(operator)


@pytest.fixture
def as_editor(editor) -> Api:
    return Api(editor)


@pytest.fixture
def as_admin(admin) -> Api:
    return Api(admin)


def make_job(name: str = "echo", **fields: Any) -> Job:
    defaults: dict[str, Any] = {
        "kind": "task",
        "config": {"task": "demo.echo", "params": {"message": "hi"}},
        "schedule": "*/5 * * * *",
    }
    return services.job_create(actor=None, name=name, **{**defaults, **fields})


def make_http_job(name: str = "hook", **fields: Any) -> Job:
    config = {
        "method": "POST",
        "url": "https://example.com/hook",
        "headers": {"Authorization": "Bearer s3cret", "X-Team": "data"},
        "body": "{}",
        "expect_status": [200],
    }
    return make_job(name, kind="http", config=config, **fields)


def make_run(job: Job, **fields: Any) -> Run:
    from django.utils import timezone

    now = timezone.now()
    defaults: dict[str, Any] = {
        "job_version": job.version,
        "trigger": Run.Trigger.SCHEDULE,
        "state": Run.State.SUCCEEDED,
        "scheduled_for": now,
        "started_at": now,
        "finished_at": now,
        "output": "hello\n",
    }
    return Run.objects.create(job=job, **{**defaults, **fields})


TASK_JOB: dict[str, Any] = {
    "name": "nightly report",
    "kind": "task",
    "task": "demo.echo",
    "params": {"message": "hi"},
    "schedule": "0 3 * * *",
    "timezone": "Europe/Berlin",
}


def error_of(response: Any) -> dict[str, Any]:
    """The error object of a rejection, checking the one shape every error has."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]
