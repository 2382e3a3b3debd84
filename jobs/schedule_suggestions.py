"""What to write instead of a schedule the parser rejects, for the common ways people get it
wrong: plain words ("every day at 9", "9am weekdays", "每天 9点"), a cron line with fields
missing ("*/5"), or Quartz syntax (`0 0 9 ? * MON-FRI`).

A suggestion is only shown; the parser stays strict. Every suggestion is itself parsed before it
is offered, so it is never a string that would be rejected in turn. Pure functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from jobs.cron_syntax import ScheduleError
from jobs.schedules import MACROS, parse_schedule


class Reason(StrEnum):
    WORDS = "words"  # a sentence instead of a cron line
    MISSING_FIELDS = "missing_fields"
    QUARTZ = "quartz"
    MACRO = "macro"  # a macro without its "@", or @every with spelled-out units


@dataclass(frozen=True)
class Suggestion:
    schedule: str
    reason: Reason


def suggest_schedule(text: str) -> Suggestion | None:
    text = " ".join(text.split())
    if not text:
        return None
    for reason, propose in (
        (Reason.MACRO, _macro),
        (Reason.QUARTZ, _quartz),
        (Reason.MISSING_FIELDS, _missing_fields),
        (Reason.WORDS, _words),
    ):
        candidate = _valid(propose(text))
        if candidate is not None and candidate != text:
            return Suggestion(candidate, reason)
    return None


def _valid(text: str | None) -> str | None:
    """`text` as the parser writes it, or None if the parser rejects it too."""
    try:
        return parse_schedule(text).text if text else None
    except ScheduleError:
        return None


# --- macros ------------------------------------------------------------------------------------

UNITS = {"s": "s", "sec": "s", "second": "s", "m": "m", "min": "m", "minute": "m"}
UNITS |= {"h": "h", "hr": "h", "hour": "h"}


def _macro(text: str) -> str | None:
    lowered = text.lower()
    if f"@{lowered}" in MACROS or lowered == "manual":
        return f"@{lowered}"
    match = re.fullmatch(r"(@?)every\s+([0-9]+)\s*([a-z]+?)s?", lowered)
    # "every 5 minutes" reads better as */5, on the clock; only seconds need @every.
    if match and match.group(3) in UNITS and (match.group(1) or UNITS[match.group(3)] == "s"):
        return f"@every {int(match.group(2))}{UNITS[match.group(3)]}"
    return None


# --- Quartz ------------------------------------------------------------------------------------

CRON_TOKEN = re.compile(r"[0-9a-z*?/,#\-]+", re.IGNORECASE)


def _quartz(text: str) -> str | None:
    fields = text.split(" ")
    if len(fields) not in (6, 7) or not all(CRON_TOKEN.fullmatch(f) for f in fields):
        return None
    if len(fields) == 6 and "?" not in (fields[3], fields[5]):
        return None  # six fields are ours too (seconds first): nothing Quartz about it
    if len(fields) == 7:
        if fields[6] != "*":
            return None  # a year field has no equivalent
        fields = fields[:6]
    second, minute, hour, day, month, weekday = fields
    day = "*" if day == "?" else day
    # Quartz counts weekdays 1-7 from Sunday, cron 0-6.
    weekday = "*" if weekday == "?" else re.sub(r"(?<![#/0-9])[0-9]+", _quartz_weekday, weekday)
    cron = [minute, hour, day, month, weekday]
    return " ".join(cron if second == "0" else [second, *cron])


def _quartz_weekday(match: re.Match[str]) -> str:
    value = int(match.group(0))
    return str(value - 1) if 1 <= value <= 7 else match.group(0)


def _missing_fields(text: str) -> str | None:
    fields = text.split(" ")
    if not 1 <= len(fields) <= 4 or not all(CRON_TOKEN.fullmatch(f) for f in fields):
        return None
    if not any(c.isdigit() or c == "*" for c in text):
        return None
    fields = ["*" if f == "?" else f for f in fields]
    return " ".join(fields + ["*"] * (5 - len(fields)))


# --- words -------------------------------------------------------------------------------------

DAY_NAMES = {
    "sunday": "0",
    "monday": "1",
    "tuesday": "2",
    "wednesday": "3",
    "thursday": "4",
    "friday": "5",
    "saturday": "6",
}
ZH_DAY_NAMES = {
    "日": "0",
    "天": "0",
    "一": "1",
    "二": "2",
    "三": "3",
    "四": "4",
    "五": "5",
    "六": "6",
}
WEEKDAYS = re.compile(r"week ?days?|workdays?|business days?|mon(day)?\s*(-|to)\s*fri(day)?|工作日")
WEEKENDS = re.compile(r"week ?ends?|周末")
EVERY_DAY = re.compile(r"every ?day|daily|each day|每天|每日")
CLOCK = re.compile(
    r"(?:(上午|早上|下午|晚上)\s*)?(?<![0-9])([0-9]{1,2})(?:[:.：]([0-9]{2})|\s*点\s*(?:([0-9]{1,2})\s*分?|(半))?)?"
    r"\s*(am|pm|a\.m\.|p\.m\.|o'?clock|h)?"
)
EVERY_N = re.compile(
    r"(?:every|每)\s*([0-9]*)\s*(minutes?|mins?|hours?|hrs?|小时|个小时|分钟)", re.IGNORECASE
)


def _words(text: str) -> str | None:
    lowered = text.lower()
    if not re.search(r"[a-z\u4e00-\u9fff]", lowered):
        return None
    every = EVERY_N.search(lowered)
    if every:
        n = int(every.group(1) or 1)
        if every.group(2).startswith(("h", "小", "个")):
            return "0 * * * *" if n == 1 else f"0 */{n} * * *"
        return "* * * * *" if n == 1 else f"*/{n} * * * *"
    if lowered in ("every hour", "每小时"):
        return "0 * * * *"
    if lowered in ("every minute", "每分钟"):
        return "* * * * *"
    days = _days(lowered)
    clock = _clock(lowered)
    if clock is None:
        return "@daily" if days == "*" and EVERY_DAY.fullmatch(lowered) else None
    hour, minute = clock
    return f"{minute} {hour} * * {days or '*'}"


def _days(lowered: str) -> str | None:
    if WEEKDAYS.search(lowered):
        return "1-5"
    if WEEKENDS.search(lowered):
        return "6,0"
    named = [number for name, number in DAY_NAMES.items() if re.search(rf"\b{name[:3]}", lowered)]
    named += [ZH_DAY_NAMES[c] for c in re.findall(r"(?:周|星期|礼拜)([一二三四五六日天])", lowered)]
    if named:
        return ",".join(sorted(set(named)))
    return "*" if EVERY_DAY.search(lowered) else None


def _clock(lowered: str) -> tuple[int, int] | None:
    if "noon" in lowered or "中午" in lowered:
        return 12, 0
    if "midnight" in lowered or "午夜" in lowered:
        return 0, 0
    for match in CLOCK.finditer(lowered):
        half_day, hour_text, minute_text, zh_minute, zh_half, suffix = match.groups()
        # A bare number is a time only with "at", a clock suffix or a Chinese 点.
        spoken = suffix or minute_text or "点" in match.group(0) or half_day
        if not spoken and not re.search(rf"\bat\s*{hour_text}\b", lowered):
            continue
        hour = int(hour_text)
        minute = int(minute_text or zh_minute or (30 if zh_half else 0))
        if (suffix or "").startswith("p") or half_day in ("下午", "晚上"):
            hour = hour + 12 if hour < 12 else hour
        elif (suffix or "").startswith("a") and hour == 12:
            hour = 0
        if 0 <= hour <= 23 and 0 <= minute <= 59:
            return hour, minute
    return None
