"""The strict reading of cron expressions: fields, names, ranges, steps, `L`, `W` and `#`.

Every mistake becomes a ScheduleError that names the field and the problem, in English and
Simplified Chinese.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date


class ScheduleError(ValueError):
    def __init__(self, message: str, *, code: str, message_zh: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.message_zh = message_zh

    def message_for(self, language: str) -> str:
        return self.message_zh if language.lower().startswith("zh") else self.message


# --- cron fields ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    name: str
    name_zh: str
    low: int
    high: int
    star_high: int  # "*" and "N/step" end here: day-of-week 7 is only an alias of 0
    names: tuple[str, ...] = ()
    first_name: int = 0

    def fail(self, code: str, en: str, zh: str) -> ScheduleError:
        return ScheduleError(
            f"{self.name} field: {en}", code=code, message_zh=f"{self.name_zh}字段：{zh}"
        )


SECOND = _Field("Second", "秒", 0, 59, 59)
MINUTE = _Field("Minute", "分钟", 0, 59, 59)
HOUR = _Field("Hour", "小时", 0, 23, 23)
DAY = _Field("Day-of-month", "日期", 1, 31, 31)
MONTH = _Field("Month", "月份", 1, 12, 12, tuple(m.lower() for m in calendar.month_abbr[1:]), 1)
WEEKDAY = _Field("Day-of-week", "星期", 0, 7, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
NUMBER = re.compile(r"[0-9]+")


@dataclass
class _Terms:
    values: set[int] = field(default_factory=set)
    last_day: bool = False  # L
    last_workday: bool = False  # LW
    nth: set[tuple[int, int]] = field(default_factory=set)  # fri#2 -> (5, 2)
    last_weekdays: set[int] = field(default_factory=set)  # friL -> 5
    text: list[str] = field(default_factory=list)  # as written, lower case
    numeric: list[str] = field(default_factory=list)  # names as numbers, for the describer


def _value(f: _Field, s: str, term: str, *, range_end: bool = False) -> int:
    if NUMBER.fullmatch(s):
        value = int(s)
        if not f.low <= value <= f.high:
            en, zh = f"{s} is out of range {f.low}-{f.high}", f"{s} 超出范围 {f.low}-{f.high}"
            raise f.fail("out_of_range", en, zh)
        return value
    if s in f.names:
        value = f.names.index(s) + f.first_name
        # "mon-sun" means Monday to Sunday, so a Sunday that ends a range is 7, not 0.
        return 7 if f is WEEKDAY and range_end and value == 0 else value
    if not s:
        raise f.fail("bad_value", f"'{term}' is incomplete", f"“{term}”不完整")
    names = f" or a name {f.names[0]}-{f.names[-1]}" if f.names else ""
    names_zh = f"或名称 {f.names[0]}-{f.names[-1]}" if f.names else ""
    raise f.fail(
        "bad_value",
        f"'{s}' is not a number{names} (allowed: {f.low}-{f.high})",
        f"“{s}”不是数字{names_zh}（允许 {f.low}-{f.high}）",
    )


def _step(f: _Field, s: str) -> int:
    top = f.star_high - f.low
    if not NUMBER.fullmatch(s) or not 1 <= int(s) <= top:
        raise f.fail(
            "bad_step", f"step '{s}' is out of range 1-{top}", f"步长“{s}”超出范围 1-{top}"
        )
    return int(s)


def _term(f: _Field, term: str, acc: _Terms) -> None:
    if f is DAY and term in ("l", "lw"):
        acc.last_day |= term == "l"
        acc.last_workday |= term == "lw"
        acc.text.append(term.upper())
        acc.numeric.append(term.upper())
        return
    if "#" in term:
        if f is not WEEKDAY:
            raise f.fail(
                "bad_value", "'#' is only allowed in the day-of-week field", "“#”只能用于星期字段"
            )
        day_text, _, nth = term.partition("#")
        day = _value(f, day_text, term)
        if not NUMBER.fullmatch(nth) or not 1 <= int(nth) <= 5:
            raise f.fail(
                "bad_nth",
                f"'#{nth}' in '{term}' is not a week of the month; use #1-#5 (1-5)",
                f"“{term}”中的“#{nth}”不是当月的第几周；请使用 #1-#5（1-5）",
            )
        acc.nth.add((day % 7, int(nth)))
        acc.text.append(term)
        acc.numeric.append(f"{day}#{int(nth)}")
        return
    if f is WEEKDAY and len(term) > 1 and term.endswith("l"):
        day = _value(f, term[:-1], term)
        acc.last_weekdays.add(day % 7)
        acc.text.append(f"{term[:-1]}L")
        acc.numeric.append(f"{day}L")
        return
    base, slash, step_text = term.partition("/")
    step = _step(f, step_text) if slash else 1
    if base == "*":
        low, high, numeric = f.low, f.star_high, "*"
    elif "-" in base:
        first, _, last = base.partition("-")
        low, high = _value(f, first, term), _value(f, last, term, range_end=True)
        if high < low:
            raise f.fail(
                "bad_range",
                f"range '{base}' runs backwards; write the smaller value first",
                f"范围“{base}”是倒序的；请把较小的值写在前面",
            )
        numeric = f"{low}-{high}"
    else:
        low = _value(f, base, term)
        high, numeric = (f.star_high if slash else low), str(low)
    # Day-of-week 7 is Sunday, as is 0.
    values = {v % 7 if f is WEEKDAY else v for v in range(low, high + 1, step)}
    acc.values |= values
    acc.text.append(term)
    if slash and f is WEEKDAY and base != "*":
        # cron-descriptor reads a stepped weekday range as "every 2 weeks": spell the days out.
        numeric = ",".join(str(v) for v in sorted(values))
    elif slash:
        numeric = f"{'*' if base == '*' else f'{low}-{high}'}/{step}"
    acc.numeric.append(numeric)


def _field(f: _Field, text: str) -> _Terms:
    acc = _Terms()
    for term in text.split(","):
        if not term:
            raise f.fail("bad_value", f"empty item in the list '{text}'", f"列表“{text}”中有空项")
        _term(f, term, acc)
    return acc


@dataclass(frozen=True)
class CronExpression:
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    nth_weekdays: frozenset[tuple[int, int]]
    last_weekdays: frozenset[int]
    last_day: bool
    last_workday: bool
    # Debian cron: day-of-month and day-of-week are OR'ed unless either starts with "*".
    days_and: bool
    fixed_time: bool
    numeric: str

    def matches(self, day: date) -> bool:
        length = calendar.monthrange(day.year, day.month)[1]
        dom = (
            day.day in self.days
            or (self.last_day and day.day == length)
            or (self.last_workday and day.day == _last_workday(day, length))
        )
        weekday = day.isoweekday() % 7
        dow = (
            weekday in self.weekdays
            or (weekday, (day.day + 6) // 7) in self.nth_weekdays
            or (weekday in self.last_weekdays and day.day + 7 > length)
        )
        return (dom and dow) if self.days_and else (dom or dow)

    def times_of_day(self, after: tuple[int, int, int]) -> Iterator[tuple[int, int, int]]:
        """(hour, minute, second) strictly after `after`, in order."""
        for h in self.hours:
            if h < after[0]:
                continue
            for m in self.minutes:
                if (h, m) < after[:2]:
                    continue
                for s in self.seconds:
                    if (h, m, s) > after:
                        yield h, m, s


def _last_workday(day: date, length: int) -> int:
    last = day.replace(day=length).weekday()
    return length - max(0, last - 4)


def parse_cron(fields: list[str]) -> tuple[CronExpression, str]:
    if len(fields) not in (5, 6):
        n = len(fields)
        raise ScheduleError(
            "Expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds "
            f"first, but got {n} field{'' if n == 1 else 's'}",
            code="field_count",
            message_zh="应为 5 个字段（分 时 日 月 星期），或以秒开头的 6 个字段，"
            f"实际为 {n} 个字段",
        )
    with_seconds = len(fields) == 6
    if not with_seconds:
        fields = ["0", *fields]
    seconds, minutes, hours, days, months, weekdays = (
        _field(f, text)
        for f, text in zip((SECOND, MINUTE, HOUR, DAY, MONTH, WEEKDAY), fields, strict=True)
    )
    cron = CronExpression(
        seconds=tuple(sorted(seconds.values)),
        minutes=tuple(sorted(minutes.values)),
        hours=tuple(sorted(hours.values)),
        days=frozenset(days.values),
        months=frozenset(months.values),
        weekdays=frozenset(weekdays.values),
        nth_weekdays=frozenset(weekdays.nth),
        last_weekdays=frozenset(weekdays.last_weekdays),
        last_day=days.last_day,
        last_workday=days.last_workday,
        days_and=fields[3].startswith("*") or fields[5].startswith("*"),
        fixed_time=not fields[1].startswith("*") and not fields[2].startswith("*"),
        numeric=" ".join(
            ",".join(t.numeric) for t in (seconds, minutes, hours, days, months, weekdays)
        ),
    )
    parts = [",".join(t.text) for t in (seconds, minutes, hours, days, months, weekdays)]
    return cron, " ".join(parts if with_seconds else parts[1:])
