"""Shared fixtures of the view tests, and tests of what every page shares: login, language,
time zone, the profile, the 403 page, escaping.

Other test_views_* modules import the fixtures from here.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from jobs import services
from jobs.models import ApiToken, AuditEvent, Job, Run, UserProfile
from jobs.templatetags.cronadmin import duration, when

HX = {"HX-Request": "true"}


# Re-exported so the test modules that import them from here keep working.
from tests.conftest import fresh_caches_fixture, user_with_role  # noqa: E402, F401


@pytest.fixture(name="viewer")
def viewer_fixture(db) -> User:
    return user_with_role("Viewer")


@pytest.fixture(name="operator")
def operator_fixture(db) -> User:
    return user_with_role("Operator")


@pytest.fixture(name="editor")
def editor_fixture(db) -> User:
    return user_with_role("Editor")


@pytest.fixture(name="admin")
def admin_fixture(db) -> User:
    return user_with_role("Admin")


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(name="as_viewer")
def as_viewer_fixture(viewer) -> Client:
    return logged_in(viewer)


@pytest.fixture(name="as_operator")
def as_operator_fixture(operator) -> Client:
    return logged_in(operator)


@pytest.fixture(name="as_editor")
def as_editor_fixture(editor) -> Client:
    return logged_in(editor)


def make_job(name: str = "echo", **fields) -> Job:
    defaults = {
        "kind": "task",
        "config": {"task": "demo.echo", "params": {"message": "hi"}},
        "schedule": "*/5 * * * *",
    }
    return services.job_create(actor=None, name=name, **{**defaults, **fields})


@pytest.fixture(name="job")
def job_fixture(db) -> Job:
    return make_job()


def make_run(job: Job, state: str = Run.State.SUCCEEDED, ago: float = 60, **fields) -> Run:
    at = timezone.now() - timedelta(seconds=ago)
    final = state in Run.FINAL_STATES
    values = {
        "job": job,
        "job_version": job.version,
        "trigger": Run.Trigger.MANUAL,
        "state": state,
        "scheduled_for": at,
        "created_at": at,
        "started_at": at if state != Run.State.QUEUED else None,
        "finished_at": at + timedelta(seconds=2) if final else None,
        **fields,
    }
    return Run.objects.create(**values)


def login_redirect(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/login/")


# --- login, logout, password ---------------------------------------------------------------


class TestLogin:
    def test_it_works(self, client, viewer):
        response = client.post("/login/", {"username": "viewer", "password": "pw-Secret-1"})
        assert response.status_code == 302
        assert response["Location"] == "/"
        assert AuditEvent.objects.filter(action="login", actor=viewer).exists()

    def test_it_shows_the_form(self, client, db):
        response = client.get("/login/")
        assert response.status_code == 200
        assert b'name="username"' in response.content

    def test_it_handles_bad_input(self, client, viewer):
        response = client.post("/login/", {"username": "viewer", "password": "wrong"})
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session
        assert AuditEvent.objects.filter(action="login_failed", actor_name="viewer").exists()

    def test_it_rejects_wrong_method(self, client, db):
        assert client.put("/login/").status_code == 405


class TestLogout:
    def test_it_works(self, as_viewer):
        response = as_viewer.post("/logout/")
        assert response.status_code == 302
        assert "_auth_user_id" not in as_viewer.session

    def test_it_rejects_wrong_method(self, as_viewer):
        assert as_viewer.get("/logout/").status_code == 405


class TestPasswordChange:
    def test_it_works(self, viewer):
        client = logged_in(viewer)
        data = {
            "old_password": "pw-Secret-1",
            "new_password1": "an0ther-Long-pass",
            "new_password2": "an0ther-Long-pass",
        }
        response = client.post("/password/", data)
        assert response.status_code == 302
        viewer.refresh_from_db()
        assert viewer.check_password("an0ther-Long-pass")

    def test_it_requires_login(self, client, db):
        assert login_redirect(client.get("/password/"))

    def test_it_handles_bad_input(self, viewer):
        client = logged_in(viewer)
        data = {"old_password": "nope", "new_password1": "x", "new_password2": "y"}
        assert client.post("/password/", data).status_code == 200
        viewer.refresh_from_db()
        assert viewer.check_password("pw-Secret-1")


# --- language, time zone, profile --------------------------------------------------------------


class TestLanguageSet:
    def test_it_works(self, as_viewer, viewer):
        response = as_viewer.post("/language/", {"language": "zh-hans", "next": "/jobs/"})
        assert response.status_code == 302
        assert response["Location"] == "/jobs/"
        assert UserProfile.objects.get(user=viewer).language == "zh-hans"
        page = as_viewer.get("/jobs/")
        assert "任务" in page.content.decode()
        assert b'lang="zh-hans"' in page.content

    def test_it_works_before_login(self, client, db):
        response = client.post("/language/", {"language": "zh-hans", "next": "/login/"})
        assert response.cookies["django_language"].value == "zh-hans"
        assert "登录" in client.get("/login/").content.decode()

    def test_it_handles_bad_input(self, as_viewer, viewer):
        response = as_viewer.post("/language/", {"language": "xx", "next": "https://evil.example/"})
        assert response["Location"] == "/"
        assert not UserProfile.objects.filter(user=viewer).exists()

    def test_it_rejects_wrong_method(self, as_viewer):
        assert as_viewer.get("/language/").status_code == 405


class TestProfile:
    def test_it_works(self, as_viewer, viewer, job):
        response = as_viewer.post("/profile/", {"language": "en", "timezone": "Asia/Shanghai"})
        assert response.status_code == 302
        profile = UserProfile.objects.get(user=viewer)
        assert (profile.language, profile.timezone) == ("en", "Asia/Shanghai")
        # Every timestamp is now shown in the chosen zone, with UTC on hover.
        page = as_viewer.get(f"/jobs/{job.pk}/").content.decode()
        assert "UTC</time>" not in page or 'title="' in page
        assert as_viewer.get("/profile/").status_code == 200

    def test_it_requires_login(self, client, db):
        assert login_redirect(client.get("/profile/"))
        assert login_redirect(client.post("/profile/", {"timezone": "UTC"}))
        assert not UserProfile.objects.exists()

    def test_it_handles_bad_input(self, as_viewer, viewer):
        response = as_viewer.post("/profile/", {"language": "en", "timezone": "Mars/Olympus"})
        assert response.status_code == 200
        assert "Mars/Olympus" in response.context["form"].errors["timezone"][0]
        assert not UserProfile.objects.filter(user=viewer).exists()

    def test_it_rejects_wrong_method(self, as_viewer):
        assert as_viewer.delete("/profile/").status_code == 405

    def test_it_lists_api_tokens_without_secrets(self, as_viewer, viewer):
        viewer.api_tokens.create(name="ci", prefix="ca_1234", token_hash="0" * 64)
        page = as_viewer.get("/profile/").content.decode()
        assert "ca_1234…" in page
        assert "0" * 64 not in page


def test_times_follow_the_viewer_zone(viewer):
    UserProfile.objects.create(user=viewer, timezone="Asia/Shanghai")
    job = make_job()
    run = make_run(job)
    run.scheduled_for = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    run.save()
    page = logged_in(viewer).get(f"/runs/{run.pk}/").content.decode()
    assert (
        'title="2026-01-02 03:04:05 UTC">2026-01-02 11:04:05 <span class="zone">CST</span></time>'
        in page
    )


def test_the_filters_render_as_expected():
    instant = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert 'Sun 2026-03-29 03:30:00 <span class="zone">CEST</span>' in when(
        instant, "Europe/Berlin"
    )
    assert '<span class="zone">UTC+04</span>' in when(instant, "Asia/Dubai")
    assert duration(timedelta(seconds=0.5)) == "500 ms"
    assert duration(timedelta(seconds=2.5)) == "2.5 s"
    assert duration(timedelta(seconds=125)) == "2 min 5 s"
    assert duration(None) == "—"


def test_output_and_names_render_inert(as_viewer):
    job = make_job(name='<img src=x onerror=alert(1)> hx-get="/x"')
    run = make_run(job, Run.State.FAILED, output='<div hx-get="/logout/" hx-trigger="load">x</div>')
    for url in (f"/runs/{run.pk}/", f"/jobs/{job.pk}/", "/jobs/", "/"):
        page = as_viewer.get(url).content.decode()
        assert "<img src=x" not in page
        assert '<div hx-get="/logout/"' not in page


def test_a_refused_action_shows_the_403_page(as_viewer, job):
    response = as_viewer.post(f"/jobs/{job.pk}/run/")
    assert response.status_code == 403
    assert "This needs the Operator role; yours is Viewer." in response.content.decode()
    assert not Run.objects.exists()


def test_users_without_a_role_read_nothing(db):
    client = logged_in(user_with_role(None))
    assert client.get("/").status_code == 403
    assert client.get("/profile/").status_code == 200
    assert client.post("/jobs/new/", {"name": "x"}).status_code == 403
    assert not Job.objects.exists()


class TestApiTokenCreate:
    def test_it_works(self, as_viewer, viewer):
        response = as_viewer.post("/profile/tokens/", {"name": "ci"}, headers=HX)
        assert response.status_code == 200
        token = viewer.api_tokens.get()
        secret = response.context["new_token"]
        assert secret.startswith(token.prefix) and len(secret) > len(token.prefix)
        assert secret in response.content.decode()
        page = response.content.decode()
        assert f'<code class="mono token" id="new-token">{secret}</code>' in page
        assert 'data-copy="#new-token"' in page  # a copy button
        # Shown once: the profile page never shows it again.
        assert secret not in as_viewer.get("/profile/").content.decode()

    def test_it_requires_login(self, client, db):
        assert login_redirect(client.post("/profile/tokens/", {"name": "ci"}))
        assert not ApiToken.objects.exists()

    def test_it_rejects_wrong_method(self, as_viewer):
        assert as_viewer.get("/profile/tokens/").status_code == 405

    @pytest.mark.parametrize("hx", [True, False])
    def test_it_handles_bad_input(self, as_viewer, hx):
        response = as_viewer.post("/profile/tokens/", {"name": ""}, headers=HX if hx else {})
        assert response.status_code == 200
        assert "name" in response.context["token_form"].errors
        assert not ApiToken.objects.exists()


class TestApiTokenRevoke:
    def test_it_works(self, as_viewer, viewer):
        token = viewer.api_tokens.create(name="ci", prefix="ca_x", token_hash="1" * 64)
        response = as_viewer.post(f"/profile/tokens/{token.pk}/revoke/", headers=HX)
        assert response.status_code == 200
        token.refresh_from_db()
        assert token.revoked_at is not None

    def test_it_requires_login(self, client, viewer):
        token = viewer.api_tokens.create(name="ci", prefix="ca_x", token_hash="1" * 64)
        assert login_redirect(client.post(f"/profile/tokens/{token.pk}/revoke/"))
        token.refresh_from_db()
        assert token.revoked_at is None

    def test_it_checks_role(self, as_viewer, operator):
        # Someone else's token does not exist for you.
        token = operator.api_tokens.create(name="ci", prefix="ca_x", token_hash="1" * 64)
        assert as_viewer.post(f"/profile/tokens/{token.pk}/revoke/").status_code == 404
        token.refresh_from_db()
        assert token.revoked_at is None

    def test_it_rejects_wrong_method(self, as_viewer, viewer):
        token = viewer.api_tokens.create(name="ci", prefix="ca_x", token_hash="1" * 64)
        assert as_viewer.get(f"/profile/tokens/{token.pk}/revoke/").status_code == 405

    def test_it_handles_bad_input(self, as_viewer):
        assert as_viewer.post("/profile/tokens/0/revoke/", headers=HX).status_code == 404
