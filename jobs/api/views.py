"""The JSON API for jobs, runs, schedule previews and tasks: read input, call a service, answer.

The services decide and check roles; jobs.api.endpoint.api_view turns every refusal into the one
error shape. Reads use the same selectors as the web pages, so both list the same jobs.
"""

from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from jobs import services
from jobs.api.endpoint import (
    MAX_ID,
    api_view,
    isoformat,
    object_id,
    query_choice,
    query_instant,
    query_int,
    query_list,
    query_text,
    read_json,
)
from jobs.api.errors import bad_request, from_validation_error, invalid, not_found
from jobs.api.fields import JOB_FIELDS, RUN_STATES, RUN_TRIGGERS, STATE_FIELDS
from jobs.api.idempotency import idempotent
from jobs.api.serializers import (
    ERROR_NAMES,
    PAUSE_ERROR_NAMES,
    job_answer,
    job_changes,
    jobs_json,
    notification_json,
    parse_job,
    pause_input,
    run_json,
    with_last_runs,
)
from jobs.models import Job, Notification, Run
from jobs.previews import MAX_PREVIEW, schedule_preview
from jobs.registry import all_tasks
from jobs.selectors import JobFilters, job_queryset

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_SCHEDULE = JOB_FIELDS["schedule"].max_length
MAX_TIMEZONE = JOB_FIELDS["timezone"].max_length


def job_or_404(job_id: int) -> Job:
    return Job.objects.get(pk=object_id(job_id))


def run_or_404(run_id: int) -> Run:
    return Run.objects.select_related("job", "requested_by").get(pk=object_id(run_id))


def page_of(request: HttpRequest, items: QuerySet, render: Any) -> JsonResponse:
    page = query_int(request, "page", 1, 1, 1_000_000)
    size = query_int(request, "page_size", PAGE_SIZE, 1, MAX_PAGE_SIZE)
    count = items.count()
    start = (page - 1) * size
    results = render(list(items[start : start + size])) if start < count else []
    following = None
    if start + size < count:
        query = request.GET.copy()
        query["page"] = str(page + 1)
        following = request.build_absolute_uri(f"{request.path}?{urlencode(query, doseq=True)}")
    return JsonResponse({"results": results, "count": count, "next": following})


# --- jobs ----------------------------------------------------------------------------------------


