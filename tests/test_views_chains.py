"""Chains on the pages: the chain editor of the job form, its search, the job and run pages."""

import pytest

from jobs.models import AuditEvent, Job, JobLink, Run
from tests.test_views_base import (  # noqa: F401 - fixtures are found by their names
    HX,
    as_editor_fixture,
    as_operator_fixture,
    as_viewer_fixture,
    editor_fixture,
    fresh_caches_fixture,
    login_redirect,
    make_job,
    make_run,
    operator_fixture,
    viewer_fixture,
)
from tests.test_views_job_forms import form_data

pytestmark = pytest.mark.django_db


def link_set(job: Job) -> set[tuple[str, str]]:
    return {(link.event, link.downstream.name) for link in job.downstream_links.all()}


class TestChainEditor:
    def test_create_saves_the_chain(self, as_editor):
        b, c = make_job("b"), make_job("c")
        page = as_editor.get("/jobs/new/")
        assert page.status_code == 200
        assert b'id="chain-options"' in page.content
        assert f'name="on_success" value="{b.pk}"'.encode() in page.content
        data = form_data(on_success=[b.pk], on_failure=[c.pk], on_finish=[b.pk, c.pk])
        response = as_editor.post("/jobs/new/", data, headers=HX)
        assert response.status_code == 200 and "HX-Redirect" in response
        job = Job.objects.get(name="nightly")
        assert link_set(job) == {
            ("success", "b"),
            ("failure", "c"),
            ("finish", "b"),
            ("finish", "c"),
        }

    def test_edit_shows_the_ticked_jobs_and_changes_them(self, as_editor):
        b, c = make_job("b"), make_job("c")
        job = make_job("a", on_success=[b])
        page = as_editor.get(f"/jobs/{job.pk}/edit/")
        assert f'name="on_success" value="{b.pk}" checked'.encode() in page.content
        # The job itself is not offered.
        for event in ("on_success", "on_failure", "on_finish"):
            assert f'name="{event}" value="{job.pk}"'.encode() not in page.content
        data = form_data(name="a", on_failure=[c.pk])
        response = as_editor.post(f"/jobs/{job.pk}/edit/", data)
        assert response.status_code == 302
        assert link_set(job) == {("failure", "c")}
        job.refresh_from_db()
        assert job.version == 2
        entry = AuditEvent.objects.get(action="update", object_id=str(job.pk))
        assert entry.changes["on_failure"] == [None, [c.pk]]
        assert entry.changes["on_success"] == [[b.pk], None]
        versions = as_editor.get(f"/jobs/{job.pk}/versions/").content.decode()
        assert "on_failure" in versions and "on_success" in versions

    @pytest.mark.parametrize("hx", [True, False])
    def test_a_cycle_is_refused_at_the_field(self, as_editor, hx):
        a = make_job("A")
        b = make_job("B", on_success=[a])
        data = form_data(name="A", on_finish=[b.pk])
        response = as_editor.post(f"/jobs/{a.pk}/edit/", data, headers=HX if hx else {})
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert "A → B → A" in errors["on_finish"][0]
        assert "A → B → A" in response.content.decode()
        assert (b"<html" in response.content) is not hx
        # What was ticked stays ticked, so the person can fix it.
        assert f'name="on_finish" value="{b.pk}" checked'.encode() in response.content
        assert not JobLink.objects.filter(upstream=a).exists()
        a.refresh_from_db()
        assert a.version == 1

    def test_it_refuses_unknown_jobs_and_itself(self, as_editor):
        a = make_job("a")
        response = as_editor.post(f"/jobs/{a.pk}/edit/", form_data(name="a", on_success=[a.pk]))
        assert response.context["form"].errors["on_success"] == ["A job cannot start itself."]
        response = as_editor.post(f"/jobs/{a.pk}/edit/", form_data(name="a", on_failure=[999]))
        assert "Select a valid choice" in response.context["form"].errors["on_failure"][0]
        assert not JobLink.objects.exists()

    def test_it_checks_role(self, as_operator):
        b = make_job("b")
        a = make_job("a")
        response = as_operator.post(f"/jobs/{a.pk}/edit/", form_data(name="a", on_success=[b.pk]))
        assert response.status_code == 403
        assert not JobLink.objects.exists()


