"""Wall-clock jumps: the misfire policy after a forward jump; a real scheduler under faketime."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from jobs import services
from jobs.models import Job, Run
from jobs.scheduler import catchup
from jobs.scheduler import node as nodes
from jobs.scheduler.engine import Engine, Slot
from jobs.scheduler.specs import JobSpec, load_specs

GRACE = timedelta(seconds=10)


def make_job(name: str, misfire: str, misfire_limit: int = 3, **fields) -> Job:
    return services.job_create(
        actor=None,
        name=name,
        kind="task",
        config={"task": "demo.noop", "params": {}},
        schedule="@every 1m",
        misfire=misfire,
        misfire_limit=misfire_limit,
        **fields,
    )


def spec_of(misfire: str, misfire_limit: int = 3) -> JobSpec:
    return JobSpec.from_job(
        Job(
            pk=7,
            name="jumped",
            kind="task",
            schedule="@every 1m",
            misfire=misfire,
            misfire_limit=misfire_limit,
            schedule_anchor=timezone.now(),
        )
    )


def jumped_slots(count: int = 120) -> tuple[list, object]:
    now = timezone.now().replace(microsecond=0)
    # The slots a two-hour jump makes fire at once, the newest 25 s old: past the grace.
    return [now - timedelta(seconds=25) - timedelta(minutes=m) for m in range(count)][::-1], now


@pytest.mark.parametrize(
    ("misfire", "limit", "expected_runs"),
    [("skip", 3, 0), ("once", 3, 1), ("all", 3, 3), ("all", 0, 0)],
)
def test_late_fires_follow_the_misfire_policy(misfire, limit, expected_runs):
    slots, now = jumped_slots()
    decided = catchup.late_fires(spec_of(misfire, limit), slots, now, timedelta(seconds=5))

    assert [s.scheduled_for for s in decided] == slots
    queued = [s for s in decided if s.state == Run.State.QUEUED]
    # The newest slots are the ones that still run, as after downtime.
    assert [s.scheduled_for for s in queued] == slots[len(slots) - expected_runs :]
    assert all(s.reason.startswith("Catch-up run: fired ") for s in queued)
    missed = [s for s in decided if s.state == Run.State.MISSED]
    assert len(missed) == len(slots) - expected_runs
    assert all("the system clock jumped forward" in s.reason for s in missed)


@pytest.fixture
def engine(db):
    node = nodes.register_node()
    engine = Engine(node_id=node.pk, term=1, host=node.host, pid=node.pid)
    yield engine
    engine.pools.shutdown()


def claim(engine: Engine, slots: list[Slot]) -> list:
    engine.set_specs(load_specs())
    with transaction.atomic():
        return engine._claim(slots)


@pytest.mark.parametrize(("misfire", "expected_runs"), [("skip", 0), ("once", 1), ("all", 3)])
def test_the_engine_applies_the_misfire_policy_to_fires_past_the_grace(
    engine, settings, misfire, expected_runs
):
    settings.CRONADMIN_MISFIRE_GRACE_SECONDS = GRACE.total_seconds()
    job = make_job("jumped", misfire)
    slots, now = jumped_slots()
    fresh = now - timedelta(seconds=1)

    claimed = claim(engine, [Slot(job.pk, t) for t in [*slots, fresh]])

    runs = Run.objects.filter(job=job)
    assert runs.count() == len(slots) + 1
    queued = runs.filter(state=Run.State.QUEUED).order_by("scheduled_for")
    # The fire inside the grace runs as usual, whatever the policy; of the late ones, the policy.
    expected = slots[len(slots) - expected_runs :] + [fresh]
    assert list(queued.values_list("scheduled_for", flat=True)) == expected
    assert {p.run_id for p in claimed} == set(queued.values_list("id", flat=True))
    assert [p.catch_up for p in sorted(claimed, key=lambda p: p.scheduled_for)] == [True] * (
        expected_runs
    ) + [False]
    missed = runs.filter(state=Run.State.MISSED)
    assert missed.count() == len(slots) - expected_runs
    assert all(r.finished_at is not None for r in missed)
    assert "past the 10 s grace" in missed.first().reason if expected_runs < len(slots) else True


def test_late_fires_of_a_paused_job_are_skipped_not_caught_up(engine, settings):
    settings.CRONADMIN_MISFIRE_GRACE_SECONDS = GRACE.total_seconds()
    job = make_job("paused", "all")
    services.job_pause(actor=None, job=job, note="upgrade")
    slots, _now = jumped_slots(5)

    claimed = claim(engine, [Slot(job.pk, t) for t in slots])

    assert claimed == []
    states = set(Run.objects.filter(job=job).values_list("state", "reason"))
    assert states == {(Run.State.SKIPPED, "Job paused: upgrade")}


def test_a_slot_recorded_before_is_not_claimed_again(engine, settings):
    settings.CRONADMIN_MISFIRE_GRACE_SECONDS = GRACE.total_seconds()
    job = make_job("twice", "all")
    slots, _now = jumped_slots(5)
    claim(engine, [Slot(job.pk, t) for t in slots])

    # The clock went back and the same slots fire again: the ledger keeps one row per slot.
    claimed = claim(engine, [Slot(job.pk, t) for t in slots])

    assert claimed == []
    assert Run.objects.filter(job=job).count() == 5
