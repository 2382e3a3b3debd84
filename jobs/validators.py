"""One validator per concept, shared by the model, the forms and the API."""

import re
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
