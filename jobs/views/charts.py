"""The duration chart on the job page: plain SVG geometry computed here, drawn by a template."""

from dataclasses import dataclass
from datetime import timedelta

from jobs.models import Run

WIDTH = 600
HEIGHT = 120
GAP = 2
MIN_SLOTS = 40


@dataclass(frozen=True)
class Bar:
    run: Run
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class DurationChart:
    bars: list[Bar]
    longest: timedelta
    width: int = WIDTH
    height: int = HEIGHT


def duration_chart(runs: list[Run]) -> DurationChart | None:
    """One bar per run, oldest on the left, heights relative to the longest run shown."""
    timed = [r for r in runs if r.duration is not None]
    if not timed:
        return None
    longest = max(r.duration for r in timed) or timedelta(microseconds=1)
    # A fixed number of slots keeps bars the same width however few runs there are so far;
    # the newest run is always at the right edge.
    slots = max(len(timed), MIN_SLOTS)
    slot = WIDTH / slots
    offset = slots - len(timed)
    bars = []
    for i, run in enumerate(timed, start=offset):
        # A run that took no measurable time still gets a sliver, so it is not mistaken for a gap.
        height = max(2.0, HEIGHT * (run.duration / longest))
        width = max(1.0, slot - GAP)
        bars.append(
            Bar(
                run,
                round(i * slot, 2),
                round(HEIGHT - height, 2),
                round(width, 2),
                round(height, 2),
            )
        )
    return DurationChart(bars, longest)
