"""The OpenAPI 3.0 description of the API: the operations, written by hand where they describe
behaviour (which statuses each answers), over the data shapes of jobs.api.openapi_components,
generated from the parser's own field tables. The schemathesis test in the suite holds every
answer of the API against it.
"""

from functools import cache

from jobs.api.fields import JOB_FIELDS, RUN_STATES, RUN_TRIGGERS
from jobs.api.openapi_components import (
    INSTANT,
    INTEGER,
    STRING,
    Schema,
    components,
    field_schema,
    obj,
    ref,
)
from jobs.api.openapi_targets import target_components
from jobs.models import Job, Notification
from jobs.previews import MAX_PREVIEW
from jobs.slot_fates import Fate

ERROR_TEXT = {
    400: "Malformed request: not JSON, a bad query parameter.",
    401: "No valid credentials.",
    403: "The role does not allow this (or the CSRF check of a session failed).",
    404: "No such object.",
    409: "Conflicts with the current state (a name taken, a run already ended).",
    413: "The body is larger than the server accepts (DATA_UPLOAD_MAX_MEMORY_SIZE).",
    415: "The body is not application/json.",
    422: "The request is well-formed but not valid; `fields` says what is wrong.",
}


# --- operations ----------------------------------------------------------------------------------


def query(name: str, schema: Schema, description: str = "", required: bool = False) -> Schema:
    parameter = {"name": name, "in": "query", "schema": schema, "required": required}
    if description:
        parameter["description"] = description
    return parameter


def path_id(name: str) -> Schema:
    schema = {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}
    return {"name": name, "in": "path", "required": True, "schema": schema}


EXECUTOR_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
PAGING = [
    query("page", {"type": "integer", "minimum": 1, "maximum": 1_000_000}, "1-based."),
    query("page_size", {"type": "integer", "minimum": 1, "maximum": 200}, "Default 50."),
]
RUN_FILTERS = [
    query("state", {"type": "string", "enum": list(RUN_STATES)}),
    query("trigger", {"type": "string", "enum": list(RUN_TRIGGERS)}),
    query("since", INSTANT, "Runs whose slot is at or after this instant."),
    *PAGING,
]
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
    "description": "A retry with the same key returns the first answer instead of acting again.",
}


def operation(
    summary: str,
    tag: str,
    ok: dict[int, Schema | None],
    errors: tuple[int, ...] = (),
    *,
    parameters: list[Schema] | None = None,
    body: Schema | None = None,
    body_required: bool = True,
    public: bool = False,
) -> Schema:
    responses: dict[str, Schema] = {}
    for status, schema in ok.items():
        answer: Schema = {"description": "OK"}
        if schema is not None:
            answer["content"] = {"application/json": {"schema": schema}}
        responses[str(status)] = answer
    codes = set(errors) if public else {401, 403, *errors}
    if body is not None:
        codes |= {400, 413, 415, 422}
    for status in sorted(codes):
        responses[str(status)] = {
            "description": ERROR_TEXT[status],
            "content": {"application/json": {"schema": ref("Error")}},
        }
    result: Schema = {"summary": summary, "tags": [tag], "responses": responses}
    if parameters:
        result["parameters"] = parameters
    if body is not None:
        content = {"application/json": {"schema": body}}
        result["requestBody"] = {"required": body_required, "content": content}
    if public:
        result["security"] = []
    return result


def file_types(operation: Schema, *, response: int | None = None) -> Schema:
    """A job file travels as JSON or YAML, with the same structure."""
    content = operation["responses"][str(response)] if response else operation["requestBody"]
    schema = content["content"]["application/json"]["schema"]
    content["content"]["application/yaml"] = {"schema": schema}
    return operation


