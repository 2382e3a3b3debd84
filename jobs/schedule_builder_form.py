"""The schedule builder's controls: plain choices that read into a ScheduleIntent.

Every control is drawn (those of the other modes hidden), so switching the mode keeps what was
chosen before. Only the controls of the chosen mode are checked.
"""

import re
from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.dates import MONTHS, WEEKDAYS
from django.utils.translation import gettext_lazy as _

from jobs.schedule_builder import (
    HOUR_STEPS,
    LAST_DAY,
    MINUTE_STEPS,
    WORKDAYS,
    BuilderError,
    Mode,
    ScheduleIntent,
    intent_for,
    schedule_for,
)

ADVANCED = "advanced"
MODE_CHOICES = [
    ("", _("Choose how often…")),
    (Mode.MINUTES.value, _("Every few minutes")),
    (Mode.HOURS.value, _("Every few hours")),
    (Mode.DAILY.value, _("Every day")),
    (Mode.WEEKLY.value, _("On chosen days of the week")),
    (Mode.MONTHLY.value, _("Every month")),
    (Mode.YEARLY.value, _("Every year")),
    (Mode.ONCE.value, _("Once")),
    (Mode.MANUAL.value, _("Only when started by hand")),
    (ADVANCED, _("Advanced: write the schedule yourself")),
]
# Monday first; cron counts Sunday as 0, Django's WEEKDAYS Monday as 0.
WEEKDAY_CHOICES = [(str(d % 7), WEEKDAYS[d - 1]) for d in range(1, 8)]
DAY_CHOICES = [(str(d), str(d)) for d in range(1, 32)] + [(str(LAST_DAY), _("Last day"))]
MONTH_CHOICES = [(str(m), name) for m, name in MONTHS.items()]
TIME = re.compile(r"([01]?[0-9]|2[0-3])(?::([0-5][0-9]))?")
ONCE_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M")
MESSAGES = {
    "no_times": ("times", _("Enter at least one time, such as 09:00.")),
    "mixed_minutes": (
        "times",
        _(
            "One schedule can run at several hours but only at one minute past them "
            "(09:00 and 17:00, not 09:00 and 17:30). Use two jobs or an advanced schedule."
        ),
    ),
    "no_weekdays": ("weekdays", _("Choose at least one day.")),
    "bad_day": ("day", _("That month does not have this day.")),
    "no_datetime": ("at", _("Enter the date and time of the run.")),
    "bad_step": ("mode", _("Choose one of the offered intervals.")),
}


def _tomorrow_morning() -> str:
    # Choosing "Once" writes a schedule at once; a blank date would only show an error.
    day = timezone.localdate() + timedelta(days=1)
    return f"{day.isoformat()}T09:00"


