"""A pause "until 09:00" includes the 09:00 run: the real scheduler, the page and the API agree."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import selectors, services
from jobs.models import Run
from tests.conftest import runs_of, wait_for

pytestmark = pytest.mark.timeout(90)


def test_the_slot_at_the_end_of_a_pause_runs(start_scheduler):
    job = services.job_create(
        actor=None,
        name="every two seconds",
        kind="task",
        config={"task": "demo.echo", "params": {"message": "hi"}},
        schedule="*/2 * * * * *",
    )
    now = timezone.now().replace(microsecond=0)
    # An even second far enough ahead that the scheduler is up and skips a slot before it.
    until = now + timedelta(seconds=8 + now.second % 2)
    services.job_pause(actor=None, job=job, until=until, note="deploy")
    job.refresh_from_db()
    assert selectors.job_next_runs(job, 1) == [until]  # what the job page says

    start_scheduler()
    wait_for(lambda: runs_of(job, scheduled_for=until, state=Run.State.SUCCEEDED), timeout=30)
    before = runs_of(job, scheduled_for__lt=until, trigger=Run.Trigger.SCHEDULE)
    assert before and {r.state for r in before} == {Run.State.SKIPPED}
    assert all(r.cause == Run.Cause.PAUSED for r in before)
    [at_end] = runs_of(job, scheduled_for=until)
    assert at_end.trigger == Run.Trigger.SCHEDULE
    job.refresh_from_db()
    assert job.state == "active"
