"""Pages acting on the ledger: run a slot again, re-run failed runs, “why didn't it run?”."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job, Run
from tests.test_views_base import (  # noqa: F401 - fixtures are found by their names
    HX,
    admin_fixture,
    as_editor_fixture,
    as_operator_fixture,
    as_viewer_fixture,
    editor_fixture,
    fresh_caches_fixture,
    job_fixture,
    logged_in,
    login_redirect,
    make_job,
    make_run,
    operator_fixture,
    user_with_role,
    viewer_fixture,
)

pytestmark = pytest.mark.django_db


def failed_slot(job: Job, ago: float = 3600, state: str = Run.State.FAILED) -> Run:
    return make_run(job, state, ago=ago, trigger=Run.Trigger.SCHEDULE)


class TestRunSlotRerun:
    def test_it_works(self, as_operator, job):
        run = failed_slot(job)
        response = as_operator.post(f"/runs/{run.pk}/run-slot/")
        rerun = Run.objects.get(stands_for=run)
        assert response.status_code == 302 and response["Location"] == f"/runs/{rerun.pk}/"
        assert (rerun.trigger, rerun.state) == ("manual", "queued")
        page = as_operator.get(response["Location"]).content.decode()
        assert f"does the work of run #{run.pk} again" in page
        assert f'href="/runs/{run.pk}/"' in page  # the replacement links to the original
        original = as_operator.get(f"/runs/{run.pk}/").content.decode()
        assert f'href="/runs/{rerun.pk}/"' in original  # and the original to the replacement

    def test_it_works_with_htmx(self, as_operator, job):
        run = failed_slot(job, state=Run.State.MISSED)
        response = as_operator.post(f"/runs/{run.pk}/run-slot/", headers=HX)
        rerun = Run.objects.get(stands_for=run)
        assert response.status_code == 200 and response["HX-Redirect"] == f"/runs/{rerun.pk}/"

    def test_the_buttons_are_on_the_run_page_and_in_the_history(self, as_operator, job):
        run = failed_slot(job, state=Run.State.SKIPPED)
        ok = failed_slot(job, ago=7200, state=Run.State.SUCCEEDED)
        url = f'action="/runs/{run.pk}/run-slot/"'
        assert url in as_operator.get(f"/runs/{run.pk}/").content.decode()
        history = as_operator.get(f"/jobs/{job.pk}/").content.decode()
        assert url in history and f'action="/runs/{ok.pk}/run-slot/"' not in history

    def test_it_requires_login(self, client, job):
        run = failed_slot(job)
        assert login_redirect(client.post(f"/runs/{run.pk}/run-slot/"))
        assert Run.objects.count() == 1

    def test_it_checks_role(self, as_viewer, job):
        run = failed_slot(job)
        assert as_viewer.post(f"/runs/{run.pk}/run-slot/").status_code == 403
        assert f"/runs/{run.pk}/run-slot/" not in as_viewer.get(f"/runs/{run.pk}/").content.decode()
        assert Run.objects.count() == 1

    def test_it_rejects_wrong_method(self, as_operator, job):
        run = failed_slot(job)
        assert as_operator.get(f"/runs/{run.pk}/run-slot/").status_code == 405
        assert Run.objects.count() == 1

    def test_it_handles_bad_input(self, as_operator, job):
        assert as_operator.post("/runs/31337/run-slot/").status_code == 404
        running = failed_slot(job, state=Run.State.RUNNING)
        response = as_operator.post(f"/runs/{running.pk}/run-slot/", follow=True)
        assert response.status_code == 200
        assert "still running" in response.content.decode()
        assert Run.objects.count() == 1


class TestRerunFailed:
    def test_it_counts_then_reruns(self, as_operator, job):
        other = make_job("other")
        runs = [failed_slot(job, 600), failed_slot(job, 1200), failed_slot(other, 600)]
        failed_slot(job, 3 * 86400)  # outside the default 24 hours
        response = as_operator.get("/runs/rerun-failed/")
        assert response.status_code == 200
        plan = response.context["plan"]
        assert plan.count == 3 and plan.by_job == [(job.pk, "echo", 2), (other.pk, "other", 1)]
        assert Run.objects.count() == 4  # counting writes nothing
        form = response.context["form"]
        data = {"start": form["start"].value(), "end": form["end"].value()}
        response = as_operator.post("/runs/rerun-failed/", data)
        assert response.status_code == 302
        assert {r.stands_for_id for r in Run.objects.filter(stands_for__isnull=False)} == {
            r.pk for r in runs
        }
        page = as_operator.get(response["Location"])
        assert "3 failed runs queued to run again." in page.content.decode()
        assert page.context["plan"].count == 0 and page.context["plan"].already_rerun == 3

    def test_it_takes_the_selected_jobs_from_the_jobs_list(self, as_operator, job):
        other = make_job("other")
        failed_slot(job)
        mine = failed_slot(other)
        response = as_operator.post("/jobs/bulk/", {"action": "rerun_failed", "job": [other.pk]})
        assert response.status_code == 302
        assert response["Location"] == f"/runs/rerun-failed/?job={other.pk}"
        page = as_operator.get(response["Location"])
        assert page.context["plan"].count == 1 and "other" in page.context["picked"]
        form = page.context["form"]
        data = {"start": form["start"].value(), "end": form["end"].value(), "job": [other.pk]}
        as_operator.post("/runs/rerun-failed/", data)
        assert list(Run.objects.filter(stands_for__isnull=False)) == [
            Run.objects.get(stands_for=mine)
        ]
        everything = as_operator.post("/jobs/bulk/", {"action": "rerun_failed"}, headers=HX)
        assert everything["HX-Redirect"] == "/runs/rerun-failed/"

    def test_it_works_with_htmx(self, as_operator, job):
        failed_slot(job)
        response = as_operator.get("/runs/rerun-failed/", headers=HX)
        assert response.status_code == 200
        assert response.templates[0].name == "jobs/_rerun_failed.html"
        form = response.context["form"]
        data = {"start": form["start"].value(), "end": form["end"].value()}
        response = as_operator.post("/runs/rerun-failed/", data, headers=HX)
        assert response.status_code == 200 and response["HX-Redirect"].startswith("/runs/")
        assert Run.objects.filter(stands_for__isnull=False).count() == 1

    def test_it_is_linked_from_the_dashboard_and_the_jobs_list(self, as_operator, as_viewer, job):
        assert 'href="/runs/rerun-failed/"' in as_operator.get("/").content.decode()
        assert 'value="rerun_failed"' in as_operator.get("/jobs/").content.decode()
        assert 'href="/runs/rerun-failed/"' not in as_viewer.get("/").content.decode()

    @pytest.mark.parametrize("headers", [{}, HX])
    def test_it_handles_bad_input(self, as_operator, job, headers):
        failed_slot(job)
        now = timezone.localtime()
        bad = [
            ({"start": "yesterday"}, "start"),
            (
                {
                    "start": f"{now:%Y-%m-%dT%H:%M}",
                    "end": f"{now - timedelta(hours=1):%Y-%m-%dT%H:%M}",
                },
                "end",
            ),
            ({"start": f"{now - timedelta(days=40):%Y-%m-%dT%H:%M}"}, "start"),
        ]
        for data, field in bad:
            response = as_operator.post("/runs/rerun-failed/", data, headers=headers)
            assert response.status_code == 200
            assert response.context["form"].errors, data
            assert (
                field in response.context["form"].errors
                or response.context["form"].non_field_errors()
            )
        response = as_operator.post("/runs/rerun-failed/", {"job": ["999"]}, headers=headers)
        assert "No job with id 999" in response.content.decode()
        assert Run.objects.count() == 1

    def test_it_requires_login(self, client, job):
        failed_slot(job)
        assert login_redirect(client.get("/runs/rerun-failed/"))
        assert login_redirect(client.post("/runs/rerun-failed/"))
        assert Run.objects.count() == 1

    def test_it_checks_role(self, as_viewer, job):
        failed_slot(job)
        assert as_viewer.get("/runs/rerun-failed/").status_code == 403
        assert as_viewer.post("/runs/rerun-failed/").status_code == 403
        assert as_viewer.post("/jobs/bulk/", {"action": "rerun_failed"}).status_code == 403
        assert Run.objects.count() == 1

    def test_it_rejects_wrong_method(self, as_operator):
        assert as_operator.put("/runs/rerun-failed/").status_code == 405
        assert as_operator.delete("/runs/rerun-failed/").status_code == 405


class TestJobSlots:
    def test_it_works(self, as_viewer):
        job = make_job("ten", schedule="*/10 * * * *")
        Job.objects.filter(pk=job.pk).update(
            created_at=timezone.now() - timedelta(days=2),
            schedule_anchor=timezone.now() - timedelta(days=2),
        )
        now = timezone.now()
        slot = now.replace(minute=now.minute // 10 * 10, second=0, microsecond=0)
        make_run(
            job,
            Run.State.SKIPPED,
            trigger="schedule",
            scheduled_for=slot - timedelta(minutes=20),
            cause=Run.Cause.PAUSED,
        )
        response = as_viewer.get(f"/jobs/{job.pk}/slots/")
        assert response.status_code == 200
        report = response.context["report"]
        assert report.counts["paused"] == 1 and report.counts["no_record"] >= 140
        page = response.content.decode()
        assert "Why didn&#x27;t it run?" in page or "Why didn't it run?" in page
        assert "Skipped: paused" in page
        assert f'href="/jobs/{job.pk}/slots/"' in as_viewer.get(f"/jobs/{job.pk}/").content.decode()

    def test_it_filters_by_fate_and_pages(self, as_viewer):
        job = make_job("minutely", schedule="* * * * *")
        two_days_ago = timezone.now() - timedelta(days=2)
        Job.objects.filter(pk=job.pk).update(created_at=two_days_ago, schedule_anchor=two_days_ago)
        response = as_viewer.get(f"/jobs/{job.pk}/slots/?fate=no_record&page=2", headers=HX)
        assert response.status_code == 200
        assert response.templates[0].name == "jobs/_job_slots.html"
        assert response.context["page"].number == 2
        assert all(s.fate == "no_record" for s in response.context["page"])
        empty = as_viewer.get(f"/jobs/{job.pk}/slots/?fate=paused")
        assert empty.context["page"].paginator.count == 0
        assert "No planned run of this period had this outcome." in empty.content.decode()

    def test_it_starts_at_the_last_schedule_change(self, as_viewer):
        job = make_job("ten", schedule="*/10 * * * *")
        changed = timezone.now() - timedelta(hours=5)
        Job.objects.filter(pk=job.pk).update(
            created_at=timezone.now() - timedelta(days=30), schedule_anchor=changed
        )
        report = as_viewer.get(f"/jobs/{job.pk}/slots/").context["report"]
        assert changed - timedelta(minutes=1) <= report.start <= changed
        assert 29 <= len(report.slots) <= 31

    def test_a_week_old_job_shows_its_last_week(self, as_viewer):
        job = make_job("daily", schedule="0 3 * * *")
        long_ago = timezone.now() - timedelta(days=90)
        Job.objects.filter(pk=job.pk).update(created_at=long_ago, schedule_anchor=long_ago)
        report = as_viewer.get(f"/jobs/{job.pk}/slots/").context["report"]
        assert report.end - report.start <= timedelta(days=7)
        assert len(report.slots) == 7

    def test_a_frequent_schedule_starts_late_enough_to_fit(self, as_viewer):
        job = make_job("busy", schedule="@every 1s")
        hours_ago = timezone.now() - timedelta(hours=3)
        Job.objects.filter(pk=job.pk).update(created_at=hours_ago, schedule_anchor=hours_ago)
        response = as_viewer.get(f"/jobs/{job.pk}/slots/")
        report = response.context["report"]
        assert report is not None and 0 < len(report.slots) <= 2000
        assert not response.context["form"].errors

    def test_it_lists_what_did_not_run_well_first_and_counts_the_rest(self, as_viewer):
        job = make_job("ten", schedule="*/10 * * * *")
        now = timezone.now()
        slot = now.replace(minute=now.minute // 10 * 10, second=0, microsecond=0)
        Job.objects.filter(pk=job.pk).update(
            created_at=slot - timedelta(minutes=41), schedule_anchor=slot - timedelta(minutes=41)
        )
        for minutes, state in [
            (10, "succeeded"),
            (20, "failed"),
            (30, "succeeded"),
            (40, "succeeded"),
        ]:
            make_run(
                job, state, trigger="schedule", scheduled_for=slot - timedelta(minutes=minutes)
            )
        response = as_viewer.get(f"/jobs/{job.pk}/slots/")
        listed = [s.at for s in response.context["page"]]
        assert slot - timedelta(minutes=20) in listed
        assert not {slot - timedelta(minutes=m) for m in (10, 30, 40)} & set(listed)
        assert response.context["as_planned_count"] == 3
        page = response.content.decode()
        assert "3 ran as planned" in page and '<details class="as-planned">' in page
        ran = as_viewer.get(f"/jobs/{job.pk}/slots/?fate=ran", headers=HX)
        assert ran.context["page"].paginator.count == 4 and ran.context["as_planned_count"] == 0

    def test_it_says_when_everything_ran_as_planned(self, as_viewer):
        job = make_job("ten", schedule="*/10 * * * *")
        now = timezone.now()
        slot = now.replace(minute=now.minute // 10 * 10, second=0, microsecond=0)
        anchor = slot - timedelta(minutes=11)
        Job.objects.filter(pk=job.pk).update(created_at=anchor, schedule_anchor=anchor)
        make_run(job, "succeeded", trigger="schedule", scheduled_for=slot - timedelta(minutes=10))
        make_run(job, "succeeded", trigger="schedule", scheduled_for=slot)
        response = as_viewer.get(
            f"/jobs/{job.pk}/slots/?end={(slot + timedelta(minutes=1)):%Y-%m-%dT%H:%M}"
        )
        assert "Every planned run of this period ran as planned." in response.content.decode()

    def test_it_shows_both_time_zones(self, as_viewer):
        job = make_job("shanghai", schedule="0 9 * * *", timezone="Asia/Shanghai")
        page = as_viewer.get(f"/jobs/{job.pk}/slots/?start=2030-01-01T00:00&end=2030-01-03T00:00")
        text = page.content.decode()
        assert "2030-01-01 01:00:00" in text  # 09:00 in Shanghai, shown in UTC
        assert '2030-01-01 09:00:00 <span class="zone">CST</span>' in text
        assert "Asia/Shanghai" in text

    @pytest.mark.parametrize("headers", [{}, HX])
    def test_it_handles_bad_input(self, as_viewer, job, headers):
        response = as_viewer.get(
            f"/jobs/{job.pk}/slots/?start=2030-01-01T00:00&end=2030-01-20T00:00", headers=headers
        )
        assert response.status_code == 200
        assert "at most 7 days" in response.content.decode()
        assert response.context["report"] is None
        response = as_viewer.get(f"/jobs/{job.pk}/slots/?start=soon&fate=bogus", headers=headers)
        assert response.status_code == 200 and response.context["form"].errors["start"]
        every = make_job("busy", schedule="@every 1s")
        response = as_viewer.get(
            f"/jobs/{every.pk}/slots/?start=2030-01-01T00:00&end=2030-01-01T01:00", headers=headers
        )
        assert "plans more than 2,000 runs" in response.content.decode()
        assert as_viewer.get("/jobs/31337/slots/").status_code == 404

    def test_it_requires_login(self, client, job):
        assert login_redirect(client.get(f"/jobs/{job.pk}/slots/"))

    def test_it_checks_role(self, job):
        assert logged_in(user_with_role(None)).get(f"/jobs/{job.pk}/slots/").status_code == 403

    def test_it_rejects_wrong_method(self, as_viewer, job):
        assert as_viewer.post(f"/jobs/{job.pk}/slots/").status_code == 405
