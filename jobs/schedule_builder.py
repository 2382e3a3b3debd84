"""The schedule builder's reading of a schedule: what an operator means (an intent) and the
string that says it, both ways.

Pure functions, no Django and no database. `schedule_for(intent)` always gives a string the
strict parser accepts; `intent_for(text)` gives the intent only when the builder can show the
schedule exactly, and None for everything else (the "advanced" text field keeps those).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from enum import StrEnum

from jobs.cron_syntax import ScheduleError
from jobs.schedules import parse_schedule


class Mode(StrEnum):
    MINUTES = "minutes"
    HOURS = "hours"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"
    ONCE = "once"
    MANUAL = "manual"


# Steps that divide the hour (or the day) evenly: `*/7` would restart at every full hour and
# leave a short gap, which nobody choosing "every 7 minutes" expects.
MINUTE_STEPS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)
HOUR_STEPS = (1, 2, 3, 4, 6, 8, 12)
WORKDAYS = frozenset({1, 2, 3, 4, 5})
LAST_DAY = 0  # `day` for "the last day of the month"
WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MONTH_LENGTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class BuilderError(ValueError):
    """An intent the builder cannot write as one schedule; `code` names the reason."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class ScheduleIntent:
    mode: Mode
    every: int = 1  # minutes or hours between runs
    minute: int = 0  # past the hour, for Mode.HOURS
    times: tuple[time, ...] = (time(9, 0),)  # daily, weekly, monthly, yearly
    weekdays: frozenset[int] = field(default=WORKDAYS)  # 0 = Sunday
    day: int = 1  # day of the month; LAST_DAY for the last one
    month: int = 1
    at: datetime | None = None  # naive local wall time, for ONCE


def schedule_for(intent: ScheduleIntent) -> str:
    """The schedule string for `intent`; BuilderError when one string cannot say it."""
    mode = intent.mode
    if mode is Mode.MANUAL:
        return "@manual"
    if mode is Mode.ONCE:
        if intent.at is None:
            raise BuilderError("no_datetime")
        return intent.at.strftime("%Y-%m-%d %H:%M")
    if mode is Mode.MINUTES:
        if intent.every not in MINUTE_STEPS:
            raise BuilderError("bad_step")
        return "* * * * *" if intent.every == 1 else f"*/{intent.every} * * * *"
    if mode is Mode.HOURS:
        if intent.every not in HOUR_STEPS or not 0 <= intent.minute <= 59:
            raise BuilderError("bad_step")
        hours = "*" if intent.every == 1 else f"*/{intent.every}"
        return f"{intent.minute} {hours} * * *"
    minute, hours = _time_fields(intent.times)
    if mode is Mode.DAILY:
        return f"{minute} {hours} * * *"
    if mode is Mode.WEEKLY:
        if not intent.weekdays or not intent.weekdays <= set(range(7)):
            raise BuilderError("no_weekdays")
        return f"{minute} {hours} * * {_weekday_field(intent.weekdays)}"
    if not 1 <= intent.month <= 12 or not LAST_DAY <= intent.day <= 31:
        raise BuilderError("bad_day")
    day = "L" if intent.day == LAST_DAY else str(intent.day)
    if mode is Mode.MONTHLY:
        return f"{minute} {hours} {day} * *"
    if intent.day > MONTH_LENGTH[intent.month - 1]:
        raise BuilderError("bad_day")
    return f"{minute} {hours} {day} {intent.month} *"


def _time_fields(times: tuple[time, ...]) -> tuple[str, str]:
    if not times:
        raise BuilderError("no_times")
    # One cron line holds several hours at one minute; 09:00 and 17:30 need two schedules.
    if len({t.minute for t in times}) > 1:
        raise BuilderError("mixed_minutes")
    hours = sorted({t.hour for t in times})
    return str(times[0].minute), ",".join(str(h) for h in hours)


def _weekday_field(days: frozenset[int]) -> str:
    if len(days) == 7:
        return "*"
    # Monday first, Sunday last (as 7), so that "Monday to Friday" reads 1-5.
    ordered = sorted(7 if d == 0 else d for d in days)
    runs: list[list[int]] = []
    for d in ordered:
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    items = [f"{r[0]}-{r[-1]}" if len(r) > 2 else ",".join(map(str, r)) for r in runs]
    # A Sunday on its own reads as 0, as most crontabs write it.
    return ",".join(["0", *items[:-1]] if items[-1] == "7" else items)


# --- reading a schedule back -------------------------------------------------------------------

