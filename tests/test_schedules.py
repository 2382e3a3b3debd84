import pickle
import re
from dataclasses import FrozenInstanceError
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from cronsim import CronSim

from jobs.schedules import ScheduleError, ScheduleTrigger, parse_schedule, parse_timezone

START = datetime(2026, 1, 1, tzinfo=UTC)
ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Lord_Howe",  # a 30-minute shift
    "Asia/Shanghai",  # no DST at all
]
ENGLISH_DAY = re.compile(r"(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day")


def local(zone: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- cron semantics ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0 0 * * 0", "0 0 * * 7", "0 0 * * sun", "@weekly"])
def test_it_reads_day_of_week_0_and_7_as_sunday(text: str) -> None:
    runs = parse_schedule(text).next_runs(10, START)
    assert len(runs) == 10
    assert all(run.weekday() == 6 and run.time() == datetime.min.time() for run in runs)


def test_it_ors_day_of_month_and_day_of_week() -> None:
    runs = parse_schedule("0 9 1 * mon").slots_between(START, utc(2026, 3, 1), 100)
    expected = {date(2026, 1, 1), date(2026, 2, 1)} | {
        date(2026, 1, 5) + timedelta(weeks=w) for w in range(8)
    }
    assert [run.date() for run in runs] == sorted(expected)
    assert {run.hour for run in runs} == {9}


def test_it_ands_the_days_when_one_field_starts_with_a_star() -> None:
    # Debian cron: "*/2" in day-of-month restricts Mondays instead of adding days.
    runs = parse_schedule("0 9 */2 * mon").next_runs(20, START)
    assert all(run.weekday() == 0 and run.day % 2 == 1 for run in runs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0 9 * * fri#2", [date(2026, 1, 9), date(2026, 2, 13), date(2026, 3, 13)]),
        ("0 9 * * 5#2", [date(2026, 1, 9), date(2026, 2, 13), date(2026, 3, 13)]),
        ("0 9 * * friL", [date(2026, 1, 30), date(2026, 2, 27), date(2026, 3, 27)]),
        ("0 9 * * 5L", [date(2026, 1, 30), date(2026, 2, 27), date(2026, 3, 27)]),
        ("0 9 L * *", [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)]),
        ("0 9 LW * *", [date(2026, 1, 30), date(2026, 2, 27), date(2026, 3, 31)]),
        ("0 9 * * mon-sun", [date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)]),
    ],
)
def test_it_supports_last_and_nth(text: str, expected: list[date]) -> None:
    assert [run.date() for run in parse_schedule(text).next_runs(3, START)] == expected


@pytest.mark.parametrize(
    "text",
    [
        "0 9 * * fri#2",
        "0 9 * * 5L",
        "0 9 L * *",
        "0 9 LW * *",
        "0 9 1 * mon",
        "0 9 1,15 * 1-5",
        "*/7 3-5 * * *",
        "0 9 1/5 * *",
        "15 10 */2 jan-mar sun-sat",
        "0 9 1 * mon#2,fri",
        "0 9 13 * 5",
        "0 0 31 * *",
        "1-59/7 * * * 0L",
        "*/10 5 * * * *",
    ],
)
def test_it_agrees_with_cronsim_in_utc(text: str) -> None:
    expected = CronSim(text, START)
    assert parse_schedule(text).next_runs(60, START) == [next(expected) for _ in range(60)]


def test_it_fires_every_ten_seconds_with_a_seconds_field() -> None:
    schedule = parse_schedule("*/10 * * * * *")
    runs = schedule.next_runs(7, utc(2026, 1, 1, 0, 0, 3))
    assert runs[0] == utc(2026, 1, 1, 0, 0, 10)
    assert all(b - a == timedelta(seconds=10) for a, b in zip(runs, runs[1:], strict=False))
    assert schedule.min_interval(START) == timedelta(seconds=10)


def test_it_fires_strictly_after() -> None:
    schedule = parse_schedule("0 9 * * *")
    assert schedule.next_after(utc(2026, 1, 1, 9)) == utc(2026, 1, 2, 9)
    assert schedule.next_after(utc(2026, 1, 1, 8, 59, 59, 999999)) == utc(2026, 1, 1, 9)


