"""Every page walked as Viewer, Operator and Editor: each sees only the actions its role may take,
and an action refused says which role it needs (pages and the API)."""

from html.parser import HTMLParser

import pytest
from django.urls import resolve

from jobs import services
from jobs.models import Job, Run
from jobs.permissions import Role
from tests.test_api_support import Api
from tests.test_views_base import (  # noqa: F401 - fixtures are found by their names
    fresh_caches_fixture,
    logged_in,
    make_job,
    make_run,
    user_with_role,
)

pytestmark = pytest.mark.django_db

ROLES = [Role.VIEWER, Role.OPERATOR, Role.EDITOR]
# What each action a page offers needs, by the URL it posts to or opens.
ACTION_ROLES = {
    "job_run_now": Role.OPERATOR,
    "job_pause": Role.OPERATOR,
    "job_resume": Role.OPERATOR,
    # The jobs list is one form: exporting the selected jobs is for everyone, its other
    # buttons are checked by their labels below.
    "job_bulk": Role.VIEWER,
    "run_cancel": Role.OPERATOR,
    "run_slot_rerun": Role.OPERATOR,
    "rerun_failed": Role.OPERATOR,
    "job_create": Role.EDITOR,
    "job_edit": Role.EDITOR,
    "job_clone": Role.EDITOR,
    "job_delete": Role.EDITOR,
    "job_import": Role.EDITOR,
    "job_version_restore": Role.EDITOR,
}
# Everyone's own: the header's language switch and log out, one's profile and API tokens.
EVERYONE = {
    "language_set",
    "logout",
    "profile",
    "profile_timezone",
    "api_token_create",
    "api_token_revoke",
}
# The buttons each role must find, by page, with the least role that sees them.
EXPECTED = {
    "job": {"Run now": Role.OPERATOR, "Pause…": Role.OPERATOR, "Edit": Role.EDITOR,
            "Clone": Role.EDITOR, "Delete": Role.EDITOR, "Run this one again": Role.OPERATOR},
    "jobs": {"New job": Role.EDITOR, "Import": Role.EDITOR, "Run now": Role.OPERATOR,
             "Pause": Role.OPERATOR, "Resume": Role.OPERATOR, "Re-run failed…": Role.OPERATOR,
             "Export YAML": Role.VIEWER},
    "dashboard": {"Re-run failed runs…": Role.OPERATOR},
    "failed_run": {"Run this one again": Role.OPERATOR},
    "running_run": {"Cancel": Role.OPERATOR},
    "versions": {"Restore version 1": Role.EDITOR},
    "slots": {"Run this one again": Role.OPERATOR},
}  # fmt: skip


