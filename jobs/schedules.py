"""Schedules: the strict parser, the fire instants (DST!) and the APScheduler trigger.

Pure time logic: no database, no Django. Every instant handed out is an aware UTC datetime.

DST follows Debian cron. A job at a fixed local time (neither the minute nor the hour field
starts with `*`) runs once per local date: a wall time inside a spring-forward gap runs at the
first instant after the gap, an ambiguous one (fall back) only at its first occurrence. Every
other job runs by elapsed time: it fires at each real instant whose wall time matches, so
`*/15 * * * *` stays 15 real minutes apart through both changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import timezone as FixedOffset
from functools import cache
from itertools import islice, pairwise, takewhile
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, available_timezones

from apscheduler.triggers.base import BaseTrigger

from jobs import schedule_describe
from jobs.cron_syntax import CronExpression, ScheduleError, parse_cron

if TYPE_CHECKING:
    from jobs.calendars import CalendarSchedule

__all__ = [
    "ClockChange",
    "Schedule",
    "ScheduleError",
    "ScheduleTrigger",
    "parse_schedule",
    "parse_timezone",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TICK = timedelta(microseconds=1)
# Like cronsim: a cron expression that matches nothing within 50 years never fires.
HORIZON_YEARS = 50
MAX_EVERY = timedelta(days=366)
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


# --- time zones ----------------------------------------------------------------------------


@cache
def _zone_names() -> frozenset[str]:
    # "localtime" depends on the host and "Factory" is no place: neither is an IANA zone to keep.
    return frozenset(available_timezones() - {"localtime", "Factory", "posixrules"})


def parse_timezone(name: str) -> ZoneInfo:
    name = name.strip()
    if not name:
        raise ScheduleError(
            "Time zone is empty; use an IANA name such as Europe/Berlin or UTC",
            code="unknown_timezone",
            message_zh="时区为空；请使用 IANA 时区名，例如 Asia/Shanghai 或 UTC",
        )
    if name not in _zone_names():
        hint = next((z for z in _zone_names() if z.lower() == name.lower()), None)
        en_hint = f" (did you mean {hint}?)" if hint else "; use an IANA name such as Europe/Berlin"
        zh_hint = f"（是否应为 {hint}？）" if hint else "；请使用 IANA 时区名，例如 Asia/Shanghai"
        raise ScheduleError(
            f"Unknown time zone '{name}'{en_hint}",
            code="unknown_timezone",
            message_zh=f"未知时区“{name}”{zh_hint}",
        )
    return ZoneInfo(name)


# --- @every and one-off dates ----------------------------------------------------------------

DURATION = re.compile(r"(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
ONE_OFF = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?"
    r"(Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?",
    re.IGNORECASE,
)


def _parse_every(duration: str) -> tuple[timedelta, str]:
    duration = duration.replace(" ", "")
    match = DURATION.fullmatch(duration)
    if not duration or not match:
        raise ScheduleError(
            f"'@every {duration}' needs a duration such as 90s, 15m or 1h30m (units h, m, s in "
            "that order)",
            code="bad_duration",
            message_zh=f"“@every {duration}”需要一个时长，例如 90s、15m 或 1h30m"
            "（单位 h、m、s，按此顺序）",
        )
    h, m, s = (int(x or 0) for x in match.groups())
    interval = timedelta(hours=h, minutes=m, seconds=s)
    if not timedelta(seconds=1) <= interval <= MAX_EVERY:
        raise ScheduleError(
            f"'@every {duration}' must be between 1s and 8784h (366 days)",
            code="bad_duration",
            message_zh=f"“@every {duration}”必须在 1s 到 8784h（366 天）之间",
        )
    return interval, f"@every {duration}"


def _parse_once(text: str, tz: ZoneInfo) -> tuple[datetime, str]:
    match = ONE_OFF.fullmatch(text)
    try:
        if not match:
            raise ValueError(text)
        year, month, day, hour, minute, second = (int(g or 0) for g in match.groups()[:6])
        wall = datetime(year, month, day, hour, minute, second)
        offset = match.group(7)
        if offset is None:
            instant = _resolve_wall_time(wall, tz)
        elif offset.upper() == "Z":
            instant = wall.replace(tzinfo=UTC)
        else:
            sign = -1 if offset[0] == "-" else 1
            delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
            instant = wall.replace(tzinfo=FixedOffset(sign * delta)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ScheduleError(
            f"'{text}' is not a valid date and time; write it like 2026-12-01 09:00 or "
            "2026-12-01T09:00:00",
            code="bad_datetime",
            message_zh=f"“{text}”不是有效的日期时间；"
            "请写成 2026-12-01 09:00 或 2026-12-01T09:00:00",
        ) from None
    normalized = wall.strftime("%Y-%m-%d %H:%M:%S" if second else "%Y-%m-%d %H:%M")
    return instant, normalized + (offset.upper() if offset else "")


# --- DST ---------------------------------------------------------------------------------------


def _offset(tz: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(tz).utcoffset()  # type: ignore[return-value]


def _first_change(
    tz: ZoneInfo, start: datetime, end: datetime, offset: timedelta
) -> datetime | None:
    """The first instant in (start, end] whose UTC offset is not `offset`, to the second."""
    # Offsets change at most a few times a year, so sampling every 12 hours cannot step over
    # a change and its reversal.
    previous = start
    while previous < end:
        probe = min(previous + timedelta(hours=12), end)
        if _offset(tz, probe) != offset:
            low = int(previous.timestamp() // 1)  # still at `offset`
            high = -int(-probe.timestamp() // 1)  # already past the change
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(tz, datetime.fromtimestamp(middle, UTC)) == offset:
                    low = middle
                else:
                    high = middle
            return datetime.fromtimestamp(high, UTC)
        previous = probe
    return None


def offset_changes(tz: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The instants in (start, end] at which `tz` changes its UTC offset (DST), in order."""
    changes: list[datetime] = []
    since = start.astimezone(UTC)
    while (change := _first_change(tz, since, end, _offset(tz, since))) is not None:
        changes.append(change)
        since = change
    return changes


