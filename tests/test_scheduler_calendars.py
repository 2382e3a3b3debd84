"""Calendars with a real scheduler: skipped and moved slots, windows, business days, edits.

Days pass under libfaketime: the scheduler's wall clock is set just before each slot of interest
(the clock jumps forward between them), so a daily job's days go by in seconds.
"""

# ruff: noqa: F811 - fixtures imported from tests.test_faults_clock are parameters
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import Calendar, Job, Run
from jobs.services.calendars import calendar_create, calendar_update
from tests.conftest import runs_of, wait_for
from tests.test_faults_clock import FakeClock, assert_no_errors, fake_clock, preload  # noqa: F401

SLOT_WAIT = 20


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def go_to(clock: FakeClock, instant: datetime) -> None:
    """Set the scheduler's clock to three seconds before `instant`."""
    clock.set(round((instant - timedelta(seconds=3) - timezone.now()).total_seconds()))


def daily_job(name: str, calendar: Calendar, first: datetime, **fields) -> Job:
    return services.job_create(
        actor=None,
        name=name,
        kind="task",
        config={"task": "demo.noop", "params": {}},
        schedule=fields.pop("schedule", "0 9 * * *"),
        timezone=fields.pop("timezone", "UTC"),
        misfire="skip",
        # The schedule starts just before the first slot of interest: the days between the real
        # date and the faked one are not owed.
        schedule_anchor=first - timedelta(minutes=1),
        calendars=[calendar],
        **fields,
    )


def row_at(job: Job, slot: datetime) -> Run | None:
    run = Run.objects.filter(job=job, scheduled_for=slot).first()
    return run if run is not None and run.is_final else None


def wait_row(job: Job, slot: datetime) -> Run:
    return wait_for(lambda: row_at(job, slot), timeout=SLOT_WAIT)  # type: ignore[return-value]


def start(start_scheduler, clock: FakeClock):
    return start_scheduler(CRONADMIN_MISFIRE_GRACE_SECONDS="5", **clock.env)


CALENDARS = {
    "a hand-picked date": ({"dates": ["2026-12-25"]}, "hand-picked date"),
    "a country's holidays": ({"holiday_country": "US"}, "Christmas Day"),
}


@pytest.mark.parametrize("kind", CALENDARS)
def test_a_daily_job_skips_the_calendar_day(start_scheduler, fake_clock, kind):
    fields, why = CALENDARS[kind]
    calendar = calendar_create(actor=None, name="closed", **fields)
    job = daily_job("daily", calendar, at("2026-12-24T09:00"))
    go_to(fake_clock, at("2026-12-24T09:00"))
    scheduler = start(start_scheduler, fake_clock)
    before = wait_row(job, at("2026-12-24T09:00"))
    go_to(fake_clock, at("2026-12-25T09:00"))
    skipped = wait_row(job, at("2026-12-25T09:00"))
    go_to(fake_clock, at("2026-12-26T09:00"))
    after = wait_row(job, at("2026-12-26T09:00"))

    assert before.state == after.state == Run.State.SUCCEEDED
    assert skipped.state == Run.State.SKIPPED and skipped.cause == Run.Cause.CALENDAR
    assert skipped.reason == f"Calendar closed: {why}."
    assert [r.scheduled_for for r in runs_of(job)] == [
        at("2026-12-24T09:00"),
        at("2026-12-25T09:00"),
        at("2026-12-26T09:00"),
    ]
    assert_no_errors(scheduler)


@pytest.mark.parametrize("kind", CALENDARS)
def test_in_the_other_mode_the_slot_moves_to_the_next_allowed_time(
    start_scheduler, fake_clock, kind
):
    fields, why = CALENDARS[kind]
    calendar = calendar_create(actor=None, name="closed", **fields)
    job = daily_job("daily", calendar, at("2026-12-24T09:00"), on_calendar="next_allowed")
    go_to(fake_clock, at("2026-12-24T09:00"))
    scheduler = start(start_scheduler, fake_clock)
    wait_row(job, at("2026-12-24T09:00"))
    # Christmas is excluded until its midnight: the 09:00 slot runs then, once.
    go_to(fake_clock, at("2026-12-26T00:00"))
    moved = wait_row(job, at("2026-12-26T00:00"))
    go_to(fake_clock, at("2026-12-26T09:00"))
    wait_row(job, at("2026-12-26T09:00"))

    assert moved.state == Run.State.SUCCEEDED and moved.cause == Run.Cause.CALENDAR
    assert moved.reason == f"Moved from 2026-12-25 09:00 UTC by calendar closed: {why}."
    assert [r.scheduled_for for r in runs_of(job)] == [
        at("2026-12-24T09:00"),
        at("2026-12-26T00:00"),
        at("2026-12-26T09:00"),
    ]
    assert_no_errors(scheduler)