# The interval labels are built per form (callable choices), in the viewer's language.
class ScheduleBuilderForm(forms.Form):
    prefix = "builder"

    mode = forms.ChoiceField(label=_("Repeat"), choices=MODE_CHOICES, required=False)
    every_minutes = forms.TypedChoiceField(
        label=_("Every"),
        choices=lambda: [(str(n), _("%(n)s min") % {"n": n}) for n in MINUTE_STEPS],
        coerce=int,
        initial="5",
        required=False,
    )
    every_hours = forms.TypedChoiceField(
        label=_("Every"),
        choices=lambda: [(str(n), _("%(n)s h") % {"n": n}) for n in HOUR_STEPS],
        coerce=int,
        initial="1",
        required=False,
    )
    minute = forms.IntegerField(
        label=_("Minutes past the hour"), min_value=0, max_value=59, initial=0, required=False
    )
    times = forms.CharField(
        label=_("At"),
        initial="09:00",
        max_length=200,
        required=False,
        help_text=_("One or more times in the job's time zone, such as 09:00, 17:00."),
    )
    weekdays = forms.TypedMultipleChoiceField(
        label=_("Days"),
        choices=WEEKDAY_CHOICES,
        coerce=int,
        initial=[str(d) for d in sorted(WORKDAYS)],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    day = forms.TypedChoiceField(
        label=_("Day of the month"),
        choices=DAY_CHOICES,
        coerce=int,
        initial="1",
        required=False,
        help_text=_("Months without this day are skipped; “Last day” is the end of every month."),
    )
    month = forms.TypedChoiceField(
        label=_("Month"), choices=MONTH_CHOICES, coerce=int, initial="1", required=False
    )
    at = forms.CharField(
        label=_("Date and time"),
        max_length=20,
        required=False,
        initial=_tomorrow_morning,
        help_text=_("In the job's time zone."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Enter in a builder box must not save the whole job form (see cronadmin.js).
        for name in ("minute", "times", "at"):
            self.fields[name].widget.attrs["data-no-submit"] = ""

    @classmethod
    def for_schedule(cls, text: str) -> "ScheduleBuilderForm":
        """The builder showing `text`, or set to "advanced" when it cannot show it exactly."""
        if not text.strip():
            return cls()
        intent = intent_for(text)
        if intent is None:
            return cls(initial={"mode": ADVANCED})
        initial: dict[str, Any] = {
            "mode": intent.mode.value,
            "times": ", ".join(t.strftime("%H:%M") for t in intent.times),
            "weekdays": [str(d) for d in sorted(intent.weekdays)],
            "day": str(intent.day),
            "month": str(intent.month),
        }
        if intent.mode is Mode.MINUTES:
            initial["every_minutes"] = str(intent.every)
        if intent.mode is Mode.HOURS:
            initial |= {"every_hours": str(intent.every), "minute": intent.minute}
        if intent.at is not None:
            initial["at"] = intent.at.strftime(ONCE_FORMATS[0])
        return cls(initial=initial)

    @property
    def mode_value(self) -> str:
        return str(self["mode"].value() or "")

    @property
    def shown(self) -> tuple[str, ...]:
        """The controls of the chosen mode; the others are drawn hidden."""
        return RELEVANT.get(self.mode_value, ())

    def clean_times(self) -> tuple[time, ...]:
        items = [t for t in re.split(r"[\s,，、;]+", self.cleaned_data["times"]) if t]
        times = []
        for item in items:
            match = TIME.fullmatch(item)
            if not match:
                raise forms.ValidationError(
                    _("“%(value)s” is not a time; write it like 09:00 or 17:30.") % {"value": item},
                    code="bad_time",
                )
            times.append(time(int(match.group(1)), int(match.group(2) or 0)))
        return tuple(times)

    def clean_at(self) -> datetime | None:
        text = self.cleaned_data["at"].strip()
        if not text:
            return None
        for pattern in ONCE_FORMATS:
            try:
                return datetime.strptime(text, pattern)
            except ValueError:
                continue
        raise forms.ValidationError(
            _("Write the date and time like 2026-12-01 09:00."), code="bad_datetime"
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        mode = cleaned.get("mode") or ""
        # Errors in the hidden controls of other modes do not count.
        relevant = RELEVANT.get(mode, ())
        for name in list(self.errors):
            if name not in relevant and name != "mode":
                del self.errors[name]
        if self.errors or mode in ("", ADVANCED):
            return cleaned
        try:
            cleaned["schedule"] = schedule_for(self.intent())
        except BuilderError as exc:
            field, message = MESSAGES[exc.code]
            self.add_error(field, message)
        return cleaned

    def intent(self) -> ScheduleIntent:
        data = self.cleaned_data
        mode = Mode(data["mode"])
        every = data.get("every_minutes") if mode is Mode.MINUTES else data.get("every_hours")
        return ScheduleIntent(
            mode,
            every=every or 1,
            minute=data.get("minute") or 0,
            times=data.get("times") or (),
            weekdays=frozenset(data.get("weekdays") or ()),
            day=data.get("day") or LAST_DAY,
            month=data.get("month") or 1,
            at=data.get("at"),
        )

    def written(self) -> str | None:
        """The schedule the builder writes, once valid; None for "advanced" or no choice."""
        return self.cleaned_data.get("schedule") if self.is_valid() else None


RELEVANT = {
    Mode.MINUTES.value: ("every_minutes",),
    Mode.HOURS.value: ("every_hours", "minute"),
    Mode.DAILY.value: ("times",),
    Mode.WEEKLY.value: ("times", "weekdays"),
    Mode.MONTHLY.value: ("times", "day"),
    Mode.YEARLY.value: ("times", "day", "month"),
    Mode.ONCE.value: ("at",),
}
