"""The week ahead's counting (jobs.week_ahead): per hour, by arithmetic or run by run alike."""

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest

from jobs.calendars import CalendarRule, CalendarSet, Window
from jobs.selectors import TimingRow, timing_fires
from jobs.week_ahead import COMPUTED_SPAN, _count, _every_counts, _hour_number, _shared_key

START = datetime(2026, 3, 1, tzinfo=UTC)


def row(schedule: str, **fields) -> TimingRow:
    values = {
        "name": "job",
        "kind": "task",
        "labels": {},
        "schedule": schedule,
        "timezone": "Europe/Berlin",
        "schedule_anchor": datetime(2026, 1, 1, 0, 0, 7, tzinfo=UTC),
        "start_at": None,
        "end_at": None,
        "state": "active",
        "paused_until": None,
        "on_calendar": "skip",
        "calendars": CalendarSet(),
    }
    return TimingRow(**{**values, **fields})


def one_by_one(timing: TimingRow) -> dict[int, int]:
    end = START + COMPUTED_SPAN
    runs = timing_fires(timing, 10**6, START - timedelta(microseconds=1), until=end)
    return dict(Counter(_hour_number(t) for t in runs if t < end))


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"start_at": START + timedelta(hours=5, minutes=3)},
        {"end_at": START + timedelta(days=2, minutes=30)},
        {"state": "paused", "paused_until": START + timedelta(days=1, seconds=1)},
    ],
)
def test_every_jobs_are_counted_by_arithmetic_as_run_by_run(fields):
    timing = row("@every 7m", **fields)
    assert _every_counts(timing, START, START + COMPUTED_SPAN) == one_by_one(timing)


TOKYO_NIGHTS = CalendarRule(
    "tokyo",
    timezone="Asia/Tokyo",
    windows=(Window(start=time(23, 10), end=time(2, 5), weekdays=frozenset({1, 3})),),
)
HOLIDAY = CalendarRule("day off", timezone="Asia/Kolkata", dates=frozenset({date(2026, 3, 3)}))
FREEZE = CalendarRule(
    "freeze", windows=(Window(start_on=datetime(2026, 3, 4, 10), end_on=datetime(2026, 3, 6)),)
)


@pytest.mark.parametrize("mode", ["skip", "next_allowed"])
@pytest.mark.parametrize("rules", [(TOKYO_NIGHTS,), (HOLIDAY,), (FREEZE, HOLIDAY, TOKYO_NIGHTS)])
@pytest.mark.parametrize("schedule", ["@every 7m", "@every 2h", "@every 1h"])
def test_calendars_are_taken_out_by_arithmetic_as_run_by_run(mode, rules, schedule):
    timing = row(schedule, calendars=CalendarSet(rules), on_calendar=mode)
    assert _every_counts(timing, START, START + COMPUTED_SPAN) == one_by_one(timing)


def test_a_job_paused_without_end_has_no_runs():
    assert _count(row("@every 1s", state="paused"), _hour_number(START)).per_hour == {}


def test_calendars_are_applied_to_the_counts():
    closed = CalendarRule("closed", dates=frozenset({START.date()}))
    counted = _count(row("0 * * * *", calendars=CalendarSet((closed,))), _hour_number(START))
    # The calendar reads its day in its own zone (UTC), whatever the job's: 24 hours off.
    assert sum(counted.per_hour.values()) == 8 * 24 - 24
    assert _hour_number(START) not in counted.per_hour


def test_jobs_with_one_schedule_share_their_counts_whenever_it_was_set():
    later = datetime(2026, 2, 1, 12, 34, 56, tzinfo=UTC)
    assert _shared_key(row("0 * * * *")) == _shared_key(row("0 * * * *", schedule_anchor=later))
    # `@every` slots are counted from the anchor: no sharing there.
    assert _shared_key(row("@every 7m")) != _shared_key(row("@every 7m", schedule_anchor=later))
