"""Wall-clock jumps: the misfire policy after a forward jump; a real scheduler under faketime."""

import glob
import os
import shutil
import subprocess
import time
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from jobs import services
from jobs.models import ChangeMarker, Job, Run, SchedulerNode
from jobs.scheduler import catchup
from jobs.scheduler import node as nodes
from jobs.scheduler.engine import Engine, Slot
from jobs.scheduler.specs import JobSpec, load_specs
from tests.conftest import SchedulerProcess, wait_for

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
    assert all(s.reason.english.startswith("Catch-up run: fired ") for s in queued)
    missed = [s for s in decided if s.state == Run.State.MISSED]
    assert len(missed) == len(slots) - expected_runs
    assert all("the system clock jumped forward" in s.reason.english for s in missed)


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


# --- a real scheduler whose wall clock jumps (libfaketime) ---

# Debian's libfaketime 0.9.10 breaks Python 3.11's time.sleep() when the monotonic clock is left
# alone: it shifts clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) deadlines by the fake
# offset and the kernel rejects them (EINVAL; fixed upstream in 0.9.11). This preloaded shim
# passes monotonic sleeps straight to the kernel, as the fixed versions do.
MONOTONIC_SLEEP_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_nanosleep(clockid_t clock_id, int flags, const struct timespec *req,
                    struct timespec *rem)
{
    static int (*next)(clockid_t, int, const struct timespec *, struct timespec *);
    if (clock_id != CLOCK_MONOTONIC) {
        if (next == NULL)
            next = dlsym(RTLD_NEXT, "clock_nanosleep");
        return next(clock_id, flags, req, rem);
    }
    return syscall(SYS_clock_nanosleep, clock_id, flags, req, rem) == 0 ? 0 : errno;
}
"""


class FakeClock:
    """The scheduler's wall clock, `offset` seconds from the real one, read from a file."""

    def __init__(self, directory: Path, preload: str) -> None:
        self.path = directory / "faketime"
        self.offset = 0
        self.set(0)
        self.env = {
            "LD_PRELOAD": preload,
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            # Read the file at every clock call, so a jump takes effect at once.
            "FAKETIME_NO_CACHE": "1",
            # Timeouts, sleeps and APScheduler's waits keep running in real time.
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }

    def set(self, offset: int) -> None:
        self.offset = offset
        staging = self.path.with_suffix(".new")
        staging.write_text(f"{offset:+d}\n")
        # Atomic: the scheduler reads this file all the time and must never see it half-written.
        os.replace(staging, self.path)

    def now(self) -> datetime:
        return timezone.now() + timedelta(seconds=self.offset)


@pytest.fixture(scope="session")
def preload(tmp_path_factory) -> str:
    libraries = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    if not libraries:
        pytest.skip("libfaketime is not installed (apt-get install faketime)")
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("a C compiler is needed to build the monotonic sleep shim")
    directory = tmp_path_factory.mktemp("faketime")
    (directory / "shim.c").write_text(MONOTONIC_SLEEP_SHIM)
    shim = directory / "shim.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-o", str(shim), str(directory / "shim.c"), "-ldl"],
        check=True,
    )
    return f"{shim}:{libraries[-1]}"


@pytest.fixture
def fake_clock(preload, tmp_path) -> FakeClock:
    return FakeClock(tmp_path, preload)


def start_jumpy(start_scheduler, fake_clock: FakeClock) -> SchedulerProcess:
    return start_scheduler(
        CRONADMIN_MISFIRE_GRACE_SECONDS="5",
        CRONADMIN_TASK_WORKERS="1",
        **fake_clock.env,
    )


def pacer() -> Job:
    # A job every second: a jump passes thousands of its slots at once, and it shows the pace.
    return services.job_create(
        actor=None,
        name="pacer",
        kind="task",
        config={"task": "demo.noop", "params": {}},
        schedule="@every 1s",
        misfire="skip",
    )


def slots_of(job: Job) -> list[datetime]:
    return list(
        Run.objects.filter(job=job)
        .order_by("scheduled_for")
        .values_list("scheduled_for", flat=True)
    )


def assert_one_row_per_slot(job: Job, interval: timedelta) -> None:
    slots = slots_of(job)
    assert len(slots) == len(set(slots))
    gaps = {b - a for a, b in pairwise(slots)}
    assert gaps <= {interval}, sorted(gaps)[:5]


def assert_no_errors(scheduler: SchedulerProcess) -> None:
    assert scheduler.proc is not None and scheduler.proc.poll() is None, scheduler.log()[-3000:]
    log = scheduler.log()
    for word in (" ERROR ", " CRITICAL ", "Traceback", "libfaketime"):
        assert word not in log, log[-3000:]


