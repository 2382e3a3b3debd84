"""How long the code under test holds SQLite's write lock, read from the statements SQLite runs.

The settings open every transaction with BEGIN IMMEDIATE, which takes the write lock at once,
and COMMIT or ROLLBACK lets it go, so a transaction's length is the lock's hold. Inside a test's
own transaction (pytest-django's `db`), the outermost savepoint above the test's stands for the
transaction the code would have opened by itself. The statements come from sqlite3's trace
callback: Django opens a transaction through a cursor but commits through the connection, which
no execute_wrapper sees.

The longest holds are printed at the end of the test session (tests/conftest.py), for the
figures in docs/security.md; tests assert only on what is exact (a plan opens no transaction).
"""

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection

WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b", re.IGNORECASE)
# The longest hold seen by each measured group of tests, for the session's summary.
LONGEST: dict[str, float] = {}


@dataclass
class WriteLockWatch:
    holds: list[float] = field(default_factory=list)
    transactions: int = 0
    writes: int = 0
    _base: int = 0
    _level: int = 0
    _started: float = 0.0

    def _trace(self, sql: str) -> None:
        statement = sql.lstrip().upper()
        before = self._level
        if statement.startswith("BEGIN"):
            self._level = 1
        elif statement.startswith("SAVEPOINT"):
            self._level += 1
        elif statement.startswith("RELEASE"):
            self._level -= 1
        elif statement.startswith(("COMMIT", "END")) or statement == "ROLLBACK":
            self._level = 0
        elif WRITES.match(sql):
            self.writes += 1
        if before <= self._base < self._level:
            self.transactions += 1
            self._started = time.perf_counter()
        elif self._level <= self._base < before:
            self.holds.append(time.perf_counter() - self._started)

    @property
    def longest(self) -> float:
        return max(self.holds, default=0.0)


@contextmanager
def watch_write_lock(group: str | None = None) -> Iterator[WriteLockWatch]:
    """Times the write transactions of the default (SQLite) connection while the block runs;
    with `group`, adds the longest to the session's summary."""
    if connection.vendor != "sqlite":
        raise RuntimeError("The write lock is measured on SQLite only.")
    connection.ensure_connection()
    watch = WriteLockWatch()
    own = sum(1 for sid in connection.savepoint_ids if sid is not None)
    watch._base = watch._level = (1 if connection.in_atomic_block else 0) + own
    raw = connection.connection
    raw.set_trace_callback(watch._trace)
    try:
        yield watch
    finally:
        raw.set_trace_callback(None)
        if group is not None:
            LONGEST[group] = max(LONGEST.get(group, 0.0), watch.longest)
