"""What every system case shares: the job phases, the measured window and the result dict.

Every system reports the same keys, built by `summarize` from a list of fires, each fire being
(scheduled instant, actual start of the job function) as epoch seconds.
"""

import math
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

SHAPES = ("staggered", "burst")

Fire = tuple[float, float]


def phases(n: int, shape: str) -> list[float]:
    """Offset of each job's slots within the second: spread evenly, or all on the whole second."""
    if shape == "staggered":
        return [i / n for i in range(n)]
    if shape == "burst":
        return [0.0] * n
    raise ValueError(f"Unknown shape {shape!r}; expected one of {', '.join(SHAPES)}.")


@dataclass(frozen=True)
class Window:
    """Slots scheduled in [start, end) are the ones a case is judged on."""

    start: float
    end: float

    @classmethod
    def after(cls, started: float, warmup: int, seconds: float) -> "Window":
        # Starting on a whole second keeps "N slots per second" exact for every phase.
        start = math.ceil(started) + warmup
        return cls(start=float(start), end=start + seconds)

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def __contains__(self, instant: float) -> bool:
        return self.start <= instant < self.end

    def expected_slots(self, base: float, job_phases: Iterable[float]) -> int:
        total = 0
        for phase in job_phases:
            first = math.ceil(self.start - base - phase)
            last = math.ceil(self.end - base - phase) - 1
            total += max(0, last - first + 1)
        return total


def sleep_until(instant: float) -> None:
    while (left := instant - time.time()) > 0:
        time.sleep(min(left, 0.5))


def tree_cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU of a process and all its descendants, living or already reaped."""
    total = 0.0
    for member in [proc, *proc.children(recursive=True)]:
        try:
            times = member.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile: a value that was actually observed, never an interpolation."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(
    *,
    system: str,
    n: int,
    shape: str,
    base: float,
    window: Window,
    fires: list[Fire],
    cpu_seconds: float | None,
    setup_seconds: float,
    states: dict[str, int] | None = None,
    variant: str = "",
    error: str | None = None,
) -> dict:
    in_window = [(scheduled, started) for scheduled, started in fires if scheduled in window]
    lateness_ms = sorted((started - scheduled) * 1000 for scheduled, started in in_window)
    expected = window.expected_slots(base, phases(n, shape))

    # Throughput is starts per wall-clock second, whatever slot they belong to, so a system
    # that is catching up on old slots still gets credit for the work it does.
    starts_per_second = [0] * max(1, int(window.seconds))
    for _scheduled, started in fires:
        second = math.floor(started - window.start)
        if 0 <= second < len(starts_per_second):
            starts_per_second[second] += 1

    return {
        "system": system,
        "variant": variant,
        "n": n,
        "shape": shape,
        "seconds": window.seconds,
        "window_start": window.start,
        "expected_per_s": n,
        "fires_per_s": statistics.median(starts_per_second),
        "slots_expected": expected,
        "slots_fired": len(in_window),
        "slots_not_run": expected - len(in_window),
        "late_p50_ms": percentile(lateness_ms, 50),
        "late_p99_ms": percentile(lateness_ms, 99),
        "late_max_ms": lateness_ms[-1] if lateness_ms else None,
        "cpu_percent": None if cpu_seconds is None else 100 * cpu_seconds / window.seconds,
        "setup_s": setup_seconds,
        "states": states or {},
        "error": error,
    }


def failed(*, system: str, n: int, shape: str, error: str) -> dict:
    return {"system": system, "n": n, "shape": shape, "error": error}
