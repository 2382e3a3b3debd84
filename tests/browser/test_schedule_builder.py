"""The schedule builder in a real browser: each choice writes the schedule and its preview."""

import pytest
from django.contrib.auth.models import Group, User

from jobs import services
from jobs.models import Job
from tests.browser.conftest import log_in, shoot

pytestmark = [pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def editor(page) -> User:
    user = User.objects.create_user("erin", password="pw-Secret-1")
    user.groups.add(Group.objects.get_or_create(name="Editor")[0])
    log_in(page, "erin")
    return user


def builder(page, name: str):
    return page.locator(f"#id_builder-{name}")


def round_trip(page, action) -> None:
    """Do `action` and wait until the builder it redrew has settled: a choice made on the old
    builder in the instant it is replaced would be lost, by a test as by a person."""
    with page.expect_response(lambda r: "/jobs/schedule-builder/" in r.url):
        action()
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def choose(page, mode: str, expected: str, **controls: str) -> None:
    """Pick a mode, set its controls one by one, and wait for the schedule it writes."""
    if builder(page, "mode").input_value() != mode:
        round_trip(page, lambda: builder(page, "mode").select_option(mode))
    for name, value in controls.items():
        control = builder(page, name)
        if control.input_value() == value:
            continue  # no change, no request
        if control.evaluate("e => e.tagName") == "SELECT":
            round_trip(page, lambda c=control, v=value: c.select_option(v))
        elif control.get_attribute("type") == "datetime-local":
            # Filling a date box reports its change at once.
            round_trip(page, lambda c=control, v=value: c.fill(v))
        else:
            control.fill(value)
            # A text box reports its change when it is left.
            round_trip(page, lambda c=control: c.press("Tab"))
    expect(page.locator("#id_schedule")).to_have_value(expected)


def tick(page, day: str, on: bool = True) -> None:
    box = page.get_by_label(day, exact=True)
    round_trip(page, box.check if on else box.uncheck)


def test_the_builder_writes_the_schedule_for_each_intent(page, editor):
    page.goto(f"{page.base}/jobs/new/")
    preview = page.locator("#schedule-preview")
    page.get_by_label("Time zone").fill("Europe/Berlin")

    choose(page, "minutes", "*/15 * * * *", every_minutes="15")
    expect(preview).to_contain_text("Every 15 minutes")
    choose(page, "hours", "30 */2 * * *", every_hours="2", minute="30")
    expect(preview).to_contain_text("At 30 minutes past the hour, every 2 hours")
    choose(page, "daily", "0 8,20 * * *", times="08:00, 20:00")
    expect(preview).to_contain_text("At 08:00 and 20:00")

    # Weekdays: the working week is ticked to start with; add Saturday, drop Monday.
    choose(page, "weekly", "0 8,20 * * 1-5")
    tick(page, "Saturday")
    expect(page.locator("#id_schedule")).to_have_value("0 8,20 * * 1-6")
    tick(page, "Monday", on=False)
    choose(page, "weekly", "45 6 * * 2-6", times="06:45")
    expect(preview).to_contain_text("Tuesday through Saturday")
    shoot(page, "schedule-builder")

    choose(page, "monthly", "0 9 15 * *", times="09:00", day="15")
    choose(page, "monthly", "0 9 L * *", day="0")
    expect(preview).to_contain_text("last day of the month")
    choose(page, "yearly", "0 18 24 12 *", times="18:00", day="24", month="12")
    expect(preview).to_contain_text("December")

    # Spring forward: 02:30 does not exist on 2027-03-28 in Berlin.
    choose(page, "once", "2027-03-28 02:30", at="2027-03-28T02:30")
    expect(preview).to_contain_text("The clocks go forward on 2027-03-28")
    choose(page, "manual", "@manual")
    expect(preview).to_contain_text("Only when started by hand")

    # A mistake in the builder is shown there; the schedule keeps its last good value.
    choose(page, "daily", "0 9 * * *", times="09:00")
    builder(page, "times").fill("09:00, 17:30")
    round_trip(page, lambda: builder(page, "times").press("Tab"))
    expect(page.locator("#schedule-builder")).to_contain_text("only at one minute")
    expect(page.locator("#id_schedule")).to_have_value("0 9 * * *")


def test_typing_moves_the_builder_and_suggestions_can_be_taken(page, editor):
    page.goto(f"{page.base}/jobs/new/")
    schedule = page.locator("#id_schedule")
    schedule.fill("0 9-17 * * 1-5")
    round_trip(page, lambda: schedule.press("Tab"))
    expect(builder(page, "mode")).to_have_value("advanced")
    expect(page.locator("#schedule-builder")).to_contain_text("stays as written")

    schedule.fill("0 0 9 ? * MON-FRI")
    round_trip(page, lambda: schedule.press("Tab"))
    preview = page.locator("#schedule-preview")
    expect(preview).to_contain_text("Quartz syntax")
    expect(preview).to_contain_text("Did you mean 0 9 * * mon-fri")
    shoot(page, "schedule-suggestion")
    round_trip(page, preview.get_by_role("button", name="Use this").click)
    expect(schedule).to_have_value("0 9 * * mon-fri")
    expect(builder(page, "mode")).to_have_value("weekly")
    expect(preview).to_contain_text("At 09:00, Monday through Friday")
    # The builder follows what is typed from then on, too.
    schedule.fill("*/10 * * * *")
    round_trip(page, lambda: schedule.press("Tab"))
    expect(builder(page, "mode")).to_have_value("minutes")
    expect(builder(page, "every_minutes")).to_have_value("10")

    # The preview starts at the job's start and stops at its end.
    choose(page, "daily", "0 9 * * *", times="09:00")
    page.get_by_label("Start", exact=True).fill("2030-01-01T00:00")
    page.get_by_label("End", exact=True).fill("2030-01-02T12:00")
    rows = preview.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("2030-01-01 09:00")


def test_an_existing_job_opens_in_the_builder_and_saves_from_it(page, editor):
    job = services.job_create(
        actor=None,
        name="Morning report",
        kind="task",
        config={"task": "demo.echo", "params": {"message": "hi"}},
        schedule="30 8 * * mon-fri",
        timezone="Europe/Berlin",
    )
    page.goto(f"{page.base}/jobs/{job.pk}/edit/")
    expect(builder(page, "mode")).to_have_value("weekly")
    expect(builder(page, "times")).to_have_value("08:30")
    for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"):
        expect(page.get_by_label(day)).to_be_checked()
    expect(page.get_by_label("Sunday")).not_to_be_checked()
    # Opening the job leaves its text as it was.
    expect(page.locator("#id_schedule")).to_have_value("30 8 * * mon-fri")

    tick(page, "Saturday")
    expect(page.locator("#id_schedule")).to_have_value("30 8 * * 1-6")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{page.base}/jobs/{job.pk}/")
    job.refresh_from_db()
    assert job.schedule == "30 8 * * 1-6"
    assert Job.objects.count() == 1


def test_the_builder_speaks_chinese(page, editor):
    page.get_by_label("Language").select_option("zh-hans")
    page.get_by_role("button", name="Switch").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.goto(f"{page.base}/jobs/new/")
    page.locator("#id_timezone").fill("Europe/Berlin")
    choose(page, "weekly", "30 2 * * 1-5", times="02:30")
    preview = page.locator("#schedule-preview")
    expect(preview).to_contain_text("周一")
    # The clocks change on Sundays: every day at 02:30 meets both changes.
    tick(page, "星期六")
    tick(page, "星期日")
    expect(page.locator("#id_schedule")).to_have_value("30 2 * * *")
    expect(preview).to_contain_text("时钟拨快")
    expect(preview).to_contain_text("时钟回拨")
    shoot(page, "schedule-builder-zh")
