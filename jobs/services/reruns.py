"""Acting on the ledger: run one slot again now, or every failed slot of a period.

A re-run is a new manual (or API) row that stands for the slot's own run: `stands_for` points at
it and `scheduled_for` is the slot, so the slot's page, the history and the "why didn't it run?"
view all find it. It is not an attempt of that run: attempts belong to the job's retry policy
(counted against `max_retries`, with backoff), while a re-run is a person's decision, made
whatever the policy said, and it waits for its turn like a catch-up run instead of being skipped
by the overlap policy.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from jobs import audit
from jobs.models import AuditEvent, Job, Run
from jobs.permissions import require
from jobs.run_reasons import reason
from jobs.services.jobs import Actor, _audit_job, _user, bump_change_marker

# A slot whose run ended in one of these may be run again by hand.
RERUNNABLE_STATES = (
    Run.State.FAILED,
    Run.State.TIMED_OUT,
    Run.State.INTERRUPTED,
    Run.State.CANCELLED,
    Run.State.MISSED,
    Run.State.SKIPPED,
)
# What "the failed runs of a period" means: the run did its work and it went wrong.
FAILED_STATES = (Run.State.FAILED, Run.State.TIMED_OUT, Run.State.INTERRUPTED)
MAX_RERUN_PERIOD = timedelta(days=31)
MAX_RERUNS = 1000


def slot_run_id(run: Run) -> int:
    """The id of the slot's own run: re-runs and retries point at it, the slot's row is it."""
    return run.stands_for_id or run.retry_of_id or run.pk


def _name(actor: Actor) -> str:
    # No name: "the system", in the reader's language (jobs.run_reasons).
    return getattr(_user(actor), "username", None) or ""


def _rerun_trigger(trigger: str) -> None:
    if trigger not in (Run.Trigger.MANUAL, Run.Trigger.API):
        raise ValueError(f"a re-run cannot be a {trigger} run")


@transaction.atomic
def run_slot_rerun(*, actor: Actor, run: Run, trigger: str = Run.Trigger.MANUAL) -> Run:
    """Queue a run that does the work of `run`'s slot again, now."""
    _rerun_trigger(trigger)
    require(actor, "operate")
    # The job row is locked first: a delete of the job waits for us, or we see it gone.
    job = Job.objects.select_for_update().filter(pk=run.job_id).first()
    fresh = Run.objects.filter(pk=run.pk).first() if job is not None else None
    if fresh is None:
        raise ValidationError(
            _("The job of this run has been deleted; there is nothing to run."), code="conflict"
        )
    run = fresh
    if run.state in Run.ACTIVE_STATES:
        raise ValidationError(
            _("This run is still %(state)s: wait for it to end, or cancel it first.")
            % {"state": run.get_state_display().lower()},
            code="conflict",
        )
    if run.state not in RERUNNABLE_STATES:
        raise ValidationError(
            _(
                "Only a run that failed, timed out, was interrupted, cancelled, missed or "
                "skipped can be run again; this run %(state)s."
            )
            % {"state": run.get_state_display().lower()},
            code="conflict",
        )
    slot_id = slot_run_id(run)
    going = (
        Run.objects.filter(Q(pk=slot_id) | Q(stands_for_id=slot_id) | Q(retry_of_id=slot_id))
        .filter(state__in=Run.ACTIVE_STATES)
        .order_by("id")
        .first()
    )
    if going is not None:
        raise ValidationError(
            _("This run is already being run again: run #%(run)s is %(state)s.")
            % {"run": going.pk, "state": going.get_state_display().lower()},
            code="conflict",
        )
    now = timezone.now()
    rerun = Run.objects.create(
        job=job,
        job_version=job.version,
        trigger=trigger,
        state=Run.State.QUEUED,
        **reason("rerun", run=run.pk, who=_name(actor)).fields(),
        scheduled_for=run.scheduled_for,
        created_at=now,
        requested_by=_user(actor),
        stands_for_id=slot_id,
    )
    bump_change_marker()
    _audit_job(
        actor,
        AuditEvent.Action.RUN_NOW,
        job,
        {"run": [None, rerun.pk], "stands_for": [None, slot_id]},
    )
    return rerun


@dataclass
class RerunPlan:
    """The failed slots of a period: how many per job, and the runs made for them."""

    start: datetime
    end: datetime
    by_job: list[tuple[int, str, int]] = field(default_factory=list)  # id, name, slots
    already_rerun: int = 0
    runs: list[int] = field(default_factory=list)  # empty for a dry run

    @property
    def count(self) -> int:
        return sum(n for _, _, n in self.by_job)


