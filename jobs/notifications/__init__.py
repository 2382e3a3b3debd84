"""Messages about jobs that fail, time out or recover, by e-mail and webhook.

The scheduler's engine hands finished runs over (`hand_over`) once its transaction committed;
the notifier thread (jobs.notifications.notifier) decides which runs are events, records them in
the Notification ledger, throttled per job and channel, and sends what is due. Nothing here runs
in the engine's thread beyond putting run ids on a queue, and nothing here runs in web workers.
"""

import logging
import queue
from collections.abc import Iterable
from typing import Protocol

logger = logging.getLogger("jobs.notifications")

# Bounded so a stuck notifier can never eat the scheduler's memory; beyond it events are dropped.
INBOX_SIZE = 10_000
WATCHED_STATES = frozenset({"failed", "timed_out", "succeeded"})


class Finished(Protocol):
    run_id: int
    job_id: int
    state: str


_inbox: "queue.Queue[list[tuple[int, int]]] | None" = None


def open_inbox() -> "queue.Queue[list[tuple[int, int]]]":
    global _inbox
    _inbox = queue.Queue(maxsize=INBOX_SIZE)
    return _inbox


def close_inbox() -> None:
    global _inbox
    _inbox = None


def hand_over(finished: Iterable[Finished]) -> None:
    """Queue committed finished runs for the notifier; a no-op when no notifier runs."""
    inbox = _inbox
    if inbox is None:
        return
    runs = [(f.run_id, f.job_id) for f in finished if f.state in WATCHED_STATES]
    if not runs:
        return
    try:
        inbox.put_nowait(runs)
    except queue.Full:
        logger.warning("notifier behind: %d finished run(s) not considered for messages", len(runs))
