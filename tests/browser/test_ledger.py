"""“Why didn't it run?” in a real browser: the fates of a job's slots, filtered, and a slot run
again from there."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from jobs import services
from jobs.models import Job, Run
from tests.browser.conftest import log_in, shoot

pytestmark = [pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


def slot(job: Job, minutes_ago: int, state: str, cause: str = "", reason: str = "") -> Run:
    now = timezone.now()
    at = now.replace(minute=now.minute // 10 * 10, second=0, microsecond=0) - timedelta(
        minutes=minutes_ago
    )
    return Run.objects.create(
        job=job,
        job_version=1,
        trigger=Run.Trigger.SCHEDULE,
        state=state,
        cause=cause,
        reason=reason,
        scheduled_for=at,
        created_at=at,
        finished_at=at,
    )


def test_an_operator_finds_out_why_and_runs_a_slot_again(page):
    user = User.objects.create_user("olga", password="pw-Secret-1")
    user.groups.add(Group.objects.get_or_create(name="Operator")[0])
    job = services.job_create(
        actor=None,
        name="Ten-minutely",
        kind="task",
        config={"task": "demo.echo", "params": {"message": "hi"}},
        schedule="*/10 * * * *",
        timezone="Asia/Shanghai",
    )
    two_days_ago = timezone.now() - timedelta(days=2)
    Job.objects.filter(pk=job.pk).update(created_at=two_days_ago, schedule_anchor=two_days_ago)
    failed = slot(job, 10, Run.State.FAILED, reason="RuntimeError: boom")
    slot(job, 20, Run.State.SKIPPED, Run.Cause.PAUSED, "Job paused: migration.")
    slot(job, 30, Run.State.MISSED, Run.Cause.SCHEDULER_DOWN, "No scheduler was running.")
    slot(job, 40, Run.State.SUCCEEDED)

    log_in(page, "olga")
    page.goto(f"{page.base}/jobs/{job.pk}/")
    page.get_by_role("link", name="Why didn't it run?").click()
    page.wait_for_url(f"{page.base}/jobs/{job.pk}/slots/")
    fates = page.locator("ul.fates")
    expect(fates.locator('[data-fate="paused"]')).to_contain_text("1")
    expect(fates.locator('[data-fate="scheduler_down"]')).to_contain_text("1")
    expect(fates.locator('[data-fate="ran"]')).to_contain_text("2")
    expect(page.get_by_text("the job's schedule runs in Asia/Shanghai")).to_be_visible()
    shoot(page, "job-slots")

    # Filtering swaps the table in place and keeps the address shareable.
    fates.locator('[data-fate="paused"] a').click()
    page.wait_for_url(re.compile(r"fate=paused"))
    rows = page.locator("table.slots tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Job paused: migration.")

    # A period too long says so at the field.
    page.get_by_label("From").fill("2030-01-01T00:00")
    page.get_by_label("To").fill("2030-01-20T00:00")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#job-slots .error")).to_contain_text("at most 7 days")

    # Back to the last 24 hours, the failed slot: run it again.
    page.goto(f"{page.base}/jobs/{job.pk}/slots/?fate=ran")
    row = page.locator("table.slots tbody tr", has_text="RuntimeError: boom")
    row.get_by_role("button", name="Run this one again").click()
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    rerun = Run.objects.get(stands_for=failed)
    assert page.url.endswith(f"/runs/{rerun.pk}/")
    expect(page.locator("#run-live")).to_contain_text(f"#{failed.pk}")
    page.goto(f"{page.base}/runs/{failed.pk}/")
    expect(page.get_by_role("link", name=f"#{rerun.pk}")).to_be_visible()
