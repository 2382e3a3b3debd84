from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from jobs.calendars import CalendarRule


class Calendar(models.Model):
    """A named set of excluded days and periods that jobs share (see jobs.calendars)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    timezone = models.CharField(_("time zone"), max_length=64, default="UTC")
    # ISO dates picked by hand, sorted.
    dates = models.JSONField(_("dates"), default=list, blank=True)
    # Public holidays of the `holidays` library: ISO country code, optional subdivision.
    holiday_country = models.CharField(_("holidays of country"), max_length=3, blank=True)
    holiday_subdivision = models.CharField(_("subdivision"), max_length=10, blank=True)
    # {"days": [1..7], "start": "HH:MM", "end": "HH:MM"} or {"from": ISO, "to": ISO}.
    windows = models.JSONField(_("blackout windows"), default=list, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from jobs.validators import clean_dates, clean_holidays, clean_windows, validate_timezone

        errors: dict[str, list[ValidationError]] = {}
        for name, check in (
            ("timezone", lambda: validate_timezone(self.timezone)),
            ("dates", lambda: setattr(self, "dates", clean_dates(self.dates))),
            ("windows", lambda: setattr(self, "windows", clean_windows(self.windows))),
            (
                "holiday_country",
                lambda: clean_holidays(self.holiday_country, self.holiday_subdivision),
            ),
        ):
            try:
                check()
            except ValidationError as exc:
                for error in exc.error_list:
                    # A wrong subdivision of a known country is the subdivision's error.
                    key = "holiday_subdivision" if error.code == "unknown_subdivision" else name
                    errors.setdefault(key, []).append(error)
        if errors:
            raise ValidationError(errors)

    def rule(self) -> "CalendarRule":
        from datetime import date

        from jobs.calendars import CalendarRule, window_from_json

        return CalendarRule(
            name=self.name,
            timezone=self.timezone,
            dates=frozenset(date.fromisoformat(d) for d in self.dates),
            country=self.holiday_country.upper(),
            subdivision=self.holiday_subdivision.upper(),
            windows=tuple(window_from_json(w) for w in self.windows),
        )


class Job(models.Model):
    class Kind(models.TextChoices):
        TASK = "task", _("Python task")
        HTTP = "http", _("HTTP request")
        SHELL = "shell", _("Shell command")

    class State(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")

    class Overlap(models.TextChoices):
        ALLOW = "allow", _("Allow up to the concurrency limit")
        SKIP = "skip", _("Skip the new run")
        QUEUE = "queue", _("Queue one run")
        REPLACE = "replace", _("Cancel the running one and start the new one")

    class Misfire(models.TextChoices):
        SKIP = "skip", _("Skip missed runs")
        ONCE = "once", _("Run once")
        ALL = "all", _("Run all (capped)")

    class Backoff(models.TextChoices):
        FIXED = "fixed", _("Fixed delay")
        EXPONENTIAL = "exponential", _("Exponential with jitter")

    class OnCalendar(models.TextChoices):
        SKIP = "skip", _("Skip the run")
        NEXT_ALLOWED = "next_allowed", _("Move it to the next allowed time")

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    # The kind's settings, validated by jobs.kinds.<kind>.clean_config: {"task", "params"} for a
    # task, {"method", "url", "headers", "body", "expect_status"} for http, {"command"} for shell.
    config = models.JSONField(_("settings"), default=dict, blank=True)

    schedule = models.CharField(_("schedule"), max_length=200)
    timezone = models.CharField(_("time zone"), max_length=64, default="UTC")
    start_at = models.DateTimeField(_("start"), null=True, blank=True)
    end_at = models.DateTimeField(_("end"), null=True, blank=True)
    # Slots before this instant belong to an earlier schedule: they are never owed as missed.
    schedule_anchor = models.DateTimeField(default=now)

    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.ACTIVE)
    paused_until = models.DateTimeField(_("paused until"), null=True, blank=True)
    pause_note = models.CharField(_("pause note"), max_length=500, blank=True)

    timeout_seconds = models.PositiveIntegerField(_("timeout (seconds)"), null=True, blank=True)
    max_retries = models.PositiveSmallIntegerField(_("retries"), default=0)
    retry_backoff = models.CharField(
        _("retry backoff"), max_length=12, choices=Backoff.choices, default=Backoff.FIXED
    )
    retry_backoff_seconds = models.PositiveIntegerField(_("retry delay (seconds)"), default=10)
    overlap = models.CharField(
        _("overlap"), max_length=10, choices=Overlap.choices, default=Overlap.SKIP
    )
    max_concurrent = models.PositiveSmallIntegerField(_("concurrent runs allowed"), default=1)
    misfire = models.CharField(
        _("missed runs"), max_length=10, choices=Misfire.choices, default=Misfire.ONCE
    )
    misfire_limit = models.PositiveSmallIntegerField(_("catch-up limit"), default=10)
    labels = models.JSONField(_("labels"), default=dict, blank=True)
    priority = models.SmallIntegerField(_("priority"), default=0)
    calendars = models.ManyToManyField(
        Calendar, verbose_name=_("calendars"), blank=True, related_name="jobs"
    )
    on_calendar = models.CharField(
        _("on a calendar day"),
        max_length=12,
        choices=OnCalendar.choices,
        default=OnCalendar.SKIP,
    )

    # Who hears about it (see jobs.notifications): events out of Notification.Event, e-mail
    # addresses, a webhook URL; the window (null: the server's) throttles messages per channel.
    notify_on = models.JSONField(_("notify on"), default=list, blank=True)
    notify_emails = models.JSONField(_("notification e-mails"), default=list, blank=True)
    # Encrypted (jobs.vault): the URL is checked at 2048 characters before; the ciphertext is
    # longer. Shown masked (jobs.audit.mask_url).
    notify_webhook_url = models.CharField(_("notification webhook"), max_length=4096, blank=True)
    notify_window_seconds = models.PositiveIntegerField(
        _("notification window (seconds)"), null=True, blank=True
    )
    # Run retention; null takes CRONADMIN_RUNS_KEEP_DAYS / CRONADMIN_RUNS_KEEP_PER_JOB.
    keep_runs_days = models.PositiveIntegerField(_("keep runs (days)"), null=True, blank=True)
    keep_runs_count = models.PositiveIntegerField(_("keep runs (newest)"), null=True, blank=True)
    # The Celery queue its runs go to (docs/workers.md); empty: the scheduler's own pool.
    queue = models.CharField(_("queue"), max_length=100, blank=True, default="", db_default="")
    # Set for the HTTP jobs a self-registering executor owns: they are skipped while it is offline,
    # and its next registration may change or remove them. Not part of the editable definition.
    executor = models.ForeignKey(
        "Executor",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="jobs",
    )

    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["state", "kind"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from jobs.kinds import clean_config
        from jobs.kinds.http import clean_url
        from jobs.validators import (
            schedule_or_error,
            validate_emails,
            validate_labels,
            validate_notify_events,
        )
        from jobs.vault import is_sealed

        errors: dict[str, list[ValidationError]] = {}

        def collect(check: Callable[[], object], field: str) -> None:
            try:
                check()
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for key, value in exc.error_dict.items():
                        errors.setdefault(key, []).extend(value)
                else:
                    errors.setdefault(field, []).extend(exc.error_list)

        collect(lambda: schedule_or_error(self.schedule, self.timezone), "schedule")
        collect(lambda: validate_labels(self.labels), "labels")
        collect(lambda: validate_notify_events(self.notify_on), "notify_on")
        collect(lambda: validate_emails(self.notify_emails), "notify_emails")

        def clean_webhook() -> None:
            # An encrypted URL was checked when it was entered.
            if self.notify_webhook_url and not is_sealed(self.notify_webhook_url):
                self.notify_webhook_url = clean_url(self.notify_webhook_url)

        collect(clean_webhook, "notify_webhook_url")

        def clean_kind() -> None:
            self.config = clean_config(self.kind, self.config)

        collect(clean_kind, "config")
        # Only URLs that are well-formed are worth resolving.
        collect(lambda: self.check_targets(skip=set(errors)), "config")

        def clean_queue() -> None:
            from jobs.validators import validate_queue

            validate_queue(self.queue, kind=self.kind)

        collect(clean_queue, "queue")
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            errors.setdefault("end_at", []).append(
                ValidationError(_("The end must be after the start."), code="end_before_start")
            )
        if self.max_concurrent < 1:
            errors.setdefault("max_concurrent", []).append(
                ValidationError(_("Allow at least one run at a time."), code="min_value")
            )
        if self.state == Job.State.ACTIVE and self.paused_until:
            self.paused_until = None
        if errors:
            raise ValidationError(errors)

    def check_targets(self, skip: Collection[str] = ()) -> None:
        """Refuse a URL or webhook that the SSRF guard would block when it is called, so the
        person saving it reads why (and who can allow it) instead of a failed run later."""
        from jobs.audit import open_url
        from jobs.kinds.ssrf import check_target

        problems: dict[str, ValidationError] = {}
        # A kept webhook is stored encrypted: the guard judges the URL it stands for.
        targets = {"notify_webhook_url": open_url(self.notify_webhook_url)}
        if self.kind == Job.Kind.HTTP and isinstance(self.config, dict):
            targets["url"] = self.config.get("url") or ""
        for field, url in targets.items():
            try:
                if url and field not in skip:
                    check_target(url)
            except ValidationError as exc:
                problems[field] = exc
        if problems:
            raise ValidationError(problems)

    def effective_timeout(self) -> int:
        return self.timeout_seconds or settings.CRONADMIN_DEFAULT_TIMEOUT_SECONDS

    def notify_window(self) -> timedelta:
        if self.notify_window_seconds is not None:
            return timedelta(seconds=self.notify_window_seconds)
        return timedelta(seconds=settings.CRONADMIN_NOTIFY_WINDOW_SECONDS)

    def notify_targets(self) -> dict[str, str]:
        """Channel → where it goes, for the channels this job has set up."""
        targets = {}
        if self.notify_emails:
            targets[Notification.Channel.EMAIL] = ", ".join(self.notify_emails)
        if self.notify_webhook_url:
            # What a notification records and shows; the sender opens the job's own URL.
            from jobs.audit import mask_url

            targets[Notification.Channel.WEBHOOK] = mask_url(self.notify_webhook_url)
        return targets

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt` (2 for the first retry)."""
        import random

        base = float(self.retry_backoff_seconds)
        if self.retry_backoff == Job.Backoff.FIXED:
            return base
        # Full jitter keeps many failing jobs from retrying in lockstep.
        ceiling = base * 2 ** max(attempt - 2, 0)
        return random.uniform(base / 2, min(ceiling, 3600.0))


