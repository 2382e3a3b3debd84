"""The chain editor in a real browser: search, tick, save, see a cycle refused, see it run."""

import re

import pytest
from django.contrib.auth.models import Group, User

from jobs import services
from jobs.models import Job, JobLink, Run
from tests.browser.conftest import log_in, shoot
from tests.conftest import wait_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


def manual_job(name: str, **fields) -> Job:
    return services.job_create(
        actor=None,
        name=name,
        kind="task",
        config={"task": "demo.echo", "params": {"message": name}},
        schedule="@manual",
        **fields,
    )


@pytest.fixture
def scheduler(start_scheduler, settings, tmp_path):
    settings.CRONADMIN_OUTPUT_DIR = tmp_path / "output"
    return start_scheduler()


def test_an_editor_chains_jobs_with_the_chain_editor(page, scheduler):
    user = User.objects.create_user("erin", password="pw-Secret-1")
    user.groups.add(Group.objects.get_or_create(name="Editor")[0])
    report = manual_job("send report")
    alert = manual_job("page on-call")
    for i in range(3):
        manual_job(f"unrelated {i}")
    log_in(page, "erin")

    page.goto(f"{page.base}/jobs/new/")
    page.get_by_label("Name", exact=True).fill("nightly export")
    page.get_by_label("Task").select_option("demo.echo")
    page.get_by_label("Message").fill("exported")
    page.get_by_label("Schedule", exact=True).fill("@manual")

    search = page.get_by_label("Find jobs")
    search.fill("report")
    options = page.locator("#chain-options")
    expect(options.locator("tbody tr")).to_have_count(1)
    page.get_by_label("send report: On success").check()
    # A second search keeps the ticked job listed and ticked.
    search.fill("on-call")
    expect(options).to_contain_text("page on-call")
    expect(page.get_by_label("send report: On success")).to_be_checked()
    page.get_by_label("page on-call: On failure").check()
    # Enter in the search box filters; it does not submit the half-filled form.
    search.press("Enter")
    expect(page).to_have_url(f"{page.base}/jobs/new/")
    shoot(page, "chain-editor")
    page.get_by_role("button", name="Save").click()

    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    export = Job.objects.get(name="nightly export")
    assert set(export.downstream_links.values_list("event", "downstream_id")) == {
        ("success", report.pk),
        ("failure", alert.pk),
    }
    chains = page.locator("#job-chains")
    expect(chains).to_contain_text("send report (On success)")
    expect(chains).to_contain_text("page on-call (On failure)")

    # Running it starts the report job; the run pages link both ways.
    page.get_by_role("button", name="Run now").click()
    child = wait_for(
        lambda: Run.objects.filter(job=report, state=Run.State.SUCCEEDED).first(), timeout=20
    )
    page.goto(f"{page.base}/runs/{child.pk}/")
    expect(page.locator("#run-live")).to_contain_text(f"nightly export #{child.parent_run_id}")
    page.get_by_role("link", name=f"nightly export #{child.parent_run_id}").click()
    expect(page.get_by_role("link", name=f"send report #{child.pk}")).to_be_visible()

    # Closing the loop from the other end is refused, with the path, at the field.
    page.goto(f"{page.base}/jobs/{report.pk}/edit/")
    page.get_by_label("Find jobs").fill("export")
    page.get_by_label("nightly export: When finished").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#job-form")).to_contain_text(
        "This would make a cycle: send report → nightly export → send report"
    )
    shoot(page, "chain-cycle")
    assert not JobLink.objects.filter(upstream=report).exists()