def _check_period(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ValidationError(
            {"end": _("The end must be after the start.")}, code="end_before_start"
        )
    if end - start > MAX_RERUN_PERIOD:
        raise ValidationError(
            {"start": _("Choose a period of at most %(n)d days.") % {"n": MAX_RERUN_PERIOD.days}},
            code="period_too_long",
        )


def failed_slots(
    start: datetime, end: datetime, job_ids: list[int] | None = None
) -> tuple[list[Run], int]:
    """The slot runs in [start, end) whose newest attempt failed and that were not re-run yet,
    and how many more failed but were already re-run."""
    newest = (
        Run.objects.filter(Q(pk=OuterRef("pk")) | Q(retry_of_id=OuterRef("pk")))
        .order_by("-attempt", "-id")
        .values("state")[:1]
    )
    # A slot's own row is failed whenever any attempt failed (a retry only follows a failure),
    # so the state index narrows the search before the per-slot look-ups.
    slots = Run.objects.filter(
        trigger=Run.Trigger.SCHEDULE,
        state__in=FAILED_STATES,
        scheduled_for__gte=start,
        scheduled_for__lt=end,
    )
    if job_ids is not None:
        slots = slots.filter(job_id__in=job_ids)
    slots = slots.annotate(
        newest_state=Subquery(newest),
        rerun=Exists(Run.objects.filter(stands_for_id=OuterRef("pk"))),
    ).filter(newest_state__in=FAILED_STATES)
    already = slots.filter(rerun=True).count()
    todo = list(
        slots.filter(rerun=False)
        .select_related("job")
        .only("id", "job_id", "scheduled_for", "job__name", "job__version")
        .order_by("job__name", "scheduled_for")[: MAX_RERUNS + 1]
    )
    return todo, already


@transaction.atomic
def runs_rerun_failed(
    *,
    actor: Actor,
    start: datetime,
    end: datetime,
    job_ids: list[int] | None = None,
    dry_run: bool = False,
    trigger: str = Run.Trigger.MANUAL,
) -> RerunPlan:
    """Run again every slot of [start, end) whose newest attempt failed, once per slot.

    `job_ids` None means every job. Slots already re-run are left out (each can still be re-run
    from its own page). A dry run only counts.
    """
    _rerun_trigger(trigger)
    require(actor, "operate")
    _check_period(start, end)
    if job_ids is not None:
        found = set(Job.objects.filter(pk__in=job_ids).values_list("pk", flat=True))
        unknown = sorted(set(job_ids) - found)
        if not job_ids or unknown:
            message = (
                _("No job with id %(ids)s.") % {"ids": ", ".join(map(str, unknown))}
                if unknown
                else _("Choose at least one job.")
            )
            raise ValidationError({"jobs": message}, code="invalid")
    todo, already = failed_slots(start, end, job_ids)
    if todo and not dry_run:
        # Two people confirming at once must not both re-run a slot: lock the jobs concerned (as
        # run_slot_rerun does) and count again; on PostgreSQL the second one then sees the runs
        # the first made. SQLite's immediate transactions serialize this anyway.
        locked = Job.objects.select_for_update().filter(pk__in={run.job_id for run in todo})
        list(locked.order_by("pk").values_list("pk", flat=True))
        todo, already = failed_slots(start, end, job_ids)
    if len(todo) > MAX_RERUNS:
        raise ValidationError(
            _(
                "More than %(max)d failed runs in this period: choose a shorter period or fewer "
                "jobs."
            )
            % {"max": MAX_RERUNS},
            code="too_many",
        )
    counts = Counter(run.job_id for run in todo)
    names = {run.job_id: run.job.name for run in todo}
    plan = RerunPlan(start, end, already_rerun=already)
    plan.by_job = [(job_id, names[job_id], counts[job_id]) for job_id in counts]
    if dry_run or not todo:
        return plan
    now = timezone.now()
    why = reason(
        "rerun_failed",
        who=_name(actor),
        start=f"{start.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        end=f"{end.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
    ).fields()
    made = Run.objects.bulk_create(
        Run(
            job_id=run.job_id,
            job_version=run.job.version,
            trigger=trigger,
            state=Run.State.QUEUED,
            **why,
            scheduled_for=run.scheduled_for,
            created_at=now,
            requested_by=_user(actor),
            stands_for_id=run.pk,
        )
        for run in todo
    )
    plan.runs = [run.pk for run in made]
    bump_change_marker()
    period = [start.isoformat(), end.isoformat()]
    for job_id, name, n in plan.by_job:
        audit.record(
            actor=actor,
            action=AuditEvent.Action.RERUN_FAILED,
            object_type="job",
            object_id=job_id,
            object_repr=name,
            changes={"failed_runs_rerun": [None, n], "period": [None, period]},
        )
    return plan
