"""What the pages, the API and /metrics show of Celery workers: read from the rows they keep."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from jobs.models import CeleryWorker, Run


@dataclass(frozen=True)
class WorkerView:
    worker: CeleryWorker
    online: bool
    running: int


def celery_enabled() -> bool:
    return bool(settings.CRONADMIN_CELERY_BROKER_URL)


def celery_workers(now: datetime | None = None) -> list[WorkerView]:
    now = now or timezone.now()
    running = dict(
        Run.objects.filter(state=Run.State.RUNNING)
        .exclude(worker="")
        .values_list("worker")
        .annotate(n=Count("id"))
        .values_list("worker", "n")
    )
    return [
        WorkerView(worker, worker.is_online(now), running.get(worker.name, 0))
        for worker in CeleryWorker.objects.all()
    ]


def queue_is_served(queue: str, now: datetime | None = None) -> bool:
    """Whether an online worker consumes `queue` (the job page warns while none does)."""
    now = now or timezone.now()
    return any(
        queue in (worker.queues or []) and worker.is_online(now)
        for worker in CeleryWorker.objects.filter(stopped_at__isnull=True)
    )
