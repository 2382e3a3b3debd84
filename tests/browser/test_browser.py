"""An operator's day in a real browser, against a live server and a real scheduler."""

import re

import pytest
from django.contrib.auth.models import Group, User

from jobs import services
from jobs.models import Job, Run
from tests.browser.conftest import log_in, shoot

pytestmark = [pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


def person(name: str, role: str) -> User:
    user = User.objects.create_user(name, password="pw-Secret-1")
    # A transactional test flushes the tables, the groups made by a migration included.
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def scheduler(start_scheduler, settings, tmp_path):
    # The web reads a running run's output where the scheduler spools it.
    settings.CRONADMIN_OUTPUT_DIR = tmp_path / "output"
    return start_scheduler()


def test_an_editor_creates_watches_and_changes_a_job(page, scheduler):
    person("erin", "Editor")
    log_in(page, "erin")
    shoot(page, "dashboard")

    page.get_by_role("link", name="Jobs", exact=True).click()
    page.get_by_role("link", name="New job").click()
    page.wait_for_url(f"{page.base}/jobs/new/")
    page.get_by_label("Name", exact=True).fill("Say hello")
    page.get_by_label("Task").select_option("demo.echo")
    expect(page.get_by_label("Message")).to_be_visible()  # the task's parameter, as a field
    page.get_by_label("Message").fill("hello <b>world</b>")

    # The preview follows the schedule as it is typed, errors included.
    schedule = page.get_by_label("Schedule", exact=True)
    schedule.fill("61 * * * *")
    preview = page.locator("#schedule-preview")
    expect(preview).to_contain_text("Minute field: 61 is out of range 0-59")
    schedule.fill("*/2 * * * * *")
    expect(preview).to_contain_text("Every 2 seconds")
    expect(preview).to_contain_text("more often than once a minute")
    expect(preview.locator("tbody tr")).to_have_count(10)
    page.get_by_label("Time zone").fill("Europe/Berlin")
    expect(preview).to_contain_text("Job time (Europe/Berlin)")
    shoot(page, "job-form")
    page.get_by_role("button", name="Save").click()

    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get(name="Say hello")
    assert job.config["params"] == {"message": "hello <b>world</b>"}
    # Its runs appear in the history while the page stays put.
    history = page.locator("#job-runs tbody")
    expect(history.get_by_text("Succeeded").first).to_be_visible(timeout=15_000)
    shoot(page, "job-detail")

    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#job-summary")).to_contain_text("requested")
    expect(history.get_by_text("Run now").first).to_be_visible(timeout=10_000)

    page.get_by_text("Pause…").click()
    page.get_by_label("Note").fill("checking the output")
    page.locator("#job-summary").get_by_role("button", name="Pause").click()
    expect(page.locator("#job-summary")).to_contain_text("Paused until someone resumes it.")
    job.refresh_from_db()
    assert (job.state, job.pause_note) == ("paused", "checking the output")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#job-summary")).to_contain_text("Resumed.")
    job.refresh_from_db()
    assert job.state == "active"

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Schedule", exact=True).fill("@hourly")
    expect(page.locator("#schedule-preview")).to_contain_text("Every hour")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(rf"/jobs/{job.pk}/$"))
    job.refresh_from_db()
    assert (job.schedule, job.version) == ("@hourly", 2)

    page.get_by_role("link", name=re.compile("version 2")).click()
    expect(page.locator("#versions")).to_contain_text("*/2 * * * * *")
    shoot(page, "versions")
    page.goto(f"{page.base}/jobs/")
    expect(page.get_by_role("link", name="Say hello")).to_be_visible()
    shoot(page, "job-list")
    page.goto(f"{page.base}/audit/")
    shoot(page, "audit")
    page.goto(f"{page.base}/profile/")
    shoot(page, "profile")


def test_an_operator_cancels_a_long_run_but_cannot_delete(page, scheduler):
    person("otto", "Operator")
    job = services.job_create(
        actor=None,
        name="Long sleeper",
        kind="task",
        config={"task": "demo.sleep", "params": {"seconds": 60}},
        schedule="@manual",
    )
    log_in(page, "otto")
    page.goto(f"{page.base}/jobs/{job.pk}/")
    expect(page.get_by_role("link", name="Delete")).to_have_count(0)
    page.get_by_role("button", name="Run now").click()
    run_link = page.locator("#job-runs a", has_text="#")
    expect(run_link.first).to_be_visible(timeout=10_000)
    run_link.first.click()

    live = page.locator("#run-live")
    expect(live.locator("pre.output")).to_contain_text("second 1", timeout=15_000)  # tails
    shoot(page, "run-running")
    page.once("dialog", lambda dialog: dialog.accept())  # cancel asks first
    live.get_by_role("button", name="Cancel").click()
    expect(live.locator("h1")).to_contain_text("Cancelled", timeout=15_000)
    expect(live).not_to_have_attribute("hx-trigger", re.compile("every"))  # polling stopped
    run = Run.objects.get(job=job)
    assert run.state == "cancelled"
    shoot(page, "run-cancelled")

    # Even a hand-made request is refused, and nothing is deleted.
    status = page.evaluate(
        """async (url) => {
            const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken'];
            const r = await fetch(url, {method: 'POST', headers: {'X-CSRFToken': token}});
            return r.status;
        }""",
        f"{page.base}/jobs/{job.pk}/delete/",
    )
    assert status == 403
    assert Job.objects.filter(pk=job.pk).exists()


def test_a_viewer_switches_to_chinese(page):
    person("vera", "Viewer")
    services.job_create(
        actor=None,
        name="Weekday report",
        kind="task",
        config={"task": "demo.echo", "params": {"message": "hi"}},
        schedule="0 9 * * 1-5",
        timezone="Asia/Shanghai",
    )
    log_in(page, "vera")
    page.get_by_label("Language").select_option("zh-hans")
    page.get_by_role("button", name="Switch").click()
    expect(page.locator("h1")).to_have_text("仪表盘")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    shoot(page, "dashboard-zh")
    page.get_by_role("link", name="任务", exact=True).click()
    expect(page.locator("#job-table")).to_contain_text("在 09:00，周一 到 周五")
    shoot(page, "job-list-zh")