def test_it_returns_utc_whatever_the_input_zone() -> None:
    schedule = parse_schedule("0 9 * * *", "Asia/Shanghai")
    run = schedule.next_after(local("America/New_York", 2026, 1, 1, 12))
    assert run == utc(2026, 1, 2, 1) and run.tzinfo is UTC


def test_it_requires_aware_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_schedule("* * * * *").next_after(datetime(2026, 1, 1))


def test_it_keeps_the_first_slots_up_to_the_limit() -> None:
    schedule = parse_schedule("0 * * * *")
    slots = schedule.slots_between(START, utc(2026, 1, 2), 5)
    assert slots == [utc(2026, 1, 1, h) for h in range(1, 6)]
    assert schedule.slots_between(START, utc(2026, 1, 1, 2), 100) == [
        utc(2026, 1, 1, 1),
        utc(2026, 1, 1, 2),
    ]


# --- DST ----------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize(
    ("text", "weekdays_only"),
    [("30 2 * * *", False), ("0 0 * * *", False), ("0 9 * * 1-5", True)],
)
def test_it_runs_fixed_time_jobs_once_per_local_date(
    zone: str, text: str, weekdays_only: bool
) -> None:
    tz = ZoneInfo(zone)
    schedule = parse_schedule(text, zone)
    runs = schedule.slots_between(
        local(zone, 2025, 12, 31, 12), local(zone, 2027, 12, 31, 12), 10_000
    )
    assert all(a < b for a, b in zip(runs, runs[1:], strict=False))

    days = [run.astimezone(tz).date() for run in runs]
    all_days = [date(2026, 1, 1) + timedelta(days=n) for n in range(730)]
    expected = [d for d in all_days if not weekdays_only or d.weekday() < 5]
    assert days == expected

    hour, minute = (int(x) for x in text.split()[1::-1])
    for run in runs:
        wall = run.astimezone(tz)
        if (wall.hour, wall.minute) != (hour, minute):
            # Only a wall time lost in a spring-forward gap may move, to the gap's end.
            assert _in_gap(wall.replace(hour=hour, minute=minute, tzinfo=None), tz)
            assert _in_gap((wall - timedelta(seconds=1)).replace(tzinfo=None), tz)


def _in_gap(wall: datetime, tz: ZoneInfo) -> bool:
    return wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall


@pytest.mark.parametrize("zone", ZONES)
def test_it_runs_every_15_minutes_by_elapsed_time(zone: str) -> None:
    schedule = parse_schedule("*/15 * * * *", zone)
    start, end = local(zone, 2026, 1, 1), local(zone, 2028, 1, 1)
    runs = schedule.slots_between(start, end, 100_000)
    assert runs[0] == (start + timedelta(minutes=15)).astimezone(UTC)
    assert runs[-1] == end.astimezone(UTC)
    assert all(b - a == timedelta(minutes=15) for a, b in zip(runs, runs[1:], strict=False))


def test_it_runs_a_time_in_the_spring_gap_at_the_first_instant_after_it() -> None:
    schedule = parse_schedule("30 2 * * *", "Europe/Berlin")
    run = schedule.next_after(local("Europe/Berlin", 2026, 3, 28, 12))
    assert run == local("Europe/Berlin", 2026, 3, 29, 3)
    assert run == utc(2026, 3, 29, 1)
    assert schedule.next_after(run) == local("Europe/Berlin", 2026, 3, 30, 2, 30)


def test_it_runs_an_ambiguous_time_once_at_its_first_occurrence() -> None:
    schedule = parse_schedule("30 2 * * *", "Europe/Berlin")
    run = schedule.next_after(local("Europe/Berlin", 2026, 10, 24, 12))
    assert run == utc(2026, 10, 25, 0, 30)
    # (An ambiguous wall time never compares equal across zones, hence the conversions.)
    assert run == local("Europe/Berlin", 2026, 10, 25, 2, 30, fold=0).astimezone(UTC)
    # Not again at the second 02:30 (01:30 UTC), even when asked from inside the repeat.
    second = local("Europe/Berlin", 2026, 10, 25, 2, 30, fold=1).astimezone(UTC)
    assert second == utc(2026, 10, 25, 1, 30)
    assert schedule.next_after(run) == utc(2026, 10, 26, 1, 30)
    assert schedule.next_after(second - timedelta(minutes=5)) == utc(2026, 10, 26, 1, 30)


