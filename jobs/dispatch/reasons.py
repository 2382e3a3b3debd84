"""The reasons the Celery dispatch writes on runs, in one place so they can become codes."""

REASONS = {
    "worker_lost": "Worker lost: {where}, last heartbeat {heartbeat}; its outcome is unknown.",
    "no_worker": "No worker is serving queue {queue}.",
    "timed_out": "Stopped after its {timeout} s timeout; its processes were killed.",
    "hard_limit": "Stopped by the worker's hard time limit ({limit} s); its process was killed.",
    "child_died": "The worker process running it died ({error}).",
    "heartbeat_lost": "The worker could not reach the database; the run was stopped.",
    "cancelled": "Cancelled on request.",
}


def dispatch_reason(code: str, **params: object) -> str:
    return REASONS[code].format(**params)
