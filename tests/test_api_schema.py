"""Schemathesis against our own OpenAPI schema: generated requests, valid and invalid, for every
operation; no answer may be a 5xx or differ from what the schema promises.

Runs in-process through the WSGI app (no server, no network). Half the generated ids are swapped
for ids that exist, so the success paths are exercised as much as the 404s.
"""

# ruff: noqa: F811 - fixtures imported from tests.test_api_support are parameters

import contextlib
import itertools
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connection
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from jobs import services
from jobs.models import AllowedHost, Calendar, Executor, Job, Run, SchedulerLease, SchedulerNode
from jobs.services.calendars import calendar_create
from tests.conftest import free_port
from tests.test_api_support import (  # noqa: F401 - fixtures
    Api,
    fresh_caches,
    make_http_job,
    make_job,
    make_run,
    user_with_role,
)
from tests.write_locks import watch_write_lock

MIN_REQUESTS = 1000
EXAMPLES_PER_OPERATION = 75
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# CI runs it with more than one seed (Makefile: the SQLite and the PostgreSQL pass differ).
SEED = int(os.environ.get("CRONADMIN_FUZZ_SEED", "20261127"))
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {
            "mode": "all",
            "max-examples": EXAMPLES_PER_OPERATION,
            "deterministic": True,
            # Credentials are ours to send (below), not generated ones.
            "with-security-parameters": False,
        },
        # An invalid request may also be refused for its size alone.
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 409, 413, 415, 422]
            }
        },
    }
)
sent = {"requests": 0}
turn = itertools.count()


@pytest.fixture(scope="module", autouse=True)
def enough_requests() -> Iterator[None]:
    yield
    assert sent["requests"] >= MIN_REQUESTS, f"only {sent['requests']} requests were generated"


@pytest.fixture
def in_test_transaction(db) -> Iterator[None]:
    # Django closes the database connection after each request, which would end the test's
    # transaction; its test Client unhooks that for its requests, and so do we.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    # Thousands of expected 4xx would each log a warning; a 5xx still logs an error.
    request_log = logging.getLogger("django.request")
    level = request_log.level
    request_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        request_log.setLevel(level)
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


class World:
    """Objects for the generated requests to find, recreated when a request deleted them."""

    def __init__(self) -> None:
        self.token = Api(user_with_role("Admin", "fuzzer")).token
        self.closed_port = free_port()
        node = SchedulerNode.objects.create(host="fuzz", pid=1)
        SchedulerLease.objects.update_or_create(name="scheduler", defaults={"holder": node})

    def keep_scheduler_alive(self) -> None:
        # Without a fresh leader /api/v1/schedulers rightly answers 503, which the server-error
        # check would count against it.
        SchedulerNode.objects.filter(host="fuzz").update(heartbeat_at=timezone.now())

    def job_id(self) -> int:
        job = Job.objects.filter(name__in=["fuzz task", "fuzz http"]).order_by("?").first()
        return (job or make_job("fuzz task", labels={"team": "fuzz"})).pk

    def run_id(self) -> int:
        run = Run.objects.filter(state=Run.State.QUEUED).first()
        if run is None:
            job = Job.objects.filter(name="fuzz http").first() or self.http_job()
            run = make_run(job, state=Run.State.QUEUED, started_at=None, finished_at=None)
        return run.pk

    def http_job(self) -> Job:
        # Its test requests go to a closed port on 127.0.0.1 (allowed below): no DNS, no wait.
        job = make_http_job("fuzz http")
        config = {**job.config, "url": f"http://127.0.0.1:{self.closed_port}/hook"}
        Job.objects.filter(pk=job.pk).update(config=config)
        return job

    def entry_id(self) -> int:
        entry = AllowedHost.objects.first()
        if entry is None:
            entry = services.allowed_host_create(actor=None, host="10.9.0.0/16", note="fuzz")
        return entry.pk

    def calendar_id(self) -> int:
        calendar = Calendar.objects.filter(name="fuzz").first()
        return (calendar or calendar_create(actor=None, name="fuzz", holiday_country="CN")).pk

    def executor_name(self) -> str:
        if not Executor.objects.filter(name="fuzz").exists():
            offer = {"name": "hook", "schedule": "@hourly", "path": "/hook"}
            services.executor_register(
                actor=None, name="fuzz", base_url="https://fuzz.example.com", jobs=[offer]
            )
        return "fuzz"


@pytest.fixture
def world(in_test_transaction, settings) -> World:
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    world = World()
    make_run(make_job("fuzz task"), output="hello\n")
    return world


# Loaded when the module is imported: the schema needs no database. (The lazy loader,
# schemathesis.pytest.from_fixture, does not work with pytest 9.)
schema = schemathesis.openapi.from_wsgi(
    "/api/v1/openapi.json", get_wsgi_application(), config=CONFIG
)


@pytest.mark.timeout(120)
@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_schema(case: Any, world: World) -> None:
    # A path made invalid on purpose stays invalid: swapped for a real id, the request would be
    # valid and its answer counted as accepting invalid data.
    invalid_path = case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH)
    if case.path_parameters and not invalid_path and next(turn) % 2 == 0:
        real = {
            "job_id": world.job_id,
            "run_id": world.run_id,
            "name": world.executor_name,
            "entry_id": world.entry_id,
            "calendar_id": world.calendar_id,
        }
        for name in case.path_parameters:
            case.path_parameters[name] = real[name]()
    sent["requests"] += 1
    world.keep_scheduler_alive()
    # Each write request's transaction, timed (SQLite): the longest is printed at the end.
    timed = (
        watch_write_lock(f"API fuzz run, seed {SEED}")
        if connection.vendor == "sqlite"
        else contextlib.nullcontext()
    )
    with timed:
        case.call_and_validate(headers={"Authorization": f"Bearer {world.token}"}, checks=CHECKS)
