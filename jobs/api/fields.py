"""The fields a job has in the API, with their types, limits and defaults.

One table, read by the input parser (jobs.api.serializers) and by the OpenAPI schema
(jobs.api.openapi_components): what the schema promises is what the parser checks. Integer
limits are those of the model's column types on every supported database (PostgreSQL's smallint
is the narrowest).
"""

from dataclasses import dataclass
from typing import Any

from jobs.kinds.http import METHODS
from jobs.models import Job, Notification, Run
from jobs.validators import MAX_NOTIFY_EMAILS

INT32 = 2**31 - 1
MAX_JOB_CALENDARS = 20
INT16 = 2**15 - 1


@dataclass(frozen=True)
class Field:
    # "string", "integer", "date-time", "object", "labels", "statuses", "job_ids", or "list" (of
    # text; with `choices` each item is one of them, `max_length` caps the number of items).
    type: str
    nullable: bool = False
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    required: bool = False  # on create and PUT
    help: str = ""

    def default(self, name: str) -> Any:
        field = Job._meta.get_field(name)
        return [] if field.many_to_many else field.get_default()


JOB_FIELDS: dict[str, Field] = {
    "name": Field("string", max_length=200, required=True, help="Unique among all jobs."),
    "description": Field("string", max_length=10_000),
    "kind": Field("string", choices=tuple(Job.Kind.values), required=True),
    "schedule": Field(
        "string",
        max_length=200,
        required=True,
        help="Cron (5 or 6 fields), a macro such as @daily, `@every 90s`, a date-time, or @manual.",
    ),
    "timezone": Field("string", max_length=64, help="IANA time zone of the schedule."),
    "start_at": Field("date-time", nullable=True, help="No slot before this instant."),
    "end_at": Field("date-time", nullable=True, help="No slot after this instant."),
    "state": Field("string", choices=tuple(Job.State.values)),
    "paused_until": Field("date-time", nullable=True, help="A pause that ends by itself."),
    "pause_note": Field("string", max_length=500),
    "timeout_seconds": Field(
        "integer", nullable=True, minimum=1, maximum=INT32, help="null: the server's default."
    ),
    "max_retries": Field("integer", minimum=0, maximum=INT16),
    "retry_backoff": Field("string", choices=tuple(Job.Backoff.values)),
    "retry_backoff_seconds": Field("integer", minimum=0, maximum=INT32),
    "overlap": Field("string", choices=tuple(Job.Overlap.values)),
    "max_concurrent": Field("integer", minimum=1, maximum=INT16, help="For overlap `allow`."),
    "misfire": Field("string", choices=tuple(Job.Misfire.values)),
    "misfire_limit": Field("integer", minimum=0, maximum=INT16, help="For misfire `all`."),
    "labels": Field("labels", help="Text values by key."),
    "priority": Field("integer", minimum=-INT16 - 1, maximum=INT16),
    "queue": Field(
        "string",
        max_length=100,
        help="Celery queue for task and shell runs; empty: the scheduler's own pool.",
    ),
    "calendars": Field(
        "list",
        max_length=MAX_JOB_CALENDARS,
        help="Names of the calendars whose days and windows the schedule keeps out of.",
    ),
    "on_calendar": Field(
        "string",
        choices=tuple(Job.OnCalendar.values),
        help="A slot in a calendar: `skip` it (recorded skipped) or move it to the next allowed "
        "time (`next_allowed`).",
    ),
    "notify_on": Field(
        "list",
        choices=tuple(Notification.Event.values),
        help="Events that send a message: a failure counts after the last retry.",
    ),
    "notify_emails": Field("list", max_length=MAX_NOTIFY_EMAILS, help="E-mail addresses."),
    "notify_webhook_url": Field(
        "string", max_length=2048, help="Receives a JSON POST; the http jobs' address rules apply."
    ),
    "notify_window_seconds": Field(
        "integer",
        nullable=True,
        minimum=0,
        maximum=INT32,
        help="At most one message per channel in this many seconds; null: the server's.",
    ),
    "keep_runs_days": Field(
        "integer", nullable=True, minimum=0, maximum=INT32, help="null: the server's retention."
    ),
    "keep_runs_count": Field(
        "integer", nullable=True, minimum=0, maximum=INT32, help="null: the server's retention."
    ),
}
# The jobs a job starts when one of its runs ends; each replaces all links of its event.
CHAIN_FIELDS: dict[str, Field] = {
    "on_success": Field("job_ids", help="Ids of the jobs started when a run succeeds."),
    "on_failure": Field(
        "job_ids",
        help="Ids of the jobs started when a run fails or times out, after its last retry.",
    ),
    "on_finish": Field("job_ids", help="Ids of the jobs started when a run ends either way."),
}
MAX_CHAIN_IDS = 100
MAX_JOB_ID = 2**63 - 1
# The kind's settings: exactly one of these is set, the one of the job's kind.
TASK_FIELDS: dict[str, Field] = {
    "task": Field("string", nullable=True, max_length=200, help="A registered task (task jobs)."),
    "params": Field("object", nullable=True, help="The task's parameters (task jobs)."),
}
HTTP_FIELDS: dict[str, Field] = {
    "method": Field("string", choices=METHODS),
    "url": Field("string", max_length=2048),
    "headers": Field("labels", help="Secret-looking header values are returned masked."),
    "body": Field("string", max_length=1_000_000),
    "expect_status": Field("statuses", help="Statuses that count as success; [] means 2xx."),
    "secret_headers": Field(
        "list",
        max_length=100,
        help="Headers whose values are secrets: stored encrypted, returned masked, never sent to "
        "another host. Any header can be named; names such as Authorization or X-Api-Key are "
        "secret anyway. Answers list every secret header.",
    ),
}
HTTP_DEFAULTS: dict[str, Any] = {"method": "GET", "headers": {}, "body": "", "expect_status": []}
SHELL_FIELDS: dict[str, Field] = {"command": Field("string", max_length=100_000)}
# Sent back by GET, ignored when a client sends them back (GET, change, PUT).
READ_ONLY_FIELDS = (
    "id",
    "version",
    "next_run_at",
    "last_run",
    "created_at",
    "updated_at",
    "executor",
)
STATE_FIELDS = ("state", "paused_until", "pause_note")
RUN_STATES = tuple(Run.State.values)
RUN_TRIGGERS = tuple(Run.Trigger.values)
