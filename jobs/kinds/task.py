"""The task kind: a registered Python callable, run in a long-lived worker process.

Threads cannot be killed, so tasks run in a process pool; the scheduler kills and replaces the
worker of a run that times out or is cancelled. Django is set up once per worker.
"""

import contextlib
import logging
import os
import threading
import time
import traceback
from multiprocessing.queues import SimpleQueue
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from jobs import registry
from jobs.kinds import task_processes
from jobs.log_context import run_context
from jobs.run_reasons import exception_reason

logger = logging.getLogger("jobs.kinds.task")


def clean_config(config: dict[str, Any]) -> dict[str, Any]:
    name = config.get("task")
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"task": _("Choose a registered task.")}, code="required")
    params = registry.clean_params(name.strip(), config.get("params") or {})
    return {"task": name.strip(), "params": params}


def worker_init(announce: SimpleQueue | None = None) -> None:
    # What the worker's tasks start must be found and killed, even after the worker itself was
    # killed (see jobs.kinds.task_processes).
    task_processes.enter_worker(announce)
    # The worker dies with the scheduler, so a SIGKILLed scheduler leaves no task running behind
    # it (its runs become `interrupted` on the next start). PR_SET_PDEATHSIG would follow the
    # thread that forked the worker, not the process, so watch the parent instead.
    parent = os.getppid()

    def watch_parent() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
    import django

    django.setup()


def run_in_worker(
    task_name: str, params: dict[str, Any], run_id: int, job_id: int | None = None
) -> dict[str, Any]:
    # Whatever the task logs names its run, like the scheduler's own lines about it.
    with run_context(job_id, run_id):
        return _run_task(task_name, params, run_id)


def _run_task(task_name: str, params: dict[str, Any], run_id: int) -> dict[str, Any]:
    from django.conf import settings
    from django.db import close_old_connections

    from jobs.output import OutputCapture, output_path

    capture = OutputCapture(
        output_path(run_id),
        settings.CRONADMIN_OUTPUT_HEAD_BYTES,
        settings.CRONADMIN_OUTPUT_TAIL_BYTES,
    )
    result: dict[str, Any] = {"pid": os.getpid(), "started": time.time()}
    logger.debug("task %s starting in worker process %d", task_name, os.getpid())
    try:
        registered = registry.get_task(task_name)
        if registered is None:
            raise LookupError(f"The task {task_name!r} is not registered in this worker.")
        with contextlib.redirect_stdout(capture), contextlib.redirect_stderr(capture):
            registered.func(**params)
        result["state"] = "succeeded"
    except Exception as exc:
        result.update(
            state="failed",
            reason=exception_reason(exc),
            error=traceback.format_exc(),
        )
    finally:
        capture.close()
        close_old_connections()
        # The run is over, so is everything it started (`Popen(...)` and return, `cmd &`).
        task_processes.end_descendants()
    result["output"] = capture.total_bytes > 0
    return result