class TestChainOptions:
    url = "/jobs/chain-options/"

    def test_it_works(self, as_editor):
        alpha, beta, gamma = make_job("alpha"), make_job("beta"), make_job("gamma")
        response = as_editor.get(
            self.url, {"chain_q": "alp", "on_failure": [gamma.pk], "job": beta.pk}, headers=HX
        )
        assert response.status_code == 200
        names = [row["job"].name for row in response.context["chain_rows"]]
        # The ticked job stays listed (and ticked) whatever the search says.
        assert names == ["gamma", "alpha"]
        assert f'name="on_failure" value="{gamma.pk}" checked'.encode() in response.content
        assert f'name="on_success" value="{alpha.pk}" aria-label'.encode() in response.content
        assert b"<html" not in response.content

    def test_it_leaves_out_the_job_being_edited(self, as_editor):
        a, b = make_job("a"), make_job("b")
        response = as_editor.get(self.url, {"job": a.pk})
        assert [row["job"] for row in response.context["chain_rows"]] == [b]

    def test_it_says_when_nothing_matches_and_when_more_do(self, as_editor):
        for i in range(25):
            make_job(f"job {i:02}")
        assert b"No job matches" in as_editor.get(self.url, {"chain_q": "zzz"}).content
        response = as_editor.get(self.url)
        assert len(response.context["chain_rows"]) == 20 and response.context["chain_more"]

    def test_it_ignores_bad_input(self, as_editor):
        make_job("a")
        response = as_editor.get(self.url, {"on_success": ["x", "-1"], "job": "nope"})
        assert response.status_code == 200
        assert [row["job"].name for row in response.context["chain_rows"]] == ["a"]

    def test_it_requires_login(self, client):
        assert login_redirect(client.get(self.url))

    def test_it_checks_role(self, client):
        from tests.conftest import user_with_role

        client.force_login(user_with_role(None, "nobody"))
        assert client.get(self.url).status_code == 403

    def test_it_rejects_post(self, as_editor):
        assert as_editor.post(self.url).status_code == 405


class TestPages:
    def test_the_job_page_shows_both_directions(self, as_viewer):
        c = make_job("c")
        b = make_job("b", on_failure=[c])
        a = make_job("a", on_success=[b])
        page = as_viewer.get(f"/jobs/{b.pk}/").content.decode()
        assert f'href="/jobs/{a.pk}/">a</a> <span class="muted">(On success)' in page
        assert f'href="/jobs/{c.pk}/">c</a> <span class="muted">(On failure)' in page
        assert "no other job" in as_viewer.get(f"/jobs/{c.pk}/").content.decode()

    def test_the_run_page_links_parent_and_children(self, as_viewer):
        a, b = make_job("a"), make_job("b")
        parent = make_run(a)
        child = make_run(b, trigger=Run.Trigger.CHAIN, parent_run=parent)
        page = as_viewer.get(f"/runs/{child.pk}/").content.decode()
        assert f'href="/runs/{parent.pk}/">a #{parent.pk}</a>' in page
        assert "Chain" in page
        page = as_viewer.get(f"/runs/{parent.pk}/").content.decode()
        assert f'href="/runs/{child.pk}/">b #{child.pk}</a>' in page
        live = as_viewer.get(f"/runs/{parent.pk}/live/", headers=HX).content.decode()
        assert f'href="/runs/{child.pk}/">b #{child.pk}</a>' in live

    def test_the_runs_filter_offers_chain_runs(self, as_viewer):
        a, b = make_job("a"), make_job("b")
        make_run(b, trigger=Run.Trigger.CHAIN, parent_run=make_run(a))
        response = as_viewer.get(f"/jobs/{b.pk}/?trigger=chain")
        assert len(response.context["runs"]) == 1
