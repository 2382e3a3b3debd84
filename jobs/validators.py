"""One validator per concept, shared by the model, the forms and the API."""

import re
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from jobs.schedule_suggestions import suggest_schedule
from jobs.schedules import Schedule, ScheduleError, parse_schedule, parse_timezone

MAX_NOTIFY_EMAILS = 20
LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,62}$")


def _language() -> str:
    return "zh-hans" if (get_language() or "en").lower().startswith("zh") else "en"


def validate_timezone(name: str) -> None:
    try:
        parse_timezone(name)
    except ScheduleError as exc:
        raise ValidationError(exc.message_for(_language()), code=exc.code) from None


def schedule_or_error(text: str, timezone: str) -> Schedule:
    """Parse a schedule, raising a ValidationError keyed by the field that is wrong."""
    try:
        parse_timezone(timezone)
    except ScheduleError as exc:
        raise ValidationError(
            {"timezone": ValidationError(exc.message_for(_language()), code=exc.code)}
        ) from None
    try:
        return parse_schedule(text, timezone)
    except ScheduleError as exc:
        message = exc.message_for(_language())
        # Common mistakes ("every day at 9", Quartz) say what to write; still an error.
        suggestion = suggest_schedule(text)
        if suggestion is not None:
            message = _("%(error)s. Did you mean “%(schedule)s”?") % {
                "error": message,
                "schedule": suggestion.schedule,
            }
        raise ValidationError({"schedule": ValidationError(message, code=exc.code)}) from None


def validate_labels(labels: Any) -> None:
    if not isinstance(labels, dict):
        raise ValidationError(_("Labels must be an object of key → value."), code="invalid")
    for key, value in labels.items():
        if not isinstance(key, str) or not LABEL_KEY.match(key):
            raise ValidationError(
                _(
                    "Label key “%(key)s” must start with a letter or digit and use only letters, "
                    "digits, “_ . - /” (at most 63 characters)."
                )
                % {"key": key},
                code="invalid_label",
            )
        if not isinstance(value, str) or len(value) > 200:
            raise ValidationError(
                _("Label “%(key)s” must have a text value of at most 200 characters.")
                % {"key": key},
                code="invalid_label",
            )


def validate_notify_events(events: Any) -> None:
    from jobs.models import Notification

    if not isinstance(events, list) or not all(
        event in Notification.Event.values for event in events
    ):
        raise ValidationError(
            _("Choose events among: %(events)s.")
            % {"events": ", ".join(Notification.Event.values)},
            code="invalid_event",
        )


def validate_emails(addresses: Any) -> None:
    if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
        raise ValidationError(_("E-mail addresses must be a list of text."), code="invalid")
    if len(addresses) > MAX_NOTIFY_EMAILS:
        raise ValidationError(
            _("At most %(n)d e-mail addresses.") % {"n": MAX_NOTIFY_EMAILS}, code="too_many"
        )
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError(
                _("“%(address)s” is not a valid e-mail address.") % {"address": address},
                code="invalid_email",
            ) from None


QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


def validate_queue(name: str, *, kind: str) -> None:
    """A Celery queue name; only task and shell runs can go to a worker."""
    if not name:
        return
    if not QUEUE_NAME.match(name):
        raise ValidationError(
            _("A queue name is letters, digits and . _ : - (at most 100), e.g. reports."),
            code="invalid_queue",
        )
    if kind == "http":
        raise ValidationError(
            _("HTTP jobs run in the scheduler; leave the queue empty."), code="queue_for_http"
        )


# --- calendars -----------------------------------------------------------------------------------

MAX_CALENDAR_DATES = 1000
MAX_CALENDAR_WINDOWS = 100
CALENDAR_NAME = re.compile(r"^[^\s,][^,]{0,99}$")


def validate_calendar_name(name: Any) -> None:
    # Jobs list their calendars by name in the API and in export files, so no commas.
    if not isinstance(name, str) or not CALENDAR_NAME.match(name) or name != name.strip():
        raise ValidationError(
            _("Give the calendar a name of 1 to 100 characters, without commas."),
            code="invalid_name",
        )


