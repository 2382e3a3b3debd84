"""The week ahead's counting (jobs.week_ahead): per hour, by arithmetic or run by run alike."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from jobs.calendars import CalendarRule, CalendarSet
from jobs.selectors import TimingRow, timing_fires
from jobs.week_ahead import COMPUTED_SPAN, _count, _every_counts, _hour_number

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


def test_a_job_paused_without_end_has_no_runs():
    assert _count(row("@every 1s", state="paused"), _hour_number(START)).per_hour == {}


def test_calendars_are_applied_to_the_counts():
    closed = CalendarRule("closed", dates=frozenset({START.date()}))
    counted = _count(row("0 * * * *", calendars=CalendarSet((closed,))), _hour_number(START))
    # The calendar reads its day in its own zone (UTC), whatever the job's: 24 hours off.
    assert sum(counted.per_hour.values()) == 8 * 24 - 24
    assert _hour_number(START) not in counted.per_hour
    assert _every_counts(row("@every 1h", calendars=CalendarSet((closed,))), START, START) is None
