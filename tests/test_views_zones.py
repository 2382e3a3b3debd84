"""Times that name their zone, and the offer of the browser's zone on a first visit."""

import pytest
from django.contrib.auth.models import User

from jobs.models import UserProfile
from tests.test_views_base import (  # noqa: F401 - fixtures are found by their names
    HX,
    as_viewer_fixture,
    job_fixture,
    logged_in,
    login_redirect,
    make_job,
    make_run,
    viewer_fixture,
)

pytestmark = pytest.mark.django_db
URL = "/profile/timezone/"


class TestZoneOffer:
    def test_a_first_visit_offers_the_browsers_zone(self, as_viewer):
        html = as_viewer.get("/").content.decode()
        assert 'id="zone-offer"' in html and 'data-current="UTC"' in html

    def test_it_is_not_offered_once_a_zone_is_chosen(self, viewer):
        UserProfile.objects.create(user=viewer, timezone="UTC")
        assert 'id="zone-offer"' not in logged_in(viewer).get("/").content.decode()

    def test_taking_it_saves_the_zone_and_redraws_the_page(self, as_viewer, viewer):
        response = as_viewer.post(URL, {"timezone": "Europe/Berlin", "next": "/jobs/"}, headers=HX)
        assert response.status_code == 200 and response["HX-Refresh"] == "true"
        assert UserProfile.objects.get(user=viewer).timezone == "Europe/Berlin"

    def test_it_works_without_htmx(self, as_viewer, viewer):
        response = as_viewer.post(URL, {"timezone": "Asia/Shanghai", "next": "/jobs/"})
        assert response.status_code == 302 and response["Location"] == "/jobs/"
        assert UserProfile.objects.get(user=viewer).timezone == "Asia/Shanghai"

    def test_it_keeps_the_language(self, viewer):
        UserProfile.objects.create(user=viewer, language="zh-hans")
        logged_in(viewer).post(URL, {"timezone": "Asia/Shanghai"})
        profile = UserProfile.objects.get(user=viewer)
        assert (profile.language, profile.timezone) == ("zh-hans", "Asia/Shanghai")

    def test_a_next_elsewhere_is_ignored(self, as_viewer):
        response = as_viewer.post(URL, {"timezone": "UTC", "next": "https://evil.example/"})
        assert response["Location"] == "/profile/"

    def test_it_requires_login(self, client):
        assert login_redirect(client.post(URL, {"timezone": "UTC"}))
        assert not UserProfile.objects.exists()

    def test_a_person_without_a_role_may_set_their_own_zone(self, db):
        nobody = User.objects.create_user("nobody", password="pw-Secret-1")
        logged_in(nobody).post(URL, {"timezone": "Europe/Paris"})
        assert UserProfile.objects.get(user=nobody).timezone == "Europe/Paris"

    def test_it_rejects_get(self, as_viewer):
        assert as_viewer.get(URL).status_code == 405

    @pytest.mark.parametrize("hx", [True, False])
    @pytest.mark.parametrize("zone", ["", "Mars/Olympus", "../etc"])
    def test_it_refuses_a_zone_that_does_not_exist(self, as_viewer, viewer, zone, hx):
        response = as_viewer.post(URL, {"timezone": zone}, headers=HX if hx else {})
        assert not UserProfile.objects.filter(user=viewer).exclude(timezone="").exists()
        if hx:
            assert response.status_code == 200
            assert 'class="error"' in response.content.decode()
        else:
            assert response.status_code == 302


class TestTimesNameTheirZone:
    def test_every_time_says_its_zone(self, viewer):
        UserProfile.objects.create(user=viewer, timezone="Europe/Berlin")
        job = make_job("hourly", schedule="@hourly")
        run = make_run(job)
        for url in ("/", f"/jobs/{job.pk}/", f"/runs/{run.pk}/", "/jobs/"):
            html = logged_in(viewer).get(url).content.decode()
            assert html.count("<time ") >= 1
            # Every absolute time carries its zone; countdowns ("in 5 minutes") need none.
            assert html.count('<span class="zone">') == html.count("<time ") - html.count(
                "data-ago>"
            ), url

    def test_the_next_run_shows_in_the_jobs_zone_too_when_it_differs(self, viewer):
        UserProfile.objects.create(user=viewer, timezone="Europe/Berlin")
        tokyo = make_job("tokyo", schedule="0 9 * * *", timezone="Asia/Tokyo")
        client = logged_in(viewer)
        for url in (f"/jobs/{tokyo.pk}/", "/jobs/"):
            html = client.get(url).content.decode()
            assert 'class="muted small job-zone"' in html, url
            assert '09:00:00 <span class="zone">JST</span>' in html, url

    def test_the_jobs_zone_is_not_repeated_when_it_is_the_viewers(self, viewer):
        UserProfile.objects.create(user=viewer, timezone="Asia/Tokyo")
        tokyo = make_job("tokyo", schedule="0 9 * * *", timezone="Asia/Tokyo")
        html = logged_in(viewer).get(f"/jobs/{tokyo.pk}/").content.decode()
        assert "job-zone" not in html
