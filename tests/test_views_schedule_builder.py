"""The schedule builder beside the job form, and the preview's suggestions, bounds and warnings."""

import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from jobs.models import Job
from tests.test_views_base import (  # noqa: F401 - fixtures are found by their names
    HX,
    as_editor_fixture,
    as_viewer_fixture,
    editor_fixture,
    fresh_caches_fixture,
    logged_in,
    login_redirect,
    make_job,
    user_with_role,
    viewer_fixture,
)

pytestmark = pytest.mark.django_db
URL = "/jobs/schedule-builder/"


def built(client, **choices: object) -> str:
    query = urlencode({f"builder-{k}": v for k, v in choices.items()}, doseq=True)
    response = client.get(f"{URL}?{query}&timezone=Europe/Berlin", headers=HX)
    assert response.status_code == 200
    return response.content.decode()


class TestScheduleBuilder:
    def test_it_writes_the_schedule_and_the_preview(self, as_viewer):
        page = built(as_viewer, mode="weekly", times="08:30", weekdays=["1", "2", "3", "4", "5"])
        # The schedule field comes back out of band with the string, wired to the preview.
        assert 'id="id_schedule"' in page and 'value="30 8 * * 1-5"' in page
        assert 'hx-swap-oob="true"' in page and 'hx-get="/jobs/preview/"' in page
        assert 'id="schedule-preview" hx-swap-oob="innerHTML"' in page
        assert "At 08:30, Monday through Friday" in page

    def test_it_shows_a_typed_schedule_that_fits(self, as_viewer):
        response = as_viewer.get(f"{URL}?schedule=0+18+L+*+*", headers=HX)
        builder = response.context["builder"]
        assert builder.mode_value == "monthly"
        assert builder["day"].value() == "0" and builder["times"].value() == "18:00"
        assert b"hx-swap-oob" not in response.content  # the typed text is left alone

    def test_a_schedule_that_does_not_fit_stays_advanced(self, as_viewer):
        response = as_viewer.get(f"{URL}?schedule=0+9-17+*+*+1-5", headers=HX)
        assert response.context["builder"].mode_value == "advanced"
        assert "stays as written" in response.content.decode()

    def test_advanced_writes_nothing(self, as_viewer):
        page = built(as_viewer, mode="advanced", times="09:00")
        assert "hx-swap-oob" not in page

    def test_use_this_writes_a_suggestion(self, as_viewer):
        response = as_viewer.get(f"{URL}?schedule=0+9+*+*+1-5&write=1", headers=HX)
        page = response.content.decode()
        assert 'value="0 9 * * 1-5"' in page
        assert response.context["builder"].mode_value == "weekly"
        # An invalid string is never written, whoever asks.
        response = as_viewer.get(f"{URL}?schedule=every+day+at+9&write=1", headers=HX)
        assert b"hx-swap-oob" not in response.content

    def test_it_speaks_chinese(self, as_viewer):
        as_viewer.cookies["django_language"] = "zh-hans"
        query = "builder-mode=daily&builder-times=09:00,17:30"
        page = as_viewer.get(f"{URL}?{query}", headers=HX).content.decode()
        assert "每隔几分钟" in page and "15 分钟" in page and "12 小时" in page
        assert "星期一" in page and "最后一天" in page
        assert "分钟必须相同（可以是 09:00 和 17:00，不能是 09:00 和 17:30）" in page

    def test_once_starts_from_tomorrow_morning(self, as_editor):
        page = as_editor.get("/jobs/new/").content.decode()
        tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
        assert f'value="{tomorrow}T09:00"' in page  # so choosing "Once" writes a schedule
        assert built(as_editor, mode="once", at=f"{tomorrow}T09:00").count(f"{tomorrow} 09:00")

    def test_it_works_without_htmx(self, as_viewer):
        response = as_viewer.get(f"{URL}?builder-mode=daily&builder-times=07:15")
        assert response.status_code == 200
        assert 'value="15 7 * * *"' in response.content.decode()

    def test_it_requires_login(self, client):
        assert login_redirect(client.get(f"{URL}?builder-mode=manual"))

    def test_it_checks_role(self):
        response = logged_in(user_with_role(None)).get(f"{URL}?builder-mode=manual")
        assert response.status_code == 403

    def test_it_rejects_wrong_method(self, as_viewer):
        assert as_viewer.post(URL, {"builder-mode": "manual"}).status_code == 405

    @pytest.mark.parametrize(
        ("choices", "field", "words"),
        [
            ({"mode": "daily", "times": "09:00, 17:30"}, "times", "only at one minute"),
            ({"mode": "daily", "times": "25:00"}, "times", "is not a time"),
            ({"mode": "daily", "times": ""}, "times", "at least one time"),
            ({"mode": "weekly", "times": "09:00"}, "weekdays", "at least one day"),
            ({"mode": "yearly", "times": "09:00", "day": "30", "month": "2"}, "day", "this day"),
            ({"mode": "once", "at": "tomorrow"}, "at", "like 2026-12-01 09:00"),
            ({"mode": "minutes", "every_minutes": "7"}, "every_minutes", "not one of"),
            ({"mode": "<script>"}, "mode", "not one of"),
        ],
    )
    def test_it_handles_bad_input(self, as_viewer, choices, field, words):
        query = urlencode({f"builder-{k}": v for k, v in choices.items()})
        response = as_viewer.get(f"{URL}?{query}", headers=HX)
        assert response.status_code == 200  # htmx swaps only 2xx: errors come back as 200
        errors = response.context["builder"].errors
        assert field in errors and words in " ".join(errors[field])
        assert b"hx-swap-oob" not in response.content and b"<script>" not in response.content

    def test_errors_of_hidden_controls_do_not_count(self, as_viewer):
        page = built(as_viewer, mode="minutes", every_minutes="15", times="nonsense", minute="99")
        assert 'value="*/15 * * * *"' in page


