"""HTML forms: they read what a person typed into the shapes the services take.

The rules themselves live in the shared validators and the services; a form only turns text
(lines of "key=value", "Name: value", "200, 204") into values and puts the services' errors
back next to the field they are about.
"""

from collections.abc import Callable
from datetime import datetime, time, timedelta, tzinfo
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.urls import reverse_lazy
from django.utils import timezone as dj_timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from jobs import registry
from jobs.audit import (
    mask_headers,
    mask_url,
    secret_header_names,
    unmask_headers,
    unmask_url,
    webhook_mask_message,
)
from jobs.kinds.http import METHODS, clean_url, mark_secret
from jobs.models import Calendar, Job, JobLink, Notification, Run
from jobs.permissions import can
from jobs.services import CHAIN_FIELDS, DEFINITION_FIELDS, job_chains
from jobs.validators import (
    schedule_or_error,
    validate_emails,
    validate_labels,
    validate_timezone,
)
from jobs.vault import is_sealed


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's ValidationError next to the fields it names (else above the form)."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for key, errors in exc.error_dict.items():
        form.add_error(key if key in form.fields else None, errors)


class SecondsWidget(forms.MultiWidget):
    """A number and a unit (seconds, minutes, hours) for a length of time stored in seconds."""

    UNITS = (
        (3600, pgettext_lazy("unit of time", "hours")),
        (60, pgettext_lazy("unit of time", "minutes")),
        (1, pgettext_lazy("unit of time", "seconds")),
    )

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        number = forms.NumberInput(attrs={"min": "1", "step": "any", "class": "amount"})
        unit = forms.Select(
            choices=[(str(f), label) for f, label in reversed(self.UNITS)],
            attrs={"aria-label": _("Unit")},
        )
        super().__init__([number, unit], attrs)

    def decompress(self, value: Any) -> list[Any]:
        if value in (None, ""):
            return [None, "1"]
        seconds = int(value)
        # The largest unit that says it exactly: 5400 s reads "90 minutes", not "1.5 hours".
        factor = next(f for f, _label in self.UNITS if seconds % f == 0)
        return [seconds // factor, str(factor)]


class SecondsField(forms.MultiValueField):
    widget = SecondsWidget

    def __init__(self, *, min_value: int = 1, **kwargs: Any) -> None:
        fields = (
            forms.DecimalField(min_value=0, decimal_places=3, required=False),
            forms.ChoiceField(
                choices=[(str(f), label) for f, label in SecondsWidget.UNITS], required=False
            ),
        )
        self.min_value = min_value
        super().__init__(fields, require_all_fields=False, **kwargs)

    def compress(self, data_list: list[Any]) -> int | None:
        if not data_list or data_list[0] in (None, ""):
            return None
        amount, factor = data_list[0], int(data_list[1] or 1)
        seconds = amount * factor
        if seconds != int(seconds):
            raise ValidationError(_("Give a whole number of seconds."), code="fraction")
        if seconds < self.min_value:
            raise ValidationError(_("At least one second."), code="min_value")
        return int(seconds)


# Fields of the form that are not part of the kind's settings, in the services' names.
COMMON_FIELDS = tuple(name for name in DEFINITION_FIELDS if name != "config")
KIND_FIELDS = {
    "task": ("task",),
    "http": ("method", "url", "headers", "body", "expect_status"),
    "shell": ("command",),
}
PARAM_PREFIX = "param_"
DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def kind_choices(user: Any) -> list[tuple[str, str]]:
    choices = [
        (Job.Kind.TASK.value, Job.Kind.TASK.label),
        (Job.Kind.HTTP.value, Job.Kind.HTTP.label),
    ]
    if settings.CRONADMIN_ALLOW_SHELL_JOBS and can(user, "edit", kind="shell"):
        choices.append((Job.Kind.SHELL.value, Job.Kind.SHELL.label))
    return choices


@cache
def timezone_names() -> list[str]:
    """For the time zone fields' suggestion list."""
    return sorted(zone for zone in available_timezones() if "/" in zone or zone == "UTC")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class JobForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    kind = forms.ChoiceField(label=_("Kind"))
    schedule = forms.CharField(
        label=_("Schedule"),
        max_length=200,
        help_text=_("Cron (“0 9 * * 1-5”), @daily, @every 90s, a date-time, or @manual."),
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "spellcheck": "false",
                "hx-get": reverse_lazy("jobs:schedule_preview"),
                "hx-trigger": "input changed delay:300ms, change",
                "hx-target": "#schedule-preview",
                "hx-include": "[name=timezone],[name=start_at],[name=end_at],[name=calendars],"
                "[name=on_calendar]",
                "aria-describedby": "id_schedule_helptext schedule-preview",
            }
        ),
    )
    timezone = forms.CharField(
        label=_("Time zone"),
        max_length=64,
        initial="UTC",
        help_text=_("An IANA name such as Europe/Berlin, Asia/Shanghai or UTC."),
        widget=forms.TextInput(
            attrs={
                "list": "timezones",
                "autocomplete": "off",
                "hx-get": reverse_lazy("jobs:schedule_preview"),
                "hx-trigger": "input changed delay:300ms, change",
                "hx-target": "#schedule-preview",
                "hx-include": "[name=schedule],[name=start_at],[name=end_at],[name=calendars],"
                "[name=on_calendar]",
            }
        ),
    )
    start_at = forms.DateTimeField(
        label=_("Start"), required=False, widget=DATETIME_WIDGET, help_text=_("In your time zone.")
    )
    end_at = forms.DateTimeField(
        label=_("End"), required=False, widget=DATETIME_WIDGET, help_text=_("In your time zone.")
    )
    timeout_seconds = SecondsField(
        label=_("Timeout"),
        required=False,
        help_text=_("Empty: the server default."),
    )
    max_retries = forms.IntegerField(label=_("Retries"), min_value=0, max_value=100, initial=0)
    retry_backoff = forms.ChoiceField(
        label=_("Retry backoff"), choices=Job.Backoff.choices, initial=Job.Backoff.FIXED
    )
    retry_backoff_seconds = forms.IntegerField(
        label=_("Retry delay (seconds)"), min_value=0, initial=10
    )
    overlap = forms.ChoiceField(
        label=_("When the previous run is still going"),
        choices=Job.Overlap.choices,
        initial=Job.Overlap.SKIP,
    )
    max_concurrent = forms.IntegerField(
        label=_("Concurrent runs allowed"), min_value=1, max_value=1000, initial=1
    )
    misfire = forms.ChoiceField(
        label=_("Runs missed while the scheduler was down"),
        choices=Job.Misfire.choices,
        initial=Job.Misfire.ONCE,
    )
    misfire_limit = forms.IntegerField(
        label=_("Catch-up limit"), min_value=1, max_value=10000, initial=10
    )
    priority = forms.IntegerField(
        label=_("Priority"),
        min_value=-1000,
        max_value=1000,
        initial=0,
        help_text=_("Higher starts first when workers are busy."),
    )
    queue = forms.CharField(
        label=_("Worker queue"),
        required=False,
        max_length=100,
        help_text=_("Empty: the scheduler runs it. A name: Celery workers serving that queue do."),
    )
    labels = forms.CharField(
        label=_("Labels"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text=_("One key=value per line, e.g. team=data."),
    )
    # Drawn by the chain editor (jobs/_chain_editor.html): one row per job, a box per event.
    on_success = forms.ModelMultipleChoiceField(
        label=JobLink.Event.SUCCESS.label, queryset=Job.objects.all(), required=False
    )
    on_failure = forms.ModelMultipleChoiceField(
        label=JobLink.Event.FAILURE.label, queryset=Job.objects.all(), required=False
    )
    on_finish = forms.ModelMultipleChoiceField(
        label=JobLink.Event.FINISH.label, queryset=Job.objects.all(), required=False
    )

    calendars = forms.ModelMultipleChoiceField(
        label=_("Calendars"),
        queryset=Calendar.objects.all(),
        to_field_name="name",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Holidays, dates and windows this job keeps out of."),
    )
    on_calendar = forms.ChoiceField(
        label=_("A run that falls in a calendar"),
        choices=Job.OnCalendar.choices,
        initial=Job.OnCalendar.SKIP,
        # Shown only once calendars exist: a form without it keeps the default.
        required=False,
    )

    notify_on = forms.MultipleChoiceField(
        label=_("Notify on"),
        required=False,
        choices=Notification.Event.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("A failure counts after the last retry; recovery is the first success after."),
    )
    notify_emails = forms.CharField(
        label=_("E-mail addresses"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text=_("One per line or separated by commas."),
    )
    notify_webhook_url = forms.CharField(
        label=_("Webhook URL"),
        required=False,
        max_length=2048,
        widget=forms.URLInput(attrs={"spellcheck": "false"}),
        help_text=_("Receives a JSON POST; the same address rules as HTTP jobs apply."),
    )
    notify_window_seconds = forms.IntegerField(
        label=_("Notification window (seconds)"),
        required=False,
        min_value=0,
        help_text=_("Later events are sent together at the end. Empty: the server default."),
    )
    keep_runs_days = forms.IntegerField(
        label=_("Keep runs for (days)"),
        required=False,
        min_value=0,
        max_value=100_000,
        help_text=_("Empty: the server default."),
    )
    keep_runs_count = forms.IntegerField(
        label=_("Always keep the newest (runs)"),
        required=False,
        min_value=0,
        max_value=1_000_000,
        help_text=_("Empty: the server default."),
    )

    def __init__(
        self,
        *args: Any,
        user: Any,
        job: Job | None = None,
        kind: str = "",
        task: str = "",
        **kw: Any,
    ) -> None:
        super().__init__(*args, **kw)
        self.job = job
        choices = kind_choices(user)
        if job is not None and job.kind == Job.Kind.SHELL and len(choices) < 3:
            # Keep an existing shell job's kind selectable; the service decides who may save it.
            choices.append((Job.Kind.SHELL.value, Job.Kind.SHELL.label))
        self.fields["kind"].choices = choices
        data = self.data if self.is_bound else self.initial
        self.kind = kind or data.get("kind") or Job.Kind.TASK
        if self.kind not in KIND_FIELDS:
            self.kind = Job.Kind.TASK
        self.task_name = task or data.get("task") or ""
        self.param_names: list[str] = []
        add = {"task": self._add_task_fields, "http": self._add_http_fields}
        add.get(self.kind, self._add_shell_fields)()

    # --- the kind's fields ---

    def _add_task_fields(self) -> None:
        tasks = registry.all_tasks()
        self.fields["task"] = forms.ChoiceField(
            label=_("Task"),
            # Operators know a task by what it does; the registered name follows for precision.
            choices=[("", _("Choose a task…"))]
            + [(t.name, f"{t.description} ({t.name})" if t.description else t.name) for t in tasks],
            widget=forms.Select(
                attrs={
                    "hx-get": reverse_lazy("jobs:job_kind_fields"),
                    "hx-target": "#kind-fields",
                    "hx-swap": "outerHTML",
                    "hx-include": "[name=kind]",
                }
            ),
        )
        registered = registry.get_task(self.task_name)
        if registered is None:
            return
        self.fields["task"].help_text = registered.description
        for param in registered.params:
            self.fields[PARAM_PREFIX + param.name] = _param_field(param)
            self.param_names.append(param.name)

    def _add_http_fields(self) -> None:
        self.fields["method"] = forms.ChoiceField(
            label=_("Method"), choices=[(m, m) for m in METHODS], initial="GET"
        )
        self.fields["url"] = forms.CharField(
            label=_("URL"), max_length=2048, widget=forms.URLInput(attrs={"spellcheck": "false"})
        )
        self.fields["headers"] = forms.CharField(
            label=_("Headers"),
            required=False,
            widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
            help_text=_("One “Name: value” per line. Secret values are never shown again."),
        )
        self.fields["secret_headers"] = forms.CharField(
            label=_("Secret headers"),
            required=False,
            widget=forms.TextInput(attrs={"spellcheck": "false"}),
            help_text=_(
                "Names of the headers above whose values are secrets, separated by commas: "
                "stored encrypted, never shown again, and never sent to another host. "
                "Authorization, cookies, tokens, keys and passwords are secret anyway."
            ),
        )
        self.fields["body"] = forms.CharField(
            label=_("Body"), required=False, widget=forms.Textarea(attrs={"rows": 3})
        )
        self.fields["expect_status"] = forms.CharField(
            label=_("Expected statuses"),
            required=False,
            help_text=_("Comma-separated, e.g. 200, 204. Empty: any 2xx."),
        )

    def _add_shell_fields(self) -> None:
        self.fields["command"] = forms.CharField(
            label=_("Command"), widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})
        )

    # --- reading text into values ---

    def clean_timezone(self) -> str:
        value = self.cleaned_data["timezone"].strip()
        validate_timezone(value)
        return value

    def clean_on_calendar(self) -> str:
        return self.cleaned_data["on_calendar"] or Job.OnCalendar.SKIP

    def clean_labels(self) -> dict[str, str]:
        labels: dict[str, str] = {}
        for line in _lines(self.cleaned_data["labels"]):
            key, has_value, value = line.partition("=")
            if not has_value:
                raise ValidationError(
                    _("Write each label as key=value; “%(line)s” has no “=”.") % {"line": line}
                )
            labels[key.strip()] = value.strip()
        validate_labels(labels)
        return labels

    def clean_notify_emails(self) -> list[str]:
        text = self.cleaned_data["notify_emails"].replace(",", "\n").replace(";", "\n")
        addresses = _lines(text)
        validate_emails(addresses)
        return addresses

    def clean_notify_webhook_url(self) -> str:
        value = self.cleaned_data["notify_webhook_url"].strip()
        # The URL is shown masked; sending the mask back means "keep the saved URL".
        value, unknown = unmask_url(value, self.job.notify_webhook_url if self.job else "")
        if unknown:
            raise ValidationError(webhook_mask_message())
        return clean_url(value) if value and not is_sealed(value) else value

    def clean_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for line in _lines(self.cleaned_data["headers"]):
            name, has_colon, value = line.partition(":")
            if not has_colon:
                raise ValidationError(
                    _("Write each header as Name: value; “%(line)s” has no “:”.") % {"line": line}
                )
            headers[name.strip()] = value.strip()
        # A secret is shown masked; sending the mask back means "keep what is stored".
        return unmask_headers(headers, self.job)[0]

    def clean_secret_headers(self) -> list[str]:
        names = [n.strip() for n in self.cleaned_data["secret_headers"].split(",") if n.strip()]
        headers = self.cleaned_data.get("headers")
        if headers is None:
            return names  # the headers have their own error
        given = {name.lower() for name in headers}
        missing = [name for name in names if name.lower() not in given]
        if missing:
            raise ValidationError(
                _("%(names)s is not one of the headers above.") % {"names": ", ".join(missing)}
            )
        # Marked by encrypting the value now: an encrypted value is a secret wherever it goes.
        self.cleaned_data["headers"] = mark_secret(headers, names)
        return names

    def clean_expect_status(self) -> list[int]:
        codes: list[int] = []
        for part in self.cleaned_data["expect_status"].replace(";", ",").split(","):
            if part.strip():
                try:
                    codes.append(int(part.strip()))
                except ValueError:
                    raise ValidationError(
                        _("“%(value)s” is not an HTTP status code.") % {"value": part.strip()}
                    ) from None
        return codes

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "schedule" in cleaned:
            # With a bad zone the schedule is still checked (in UTC), so both errors show at once.
            try:
                schedule_or_error(cleaned["schedule"], cleaned.get("timezone") or "UTC")
            except ValidationError as exc:
                self.add_service_errors(exc)
        return cleaned

    # --- to and from the services ---

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        fields = {name: data[name] for name in COMMON_FIELDS if name in data}
        if self.kind == Job.Kind.TASK:
            params = {name: data.get(PARAM_PREFIX + name) for name in self.param_names}
            config: dict[str, Any] = {"task": data.get("task", ""), "params": params}
        else:
            config = {name: data.get(name) for name in KIND_FIELDS[self.kind]}
        fields["config"] = config
        fields["kind"] = self.kind
        for name in CHAIN_FIELDS:
            fields[name] = list(data.get(name) or [])
        fields["calendars"] = [calendar.name for calendar in data.get("calendars") or []]
        return fields

    def chain_selection(self) -> dict[str, set[int]]:
        """The downstream job ids ticked per event: as sent, or as saved before."""
        if self.is_bound:
            return {name: _ids(self.data.getlist(name)) for name in CHAIN_FIELDS}
        return {name: set(self.initial.get(name) or ()) for name in CHAIN_FIELDS}

    def add_service_errors(self, exc: ValidationError) -> None:
        """Put a service's ValidationError next to the fields it names."""
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for key, errors in exc.error_dict.items():
            for error in errors:
                self._add_one(key, error)

    def _add_one(self, key: str, error: ValidationError) -> None:
        if key == "params":
            for message in error.messages:
                name, _sep, text = message.partition(": ")
                field = PARAM_PREFIX + name
                self.add_error(field if field in self.fields else None, text or message)
            return
        self.add_error(key if key in self.fields and key != NON_FIELD_ERRORS else None, error)

    @staticmethod
    def initial_from(job: Job) -> dict[str, Any]:
        initial: dict[str, Any] = {name: getattr(job, name) for name in COMMON_FIELDS}
        initial["labels"] = "\n".join(f"{k}={v}" for k, v in (job.labels or {}).items())
        initial.update(job_chains(job))
        initial["calendars"] = [calendar.name for calendar in job.calendars.all()]
        initial["notify_emails"] = "\n".join(job.notify_emails or [])
        initial["notify_webhook_url"] = mask_url(job.notify_webhook_url)
        config = job.config or {}
        if job.kind == Job.Kind.TASK:
            initial["task"] = config.get("task", "")
            for name, value in (config.get("params") or {}).items():
                initial[PARAM_PREFIX + name] = value
        elif job.kind == Job.Kind.HTTP:
            initial.update({k: config.get(k) for k in ("method", "url", "body")})
            headers = mask_headers(config.get("headers") or {})
            initial["headers"] = "\n".join(f"{k}: {v}" for k, v in headers.items())
            initial["secret_headers"] = ", ".join(secret_header_names(config.get("headers") or {}))
            initial["expect_status"] = ", ".join(str(c) for c in config.get("expect_status") or [])
        else:
            initial["command"] = config.get("command", "")
        return initial


