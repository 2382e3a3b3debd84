"""The Celery app: `celery -A cronadmin worker -Q <queues>` runs the runs of jobs with a queue.

Celery only carries messages and manages worker processes; the run ledger stays the truth. No
result backend, no beat, no Celery-side retries or ETA (see jobs.dispatch and docs/workers.md).
"""

import os
from typing import Any

from celery import Celery, Task, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cronadmin.settings")

from django.conf import settings  # noqa: E402 - needs DJANGO_SETTINGS_MODULE above

# Celery's Django fix-up sets Django up in the worker (DJANGO_SETTINGS_MODULE is set above).
app = Celery("cronadmin")
app.conf.update(
    broker_url=settings.CRONADMIN_CELERY_BROKER_URL or "memory://",
    # The ledger holds outcomes; a result backend would be a second truth that drifts.
    result_backend=None,
    task_ignore_result=True,
    # A message is acknowledged after its run, so a worker that dies before the end leaves it
    # to be redelivered; the claim makes the redelivery harmless (it finds no queued row).
    task_acks_late=True,
    # ... but a child killed mid-run (its own timeout, the hard limit, OOM) must not be
    # redelivered and run again: the ledger already says what happened.
    task_reject_on_worker_lost=False,
    # One message at a time per process: a long run never sits on messages others could take.
    worker_prefetch_multiplier=1,
    # Celery 6 flips this default; cancelling on a broker blip would kill healthy runs.
    worker_cancel_long_running_tasks_on_connection_loss=False,
    task_default_queue="cronadmin",
    task_create_missing_queues=True,
    # Durable queues (kombu's default) and persistent messages survive a broker restart.
    task_default_delivery_mode="persistent",
    # Publisher confirms: a publish returns once RabbitMQ has the message.
    broker_transport_options={"confirm_publish": True},
    broker_connection_retry_on_startup=True,
    broker_connection_timeout=2.0,
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
    task_send_sent_event=False,
)

RUN_TASK = "cronadmin.run"


@app.task(name=RUN_TASK, bind=True, acks_late=True, reject_on_worker_lost=False)
def run(self: Task, run_id: int, token: str) -> None:
    from jobs.dispatch.worker import execute_run

    execute_run(run_id, token, worker=self.request.hostname or "")


@signals.task_failure.connect(sender=run)
def _run_failed(task_id: str, exception: BaseException, args: Any, **kwargs: Any) -> None:
    # Sent in the worker's main process when the hard time limit killed a child or a child
    # died mid-run: the ledger hears of it there, guarded by the same claim.
    from jobs.dispatch.worker import record_lost_child

    record_lost_child(args, task_id, exception)


from jobs.dispatch import worker_status  # noqa: E402, F401 - the workers' own heartbeat