class JobVersion(models.Model):
    """The definition of a job as saved at one version; runs point at the version they ran with."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    definition = models.JSONField()
    created_at = models.DateTimeField(default=now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["job", "version"], name="jobversion_unique_per_job")
        ]

    def __str__(self) -> str:
        return f"{self.job_id} v{self.version}"


class JobLink(models.Model):
    """One job starting another when a run of it ends: on success, on failure or either way.

    Deleting either job deletes the link, so a downstream job can be removed without touching the
    jobs that start it. Links are part of the upstream job's versioned definition.
    """

    class Event(models.TextChoices):
        SUCCESS = "success", _("On success")
        FAILURE = "failure", _("On failure")
        FINISH = "finish", _("When finished")

    upstream = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="downstream_links")
    downstream = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="upstream_links")
    event = models.CharField(max_length=10, choices=Event.choices)

    class Meta:
        ordering = ["upstream", "event", "downstream"]
        constraints = [
            models.UniqueConstraint(
                fields=["upstream", "downstream", "event"], name="joblink_unique_per_event"
            ),
            models.CheckConstraint(
                condition=~Q(upstream=models.F("downstream")), name="joblink_not_to_itself"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.upstream_id} -{self.event}-> {self.downstream_id}"


class SchedulerNode(models.Model):
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=now)
    heartbeat_at = models.DateTimeField(default=now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    # The change-marker version this node has applied, and when: the propagation delay of a
    # change is applied_at minus the marker's changed_at.
    applied_change = models.BigIntegerField(default=0)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"

    def heartbeat_age(self, at: datetime | None = None) -> timedelta:
        return (at or now()) - self.heartbeat_at


class SchedulerLease(models.Model):
    """One row per lease name: the holder leads; `term` grows at each takeover, fencing writes."""

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.ForeignKey(SchedulerNode, null=True, blank=True, on_delete=models.SET_NULL)
    term = models.BigIntegerField(default=0)
    renewed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} term {self.term}"


# PostgreSQL NOTIFY channel of job changes (the triggers of migration 0002, bump_change_marker).
CHANGE_CHANNEL = "cronadmin_changes"
# NOTIFY channel of runs ended on a Celery worker: the leader reacts at once (jobs.dispatch).
RUNS_CHANNEL = "cronadmin_runs"


class ChangeMarker(models.Model):
    """A single row whose counter grows whenever job definitions or run requests change.

    Database triggers bump it on every write to the jobs table (so `QuerySet.update()` and raw SQL
    count too) and services bump it for run requests; the scheduler polls it.
    """

    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"change {self.version}"


class Run(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        TIMED_OUT = "timed_out", _("Timed out")
        CANCELLED = "cancelled", _("Cancelled")
        SKIPPED = "skipped", _("Skipped")
        MISSED = "missed", _("Missed")
        INTERRUPTED = "interrupted", _("Interrupted")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("Schedule")
        MANUAL = "manual", _("Run now")
        API = "api", _("API")
        RETRY = "retry", _("Retry")
        CHAIN = "chain", _("Chain")

    class Cause(models.TextChoices):
        """Why a slot did not run, as a code: pages and the API classify slots by it, never by
        the wording of `reason`, which may change or be translated."""

        OVERLAP = "overlap", _("Overlap policy")
        PAUSED = "paused", _("Job paused")
        SCHEDULER_DOWN = "scheduler_down", _("No scheduler was running")
        LATE = "late", _("Fired past the grace")
        EXECUTOR_OFFLINE = "executor_offline", _("Executor offline")
        JOB_DELETED = "job_deleted", _("Job deleted")
        CATCH_UP = "catch_up", _("Catch-up run")
        CALENDAR = "calendar", _("Calendar")

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)
    FINAL_STATES = (
        State.SUCCEEDED,
        State.FAILED,
        State.TIMED_OUT,
        State.CANCELLED,
        State.SKIPPED,
        State.MISSED,
        State.INTERRUPTED,
    )

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    job_version = models.PositiveIntegerField()
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    reason = models.TextField(blank=True)
    # The reason as a code with parameters (jobs.run_reasons), shown in the reader's language;
    # `reason` keeps its English text for the API, logs and rows from before the codes.
    reason_code = models.CharField(max_length=40, blank=True, default="", db_default="")
    reason_params = models.JSONField(default=dict, blank=True, db_default={})
    # db_default too: the scheduler writes slot rows with raw SQL.
    cause = models.CharField(
        max_length=20, choices=Cause.choices, blank=True, default="", db_default=""
    )

    # For scheduled runs the slot; for other runs the instant they were asked for.
    scheduled_for = models.DateTimeField()
    created_at = models.DateTimeField(default=now)
    not_before = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)

    attempt = models.PositiveSmallIntegerField(default=1)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    # A run asked for to do a slot's work again: the slot's own (scheduled) run. Its retries
    # carry it too, so one query finds everything that stood in for a slot.
    stands_for = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replacements"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # For chain runs: the run of the upstream job whose end started this one.
    parent_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="chained_runs"
    )

    node = models.ForeignKey(SchedulerNode, null=True, blank=True, on_delete=models.SET_NULL)
    term = models.BigIntegerField(null=True, blank=True)
    claim_batch = models.BigIntegerField(null=True, blank=True, db_index=True)
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)

    # Runs on Celery workers (jobs.dispatch): the message's id, which only the worker that claims
    # the row with it may write under; where it ran; its supervisor's last sign of life.
    queue = models.CharField(max_length=100, blank=True, default="", db_default="")
    dispatch_token = models.CharField(max_length=64, blank=True, default="", db_default="")
    published_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True, default="", db_default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    exit_code = models.IntegerField(null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    output = models.TextField(blank=True)
    output_dropped_bytes = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    # The task parameters of a run started by hand with other values than the job's; null: the
    # job's own.
    params = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-scheduled_for", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "scheduled_for"],
                condition=Q(trigger="schedule"),
                name="run_one_per_scheduled_slot",
            )
        ]
        indexes = [
            models.Index(fields=["job", "-scheduled_for"], name="run_job_newest"),
            models.Index(fields=["state", "scheduled_for"], name="run_state"),
            models.Index(fields=["state"], condition=~Q(dispatch_token=""), name="run_dispatched"),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of job {self.job_id} ({self.state})"

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def lateness(self) -> timedelta | None:
        if self.started_at and self.trigger == Run.Trigger.SCHEDULE:
            return self.started_at - self.scheduled_for
        return None

    @property
    def is_final(self) -> bool:
        return self.state in Run.FINAL_STATES

    @property
    def reason_text(self) -> str:
        """The reason in the active language."""
        from jobs.run_reasons import render_run

        return render_run(self)


class AuditEvent(models.Model):
    """Who did what, when and from where. Written by the services; never edited or deleted."""

    class Action(models.TextChoices):
        CREATE = "create", _("Created")
        UPDATE = "update", _("Changed")
        DELETE = "delete", _("Deleted")
        PAUSE = "pause", _("Paused")
        RESUME = "resume", _("Resumed")
        RUN_NOW = "run_now", _("Run now")
        RERUN_FAILED = "rerun_failed", _("Re-ran failed runs")
        CANCEL = "cancel", _("Cancelled")
        LOGIN = "login", _("Logged in")
        LOGIN_FAILED = "login_failed", _("Failed login")
        TEST_REQUEST = "test_request", _("Test request")
        TEST_NOTIFICATION = "test_notification", _("Test notification")

    at = models.DateTimeField(default=now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text too: the entry outlives the user account.
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=20)
    object_id = models.CharField(max_length=40, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} {self.object_type} {self.object_id}"


class UserProfile(models.Model):
    """Per-person preferences: the language and time zone pages are shown in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cronadmin_profile"
    )
    language = models.CharField(_("language"), max_length=10, blank=True)
    timezone = models.CharField(_("time zone"), max_length=64, blank=True)

    def __str__(self) -> str:
        return f"profile of {self.user_id}"


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 is stored; the token is shown once, at creation."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=100)
    # The first characters, to tell tokens apart in lists without revealing them.
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class ExecutorQuerySet(models.QuerySet["Executor"]):
    def overview(self) -> "ExecutorQuerySet":
        """Executors for lists (the UI, the API): by name, with how many jobs each owns.

        Whether one is online is computed from its last heartbeat (`Executor.state_at`), so the
        list is right without any process having to mark executors offline.
        """
        return self.annotate(job_count=models.Count("jobs")).order_by("name")


