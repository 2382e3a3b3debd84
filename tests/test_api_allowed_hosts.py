# ruff: noqa: F811 - fixtures imported from tests.test_api_support are parameters

import pytest

from jobs import services
from jobs.models import AllowedHost, AuditEvent, Job
from tests.test_api_support import (  # noqa: F401 - fixtures
    Api,
    admin,
    anonymous,
    as_admin,
    as_editor,
    editor,
    fresh_caches,
    user_with_role,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/allowed-hosts"
ALLOWED_PAGE = "an administrator can allow this host on the Allowed hosts page"


@pytest.fixture(autouse=True)
def nothing_configured(settings) -> None:
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["portal.internal"]


class TestList:
    def test_it_works(self, as_admin):
        services.allowed_host_create(actor=as_admin.user, host="10.1.0.0/16", note="portal")
        services.allowed_host_create(actor=None, host="wiki.internal", note="wiki")
        answer = as_admin.get(URL).json()
        assert answer["count"] == 2 and answer["configured"] == ["portal.internal"]
        first, second = answer["results"]
        assert (first["host"], first["kind"], first["note"]) == ("10.1.0.0/16", "network", "portal")
        assert first["created_by"] == as_admin.user.username and first["created_at"]
        assert (second["kind"], second["created_by"]) == ("name", None)

    def test_it_requires_credentials(self, anonymous):
        response = anonymous.get(URL)
        assert response.status_code == 401 and response.json()["error"]["code"]

    def test_it_checks_role(self, as_editor):
        response = as_editor.get(URL)
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"

    def test_it_rejects_wrong_method(self, as_admin):
        response = as_admin.put(URL, {})
        assert response.status_code == 405 and response["Allow"] == "GET, POST"


class TestCreate:
    def test_it_works(self, as_admin):
        response = as_admin.post(URL, {"host": "10.20.0.1/16", "note": "the tools portal"})
        assert response.status_code == 201
        assert response.json()["host"] == "10.20.0.0/16"
        entry = AllowedHost.objects.get()
        assert entry.created_by == as_admin.user
        event = AuditEvent.objects.get(object_type="allowed_host")
        assert (event.action, event.actor) == ("create", as_admin.user)

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"host": "10.0.0.0/2", "note": "x"}, "host"),
            ({"host": "169.254.169.254", "note": "x"}, "host"),
            ({"host": 10, "note": "x"}, "host"),
            ({"host": "10.0.0.1", "note": ""}, "note"),
            ({"host": "10.0.0.1"}, "note"),
            ({"host": "10.0.0.1", "note": "x", "port": 80}, "port"),
        ],
    )
    def test_it_rejects_bad_input(self, as_admin, body, field):
        response = as_admin.post(URL, body)
        assert response.status_code == 422
        assert field in response.json()["error"]["fields"]
        assert not AllowedHost.objects.exists()

    def test_a_duplicate_is_a_conflict(self, as_admin):
        as_admin.post(URL, {"host": "10.0.0.1", "note": "x"})
        response = as_admin.post(URL, {"host": "10.0.0.1", "note": "again"})
        assert response.status_code == 409 and response.json()["error"]["code"] == "conflict"
        assert AllowedHost.objects.count() == 1

    def test_it_requires_credentials(self, anonymous):
        assert anonymous.post(URL, {"host": "10.0.0.1", "note": "x"}).status_code == 401
        assert not AllowedHost.objects.exists()

    def test_it_checks_role(self, as_editor):
        assert as_editor.post(URL, {"host": "10.0.0.1", "note": "x"}).status_code == 403
        assert not AllowedHost.objects.exists()


class TestDelete:
    def test_it_works(self, as_admin):
        entry = services.allowed_host_create(actor=None, host="10.0.0.1", note="x")
        assert as_admin.delete(f"{URL}/{entry.pk}").status_code == 204
        assert not AllowedHost.objects.exists()
        assert AuditEvent.objects.get(action="delete").object_repr == "10.0.0.1"

    def test_an_unknown_entry_is_404(self, as_admin):
        response = as_admin.delete(f"{URL}/12345")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"

    def test_it_checks_role(self, as_editor):
        entry = services.allowed_host_create(actor=None, host="10.0.0.1", note="x")
        assert as_editor.delete(f"{URL}/{entry.pk}").status_code == 403
        assert AllowedHost.objects.exists()

    def test_it_rejects_wrong_method(self, as_admin):
        entry = services.allowed_host_create(actor=None, host="10.0.0.1", note="x")
        assert as_admin.get(f"{URL}/{entry.pk}").status_code == 405
        assert AllowedHost.objects.exists()


def test_a_job_with_a_blocked_target_is_refused_at_its_field(as_editor):
    body = {
        "name": "portal sync",
        "kind": "http",
        "schedule": "@hourly",
        "http": {"method": "GET", "url": "http://10.1.2.3/sync"},
        "notify_webhook_url": "http://[fd00::1]/hook",
    }
    response = as_editor.post("/api/v1/jobs", body)
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert ALLOWED_PAGE in fields["http.url"] and ALLOWED_PAGE in fields["notify_webhook_url"]
    assert not Job.objects.exists()
    # The name in the setting is allowed: no table entry needed.
    body["http"]["url"] = "http://portal.internal/sync"
    del body["notify_webhook_url"]
    assert as_editor.post("/api/v1/jobs", body).status_code == 201


def test_a_form_shows_the_refusal_at_the_url_field(db):
    from tests.test_views_base import logged_in

    data = {
        "name": "portal sync",
        "kind": "http",
        "schedule": "@hourly",
        "timezone": "UTC",
        "method": "GET",
        "url": "http://192.168.0.10/sync",
        "overlap": "skip",
        "misfire": "once",
        "max_concurrent": "1",
        "misfire_limit": "10",
        "max_retries": "0",
        "retry_backoff": "fixed",
        "retry_backoff_seconds": "10",
        "priority": "0",
    }
    response = logged_in(user_with_role("Editor")).post("/jobs/new/", data)
    assert response.status_code == 200
    [message] = response.context["form"].errors["url"]
    assert "192.168.0.10 is a private address" in message and ALLOWED_PAGE in message
    assert not Job.objects.exists()
