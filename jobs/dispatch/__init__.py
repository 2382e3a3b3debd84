"""Runs on Celery workers (docs/workers.md).

The leader commits a run `queued` with a dispatch token and then publishes a message whose id is
that token (leader.py); a worker claims the row with a guarded UPDATE, runs it under a supervisor
and writes the outcome itself (worker.py); workers report themselves (worker_status.py).
"""
