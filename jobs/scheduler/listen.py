"""PostgreSQL LISTEN for job changes: wakes the sync loop within milliseconds of a commit.

The change-marker poll stays the guarantee (a pooler in transaction mode cannot carry LISTEN, and
a notification sent while the listener reconnects is lost); this only makes the common case fast.
"""

import logging
import threading

import psycopg
from django.db import connections

logger = logging.getLogger("jobs.scheduler")

# The channel the database trigger of migration 0002 notifies on every change to a job.
CHANNEL = "cronadmin_changes"


class ChangeListener:
    def __init__(self, wake: threading.Event, stop: threading.Event) -> None:
        self.wake = wake
        self.stop = stop
        self.listening = threading.Event()

    def run(self) -> None:
        failing = False
        while not self.stop.is_set():
            try:
                self._listen()
            except psycopg.Error as exc:
                self.listening.clear()
                if not failing:
                    logger.warning("LISTEN failed, polling only until it works: %s", exc)
                    failing = True
                self.stop.wait(5.0)
            else:
                failing = False

    def _listen(self) -> None:
        params = connections["default"].get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        with psycopg.connect(**params, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            # Anything committed before LISTEN took effect is found by the next marker poll.
            self.wake.set()
            while not self.stop.is_set():
                for _notify in conn.notifies(timeout=1.0, stop_after=1):
                    self.wake.set()
