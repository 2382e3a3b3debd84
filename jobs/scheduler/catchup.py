"""What happens to the slots that fell due while no scheduler was running, or that fired late.

Every such slot gets a ledger row: the job's misfire policy picks which of them still run
(none, the latest, or the latest few), and the rest are recorded as missed. The same policy
applies to slots APScheduler hands over past the grace while the scheduler runs: a wall clock
that jumps forward makes every slot of the jump fire at once, like a scheduler back from downtime.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max

from jobs.calendars import calendar_reason
from jobs.models import Job, Run
from jobs.run_reasons import reason
from jobs.scheduler.engine import Slot
from jobs.scheduler.specs import JobSpec

logger = logging.getLogger("jobs.scheduler")


def last_recorded_slots() -> dict[int, datetime]:
    rows = (
        Run.objects.filter(trigger=Run.Trigger.SCHEDULE)
        .values("job_id")
        .annotate(last=Max("scheduled_for"))
        .values_list("job_id", "last")
    )
    return dict(rows)


def overdue_slots(
    specs: dict[int, JobSpec], last: dict[int, datetime], until: datetime
) -> list[Slot]:
    """Slots in (last recorded slot, until] that have no row yet, with their fate decided."""
    grace = timedelta(seconds=settings.CRONADMIN_MISFIRE_GRACE_SECONDS)
    limit = settings.CRONADMIN_MISFIRE_MAX_SLOTS
    result: list[Slot] = []
    for spec in specs.values():
        schedule = spec.schedule()
        if schedule is None or schedule.kind == "manual":
            continue
        begin = max(t for t in (last.get(spec.id), spec.schedule_anchor, spec.start_at) if t)
        end = min(until, spec.end_at) if spec.end_at else until
        if end <= begin:
            continue
        slots = schedule.slots_between(begin, end, limit)
        if len(slots) == limit:
            logger.warning(
                "job %s: more than %d slots passed while no scheduler ran; the first %d are "
                "recorded",
                spec.id,
                limit,
                limit,
            )
        result.extend(_decide(spec, slots, until, grace))
    return result


def _decide(spec: JobSpec, slots: list[datetime], now: datetime, grace: timedelta) -> list[Slot]:
    # The latest slot, if still within the grace, is simply late: it runs through the normal path.
    # Every earlier one is owed to the misfire policy, even when within the grace too: after a
    # failover of a few seconds an `@every 2s` job has five such slots, and firing them all at once
    # would only see the overlap policy skip four of them.
    fresh = slots[-1:] if slots and now - slots[-1] <= grace else []
    old = slots[: len(slots) - len(fresh)]
    # Slots a calendar skips would not have run anyway: recorded as such, never owed.
    verdicts = {s: v for s in old if (v := spec.calendar_verdict(s)) and v.skipped}
    paused = [s for s in old if spec.is_paused_at(s)]
    owed = [s for s in old if not spec.is_paused_at(s) and s not in verdicts]
    # Run once: the late slot above is that once, if there is one.
    once_done = bool(fresh) and spec.misfire == Job.Misfire.ONCE
    run_set = set() if once_done else _to_run(spec, owed)
    policy = spec.misfire
    out = [Slot(spec.id, s) for s in fresh]
    out += [
        Slot(
            spec.id,
            s,
            Run.State.SKIPPED,
            reason("paused_down"),
            Run.Cause.PAUSED,
        )
        for s in paused
    ]
    out += [
        Slot(spec.id, s, Run.State.SKIPPED, calendar_reason(v), Run.Cause.CALENDAR)
        for s, v in verdicts.items()
        if not spec.is_paused_at(s)
    ]
    for s in owed:
        if s in run_set:
            out.append(
                Slot(
                    spec.id,
                    s,
                    Run.State.QUEUED,
                    reason("catch_up_down", policy=policy),
                    Run.Cause.CATCH_UP,
                )
            )
        else:
            out.append(
                Slot(
                    spec.id,
                    s,
                    Run.State.MISSED,
                    reason("missed_down", policy=policy),
                    Run.Cause.SCHEDULER_DOWN,
                )
            )
    return out


def late_fires(spec: JobSpec, slots: list[datetime], now: datetime, grace: timedelta) -> list[Slot]:
    """Slots that fired past the grace while the scheduler ran, with their fate decided.

    The caller has already set aside paused jobs and offline executors; what is left is owed.
    """
    run_set = _to_run(spec, slots)
    out = []
    for s in slots:
        late = {
            "late": f"{(now - s).total_seconds():.0f}",
            "grace": f"{grace.total_seconds():.0f}",
            "policy": spec.misfire,
        }
        if s in run_set:
            out.append(
                Slot(
                    spec.id,
                    s,
                    Run.State.QUEUED,
                    reason("catch_up_late", **late),
                    Run.Cause.CATCH_UP,
                )
            )
        else:
            out.append(
                Slot(spec.id, s, Run.State.MISSED, reason("missed_late", **late), Run.Cause.LATE)
            )
    return out


def _to_run(spec: JobSpec, owed: list[datetime]) -> set[datetime]:
    """Which of the owed slots (oldest first) still run under the job's misfire policy."""
    if spec.misfire == Job.Misfire.ONCE:
        return set(owed[-1:])
    if spec.misfire == Job.Misfire.ALL:
        return set(owed[-spec.misfire_limit :]) if spec.misfire_limit else set()
    return set()
