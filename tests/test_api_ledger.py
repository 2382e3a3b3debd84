"""The API's actions on the ledger: run-slot, rerun-failed, and a job's slots."""

# ruff: noqa: F811 - fixtures imported from tests.test_api_support are parameters

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Run
from tests.test_api_support import (  # noqa: F401 - fixtures
    anonymous,
    as_operator,
    as_viewer,
    error_of,
    fresh_caches,
    make_job,
    make_run,
    operator,
    viewer,
)

pytestmark = pytest.mark.django_db


def failed_slot(job, hours_ago: float = 1, state: str = Run.State.FAILED) -> Run:
    at = timezone.now() - timedelta(hours=hours_ago)
    return make_run(
        job, state=state, trigger=Run.Trigger.SCHEDULE, scheduled_for=at, finished_at=at
    )


def iso(value) -> str:
    return value.isoformat()


class TestRunSlot:
    def test_it_works(self, as_operator):
        run = failed_slot(make_job())
        response = as_operator.post(f"/api/v1/runs/{run.pk}/run-slot")
        assert response.status_code == 202
        body = response.json()
        assert body["stands_for"] == run.pk and body["trigger"] == "api"
        assert body["state"] == "queued" and body["scheduled_for"] == iso(run.scheduled_for)
        assert Run.objects.get(pk=body["id"]).stands_for == run
        original = as_operator.get(f"/api/v1/runs/{run.pk}").json()
        assert original["stands_for"] is None and original["cause"] == ""

    def test_it_refuses_with_409(self, as_operator):
        run = failed_slot(make_job())
        as_operator.post(f"/api/v1/runs/{run.pk}/run-slot")
        response = as_operator.post(f"/api/v1/runs/{run.pk}/run-slot")
        assert response.status_code == 409
        assert "already being run again" in error_of(response)["message"]
        done = failed_slot(make_job("ok"), state=Run.State.SUCCEEDED)
        assert as_operator.post(f"/api/v1/runs/{done.pk}/run-slot").status_code == 409
        assert Run.objects.count() == 3

    def test_it_handles_bad_input(self, as_operator):
        run = failed_slot(make_job())
        response = as_operator.post(f"/api/v1/runs/{run.pk}/run-slot", {"now": True})
        assert response.status_code == 422 and error_of(response)["fields"] == {
            "now": "Unknown field."
        }
        assert as_operator.post("/api/v1/runs/4242/run-slot").status_code == 404
        assert Run.objects.count() == 1

    def test_it_requires_login_role_and_post(self, anonymous, as_viewer, as_operator):
        run = failed_slot(make_job())
        assert anonymous.post(f"/api/v1/runs/{run.pk}/run-slot").status_code == 401
        assert as_viewer.post(f"/api/v1/runs/{run.pk}/run-slot").status_code == 403
        assert as_operator.get(f"/api/v1/runs/{run.pk}/run-slot").status_code == 405
        assert Run.objects.count() == 1