def _ids(values: list[str]) -> set[int]:
    return {int(value) for value in values if value.isdigit()}


def _param_field(param: registry.TaskParam) -> forms.Field:
    label = param.name.replace("_", " ").capitalize()
    common: dict[str, Any] = {"label": label, "help_text": param.help}
    if param.type is bool:
        return forms.BooleanField(required=False, initial=bool(param.default), **common)
    initial = None if param.required else param.default
    if param.type is int:
        return forms.IntegerField(required=param.required, initial=initial, **common)
    if param.type is float:
        return forms.FloatField(required=param.required, initial=initial, **common)
    return forms.CharField(required=param.required, initial=initial, **common)


class RunParamsForm(forms.Form):
    """A task job's parameters for one run, filled with the job's own values.

    What is sent is checked by the task's signature (registry.clean_params) in the service, as
    the job form's parameters are.
    """

    def __init__(self, *args: Any, job: Job, **kw: Any) -> None:
        super().__init__(*args, **kw)
        config = job.config if isinstance(job.config, dict) else {}
        registered = registry.get_task(config.get("task") or "")
        saved = config.get("params") or {}
        self.param_names: list[str] = []
        for param in registered.params if registered else ():
            field = _param_field(param)
            if param.name in saved:
                field.initial = saved[param.name]
            self.fields[PARAM_PREFIX + param.name] = field
            self.param_names.append(param.name)

    def params(self) -> dict[str, Any]:
        return {name: self.cleaned_data.get(PARAM_PREFIX + name) for name in self.param_names}

    def add_service_errors(self, exc: ValidationError) -> None:
        for key, errors in getattr(exc, "error_dict", {"__all__": exc.error_list}).items():
            for error in errors:
                for message in error.messages if key == "params" else []:
                    name, _sep, text = message.partition(": ")
                    field = PARAM_PREFIX + name
                    self.add_error(field if field in self.fields else None, text or message)
                if key != "params":
                    self.add_error(None, error)


class CalendarForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    timezone = forms.CharField(
        label=_("Time zone"),
        max_length=64,
        initial="UTC",
        help_text=_("Its dates, holidays and windows are read in this zone."),
        widget=forms.TextInput(attrs={"list": "timezones", "autocomplete": "off"}),
    )
    holiday_country = forms.CharField(
        label=_("Public holidays of"),
        required=False,
        max_length=3,
        help_text=_("A country code such as CN, US or DE. Empty: no public holidays."),
    )
    holiday_subdivision = forms.CharField(
        label=_("Region"),
        required=False,
        max_length=10,
        help_text=_("Optional: a state or province code such as NY or BY."),
    )
    dates = forms.CharField(
        label=_("Dates"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text=_("One date per line, like 2026-12-24."),
    )
    windows = forms.CharField(
        label=_("Blackout windows"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text=_(
            "One per line: “Sun 01:00-03:00”, “Mon-Fri 23:00-02:00”, “daily 12:00-13:00”, or "
            "from one date (and time) to another: “2026-12-24 to 2027-01-02”."
        ),
    )

    def clean_dates(self) -> list[str]:
        return _lines(self.cleaned_data["dates"].replace(",", "\n"))

    def clean_windows(self) -> list[dict[str, Any]]:
        from jobs.calendar_text import windows_from_text

        return windows_from_text(self.cleaned_data["windows"])

    def add_service_errors(self, exc: ValidationError) -> None:
        add_service_errors(self, exc)

    @staticmethod
    def initial_from(calendar: Calendar) -> dict[str, Any]:
        from jobs.calendar_text import windows_to_text

        return {
            "name": calendar.name,
            "description": calendar.description,
            "timezone": calendar.timezone,
            "holiday_country": calendar.holiday_country,
            "holiday_subdivision": calendar.holiday_subdivision,
            "dates": "\n".join(calendar.dates),
            "windows": windows_to_text(calendar.windows),
        }


class PauseForm(forms.Form):
    # Quick choices, read in the viewer's time zone; "at" takes the date and time below.
    FOR_CHOICES = [
        ("hour", _("1 hour")),
        ("tomorrow", _("Until tomorrow 09:00")),
        ("monday", _("Until Monday 09:00")),
        ("resume", _("Until I resume it")),
        ("at", _("Until a date and time")),
    ]
    length = forms.ChoiceField(
        label=_("Pause"),
        choices=FOR_CHOICES,
        required=False,
        widget=forms.RadioSelect,
    )
    until = forms.DateTimeField(
        label=_("Paused until"),
        required=False,
        widget=DATETIME_WIDGET,
        help_text=_("Empty: until someone resumes it. In your time zone."),
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=500)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # Without a quick choice (none is preselected; an older page; a script) the date field
        # alone decides.
        length = data.get("length") or ("at" if data.get("until") else "resume")
        if length != "at":
            data["until"] = pause_end(length, dj_timezone.now(), dj_timezone.get_current_timezone())
        return data


def pause_end(length: str, now: datetime, zone: tzinfo) -> datetime | None:
    """When a quick pause choice ends: local 09:00 is the viewer's morning, not UTC's."""
    if length == "hour":
        return now + timedelta(hours=1)
    if length == "resume":
        return None
    today = now.astimezone(zone).date()
    days = 1 if length == "tomorrow" else (7 - today.weekday()) or 7
    return datetime.combine(today + timedelta(days=days), time(9, 0), tzinfo=zone)


class ProfileForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), required=False)
    timezone = forms.CharField(
        label=_("Time zone"),
        required=False,
        max_length=64,
        help_text=_("Times on every page are shown in this zone. Empty: UTC."),
        widget=forms.TextInput(attrs={"list": "timezones", "autocomplete": "off"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = [("", _("As the browser asks"))] + list(
            settings.LANGUAGES
        )


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=_("New token's name"), max_length=100, help_text=_("Say where it is used.")
    )


class PeriodForm(forms.Form):
    """A period of the ledger, in the viewer's time zone; an empty end means now, an empty start
    the last 24 hours or what `default_start` (given the end) says."""

    DEFAULT_SPAN = timedelta(hours=24)

    start = forms.DateTimeField(
        label=pgettext_lazy("start of a period", "From"), required=False, widget=DATETIME_WIDGET
    )
    end = forms.DateTimeField(label=_("To"), required=False, widget=DATETIME_WIDGET)

    def __init__(
        self,
        *args: Any,
        default_start: Callable[[datetime], datetime] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.default_start = default_start

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        # By default up to the next whole minute: the form shows minutes, and this minute counts.
        now = dj_timezone.now().replace(second=0, microsecond=0)
        end = data.get("end") or now + timedelta(minutes=1)
        data["end"] = end
        if not data.get("start"):
            data["start"] = (
                self.default_start(end) if self.default_start else end - self.DEFAULT_SPAN
            )
        return data


def choice_or_blank(value: str, choices: Any) -> str:
    """A filter value from the query string, or "" when it is not one of `choices`."""
    return value if value in dict(choices) else ""


def filter_text(value: str, limit: int) -> str:
    """Free text from the query string, safe to search with: PostgreSQL rejects NUL characters."""
    return value.replace("\x00", "").strip()[:limit]


def page_number(value: str | None) -> int:
    try:
        return max(1, int(value or 1))
    except ValueError:
        return 1


RUN_STATE_CHOICES = Run.State.choices


FILE_FORMAT_CHOICES = [
    ("", _("Guess from the file")),
    ("yaml", "YAML"),
    ("json", "JSON"),
]


class ImportForm(forms.Form):
    """A job file, uploaded or pasted; the plan page sends its text back to be applied."""

    file = forms.FileField(label=_("File"), required=False)
    text = forms.CharField(
        label=_("Or paste it here"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "mono"}),
    )
    format = forms.ChoiceField(label=_("Format"), choices=FILE_FORMAT_CHOICES, required=False)
    delete_missing = forms.BooleanField(
        label=_("Delete the jobs that are not in the file"), required=False
    )
    # Set by the plan page: the jobs as they were when the plan was made.
    fingerprint = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        from jobs.job_files import guess_format
        from jobs.services.transfer_file import MAX_FILE_BYTES

        data = super().clean()
        upload = data.get("file")
        if upload is not None:
            if upload.size > MAX_FILE_BYTES:
                self.add_error(
                    "file",
                    _("The file is larger than %(n)d bytes; import it in parts.")
                    % {"n": MAX_FILE_BYTES},
                )
                return data
            try:
                data["text"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                self.add_error("file", _("The file must be UTF-8 text."))
                return data
        if not (data.get("text") or "").strip():
            self.add_error("text", _("Choose a file or paste its content."))
            return data
        data["format"] = data.get("format") or guess_format(
            data["text"], upload.name if upload is not None else ""
        )
        return data

    @property
    def source_field(self) -> str:
        """Where a problem in the file is shown: at the upload, or at the pasted text."""
        return "file" if self.files.get("file") else "text"


class AllowedHostForm(forms.Form):
    # The service checks and normalises both; the form only bounds their size.
    host = forms.CharField(
        label=_("Host name or network"),
        max_length=255,
        help_text=_("billing.internal, *.corp.example, 10.1.2.3 or 10.1.0.0/16"),
    )
    note = forms.CharField(
        label=_("Why it may be called"),
        max_length=200,
        help_text=_("For example: the internal tools portal."),
    )
