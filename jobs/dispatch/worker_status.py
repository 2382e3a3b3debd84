"""Celery workers report themselves: process set-up, and a row per worker with its heartbeat.

The workers page, /metrics and the API read these rows (jobs.selectors.celery_workers), so the
web needs no broker connection to show them. A worker is offline when its heartbeat is older than
three periods, or it said it stopped.
"""

import logging
import os
import socket
import threading

from celery import signals

logger = logging.getLogger("jobs.dispatch")

_stop = threading.Event()


@signals.worker_process_init.connect
def _child_started(**kwargs: object) -> None:
    from jobs.kinds import task_processes

    # Each child leads its own process group and adopts orphans: killing the group ends a run
    # and everything it started (jobs.dispatch.worker).
    # Celery's Django fix-up drops the database connections inherited from the main process.
    task_processes.enter_worker(None)


@signals.worker_ready.connect
def _worker_ready(sender: object, **kwargs: object) -> None:
    name = getattr(sender, "hostname", "") or socket.gethostname()
    consumer = getattr(sender, "app", None)
    queues = sorted(consumer.amqp.queues.consume_from) if consumer is not None else []
    concurrency = getattr(getattr(sender, "pool", None), "num_processes", 0) or 0
    threading.Thread(
        target=_heartbeat, args=(name, queues, concurrency), name="worker-status", daemon=True
    ).start()


@signals.worker_shutdown.connect
def _worker_shutdown(sender: object, **kwargs: object) -> None:
    from django.db import DatabaseError
    from django.utils import timezone

    from jobs.models import CeleryWorker

    _stop.set()
    name = getattr(sender, "hostname", "") or socket.gethostname()
    try:
        CeleryWorker.objects.filter(name=name).update(stopped_at=timezone.now())
    except DatabaseError:
        logger.warning("could not mark worker %s as stopped", name)


def _heartbeat(name: str, queues: list[str], concurrency: int) -> None:
    from django.conf import settings
    from django.db import DatabaseError, connection
    from django.utils import timezone

    from jobs.models import CeleryWorker

    started = timezone.now()
    while True:
        now = timezone.now()
        try:
            CeleryWorker.objects.update_or_create(
                name=name,
                defaults={
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "queues": queues,
                    "concurrency": concurrency,
                    "heartbeat_at": now,
                    "stopped_at": None,
                },
                create_defaults={
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "queues": queues,
                    "concurrency": concurrency,
                    "started_at": started,
                    "heartbeat_at": now,
                },
            )
        except DatabaseError:
            connection.close()
        if _stop.wait(settings.CRONADMIN_CELERY_HEARTBEAT_SECONDS):
            return