class TestJobFormBuilder:
    def test_a_new_job_offers_the_choices(self, as_editor):
        page = as_editor.get("/jobs/new/").content.decode()
        assert 'id="schedule-builder"' in page and "Every few minutes" in page
        assert 'hx-trigger="change from:#id_schedule"' in page

    def test_an_existing_job_opens_in_the_builder(self, as_editor):
        job = make_job(schedule="0 7 * * 6,0")
        response = as_editor.get(f"/jobs/{job.pk}/edit/")
        page = response.content.decode()
        assert 'id="id_builder-mode"' in page
        assert '<option value="weekly" selected>' in page
        checked = re.findall(r'value="([0-9])" id="id_builder-weekdays_[0-9]" checked', page)
        assert sorted(checked) == ["0", "6"]
        assert response.context["builder"]["times"].value() == "07:00"

    def test_saving_keeps_the_builder_out_of_the_job(self, as_editor):
        job = make_job(schedule="*/5 * * * *")
        response = as_editor.get(f"/jobs/{job.pk}/edit/")
        data = {k: v for k, v in response.context["form"].initial.items() if v is not None}
        data |= {"schedule": "30 8 * * 1-5", "builder-mode": "weekly", "builder-times": "08:30"}
        as_editor.post(f"/jobs/{job.pk}/edit/", data)
        job.refresh_from_db()
        assert job.schedule == "30 8 * * 1-5"


class TestSavingAMistake:
    def test_the_field_error_says_what_to_write(self, as_editor):
        data = {
            "name": "nightly",
            "kind": "task",
            "task": "demo.noop",
            "schedule": "every day at 9",
            "timezone": "UTC",
            "max_retries": 0,
            "retry_backoff": "fixed",
            "retry_backoff_seconds": 10,
            "overlap": "skip",
            "max_concurrent": 1,
            "misfire": "once",
            "misfire_limit": 10,
            "priority": 0,
        }
        response = as_editor.post("/jobs/new/", data, headers=HX)
        assert response.status_code == 200
        errors = response.context["form"].errors["schedule"]
        assert any("Did you mean “0 9 * * *”?" in e for e in errors), errors
        assert not Job.objects.exists()

    def test_it_says_so_in_chinese(self, as_editor):
        as_editor.cookies["django_language"] = "zh-hans"
        response = as_editor.post("/jobs/new/", {"schedule": "*/5", "timezone": "UTC"}, headers=HX)
        errors = response.context["form"].errors["schedule"]
        assert any(e.endswith("。是否应为“*/5 * * * *”？") for e in errors), errors


class TestPreviewSuggestions:
    @pytest.mark.parametrize(
        ("typed", "suggested"),
        [
            ("every day at 9", "0 9 * * *"),
            ("9am weekdays", "0 9 * * 1-5"),
            ("*/5", "*/5 * * * *"),
            ("*/5 * * *", "*/5 * * * *"),
            ("0 0 9 ? * MON-FRI", "0 9 * * mon-fri"),
        ],
    )
    def test_it_suggests_what_to_write(self, as_viewer, typed, suggested):
        response = as_viewer.get("/jobs/preview/?" + urlencode({"schedule": typed}), headers=HX)
        page = response.content.decode()
        assert 'role="alert"' in page  # still an error: the parser stays strict
        assert f"Did you mean <code>{suggested}</code>" in page
        assert "Use this" in page and "hx-vals=" in page

    def test_it_suggests_in_chinese(self, as_viewer):
        as_viewer.cookies["django_language"] = "zh-hans"
        query = urlencode({"schedule": "0 0 9 ? * MON-FRI"})
        page = as_viewer.get(f"/jobs/preview/?{query}", headers=HX).content.decode()
        assert "Quartz" in page and "是否应为 <code>0 9 * * mon-fri</code>" in page

    def test_the_preview_honours_start_and_end(self, as_viewer):
        query = urlencode(
            {
                "schedule": "0 9 * * *",
                "timezone": "UTC",
                "start_at": "2030-01-01T00:00",
                "end_at": "2030-01-03T12:00",
            }
        )
        response = as_viewer.get(f"/jobs/preview/?{query}", headers=HX)
        runs = [utc.isoformat() for _, _, utc in response.context["runs"]]
        assert runs == [
            "2030-01-01T09:00:00+00:00",
            "2030-01-02T09:00:00+00:00",
            "2030-01-03T09:00:00+00:00",
        ]

    def test_a_bad_start_leaves_the_preview_unbounded(self, as_viewer):
        query = urlencode({"schedule": "@daily", "start_at": "soon", "end_at": "<b>"})
        response = as_viewer.get(f"/jobs/preview/?{query}", headers=HX)
        assert response.status_code == 200 and len(response.context["runs"]) == 10


def test_job_count_is_untouched_by_the_builder(as_viewer):
    built(as_viewer, mode="manual")
    assert Job.objects.count() == 0
