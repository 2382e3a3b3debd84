"""Celery workers as JSON: the same rows as the workers page."""

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from jobs.api.endpoint import api_view, isoformat
from jobs.dispatch.overview import WorkerView, celery_enabled, celery_workers


def worker_json(row: WorkerView) -> dict[str, Any]:
    worker = row.worker
    return {
        "name": worker.name,
        "host": worker.host,
        "pid": worker.pid,
        "queues": list(worker.queues or []),
        "concurrency": worker.concurrency,
        "online": row.online,
        "runs_in_progress": row.running,
        "started_at": isoformat(worker.started_at),
        "heartbeat_at": isoformat(worker.heartbeat_at),
        "stopped_at": isoformat(worker.stopped_at),
    }


@api_view("GET")
def workers(request: HttpRequest) -> HttpResponse:
    rows = [worker_json(row) for row in celery_workers()]
    return JsonResponse({"enabled": celery_enabled(), "results": rows, "count": len(rows)})
