"""What a schedule will do, for people deciding on one: the live preview in the job form and
`GET /api/v1/schedule/preview` both come from here."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone as dj_timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from jobs.calendars import SKIP, CalendarSet, with_calendars
from jobs.schedules import ScheduleError, parse_schedule, parse_timezone

MAX_PREVIEW = 100


@dataclass
class SchedulePreview:
    valid: bool
    description: str = ""
    next_runs: list[datetime] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    error_field: str = ""  # "schedule" or "timezone"
    timezone: str = "UTC"


def schedule_preview(
    text: str,
    timezone: str,
    *,
    count: int = 10,
    after: datetime | None = None,
    language: str = "en",
    calendars: CalendarSet | None = None,
    on_calendar: str = SKIP,
) -> SchedulePreview:
    """What `text` does; with `calendars`, the runs they leave (the scheduler's own rule)."""
    language = "zh-hans" if language.lower().startswith("zh") else "en"
    count = max(1, min(count, MAX_PREVIEW))
    after = after or dj_timezone.now()
    try:
        parse_timezone(timezone)
    except ScheduleError as exc:
        return SchedulePreview(False, error=exc.message_for(language), error_field="timezone")
    try:
        schedule = parse_schedule(text, timezone)
    except ScheduleError as exc:
        return SchedulePreview(False, error=exc.message_for(language), error_field="schedule")
    schedule = with_calendars(schedule, calendars or CalendarSet(), on_calendar)
    runs = schedule.next_runs(count, after)
    with override(language):
        warnings = _warnings(schedule.tz, runs, schedule.min_interval(after), schedule.kind)
        if not runs and schedule.kind != "manual":
            warnings.insert(0, _("This schedule never fires."))
    return SchedulePreview(
        True,
        description=schedule.describe(language),
        next_runs=runs,
        warnings=warnings,
        timezone=schedule.tz.key,
    )


def _warnings(
    tz: ZoneInfo, runs: list[datetime], interval: timedelta | None, kind: str
) -> list[str]:
    warnings: list[str] = []
    if interval is not None and interval < timedelta(minutes=1) and runs:
        warnings.append(
            _("Runs more often than once a minute (every %(seconds)s s).")
            % {"seconds": f"{interval.total_seconds():g}"}
        )
    if kind not in ("cron", "once"):
        return warnings
    for run in runs:
        local = run.astimezone(tz)
        wall = local.replace(tzinfo=None)
        first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
        if first != second:
            warnings.append(
                _(
                    "%(time)s on %(date)s happens twice as the clocks go back; it runs once, at "
                    "the first."
                )
                % {"time": wall.strftime("%H:%M"), "date": wall.date().isoformat()}
            )
        elif (run - timedelta(microseconds=1)).astimezone(tz).utcoffset() != local.utcoffset():
            warnings.append(
                _(
                    "The clocks go forward on %(date)s: this run moves to %(time)s, the first time "
                    "after the gap."
                )
                % {"time": wall.strftime("%H:%M"), "date": wall.date().isoformat()}
            )
    return warnings
