"""Executors: services that register their own HTTP jobs and keep them alive by heartbeats.

Register creates or updates the jobs an executor offers (named `<executor>/<job>`, calling its
base URL plus each job's path); it answers with the heartbeat period. An executor silent for
Executor.MISSED_HEARTBEATS_OFFLINE periods is offline: the scheduler records its jobs' slots as
skipped with that reason until heartbeats return.
"""

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from jobs import services
from jobs.api.endpoint import api_view, isoformat, read_json
from jobs.api.errors import invalid
from jobs.api.fields import HTTP_FIELDS, JOB_FIELDS, Field
from jobs.api.serializers import check_value, jobs_json, with_last_runs
from jobs.models import Executor, Job

REGISTER_FIELDS: dict[str, Field] = {
    "name": Field("string", max_length=63, required=True, help="Unique name of the executor."),
    "base_url": Field("string", max_length=2048, required=True, help="Where its jobs are called."),
    "heartbeat_seconds": Field(
        "integer", minimum=1, maximum=services.MAX_HEARTBEAT_SECONDS, help="Default 30."
    ),
    "headers": Field("labels", help="Sent with every job's request (a job's own win)."),
}
OFFER_FIELDS: dict[str, Field] = {
    "name": Field("string", max_length=100, required=True, help="The job is `<executor>/<name>`."),
    "schedule": JOB_FIELDS["schedule"],
    "path": Field("string", max_length=2000, help="Appended to the base URL; default `/`."),
    "method": Field("string", choices=HTTP_FIELDS["method"].choices, help="Default POST."),
    **{name: HTTP_FIELDS[name] for name in ("headers", "body", "expect_status")},
    **{name: JOB_FIELDS[name] for name in services.EXECUTOR_JOB_FIELDS},
    "labels": JOB_FIELDS["labels"],
}
MAX_OFFERS = 1000


def executor_or_404(name: str) -> Executor:
    return Executor.objects.get(name=name)


def executor_json(executor: Executor, jobs: list[Job] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": executor.name,
        "base_url": executor.base_url,
        "state": executor.state,
        "heartbeat_seconds": executor.heartbeat_seconds,
        "offline_after_seconds": int(executor.offline_after.total_seconds()),
        "last_heartbeat_at": isoformat(executor.last_heartbeat_at),
        "registered_at": isoformat(executor.registered_at),
    }
    if jobs is not None:
        data["jobs"] = jobs_json(jobs)
    return data


def parse_registration(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    values = _checked(data, REGISTER_FIELDS, "", errors)
    # Required, even empty: registering says which jobs the executor offers, all of them.
    offers = data.get("jobs")
    if "jobs" not in data:
        errors["jobs"] = _("This field is required.")
        offers = []
    elif not isinstance(offers, list) or len(offers) > MAX_OFFERS:
        errors["jobs"] = _("Expected a list of at most %(n)d jobs.") % {"n": MAX_OFFERS}
        offers = []
    checked = []
    for index, offer in enumerate(offers):
        if not isinstance(offer, dict):
            errors[f"jobs[{index}]"] = _("Expected an object.")
            continue
        checked.append(_checked(offer, OFFER_FIELDS, f"jobs[{index}].", errors))
    if errors:
        raise invalid(errors)
    return {**values, "jobs": checked}


def _checked(
    data: dict[str, Any], fields: dict[str, Field], prefix: str, errors: dict[str, str]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in data:
        if name not in fields and not (prefix == "" and name == "jobs"):
            errors[prefix + name] = _("Unknown field.")
    for name, field in fields.items():
        if name not in data:
            if field.required:
                errors[prefix + name] = _("This field is required.")
            continue
        try:
            values[name] = check_value(field, data[name])
        except ValueError as exc:
            errors[prefix + name] = str(exc)
    return values


@api_view("GET")
def executors(request: HttpRequest) -> HttpResponse:
    results = [executor_json(executor) for executor in Executor.objects.overview()]
    return JsonResponse({"results": results, "count": len(results)})


@api_view("POST")
def executor_register(request: HttpRequest) -> HttpResponse:
    values = parse_registration(read_json(request))
    executor = services.executor_register(actor=request.user, **values)
    jobs = list(with_last_runs(Job.objects.filter(executor=executor)).order_by("name"))
    return JsonResponse(executor_json(executor, jobs))


@api_view("POST", role="operate")
def executor_heartbeat(request: HttpRequest, name: str) -> HttpResponse:
    executor = services.executor_heartbeat(actor=request.user, executor=executor_or_404(name))
    return JsonResponse(executor_json(executor))


@api_view("POST")
def executor_unregister(request: HttpRequest, name: str) -> HttpResponse:
    executor = executor_or_404(name)
    deleted = services.executor_unregister(actor=request.user, executor=executor)
    return JsonResponse({"name": executor.name, "deleted_jobs": deleted})
