"""A job's test request and test notification: sent once, the outcome returned, nothing recorded
but an audit entry."""

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from jobs import services
from jobs.api.endpoint import api_view, read_json
from jobs.api.errors import from_validation_error, invalid
from jobs.api.views import job_or_404
from jobs.kinds.http_probe import ProbeResult


def probe_json(result: ProbeResult) -> dict[str, Any]:
    answered = result.outcome.http_status is not None
    return {
        "request": {"method": result.method, "url": result.url},
        "state": result.outcome.state,
        "reason": result.outcome.reason.english,
        "error": result.outcome.error,
        "elapsed_ms": result.elapsed_ms,
        "response": {
            "status": result.outcome.http_status,
            "reason": result.reason_phrase,
            "headers": [[name, value] for name, value in result.headers],
            "body": result.body,
            "body_bytes": result.body_bytes,
            "truncated": result.truncated,
        }
        if answered
        else None,
    }


@api_view("POST", role="operate", atomic=False)
def job_test_request(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_or_404(job_id)
    data = read_json(request, required=False)
    if data:
        raise invalid({name: _("Unknown field.") for name in data})
    try:
        result = services.job_test_request(actor=request.user, job=job)
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    return JsonResponse(probe_json(result))


@api_view("POST", role="operate", atomic=False)
def job_test_notification(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_or_404(job_id)
    data = read_json(request, required=False)
    if data:
        raise invalid({name: _("Unknown field.") for name in data})
    try:
        results = services.job_test_notification(actor=request.user, job=job)
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    channels = [
        {"channel": r.channel, "target": r.target, "sent": r.sent, "detail": r.detail}
        for r in results
    ]
    return JsonResponse({"results": channels, "count": len(channels)})
