"""Calendars: the days and periods a job's schedule keeps out of, applied to its fire instants.

Pure time logic, like jobs.schedules: no database, no Django. A calendar excludes whole days
(public holidays from the `holidays` library, dates picked by hand) and windows (recurring by
weekday and wall time, or one-off), all read in the calendar's own time zone.

CalendarSchedule wraps a job's Schedule with its calendars. The APScheduler trigger, the preview,
the job's next runs, "why didn't it run?" and the week ahead all go through it, so they cannot
disagree about which slots exist and which of them run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from itertools import islice, takewhile
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holidays_lib

from jobs.run_reasons import Reason, reason
from jobs.schedules import Schedule, _resolve_wall_time, is_weekday

TICK = timedelta(microseconds=1)
SKIP = "skip"
NEXT_ALLOWED = "next_allowed"
# Back-to-back blocked periods walked through before a slot counts as never allowed: a calendar
# blocking every day would otherwise loop for ever.
MAX_CHAINED_BLOCKS = 1000


# --- public holidays -------------------------------------------------------------------------

_holidays_lock = threading.Lock()


@cache
def _country_holidays(
    country: str, subdivision: str, language: str = "en_US"
) -> holidays_lib.HolidayBase:
    found = holidays_lib.country_holidays(country, subdiv=subdivision or None)
    # Names in the language asked for when the library has it, else in English, else in the
    # country's own (what the scheduler writes in reasons is English where it can be).
    for wanted in (language, "en_US"):
        if wanted in (found.supported_languages or ()):
            return holidays_lib.country_holidays(
                country, subdiv=subdivision or None, language=wanted
            )
    return found


def holiday_name(country: str, subdivision: str, day: date, language: str = "en_US") -> str | None:
    # The library fills its table a year at a time on first look-up: one thread at a time.
    with _holidays_lock:
        return _country_holidays(country, subdivision, language).get(day)


def holiday_language(django_language: str) -> str:
    """The `holidays` library's name of a page's language."""
    return "zh_CN" if django_language.lower().startswith("zh") else "en_US"


def check_holidays(country: str, subdivision: str) -> str | None:
    """None if the library knows the country (and subdivision), else what is wrong."""
    try:
        _country_holidays(country, subdivision)
    except NotImplementedError as exc:
        return str(exc)
    return None


# --- windows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A recurring window (weekdays, start and end wall times; an end not after the start ends
    on the next day) or a one-off one (`start_on` to `end_on`, naive local date-times)."""

    start: time = time(0)
    end: time = time(0)
    weekdays: frozenset[int] = frozenset()  # ISO: 1 Monday … 7 Sunday; empty: every day
    start_on: datetime | None = None
    end_on: datetime | None = None

    def occurrence(self, wall: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence [since, until) holding naive local `wall`, if one does."""
        if self.start_on is not None and self.end_on is not None:
            return (self.start_on, self.end_on) if self.start_on <= wall < self.end_on else None
        length = datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)
        if length <= timedelta(0):
            length += timedelta(days=1)
        # An occurrence may have started the day before (a window across midnight).
        for start_day in (wall.date(), wall.date() - timedelta(days=1)):
            if self.weekdays and start_day.isoweekday() not in self.weekdays:
                continue
            since = datetime.combine(start_day, self.start)
            if since <= wall < since + length:
                return since, since + length
        return None


# --- calendars -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """Why an instant is excluded, and the period [since, until) it belongs to (UTC)."""

    calendar: str
    why: str  # the holiday's name, "hand-picked date" or the window
    since: datetime
    until: datetime


@dataclass(frozen=True)
class CalendarRule:
    name: str
    timezone: str = "UTC"
    dates: frozenset[date] = frozenset()
    country: str = ""
    subdivision: str = ""
    windows: tuple[Window, ...] = ()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def day_reason(self, day: date, language: str = "en_US") -> str | None:
        """Why `day` is excluded as a whole day, if it is."""
        if day in self.dates:
            return "hand-picked date"
        if self.country:
            return holiday_name(self.country, self.subdivision, day, language)
        return None

    def block(self, instant: datetime) -> Block | None:
        tz = self.tz
        wall = instant.astimezone(tz).replace(tzinfo=None)
        found = _day_block(self, wall.date())
        if found is not None:
            return found
        for window in self.windows:
            found = window.occurrence(wall)
            if found is not None:
                since, until = (_resolve_wall_time(w, tz) for w in found)
                label = f"window {found[0]:%Y-%m-%d %H:%M}–{found[1]:%Y-%m-%d %H:%M} {tz.key}"
                return Block(self.name, label, since, max(until, instant + TICK))
        return None

    def next_holidays(
        self, start: date, count: int, language: str = "en_US"
    ) -> list[tuple[date, str | None]]:
        """The next `count` excluded days from `start` on: public holidays with their names
        (in `language` where the library has it), hand-picked dates with None."""
        found: list[tuple[date, str | None]] = []
        day = start
        for _ in range(800):  # two years ahead at most
            if day in self.dates:
                found.append((day, None))
            elif (name := self.day_reason(day, language)) is not None:
                found.append((day, name))
            if len(found) >= count:
                break
            day += timedelta(days=1)
        return found


@lru_cache(maxsize=100_000)
def _day_block(rule: CalendarRule, day: date) -> Block | None:
    # Asked for every slot of every job with calendars (the week ahead: thousands a job), so
    # each day is looked up, and its bounds worked out, once.
    reason = rule.day_reason(day)
    if reason is None:
        return None
    tz = rule.tz
    midnight = datetime.combine(day, time(0))
    since = _resolve_wall_time(midnight, tz)
    until = _resolve_wall_time(midnight + timedelta(days=1), tz)
    return Block(rule.name, reason, since, until)


@dataclass(frozen=True)
class CalendarSet:
    """A job's calendars; empty, it excludes nothing."""

    rules: tuple[CalendarRule, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.rules)

    @property
    def names(self) -> list[str]:
        return [rule.name for rule in self.rules]

    def block(self, instant: datetime) -> Block | None:
        for rule in self.rules:
            found = rule.block(instant)
            if found is not None:
                return found
        return None

    def blocked_periods(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The excluded periods [since, until) meeting [start, end), merged where they touch:
        the same instants `block` excludes, as a list (for counting without walking slots)."""
        found: list[tuple[datetime, datetime]] = []
        for rule in self.rules:
            tz = rule.tz
            first = start.astimezone(tz).date() - timedelta(days=1)
            days = [first + timedelta(days=n) for n in range((end - start).days + 3)]
            for day in days:
                block = _day_block(rule, day)
                if block is not None:
                    found.append((block.since, block.until))
            for window in rule.windows:
                if window.start_on is not None and window.end_on is not None:
                    walls = [(window.start_on, window.end_on)]
                else:
                    walls = [
                        found_wall
                        for day in days
                        if (found_wall := window.occurrence(datetime.combine(day, window.start)))
                        and found_wall[0].date() == day
                    ]
                for since, until in walls:
                    found.append((_resolve_wall_time(since, tz), _resolve_wall_time(until, tz)))
        merged: list[tuple[datetime, datetime]] = []
        for since, until in sorted(p for p in found if p[1] > start and p[0] < end):
            if merged and since <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], until))
            else:
                merged.append((since, until))
        return merged

    def is_business_day(self, day: date) -> bool:
        return is_weekday(day) and all(rule.day_reason(day) is None for rule in self.rules)

    def next_allowed(self, instant: datetime) -> datetime | None:
        """`instant` if no calendar excludes it, else the first instant after what does."""
        for _ in range(MAX_CHAINED_BLOCKS):
            found = self.block(instant)
            if found is None:
                return instant
            instant = found.until
        return None

    def chain_start(self, instant: datetime) -> datetime:
        """Where the run of back-to-back blocked periods ending just before `instant` starts."""
        start = instant
        for _ in range(MAX_CHAINED_BLOCKS):
            found = self.block(start - TICK)
            if found is None:
                break
            start = found.since
        return start


# --- what happens to one slot ------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """A slot a calendar touched: skipped, or moved here from `moved_from`."""

    calendar: str
    why: str
    skipped: bool
    moved_from: datetime | None = None


def calendar_reason(verdict: Verdict) -> Reason:
    """The ledger's reason for a slot a calendar skipped or moved (its cause is "calendar")."""
    if verdict.skipped:
        return reason("calendar_skipped", calendar=verdict.calendar, why=verdict.why)
    moved = verdict.moved_from.strftime("%Y-%m-%d %H:%M") if verdict.moved_from else "?"
    return reason("calendar_moved", moved=moved, calendar=verdict.calendar, why=verdict.why)


# --- the schedule with its calendars ----------------------------------------------------------


@dataclass(frozen=True)
class CalendarSchedule:
    """A Schedule as a job's calendars shape it: the one source of its slots and runs.

    Slots are what the scheduler records a row for; runs are the slots that run. With `skip`, a
    slot in an excluded period stays a slot (recorded `skipped`, cause calendar) but is not a
    run. With `next_allowed`, it moves to the end of the excluded period (slots moving to the
    same instant become one).
    """

    schedule: Schedule
    calendars: CalendarSet = field(default_factory=CalendarSet)
    on_calendar: str = SKIP

    # The Schedule's own attributes, for code that handles either.
    @property
    def text(self) -> str:
        return self.schedule.text

    @property
    def tz(self) -> ZoneInfo:
        return self.schedule.tz

    @property
    def kind(self) -> str:
        return self.schedule.kind

    @property
    def anchor(self) -> datetime:
        return self.schedule.anchor

    @property
    def interval(self) -> timedelta | None:
        return self.schedule.interval

    def describe(self, language: str = "en") -> str:
        return self.schedule.describe(language)

    def min_interval(self, now: datetime | None = None) -> timedelta | None:
        return self.schedule.min_interval(now)

    def _base(self, after: datetime) -> Iterator[datetime]:
        return self.schedule.fires(after, self.calendars.is_business_day)

    def slots(self, after: datetime) -> Iterator[datetime]:
        if not self.calendars or self.on_calendar == SKIP:
            yield from self._base(after)
            return
        last = after
        for instant in self._base(after):
            moved = self.calendars.next_allowed(instant)
            if moved is None:
                return
            if moved > last:
                yield moved
                last = moved

    def runs(self, after: datetime) -> Iterator[datetime]:
        if not self.calendars or self.on_calendar != SKIP:
            return self.slots(after)
        return (t for t in self.slots(after) if self.calendars.block(t) is None)

    def next_slot_after(self, after: datetime) -> datetime | None:
        return next(self.slots(after), None)

    def next_after(self, after: datetime) -> datetime | None:
        return next(self.runs(after), None)

    def next_runs(self, count: int, after: datetime) -> list[datetime]:
        return list(islice(self.runs(after), max(count, 0)))

    def slots_between(self, start: datetime, end: datetime, limit: int) -> list[datetime]:
        """Slots in (start, end], the first `limit` of them."""
        return list(islice(takewhile(lambda t: t <= end, self.slots(start)), max(limit, 0)))

    def runs_between(self, start: datetime, end: datetime, limit: int) -> list[datetime]:
        """Runs in (start, end], the first `limit` of them."""
        return list(islice(takewhile(lambda t: t <= end, self.runs(start)), max(limit, 0)))

    def never_fires(self, now: datetime | None = None) -> bool:
        return self.next_after(now or datetime.now(UTC)) is None

    def verdict(self, slot: datetime) -> Verdict | None:
        """What the calendars did to the slot at `slot`, if anything."""
        if not self.calendars:
            return None
        if self.on_calendar == SKIP:
            found = self.calendars.block(slot)
            return Verdict(found.calendar, found.why, True) if found else None
        start = self.calendars.chain_start(slot)
        if start == slot:
            return None
        original = next(self._base(start - TICK), None)
        if original is None or original >= slot:
            return None  # a slot of its own, right after an excluded period
        found = self.calendars.block(original)
        if found is None:
            return None
        return Verdict(found.calendar, found.why, False, moved_from=original)


def with_calendars(
    schedule: Schedule, calendars: CalendarSet, on_calendar: str
) -> Schedule | CalendarSchedule:
    """The schedule to use for a job: its own, or wrapped when it has calendars."""
    return CalendarSchedule(schedule, calendars, on_calendar) if calendars else schedule


def window_from_json(data: dict[str, Any]) -> Window:
    """A window as stored (checked by jobs.validators.clean_windows)."""
    if "from" in data:
        return Window(start_on=_wall(data["from"], False), end_on=_wall(data["to"], True))
    return Window(
        start=time.fromisoformat(data["start"]),
        end=time.fromisoformat(data["end"]),
        weekdays=frozenset(data.get("days") or ()),
    )


def _wall(text: str, end: bool) -> datetime:
    # A date alone is the whole day: from its start, or to the end of it.
    if len(text) == 10:
        day = datetime.fromisoformat(text)
        return day + timedelta(days=1) if end else day
    return datetime.fromisoformat(text).replace(tzinfo=None)
