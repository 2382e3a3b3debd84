from datetime import timedelta

from django.utils import timezone

from jobs.models import Executor
from tests.conftest import user_with_role
from tests.test_views_base import logged_in, login_redirect

URL = "/executors/"


def make_executor(name: str, silent_for: timedelta) -> Executor:
    return Executor.objects.create(
        name=name,
        base_url=f"https://{name}.example.com",
        heartbeat_seconds=10,
        last_heartbeat_at=timezone.now() - silent_for,
    )


def test_it_works(db):
    make_executor("billing", timedelta(seconds=5))
    make_executor("reports<b>", timedelta(minutes=5))
    response = logged_in(user_with_role("Viewer")).get(URL)
    assert response.status_code == 200
    rows = response.content.decode()
    assert "billing" in rows and "Online" in rows
    # 5 minutes of silence is more than 3 missed 10 s heartbeats.
    assert "Offline" in rows
    assert "reports&lt;b&gt;" in rows and "reports<b>" not in rows


def test_it_shows_an_empty_list(db):
    response = logged_in(user_with_role("Viewer")).get(URL)
    assert "No executor has registered yet." in response.content.decode()


def test_it_requires_login(client, db):
    assert login_redirect(client.get(URL))


def test_it_checks_role(db):
    assert logged_in(user_with_role(None)).get(URL).status_code == 403


def test_it_rejects_wrong_method(db):
    assert logged_in(user_with_role("Admin")).post(URL).status_code == 405
    assert Executor.objects.count() == 0