def paths() -> Schema:
    job, run = path_id("job_id"), path_id("run_id")
    job_filters = [
        query("q", STRING, "Text in the name or description."),
        query("state", {"type": "string", "enum": list(Job.State.values)}),
        query("kind", {"type": "string", "enum": list(Job.Kind.values)}),
        query("label", STRING, "`key:value` (or `key` alone: has the label)."),
        *PAGING,
    ]
    empty = ref("Empty")
    return {
        "/api/v1/jobs": {
            "get": operation(
                "List jobs", "jobs", {200: ref("JobPage")}, (400,), parameters=job_filters
            ),
            "post": operation(
                "Create a job",
                "jobs",
                {201: ref("Job")},
                (409,),
                parameters=[IDEMPOTENCY_KEY],
                body=ref("JobInput"),
            ),
        },
        "/api/v1/jobs/export": {
            "get": file_types(
                operation(
                    "Export jobs as a file (JSON or YAML)",
                    "jobs",
                    {200: ref("JobFile")},
                    (400, 404),
                    parameters=[
                        query(
                            "format", {"type": "string", "enum": ["json", "yaml"]}, "Default json."
                        ),
                        {
                            "name": "name",
                            "in": "query",
                            "schema": {"type": "array", "items": STRING},
                            "style": "form",
                            "explode": True,
                            "description": "Only these jobs (repeatable); all when left out.",
                        },
                    ],
                ),
                response=200,
            )
        },
        "/api/v1/jobs/import": {
            "post": file_types(
                operation(
                    "Import a job file: the plan, and with apply=true the import itself",
                    "jobs",
                    {200: ref("ImportPlan")},
                    (409,),
                    parameters=[
                        query("apply", {"type": "boolean"}, "Write; without it, only the plan."),
                        query(
                            "delete_missing", {"type": "boolean"}, "Delete jobs not in the file."
                        ),
                        query(
                            "fingerprint",
                            {"type": "string", "maxLength": 64},
                            "From the plan: refuse to apply if jobs changed since.",
                        ),
                    ],
                    body=ref("JobFile"),
                ),
            )
        },
        "/api/v1/jobs/{job_id}": {
            "parameters": [job],
            "get": operation("Get a job", "jobs", {200: ref("Job")}, (404,)),
            "put": operation(
                "Replace a job", "jobs", {200: ref("Job")}, (404, 409), body=ref("JobInput")
            ),
            "patch": operation(
                "Change some fields of a job",
                "jobs",
                {200: ref("Job")},
                (404, 409),
                body=ref("JobPatch"),
            ),
            "delete": operation("Delete a job and its runs", "jobs", {204: None}, (404,)),
        },
        "/api/v1/jobs/{job_id}/pause": {
            "parameters": [job],
            "post": operation(
                "Pause a job",
                "jobs",
                {200: ref("Job")},
                (404,),
                body=ref("Pause"),
                body_required=False,
            ),
        },
        "/api/v1/jobs/{job_id}/resume": {
            "parameters": [job],
            "post": operation(
                "Resume a job", "jobs", {200: ref("Job")}, (404,), body=empty, body_required=False
            ),
        },
        "/api/v1/jobs/{job_id}/run": {
            "parameters": [job],
            "post": operation(
                "Run a job now (the scheduler starts it)",
                "jobs",
                {202: ref("RunDetail")},
                (404,),
                parameters=[IDEMPOTENCY_KEY],
                body=ref("RunNow"),
                body_required=False,
            ),
        },
        "/api/v1/jobs/{job_id}/next-runs": {
            "parameters": [job],
            "get": operation(
                "The instants the scheduler will start the job at (calendars, pauses, dates)",
                "jobs",
                {200: ref("NextRuns")},
                (400, 404),
                parameters=[
                    query("count", {"type": "integer", "minimum": 1, "maximum": 100}),
                    query("after", INSTANT, "Default now."),
                ],
            ),
        },
        "/api/v1/calendars": {
            "get": operation("List calendars", "calendars", {200: ref("CalendarList")}),
            "post": operation(
                "Create a calendar",
                "calendars",
                {201: ref("Calendar")},
                (409,),
                body=ref("CalendarInput"),
            ),
        },
        "/api/v1/calendars/{calendar_id}": {
            "parameters": [path_id("calendar_id")],
            "get": operation("Get a calendar", "calendars", {200: ref("Calendar")}, (404,)),
            "patch": operation(
                "Change some fields of a calendar",
                "calendars",
                {200: ref("Calendar")},
                (404, 409),
                body=ref("CalendarPatch"),
            ),
            "delete": operation(
                "Delete a calendar (its jobs no longer keep out of it)",
                "calendars",
                {204: None},
                (404,),
            ),
        },
        "/api/v1/jobs/{job_id}/runs": {
            "parameters": [job],
            "get": operation(
                "A job's runs", "runs", {200: ref("RunPage")}, (400, 404), parameters=RUN_FILTERS
            ),
        },
        "/api/v1/jobs/{job_id}/notifications": {
            "parameters": [job],
            "get": operation(
                "The messages sent (or waiting) about a job",
                "jobs",
                {200: ref("NotificationPage")},
                (400, 404),
                parameters=[
                    query("state", {"type": "string", "enum": list(Notification.State.values)}),
                    query("run", path_id("run")["schema"], "Only those covering this run."),
                    *PAGING,
                ],
            ),
        },
        "/api/v1/runs": {
            "get": operation(
                "List runs",
                "runs",
                {200: ref("RunPage")},
                (400,),
                parameters=[
                    query("job", path_id("job")["schema"], "Runs of this job."),
                    *RUN_FILTERS,
                ],
            ),
        },
        "/api/v1/runs/{run_id}": {
            "parameters": [run],
            "get": operation("Get a run with its output", "runs", {200: ref("RunDetail")}, (404,)),
        },
        "/api/v1/runs/{run_id}/cancel": {
            "parameters": [run],
            "post": operation(
                "Cancel a queued or running run",
                "runs",
                {200: ref("RunDetail")},
                (404, 409),
                body=empty,
                body_required=False,
            ),
        },
        "/api/v1/runs/{run_id}/run-slot": {
            "parameters": [run],
            "post": operation(
                "Run the slot of a failed, missed or skipped run again, now",
                "runs",
                {202: ref("RunDetail")},
                (404, 409),
                parameters=[IDEMPOTENCY_KEY],
                body=empty,
                body_required=False,
            ),
        },
        "/api/v1/runs/rerun-failed": {
            "post": operation(
                "Re-run the failed slots of a period (or count them: dry_run)",
                "runs",
                {200: ref("RerunPlan"), 202: ref("RerunPlan")},
                parameters=[IDEMPOTENCY_KEY],
                body=ref("RerunFailed"),
                body_required=False,
            ),
        },
        "/api/v1/jobs/{job_id}/slots": {
            "parameters": [job],
            "get": operation(
                "Every slot of a period with its fate: why a job did or did not run",
                "runs",
                {200: ref("SlotPage")},
                (400, 404),
                parameters=[
                    query("from", INSTANT, "Default: 24 hours before `to`."),
                    query("to", INSTANT, "Default: now. At most 7 days after `from`."),
                    query("fate", {"type": "string", "enum": list(Fate.values)}),
                    *PAGING,
                ],
            ),
        },
        "/api/v1/schedule/preview": {
            "get": operation(
                "Describe a schedule and list its next runs",
                "schedules",
                {200: ref("SchedulePreview")},
                (400,),
                parameters=[
                    query("schedule", field_schema(JOB_FIELDS["schedule"]), required=True),
                    query("timezone", field_schema(JOB_FIELDS["timezone"]), "Default UTC."),
                    query("count", {"type": "integer", "minimum": 1, "maximum": MAX_PREVIEW}),
                    query("after", INSTANT, "Default now."),
                    query("start_at", INSTANT, "The job's start: no run before it."),
                    query("end_at", INSTANT, "The job's end: no run after it."),
                    {
                        "name": "calendars",
                        "in": "query",
                        "schema": {"type": "array", "items": STRING, "maxItems": 20},
                        "style": "form",
                        "explode": True,
                        "description": "Calendars (by name) the runs keep out of.",
                    },
                    query("on_calendar", field_schema(JOB_FIELDS["on_calendar"])),
                ],
            ),
        },
        "/api/v1/tasks": {
            "get": operation(
                "Registered tasks and their parameters", "tasks", {200: ref("TaskList")}
            )
        },
        "/api/v1/executors": {
            "get": operation("List executors", "executors", {200: ref("ExecutorList")})
        },
        "/api/v1/executors/register": {
            "post": operation(
                "Register an executor and the jobs it offers",
                "executors",
                {200: ref("ExecutorWithJobs")},
                (409,),
                body=ref("ExecutorRegistration"),
            ),
        },
        "/api/v1/executors/{name}/heartbeat": {
            "parameters": [EXECUTOR_NAME],
            "post": operation(
                "Tell that an executor is alive", "executors", {200: ref("Executor")}, (404,)
            ),
        },
        "/api/v1/executors/{name}/unregister": {
            "parameters": [EXECUTOR_NAME],
            "post": operation(
                "Remove an executor and its jobs",
                "executors",
                {200: obj({"name": STRING, "deleted_jobs": INTEGER})},
                (404,),
            ),
        },
        "/api/v1/schedulers": {
            "get": operation(
                "Scheduler nodes, the leader and a health verdict (503 when unhealthy)",
                "service",
                {200: ref("SchedulerHealth"), 503: ref("SchedulerHealth")},
            )
        },
        "/api/v1/workers": {
            "get": operation(
                "Celery workers: queues, runs in progress, last heartbeat, online or not",
                "service",
                {200: ref("CeleryWorkerList")},
            )
        },
        "/api/v1/ping": {
            "get": operation(
                "Liveness: the web process answers",
                "service",
                {200: obj({"status": {"type": "string", "enum": ["ok"]}, "time": INSTANT})},
                public=True,
            )
        },
        "/cron": {
            "get": operation(
                "Legacy: active jobs",
                "legacy",
                {200: {"type": "array", "items": ref("CronJob")}},
            ),
            "post": operation(
                "Legacy: schedule a registered task",
                "legacy",
                {200: obj({"job_id": INTEGER})},
                (409,),
                body=ref("CronCreate"),
            ),
        },
        "/cron/{job_id}": {
            "parameters": [job],
            "delete": operation("Legacy: delete a job", "legacy", {204: None}, (404,)),
        },
        "/api/v1/allowed-hosts": {
            "get": operation(
                "Internal hosts and networks that http jobs and webhooks may call (admins)",
                "settings",
                {200: ref("AllowedHostList")},
            ),
            "post": operation(
                "Allow an internal host name or network (admins)",
                "settings",
                {201: ref("AllowedHost")},
                (409,),
                body=ref("AllowedHostInput"),
            ),
        },
        "/api/v1/allowed-hosts/{entry_id}": {
            "parameters": [path_id("entry_id")],
            "delete": operation(
                "Block an allowed host or network again (admins)",
                "settings",
                {204: None},
                (404,),
            ),
        },
        "/api/v1/jobs/{job_id}/test-request": {
            "parameters": [job],
            "post": operation(
                "Send an http job's request once and return the answer (no run is recorded)",
                "jobs",
                {200: ref("TestRequest")},
                (404,),
                body=empty,
                body_required=False,
            ),
        },
        "/api/v1/jobs/{job_id}/test-notification": {
            "parameters": [job],
            "post": operation(
                "Send one test message to each of a job's channels (no notification recorded)",
                "jobs",
                {200: ref("TestNotification")},
                (404,),
                body=empty,
                body_required=False,
            ),
        },
    }


@cache
def openapi_schema() -> Schema:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "CronAdmin API",
            "version": "1",
            "description": "Manage scheduled jobs and watch their runs. See docs/api.md.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"sessionAuth": []}],
        "paths": paths(),
        "components": {
            "schemas": {**components(), **target_components()},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "sessionAuth": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
            },
        },
    }