def test_it_handles_lord_howes_half_hour_shift() -> None:
    zone = "Australia/Lord_Howe"
    # 2026-10-04 02:00 jumps to 02:30: 02:15 runs at 02:30.
    spring = parse_schedule("15 2 * * *", zone).next_after(local(zone, 2026, 10, 3, 12))
    assert spring == local(zone, 2026, 10, 4, 2, 30) == utc(2026, 10, 3, 15, 30)
    # 2026-04-05 02:00 falls back to 01:30: 01:45 runs once, at +11:00.
    autumn = parse_schedule("45 1 * * *", zone)
    first = autumn.next_after(local(zone, 2026, 4, 4, 12))
    assert first == utc(2026, 4, 4, 14, 45)
    assert autumn.next_after(first) == local(zone, 2026, 4, 6, 1, 45)


def test_it_repeats_wildcard_hour_slots_in_the_fall_back_hour() -> None:
    schedule = parse_schedule("*/30 * * * *", "Europe/Berlin")
    runs = schedule.slots_between(utc(2026, 10, 24, 23), utc(2026, 10, 25, 2), 100)
    walls = [run.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") for run in runs]
    assert walls == ["01:30", "02:00", "02:30", "02:00", "02:30", "03:00"]


def test_it_applies_the_dst_rule_to_six_field_fixed_times() -> None:
    schedule = parse_schedule("0 30 2 * * *", "Europe/Berlin")
    runs = schedule.slots_between(utc(2026, 10, 24), utc(2026, 10, 26), 10)
    assert runs == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30)]


# --- macros, @every, one-off, @manual --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("@yearly", utc(2027, 1, 1)),
        ("@annually", utc(2027, 1, 1)),
        ("@monthly", utc(2026, 2, 1)),
        ("@weekly", utc(2026, 1, 4)),
        ("@daily", utc(2026, 1, 2)),
        ("@midnight", utc(2026, 1, 2)),
        ("@hourly", utc(2026, 1, 1, 1)),
    ],
)
def test_it_expands_macros(text: str, first: datetime) -> None:
    schedule = parse_schedule(text.upper())
    assert (schedule.kind, schedule.text) == ("cron", text)
    assert schedule.next_after(START) == first


@pytest.mark.parametrize(
    ("text", "seconds"), [("@every 90s", 90), ("@every 1h30m", 5400), ("@every 2s", 2)]
)
def test_it_aligns_every_to_the_epoch(text: str, seconds: int) -> None:
    schedule = parse_schedule(text, "Europe/Berlin")
    assert schedule.kind == "every" and schedule.interval == timedelta(seconds=seconds)
    runs = schedule.next_runs(5, utc(2026, 3, 29, 0, 59, 59, 123))
    assert all(int(run.timestamp()) % seconds == 0 for run in runs)
    assert all(b - a == schedule.interval for a, b in zip(runs, runs[1:], strict=False))
    # The grid does not depend on when we ask.
    assert schedule.next_after(runs[1] - timedelta(microseconds=1)) == runs[1]
    assert schedule.min_interval() == schedule.interval


def test_it_counts_every_from_the_anchor() -> None:
    anchor = utc(2026, 3, 1, 12, 0, 0, 250_000)
    schedule = parse_schedule("@every 90s", "UTC", anchor=anchor)
    runs = schedule.next_runs(3, utc(2026, 3, 1, 12, 1))
    assert runs == [anchor + timedelta(seconds=90 * k) for k in (1, 2, 3)]
    # The same anchor gives the same slots after a restart (a pickled trigger round trip).
    trigger = pickle.loads(pickle.dumps(ScheduleTrigger(schedule)))
    assert trigger.schedule.next_runs(3, utc(2026, 3, 1, 12, 1)) == runs


def test_it_runs_a_one_off_once() -> None:
    schedule = parse_schedule("2026-12-01 09:00", "Europe/Berlin")
    assert schedule.kind == "once"
    run = schedule.next_after(START)
    assert run == utc(2026, 12, 1, 8)
    assert schedule.next_after(run) is None
    assert schedule.next_runs(3, START) == [run]
    assert not schedule.never_fires(START)
    assert schedule.never_fires(run)


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-12-01T09:00:00", utc(2026, 12, 1, 8)),
        ("2026-12-01T09:00:00+05:00", utc(2026, 12, 1, 4)),
        ("2026-12-01 09:00Z", utc(2026, 12, 1, 9)),
        ("2026-03-29 02:30", utc(2026, 3, 29, 1)),  # in the gap: the first instant after it
        ("2026-10-25 02:30", utc(2026, 10, 25, 0, 30)),  # ambiguous: the first occurrence
    ],
)
def test_it_reads_one_off_dates_in_the_job_zone(text: str, instant: datetime) -> None:
    assert parse_schedule(text, "Europe/Berlin").next_after(START) == instant