class Executor(models.Model):
    """Another service that owns HTTP jobs: it registers them, then proves it is alive.

    It sends a heartbeat every `heartbeat_seconds`; after MISSED_HEARTBEATS_OFFLINE missed ones it
    is offline, and the scheduler records its jobs' slots as skipped until heartbeats return.
    """

    class State(models.TextChoices):
        ONLINE = "online", _("Online")
        OFFLINE = "offline", _("Offline")

    MISSED_HEARTBEATS_OFFLINE = 3

    name = models.CharField(_("name"), max_length=63, unique=True)
    base_url = models.CharField(_("base URL"), max_length=2048)
    heartbeat_seconds = models.PositiveIntegerField(_("heartbeat period (seconds)"), default=30)
    registered_at = models.DateTimeField(default=now)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_heartbeat_at = models.DateTimeField(default=now)

    objects = ExecutorQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def offline_after(self) -> timedelta:
        return timedelta(seconds=self.heartbeat_seconds * self.MISSED_HEARTBEATS_OFFLINE)

    def state_at(self, at: datetime | None = None) -> str:
        silent = (at or now()) - self.last_heartbeat_at
        return self.State.OFFLINE if silent > self.offline_after else self.State.ONLINE

    @property
    def state(self) -> str:
        return self.state_at()