def clean_dates(dates: Any) -> list[str]:
    """ISO dates, sorted and without repeats."""
    from datetime import date

    if not isinstance(dates, list) or not all(isinstance(d, str) for d in dates):
        raise ValidationError(
            _("Dates must be a list of dates such as 2026-12-24."), code="invalid"
        )
    if len(dates) > MAX_CALENDAR_DATES:
        raise ValidationError(
            _("At most %(n)d dates.") % {"n": MAX_CALENDAR_DATES}, code="too_many"
        )
    cleaned = set()
    for text in dates:
        try:
            if len(text.strip()) != 10:
                raise ValueError(text)
            cleaned.add(date.fromisoformat(text.strip()).isoformat())
        except ValueError:
            raise ValidationError(
                _("“%(value)s” is not a date; write it like 2026-12-24.") % {"value": text},
                code="invalid_date",
            ) from None
    return sorted(cleaned)


def clean_holidays(country: str, subdivision: str) -> None:
    from jobs.calendars import check_holidays

    if not country:
        if subdivision:
            raise ValidationError(_("Choose the country of the subdivision."), code="no_country")
        return
    if check_holidays(country.upper(), subdivision.upper()) is not None:
        if check_holidays(country.upper(), "") is None:
            message = _("“%(subdivision)s” is not a subdivision of %(country)s.")
            code = "unknown_subdivision"
        else:
            message = _("There is no holiday list for the country “%(country)s”.")
            code = "unknown_country"
        raise ValidationError(message % {"country": country, "subdivision": subdivision}, code=code)


def _window_error(number: int, problem: str) -> ValidationError:
    return ValidationError(
        _("Window %(n)d: %(problem)s") % {"n": number, "problem": problem}, code="invalid_window"
    )


def clean_windows(windows: Any) -> list[dict[str, Any]]:
    """Blackout windows: recurring {"days", "start", "end"} or one-off {"from", "to"}."""
    from datetime import datetime, time

    if not isinstance(windows, list) or not all(isinstance(w, dict) for w in windows):
        raise ValidationError(_("Windows must be a list of objects."), code="invalid")
    if len(windows) > MAX_CALENDAR_WINDOWS:
        raise ValidationError(
            _("At most %(n)d windows.") % {"n": MAX_CALENDAR_WINDOWS}, code="too_many"
        )
    cleaned = []
    for number, window in enumerate(windows, start=1):
        if "from" in window or "to" in window:
            if set(window) - {"from", "to"}:
                raise _window_error(number, _("a one-off window has only “from” and “to”."))
            try:
                ends = [str(window.get(k, "")).strip().replace("T", " ") for k in ("from", "to")]
                parsed = [datetime.fromisoformat(t) for t in ends if len(t) in (10, 16)]
                if len(parsed) != 2:
                    raise ValueError
            except ValueError:
                raise _window_error(
                    number, _("write “from” and “to” like 2026-12-24 or 2026-12-24 18:00.")
                ) from None
            whole_day = len(ends[1]) == 10
            if parsed[1] + (timedelta(days=1) if whole_day else timedelta(0)) <= parsed[0]:
                raise _window_error(number, _("it must end after it starts."))
            cleaned.append({"from": ends[0], "to": ends[1]})
            continue
        if set(window) - {"days", "start", "end"}:
            raise _window_error(number, _("a recurring window has only “days”, “start” and “end”."))
        days = window.get("days") or []
        if not isinstance(days, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in days
        ):
            raise _window_error(number, _("days are numbers from 1 (Monday) to 7 (Sunday)."))
        try:
            start, end = (time.fromisoformat(str(window.get(k, ""))) for k in ("start", "end"))
        except ValueError:
            raise _window_error(number, _("write “start” and “end” like 01:00.")) from None
        if start == end:
            raise _window_error(number, _("the start and the end are the same time."))
        cleaned.append(
            {"days": sorted(set(days)), "start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}
        )
    return cleaned
