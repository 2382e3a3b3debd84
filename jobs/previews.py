"""What a schedule will do, for people deciding on one: the live preview in the job form and
`GET /api/v1/schedule/preview` both come from here."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone as dj_timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, override

from jobs.calendars import SKIP, CalendarSet, with_calendars
from jobs.schedule_suggestions import Reason, Suggestion, suggest_schedule
from jobs.schedules import (
    TICK,
    ClockChange,
    Schedule,
    ScheduleError,
    parse_schedule,
    parse_timezone,
)

MAX_PREVIEW = 100
# Clock changes are looked for this far ahead: a schedule typed in December must already warn
# about March and October, long after its next ten runs.
DST_HORIZON = timedelta(days=366)


@dataclass
class SchedulePreview:
    valid: bool
    description: str = ""
    next_runs: list[datetime] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    error_field: str = ""  # "schedule" or "timezone"
    timezone: str = "UTC"
    suggestion: Suggestion | None = None
    suggestion_note: str = ""  # why the suggestion, in the viewer's language
    suggestion_description: str = ""


def schedule_preview(
    text: str,
    timezone: str,
    *,
    count: int = 10,
    after: datetime | None = None,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    language: str = "en",
    calendars: CalendarSet | None = None,
    on_calendar: str = SKIP,
) -> SchedulePreview:
    """What `text` does. `start_at` and `end_at` are the job's bounds: no run before the one or
    after the other; with `calendars`, the runs they leave (the scheduler's own rule)."""
    language = "zh-hans" if language.lower().startswith("zh") else "en"
    count = max(1, min(count, MAX_PREVIEW))
    after = after or dj_timezone.now()
    if start_at is not None:
        after = max(after, start_at - TICK)
    try:
        parse_timezone(timezone)
    except ScheduleError as exc:
        return SchedulePreview(False, error=exc.message_for(language), error_field="timezone")
    try:
        schedule = parse_schedule(text, timezone)
    except ScheduleError as exc:
        return _rejected(text, timezone, exc, language)
    horizon = after + DST_HORIZON if end_at is None else min(after + DST_HORIZON, end_at)
    planned = with_calendars(schedule, calendars or CalendarSet(), on_calendar)
    runs = planned.runs_between(after, end_at, count) if end_at else planned.next_runs(count, after)
    with override(language):
        warnings = _frequency_warnings(runs, schedule.min_interval(after))
        warnings += _dst_warnings(schedule, runs, after, horizon)
        if not runs and schedule.kind != "manual":
            never = _("No run before the end date.") if end_at else _("This schedule never fires.")
            warnings.insert(0, never)
    return SchedulePreview(
        True,
        description=schedule.describe(language),
        next_runs=runs,
        warnings=warnings,
        timezone=schedule.tz.key,
    )


def _rejected(text: str, timezone: str, exc: ScheduleError, language: str) -> SchedulePreview:
    preview = SchedulePreview(False, error=exc.message_for(language), error_field="schedule")
    suggestion = suggest_schedule(text)
    if suggestion is not None:
        with override(language):
            preview.suggestion_note = str(SUGGESTION_NOTES[suggestion.reason])
        preview.suggestion = suggestion
        preview.suggestion_description = parse_schedule(suggestion.schedule, timezone).describe(
            language
        )
    return preview


SUGGESTION_NOTES = {
    Reason.WORDS: gettext_lazy("Schedules are written in cron, not in words."),
    Reason.MISSING_FIELDS: gettext_lazy(
        "Cron needs 5 fields: minute, hour, day of month, month and day of week."
    ),
    Reason.QUARTZ: gettext_lazy(
        "This is Quartz syntax (seconds first, “?” for “any”, weekdays 1-7 from Sunday); "
        "here cron has 5 fields and no “?”."
    ),
    Reason.MACRO: gettext_lazy("Macros start with “@” and @every takes units h, m and s."),
}


def _frequency_warnings(runs: list[datetime], interval: timedelta | None) -> list[str]:
    if interval is not None and interval < timedelta(minutes=1) and runs:
        return [
            _("Runs more often than once a minute (every %(seconds)s s).")
            % {"seconds": f"{interval.total_seconds():g}"}
        ]
    return []


def _dst_warnings(
    schedule: Schedule, runs: list[datetime], after: datetime, horizon: datetime
) -> list[str]:
    if schedule.kind == "once":
        return [w for run in runs if (w := _once_warning(schedule.tz, run))]
    return [_clock_change_warning(c) for c in schedule.clock_changes(after, horizon)]


def _clock_change_warning(change: ClockChange) -> str:
    times = ", ".join(w.strftime("%H:%M") for w in change.walls)
    day = change.start.date().isoformat()
    start, end = change.start.strftime("%H:%M"), change.end.strftime("%H:%M")
    if change.fixed_time and change.forward:
        return ngettext(
            "The clocks go forward on %(date)s: the %(times)s run moves to %(time)s, the "
            "first time after the gap.",
            "The clocks go forward on %(date)s: the %(times)s runs move to %(time)s, the "
            "first time after the gap.",
            len(change.walls),
        ) % {"date": day, "times": times, "time": end}
    if change.fixed_time:
        return _(
            "%(time)s on %(date)s happens twice as the clocks go back; it runs once, at the first."
        ) % {"time": times, "date": day}
    if change.forward:
        return _(
            "The clocks go forward on %(date)s: there are no runs from %(start)s to %(end)s."
        ) % {"date": day, "start": start, "end": end}
    return _("The clocks go back on %(date)s: the runs from %(start)s to %(end)s happen twice.") % {
        "date": day,
        "start": start,
        "end": end,
    }


def _once_warning(tz: ZoneInfo, run: datetime) -> str:
    wall = run.astimezone(tz).replace(tzinfo=None)
    if wall.replace(tzinfo=tz, fold=0).astimezone(UTC) != wall.replace(
        tzinfo=tz, fold=1
    ).astimezone(UTC):
        return _(
            "%(time)s on %(date)s happens twice as the clocks go back; it runs once, at the first."
        ) % {"time": wall.strftime("%H:%M"), "date": wall.date().isoformat()}
    if _offset(tz, run - TICK) != _offset(tz, run):
        return _(
            "The clocks go forward on %(date)s: this run moves to %(time)s, the first time after "
            "the gap."
        ) % {"time": wall.strftime("%H:%M"), "date": wall.date().isoformat()}
    return ""


def _offset(tz: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(tz).utcoffset() or timedelta(0)
