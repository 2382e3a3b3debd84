"""The builder's intents and the schedule strings that say them, both ways; no database."""

from datetime import UTC, datetime, time

import pytest

from jobs.schedule_builder import (
    LAST_DAY,
    BuilderError,
    Mode,
    ScheduleIntent,
    intent_for,
    schedule_for,
)
from jobs.schedules import parse_schedule

WEEKEND = frozenset({6, 0})
INTENTS = [
    (ScheduleIntent(Mode.MINUTES, every=5), "*/5 * * * *"),
    (ScheduleIntent(Mode.MINUTES, every=1), "* * * * *"),
    (ScheduleIntent(Mode.HOURS, every=2, minute=15), "15 */2 * * *"),
    (ScheduleIntent(Mode.HOURS, every=1, minute=0), "0 * * * *"),
    (ScheduleIntent(Mode.DAILY, times=(time(9, 0),)), "0 9 * * *"),
    (ScheduleIntent(Mode.DAILY, times=(time(17, 0), time(9, 0))), "0 9,17 * * *"),
    (ScheduleIntent(Mode.WEEKLY, times=(time(8, 30),)), "30 8 * * 1-5"),
    (ScheduleIntent(Mode.WEEKLY, times=(time(7, 0),), weekdays=WEEKEND), "0 7 * * 6,7"),
    (ScheduleIntent(Mode.WEEKLY, weekdays=frozenset({0})), "0 9 * * 0"),
    (ScheduleIntent(Mode.WEEKLY, weekdays=frozenset({1, 3, 5})), "0 9 * * 1,3,5"),
    (ScheduleIntent(Mode.WEEKLY, weekdays=frozenset({4, 5, 6, 0})), "0 9 * * 4-7"),
    (ScheduleIntent(Mode.MONTHLY, times=(time(6, 0),), day=15), "0 6 15 * *"),
    (ScheduleIntent(Mode.MONTHLY, times=(time(18, 0),), day=LAST_DAY), "0 18 L * *"),
    (ScheduleIntent(Mode.YEARLY, times=(time(0, 0),), day=25, month=12), "0 0 25 12 *"),
    (ScheduleIntent(Mode.YEARLY, day=LAST_DAY, month=2), "0 9 L 2 *"),
    (ScheduleIntent(Mode.ONCE, at=datetime(2027, 1, 4, 10, 30)), "2027-01-04 10:30"),
    (ScheduleIntent(Mode.MANUAL), "@manual"),
]


@pytest.mark.parametrize(("intent", "text"), INTENTS)
def test_it_writes_each_intent(intent, text):
    assert schedule_for(intent) == text
    parse_schedule(text, "Europe/Berlin")  # the parser accepts every string the builder writes


@pytest.mark.parametrize(("intent", "text"), INTENTS)
def test_it_reads_each_schedule_back(intent, text):
    assert schedule_for(intent_for(text)) == text
    assert intent_for(text).mode is intent.mode


@pytest.mark.parametrize(
    ("existing", "written"),
    [
        ("30 8 * * mon-fri", "30 8 * * 1-5"),
        ("0 9 * * 1,2,3,4,5", "0 9 * * 1-5"),
        ("0 7 * * SAT,SUN", "0 7 * * 6,7"),
        ("0 7 * * 0,6", "0 7 * * 6,7"),
        ("0 0 1 jan *", "0 0 1 1 *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("  0   9  *  * * ", "0 9 * * *"),
    ],
)
def test_existing_schedules_round_trip_to_the_same_runs(existing, written):
    intent = intent_for(existing)
    assert intent is not None and schedule_for(intent) == written
    after = datetime(2026, 12, 3, tzinfo=UTC)
    before = parse_schedule(existing, "Europe/Berlin").next_runs(60, after)
    assert parse_schedule(written, "Europe/Berlin").next_runs(60, after) == before


@pytest.mark.parametrize(
    "text",
    [
        "0 9-17 * * *",  # a range of hours
        "*/7 * * * *",  # a step that restarts each hour
        "0 */5 * * *",
        "0 9 * * fri#2",
        "0 9 * * 5L",
        "0 9 1 * 1",  # day of month OR day of week
        "0 9 1,15 * *",
        "0 9 * 1-6 *",
        "0 0 9 * * 1-5",  # seconds
        "@every 5m",
        "2027-01-04 10:30Z",
        "2027-01-04 10:30:15",
        "0 0 30 2 *",  # never fires
        "not a schedule",
        "",
    ],
)
def test_what_the_builder_cannot_show_stays_advanced(text):
    assert intent_for(text) is None


@pytest.mark.parametrize(
    ("intent", "code"),
    [
        (ScheduleIntent(Mode.DAILY, times=(time(9, 0), time(17, 30))), "mixed_minutes"),
        (ScheduleIntent(Mode.DAILY, times=()), "no_times"),
        (ScheduleIntent(Mode.WEEKLY, weekdays=frozenset()), "no_weekdays"),
        (ScheduleIntent(Mode.MINUTES, every=7), "bad_step"),
        (ScheduleIntent(Mode.HOURS, every=5), "bad_step"),
        (ScheduleIntent(Mode.YEARLY, day=31, month=4), "bad_day"),
        (ScheduleIntent(Mode.ONCE), "no_datetime"),
    ],
)
def test_it_refuses_what_one_schedule_cannot_say(intent, code):
    with pytest.raises(BuilderError) as caught:
        schedule_for(intent)
    assert caught.value.code == code


def test_every_day_of_the_week_is_every_day():
    assert schedule_for(ScheduleIntent(Mode.WEEKLY, weekdays=frozenset(range(7)))) == "0 9 * * *"
    assert intent_for("0 9 * * 0-6").weekdays == frozenset(range(7))


def test_february_29th_is_a_yearly_day():
    text = schedule_for(ScheduleIntent(Mode.YEARLY, day=29, month=2))
    runs = parse_schedule(text).next_runs(2, datetime(2026, 1, 1, tzinfo=UTC))
    assert [r.year for r in runs] == [2028, 2032]
