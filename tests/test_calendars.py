"""The calendars' time logic (jobs.calendars): pure functions, no database."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from jobs.calendars import (
    CalendarRule,
    CalendarSchedule,
    CalendarSet,
    Verdict,
    Window,
    calendar_reason,
    window_from_json,
)
from jobs.schedules import ScheduleError, business_day_of_month, is_weekday, parse_schedule

CHRISTMAS = CalendarRule("xmas", dates=frozenset({date(2026, 12, 25)}))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def daily(mode: str, *rules: CalendarRule) -> CalendarSchedule:
    return CalendarSchedule(parse_schedule("0 9 * * *", "UTC"), CalendarSet(rules), mode)


class TestSkip:
    def test_a_hand_picked_date_is_a_slot_but_not_a_run(self):
        schedule = daily("skip", CHRISTMAS)
        after = at("2026-12-23T12:00")
        assert schedule.slots_between(after, at("2026-12-27T00:00"), 10) == [
            at("2026-12-24T09:00"),
            at("2026-12-25T09:00"),
            at("2026-12-26T09:00"),
        ]
        assert schedule.next_runs(2, after) == [at("2026-12-24T09:00"), at("2026-12-26T09:00")]
        assert schedule.verdict(at("2026-12-25T09:00")) == Verdict("xmas", "hand-picked date", True)
        assert schedule.verdict(at("2026-12-24T09:00")) is None

    def test_public_holidays_come_from_the_library(self):
        china = CalendarRule("cn", timezone="Asia/Shanghai", country="CN")
        schedule = CalendarSchedule(
            parse_schedule("0 9 * * *", "Asia/Shanghai"), CalendarSet((china,)), "skip"
        )
        runs = schedule.next_runs(3, at("2026-09-30T00:00"))
        # 1 to 3 October is National Day.
        assert [r.astimezone(china.tz).date() for r in runs][0] == date(2026, 9, 30)
        assert all(r.astimezone(china.tz).date() > date(2026, 10, 3) for r in runs[1:])
        verdict = schedule.verdict(at("2026-10-01T01:00"))
        assert verdict is not None and verdict.why == "National Day"


class TestNextAllowed:
    def test_a_slot_moves_to_the_end_of_the_excluded_day(self):
        schedule = daily("next_allowed", CHRISTMAS)
        slots = schedule.slots_between(at("2026-12-24T12:00"), at("2026-12-26T12:00"), 10)
        assert slots == [at("2026-12-26T00:00"), at("2026-12-26T09:00")]
        verdict = schedule.verdict(at("2026-12-26T00:00"))
        assert verdict == Verdict("xmas", "hand-picked date", False, at("2026-12-25T09:00"))
        assert schedule.verdict(at("2026-12-26T09:00")) is None
        assert calendar_reason(verdict).english == (
            "Moved from 2026-12-25 09:00 UTC by calendar xmas: hand-picked date."
        )

    def test_slots_of_one_window_become_one(self):
        night = CalendarRule("night", windows=(Window(start=time(1), end=time(3)),))
        schedule = CalendarSchedule(
            parse_schedule("*/30 * * * *", "UTC"), CalendarSet((night,)), "next_allowed"
        )
        slots = schedule.slots_between(at("2026-05-01T00:45"), at("2026-05-01T03:45"), 10)
        assert slots == [at("2026-05-01T03:00"), at("2026-05-01T03:30")]

    def test_a_calendar_blocking_every_day_never_allows(self):
        days = frozenset(date(2026, 1, 1) + timedelta(days=d) for d in range(2000))
        schedule = daily("next_allowed", CalendarRule("all", dates=days))
        assert schedule.next_after(at("2026-01-01T00:00")) is None


class TestWindows:
    def test_a_window_across_midnight_in_another_zone(self):
        # 23:00–02:00 Tokyo is 14:00–17:00 UTC; the Sunday one starts on Sunday.
        tokyo = CalendarRule(
            "tokyo night",
            timezone="Asia/Tokyo",
            windows=(Window(start=time(23), end=time(2), weekdays=frozenset({7})),),
        )
        rules = CalendarSet((tokyo,))
        sunday_night = at("2026-05-03T15:30")  # Monday 00:30 in Tokyo
        assert rules.block(sunday_night).until == at("2026-05-03T17:00")
        assert rules.block(at("2026-05-03T13:59")) is None
        assert rules.block(at("2026-05-04T15:30")) is None  # Monday night: not a Sunday

    def test_one_off_windows_take_whole_days(self):
        freeze = window_from_json({"from": "2026-12-24", "to": "2027-01-02"})
        assert freeze.occurrence(datetime(2027, 1, 2, 23, 59)) is not None
        assert freeze.occurrence(datetime(2027, 1, 3, 0, 0)) is None
        assert freeze.occurrence(datetime(2026, 12, 23, 23, 59)) is None


class TestBusinessDays:
    def test_the_first_business_day_skips_a_holiday_on_the_first(self):
        new_year = CalendarRule("ny", dates=frozenset({date(2027, 1, 1)}))
        schedule = CalendarSchedule(
            parse_schedule("@business-day first 09:00", "UTC"), CalendarSet((new_year,)), "skip"
        )
        # 1 January 2027 is a Friday and a holiday; 2 and 3 are the weekend.
        assert schedule.next_runs(2, at("2026-12-15T00:00")) == [
            at("2027-01-04T09:00"),
            at("2027-02-01T09:00"),
        ]

    def test_last_and_nth(self):
        last = parse_schedule("@business-day last 17:30", "Europe/Berlin")
        assert last.next_after(at("2026-01-01T00:00")) == at("2026-01-30T16:30")
        third = parse_schedule("@business-day 3", "UTC")
        assert third.next_after(at("2026-03-01T00:00")) == at("2026-03-04T00:00")
        assert third.describe() == "At 00:00 on the 3rd business day of every month"
        assert third.describe("zh-hans") == "每月第 3 个工作日 00:00"
        assert business_day_of_month(2026, 2, 23, is_weekday) is None

    @pytest.mark.parametrize("text", ["@business-day", "@business-day 24", "@business-day x 9:00"])
    def test_bad_ones_are_rejected(self, text):
        with pytest.raises(ScheduleError) as error:
            parse_schedule(text, "UTC")
        assert error.value.code == "bad_business_day"
