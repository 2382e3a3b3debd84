"""The data shapes of the OpenAPI description: jobs, runs, executors, errors, pages.

Generated from the field tables the input parser uses (jobs.api.fields), so what the schema
promises about a field is what the parser checks; jobs.api.openapi adds the operations.
"""

from typing import Any

from jobs.api import executors
from jobs.api.fields import (
    CHAIN_FIELDS,
    HTTP_FIELDS,
    JOB_FIELDS,
    MAX_CHAIN_IDS,
    MAX_JOB_ID,
    READ_ONLY_FIELDS,
    RUN_STATES,
    RUN_TRIGGERS,
    SHELL_FIELDS,
    TASK_FIELDS,
    Field,
)
from jobs.api.ledger import MAX_JOBS
from jobs.api.serializers import PAUSE
from jobs.models import Executor, Job, Notification, Run
from jobs.run_reasons import MESSAGES
from jobs.services.transfer import FILE_VERSION
from jobs.slot_fates import Fate

Schema = dict[str, Any]
# Shown in the docs, and sent by schemathesis first: requests that succeed, not only fail.
EXAMPLES: dict[str, Schema] = {
    "job": {
        "name": "Nightly report",
        "kind": "task",
        "task": "demo.echo",
        "params": {"message": "report sent"},
        "schedule": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "labels": {"team": "data"},
    },
    "job_file": {
        "version": FILE_VERSION,
        "jobs": {
            "Nightly report": {
                "kind": "task",
                "config": {"task": "demo.echo", "params": {"message": "report sent"}},
                "schedule": "30 2 * * *",
                "timezone": "Europe/Berlin",
            }
        },
    },
    "executor": {
        "name": "billing",
        "base_url": "https://billing.example.com/cron/",
        "heartbeat_seconds": 30,
        "jobs": [{"name": "invoices", "schedule": "0 6 * * *", "path": "/invoices"}],
    },
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


def obj(properties: dict[str, Schema], required: list[str] | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, **extra}
    schema["required"] = required if required is not None else list(properties)
    if not schema["required"]:
        del schema["required"]
    return schema


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
INSTANT: Schema = {"type": "string", "format": "date-time"}
TEXT_MAP: Schema = {"type": "object", "additionalProperties": STRING}


def field_schema(field: Field) -> Schema:
    if field.type == "integer":
        schema: Schema = {"type": "integer", "minimum": field.minimum, "maximum": field.maximum}
    elif field.type == "date-time":
        schema = dict(INSTANT)
    elif field.type == "labels":
        schema = dict(TEXT_MAP)
    elif field.type == "statuses":
        item = {"type": "integer", "minimum": 100, "maximum": 599}
        schema = {"type": "array", "items": item, "maxItems": 100}
    elif field.type == "job_ids":
        item = {"type": "integer", "minimum": 1, "maximum": MAX_JOB_ID}
        schema = {"type": "array", "items": item, "maxItems": MAX_CHAIN_IDS}
    elif field.type == "list":
        entry: Schema = {"type": "string", "enum": list(field.choices)} if field.choices else STRING
        schema = {"type": "array", "items": entry}
        if field.max_length is not None:
            schema["maxItems"] = field.max_length
    elif field.type == "object":
        schema = {"type": "object"}
    else:
        schema = {"type": "string"}
        if field.max_length is not None:
            schema["maxLength"] = field.max_length
        if field.choices:
            schema["enum"] = list(field.choices)
    if field.nullable:
        schema["nullable"] = True
    if field.help:
        schema["description"] = field.help
    return schema


def fields_schema(fields: dict[str, Field], *, all_optional: bool = False) -> Schema:
    required = [] if all_optional else [name for name, f in fields.items() if f.required]
    properties = {name: field_schema(field) for name, field in fields.items()}
    return obj(properties, required, additionalProperties=False)


def job_input(*, partial: bool) -> Schema:
    schema = fields_schema(JOB_FIELDS, all_optional=partial)
    properties = schema["properties"]
    properties.update({name: field_schema(field) for name, field in TASK_FIELDS.items()})
    properties.update({name: field_schema(field) for name, field in CHAIN_FIELDS.items()})
    http = fields_schema(HTTP_FIELDS, all_optional=True)
    properties["http"] = nullable({**http, "description": "The request (http jobs)."})
    shell = fields_schema(SHELL_FIELDS, all_optional=True)
    properties["shell"] = nullable({**shell, "description": "The command (shell jobs)."})
    # What GET returns may be sent back unchanged; the server ignores it.
    properties.update({name: {"readOnly": True} for name in READ_ONLY_FIELDS})
    return schema


def job_output() -> Schema:
    properties = {name: field_schema(field) for name, field in JOB_FIELDS.items()}
    properties.update({name: field_schema(field) for name, field in TASK_FIELDS.items()})
    properties.update({name: field_schema(field) for name, field in CHAIN_FIELDS.items()})
    http = {name: field_schema(field) for name, field in HTTP_FIELDS.items()}
    http["url"] = STRING
    properties["http"] = nullable(obj(http))
    properties["shell"] = nullable(obj({"command": STRING}))
    executor_state = {"type": "string", "enum": list(Executor.State.values)}
    properties.update(
        id=INTEGER,
        version=INTEGER,
        next_run_at=nullable(INSTANT),
        last_run=nullable(run_summary()),
        executor=nullable(obj({"name": STRING, "state": executor_state})),
        created_at=INSTANT,
        updated_at=INSTANT,
    )
    for name in ("name", "description", "schedule", "timezone", "pause_note"):
        properties[name] = STRING  # written by other means (the web, executors) too
    return obj(properties)


def run_summary() -> Schema:
    return obj(
        {
            "id": INTEGER,
            "state": {"type": "string", "enum": list(RUN_STATES)},
            "reason": STRING,
            "reason_code": {"type": "string", "enum": ["", *MESSAGES]},
            "reason_params": {"type": "object"},
            "trigger": {"type": "string", "enum": list(RUN_TRIGGERS)},
            "scheduled_for": INSTANT,
            "started_at": nullable(INSTANT),
            "finished_at": nullable(INSTANT),
        }
    )


def run_output(*, detail: bool) -> Schema:
    schema = run_summary()
    schema["properties"].update(
        job=INTEGER,
        job_name=STRING,
        job_version=INTEGER,
        attempt=INTEGER,
        retry_of=nullable(INTEGER),
        stands_for=nullable(INTEGER),
        cause={"type": "string", "enum": ["", *Run.Cause.values]},
        parent_run=nullable({**INTEGER, "description": "For chain runs: the run that started it."}),
        created_at=INSTANT,
        cancel_requested_at=nullable(INSTANT),
        duration_seconds=nullable({"type": "number"}),
        exit_code=nullable(INTEGER),
        http_status=nullable(INTEGER),
        host=STRING,
        pid=nullable(INTEGER),
        queue={**STRING, "description": "The Celery queue it went to; empty: run locally."},
        worker={**STRING, "description": "The Celery worker that ran it (host and pid above)."},
        requested_by=nullable(STRING),
        params=nullable(
            {"type": "object", "description": "Task parameters given for this run only."}
        ),
    )
    if detail:
        schema["properties"].update(output=STRING, output_dropped_bytes=INTEGER, error=STRING)
    schema["required"] = list(schema["properties"])
    return schema


def notification_output() -> Schema:
    events = {"type": "object", "additionalProperties": INTEGER, "description": "Count by event."}
    return obj(
        {
            "id": INTEGER,
            "job": INTEGER,
            "channel": {"type": "string", "enum": list(Notification.Channel.values)},
            "target": STRING,
            "state": {"type": "string", "enum": list(Notification.State.values)},
            "events": events,
            "digest_count": INTEGER,
            "runs": {"type": "array", "items": INTEGER, "description": "The newest 100."},
            "first_event_at": INSTANT,
            "last_event_at": INSTANT,
            "last_error": STRING,
            "error": STRING,
            "attempts": INTEGER,
            "send_after": INSTANT,
            "created_at": INSTANT,
            "sent_at": nullable(INSTANT),
        }
    )


def job_file() -> Schema:
    # Loose on purpose: the entry's fields are checked by the services, one message per field
    # with its line (docs/import-export.md lists them); the schema promises the file's frame.
    entry = obj(
        {
            "kind": {"type": "string", "enum": list(Job.Kind.values)},
            "schedule": STRING,
            "config": {"type": "object", "description": "The kind's settings."},
            "state": {"type": "string", "enum": list(Job.State.values)},
        },
        ["kind", "schedule"],
        description="A job's definition and state; its name is its key in `jobs`.",
    )
    return obj(
        {
            "version": {"type": "integer", "enum": [FILE_VERSION]},
            "jobs": {"type": "object", "additionalProperties": entry},
        },
        additionalProperties=False,
    )


def import_plan() -> Schema:
    actions = ("create", "change", "unchanged", "delete")
    change = {"type": "array", "items": {}, "minItems": 2, "maxItems": 2}
    planned = obj(
        {
            "name": STRING,
            "action": {"type": "string", "enum": list(actions)},
            "line": nullable(INTEGER),
            "changes": {
                "type": "object",
                "additionalProperties": change,
                "description": "Field → [before, after]; secrets masked.",
            },
        }
    )
    return obj(
        {
            "applied": {"type": "boolean"},
            "fingerprint": {
                "type": "string",
                "description": "Send it back with `apply=true` to refuse if jobs changed since.",
            },
            "delete_missing": {"type": "boolean"},
            "counts": obj({action: INTEGER for action in actions}),
            "jobs": {"type": "array", "items": planned},
        }
    )


def page(item: Schema) -> Schema:
    return obj(
        {
            "results": {"type": "array", "items": item},
            "count": INTEGER,
            "next": nullable({"type": "string", "description": "The next page's URL."}),
        }
    )


def calendar_components() -> Schema:
    from jobs.api.calendars import CALENDAR_FIELDS

    window = {
        "type": "object",
        "description": CALENDAR_FIELDS["windows"].help,
        "properties": {
            "days": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 7}},
            "start": STRING,
            "end": STRING,
            "from": STRING,
            "to": STRING,
        },
        "additionalProperties": False,
    }
    holidays = nullable(
        obj(
            {"country": nullable(STRING), "subdivision": nullable(STRING)},
            [],
            additionalProperties=False,
            description=CALENDAR_FIELDS["holidays"].help,
        )
    )

    def calendar_input(partial: bool) -> Schema:
        schema = fields_schema(
            {k: f for k, f in CALENDAR_FIELDS.items() if k not in ("holidays", "windows")},
            all_optional=partial,
        )
        schema["properties"]["holidays"] = holidays
        schema["properties"]["windows"] = {"type": "array", "items": window, "maxItems": 100}
        return schema

    calendar = obj(
        {
            "id": INTEGER,
            "name": STRING,
            "description": STRING,
            "timezone": STRING,
            "dates": {"type": "array", "items": STRING},
            "holidays": holidays,
            "windows": {"type": "array", "items": window},
            "next_holidays": {
                "type": "array",
                "items": obj({"date": STRING, "name": nullable(STRING)}),
                "description": "The next excluded days: public holidays with their names (in "
                "the request's language where the library has it), hand-picked dates with null.",
            },
            "jobs": {"type": "array", "items": STRING, "description": "Jobs using it."},
            "version": INTEGER,
            "created_at": INSTANT,
            "updated_at": INSTANT,
        }
    )
    example = {"name": "China", "holidays": {"country": "CN", "subdivision": None}}
    return {
        "Calendar": calendar,
        "CalendarInput": {**calendar_input(False), "example": example},
        "CalendarPatch": {**calendar_input(True), "example": {"dates": ["2026-12-24"]}},
        "CalendarList": obj(
            {"results": {"type": "array", "items": ref("Calendar")}, "count": INTEGER}
        ),
        "NextRuns": obj(
            {"job": INTEGER, "after": INSTANT, "next_runs": {"type": "array", "items": INSTANT}}
        ),
        "RunNow": obj(
            {
                "params": {
                    "type": "object",
                    "description": "Task jobs: parameters for this run only, over the job's.",
                }
            },
            [],
            additionalProperties=False,
        ),
    }