NUMBER = r"[0-9]{1,2}"
MACROS = {
    "@hourly": ScheduleIntent(Mode.HOURS),
    "@daily": ScheduleIntent(Mode.DAILY, times=(time(0, 0),)),
    "@midnight": ScheduleIntent(Mode.DAILY, times=(time(0, 0),)),
    "@weekly": ScheduleIntent(Mode.WEEKLY, times=(time(0, 0),), weekdays=frozenset({0})),
    "@monthly": ScheduleIntent(Mode.MONTHLY, times=(time(0, 0),)),
    "@yearly": ScheduleIntent(Mode.YEARLY, times=(time(0, 0),)),
    "@annually": ScheduleIntent(Mode.YEARLY, times=(time(0, 0),)),
}


def intent_for(text: str) -> ScheduleIntent | None:
    """The builder's view of `text`, or None when the builder cannot show it exactly."""
    try:
        schedule = parse_schedule(text)
    except ScheduleError:
        return None
    text = schedule.text
    if schedule.kind == "manual":
        return ScheduleIntent(Mode.MANUAL)
    if schedule.kind == "once":
        # An explicit offset or seconds are more than the builder's date-time box holds.
        match = re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}", text)
        return ScheduleIntent(Mode.ONCE, at=datetime.fromisoformat(text)) if match else None
    if schedule.kind != "cron":
        return None
    if text in MACROS:
        return MACROS[text]
    fields = text.split(" ")
    if len(fields) != 5:
        return None
    intent = _read_cron(*fields)
    # The builder must say exactly what the string says: write it back and compare.
    return intent if intent is not None and _same(intent, text) else None


def _read_cron(minute: str, hour: str, day: str, month: str, weekday: str) -> ScheduleIntent | None:
    if (hour, day, month, weekday) == ("*", "*", "*", "*") and minute.startswith("*"):
        step = _step(minute)
        return ScheduleIntent(Mode.MINUTES, every=step) if step in MINUTE_STEPS else None
    if not re.fullmatch(NUMBER, minute) or int(minute) > 59:
        return None
    if (day, month, weekday) == ("*", "*", "*") and hour.startswith("*"):
        step = _step(hour)
        if step not in HOUR_STEPS:
            return None
        return ScheduleIntent(Mode.HOURS, every=step, minute=int(minute))
    if not re.fullmatch(rf"{NUMBER}(,{NUMBER})*", hour):
        return None
    times = tuple(time(int(h), int(minute)) for h in hour.split(","))
    if (day, month, weekday) == ("*", "*", "*"):
        return ScheduleIntent(Mode.DAILY, times=times)
    if (day, month) == ("*", "*"):
        days = _weekdays(weekday)
        return ScheduleIntent(Mode.WEEKLY, times=times, weekdays=days) if days else None
    if weekday != "*" or not (day == "L" or re.fullmatch(NUMBER, day)):
        return None
    day_number = LAST_DAY if day == "L" else int(day)
    if month == "*":
        return ScheduleIntent(Mode.MONTHLY, times=times, day=day_number)
    month_number = _month(month)
    if month_number is None:
        return None
    return ScheduleIntent(Mode.YEARLY, times=times, day=day_number, month=month_number)


def _step(text: str) -> int | None:
    if text == "*":
        return 1
    match = re.fullmatch(r"\*/([0-9]{1,2})", text)
    return int(match.group(1)) if match else None


def _name_or_number(text: str, names: tuple[str, ...], first: int) -> int | None:
    if text in names:
        return names.index(text) + first
    return int(text) if re.fullmatch(NUMBER, text) else None


def _month(text: str) -> int | None:
    value = _name_or_number(text, MONTH_NAMES, 1)
    return value if value is not None and 1 <= value <= 12 else None


def _weekdays(text: str) -> frozenset[int] | None:
    days: set[int] = set()
    for item in text.split(","):
        first, dash, last = item.partition("-")
        low = _name_or_number(first, WEEKDAY_NAMES, 0)
        high = _name_or_number(last, WEEKDAY_NAMES, 0) if dash else low
        if low is None or high is None:
            return None
        if dash and last == "sun":
            high = 7
        if not 0 <= low <= high <= 7:
            return None
        days |= {d % 7 for d in range(low, high + 1)}
    return frozenset(days)


def _same(intent: ScheduleIntent, text: str) -> bool:
    try:
        written = schedule_for(intent)
    except BuilderError:
        return False
    return parse_schedule(written).text == text or _equivalent(written, text)


def _equivalent(first: str, second: str) -> bool:
    # "mon-fri" and "1,2,3,4,5" say what "1-5" says: compare the parsed fields, not the text.
    a, b = parse_schedule(first).cron, parse_schedule(second).cron
    return a is not None and b is not None and replace(a, numeric="") == replace(b, numeric="")
