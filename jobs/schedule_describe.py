"""Human descriptions of schedules, in English and Simplified Chinese.

Cron expressions go through cron-descriptor. Its zh_CN output keeps weekday and month names
in English ("在 09:00, Monday 到 Friday") because it takes them from `calendar`, so the
Chinese text is repaired here; everything else gets our own sentences.
"""

import calendar
import re
from datetime import datetime
from functools import lru_cache

from cron_descriptor import ExpressionDescriptor, Options

# In `calendar` order, Monday first.
WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
ORDINALS = ("", "first", "second", "third", "fourth", "fifth")
ORDINALS_ZH = ("", "一", "二", "三", "四", "五")
UNITS = {"h": ("hour", "小时"), "m": ("minute", "分钟"), "s": ("second", "秒")}
MACROS = {
    "@yearly": ("Every year on January 1 at 00:00", "每年 1月1日 00:00"),
    "@annually": ("Every year on January 1 at 00:00", "每年 1月1日 00:00"),
    "@monthly": ("At 00:00 on day 1 of every month", "每月 1 号 00:00"),
    "@weekly": ("Every Sunday at 00:00", "每周日 00:00"),
    "@daily": ("Every day at 00:00", "每天 00:00"),
    "@midnight": ("Every day at 00:00", "每天 00:00"),
    "@hourly": ("Every hour, on the hour", "每小时整点"),
}


def manual(zh: bool) -> str:
    return (
        "仅在手动、API 或上游任务触发时运行"
        if zh
        else "Only when started by hand, by the API or by another job"
    )


def macro(name: str, zh: bool) -> str:
    en_text, zh_text = MACROS[name]
    return zh_text if zh else en_text


def every(duration: str, zh: bool) -> str:
    parts = [(int(n), unit) for n, unit in re.findall(r"([0-9]+)([hms])", duration) if int(n)]
    if len(parts) == 1 and parts[0][0] == 1:
        en_unit, zh_unit = UNITS[parts[0][1]]
        return f"每{zh_unit}" if zh else f"Every {en_unit}"
    if zh:
        return "每 " + " ".join(f"{n} {UNITS[unit][1]}" for n, unit in parts)
    words = [f"{n} {UNITS[unit][0]}{'' if n == 1 else 's'}" for n, unit in parts]
    return "Every " + " and ".join(words)


def business_day(n: int, hour: int, minute: int, zh: bool) -> str:
    at = f"{hour:02d}:{minute:02d}"
    if zh:
        which = "最后一个" if n == -1 else f"第 {n} 个"
        return f"每月{which}工作日 {at}"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(n if n < 20 else n % 10, "th")
    which = "last" if n == -1 else "first" if n == 1 else f"{n}{suffix}"
    return f"At {at} on the {which} business day of every month"


def once(local: datetime, tz_name: str, zh: bool) -> str:
    when = local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")
    return f"仅一次，于 {when}（{tz_name}）" if zh else f"Once, at {when} ({tz_name})"


@lru_cache(maxsize=512)
def cron(expression: str, zh: bool) -> str:
    """`expression` is the numeric 6-field form (seconds first, weekday names as numbers)."""
    fields = expression.split()
    weekdays = fields[5]
    if "#" in weekdays or "L" in weekdays:
        # cron-descriptor garbles lists of these ("on the  Monday and Friday of the month") and
        # drops the "or" when day-of-month is restricted too, so say the weekdays ourselves.
        fields[5] = "*"
        either = not fields[3].startswith("*")
        return _descriptor(" ".join(fields), zh) + _weekdays(weekdays.split(","), either, zh)
    return _descriptor(expression, zh)


def _descriptor(expression: str, zh: bool) -> str:
    options = Options(
        use_24hour_time_format=True,
        locale_code="zh_CN" if zh else "en_US",
        day_of_week_start_index_zero=True,
    )
    text = ExpressionDescriptor(expression, options).get_description()
    return _repair_chinese(text) if zh else text


def _weekdays(terms: list[str], either: bool, zh: bool) -> str:
    phrases = []
    for term in terms:
        day, _, nth = term.replace("L", "#L").partition("#")
        first, _, last = day.partition("-")
        if zh:
            names = "到".join(WEEKDAYS_ZH[(int(d) + 6) % 7] for d in (first, last) if d)
            if nth == "L":
                phrases.append(f"每月的最后一个{names}")
            elif nth:
                phrases.append(f"每月的第{ORDINALS_ZH[int(nth)]}个{names}")
            else:
                phrases.append(f"每{names}")
        else:
            names = " through ".join(
                calendar.day_name[(int(d) + 6) % 7] for d in (first, last) if d
            )
            if nth == "L":
                phrases.append(f"the last {names} of the month")
            elif nth:
                phrases.append(f"the {ORDINALS[int(nth)]} {names} of the month")
            else:
                phrases.append(f"every {names}")
    if zh:
        return ("，或" if either else "，") + "和".join(phrases)
    return (", or on " if either else ", on ") + " and ".join(phrases)


def _repair_chinese(text: str) -> str:
    # Names come from `calendar` in the process locale, so replace whatever it produced.
    for index, name in enumerate(calendar.day_name):
        text = text.replace(name, WEEKDAYS_ZH[index])
    for number in range(1, 13):
        text = text.replace(calendar.month_name[number], f"{number}月")
    text = re.sub(r"在 (第.个)\s*(周.) 每月", r"每月的\1\2", text)  # "在 第二个Friday 每月"
    text = re.sub(r"个\s+(周.)", r"个\1", text)  # "每月的最后一个 Friday"
    text = re.sub(r"每 ([0-9]+) 月", r"每 \1 个月", text)
    return text.replace(", 和 ", " 和 ").replace(", ", "，").strip()
