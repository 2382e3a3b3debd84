"""Run reasons in the reader's language: written by the real scheduler and services as codes,
read on Chinese pages in Chinese."""

import pytest
from django.contrib.auth.models import Group, User

from jobs import services
from jobs.models import Run, UserProfile
from tests.browser.conftest import log_in, shoot
from tests.conftest import wait_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


def test_a_chinese_run_page_shows_the_reason_in_chinese(page, start_scheduler):
    user = User.objects.create_user("li", password="pw-Secret-1")
    user.groups.add(Group.objects.get_or_create(name="Operator")[0])
    UserProfile.objects.create(user=user, language="zh-hans", timezone="Asia/Shanghai")
    job = services.job_create(
        actor=None,
        name="Every second",
        kind="task",
        config={"task": "demo.echo", "params": {"message": "hi"}},
        schedule="@every 1s",
        timezone="Asia/Shanghai",
    )
    services.job_pause(actor=user, job=job, note="数据库迁移")
    start_scheduler()
    skipped = wait_for(
        lambda: Run.objects.filter(job=job, state=Run.State.SKIPPED).first(), timeout=20
    )
    assert (skipped.reason_code, skipped.reason) == ("paused_note", "Job paused: 数据库迁移")

    log_in(page, "li")
    page.goto(f"{page.base}/runs/{skipped.pk}/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("p.reason")).to_have_text("任务已暂停：数据库迁移")
    shoot(page, "run-reason-zh")

    page.goto(f"{page.base}/jobs/{job.pk}/")
    expect(page.locator("#job-runs")).to_contain_text("任务已暂停：数据库迁移")
    expect(page.locator("#job-runs")).not_to_contain_text("Job paused")


def _history(job) -> Run:
    """A failed slot retried twice, a slot skipped while paused, one that ran well."""
    from datetime import timedelta

    from django.utils import timezone

    from jobs.run_reasons import reason

    now = timezone.now()
    slot = now.replace(minute=now.minute // 10 * 10, second=0, microsecond=0)
    first = None
    for attempt in (1, 2, 3):
        why = reason("exit_code", code=2) if attempt == 3 else reason("timed_out", seconds="30")
        run = Run.objects.create(
            job=job,
            job_version=job.version,
            trigger=Run.Trigger.SCHEDULE if attempt == 1 else Run.Trigger.RETRY,
            state=Run.State.FAILED if attempt == 3 else Run.State.TIMED_OUT,
            attempt=attempt,
            retry_of=first,
            scheduled_for=slot - timedelta(minutes=10),
            started_at=slot - timedelta(minutes=10),
            finished_at=slot - timedelta(minutes=9),
            **why.fields(),
        )
        first = first or run
    Run.objects.create(
        job=job,
        job_version=job.version,
        trigger=Run.Trigger.SCHEDULE,
        state=Run.State.SKIPPED,
        cause=Run.Cause.PAUSED,
        scheduled_for=slot - timedelta(minutes=20),
        finished_at=slot - timedelta(minutes=20),
        **reason("paused_note", note="数据库迁移").fields(),
    )
    Run.objects.create(
        job=job,
        job_version=job.version,
        trigger=Run.Trigger.SCHEDULE,
        state=Run.State.SUCCEEDED,
        scheduled_for=slot - timedelta(minutes=30),
        started_at=slot - timedelta(minutes=30),
        finished_at=slot - timedelta(minutes=30),
    )
    from jobs.models import Job

    Job.objects.filter(pk=job.pk).update(
        created_at=slot - timedelta(minutes=35), schedule_anchor=slot - timedelta(minutes=35)
    )
    return run


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_history_pages_read_in_the_operators_words(page, language):
    user = User.objects.create_user("ops", password="pw-Secret-1")
    user.groups.add(Group.objects.get_or_create(name="Operator")[0])
    UserProfile.objects.create(user=user, language=language, timezone="Asia/Shanghai")
    job = services.job_create(
        actor=None,
        name="Nightly export",
        kind="task",
        config={"task": "demo.echo", "params": {"message": "hi"}},
        schedule="*/10 * * * *",
        timezone="Asia/Shanghai",
    )
    services.job_update(actor=None, job=job, overlap="queue", timeout_seconds=1800)
    last = _history(job)
    chinese = language == "zh-hans"
    suffix = "zh" if chinese else "en"

    log_in(page, "ops")
    page.goto(f"{page.base}/")
    failures = page.locator("#dash-failures")
    expect(failures).to_contain_text("共尝试 3 次" if chinese else "after 3 attempts")
    expect(failures).to_contain_text("退出码 2" if chinese else "exit code 2")
    shoot(page, f"dashboard-failures-{suffix}")

    page.goto(f"{page.base}/runs/{last.pk}/")
    expect(page.locator("p.reason")).to_have_text("退出码 2" if chinese else "exit code 2")
    expect(page.get_by_role("button", name="再运行一次" if chinese else "Run this one again"))
    shoot(page, f"run-{suffix}")

    page.goto(f"{page.base}/jobs/{job.pk}/slots/")
    expect(page.locator("details.as-planned summary")).to_contain_text(
        "1 次按计划运行" if chinese else "1 ran as planned"
    )
    expect(page.locator("#job-slots")).to_contain_text(
        "任务已暂停：数据库迁移" if chinese else "Job paused: 数据库迁移"
    )
    shoot(page, f"slots-{suffix}")

    page.goto(f"{page.base}/jobs/{job.pk}/versions/")
    expect(page.locator("#v2")).to_contain_text("上一次运行尚未结束时" if chinese else "When the")
    expect(page.locator("#v2")).to_contain_text("30 分钟" if chinese else "30 minutes")
    shoot(page, f"versions-{suffix}")

    page.goto(f"{page.base}/audit/")
    expect(page.locator("#audit-table")).not_to_contain_text("— → —")
    shoot(page, f"audit-{suffix}")

    page.goto(f"{page.base}/jobs/{job.pk}/edit/")
    expect(page.locator("h1")).to_contain_text("不允许" if chinese else "Not allowed")
    expect(page.locator("main, body").first).to_contain_text("编辑者" if chinese else "Editor")
    shoot(page, f"forbidden-{suffix}")