def test_it_never_fires_manual_jobs() -> None:
    schedule = parse_schedule("@manual", "Asia/Shanghai")
    assert schedule.kind == "manual"
    assert schedule.next_after(START) is None
    assert schedule.never_fires()
    assert schedule.min_interval() is None


@pytest.mark.parametrize(
    ("text", "never"),
    [("0 0 30 2 *", True), ("0 0 31 4,6 *", True), ("0 0 29 2 *", False), ("0 0 * 2 mon#5", False)],
)
def test_it_knows_when_a_schedule_never_fires(text: str, never: bool) -> None:
    assert parse_schedule(text).never_fires(START) is never


# --- rejections ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code", "fragments"),
    [
        ("61 * * * *", "out_of_range", ["Minute", "61", "0-59"]),
        ("0 24 * * *", "out_of_range", ["Hour", "24"]),
        ("0 9 * 13 *", "out_of_range", ["Month", "13"]),
        ("0 9 * * 8", "out_of_range", ["Day-of-week", "8", "0-7"]),
        ("*/0 * * * *", "bad_step", ["Minute", "step", "0"]),
        ("0 9 * * fri#9", "bad_nth", ["#9", "1-5"]),
        ("0 9 * * 5-1", "bad_range", ["5-1"]),
        ("0 9 ? * *", "bad_value", ["Day-of-month", "?"]),
        ("0 9 * * monday", "bad_value", ["monday"]),
        ("0 9 1#2 * *", "bad_value", ["#"]),
        ("0,,5 * * * *", "bad_value", ["empty"]),
        ("* * * * * * *", "field_count", ["7 fields"]),
        ("0 9 * *", "field_count", ["4 fields"]),
        ("hello", "field_count", ["1 field"]),
        ("", "empty", ["empty"]),
        ("   ", "empty", ["empty"]),
        ("@reboot", "bad_macro", ["@reboot"]),
        ("@daily 5", "bad_macro", ["@daily 5"]),
        ("@every", "bad_duration", ["duration"]),
        ("@every 0s", "bad_duration", ["1s"]),
        ("@every 90", "bad_duration", ["90"]),
        ("@every 1d", "bad_duration", ["1d"]),
        ("2026-13-01 09:00", "bad_datetime", ["2026-13-01"]),
        ("2026-12-01", "bad_datetime", ["2026-12-01"]),
    ],
)
def test_it_rejects_bad_schedules(text: str, code: str, fragments: list[str]) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(text, "Europe/Berlin")
    error = caught.value
    assert error.code == code
    for fragment in fragments:
        assert fragment in error.message
    assert str(error) == error.message == error.message_for("en")
    assert error.message_for("zh-hans") == error.message_zh != error.message


@pytest.mark.parametrize("name", ["Mars/Olympus", "europe/berlin", "localtime", "", "  "])
def test_it_rejects_unknown_time_zones(name: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule("0 9 * * *", name)
    assert caught.value.code == "unknown_timezone"
    assert name.strip() in caught.value.message
    assert caught.value.message_zh


def test_it_suggests_the_right_case_for_a_time_zone() -> None:
    with pytest.raises(ScheduleError, match="did you mean Europe/Berlin"):
        parse_timezone("europe/berlin")
    assert parse_timezone("Australia/Lord_Howe") == ZoneInfo("Australia/Lord_Howe")


# --- the schedule object ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("  0  9 * *   MON-FRI ", "0 9 * * mon-fri"),
        ("0 9 l * FRIl", "0 9 L * friL"),
        ("@Every 1H30M", "@every 1h30m"),
        ("2026-12-01t09:00:00", "2026-12-01 09:00"),
        ("@MANUAL", "@manual"),
    ],
)
def test_it_normalizes_the_text(text: str, normalized: str) -> None:
    schedule = parse_schedule(text, "Europe/Berlin")
    assert schedule.text == normalized
    assert parse_schedule(schedule.text, "Europe/Berlin") == schedule


