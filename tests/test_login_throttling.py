"""Login throttling (django-axes): repeated failures lock a username out from one address, the
address is the real client's behind trusted proxies only, and the lock ends or is lifted."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client

from jobs import services
from jobs.models import AuditEvent
from tests.conftest import user_with_role

LIMIT = 5
WRONG = {"username": "viewer", "password": "wrong"}
RIGHT = {"username": "viewer", "password": "pw-Secret-1"}


@pytest.fixture(name="viewer")
def viewer_fixture(db):
    return user_with_role("Viewer")


def fail(client: Client, times: int) -> None:
    for attempt in range(1, times + 1):
        response = client.post("/login/", WRONG)
        # The form again with its error, until the failure that reaches the limit.
        assert response.status_code == (429 if attempt >= LIMIT else 200)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_it_locks_out_after_the_failure_limit(client, viewer, settings):
    assert settings.AXES_FAILURE_LIMIT == LIMIT
    fail(client, LIMIT - 1)
    response = client.post("/login/", WRONG)
    assert response.status_code == 429
    # Locked: even the right password is refused now.
    response = client.post("/login/", RIGHT)
    assert response.status_code == 429
    assert not logged_in(client)
    assert response["Retry-After"] == str(15 * 60)
    page = response.content.decode()
    assert "Too many failed logins" in page
    assert "Try again after" in page
    assert "(in 15 min)" in page
    assert AccessAttempt.objects.get(username="viewer").failures_since_start >= LIMIT


def test_failed_logins_are_still_audited(client, viewer):
    fail(client, LIMIT)
    client.post("/login/", RIGHT)
    failed = AuditEvent.objects.filter(action="login_failed", actor_name="viewer")
    assert failed.count() == LIMIT + 1  # the refused attempt while locked out included
    assert set(failed.values_list("ip", flat=True)) == {"127.0.0.1"}
    assert not AuditEvent.objects.filter(action="login").exists()


def test_the_lock_is_per_username(client, viewer):
    other = user_with_role("Viewer", "other")
    fail(client, LIMIT)
    client.post("/login/", {"username": "other", "password": "pw-Secret-1"})
    assert client.session["_auth_user_id"] == str(other.pk)


def test_a_success_resets_the_count(client, viewer):
    fail(client, LIMIT - 1)
    client.post("/login/", RIGHT)
    assert logged_in(client)
    client.logout()
    fail(client, LIMIT - 1)
    client.post("/login/", RIGHT)
    assert logged_in(client)


def test_a_spoofed_forwarded_for_does_not_dodge_the_lock(client, viewer, settings):
    assert settings.TRUSTED_PROXY_COUNT == 0
    for attempt in range(LIMIT):
        client.post("/login/", WRONG, headers={"X-Forwarded-For": f"198.51.100.{attempt}"})
    response = client.post("/login/", RIGHT, headers={"X-Forwarded-For": "198.51.100.99"})
    assert response.status_code == 429
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["127.0.0.1"]


def test_behind_a_proxy_the_client_address_counts(viewer, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    first, second = Client(**proxy), Client(**proxy)
    # The client forges an entry; the proxy appends the address it really saw.
    for _attempt in range(LIMIT):
        first.post("/login/", WRONG, headers={"X-Forwarded-For": "1.2.3.4, 203.0.113.7"})
    assert (
        first.post("/login/", RIGHT, headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 429
    )
    attempt = AccessAttempt.objects.get()
    assert attempt.ip_address == "203.0.113.7"
    failed = AuditEvent.objects.filter(action="login_failed")
    assert set(failed.values_list("ip", flat=True)) == {"203.0.113.7"}
    # Another person behind the same proxy is not locked out.
    second.post("/login/", RIGHT, headers={"X-Forwarded-For": "203.0.113.8"})
    assert "_auth_user_id" in second.session


def test_behind_two_proxies_the_outer_one_is_believed(viewer, settings):
    settings.TRUSTED_PROXY_COUNT = 2
    client = Client(REMOTE_ADDR="10.0.0.3")
    client.post("/login/", WRONG, headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.7, 10.0.0.2"})
    assert AccessAttempt.objects.get().ip_address == "203.0.113.7"


def test_the_lock_expires(client, viewer):
    fail(client, LIMIT)
    assert client.post("/login/", RIGHT).status_code == 429
    # As if the cool-off had passed since the last attempt.
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )
    response = client.post("/login/", RIGHT)
    assert response.status_code == 302
    assert logged_in(client)


def test_an_admin_can_lift_the_lock(client, viewer):
    fail(client, LIMIT)
    assert client.post("/login/", RIGHT).status_code == 429
    call_command("axes_reset_username", "viewer")
    client.post("/login/", RIGHT)
    assert logged_in(client)


def test_axes_reset_lifts_every_lock(client, viewer):
    fail(client, LIMIT)
    call_command("axes_reset")
    assert not AccessAttempt.objects.exists()
    client.post("/login/", RIGHT)
    assert logged_in(client)


def test_api_tokens_are_not_throttled(client, viewer):
    _token, secret = services.api_token_create(actor=viewer, user=viewer, name="ci")
    fail(client, LIMIT)
    assert client.post("/login/", RIGHT).status_code == 429
    response = client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200


def test_the_lockout_page_shows_in_chinese(client, viewer):
    fail(client, LIMIT)
    response = client.post("/login/", RIGHT, headers={"Accept-Language": "zh-hans"})
    assert response.status_code == 429
    assert 'lang="zh-hans"' in response.content.decode()