class Actions(HTMLParser):
    """The actions a page offers: forms that post, button links, and the labels of both."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []
        self.labels: list[str] = []
        self._label: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form" and (values.get("method") or "").lower() == "post":
            self.targets.append(values.get("action") or "")
        classes = (values.get("class") or "").split()
        if tag == "a" and "button" in classes:
            self.targets.append(values.get("href") or "")
            self._label = []
        if tag in ("button", "summary"):
            self._label = []

    def handle_data(self, data: str) -> None:
        if self._label is not None:
            self._label.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("a", "button", "summary") and self._label is not None:
            self.labels.append(" ".join("".join(self._label).split()))
            self._label = None


def actions(html: str) -> Actions:
    parser = Actions()
    parser.feed(html)
    return parser


@pytest.fixture(name="world")
def world_fixture(db) -> dict[str, str]:
    job = make_job("nightly", schedule="*/10 * * * *")
    services.job_update(actor=None, job=job, description="now with a description")
    failed = make_run(job, Run.State.FAILED, ago=600, trigger="schedule", reason="boom")
    running = make_run(job, Run.State.RUNNING, ago=5, trigger="manual")
    earlier = failed.scheduled_for
    Job.objects.filter(pk=job.pk).update(created_at=earlier, schedule_anchor=earlier)
    return {
        "dashboard": "/",
        "jobs": "/jobs/",
        "job": f"/jobs/{job.pk}/",
        "failed_run": f"/runs/{failed.pk}/",
        "running_run": f"/runs/{running.pk}/",
        "versions": f"/jobs/{job.pk}/versions/",
        "slots": f"/jobs/{job.pk}/slots/",
        "audit": "/audit/",
        "executors": "/executors/",
        "schedulers": "/schedulers/",
        "profile": "/profile/",
    }


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name.lower())
def test_each_role_sees_only_the_actions_it_may_take(world, role):
    client = logged_in(user_with_role(role.group_name))
    for page, url in world.items():
        response = client.get(url)
        assert response.status_code == 200, url
        found = actions(response.content.decode())
        for target in found.targets:
            name = resolve(target.split("?")[0]).url_name
            if name in EVERYONE:
                continue
            needed = ACTION_ROLES.get(name, Role.VIEWER)
            assert role >= needed, f"{role.name} is offered {name} on {url}"
        for label, needed in EXPECTED.get(page, {}).items():
            shown = label in found.labels
            assert shown == (role >= needed), f"{label!r} on {url} for {role.name}: {shown}"


def test_a_viewer_is_offered_no_action_at_all(world):
    client = logged_in(user_with_role("Viewer"))
    for url in world.values():
        found = actions(client.get(url).content.decode())
        names = {resolve(t.split("?")[0]).url_name for t in found.targets}
        assert names <= EVERYONE | {"job_slots", "job_bulk"}, (url, names)
        offered = set(found.labels) & {"Run now", "Pause", "Resume", "Cancel", "Edit", "Delete"}
        assert not offered, (url, offered)


@pytest.mark.parametrize(
    ("role", "method", "url", "needed"),
    [
        ("Viewer", "post", "/jobs/{job}/run/", "Operator"),
        ("Viewer", "post", "/runs/{run}/run-slot/", "Operator"),
        ("Operator", "get", "/jobs/new/", "Editor"),
        ("Operator", "get", "/jobs/{job}/edit/", "Editor"),
        ("Operator", "post", "/jobs/{job}/versions/1/restore/", "Editor"),
        (None, "get", "/jobs/", "Viewer"),
    ],
)
@pytest.mark.parametrize("hx", [False, True], ids=["page", "htmx"])
def test_a_refusal_names_the_role_needed(world, role, method, url, needed, hx):
    job = Job.objects.get(name="nightly")
    run = Run.objects.filter(state=Run.State.FAILED).first()
    client = logged_in(user_with_role(role))
    versions = job.version
    headers = {"HX-Request": "true"} if hx else {}
    response = getattr(client, method)(url.format(job=job.pk, run=run.pk), headers=headers)
    assert response.status_code == 403
    text = response.content.decode()
    assert f"This needs the {needed} role" in text
    yours = f"yours is {role}." if role else "you have no role yet."
    assert yours in text
    job.refresh_from_db()
    assert job.version == versions
    assert Run.objects.filter(stands_for=run).count() == 0


def test_a_refusal_names_the_role_in_chinese(world):
    job = Job.objects.get(name="nightly")
    client = logged_in(user_with_role("Viewer"))
    client.cookies["django_language"] = "zh-hans"
    response = client.post(f"/jobs/{job.pk}/run/", headers={"Accept-Language": "zh-hans"})
    assert response.status_code == 403
    text = response.content.decode()
    assert "操作员" in text and "查看者" in text
    assert "needs the" not in text and "Operator" not in text


def test_the_api_refusal_names_the_role_needed(world):
    job = Job.objects.get(name="nightly")
    api = Api(user_with_role("Viewer"))
    response = api.post(f"/api/v1/jobs/{job.pk}/run", {})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "forbidden"
    assert error["message"] == "This needs the Operator role; yours is Viewer."
    assert not Run.objects.filter(job=job, trigger=Run.Trigger.API).exists()
