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
    expect(page.locator("p.reason")).to_have_text("作业已暂停：数据库迁移")
    shoot(page, "run-reason-zh")

    page.goto(f"{page.base}/jobs/{job.pk}/")
    expect(page.locator("#job-runs")).to_contain_text("作业已暂停：数据库迁移")
    expect(page.locator("#job-runs")).not_to_contain_text("Job paused")
