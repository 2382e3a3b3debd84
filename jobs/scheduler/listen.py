"""PostgreSQL LISTEN for job changes: wakes the sync loop within milliseconds of a commit.

The change-marker poll stays the guarantee (a pooler in transaction mode cannot carry LISTEN, and
a notification sent while the listener reconnects is lost); this only makes the common case fast.
"""

import logging
import threading
from collections.abc import Callable

from django.db import connections

from jobs.models import CHANGE_CHANNEL, RUNS_CHANNEL

logger = logging.getLogger("jobs.scheduler")


class ChangeListener:
    def __init__(
        self,
        wake: threading.Event,
        stop: threading.Event,
        run_ended: Callable[[], None] | None = None,
    ) -> None:
        self.wake = wake
        # Called when a Celery worker wrote a run's outcome (jobs.dispatch.worker).
        self.run_ended = run_ended
        self.stop = stop
        self.listening = threading.Event()

    def run(self) -> None:
        failing = False
        while not self.stop.is_set():
            try:
                self._listen()
            except Exception as exc:  # noqa: BLE001 - best effort: polling goes on whatever fails
                self.listening.clear()
                if not failing:
                    logger.warning("LISTEN failed, polling only until it works: %s", exc)
                    failing = True
                self.stop.wait(5.0)
            else:
                failing = False

    def _listen(self) -> None:
        import psycopg  # only installed with PostgreSQL support

        params = connections["default"].get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        with psycopg.connect(**params, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"LISTEN {CHANGE_CHANNEL}")
            if self.run_ended is not None:
                conn.execute(f"LISTEN {RUNS_CHANNEL}")
            self.listening.set()
            # Anything committed before LISTEN took effect is found by the next marker poll.
            self.wake.set()
            while not self.stop.is_set():
                for notify in conn.notifies(timeout=1.0, stop_after=1):
                    if notify.channel == RUNS_CHANNEL and self.run_ended is not None:
                        self.run_ended()
                    else:
                        self.wake.set()
