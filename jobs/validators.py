"""One validator per concept, shared by the model, the forms and the API."""

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from jobs.schedules import Schedule, ScheduleError, parse_schedule, parse_timezone

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
        raise ValidationError(
            {"schedule": ValidationError(exc.message_for(_language()), code=exc.code)}
        ) from None


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
