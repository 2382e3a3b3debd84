"""Run requests picked up by the engine: a run asked for after an edit runs the edited job."""

import pytest
from django.db import transaction

from jobs import services
from jobs.models import Job, Run
from jobs.scheduler import node as nodes
from jobs.scheduler.engine import Engine
from jobs.scheduler.specs import load_specs


@pytest.fixture(name="engine")
def engine_fixture(db):
    node = nodes.register_node()
    engine = Engine(node_id=node.pk, term=1, host=node.host, pid=node.pid)
    yield engine
    engine.pools.shutdown()


def make_job() -> Job:
    return services.job_create(
        actor=None,
        name="edited",
        kind="task",
        config={"task": "demo.echo", "params": {"message": "old"}},
        schedule="@manual",
    )


def pick_up(engine: Engine) -> list[int]:
    with transaction.atomic():
        return [p.run_id for p in engine._pick_up_requests(exclude=set())]


def test_a_request_newer_than_the_known_definition_waits_for_it(engine):
    job = make_job()
    engine.set_specs(load_specs())
    services.job_update(
        actor=None, job=job, config={"task": "demo.echo", "params": {"message": "new"}}
    )
    run = services.job_run_now(actor=None, job=job)
    assert run.job_version == 2

    # The engine still knows version 1: it leaves the request alone rather than run the old job.
    assert pick_up(engine) == []
    assert Run.objects.get(pk=run.pk).node_id is None

    engine.set_specs(load_specs())
    assert pick_up(engine) == [run.pk]
    assert engine.specs[job.pk].params()["params"] == {"message": "new"}


def test_a_job_edited_after_the_request_runs_and_records_the_newest_version(engine):
    job = make_job()
    run = services.job_run_now(actor=None, job=job)
    services.job_update(
        actor=None, job=job, config={"task": "demo.echo", "params": {"message": "new"}}
    )
    engine.set_specs(load_specs())

    assert pick_up(engine) == [run.pk]
    assert Run.objects.get(pk=run.pk).job_version == 2