@api_view("GET", "POST")
def jobs_collection(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return idempotent(request, request.path, lambda: _job_create(request))
    # The web's filter takes "key=value"; the API's "key:value" (label keys never hold either).
    filters = [label.replace(":", "=", 1) for label in query_list(request, "label")]
    jobs = job_queryset(
        JobFilters(
            q=query_text(request, "q"),
            state=query_choice(request, "state", Job.State.values),
            kind=query_choice(request, "kind", Job.Kind.values),
            label=filters[0] if filters else "",
        )
    )
    for extra in filters[1:]:
        jobs = jobs.filter(pk__in=job_queryset(JobFilters(label=extra)).values("pk"))
    return page_of(request, with_last_runs(jobs), jobs_json)


def _job_create(request: HttpRequest) -> JsonResponse:
    values = parse_job(read_json(request), job=None, partial=False)
    try:
        job = services.job_create(actor=request.user, **values)
    except ValidationError as exc:
        raise from_validation_error(exc, ERROR_NAMES[values["kind"]]) from None
    return JsonResponse(job_answer(job.pk), status=201)


# PATCH may be a pause or resume alone, which an Operator may do; the service checks the rest.
@api_view(
    "GET", "PUT", "PATCH", "DELETE", role={"PUT": "edit", "PATCH": "operate", "DELETE": "edit"}
)
def job_item(request: HttpRequest, job_id: int) -> HttpResponse:
    if request.method == "GET":
        return JsonResponse(job_answer(object_id(job_id)))
    job = job_or_404(job_id)
    if request.method == "DELETE":
        services.job_delete(actor=request.user, job=job)
        return HttpResponse(status=204)
    values = parse_job(read_json(request), job=job, partial=request.method == "PATCH")
    changes = job_changes(job, values)
    try:
        if changes:
            job = services.job_update(actor=request.user, job=job, **changes)
        job = _apply_state(request, job, values)
    except ValidationError as exc:
        names = {**ERROR_NAMES[values.get("kind", job.kind)], **PAUSE_ERROR_NAMES}
        raise from_validation_error(exc, names) from None
    return JsonResponse(job_answer(job.pk))


def _apply_state(request: HttpRequest, job: Job, values: dict[str, Any]) -> Job:
    # Pausing is an operator's action, not an edit: only call the pause services when the state
    # fields really change, so an operator may PATCH {"state": "paused"} with their role.
    if not any(name in values for name in STATE_FIELDS):
        return job
    state = values.get("state", job.state)
    if state == Job.State.ACTIVE:
        if job.state == Job.State.PAUSED:
            return services.job_resume(actor=request.user, job=job)
        return job
    until = values.get("paused_until", job.paused_until if job.state == Job.State.PAUSED else None)
    note = values.get("pause_note", job.pause_note if job.state == Job.State.PAUSED else "")
    if (job.state, job.paused_until, job.pause_note) != (state, until, note):
        return services.job_pause(actor=request.user, job=job, until=until, note=note or "")
    return job


@api_view("POST", role="operate")
def job_pause(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_or_404(job_id)
    values = pause_input(read_json(request, required=False))
    try:
        job = services.job_pause(actor=request.user, job=job, **values)
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    return JsonResponse(job_answer(job.pk))


@api_view("POST", role="operate")
def job_resume(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_or_404(job_id)
    _no_fields(read_json(request, required=False))
    job = services.job_resume(actor=request.user, job=job)
    return JsonResponse(job_answer(job.pk))


@api_view("POST", role="operate")
def job_run(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_or_404(job_id)
    data = read_json(request, required=False)
    _no_fields({name: value for name, value in data.items() if name != "params"})
    params = data.get("params")

    def run_now() -> JsonResponse:
        try:
            run = services.job_run_now(
                actor=request.user, job=job, trigger=Run.Trigger.API, params=params
            )
        except ValidationError as exc:
            raise invalid(param_errors(exc)) from None
        # The new row already holds its job and requester: no need to read it back.
        return JsonResponse(run_json(run, detail=True), status=202)

    return idempotent(request, request.path, run_now)


def param_errors(exc: ValidationError) -> dict[str, str]:
    """A task's parameter errors ("name: problem") keyed by field: `params.name`."""
    fields: dict[str, str] = {}
    for message in exc.message_dict.get("params", []):
        name, has_name, problem = message.partition(": ")
        fields[f"params.{name}" if has_name else "params"] = problem if has_name else message
    for key, messages in exc.message_dict.items():
        if key != "params":
            fields[key] = " ".join(messages)
    return fields


def _no_fields(data: dict[str, Any]) -> None:
    if data:
        raise from_validation_error(ValidationError({name: "Unknown field." for name in data}))


# --- runs ----------------------------------------------------------------------------------------


def _runs(request: HttpRequest, runs: QuerySet[Run]) -> JsonResponse:
    state = query_choice(request, "state", list(RUN_STATES))
    trigger = query_choice(request, "trigger", list(RUN_TRIGGERS))
    since = query_instant(request, "since")
    if state:
        runs = runs.filter(state=state)
    if trigger:
        runs = runs.filter(trigger=trigger)
    if since is not None:
        runs = runs.filter(scheduled_for__gte=since)
    runs = runs.select_related("job", "requested_by").order_by("-scheduled_for", "-id")
    return page_of(request, runs, lambda items: [run_json(run) for run in items])


@api_view("GET")
def job_runs(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_or_404(job_id)
    return _runs(request, Run.objects.filter(job=job))


@api_view("GET")
def job_notifications(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_or_404(job_id)
    unknown = sorted(set(request.GET) - {"state", "run", "page", "page_size"})
    if unknown:
        raise bad_request(_("Unknown parameter: %(names)s.") % {"names": ", ".join(unknown)})
    notifications = Notification.objects.filter(job=job)
    state = query_choice(request, "state", Notification.State.values)
    run_id = query_int(request, "run", 0, 1, MAX_ID)
    if state:
        notifications = notifications.filter(state=state)
    if run_id:
        notifications = notifications.filter(runs=run_id)
    notifications = notifications.prefetch_related("runs").order_by("-created_at", "-id")
    return page_of(request, notifications, lambda items: [notification_json(n) for n in items])


@api_view("GET")
def runs_collection(request: HttpRequest) -> HttpResponse:
    runs = Run.objects.all()
    job_id = query_int(request, "job", 0, 1, MAX_ID)
    if job_id:
        runs = runs.filter(job_id=job_id)
    return _runs(request, runs)


@api_view("GET")
def run_item(request: HttpRequest, run_id: int) -> HttpResponse:
    return JsonResponse(run_json(run_or_404(run_id), detail=True))


@api_view("POST", role="operate")
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    run = run_or_404(run_id)
    _no_fields(read_json(request, required=False))
    run = services.run_cancel(actor=request.user, run=run)
    return JsonResponse(run_json(run_or_404(run.pk), detail=True))


# --- schedules and tasks -------------------------------------------------------------------------


@api_view("GET")
def preview(request: HttpRequest) -> HttpResponse:
    from jobs.views.schedule_builder import preview_calendars

    query_choice(request, "on_calendar", Job.OnCalendar.values)
    calendars, on_calendar = preview_calendars(request)
    result = schedule_preview(
        query_text(request, "schedule", required=True, max_length=MAX_SCHEDULE),
        query_text(request, "timezone", max_length=MAX_TIMEZONE) or "UTC",
        count=query_int(request, "count", 10, 1, MAX_PREVIEW),
        after=query_instant(request, "after"),
        start_at=query_instant(request, "start_at"),
        end_at=query_instant(request, "end_at"),
        language=get_language() or "en",
        calendars=calendars,
        on_calendar=on_calendar,
    )
    if not result.valid:
        suggestion = None
        if result.suggestion is not None:
            suggestion = {
                "schedule": result.suggestion.schedule,
                "description": result.suggestion_description,
                "reason": result.suggestion_note,
            }
        return JsonResponse(
            {
                "valid": False,
                "error": result.error,
                "field": result.error_field,
                "suggestion": suggestion,
            }
        )
    return JsonResponse(
        {
            "valid": True,
            "description": result.description,
            "timezone": result.timezone,
            "next_runs": [isoformat(run) for run in result.next_runs],
            "warnings": result.warnings,
        }
    )


@api_view("GET")
def tasks(request: HttpRequest) -> HttpResponse:
    results = [
        {"name": task.name, "description": task.description, "params_schema": task.json_schema()}
        for task in all_tasks()
    ]
    return JsonResponse({"results": results, "count": len(results)})


@api_view("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", public=True)
def unknown_endpoint(request: HttpRequest, path: str = "") -> HttpResponse:
    # Without this, a mistyped URL under /api/v1/ would answer with an HTML page.
    raise not_found(_("There is no API endpoint at %(path)s.") % {"path": request.path})
