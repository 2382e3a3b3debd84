"""Which run a log line is about, and the JSON log format.

The run being handled lives in context variables, set where a run starts (the scheduler's run
threads, the task worker processes) and read by a filter on the console handler, so every line
logged while handling a run carries its job and run ids, whichever library logs it. Loaded by
the LOGGING setting: nothing here may import models.
"""

import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

# The scheduler sets this for the worker processes it spawns, so their lines name the scheduler
# node (host:pid, as the SchedulerNode row prints it) rather than the worker's own pid.
NODE_ENV = "CRONADMIN_LOG_NODE"

_job_id: ContextVar[int | None] = ContextVar("cronadmin_job_id", default=None)
_run_id: ContextVar[int | None] = ContextVar("cronadmin_run_id", default=None)


@contextmanager
def run_context(job_id: int | None, run_id: int | None) -> Iterator[None]:
    job_token = _job_id.set(job_id)
    run_token = _run_id.set(run_id)
    try:
        yield
    finally:
        _run_id.reset(run_token)
        _job_id.reset(job_token)


def current_node() -> str:
    return os.environ.get(NODE_ENV) or f"{socket.gethostname()}:{os.getpid()}"


class RunContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # A record that already names its run (passed in `extra=`) keeps it.
        if getattr(record, "run_id", None) is None:
            record.job_id = _job_id.get()
            record.run_id = _run_id.get()
        record.node = current_node()
        record.run_context = (
            f" [job {record.job_id} run {record.run_id}]" if record.run_id is not None else ""
        )
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "job_id": getattr(record, "job_id", None),
            "run_id": getattr(record, "run_id", None),
            "node": getattr(record, "node", None) or current_node(),
            "exception": self.formatException(record.exc_info) if record.exc_info else None,
        }
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: a message argument that is not JSON (a datetime, a model) still logs.
        return json.dumps(entry, ensure_ascii=False, default=str)
