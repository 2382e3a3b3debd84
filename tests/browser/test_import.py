"""Importing a job file in a real browser: paste, read the plan, apply."""

import pytest

from jobs import services
from jobs.models import Job
from tests.browser.conftest import log_in, shoot
from tests.browser.test_browser import person

pytestmark = [pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


def test_an_editor_checks_the_plan_before_importing(page):
    person("erin", "Editor")
    kept = services.job_create(
        actor=None,
        name="nightly report",
        kind="task",
        schedule="0 3 * * *",
        config={"task": "demo.echo", "params": {"message": "hi"}},
    )
    text = services.jobs_export(actor=None, fmt="yaml").replace("0 3 * * *", "0 4 * * *")
    text += "  cleanup:\n    kind: task\n    schedule: '@daily'\n    config: {task: demo.noop}\n"
    log_in(page, "erin")
    page.goto(f"{page.base}/jobs/")
    page.get_by_role("link", name="Import").click()
    page.wait_for_url(f"{page.base}/jobs/import/")

    # A mistake is shown at the field, with its line; nothing is saved.
    page.get_by_label("Or paste it here").fill(text.replace("'@daily'", "'@often'"))
    page.get_by_role("button", name="Show the plan").click()
    expect(page.locator("#import")).to_contain_text("(job “cleanup”, schedule)")

    page.get_by_label("Or paste it here").fill(text)
    page.get_by_role("button", name="Show the plan").click()
    plan = page.locator("#import")
    expect(plan).to_contain_text("1 to create, 1 to change, 0 unchanged, 0 to delete.")
    expect(plan.locator("tr.plan-change")).to_contain_text("0 4 * * *")
    expect(plan.locator("tr.plan-create")).to_contain_text("cleanup")
    shoot(page, "job-import-plan")
    assert Job.objects.count() == 1  # a plan only

    plan.get_by_role("button", name="Apply this plan").click()
    page.wait_for_url(f"{page.base}/jobs/")
    expect(page.locator("#flash")).to_contain_text("Imported: 1 created, 1 changed")
    kept.refresh_from_db()
    assert kept.schedule == "0 4 * * *" and kept.version == 2
    assert Job.objects.filter(name="cleanup").exists()