class TestRerunFailed:
    def test_it_counts_then_reruns(self, as_operator):
        job, other = make_job(), make_job("other")
        runs = [failed_slot(job, 1), failed_slot(job, 2), failed_slot(other, 3)]
        failed_slot(job, 30)
        dry = as_operator.post("/api/v1/runs/rerun-failed", {"dry_run": True})
        assert dry.status_code == 200
        body = dry.json()
        assert (body["count"], body["already_rerun"], body["runs"]) == (3, 0, [])
        assert body["jobs"] == [
            {"job": job.pk, "job_name": "echo", "count": 2},
            {"job": other.pk, "job_name": "other", "count": 1},
        ]
        assert Run.objects.count() == 4
        done = as_operator.post("/api/v1/runs/rerun-failed")
        assert done.status_code == 202 and len(done.json()["runs"]) == 3
        made = Run.objects.filter(pk__in=done.json()["runs"])
        assert {r.stands_for_id for r in made} == {r.pk for r in runs}
        assert {r.trigger for r in made} == {"api"}
        again = as_operator.post("/api/v1/runs/rerun-failed").json()
        assert (again["count"], again["already_rerun"]) == (0, 3)

    def test_it_takes_a_period_and_jobs(self, as_operator):
        job, other = make_job(), make_job("other")
        failed_slot(job, 5)
        mine = failed_slot(other, 5)
        now = timezone.now()
        body = {
            "from": iso(now - timedelta(hours=6)),
            "to": iso(now - timedelta(hours=4)),
            "jobs": [other.pk],
        }
        response = as_operator.post("/api/v1/runs/rerun-failed", body)
        assert response.status_code == 202, response.content
        assert [Run.objects.get(pk=i).stands_for for i in response.json()["runs"]] == [mine]

    @pytest.mark.parametrize(
        "body, field",
        [
            ({"from": "yesterday"}, "from"),
            ({"to": "2030-01-01T00:00"}, "to"),
            ({"from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"}, "to"),
            ({"from": "2029-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z"}, "from"),
            ({"jobs": []}, "jobs"),
            ({"jobs": ["1"]}, "jobs"),
            ({"jobs": [424242]}, "jobs"),
            ({"dry_run": "yes"}, "dry_run"),
            ({"everything": True}, "everything"),
        ],
    )
    def test_it_handles_bad_input(self, as_operator, body, field):
        failed_slot(make_job())
        response = as_operator.post("/api/v1/runs/rerun-failed", body)
        assert response.status_code == 422, response.content
        assert field in error_of(response)["fields"]
        assert Run.objects.count() == 1

    def test_it_requires_login_role_and_post(self, anonymous, as_viewer, as_operator):
        failed_slot(make_job())
        assert anonymous.post("/api/v1/runs/rerun-failed").status_code == 401
        assert as_viewer.post("/api/v1/runs/rerun-failed").status_code == 403
        assert as_operator.get("/api/v1/runs/rerun-failed").status_code == 405
        assert Run.objects.count() == 1


class TestJobSlots:
    def test_it_works(self, as_viewer):
        job = make_job("hourly", schedule="0 * * * *", timezone="Europe/Berlin")
        at = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        skipped = make_run(
            job,
            state=Run.State.SKIPPED,
            trigger=Run.Trigger.SCHEDULE,
            scheduled_for=at,
            cause=Run.Cause.OVERLAP,
            reason="The previous run was still in progress.",
            reason_code="overlap_previous",
        )
        start = at - timedelta(minutes=30)
        window = f"from={iso(start)}&to={iso(at + timedelta(minutes=90))}".replace("+", "%2B")
        response = as_viewer.get(f"/api/v1/jobs/{job.pk}/slots?{window}")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["timezone"] == "Europe/Berlin" and body["count"] == 2
        first = body["results"][-1]
        assert first == {
            "slot": iso(at),
            "fate": "overlap",
            "run": skipped.pk,
            "cause": "overlap",
            "state": "skipped",
            "reason": "The previous run was still in progress.",
            "reason_code": "overlap_previous",
            "reason_params": {},
            "later_runs": [],
            "note": "",
        }
        assert body["summary"]["overlap"] == 1 and body["summary"]["no_record"] == 1
        only = as_viewer.get(f"/api/v1/jobs/{job.pk}/slots?fate=overlap&page_size=1").json()
        assert only["count"] == 1 and only["next"] is None

    def test_it_pages(self, as_viewer):
        job = make_job("minutely", schedule="* * * * *")
        body = as_viewer.get(f"/api/v1/jobs/{job.pk}/slots?page_size=10").json()
        assert body["count"] >= 1400 and len(body["results"]) == 10
        assert "page=2" in body["next"]

    @pytest.mark.parametrize(
        "query",
        [
            "from=yesterday",
            "fate=lost",
            "page=0",
            "from=2030-01-01T00:00:00Z&to=2030-01-09T00:00:00Z",
            "from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z",
        ],
    )
    def test_it_handles_bad_input(self, as_viewer, query):
        job = make_job()
        response = as_viewer.get(f"/api/v1/jobs/{job.pk}/slots?{query}")
        assert response.status_code == 400
        assert error_of(response)["message"]

    def test_it_requires_login_and_get(self, anonymous, as_viewer):
        job = make_job()
        assert anonymous.get(f"/api/v1/jobs/{job.pk}/slots").status_code == 401
        assert as_viewer.post(f"/api/v1/jobs/{job.pk}/slots").status_code == 405
        assert as_viewer.get("/api/v1/jobs/4242/slots").status_code == 404
