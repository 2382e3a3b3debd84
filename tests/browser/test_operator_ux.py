"""Small things an operator meets: pausing, cancelling, a phone-sized header, times with zones."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import Job, Run, UserProfile
from tests.browser.conftest import PHONE, SCREENSHOTS, log_in, shoot
from tests.browser.test_browser import person

pytestmark = [pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


def make_job(name: str = "Nightly export", **fields) -> Job:
    defaults = {
        "kind": "task",
        "config": {"task": "demo.echo", "params": {"message": "hi"}},
        "schedule": "0 9 * * *",
        "timezone": "Asia/Tokyo",
    }
    return services.job_create(actor=None, name=name, **{**defaults, **fields})


def test_pause_offers_quick_choices_next_to_run_now(page):
    operator = person("olga", "Operator")
    UserProfile.objects.create(user=operator, timezone="Europe/Berlin")
    job = make_job()
    log_in(page, "olga")
    page.goto(f"{page.base}/jobs/{job.pk}/")
    buttons = page.locator("#job-summary .buttons")
    expect(buttons.get_by_role("button", name="Run now")).to_be_visible()
    buttons.get_by_text("Pause…").click()
    for choice in ("1 hour", "Until tomorrow 09:00", "Until Monday 09:00", "Until I resume it"):
        expect(buttons.get_by_label(choice)).to_be_visible()
    shoot(page, "pause-menu")
    buttons.get_by_label("Until tomorrow 09:00").check()
    buttons.get_by_label("Note").fill("release day")
    buttons.get_by_role("button", name="Pause", exact=True).click()

    summary = page.locator("#job-summary")
    expect(summary).to_contain_text("Paused until")
    expect(summary).to_contain_text("release day")
    job.refresh_from_db()
    local = timezone.localtime(job.paused_until, timezone=ZoneInfo("Europe/Berlin"))
    assert (job.state, local.hour, local.minute) == ("paused", 9, 0)
    assert local.date() == (timezone.now().astimezone(local.tzinfo) + timedelta(days=1)).date()
    # The page names the first run after the pause, in the viewer's zone.
    first = summary.locator("#first-after-pause")
    expect(first).to_contain_text("First run after the pause")
    expect(first.locator(".zone")).to_have_text(re.compile(r"CES?T"))


def test_cancel_asks_first(page, start_scheduler, settings, tmp_path):
    settings.CRONADMIN_OUTPUT_DIR = tmp_path / "output"
    person("otto", "Operator")
    job = make_job("Sleeper", config={"task": "demo.sleep", "params": {"seconds": 60}})
    run = services.job_run_now(actor=None, job=job)
    start_scheduler()
    log_in(page, "otto")
    page.goto(f"{page.base}/runs/{run.pk}/")
    live = page.locator("#run-live")
    expect(live.locator("h1")).to_contain_text("Running", timeout=15_000)

    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    live.get_by_role("button", name="Cancel").click()
    assert questions == [f"Cancel run #{run.pk}? Its work is stopped at once."]
    run.refresh_from_db()
    assert run.cancel_requested_at is None and run.state == Run.State.RUNNING

    page.once("dialog", lambda dialog: dialog.accept())
    live.get_by_role("button", name="Cancel").click()
    expect(live.locator("h1")).to_contain_text("Cancelled", timeout=15_000)
    run.refresh_from_db()
    assert run.state == Run.State.CANCELLED


def test_the_header_folds_into_a_menu_at_phone_width(page):
    person("pia", "Viewer")
    log_in(page, "pia")
    page.set_viewport_size(PHONE)
    page.goto(f"{page.base}/jobs/")
    nav = page.get_by_role("navigation", name="Main")
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_be_visible()
    expect(nav).to_be_hidden()
    expect(menu).to_have_attribute("aria-expanded", "false")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "header-closed-phone.png"))
    menu.click()
    expect(nav).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="API")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "header-open-phone.png"))
    nav.get_by_role("link", name="Executors").click()
    page.wait_for_url(f"{page.base}/executors/")
    # At desktop width there is no menu button: the links are simply there.
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    # No date breaks in the middle at phone width.
    page.set_viewport_size(PHONE)
    page.goto(f"{page.base}/")
    for box in page.locator("main time").all():
        assert box.evaluate("el => getComputedStyle(el).whiteSpace") == "nowrap"


def test_times_carry_zones_and_a_first_visit_offers_the_browsers(browser, live_server):
    person("tomo", "Viewer")
    job = make_job()
    context = browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="Asia/Tokyo")
    page = context.new_page()
    page.base = live_server.url
    try:
        log_in(page, "tomo")
        offer = page.locator("#zone-offer")
        expect(offer).to_be_visible()
        expect(offer).to_contain_text("Asia/Tokyo")
        shoot(page, "zone-offer")
        offer.get_by_role("button", name="Use my browser's time zone").click()
        expect(page.locator("#zone-offer")).to_have_count(0)
        assert UserProfile.objects.get(user__username="tomo").timezone == "Asia/Tokyo"

        page.goto(f"{page.base}/jobs/{job.pk}/")
        first = page.locator("#next-runs li").first
        expect(first).to_contain_text("09:00:00 JST")
        expect(first.locator(".job-zone")).to_have_count(0)  # the job's zone is the viewer's
        UserProfile.objects.filter(user__username="tomo").update(timezone="Europe/London")
        page.goto(f"{page.base}/jobs/")
        row = page.locator("#job-table tbody tr").first
        expect(row.locator(".job-zone")).to_contain_text("09:00:00 JST")
        expect(row).to_contain_text(re.compile(r"00:00:00 (GMT|BST)"))
    finally:
        context.close()


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_changed_page_fits_a_phone_in_both_languages(page, language):
    editor = person(f"eve-{language}", "Editor")
    UserProfile.objects.create(user=editor, language=language, timezone="Europe/Berlin")
    job = make_job("Nightly export to the warehouse")
    run = services.job_run_now(actor=None, job=job)
    services.api_token_create(actor=editor, user=editor, name="ci")
    log_in_any(page, f"eve-{language}")
    pages = {
        "dashboard": "/",
        "job-list": "/jobs/",
        "job-detail": f"/jobs/{job.pk}/",
        "run-detail": f"/runs/{run.pk}/",
        "executors": "/executors/",
        "schedulers": "/schedulers/",
        "job-form": "/jobs/new/",
        "profile": "/profile/",
    }
    for name, url in pages.items():
        page.goto(page.base + url)
        if name == "job-form":
            page.locator("details.advanced").first.evaluate("el => el.open = true")
        if name == "job-detail":
            page.locator("#job-summary .pause-menu").evaluate("el => el.open = true")
        shoot(page, f"{name}-{language}")
        page.set_viewport_size(PHONE)
        # Nothing sticks out sideways: labels, placeholders and dates fit their boxes.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (name, width)
        page.set_viewport_size({"width": 1280, "height": 800})


def log_in_any(page, username: str) -> None:
    # The login page is in the browser's language; the profile's applies once logged in.
    page.goto(f"{page.base}/login/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill("pw-Secret-1")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(f"{page.base}/")
