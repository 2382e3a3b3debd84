"""What happens to the slots that fell due while no scheduler was running.

Every such slot gets a ledger row: the job's misfire policy picks which of them still run
(none, the latest, or the latest few), and the rest are recorded as missed.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max

from jobs.models import Job, Run
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
    # Slots still within the grace are simply late: they go through the normal path.
    fresh = [s for s in slots if now - s <= grace]
    old = [s for s in slots if now - s > grace]
    paused = [s for s in old if spec.is_paused_at(s)]
    owed = [s for s in old if not spec.is_paused_at(s)]
    if spec.misfire == Job.Misfire.ONCE:
        run = owed[-1:]
    elif spec.misfire == Job.Misfire.ALL:
        run = owed[-spec.misfire_limit :] if spec.misfire_limit else []
    else:
        run = []
    run_set = set(run)
    policy = Job.Misfire(spec.misfire).label
    out = [Slot(spec.id, s) for s in fresh]
    out += [
        Slot(
            spec.id,
            s,
            Run.State.SKIPPED,
            "Job paused; no scheduler was running either.",
            Run.Cause.PAUSED,
        )
        for s in paused
    ]
    for s in owed:
        if s in run_set:
            out.append(
                Slot(
                    spec.id,
                    s,
                    Run.State.QUEUED,
                    f"Catch-up run: no scheduler was running at this time (policy: {policy}).",
                    Run.Cause.CATCH_UP,
                )
            )
        else:
            out.append(
                Slot(
                    spec.id,
                    s,
                    Run.State.MISSED,
                    f"No scheduler was running at this time; not run (policy: {policy}).",
                    Run.Cause.SCHEDULER_DOWN,
                )
            )
    return out
