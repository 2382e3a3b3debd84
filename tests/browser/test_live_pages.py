"""Open pages follow changes made elsewhere (here: the API), long after they were opened."""

import json
import urllib.request

import pytest

from jobs import services
from jobs.models import Run
from tests.browser.conftest import log_in, shoot
from tests.browser.test_browser import person

pytestmark = [pytest.mark.timeout(240), pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect

OPEN_FOR_MS = 60_000
SHOWS_WITHIN_MS = 3_000


@pytest.fixture
def scheduler(start_scheduler, settings, tmp_path):
    settings.CRONADMIN_OUTPUT_DIR = tmp_path / "output"
    return start_scheduler()


def api_run(base: str, job_id: int, token: str) -> int:
    request = urllib.request.Request(
        f"{base}/api/v1/jobs/{job_id}/run",
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        data=b"{}",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
        return json.loads(response.read())["id"]


def test_a_run_started_through_the_api_shows_on_every_open_page(page, scheduler):
    operator = person("opal", "Operator")
    _, token = services.api_token_create(actor=operator, user=operator, name="ci")
    job = services.job_create(
        actor=None,
        name="Long report",
        kind="task",
        config={"task": "demo.sleep", "params": {"seconds": 30}},
        schedule="@manual",
    )
    earlier = Run.objects.create(
        job=job,
        job_version=1,
        trigger=Run.Trigger.MANUAL,
        state=Run.State.SUCCEEDED,
        scheduled_for=job.created_at,
        started_at=job.created_at,
        finished_at=job.created_at,
    )
    log_in(page, "opal")
    context = page.context
    pages = {
        "job": page,
        "dashboard": context.new_page(),
        "list": context.new_page(),
        "run": context.new_page(),
    }
    page.goto(f"{page.base}/jobs/{job.pk}/")
    pages["dashboard"].goto(f"{page.base}/")
    pages["list"].goto(f"{page.base}/jobs/")
    pages["run"].goto(f"{page.base}/runs/{earlier.pk}/")
    expect(pages["dashboard"].get_by_text("Nothing is running.")).to_be_visible()

    page.wait_for_timeout(OPEN_FOR_MS)  # the point: pages opened long ago still follow
    run_id = api_run(page.base, job.pk, token)

    link = f'a[href="/runs/{run_id}/"]'
    expect(page.locator(f"#job-runs {link}")).to_be_visible(timeout=SHOWS_WITHIN_MS)
    expect(pages["dashboard"].locator(f"#dashboard-live {link}")).to_be_visible(
        timeout=SHOWS_WITHIN_MS
    )
    expect(pages["list"].locator(f"#job-table {link}").first).to_be_visible(timeout=SHOWS_WITHIN_MS)
    expect(pages["run"].locator(f"#newer-run {link}")).to_be_visible(timeout=SHOWS_WITHIN_MS)
    shoot(pages["dashboard"], "live-dashboard")

    # A change to the job itself (paused through the API) reaches its page too.
    services.job_pause(actor=operator, job=job)
    expect(page.locator("#job-summary")).to_contain_text("Paused", timeout=SHOWS_WITHIN_MS)


def test_countdowns_tick(page):
    person("vera", "Viewer")
    services.job_create(
        actor=None,
        name="Every minute",
        kind="task",
        config={"task": "demo.echo", "params": {"message": "hi"}},
        schedule="* * * * *",
    )
    log_in(page, "vera")
    countdown = page.locator("#dashboard-live time[data-ago]").first
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first, timeout=5_000)
    assert countdown.inner_text().startswith("in ")


def test_a_redraw_keeps_the_readers_ticks_and_open_menus(page):
    operator = person("ola", "Operator")
    jobs = [
        services.job_create(
            actor=None,
            name=f"Report {n}",
            kind="task",
            config={"task": "demo.echo", "params": {"message": "hi"}},
            schedule="@manual",
        )
        for n in (1, 2)
    ]
    log_in(page, "ola")
    page.goto(f"{page.base}/jobs/")
    page.get_by_label("Select Report 2").check()
    run = services.job_run_now(actor=operator, job=jobs[0])
    # The list redraws with the new run, and the tick is still there.
    expect(page.locator(f'#job-table a[href="/runs/{run.pk}/"]').first).to_be_visible(
        timeout=SHOWS_WITHIN_MS
    )
    expect(page.get_by_label("Select Report 2")).to_be_checked()

    # An open Pause… menu is not redrawn away while the reader chooses.
    page.goto(f"{page.base}/jobs/{jobs[1].pk}/")
    page.locator("#job-summary").get_by_text("Pause…").click()
    page.get_by_label("Note").fill("half typed")
    second = services.job_run_now(actor=operator, job=jobs[1])
    expect(page.locator(f'#job-runs a[href="/runs/{second.pk}/"]')).to_be_visible(
        timeout=SHOWS_WITHIN_MS
    )
    expect(page.get_by_label("Note")).to_have_value("half typed")
