"""The three calls of the original Go design, kept working as written, behind the same tokens.

POST /cron {"spec": "<cron>", "job": "<registered task>"} → {"job_id": <id>}; GET /cron lists
the active jobs; DELETE /cron/<id> removes one. Like Go's JSON decoder, unknown body fields are
ignored. New clients should use /api/v1/.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from jobs import services
from jobs.api.endpoint import api_view, read_json
from jobs.api.errors import from_validation_error, invalid
from jobs.api.views import job_or_404
from jobs.models import Job

# The seed's field names for what the model calls schedule and task.
ERROR_NAMES = {"schedule": "spec", "timezone": "spec", "task": "job", "params": "job"}


def cron_json(job: Job) -> dict[str, Any]:
    task = job.config.get("task") if job.kind == Job.Kind.TASK else None
    return {"job_id": job.pk, "spec": job.schedule, "job": task, "name": job.name}


def _free_name(task: str, spec: str) -> str:
    # The seed had no job names; make a readable one, unique like every job name.
    base = f"{task} ({spec})"[:190]
    name, number = base, 2
    while Job.objects.filter(name=name).exists():
        name, number = f"{base} #{number}", number + 1
    return name


@api_view("GET", "POST")
def cron_collection(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        jobs = Job.objects.filter(state=Job.State.ACTIVE).order_by("pk")
        return JsonResponse([cron_json(job) for job in jobs], safe=False)
    data = read_json(request)
    spec, task = data.get("spec"), data.get("job")
    errors = {
        name: _("Expected non-empty text.")
        for name, value in (("spec", spec), ("job", task))
        if not isinstance(value, str) or not value.strip() or len(value) > 200
    }
    if errors:
        raise invalid(errors)
    try:
        job = services.job_create(
            actor=request.user,
            name=_free_name(task, spec),
            kind=Job.Kind.TASK,
            schedule=spec,
            config={"task": task, "params": {}},
            labels={"source": "cron-api"},
        )
    except ValidationError as exc:
        raise from_validation_error(exc, ERROR_NAMES) from None
    return JsonResponse({"job_id": job.pk})


@api_view("DELETE")
def cron_item(request: HttpRequest, job_id: int) -> HttpResponse:
    services.job_delete(actor=request.user, job=job_or_404(job_id))
    return HttpResponse(status=204)