def test_a_window_across_midnight_in_another_zone(start_scheduler, fake_clock):
    # 23:00–02:00 in Tokyo is 14:00–17:00 UTC: an hourly UTC job skips 14:00, 15:00 and 16:00.
    calendar = calendar_create(
        actor=None,
        name="tokyo nights",
        timezone="Asia/Tokyo",
        windows=[{"days": [], "start": "23:00", "end": "02:00"}],
    )
    job = daily_job("hourly", calendar, at("2026-06-10T13:00"), schedule="0 * * * *")
    go_to(fake_clock, at("2026-06-10T13:00"))
    scheduler = start(start_scheduler, fake_clock)
    wait_row(job, at("2026-06-10T13:00"))
    go_to(fake_clock, at("2026-06-10T14:00"))
    wait_row(job, at("2026-06-10T14:00"))
    go_to(fake_clock, at("2026-06-10T17:00"))
    wait_row(job, at("2026-06-10T17:00"))

    fates = {
        r.scheduled_for.hour: (r.state, r.cause)
        for r in runs_of(job)
        if r.scheduled_for < at("2026-06-10T18:00")
    }
    skipped = (Run.State.SKIPPED, Run.Cause.CALENDAR)
    assert fates == {
        13: (Run.State.SUCCEEDED, ""),
        14: skipped,
        15: skipped,
        16: skipped,
        17: (Run.State.SUCCEEDED, ""),
    }
    window = Run.objects.get(job=job, scheduled_for=at("2026-06-10T15:00")).reason
    assert window == "Calendar tokyo nights: window 2026-06-10 23:00–2026-06-11 02:00 Asia/Tokyo."
    assert_no_errors(scheduler)


def test_the_first_business_day_when_the_first_is_a_holiday(start_scheduler, fake_clock):
    # 1 January 2027 is a Friday and New Year's Day: the first business day is Monday the 4th.
    calendar = calendar_create(actor=None, name="us", holiday_country="US")
    job = daily_job(
        "payroll", calendar, at("2027-01-01T09:00"), schedule="@business-day first 09:00"
    )
    go_to(fake_clock, at("2027-01-01T09:00"))
    scheduler = start(start_scheduler, fake_clock)
    go_to(fake_clock, at("2027-01-04T09:00"))
    run = wait_row(job, at("2027-01-04T09:00"))
    assert run.state == Run.State.SUCCEEDED
    assert [r.scheduled_for for r in runs_of(job)] == [at("2027-01-04T09:00")]
    assert_no_errors(scheduler)


def test_a_calendar_edit_reaches_the_scheduler(start_scheduler):
    today = timezone.now().date().isoformat()
    calendar = calendar_create(actor=None, name="today", dates=[today])
    job = services.job_create(
        actor=None,
        name="often",
        kind="task",
        config={"task": "demo.noop", "params": {}},
        schedule="@every 1s",
        misfire="skip",
        calendars=["today"],
    )
    start_scheduler()
    wait_for(lambda: runs_of(job, state=Run.State.SKIPPED, cause=Run.Cause.CALENDAR), timeout=10)
    assert not runs_of(job, state=Run.State.SUCCEEDED)
    changed = timezone.now()
    calendar_update(actor=None, calendar=calendar, dates=[])
    ran = wait_for(lambda: runs_of(job, state=Run.State.SUCCEEDED), timeout=10)
    # The first slot after the change that ran: the scheduler had the edit within a second or
    # two (a slot already handed over when it arrived may still be skipped).
    assert ran[0].scheduled_for - changed < timedelta(seconds=3)
    assert not runs_of(
        job, cause=Run.Cause.CALENDAR, scheduled_for__gt=changed + timedelta(seconds=3)
    )
