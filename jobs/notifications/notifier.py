"""The notifier thread of the scheduler process: records events and sends what is due.

It runs beside the engine, never inside it: a slow mail server or a webhook that hangs delays
messages, never runs. Any error is logged and the loop goes on after a pause; the scheduler does
not watch this thread, so even its death cannot stop scheduling.
"""

import logging
import queue
import threading
import time

from django.db import DatabaseError, connection

from jobs.notifications import close_inbox, ledger, open_inbox

logger = logging.getLogger("jobs.notifications")

# How often waiting digests and retries are looked at when no run finishes.
IDLE_SECONDS = 1.0
ERROR_PAUSE_SECONDS = 5.0


class Notifier:
    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.inbox = open_inbox()
        self.failing: dict[int, bool] = {}
        self.thread = threading.Thread(target=self._loop, name="notifier", daemon=True)

    def start(self) -> "Notifier":
        self.thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        close_inbox()
        self.stopping.set()
        self.thread.join(timeout)

    def _loop(self) -> None:
        failing_since: float | None = None
        try:
            while not self.stopping.is_set():
                try:
                    self.step()
                except DatabaseError as exc:
                    # One line per outage, like the scheduler's other threads, not one per step.
                    if failing_since is None:
                        failing_since = time.monotonic()
                        logger.error("notifier cannot reach the database, retrying: %s", exc)
                    self._pause()
                except Exception:
                    logger.exception("notifier step failed; trying again shortly")
                    self._pause()
                else:
                    if failing_since is not None:
                        logger.warning(
                            "notifier reaches the database again after %.1f s",
                            time.monotonic() - failing_since,
                        )
                        failing_since = None
        finally:
            connection.close()

    def _pause(self) -> None:
        self.failing.clear()
        connection.close()
        self.stopping.wait(ERROR_PAUSE_SECONDS)

    def step(self) -> None:
        finished = self._drain(IDLE_SECONDS)
        if finished:
            ledger.record_finished(finished, self.failing)
        ledger.send_due()

    def _drain(self, wait: float) -> list[tuple[int, int]]:
        try:
            finished = list(self.inbox.get(timeout=wait))
        except queue.Empty:
            return []
        while True:
            try:
                finished += self.inbox.get_nowait()
            except queue.Empty:
                return finished