class IdempotencyRecord(models.Model):
    """The first answer to an API request sent with an `Idempotency-Key`, replayed on retries.

    Kept per user and per endpoint (`scope`); the fingerprint of the request tells a retry from a
    different request that reuses the key by mistake.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    scope = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(default=now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key", "scope"], name="idempotency_one_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"


class Notification(models.Model):
    """One message about a job to one channel: a single event, or a digest of a throttle window.

    Events of a job and channel inside the window of the previous message are collected into one
    pending row sent at the window's end (`send_after`), so a job failing every second sends a
    message per window, not one per run. Written and sent by the scheduler's notifier thread.
    """

    class Event(models.TextChoices):
        FAILURE = "failure", _("Failure")
        TIMEOUT = "timeout", _("Timeout")
        RECOVERY = "recovery", _("Recovery")

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        WEBHOOK = "webhook", _("Webhook")

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="notifications")
    runs = models.ManyToManyField(Run, related_name="notifications", blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    target = models.CharField(max_length=2048)
    # How many of each event it covers, e.g. {"failure": 11, "timeout": 1}.
    events = models.JSONField(default=dict)
    digest_count = models.PositiveIntegerField(default=0)
    first_event_at = models.DateTimeField()
    last_event_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    send_after = models.DateTimeField()
    created_at = models.DateTimeField(default=now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "send_after"], name="notification_due"),
            models.Index(fields=["job", "channel", "-send_after"], name="notification_job"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} notification {self.pk} of job {self.job_id} ({self.state})"


class AllowedHost(models.Model):
    """An internal host name or network that http jobs and webhooks may call.

    Beside CRONADMIN_HTTP_ALLOWED_HOSTS; both are read by jobs.kinds.ssrf at every check, so a
    change applies to the next request of the web and of the scheduler without a restart.
    Entries are added and removed by administrators (jobs.services.allowed_hosts), never edited.
    """

    host = models.CharField(_("host or network"), max_length=255, unique=True)
    note = models.CharField(_("note"), max_length=200)
    created_at = models.DateTimeField(default=now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["host"]

    def __str__(self) -> str:
        return self.host

    @property
    def is_network(self) -> bool:
        """An address or network (matched against what hosts resolve to), not a host name."""
        import ipaddress

        try:
            ipaddress.ip_network(self.host, strict=False)
        except ValueError:
            return False
        return True


class LiveTopic(models.Model):
    """A counter per thing an open page may show ("runs", "jobs", "job:7", "schedulers", …).

    Database triggers bump it in the transaction of every write (see jobs.live), so open pages
    learn about changes made anywhere, `QuerySet.update()` and raw SQL included, from one
    primary-key lookup. It is not the scheduler's ChangeMarker: run writes must not wake the
    scheduler's reconcile.
    """

    topic = models.CharField(max_length=40, primary_key=True)
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.topic} {self.version}"


class CeleryWorker(models.Model):
    """A Celery worker as it last reported itself (jobs.dispatch.worker_status)."""

    name = models.CharField(max_length=255, unique=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    queues = models.JSONField(default=list)
    concurrency = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=now)
    heartbeat_at = models.DateTimeField(default=now)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def is_online(self, at: datetime | None = None) -> bool:
        if self.stopped_at is not None:
            return False
        bound = timedelta(seconds=3 * settings.CRONADMIN_CELERY_HEARTBEAT_SECONDS)
        return (at or now()) - self.heartbeat_at <= bound