def test_it_is_immutable() -> None:
    schedule = parse_schedule("0 9 * * *")
    with pytest.raises(FrozenInstanceError):
        schedule.text = "0 10 * * *"  # type: ignore[misc]


def test_it_measures_the_smallest_gap() -> None:
    assert parse_schedule("* * * * *").min_interval(START) == timedelta(minutes=1)
    assert parse_schedule("0,1 9 * * *").min_interval(START) == timedelta(minutes=1)
    assert parse_schedule("0 9 * * *").min_interval(START) == timedelta(days=1)
    assert parse_schedule("2026-12-01 09:00").min_interval(START) is None


# --- descriptions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "english", "chinese"),
    [
        ("0 9 * * 1-5", "At 09:00, Monday through Friday", "在 09:00，周一 到 周五"),
        ("0 0 * * 7", "At 00:00, only on Sunday", "在 00:00，仅在 周日"),
        (
            "0 9 * * fri#2",
            "At 09:00, on the second Friday of the month",
            "在 09:00，每月的第二个周五",
        ),
        (
            "0 9 1 * friL",
            "At 09:00, on day 1 of the month, or on the last Friday of the month",
            "在 09:00，每月的 1 号，或每月的最后一个周五",
        ),
        ("0 12 * jan,jun *", "At 12:00, only in January and June", "在 12:00，仅在 1月 和 6月"),
        ("*/15 * * * *", "Every 15 minutes", "每 15 分钟"),
        ("@daily", "Every day at 00:00", "每天 00:00"),
        ("@every 90s", "Every 90 seconds", "每 90 秒"),
        ("@every 1h30m", "Every 1 hour and 30 minutes", "每 1 小时 30 分钟"),
        ("@every 1m", "Every minute", "每分钟"),
        (
            "@manual",
            "Only when started by hand, by the API or by another job",
            "仅在手动、API 或上游任务触发时运行",
        ),
        (
            "2026-12-01 09:00",
            "Once, at 2026-12-01 09:00 (Europe/Berlin)",
            "仅一次，于 2026-12-01 09:00（Europe/Berlin）",
        ),
    ],
)
def test_it_describes_schedules(text: str, english: str, chinese: str) -> None:
    schedule = parse_schedule(text, "Europe/Berlin")
    assert schedule.describe() == schedule.describe("en") == english
    assert schedule.describe("zh-hans") == chinese


@pytest.mark.parametrize(
    "text",
    ["0 9 * * 1-5", "0 9 * * mon,wed,fri", "0 9 * * sat-sun", "0 9 1 * 1L", "0 9 * * 1#1,5#3"],
)
def test_it_names_weekdays_in_chinese(text: str) -> None:
    chinese = parse_schedule(text).describe("zh-hans")
    assert "周" in chinese
    assert not ENGLISH_DAY.search(chinese)


# --- APScheduler --------------------------------------------------------------------------


def test_trigger_fires_at_or_after_now_first() -> None:
    trigger = ScheduleTrigger(parse_schedule("0 * * * *"))
    assert trigger.get_next_fire_time(None, utc(2026, 1, 1, 5)) == utc(2026, 1, 1, 5)
    assert trigger.get_next_fire_time(None, utc(2026, 1, 1, 5, 0, 1)) == utc(2026, 1, 1, 6)
    assert trigger.get_next_fire_time(utc(2026, 1, 1, 5), utc(2026, 1, 1, 9)) == utc(2026, 1, 1, 6)


def test_trigger_respects_start_and_end() -> None:
    trigger = ScheduleTrigger(
        parse_schedule("0 * * * *"), start_at=utc(2026, 1, 1, 10), end_at=utc(2026, 1, 1, 12)
    )
    assert trigger.get_next_fire_time(None, utc(2026, 1, 1, 5)) == utc(2026, 1, 1, 10)
    assert trigger.get_next_fire_time(utc(2026, 1, 1, 11), utc(2026, 1, 1, 11)) == utc(
        2026, 1, 1, 12
    )
    assert trigger.get_next_fire_time(utc(2026, 1, 1, 12), utc(2026, 1, 1, 12)) is None
    assert trigger.get_next_fire_time(None, utc(2026, 1, 1, 12, 30)) is None


