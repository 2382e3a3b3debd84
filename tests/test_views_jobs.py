"""The jobs list, bulk actions, the job page and the actions on one job."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from jobs import services
from jobs.forms import pause_end
from jobs.models import AuditEvent, Job, Run, UserProfile
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


class TestJobList:
    def test_it_works(self, as_viewer):
        failing = make_job("nightly import", labels={"team": "data"})
        make_job("weekly report", description="sends the report", state="paused")
        for ago in (300, 200, 100):
            make_run(failing, Run.State.SUCCEEDED, ago=ago)
        make_run(failing, Run.State.FAILED, ago=10)
        response = as_viewer.get("/jobs/")
        assert response.status_code == 200
        rows = response.context["rows"]
        assert [r.job.name for r in rows] == ["nightly import", "weekly report"]
        assert [r["state"] for r in rows[0].strip] == ["succeeded"] * 3 + ["failed"]
        assert rows[0].last_run["state"] == "failed"
        assert rows[0].next_run is not None and rows[1].next_run is None
        page = response.content.decode()
        assert "Every 5 minutes" in page
        assert "New job" not in page  # viewers do not get the button

    @pytest.mark.parametrize(
        ("query", "names"),
        [
            ("q=report", ["weekly report"]),
            ("q=SENDS", ["weekly report"]),
            ("state=paused", ["weekly report"]),
            ("kind=http", []),
            ("label=team=data", ["nightly import"]),
            ("label=team", ["nightly import"]),
            ("last=failed", ["nightly import"]),
            ("sort=-name", ["weekly report", "nightly import"]),
            ("sort=last_run", ["nightly import", "weekly report"]),
        ],
    )
    def test_it_filters_and_sorts(self, as_viewer, query, names):
        nightly = make_job("nightly import", labels={"team": "data"})
        make_job("weekly report", description="Sends the report", state="paused")
        make_run(nightly, Run.State.FAILED)
        response = as_viewer.get(f"/jobs/?{query}", headers=HX)
        assert response.status_code == 200
        assert [r.job.name for r in response.context["rows"]] == names
        assert b"<html" not in response.content  # htmx gets the table only

    def test_it_paginates(self, as_viewer):
        Job.objects.bulk_create(
            Job(name=f"job {i:03}", kind="task", schedule="@daily", config={}) for i in range(60)
        )
        second = as_viewer.get("/jobs/?page=2")
        assert [r.job.name for r in second.context["rows"]][0] == "job 050"

    def test_it_requires_login(self, client):
        assert login_redirect(client.get("/jobs/"))

    def test_it_checks_role(self, client):
        assert logged_in(user_with_role(None)).get("/jobs/").status_code == 403

    def test_it_rejects_wrong_method(self, as_viewer):
        assert as_viewer.post("/jobs/").status_code == 405

    def test_it_handles_bad_input(self, as_viewer, job):
        response = as_viewer.get("/jobs/?page=zzz&state=nope&sort=DROP&last=x&label==")
        assert response.status_code == 200
        assert [r.job.name for r in response.context["rows"]] == [] or response.context["rows"]

    def test_its_query_count_is_bounded(self, as_viewer, django_assert_max_num_queries):
        jobs = [make_job(f"job {i:02}") for i in range(60)]
        for job in jobs[:50]:
            for ago in range(25):
                make_run(job, ago=ago * 60 + 5)
        # session, user, profile, groups, count, page, strips: not one per job.
        with django_assert_max_num_queries(9):
            response = as_viewer.get("/jobs/")
        assert len(response.context["rows"]) == 50
        assert all(len(r.strip) == 20 for r in response.context["rows"])


class TestJobBulk:
    def test_it_works(self, as_operator):
        first, second, third = make_job("a"), make_job("b"), make_job("c")
        data = {"action": "pause", "job": [first.pk, second.pk]}
        response = as_operator.post("/jobs/bulk/", data)
        assert response.status_code == 302
        states = dict(Job.objects.values_list("name", "state"))
        assert states == {"a": "paused", "b": "paused", "c": "active"}
        as_operator.post("/jobs/bulk/", {"action": "run", "job": [third.pk]}, headers=HX)
        assert Run.objects.filter(job=third, trigger="manual").count() == 1

    def test_it_answers_htmx_with_the_table(self, as_operator):
        job = make_job("a", state="paused")
        response = as_operator.post(
            "/jobs/bulk/?q=a", {"action": "resume", "job": [job.pk]}, headers=HX
        )
        assert response.status_code == 200
        assert b"1 job resumed." in response.content
        assert b'id="job-table"' in response.content
        job.refresh_from_db()
        assert job.state == "active"

    def test_it_requires_login(self, client, job):
        assert login_redirect(client.post("/jobs/bulk/", {"action": "pause", "job": [job.pk]}))
        job.refresh_from_db()
        assert job.state == "active"

    def test_it_checks_role(self, as_viewer, job):
        other = make_job("other")
        response = as_viewer.post("/jobs/bulk/", {"action": "pause", "job": [job.pk, other.pk]})
        assert response.status_code == 403
        assert set(Job.objects.values_list("state", flat=True)) == {"active"}

    def test_it_rejects_wrong_method(self, as_operator):
        assert as_operator.get("/jobs/bulk/").status_code == 405

    def test_it_handles_bad_input(self, as_operator, job):
        for data in ({"action": "delete", "job": [job.pk]}, {"action": "pause"}, {"job": ["x"]}):
            assert as_operator.post("/jobs/bulk/", data, headers=HX).status_code == 200
        job.refresh_from_db()
        assert job.state == "active"


class TestJobDetail:
    def test_it_works(self, as_viewer):
        job = make_job(
            "web hook",
            kind="http",
            config={"url": "https://example.com/hook", "headers": {"X-Api-Key": "hunter2"}},
        )
        make_run(job, Run.State.FAILED, reason="HTTP 500, expected 200-299")
        response = as_viewer.get(f"/jobs/{job.pk}/")
        assert response.status_code == 200
        page = response.content.decode()
        assert "hunter2" not in page  # secrets stay masked
        assert "HTTP 500, expected 200-299" in page
        assert len(response.context["next_runs"]) == 10
        assert "<svg" in page  # the duration chart
        assert f"/jobs/{job.pk}/run/" not in page  # viewers get no action buttons

    def test_its_regions_redraw_when_the_job_or_its_runs_change(self, as_viewer):
        manual = make_job("by hand", schedule="@manual")
        page = as_viewer.get(f"/jobs/{manual.pk}/")
        assert page.context["live_watch"]["topics"] == f"job:{manual.pk}"
        html = page.content.decode()
        assert html.count(f"live-job-{manual.pk} from:body") == 4  # runs, next, notes, summary
        assert "every 2s" not in html.replace('hx-trigger="every 2s, live-poll"', "")

    def test_its_run_history_filters_and_pages(self, as_viewer, job):
        for ago in range(30):
            make_run(job, Run.State.FAILED if ago % 3 == 0 else Run.State.SUCCEEDED, ago=ago + 1)
        response = as_viewer.get(f"/jobs/{job.pk}/runs/?state=failed", headers=HX)
        assert {r.state for r in response.context["runs"]} == {"failed"}
        assert response.context["runs"].paginator.count == 10
        second = as_viewer.get(f"/jobs/{job.pk}/?page=2")
        assert len(second.context["runs"].object_list) == 5
        plain = as_viewer.get(f"/jobs/{job.pk}/runs/?page=2")
        assert plain.status_code == 302 and plain["Location"] == f"/jobs/{job.pk}/?page=2"

    def test_it_requires_login(self, client, job):
        assert login_redirect(client.get(f"/jobs/{job.pk}/"))
        assert login_redirect(client.get(f"/jobs/{job.pk}/runs/", headers=HX))

    def test_it_checks_role(self, job):
        assert logged_in(user_with_role(None)).get(f"/jobs/{job.pk}/").status_code == 403

    def test_it_rejects_wrong_method(self, as_viewer, job):
        assert as_viewer.post(f"/jobs/{job.pk}/").status_code == 405
        assert as_viewer.post(f"/jobs/{job.pk}/runs/").status_code == 405

    def test_it_handles_bad_input(self, as_viewer, job):
        assert as_viewer.get("/jobs/999999/").status_code == 404
        response = as_viewer.get(f"/jobs/{job.pk}/runs/?page=-3&state=bogus", headers=HX)
        assert response.status_code == 200

    def test_its_query_count_is_bounded(self, as_viewer, django_assert_max_num_queries, job):
        for ago in range(200):
            make_run(job, ago=ago * 60 + 5)
        # The job's calendars are one more.
        with django_assert_max_num_queries(13):
            response = as_viewer.get(f"/jobs/{job.pk}/")
        assert len(response.context["runs"].object_list) == 25


class TestJobPause:
    def test_it_works(self, as_operator, job):
        until = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        response = as_operator.post(
            f"/jobs/{job.pk}/pause/", {"until": until, "note": "db upgrade"}, headers=HX
        )
        assert response.status_code == 200
        assert "runs-changed" in response["HX-Trigger"]
        job.refresh_from_db()
        assert (job.state, job.pause_note) == ("paused", "db upgrade")
        assert job.paused_until is not None
        assert b"Paused until" in response.content

    def test_it_works_without_htmx(self, as_operator, job):
        response = as_operator.post(f"/jobs/{job.pk}/pause/", {"note": ""})
        assert response.status_code == 302
        job.refresh_from_db()
        assert job.state == "paused" and job.paused_until is None

    def test_it_requires_login(self, client, job):
        assert login_redirect(client.post(f"/jobs/{job.pk}/pause/"))
        job.refresh_from_db()
        assert job.state == "active"

    def test_it_checks_role(self, as_viewer, job):
        assert as_viewer.post(f"/jobs/{job.pk}/pause/", headers=HX).status_code == 403
        job.refresh_from_db()
        assert job.state == "active"

    def test_it_rejects_wrong_method(self, as_operator, job):
        assert as_operator.get(f"/jobs/{job.pk}/pause/").status_code == 405

    @pytest.mark.parametrize("hx", [True, False])
    def test_it_handles_bad_input(self, as_operator, job, hx):
        past = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        headers = HX if hx else {}
        response = as_operator.post(f"/jobs/{job.pk}/pause/", {"until": past}, headers=headers)
        assert response.status_code == 200
        assert "must be in the future" in response.content.decode()
        response = as_operator.post(f"/jobs/{job.pk}/pause/", {"until": "soon"}, headers=headers)
        assert response.status_code == 200
        job.refresh_from_db()
        assert job.state == "active"


class TestJobResume:
    def test_it_works(self, as_operator):
        job = make_job(state="paused", pause_note="x")
        response = as_operator.post(f"/jobs/{job.pk}/resume/", headers=HX)
        assert response.status_code == 200
        job.refresh_from_db()
        assert (job.state, job.pause_note) == ("active", "")
        assert AuditEvent.objects.filter(action="resume", object_id=str(job.pk)).exists()

    def test_it_requires_login(self, client):
        job = make_job(state="paused")
        assert login_redirect(client.post(f"/jobs/{job.pk}/resume/"))
        job.refresh_from_db()
        assert job.state == "paused"

    def test_it_checks_role(self, as_viewer):
        job = make_job(state="paused")
        assert as_viewer.post(f"/jobs/{job.pk}/resume/").status_code == 403
        job.refresh_from_db()
        assert job.state == "paused"

    def test_it_rejects_wrong_method(self, as_operator, job):
        assert as_operator.get(f"/jobs/{job.pk}/resume/").status_code == 405

    def test_it_handles_bad_input(self, as_operator, job):
        assert as_operator.post("/jobs/0/resume/").status_code == 404
        # Resuming an active job changes nothing.
        assert as_operator.post(f"/jobs/{job.pk}/resume/").status_code == 302
        assert not AuditEvent.objects.filter(action="resume").exists()


class TestJobRunNow:
    def test_it_works(self, as_operator, job):
        response = as_operator.post(f"/jobs/{job.pk}/run/", headers=HX)
        assert response.status_code == 200
        run = Run.objects.get(job=job)
        assert (run.trigger, run.state, run.requested_by.username) == (
            "manual",
            "queued",
            "operator",
        )
        assert f"Run #{run.pk} requested" in response.content.decode()

    def test_it_requires_login(self, client, job):
        assert login_redirect(client.post(f"/jobs/{job.pk}/run/"))
        assert not Run.objects.exists()

    def test_it_checks_role(self, as_viewer, job):
        assert as_viewer.post(f"/jobs/{job.pk}/run/", headers=HX).status_code == 403
        assert not Run.objects.exists()

    def test_it_rejects_wrong_method(self, as_operator, job):
        assert as_operator.get(f"/jobs/{job.pk}/run/").status_code == 405
        assert not Run.objects.exists()

    def test_it_handles_bad_input(self, as_operator):
        assert as_operator.post("/jobs/424242/run/", headers=HX).status_code == 404
        assert not Run.objects.exists()


class TestJobDelete:
    def test_it_works(self, as_editor, job):
        make_run(job)
        assert as_editor.get(f"/jobs/{job.pk}/delete/").status_code == 200
        response = as_editor.post(f"/jobs/{job.pk}/delete/", headers=HX)
        assert response.status_code == 200
        assert response["HX-Redirect"] == "/jobs/"
        assert not Job.objects.exists() and not Run.objects.exists()
        assert AuditEvent.objects.filter(action="delete").exists()

    def test_it_requires_login(self, client, job):
        assert login_redirect(client.post(f"/jobs/{job.pk}/delete/"))
        assert Job.objects.exists()

    def test_it_checks_role(self, as_operator, job):
        assert as_operator.post(f"/jobs/{job.pk}/delete/").status_code == 403
        assert as_operator.post(f"/jobs/{job.pk}/delete/", headers=HX).status_code == 403
        assert Job.objects.filter(pk=job.pk).exists()

    def test_it_rejects_wrong_method(self, as_editor, job):
        assert as_editor.delete(f"/jobs/{job.pk}/delete/").status_code == 405
        assert Job.objects.exists()

    def test_it_handles_bad_input(self, as_editor, job):
        assert as_editor.post("/jobs/99/delete/").status_code == 404
        assert Job.objects.count() == 1


class TestJobNextRuns:
    def test_it_works(self, as_viewer):
        job = make_job("every five", schedule="*/5 * * * *")
        response = as_viewer.get(f"/jobs/{job.pk}/next-runs/", headers=HX)
        assert response.status_code == 200
        assert [t.name for t in response.templates][0] == "jobs/_job_next_runs.html"
        assert len(response.context["next_runs"]) == 10
        assert 'id="next-runs"' in response.content.decode()

    def test_it_follows_a_changed_schedule(self, as_viewer, editor):
        job = make_job("moving", schedule="0 9 * * *")
        first = as_viewer.get(f"/jobs/{job.pk}/next-runs/", headers=HX).context["next_runs"]
        services.job_update(actor=editor, job=job, schedule="0 17 * * *")
        second = as_viewer.get(f"/jobs/{job.pk}/next-runs/", headers=HX).context["next_runs"]
        assert {t.hour for t in first} != {t.hour for t in second}

    def test_a_paused_job_says_so(self, as_viewer):
        job = make_job("resting", state="paused")
        page = as_viewer.get(f"/jobs/{job.pk}/next-runs/", headers=HX).content.decode()
        assert "Paused: no runs until it is resumed." in page

    def test_the_job_page_includes_it(self, as_viewer, job):
        page = as_viewer.get(f"/jobs/{job.pk}/").content.decode()
        assert f'hx-get="/jobs/{job.pk}/next-runs/"' in page

    def test_without_htmx_it_redirects_to_the_job_page(self, as_viewer, job):
        response = as_viewer.get(f"/jobs/{job.pk}/next-runs/")
        assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"

    def test_it_requires_login(self, client, job):
        assert login_redirect(client.get(f"/jobs/{job.pk}/next-runs/", headers=HX))

    def test_it_checks_role(self, job):
        client = logged_in(user_with_role(None))
        assert client.get(f"/jobs/{job.pk}/next-runs/", headers=HX).status_code == 403

    def test_it_rejects_wrong_method(self, as_viewer, job):
        assert as_viewer.post(f"/jobs/{job.pk}/next-runs/", headers=HX).status_code == 405

    def test_it_answers_404_for_a_missing_job(self, as_viewer):
        assert as_viewer.get("/jobs/999999/next-runs/", headers=HX).status_code == 404


class TestPauseQuickChoices:
    @pytest.mark.parametrize(
        ("length", "now", "ends"),
        [
            ("hour", "2026-12-03 14:10", "2026-12-03 15:10"),
            ("tomorrow", "2026-12-03 14:10", "2026-12-04 09:00"),
            ("tomorrow", "2026-12-03 23:50", "2026-12-04 09:00"),
            ("monday", "2026-12-03 14:10", "2026-12-07 09:00"),  # a Thursday
            ("monday", "2026-12-07 08:00", "2026-12-14 09:00"),  # Monday: the next one
            ("monday", "2026-12-06 20:00", "2026-12-07 09:00"),  # Sunday evening
        ],
    )
    def test_each_choice_ends_in_the_viewers_zone(self, length, now, ends):
        zone = ZoneInfo("Asia/Shanghai")
        local = datetime.fromisoformat(now).replace(tzinfo=zone)
        assert pause_end(length, local.astimezone(UTC), zone) == datetime.fromisoformat(
            ends
        ).replace(tzinfo=zone)
        assert pause_end("resume", local, zone) is None

    def test_until_tomorrow_morning_is_the_viewers_morning(self, operator, job):
        UserProfile.objects.create(user=operator, timezone="America/New_York")
        client = logged_in(operator)
        response = client.post(
            f"/jobs/{job.pk}/pause/", {"length": "tomorrow", "note": "release"}, headers=HX
        )
        assert response.status_code == 200
        job.refresh_from_db()
        zone = ZoneInfo("America/New_York")
        tomorrow = timezone.now().astimezone(zone).date() + timedelta(days=1)
        assert job.paused_until == datetime.combine(tomorrow, time(9), tzinfo=zone)
        assert (job.state, job.pause_note) == ("paused", "release")
        page = response.content.decode()
        assert 'id="first-after-pause"' in page and "First run after the pause" in page

    def test_until_i_resume_ignores_a_leftover_date(self, as_operator, job):
        soon = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        as_operator.post(f"/jobs/{job.pk}/pause/", {"length": "resume", "until": soon})
        job.refresh_from_db()
        assert job.state == "paused" and job.paused_until is None

    def test_a_date_needs_the_date_choice(self, as_operator, job):
        soon = timezone.localtime() + timedelta(days=2)
        as_operator.post(
            f"/jobs/{job.pk}/pause/", {"length": "at", "until": soon.strftime("%Y-%m-%dT%H:%M")}
        )
        job.refresh_from_db()
        assert job.paused_until == soon.replace(second=0, microsecond=0)

    def test_an_unknown_choice_is_refused(self, as_operator, job):
        response = as_operator.post(f"/jobs/{job.pk}/pause/", {"length": "forever"}, headers=HX)
        assert response.status_code == 200
        assert "forever" in response.content.decode()
        job.refresh_from_db()
        assert job.state == "active"

    def test_the_first_run_after_a_pause_is_the_one_at_its_end(self, as_viewer):
        # Paused until 09:00 on a job due at 09:00: the 09:00 run is the first after the pause.
        job = make_job("morning", schedule="0 9 * * *", timezone="UTC")
        until = datetime.combine(
            timezone.now().astimezone(UTC).date() + timedelta(days=2), time(9), tzinfo=UTC
        )
        Job.objects.filter(pk=job.pk).update(state="paused", paused_until=until)
        response = as_viewer.get(f"/jobs/{job.pk}/")
        assert response.context["first_after_pause"] == until
        assert response.context["next_runs"][0] == until

    def test_the_pause_menu_sits_next_to_run_now(self, as_operator, job):
        html = as_operator.get(f"/jobs/{job.pk}/").content.decode()
        buttons = html[html.index('class="buttons"') : html.index("</section>")]
        assert "Run now" in buttons and 'class="pause-menu"' in buttons
        for label in ("1 hour", "Until tomorrow 09:00", "Until Monday 09:00", "Until I resume it"):
            assert label in buttons


def test_a_date_without_a_choice_pauses_until_that_date(as_operator, job):
    soon = timezone.localtime() + timedelta(days=3)
    as_operator.post(f"/jobs/{job.pk}/pause/", {"until": soon.strftime("%Y-%m-%dT%H:%M")})
    job.refresh_from_db()
    assert job.paused_until == soon.replace(second=0, microsecond=0)