def components() -> Schema:
    executor = obj(
        {
            "name": STRING,
            "base_url": STRING,
            "state": {"type": "string", "enum": list(Executor.State.values)},
            "heartbeat_seconds": INTEGER,
            "offline_after_seconds": INTEGER,
            "last_heartbeat_at": INSTANT,
            "registered_at": INSTANT,
        }
    )
    registration = fields_schema(executors.REGISTER_FIELDS)
    offer = fields_schema(executors.OFFER_FIELDS)
    registration["properties"]["jobs"] = {
        "type": "array",
        "items": offer,
        "maxItems": executors.MAX_OFFERS,
    }
    registration["required"].append("jobs")
    preview_ok = obj(
        {
            "valid": {"type": "boolean", "enum": [True]},
            "description": STRING,
            "timezone": STRING,
            "next_runs": {"type": "array", "items": INSTANT},
            "warnings": {
                "type": "array",
                "items": STRING,
                "description": "Runs more often than once a minute, never firing, and the clock "
                "changes (DST) of the next 12 months that move or repeat a run.",
            },
        }
    )
    preview_bad = obj(
        {
            "valid": {"type": "boolean", "enum": [False]},
            "error": STRING,
            "field": {"type": "string", "enum": ["schedule", "timezone"]},
            "suggestion": nullable(
                {
                    **obj({"schedule": STRING, "description": STRING, "reason": STRING}),
                    "description": "What to write instead, for common mistakes (words, Quartz "
                    "syntax, missing fields); never applied by itself.",
                }
            ),
        }
    )
    task = obj({"name": STRING, "description": STRING, "params_schema": {"type": "object"}})
    return {
        **calendar_components(),
        "Error": obj(
            {
                "error": obj(
                    {"code": STRING, "message": STRING, "fields": TEXT_MAP},
                    additionalProperties=False,
                )
            }
        ),
        "Job": job_output(),
        "JobInput": {**job_input(partial=False), "example": EXAMPLES["job"]},
        "JobPatch": {**job_input(partial=True), "example": {"priority": 5}},
        "JobPage": page(ref("Job")),
        "Pause": {**fields_schema(PAUSE, all_optional=True), "example": {"note": "migration"}},
        "Run": run_output(detail=False),
        "RunDetail": run_output(detail=True),
        "RunPage": page(ref("Run")),
        "Notification": notification_output(),
        "NotificationPage": page(ref("Notification")),
        "SchedulePreview": {"oneOf": [preview_ok, preview_bad]},
        "TaskList": obj({"results": {"type": "array", "items": task}, "count": INTEGER}),
        "Executor": executor,
        "ExecutorList": obj(
            {"results": {"type": "array", "items": ref("Executor")}, "count": INTEGER}
        ),
        "ExecutorRegistration": {**registration, "example": EXAMPLES["executor"]},
        "ExecutorWithJobs": {
            **executor,
            "properties": {
                **executor["properties"],
                "jobs": {"type": "array", "items": ref("Job")},
            },
            "required": [*executor["required"], "jobs"],
        },
        "SchedulerNode": obj(
            {
                "name": STRING,
                "host": STRING,
                "pid": INTEGER,
                "leader": {"type": "boolean"},
                "started_at": INSTANT,
                "stopped_at": nullable(INSTANT),
                "heartbeat_at": INSTANT,
                "heartbeat_age_seconds": {"type": "number"},
                "applied_change": INTEGER,
                "applied_at": nullable(INSTANT),
                "change_delay_seconds": nullable({"type": "number"}),
            }
        ),
        "SchedulerHealth": obj(
            {
                "healthy": {"type": "boolean"},
                "problem": STRING,
                "leader": nullable(STRING),
                "term": INTEGER,
                "lease_seconds": {"type": "number"},
                "lease_expires_at": nullable(INSTANT),
                "change_version": INTEGER,
                "changed_at": nullable(INSTANT),
                "nodes": {"type": "array", "items": ref("SchedulerNode")},
            }
        ),
        "CeleryWorker": obj(
            {
                "name": STRING,
                "host": STRING,
                "pid": INTEGER,
                "queues": {"type": "array", "items": STRING},
                "concurrency": INTEGER,
                "online": {"type": "boolean"},
                "runs_in_progress": INTEGER,
                "started_at": INSTANT,
                "heartbeat_at": INSTANT,
                "stopped_at": nullable(INSTANT),
            }
        ),
        "CeleryWorkerList": obj(
            {
                "enabled": {"type": "boolean"},
                "results": {"type": "array", "items": ref("CeleryWorker")},
                "count": INTEGER,
            }
        ),
        "CronJob": obj(
            {"job_id": INTEGER, "spec": STRING, "job": nullable(STRING), "name": STRING}
        ),
        "CronCreate": {
            **obj({"spec": STRING, "job": STRING}),
            "example": {"spec": "*/15 * * * *", "job": "demo.noop"},
        },
        "Empty": obj({}, additionalProperties=False),
        "JobFile": {**job_file(), "example": EXAMPLES["job_file"]},
        "ImportPlan": import_plan(),
        **ledger_components(),
    }