def applied(scheduler: SchedulerProcess) -> bool:
    assert scheduler.proc is not None
    marker = ChangeMarker.objects.get(id=1).version
    return SchedulerNode.objects.filter(pid=scheduler.proc.pid, applied_change=marker).exists()


def test_a_forward_jump_of_two_hours_follows_the_misfire_policy(start_scheduler, fake_clock):
    beat = pacer()
    scheduler = start_jumpy(start_scheduler, fake_clock)
    wait_for(lambda: Run.objects.filter(job=beat, state=Run.State.SUCCEEDED).count() >= 2, 20)
    # Minute jobs whose slots sit half a minute away from the moment of the jump, so that
    # every slot the jump passes is well past the 5 s grace.
    anchor = timezone.now() + timedelta(seconds=30)
    policies = {"skip": 0, "once": 1, "all": 3}
    jobs = {
        policy: make_job(f"every minute, {policy}", policy, schedule_anchor=anchor)
        for policy in policies
    }
    wait_for(lambda: applied(scheduler), timeout=10)

    fake_clock.set(2 * 3600)
    jumped_to = fake_clock.now()
    passed = [anchor + timedelta(minutes=m) for m in range(120)]
    assert passed[-1] < jumped_to - timedelta(seconds=20) and jumped_to < passed[-1] + timedelta(
        minutes=1
    )
    owed = Run.objects.filter(job__in=jobs.values(), scheduled_for__lte=passed[-1])
    wait_for(
        lambda: owed.count() == 360 and not owed.filter(state__in=Run.ACTIVE_STATES).exists(),
        timeout=30,
    )

    for policy, expected_runs in policies.items():
        job = jobs[policy]
        runs = Run.objects.filter(job=job, scheduled_for__lte=passed[-1])
        assert list(runs.order_by("scheduled_for").values_list("scheduled_for", flat=True)) == (
            passed
        )
        ran = runs.filter(state=Run.State.SUCCEEDED).order_by("scheduled_for")
        assert list(ran.values_list("scheduled_for", flat=True)) == passed[120 - expected_runs :]
        assert all(r.reason.startswith("Catch-up run: fired ") for r in ran)
        missed = runs.filter(state=Run.State.MISSED)
        assert missed.count() == 120 - expected_runs
        assert all(
            "the system clock jumped forward" in r for r in missed.values_list("reason", flat=True)
        )
    # The pacer's 7200 passed slots are recorded missed (its policy is skip), none of them ran.
    jumped = Run.objects.filter(job=beat, scheduled_for__lt=jumped_to - timedelta(seconds=6))
    assert not jumped.filter(scheduled_for__gt=anchor, started_at__isnull=False).exists()
    assert jumped.filter(state=Run.State.MISSED).count() >= 7190
    # And it goes on every second in the new time.
    wait_for(
        lambda: (
            Run.objects.filter(
                job=beat, state=Run.State.SUCCEEDED, scheduled_for__gt=jumped_to
            ).count()
            >= 2
        ),
        timeout=10,
    )
    assert_one_row_per_slot(beat, timedelta(seconds=1))
    assert_no_errors(scheduler)


def test_a_backward_jump_runs_no_slot_twice_and_the_scheduler_goes_on(start_scheduler, fake_clock):
    beat = pacer()
    scheduler = start_jumpy(start_scheduler, fake_clock)
    assert scheduler.proc is not None
    done = Run.objects.filter(job=beat, state=Run.State.SUCCEEDED)
    wait_for(lambda: done.count() >= 2, 20)

    fake_clock.set(-3600)
    # The node's heartbeat is written with the scheduler's clock: once it is an hour behind,
    # the scheduler lives in the earlier hour.
    node = SchedulerNode.objects.filter(pid=scheduler.proc.pid)
    wait_for(lambda: node.get().heartbeat_at < timezone.now() - timedelta(minutes=59), 10)
    before = slots_of(beat)
    time.sleep(3)
    # Its next slot is an hour ahead now: nothing fires, nothing fires twice.
    assert slots_of(beat) == before
    assert node.get().heartbeat_at > fake_clock.now() - timedelta(seconds=2)

    # The clock is put right again: the scheduler carries on from the slot it stopped at.
    fake_clock.set(0)
    restored = timezone.now()
    wait_for(lambda: done.filter(scheduled_for__gt=restored).count() >= 2, timeout=10)
    assert_one_row_per_slot(beat, timedelta(seconds=1))
    assert_no_errors(scheduler)