def test_trigger_pickles_by_text() -> None:
    trigger = ScheduleTrigger(parse_schedule("0 9 * * fri#2", "Europe/Berlin"), end_at=START)
    copy = pickle.loads(pickle.dumps(trigger))
    assert copy.schedule == trigger.schedule and copy.end_at == START and copy.start_at is None
    assert str(copy) == "schedule[0 9 * * fri#2 Europe/Berlin]"


def test_trigger_works_in_a_background_scheduler() -> None:
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.start(paused=True)
    try:
        now = datetime.now(UTC)
        start_at = now + timedelta(days=3)
        trigger = ScheduleTrigger(parse_schedule("*/10 * * * * *"), start_at=start_at)
        job = scheduler.add_job(print, trigger=trigger)
        expected = parse_schedule("*/10 * * * * *").next_after(start_at - timedelta(microseconds=1))
        assert job.next_run_time == expected
    finally:
        scheduler.shutdown(wait=False)


# --- differential: cronsim across DST zones --------------------------------------------------

DIFFERENTIAL_ZONES = [*ZONES, "America/Santiago", "Europe/London"]
DIFFERENTIAL_EXPRESSIONS = [
    "30 2 * * *",
    "0 2 * * *",
    "15 1 * * *",
    "45 1 * * *",
    "0 3 * * *",
    "*/15 * * * *",
    "0 * * * *",
    "* 2 * * *",
    "30 2 * * 0",
    "0 9 * * 1-5",
    "0 0 1 * *",
    "30 1,2,3 * * *",
    "0 */2 * * *",
    "59 23 L * *",
    "0 2 * * fri#2",
    "*/20 1-3 * * *",
]
# Lord Howe falls back from 02:00 (+11:00) to 01:30 (+10:30): 02:00-02:29 then happens once,
# after the repeated half hour. cronsim skips those minutes; ours runs them, as Debian cron does.
CRONSIM_DIFFERENCES = {
    ("Australia/Lord_Howe", "* 2 * * *"): [utc(2026, 4, 4, 15, 30 + m) for m in range(30)],
    ("Australia/Lord_Howe", "0 */2 * * *"): [utc(2026, 4, 4, 15, 30)],
}


@pytest.mark.parametrize("zone", DIFFERENTIAL_ZONES)
@pytest.mark.parametrize("text", DIFFERENTIAL_EXPRESSIONS)
def test_it_agrees_with_cronsim_across_dst_changes(text: str, zone: str) -> None:
    # One year: every zone's spring and autumn changes, and Santiago's in the other order.
    start, end = utc(2026, 1, 1), utc(2027, 1, 1)
    ours = [t for t in parse_schedule(text, zone).slots_between(start, end, 200_000) if t < end]
    theirs = []
    for fire in CronSim(text, start.astimezone(ZoneInfo(zone))):
        if fire.astimezone(UTC) >= end:
            break
        if fire.astimezone(UTC) > start:
            theirs.append(fire.astimezone(UTC))
    only_ours = sorted(set(ours) - set(theirs))
    assert sorted(set(theirs) - set(ours)) == []
    assert only_ours == CRONSIM_DIFFERENCES.get((zone, text), [])
    assert len(ours) == len(set(ours))


def test_clock_changes_name_the_wall_times_they_skip_or_repeat():
    december = datetime(2026, 12, 3, tzinfo=UTC)
    year = december + timedelta(days=366)
    spring, autumn = parse_schedule("0,30 2 * * *", "Europe/Berlin").clock_changes(december, year)
    assert (spring.forward, spring.start, spring.end) == (
        True,
        datetime(2027, 3, 28, 2, 0),
        datetime(2027, 3, 28, 3, 0),
    )
    assert spring.walls == (datetime(2027, 3, 28, 2, 0), datetime(2027, 3, 28, 2, 30))
    assert not autumn.forward and autumn.walls[0] == datetime(2027, 10, 31, 2, 0)
    assert spring.fixed_time and autumn.fixed_time
    # Elapsed-time jobs over every hour, @every, one-offs and zones without DST: nothing.
    for text, zone in [("*/15 * * * *", "Europe/Berlin"), ("@every 1h", "Europe/Berlin")]:
        assert parse_schedule(text, zone).clock_changes(december, year) == []
    assert parse_schedule("30 2 * * *", "Asia/Shanghai").clock_changes(december, year) == []
