"""The data shapes of the OpenAPI description: jobs, runs, executors, errors, pages.

Generated from the field tables the input parser uses (jobs.api.fields), so what the schema
promises about a field is what the parser checks; jobs.api.openapi adds the operations.
"""

from typing import Any

from jobs.api import executors
from jobs.api.fields import (
    HTTP_FIELDS,
    JOB_FIELDS,
    READ_ONLY_FIELDS,
    RUN_STATES,
    RUN_TRIGGERS,
    SHELL_FIELDS,
    TASK_FIELDS,
    Field,
)
from jobs.api.serializers import PAUSE
from jobs.models import Executor

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
        created_at=INSTANT,
        cancel_requested_at=nullable(INSTANT),
        duration_seconds=nullable({"type": "number"}),
        exit_code=nullable(INTEGER),
        http_status=nullable(INTEGER),
        host=STRING,
        pid=nullable(INTEGER),
        requested_by=nullable(STRING),
    )
    if detail:
        schema["properties"].update(output=STRING, output_dropped_bytes=INTEGER, error=STRING)
    schema["required"] = list(schema["properties"])
    return schema


def page(item: Schema) -> Schema:
    return obj(
        {
            "results": {"type": "array", "items": item},
            "count": INTEGER,
            "next": nullable({"type": "string", "description": "The next page's URL."}),
        }
    )


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
            "warnings": {"type": "array", "items": STRING},
        }
    )
    preview_bad = obj(
        {
            "valid": {"type": "boolean", "enum": [False]},
            "error": STRING,
            "field": {"type": "string", "enum": ["schedule", "timezone"]},
        }
    )
    task = obj({"name": STRING, "description": STRING, "params_schema": {"type": "object"}})
    return {
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
        "CronJob": obj(
            {"job_id": INTEGER, "spec": STRING, "job": nullable(STRING), "name": STRING}
        ),
        "CronCreate": {
            **obj({"spec": STRING, "job": STRING}),
            "example": {"spec": "*/15 * * * *", "job": "demo.noop"},
        },
        "Empty": obj({}, additionalProperties=False),
    }