def ledger_components() -> Schema:
    jobs = {
        "type": "array",
        "items": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        "minItems": 1,
        "maxItems": MAX_JOBS,
    }
    slot = obj(
        {
            "slot": INSTANT,
            "fate": {"type": "string", "enum": list(Fate.values)},
            "run": nullable(INTEGER),
            "cause": {"type": "string", "enum": ["", *Run.Cause.values]},
            "state": nullable({"type": "string", "enum": list(RUN_STATES)}),
            "reason": STRING,
            "reason_code": {"type": "string", "enum": ["", *MESSAGES]},
            "reason_params": {"type": "object"},
            "later_runs": {"type": "array", "items": run_summary()},
            "note": STRING,
        }
    )
    return {
        "RerunFailed": {
            **obj(
                {
                    "from": nullable({**INSTANT, "description": "Default: 24 hours before `to`."}),
                    "to": nullable({**INSTANT, "description": "Default: now."}),
                    "jobs": nullable({**jobs, "description": "Default (null): every job."}),
                    "dry_run": {"type": "boolean", "description": "Only count."},
                },
                [],
                additionalProperties=False,
            ),
            "example": {"dry_run": True},
        },
        "RerunPlan": obj(
            {
                "from": INSTANT,
                "to": INSTANT,
                "dry_run": {"type": "boolean"},
                "count": INTEGER,
                "already_rerun": INTEGER,
                "jobs": {
                    "type": "array",
                    "items": obj({"job": INTEGER, "job_name": STRING, "count": INTEGER}),
                },
                "runs": {"type": "array", "items": INTEGER},
            }
        ),
        "SlotPage": obj(
            {
                "job": INTEGER,
                "timezone": STRING,
                "from": INSTANT,
                "to": INSTANT,
                "summary": obj({fate: INTEGER for fate in Fate.values}),
                "results": {"type": "array", "items": slot},
                "count": INTEGER,
                "next": nullable({"type": "string", "description": "The next page's URL."}),
                "other_runs": {"type": "array", "items": run_summary()},
            }
        ),
    }
