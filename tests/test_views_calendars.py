"""Calendar pages, the week ahead, the job form's calendars and "Run now…" with parameters."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import AuditEvent, Calendar, ChangeMarker, Job, Run
from jobs.services.calendars import calendar_create
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
    operator_fixture,
    user_with_role,
    viewer_fixture,
)

pytestmark = pytest.mark.django_db


def calendar_data(**overrides) -> dict[str, str]:
    data = {
        "name": "China",
        "description": "",
        "timezone": "Asia/Shanghai",
        "holiday_country": "cn",
        "holiday_subdivision": "",
        "dates": "2026-12-24\n2026-12-31",
        "windows": "Sun 01:00-03:00\nMon-Fri 23:00-02:00\n2026-12-24 to 2027-01-02",
    }
    return {**data, **overrides}


class TestCalendarList:
    def test_it_works(self, as_viewer):
        calendar_create(actor=None, name="Closed <days>", dates=["2026-12-25"])
        response = as_viewer.get("/calendars/")
        assert response.status_code == 200
        assert "Closed &lt;days&gt;" in response.content.decode()

    def test_it_requires_login(self, client):
        assert login_redirect(client.get("/calendars/"))

    def test_it_checks_role(self):
        assert logged_in(user_with_role(None)).get("/calendars/").status_code == 403

    def test_it_rejects_wrong_method(self, as_editor):
        assert as_editor.post("/calendars/").status_code == 405


class TestCalendarCreate:
    def test_it_works(self, as_editor):
        response = as_editor.post("/calendars/new/", calendar_data())
        calendar = Calendar.objects.get()
        assert response.status_code == 302
        assert response["Location"] == f"/calendars/{calendar.pk}/"
        assert calendar.holiday_country == "CN"
        assert calendar.dates == ["2026-12-24", "2026-12-31"]
        assert calendar.windows == [
            {"days": [7], "start": "01:00", "end": "03:00"},
            {"days": [1, 2, 3, 4, 5], "start": "23:00", "end": "02:00"},
            {"from": "2026-12-24", "to": "2027-01-02"},
        ]
        assert AuditEvent.objects.filter(object_type="calendar", action="create").exists()

    def test_with_htmx_it_redirects_the_client(self, as_editor):
        response = as_editor.post("/calendars/new/", calendar_data(), headers=HX)
        assert response.status_code == 200 and response["HX-Redirect"].startswith("/calendars/")
        assert Calendar.objects.count() == 1

    def test_it_requires_login(self, client):
        assert login_redirect(client.post("/calendars/new/", calendar_data()))
        assert not Calendar.objects.exists()

    def test_it_checks_role(self, as_operator):
        assert as_operator.get("/calendars/new/").status_code == 403
        assert as_operator.post("/calendars/new/", calendar_data()).status_code == 403
        assert not Calendar.objects.exists()

    def test_it_rejects_wrong_method(self, as_editor):
        assert as_editor.delete("/calendars/new/").status_code == 405

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("dates", "2026-13-01", "is not a date"),
            ("holiday_country", "XX", "There is no holiday list for the country"),
            ("holiday_subdivision", "ZZ", "is not a subdivision of"),
            ("windows", "sometimes", "is not a window"),
            ("windows", "Sun 03:00-03:00", "the same time"),
            ("timezone", "Mars/Olympus", "Unknown time zone"),
            ("name", "a, b", "without commas"),
        ],
    )
    def test_it_shows_bad_input_at_the_field(self, as_editor, field, value, message):
        response = as_editor.post("/calendars/new/", calendar_data(**{field: value}), headers=HX)
        assert response.status_code == 200
        assert response.templates[0].name == "jobs/_calendar_form.html"
        assert message in response.context["form"].errors[field][0]
        assert not Calendar.objects.exists()

    def test_without_htmx_it_renders_the_page(self, as_editor):
        response = as_editor.post("/calendars/new/", calendar_data(dates="nope"))
        assert response.status_code == 200
        assert response.templates[0].name == "jobs/calendar_form.html"


class TestCalendarEdit:
    def test_it_works_and_lists_the_next_holidays(self, as_editor):
        calendar = calendar_create(actor=None, name="China", holiday_country="CN")
        page = as_editor.get(f"/calendars/{calendar.pk}/")
        assert page.status_code == 200
        next_days = page.context["next_holidays"]
        assert len(next_days) == 10 and all(day >= timezone.now().date() for day, _ in next_days)
        before = ChangeMarker.objects.get().version
        response = as_editor.post(
            f"/calendars/{calendar.pk}/", calendar_data(dates="2027-02-01", windows="")
        )
        assert response.status_code == 302
        calendar.refresh_from_db()
        assert calendar.dates == ["2027-02-01"] and calendar.windows == [] and calendar.version == 2
        # The scheduler hears of it like a job edit.
        assert ChangeMarker.objects.get().version > before

    def test_holiday_names_follow_the_page_language(self, as_viewer):
        tomorrow = (timezone.now() + timedelta(days=1)).date()
        calendar = calendar_create(
            actor=None,
            name="China",
            holiday_country="CN",
            dates=[tomorrow.isoformat()],
            timezone="UTC",
        )
        english = as_viewer.get(f"/calendars/{calendar.pk}/").context["next_holidays"]
        assert (tomorrow, None) in english
        names = [name for _day, name in english if name]
        assert names and all(name.isascii() for name in names)
        page = as_viewer.get(f"/calendars/{calendar.pk}/", headers={"Accept-Language": "zh-hans"})
        chinese = [name for _day, name in page.context["next_holidays"] if name]
        assert len(chinese) == len(names) and not any(name.isascii() for name in chinese)
        assert "手动选定" in page.content.decode()

    def test_it_requires_login(self, client):
        calendar = calendar_create(actor=None, name="China")
        assert login_redirect(client.get(f"/calendars/{calendar.pk}/"))

    def test_a_viewer_sees_it_but_cannot_change_it(self, as_viewer):
        calendar = calendar_create(actor=None, name="China")
        assert as_viewer.get(f"/calendars/{calendar.pk}/").status_code == 200
        response = as_viewer.post(f"/calendars/{calendar.pk}/", calendar_data(name="Other"))
        assert response.status_code == 403
        assert Calendar.objects.get().name == "China"

    def test_it_rejects_wrong_method_and_unknown_ones(self, as_editor):
        calendar = calendar_create(actor=None, name="China")
        assert as_editor.put(f"/calendars/{calendar.pk}/").status_code == 405
        assert as_editor.get("/calendars/999999/").status_code == 404

    def test_bad_input_changes_nothing(self, as_editor):
        calendar = calendar_create(actor=None, name="China", dates=["2026-12-24"])
        response = as_editor.post(
            f"/calendars/{calendar.pk}/", calendar_data(dates="2026-12-25\nlater"), headers=HX
        )
        assert response.status_code == 200 and response.context["form"].errors["dates"]
        assert Calendar.objects.get().dates == ["2026-12-24"]


class TestCalendarDelete:
    def test_it_works(self, as_editor):
        calendar = calendar_create(actor=None, name="China")
        job = make_job(calendars=["China"])
        response = as_editor.post(f"/calendars/{calendar.pk}/delete/")
        assert response.status_code == 302 and response["Location"] == "/calendars/"
        assert not Calendar.objects.exists() and not job.calendars.exists()

    def test_it_checks_role_and_method(self, as_operator, client):
        calendar = calendar_create(actor=None, name="China")
        assert as_operator.post(f"/calendars/{calendar.pk}/delete/").status_code == 403
        assert as_operator.get(f"/calendars/{calendar.pk}/delete/").status_code == 405
        assert login_redirect(client.post(f"/calendars/{calendar.pk}/delete/"))
        assert Calendar.objects.exists()


class TestJobFormCalendars:
    def test_a_job_gets_its_calendars_from_the_form(self, as_editor):
        calendar_create(actor=None, name="China", holiday_country="CN")
        data = {
            "name": "nightly",
            "kind": "task",
            "task": "demo.echo",
            "param_message": "hello",
            "schedule": "30 2 * * *",
            "timezone": "Asia/Shanghai",
            "max_retries": 0,
            "retry_backoff": "fixed",
            "retry_backoff_seconds": 10,
            "overlap": "skip",
            "max_concurrent": 1,
            "misfire": "once",
            "misfire_limit": 10,
            "priority": 0,
            "calendars": ["China"],
            "on_calendar": "next_allowed",
        }
        assert as_editor.post("/jobs/new/", data).status_code == 302
        job = Job.objects.get()
        assert [c.name for c in job.calendars.all()] == ["China"]
        assert job.on_calendar == "next_allowed"
        form = as_editor.get(f"/jobs/{job.pk}/edit/").context["form"]
        assert form.initial["calendars"] == ["China"]

    def test_the_preview_honours_the_calendars(self, as_editor):
        calendar_create(actor=None, name="every day", dates=[])
        rule = {"schedule": "0 9 * * *", "timezone": "UTC"}
        plain = as_editor.get("/jobs/preview/", rule, headers=HX).context["preview"].next_runs
        closed = plain[0].date().isoformat()
        calendar_create(actor=None, name="closed", dates=[closed])
        query = {**rule, "calendars": ["closed"]}
        shaped = as_editor.get("/jobs/preview/", query, headers=HX).context["preview"].next_runs
        assert shaped[0] == plain[1]


class TestWeekAhead:
    def test_it_works_with_calendars_and_pauses(self, as_viewer):
        tomorrow = (timezone.now() + timedelta(days=1)).date()
        calendar_create(actor=None, name="tomorrow", dates=[tomorrow.isoformat()])
        make_job("hourly", schedule="0 * * * *", labels={"team": "data"})
        make_job("hourly off tomorrow", schedule="0 * * * *", calendars=["tomorrow"])
        make_job("paused", schedule="* * * * *", state=Job.State.PAUSED)
        response = as_viewer.get("/week/")
        assert response.status_code == 200
        week = response.context["week"]
        assert week.jobs == 2
        # 168 hours of the first job, 144 of the second (a whole UTC day off).
        assert week.total == 168 + 144
        assert sum(cell.runs for _day, row in week.grid for cell in row) == week.total
        assert max(cell.level for _day, row in week.grid for cell in row) == 4

    def test_it_filters_by_label_and_kind(self, as_viewer):
        make_job("hourly", schedule="0 * * * *", labels={"team": "data"})
        make_job("daily", schedule="0 9 * * *")
        assert as_viewer.get("/week/?label=team=data").context["week"].total == 168
        assert as_viewer.get("/week/?label=team").context["week"].jobs == 1
        assert as_viewer.get("/week/?kind=http").context["week"].total == 0
        assert as_viewer.get("/week/?kind=task").context["week"].jobs == 2

    def test_it_follows_changes(self, as_viewer):
        job = make_job("daily", schedule="0 9 * * *")
        assert as_viewer.get("/week/").context["week"].total == 7
        Job.objects.filter(pk=job.pk).update(schedule="0 9,21 * * *")
        assert as_viewer.get("/week/").context["week"].total == 14

    def test_with_htmx_it_answers_the_grid_or_a_cell(self, as_viewer):
        make_job("hourly", schedule="0 * * * *")
        grid = as_viewer.get("/week/?kind=task", headers=HX)
        assert grid.templates[0].name == "jobs/_week_grid.html"
        cell = as_viewer.get("/week/?day=1&hour=5", headers=HX)
        assert cell.templates[0].name == "jobs/_week_cell.html"
        assert [name for name, _id, runs in cell.context["cell_jobs"]] == ["hourly"]
        page = as_viewer.get("/week/?day=1&hour=5")
        assert page.templates[0].name == "jobs/week_ahead.html"

    def test_it_handles_bad_input(self, as_viewer):
        response = as_viewer.get("/week/?day=x&hour=99&kind=nope&label==")
        assert response.status_code == 200 and response.context["cell"] is None

    def test_it_requires_login_role_and_get(self, client, as_viewer):
        assert login_redirect(client.get("/week/"))
        assert logged_in(user_with_role(None)).get("/week/").status_code == 403
        assert as_viewer.post("/week/").status_code == 405


class TestRunWithParams:
    def test_it_shows_the_form_filled_with_the_jobs_values(self, as_operator, job):
        response = as_operator.get(f"/jobs/{job.pk}/run/params/")
        assert response.status_code == 200
        assert response.context["form"]["param_message"].value() == "hi"

    def test_it_works(self, as_operator, job):
        response = as_operator.post(f"/jobs/{job.pk}/run/params/", {"param_message": "once"})
        run = Run.objects.get()
        assert response.status_code == 302 and response["Location"] == f"/runs/{run.pk}/"
        assert run.params == {"message": "once"} and run.state == Run.State.QUEUED
        job.refresh_from_db()
        assert job.config["params"] == {"message": "hi"} and job.version == 1
        page = as_operator.get(f"/runs/{run.pk}/").content.decode()
        assert "Parameters of this run" in page and "once" in page

    def test_with_htmx_it_redirects_the_client(self, as_operator, job):
        response = as_operator.post(
            f"/jobs/{job.pk}/run/params/", {"param_message": "once"}, headers=HX
        )
        assert response["HX-Redirect"] == f"/runs/{Run.objects.get().pk}/"

    def test_bad_input_is_shown_at_the_field(self, as_operator):
        job = make_job("sleepy", config={"task": "demo.sleep", "params": {"seconds": 1.0}})
        response = as_operator.post(
            f"/jobs/{job.pk}/run/params/", {"param_seconds": "soon"}, headers=HX
        )
        assert response.status_code == 200
        assert response.templates[0].name == "jobs/_job_run_params.html"
        assert response.context["form"].errors["param_seconds"]
        assert not Run.objects.exists()

    def test_it_requires_login_role_and_method(self, client, as_viewer, job):
        assert login_redirect(client.post(f"/jobs/{job.pk}/run/params/"))
        assert as_viewer.post(f"/jobs/{job.pk}/run/params/").status_code == 403
        assert (
            logged_in(user_with_role("Operator", "op2"))
            .put(f"/jobs/{job.pk}/run/params/")
            .status_code
            == 405
        )
        assert not Run.objects.exists()

    def test_it_is_only_for_task_jobs(self, as_operator):
        job = make_job(
            "hook",
            kind="http",
            config={"method": "GET", "url": "https://example.com/", "headers": {}},
        )
        assert as_operator.get(f"/jobs/{job.pk}/run/params/").status_code == 404


class TestJobPages:
    def test_the_job_page_names_its_calendars(self, as_viewer):
        calendar_create(actor=None, name="China", holiday_country="CN")
        job = make_job(calendars=["China"])
        page = as_viewer.get(f"/jobs/{job.pk}/").content.decode()
        assert "China · Skip the run" in page

    def test_why_didnt_it_run_names_the_calendar_fate(self, as_viewer):
        calendar_create(actor=None, name="today", dates=[timezone.now().date().isoformat()])
        job = make_job(schedule="@every 1h", calendars=["today"])
        slot = job.schedule_anchor  # the first slot of an @every schedule
        Run.objects.create(
            job=job,
            job_version=1,
            trigger=Run.Trigger.SCHEDULE,
            state=Run.State.SKIPPED,
            cause=Run.Cause.CALENDAR,
            reason="Calendar today: hand-picked date.",
            scheduled_for=slot,
            finished_at=slot,
        )
        response = as_viewer.get(f"/jobs/{job.pk}/slots/?fate=calendar")
        assert response.status_code == 200
        report = response.context["report"]
        assert report.counts["calendar"] == 1
        assert [s.fate_label for s in report.slots if s.at == slot] == ["Skipped: calendar"]


def test_writes_to_calendars_bump_the_change_marker():
    calendar = calendar_create(actor=None, name="China")
    job = make_job()
    before = ChangeMarker.objects.get().version
    # Behind the services' back too: the database triggers see it.
    Calendar.objects.filter(pk=calendar.pk).update(dates=["2026-12-24"])
    after_update = ChangeMarker.objects.get().version
    job.calendars.add(calendar)
    assert before < after_update < ChangeMarker.objects.get().version
