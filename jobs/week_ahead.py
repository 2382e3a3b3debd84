"""The week ahead: how many runs every job has in each hour of the next seven days.

Read-only, like jobs.selectors. Working out a week of every schedule costs seconds at 10,000 jobs,
so it is not done per request. The index keeps, per job, its runs counted per UTC hour over eight
days from the hour it was computed in. A request only re-reads the definitions when the change
marker moved (the database bumps it on every write to jobs and calendars), recomputes the jobs
whose timing changed or whose eight days no longer cover the week asked for (so each job about
once a day), and adds up the counts of the jobs its filters keep.
"""

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jobs.models import ChangeMarker, Job
from jobs.selectors import TimingRow, _parsed, timing_fires, timing_rows

HOUR = timedelta(hours=1)
TICK = timedelta(microseconds=1)
WEEK = timedelta(days=7)
COMPUTED_SPAN = timedelta(days=8)
# A job firing every second has 691,200 runs in eight days; counting stops here.
MAX_RUNS_PER_JOB = 100_000
MAX_JOBS_PER_CELL = 100
MAX_CACHED_VIEWS = 64


def _hour_number(instant: datetime) -> int:
    return int(instant.timestamp() // 3600)


@dataclass
class _Counted:
    timing: tuple[Any, ...]  # what the counts depend on (_shared_key)
    first_hour: int  # the hours counted are [first_hour, first_hour + 192)
    per_hour: dict[int, int]  # hour number → runs
    capped: bool


@dataclass
class WeekCell:
    day: int  # 0 … 7 (the viewer's days from today; 7 only for the last partial hours)
    hour: int
    runs: int
    level: int  # 0 (none) … 4 (the busiest hours)


@dataclass
class WeekAhead:
    start: datetime  # the viewer's current hour, local
    days: list[datetime]  # local midnight of each row
    grid: list[tuple[datetime, list[WeekCell]]]  # a row per day: its midnight, 24 cells
    total: int
    busiest: list[tuple[datetime, int]]  # the five busiest hours, local
    jobs: int  # how many jobs the filters kept
    capped: list[str]  # jobs firing so often that only the first runs were counted


class WeekIndex:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple[Any, ...] | None = None
        self.rows: dict[int, TimingRow] = {}
        self.counted: dict[int, _Counted] = {}
        # Grows whenever a job's counts change; the added-up views are kept per version.
        self.version = 0
        self.totals: dict[tuple[Any, ...], tuple[list[int], Counter[int]]] = {}

    def clear(self) -> None:
        with self.lock:
            self.key, self.rows, self.counted, self.totals = None, {}, {}, {}
            self.version += 1

    def counts(self, now: datetime) -> tuple[dict[int, TimingRow], dict[int, _Counted], int]:
        marker = ChangeMarker.objects.filter(id=1).values_list("version", "changed_at").first()
        first_hour = _hour_number(now)
        with self.lock:
            previous_rows = self.rows
            if marker is None or marker != self.key:
                self.rows = timing_rows()
                self.key = marker
            counted = {}
            # Many jobs share a schedule ("0 * * * *" in UTC): each timing is counted once.
            fresh: dict[tuple[Any, ...], _Counted] = {}
            for job_id, row in self.rows.items():
                kept = self.counted.get(job_id)
                shared = _shared_key(row)
                if (
                    kept is None
                    or kept.timing != shared
                    or kept.first_hour > first_hour
                    or kept.first_hour + COMPUTED_SPAN // HOUR < first_hour + WEEK // HOUR
                ):
                    kept = fresh.get(shared) or fresh.setdefault(shared, _count(row, first_hour))
                counted[job_id] = kept
            if counted.keys() != self.counted.keys() or any(
                counted[job_id] is not self.counted[job_id] for job_id in counted
            ):
                self.version += 1
            if self.rows is not previous_rows and any(
                previous_rows.get(job_id, row) != row for job_id, row in self.rows.items()
            ):
                self.version += 1  # a label or a kind changed: the filters keep other jobs
            self.counted = counted
            return self.rows, counted, self.version


def _shared_key(row: TimingRow) -> tuple[Any, ...]:
    # Only `@every` slots are counted from the anchor; other jobs with the same schedule, zone,
    # dates, pause and calendars have the same runs whenever their schedule was set.
    anchored = row.schedule.lstrip().lower().startswith("@every")
    timing = row.timing()
    return (*timing[:2], timing[2] if anchored else None, *timing[3:])


def _count(row: TimingRow, first_hour: int) -> _Counted:
    start = datetime.fromtimestamp(first_hour * 3600, UTC)
    end = start + COMPUTED_SPAN
    every = _every_counts(row, start, end)
    if every is not None:
        return _Counted(_shared_key(row), first_hour, every, False)
    runs = timing_fires(row, MAX_RUNS_PER_JOB, start - TICK, until=end)
    per_hour = Counter(_hour_number(t) for t in runs if t < end)
    capped = len(runs) >= MAX_RUNS_PER_JOB and runs[-1] < end
    return _Counted(_shared_key(row), first_hour, dict(per_hour), capped)


def _every_counts(row: TimingRow, start: datetime, end: datetime) -> dict[int, int] | None:
    """An `@every` job counted per hour by arithmetic, not run by run (one every second has
    691,200 runs in eight days), its calendars' periods taken out (or moved) the same way."""
    schedule = _parsed(row.schedule, row.timezone, row.schedule_anchor)
    if schedule is None or schedule.interval is None:
        return None
    paused = row.state == Job.State.PAUSED
    if paused and row.paused_until is None:
        return {}
    # The same bounds as the job's next runs (jobs.selectors._fires): runs in (low, high].
    low = max(start - TICK, row.paused_until if paused and row.paused_until else start - TICK)
    if row.start_at is not None and row.start_at > low:
        low = row.start_at - TICK
    high = min(end - TICK, row.end_at) if row.end_at else end - TICK
    anchor, interval = schedule.anchor, schedule.interval

    def upto(instant: datetime) -> int:  # how many slots are at or before `instant`
        return (instant - anchor) // interval

    def between(a: datetime, b: datetime) -> int:  # slots in (a, b], within (low, high]
        a, b = max(a, low), min(b, high)
        return upto(b) - upto(a) if b > a else 0

    counts: Counter[int] = Counter()
    hour = start
    while hour < end:
        if n := between(hour - TICK, hour + HOUR - TICK):
            counts[_hour_number(hour)] = n
        hour += HOUR
    # A calendar's periods [since, until): their slots are skipped, or all run once at `until`
    # (CalendarSchedule.slots), unless a slot of the schedule is there already.
    for since, until in row.calendars.blocked_periods(start - HOUR, end + HOUR):
        inside = since
        while inside < until:
            upper = min(until, datetime.fromtimestamp((_hour_number(inside) + 1) * 3600, UTC))
            if n := between(inside - TICK, upper - TICK):
                counts[_hour_number(inside)] -= n
            inside = upper
        moved = between(since - TICK, until - TICK) and row.on_calendar != "skip"
        if moved and start <= until < end and until <= high and not between(until - TICK, until):
            counts[_hour_number(until)] += 1
    return {hour: n for hour, n in counts.items() if n}


week_index = WeekIndex()


def _keeps(row: TimingRow, label: str, kind: str) -> bool:
    if kind and row.kind != kind:
        return False
    if label:
        key, has_value, value = label.partition("=")
        labels = row.labels if isinstance(row.labels, dict) else {}
        if key.strip() not in labels:
            return False
        if has_value and labels[key.strip()] != value.strip():
            return False
    return True


def _totals(
    rows: dict[int, TimingRow],
    counted: dict[int, "_Counted"],
    version: int,
    first_hour: int,
    label: str,
    kind: str,
) -> tuple[list[int], Counter[int]]:
    """The jobs the filters keep, and their runs per hour; kept for the next request alike."""
    key = (version, first_hour, label, kind)
    with week_index.lock:
        found = week_index.totals.get(key)
    if found is not None:
        return found
    kept = [job_id for job_id, row in rows.items() if _keeps(row, label, kind)]
    # Jobs sharing a timing share their counts: add each set of counts once, times its jobs.
    shared: Counter[int] = Counter(id(counted[job_id]) for job_id in kept)
    by_id = {id(counted[job_id]): counted[job_id] for job_id in kept}
    stop = first_hour + WEEK // HOUR
    totals: Counter[int] = Counter()
    for ident, jobs in shared.items():
        for hour, runs in by_id[ident].per_hour.items():
            if first_hour <= hour < stop:
                totals[hour] += runs * jobs
    with week_index.lock:
        if len(week_index.totals) >= MAX_CACHED_VIEWS:
            week_index.totals.clear()
        week_index.totals[key] = (kept, totals)
    return kept, totals


def week_ahead(
    *, now: datetime, tz: ZoneInfo, label: str = "", kind: str = "", cell: tuple[int, int] | None
) -> tuple[WeekAhead, list[tuple[str, int, int]]]:
    """The week from the viewer's current hour, and the jobs of one cell (day, hour) if asked."""
    rows, counted, version = week_index.counts(now)
    first_hour = _hour_number(now)
    kept, totals = _totals(rows, counted, version, first_hour, label, kind)
    hours = range(first_hour, first_hour + WEEK // HOUR)
    local_start = datetime.fromtimestamp(first_hour * 3600, UTC).astimezone(tz)
    today = local_start.replace(hour=0, minute=0, second=0, microsecond=0)
    grid: dict[tuple[int, int], int] = Counter()
    positions: dict[int, tuple[int, int]] = {}
    for hour in hours:
        local = datetime.fromtimestamp(hour * 3600, UTC).astimezone(tz)
        position = ((local.date() - today.date()).days, local.hour)
        positions[hour] = position
        grid[position] += totals.get(hour, 0)
    peak = max(grid.values(), default=0)
    day_count = max(day for day, _ in positions.values()) + 1
    days = [today + timedelta(days=d) for d in range(day_count)]
    cells = [
        (days[day], [WeekCell(day, hour, n, _level(n, peak)) for hour, n in _hours_of(grid, day)])
        for day in range(day_count)
    ]
    busiest = sorted(
        ((datetime.fromtimestamp(h * 3600, UTC).astimezone(tz), n) for h, n in totals.items()),
        key=lambda item: (-item[1], item[0]),
    )[:5]
    in_cell: list[tuple[str, int, int]] = []
    if cell is not None:
        cell_hours = [h for h, position in positions.items() if position == cell]
        runs_of: dict[int, int] = {}
        for job_id in kept:
            counts = counted[job_id]
            runs = runs_of.get(id(counts))
            if runs is None:
                runs = runs_of[id(counts)] = sum(counts.per_hour.get(h, 0) for h in cell_hours)
            if runs:
                in_cell.append((rows[job_id].name, job_id, runs))
        in_cell.sort(key=lambda item: (-item[2], item[0]))
    result = WeekAhead(
        start=local_start,
        days=days,
        grid=cells,
        total=sum(totals.values()),
        busiest=busiest,
        jobs=len(kept),
        capped=sorted(rows[j].name for j in kept if counted[j].capped),
    )
    return result, in_cell[:MAX_JOBS_PER_CELL]


def _hours_of(grid: dict[tuple[int, int], int], day: int) -> list[tuple[int, int]]:
    return [(hour, grid.get((day, hour), 0)) for hour in range(24)]


def _level(runs: int, peak: int) -> int:
    if not runs or not peak:
        return 0
    return min(4, 1 + (4 * runs - 1) // peak)
