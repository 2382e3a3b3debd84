"""Blackout windows as the calendar form writes them, one per line, to and from their JSON.

"Sun 01:00-03:00", "Mon-Fri 23:00-02:00", "Sat,Sun 00:00-06:00", "daily 12:00-13:00" recur;
"2026-12-24 to 2027-01-02" and "2026-12-24 18:00 to 2026-12-27 06:00" happen once. The JSON is
checked by jobs.validators.clean_windows, as the API's is.
"""

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK = r"\d{1,2}:\d{2}"
DAY = r"\d{4}-\d{2}-\d{2}(?: \d{1,2}:\d{2})?"
RECURRING = re.compile(rf"(?:(?P<days>[a-z ,\-]+?)\s+)?(?P<start>{CLOCK})\s*-\s*(?P<end>{CLOCK})")
ONE_OFF = re.compile(rf"(?P<from>{DAY})\s+to\s+(?P<to>{DAY})")


def _days(text: str) -> list[int]:
    text = text.strip()
    if text in ("", "daily", "every day"):
        return []
    days: set[int] = set()
    for part in text.replace(" ", "").split(","):
        first, _dash, last = part.partition("-")
        if first[:3] not in DAY_NAMES or (last and last[:3] not in DAY_NAMES):
            raise ValueError(part)
        low = DAY_NAMES.index(first[:3]) + 1
        high = DAY_NAMES.index(last[:3]) + 1 if last else low
        days.update(range(low, high + 1) if low <= high else [*range(low, 8), *range(1, high + 1)])
    return sorted(days)


def _padded(clock: str) -> str:
    hour, minute = clock.split(":")
    return f"{int(hour):02d}:{minute}"


def windows_from_text(text: str) -> list[dict[str, Any]]:
    windows: list[dict[str, Any]] = []
    for line in (line.strip() for line in text.splitlines()):
        if not line:
            continue
        lowered = " ".join(line.lower().replace("–", "-").split())
        if match := ONE_OFF.fullmatch(lowered):
            windows.append({"from": match["from"], "to": match["to"]})
            continue
        match = RECURRING.fullmatch(lowered)
        try:
            if not match:
                raise ValueError(line)
            windows.append(
                {
                    "days": _days(match["days"] or ""),
                    "start": _padded(match["start"]),
                    "end": _padded(match["end"]),
                }
            )
        except ValueError:
            raise ValidationError(
                _(
                    "“%(line)s” is not a window; write “Sun 01:00-03:00”, “Mon-Fri 23:00-02:00” "
                    "or “2026-12-24 to 2027-01-02”."
                )
                % {"line": line},
                code="invalid_window",
            ) from None
    return windows


def windows_to_text(windows: list[dict[str, Any]]) -> str:
    lines = []
    for window in windows:
        if "from" in window:
            lines.append(f"{window['from']} to {window['to']}")
            continue
        days = window.get("days") or []
        names = ",".join(DAY_NAMES[d - 1].capitalize() for d in days) if days else "daily"
        lines.append(f"{names} {window['start']}-{window['end']}")
    return "\n".join(lines)