def _resolve_wall_time(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant a fixed-time job runs for naive local `wall`, per Debian cron."""
    # fold=0 picks the first of the two occurrences of an ambiguous (fall-back) wall time.
    instant = wall.replace(tzinfo=tz).astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == wall:
        return instant
    # `wall` falls in a spring-forward gap: run at the first instant after it, the transition.
    # With fold=1 a gap time maps to an instant just before the transition.
    before = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return _first_change(tz, before, instant, _offset(tz, before)) or instant


def _wall_times(cron: CronExpression, start: datetime) -> Iterator[datetime]:
    """Naive wall times matching `cron`, strictly after naive `start`, for HORIZON_YEARS."""
    day = start.date()
    after = (start.hour, start.minute, start.second)
    give_up = day.year + HORIZON_YEARS
    while day.year <= give_up:
        if day.month not in cron.months:
            day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
        else:
            if cron.matches(day):
                for h, m, s in cron.times_of_day(after):
                    yield datetime(day.year, day.month, day.day, h, m, s)
                    give_up = day.year + HORIZON_YEARS
            day += timedelta(days=1)
        after = (-1, -1, -1)


def _fixed_time_fires(cron: CronExpression, tz: ZoneInfo, after: datetime) -> Iterator[datetime]:
    # Wall times map to instants without going backwards (gap times all land on the
    # transition), so skipping those not after the last one keeps the output strictly
    # increasing and runs a gap or an ambiguous hour once.
    last = after
    for wall in _wall_times(cron, after.astimezone(tz).replace(tzinfo=None)):
        instant = _resolve_wall_time(wall, tz)
        if instant > last:
            yield instant
            last = instant


def _elapsed_fires(cron: CronExpression, tz: ZoneInfo, after: datetime) -> Iterator[datetime]:
    # Between offset changes local time is UTC plus a constant, so the wall times matching the
    # expression map one to one onto real instants. At a change, start over with the new offset.
    since, bound = after, after  # `since` has offset `offset`; fires are > `bound`
    while True:
        offset = _offset(tz, since)
        start = (bound + offset).replace(tzinfo=None)
        for wall in _wall_times(cron, start):
            instant = (wall - offset).replace(tzinfo=UTC)
            change = _first_change(tz, since, instant, offset)
            if change is not None:
                since, bound = change, change - TICK
                break
            yield instant
            since = instant
        else:
            return


def _every_fires(interval: timedelta, anchor: datetime, after: datetime) -> Iterator[datetime]:
    # Slots are counted from a stored anchor (the instant the job's schedule was set, or the
    # Unix epoch) so they do not move when the scheduler restarts.
    k = (after - anchor) // interval + 1
    while True:
        yield anchor + k * interval
        k += 1


@dataclass(frozen=True)
class ClockChange:
    """A change of the zone's UTC offset (DST) that lands on some of a schedule's wall times."""

    forward: bool  # a gap (spring forward) or a stretch that happens twice (fall back)
    start: datetime  # naive local wall times in [start, end) are skipped or repeated
    end: datetime
    walls: tuple[datetime, ...]  # the schedule's wall times in that stretch
    fixed_time: bool  # once per local date (moved, or run once), or by elapsed time


def _wall_times_between(cron: CronExpression, low: datetime, high: datetime) -> list[datetime]:
    """The naive wall times in [low, high) that `cron` matches."""
    found: list[datetime] = []
    day = low.date()
    while day <= high.date():
        if day.month in cron.months and cron.matches(day):
            for h, m, s in cron.times_of_day((-1, -1, -1)):
                wall = datetime(day.year, day.month, day.day, h, m, s)
                if low <= wall < high:
                    found.append(wall)
        day += timedelta(days=1)
    return found


# --- business days -----------------------------------------------------------------------------

BUSINESS = re.compile(r"@business-day (first|last|[0-9]{1,2})(?: ([0-9]{1,2}):([0-9]{2}))?")
MAX_BUSINESS_DAY = 23  # no month has more business days than that

DayTest = Callable[[date], bool]


def is_weekday(day: date) -> bool:
    return day.weekday() < 5


def _parse_business(text: str) -> tuple[int, int, int, str]:
    match = BUSINESS.fullmatch(text)
    which = match.group(1) if match else ""
    n = -1 if which == "last" else 1 if which == "first" else int(which or 0)
    hour, minute = (int(match.group(g) or 0) for g in (2, 3)) if match else (0, 0)
    if not match or not (n == -1 or 1 <= n <= MAX_BUSINESS_DAY) or hour > 23 or minute > 59:
        raise ScheduleError(
            f"'{text}' is not a business-day schedule; write @business-day first 09:00, "
            "@business-day last 17:30 or @business-day 3 09:00 (the 3rd business day, 1 to 23)",
            code="bad_business_day",
            message_zh=f"“{text}”不是有效的工作日计划；请写成 @business-day first 09:00、"
            "@business-day last 17:30 或 @business-day 3 09:00（每月第 3 个工作日，1 到 23）",
        )
    return n, hour, minute, f"@business-day {which} {hour:02d}:{minute:02d}"


def business_day_of_month(year: int, month: int, n: int, is_business_day: DayTest) -> date | None:
    """The n-th business day of the month (n = -1: the last one); None if it has fewer."""
    day = date(year, month, 1)
    days = []
    while day.month == month:
        if is_business_day(day):
            days.append(day)
        day += timedelta(days=1)
    if n == -1:
        return days[-1] if days else None
    return days[n - 1] if len(days) >= n else None


def _business_fires(
    rule: tuple[int, int, int], tz: ZoneInfo, after: datetime, is_business_day: DayTest
) -> Iterator[datetime]:
    n, hour, minute = rule
    local = after.astimezone(tz)
    year, month = local.year, local.month
    for _ in range(12 * HORIZON_YEARS):
        day = business_day_of_month(year, month, n, is_business_day)
        if day is not None:
            instant = _resolve_wall_time(datetime(day.year, day.month, day.day, hour, minute), tz)
            if instant > after:
                yield instant
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


# --- the schedule --------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    text: str
    tz: ZoneInfo
    kind: str  # "cron" | "every" | "once" | "manual" | "business"
    interval: timedelta | None = None
    anchor: datetime = EPOCH
    _cron: CronExpression | None = field(default=None, repr=False)
    _once: datetime | None = field(default=None, repr=False)
    # Business-day schedules: (n-th business day, -1 for the last; hour; minute).
    _business: tuple[int, int, int] | None = field(default=None, repr=False)

    @property
    def cron(self) -> CronExpression | None:
        """The parsed fields of a cron schedule (macros included); None for the other kinds."""
        return self._cron

    def fires(self, after: datetime, is_business_day: DayTest = is_weekday) -> Iterator[datetime]:
        """Fire instants strictly after `after`; calendars decide the business days."""
        return self._fires(after, is_business_day)

    def _fires(self, after: datetime, is_business_day: DayTest = is_weekday) -> Iterator[datetime]:
        if after.tzinfo is None or after.utcoffset() is None:
            raise ValueError("schedule times must be timezone-aware")
        after = after.astimezone(UTC)
        try:
            if self._cron is not None:
                fires = _fixed_time_fires if self._cron.fixed_time else _elapsed_fires
                yield from fires(self._cron, self.tz, after)
            elif self._business is not None:
                yield from _business_fires(self._business, self.tz, after, is_business_day)
            elif self.interval is not None:
                yield from _every_fires(self.interval, self.anchor, after)
            elif self._once is not None and self._once > after:
                yield self._once
        except OverflowError:  # past year 9999
            return

    def next_after(self, after: datetime) -> datetime | None:
        """First fire instant strictly after `after`, in UTC; None if it never fires again."""
        return next(self._fires(after), None)

    # What the APScheduler trigger asks: without calendars, every fire is a slot.
    next_slot_after = next_after

    def next_runs(self, count: int, after: datetime) -> list[datetime]:
        return list(islice(self._fires(after), max(count, 0)))

    def slots_between(self, start: datetime, end: datetime, limit: int) -> list[datetime]:
        """Fire instants in (start, end], the first `limit` of them."""
        return list(islice(takewhile(lambda t: t <= end, self._fires(start)), max(limit, 0)))

    # Without calendars, every slot runs (see CalendarSchedule).
    runs_between = slots_between

    def never_fires(self, now: datetime | None = None) -> bool:
        return self.next_after(now or datetime.now(UTC)) is None

    def min_interval(self, now: datetime | None = None) -> timedelta | None:
        """Smallest gap between consecutive fires over the next 50."""
        if self.interval is not None:
            return self.interval
        fires = self.next_runs(50, now or datetime.now(UTC))
        return min((b - a for a, b in pairwise(fires)), default=None)

    def clock_changes(self, after: datetime, until: datetime) -> list[ClockChange]:
        """The offset changes in (after, until] that skip or repeat some of this cron
        schedule's wall times. Other kinds count real time or name one instant: none."""
        cron = self._cron
        if cron is None:
            return []
        # Runs every hour of the day lose or gain one as the clocks do: nothing to tell.
        if not cron.fixed_time and len(cron.hours) == 24:
            return []
        changes = []
        for change in offset_changes(self.tz, after, until):
            before = (change + _offset(self.tz, change - TICK)).replace(tzinfo=None)
            later = (change + _offset(self.tz, change)).replace(tzinfo=None)
            forward = later > before
            start, end = (before, later) if forward else (later, before)
            walls = _wall_times_between(cron, start, end)
            if walls:
                changes.append(ClockChange(forward, start, end, tuple(walls), cron.fixed_time))
        return changes

    def describe(self, language: str = "en") -> str:
        zh = language.lower().startswith("zh")
        if self.kind == "manual":
            return schedule_describe.manual(zh)
        if self._business is not None:
            return schedule_describe.business_day(*self._business, zh)
        if self.kind == "every":
            return schedule_describe.every(self.text.removeprefix("@every "), zh)
        if self._once is not None:
            return schedule_describe.once(self._once.astimezone(self.tz), self.tz.key, zh)
        assert self._cron is not None
        if self.text in MACROS:
            return schedule_describe.macro(self.text, zh)
        return schedule_describe.cron(self._cron.numeric, zh)


def parse_schedule(text: str, timezone: str = "UTC", anchor: datetime | None = None) -> Schedule:
    """Parse strictly. `anchor` is where `@every` intervals are counted from (default: epoch)."""
    tz = parse_timezone(timezone)
    text = " ".join(text.split())
    lowered = text.lower()
    if not text:
        raise ScheduleError(
            "Schedule is empty; enter a cron expression such as '0 9 * * 1-5', a macro such as "
            "@daily, or @manual",
            code="empty",
            message_zh="计划为空；请输入 cron 表达式（如“0 9 * * 1-5”）、宏（如 @daily）或 @manual",
        )
    if lowered.startswith("@"):
        name, _, argument = lowered.partition(" ")
        if name == "@every":
            interval, normalized = _parse_every(argument)
            if anchor is not None:
                if anchor.tzinfo is None or anchor.utcoffset() is None:
                    raise ValueError("the anchor must be timezone-aware")
                anchor = anchor.astimezone(UTC)
            return Schedule(normalized, tz, "every", interval=interval, anchor=anchor or EPOCH)
        if name == "@business-day":
            n, hour, minute, normalized = _parse_business(lowered)
            return Schedule(normalized, tz, "business", _business=(n, hour, minute))
        if name == "@manual" and not argument:
            return Schedule(name, tz, "manual")
        if name in MACROS and not argument:
            cron, _ = parse_cron(MACROS[name].split())
            return Schedule(name, tz, "cron", _cron=cron)
        raise ScheduleError(
            f"Unknown macro '{lowered}'; use @yearly, @annually, @monthly, @weekly, @daily, "
            "@midnight, @hourly, @every <duration>, @business-day or @manual",
            code="bad_macro",
            message_zh=f"未知的宏“{lowered}”；可用 @yearly、@annually、@monthly、@weekly、@daily、"
            "@midnight、@hourly、@every <时长>、@business-day 或 @manual",
        )
    if re.match(r"[0-9]{4}-", text):
        instant, normalized = _parse_once(text, tz)
        return Schedule(normalized, tz, "once", _once=instant)
    cron, normalized = parse_cron(lowered.split(" "))
    return Schedule(normalized, tz, "cron", _cron=cron)


# --- APScheduler ---------------------------------------------------------------------------


class ScheduleTrigger(BaseTrigger):
    """Fires a Schedule; never APScheduler's CronTrigger, whose crontab reading differs."""

    __slots__ = ("schedule", "start_at", "end_at")

    def __init__(
        self,
        schedule: Schedule | CalendarSchedule,
        start_at: datetime | None = None,
        end_at: datetime | None = None,
    ) -> None:
        for bound in (start_at, end_at):
            if bound is not None and bound.utcoffset() is None:
                raise ValueError("start_at and end_at must be timezone-aware")
        self.schedule = schedule
        self.start_at = start_at
        self.end_at = end_at

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        after = now - TICK if previous_fire_time is None else previous_fire_time
        if self.start_at is not None:
            after = max(after, self.start_at - TICK)
        fire = self.schedule.next_slot_after(after)
        if fire is None or (self.end_at is not None and fire > self.end_at):
            return None
        return fire

    # Job stores pickle triggers: keep the text, not our internals, so upgrades stay readable.
    def __getstate__(self) -> dict[str, Any]:
        return {
            "version": 1,
            "text": self.schedule.text,
            "timezone": self.schedule.tz.key,
            "anchor": self.schedule.anchor,
            "start_at": self.start_at,
            "end_at": self.end_at,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.schedule = parse_schedule(state["text"], state["timezone"], state.get("anchor"))
        self.start_at = state["start_at"]
        self.end_at = state["end_at"]

    def __str__(self) -> str:
        return f"schedule[{self.schedule.text} {self.schedule.tz.key}]"

    def __repr__(self) -> str:
        return f"<ScheduleTrigger ({self.schedule.text!r}, {self.schedule.tz.key!r})>"
