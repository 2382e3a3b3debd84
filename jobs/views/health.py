"""Health and metrics for machines (/healthz, /metrics) and the schedulers page for people.

/healthz and /metrics need no login and touch no session: load balancers, container runtimes
and Prometheus call them. /metrics may ask for a bearer token (CRONADMIN_METRICS_TOKEN).
"""

from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from jobs import live, metrics
from jobs.monitoring import scheduler_health
from jobs.views.access import role_required


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        # The next request must try a fresh connection, not this broken one.
        connection.close()
        return JsonResponse(
            {"status": "error", "database": "unreachable", "error": type(exc).__name__},
            status=503,
        )
    return JsonResponse({"status": "ok", "database": "ok"})


@require_GET
def healthz_scheduler(request: HttpRequest) -> HttpResponse:
    """The schedulers' verdict for probes: 503 when no leader heartbeats within its lease."""
    try:
        health = scheduler_health()
    except DatabaseError as exc:
        connection.close()
        return JsonResponse(
            {"status": "error", "database": "unreachable", "error": type(exc).__name__},
            status=503,
        )
    body = {
        "status": "ok" if health.healthy else "unhealthy",
        "problem": health.problem,
        "term": health.term,
        "leader_heartbeat_age_seconds": (
            round(health.leader.heartbeat_age.total_seconds(), 3) if health.leader else None
        ),
    }
    return JsonResponse(body, status=200 if health.healthy else 503)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics.token_accepted(request):
        response = HttpResponse(
            _("Send the metrics token as “Authorization: Bearer <token>”.") + "\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = 'Bearer realm="cronadmin-metrics"'
        return response
    try:
        body = metrics.render()
    except DatabaseError as exc:
        connection.close()
        return HttpResponse(
            f"database unreachable: {type(exc).__name__}\n",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


@require_GET
@login_required
@role_required("view")
def scheduler_list(request: HttpRequest) -> HttpResponse:
    context = {
        "health": scheduler_health(),
        # Heartbeat ages and the lease's health follow from the clock: re-checked every 5 s.
        "live_events": "live-schedulers from:body, live-jobs from:body, every 5s",
        "live_watch": live.watch("schedulers", "jobs"),
    }
    return render(request, "jobs/scheduler_list.html", context)
