"""Chains in the API: `on_success`, `on_failure` and `on_finish` on jobs, `parent_run` on runs."""

# ruff: noqa: F811 - fixtures imported from tests.test_api_support are parameters

import pytest

from jobs.api.openapi import openapi_schema
from jobs.models import AuditEvent, Job, JobLink, Run
from tests.test_api_support import (  # noqa: F401 - fixtures
    TASK_JOB,
    anonymous,
    as_editor,
    as_operator,
    as_viewer,
    editor,
    error_of,
    make_job,
    make_run,
    operator,
    viewer,
)

pytestmark = pytest.mark.django_db


def link_set(job: Job) -> set[tuple[str, int]]:
    return set(JobLink.objects.filter(upstream=job).values_list("event", "downstream_id"))


class TestRead:
    def test_jobs_show_their_links(self, as_viewer):
        b, c = make_job("b"), make_job("c")
        a = make_job("a", on_success=[b], on_failure=[c], on_finish=[b, c])
        item = as_viewer.get(f"/api/v1/jobs/{a.pk}").json()
        assert item["on_success"] == [b.pk]
        assert item["on_failure"] == [c.pk]
        assert item["on_finish"] == [b.pk, c.pk]
        listed = {j["name"]: j for j in as_viewer.get("/api/v1/jobs").json()["results"]}
        assert listed["a"]["on_finish"] == [b.pk, c.pk]
        assert listed["b"]["on_success"] == []

    def test_runs_show_their_parent(self, as_viewer):
        a, b = make_job("a"), make_job("b")
        parent = make_run(a)
        child = make_run(b, trigger=Run.Trigger.CHAIN, parent_run=parent)
        body = as_viewer.get(f"/api/v1/runs/{child.pk}").json()
        assert body["parent_run"] == parent.pk and body["trigger"] == "chain"
        assert as_viewer.get(f"/api/v1/runs/{parent.pk}").json()["parent_run"] is None

    def test_the_schema_documents_them(self):
        schemas = openapi_schema()["components"]["schemas"]
        for name in ("on_success", "on_failure", "on_finish"):
            assert schemas["Job"]["properties"][name]["type"] == "array"
            assert schemas["JobInput"]["properties"][name]["items"]["type"] == "integer"
            assert name in schemas["Job"]["required"]
        assert "chain" in schemas["Run"]["properties"]["trigger"]["enum"]
        assert "parent_run" in schemas["Run"]["properties"]


class TestWrite:
    def test_create_works(self, as_editor):
        b = make_job("b")
        response = as_editor.post("/api/v1/jobs", {**TASK_JOB, "on_success": [b.pk]})
        assert response.status_code == 201, response.content
        job = Job.objects.get(pk=response.json()["id"])
        assert link_set(job) == {("success", b.pk)}
        assert response.json()["on_success"] == [b.pk]

    def test_patch_changes_only_the_events_sent(self, as_editor):
        b, c = make_job("b"), make_job("c")
        a = make_job("a", on_success=[b], on_failure=[c])
        response = as_editor.patch(f"/api/v1/jobs/{a.pk}", {"on_success": [c.pk, b.pk]})
        assert response.status_code == 200, response.content
        assert link_set(a) == {("success", b.pk), ("success", c.pk), ("failure", c.pk)}
        a.refresh_from_db()
        assert a.version == 2
        entry = AuditEvent.objects.get(action="update", object_id=str(a.pk))
        assert entry.changes["on_success"] == [[b.pk], [b.pk, c.pk]]

    def test_an_unchanged_chain_makes_no_version(self, as_editor):
        b = make_job("b")
        a = make_job("a", on_success=[b])
        assert as_editor.patch(f"/api/v1/jobs/{a.pk}", {"on_success": [b.pk]}).status_code == 200
        a.refresh_from_db()
        assert a.version == 1

    def test_put_without_links_removes_them(self, as_editor):
        b = make_job("b")
        a = make_job("a", on_success=[b])
        response = as_editor.put(f"/api/v1/jobs/{a.pk}", {**TASK_JOB, "name": "a"})
        assert response.status_code == 200, response.content
        assert not link_set(a)

    @pytest.mark.parametrize(
        "value",
        [[0], ["1"], [True], "1", {"id": 1}, None, list(range(1, 102)), [2**63]],
    )
    def test_it_rejects_malformed_ids(self, as_editor, value):
        response = as_editor.post("/api/v1/jobs", {**TASK_JOB, "on_failure": value})
        assert response.status_code == 422, response.content
        assert "on_failure" in error_of(response)["fields"]
        assert not Job.objects.exists()

    def test_it_names_missing_jobs_and_itself(self, as_editor):
        a = make_job("a")
        response = as_editor.patch(
            f"/api/v1/jobs/{a.pk}", {"on_success": [a.pk], "on_finish": [999_999]}
        )
        assert response.status_code == 422
        fields = error_of(response)["fields"]
        assert fields["on_success"] == "A job cannot start itself."
        assert fields["on_finish"] == "No job with id 999999."
        assert not link_set(a)

    def test_it_refuses_a_cycle(self, as_editor):
        a = make_job("A")
        b = make_job("B", on_success=[a])
        response = as_editor.patch(f"/api/v1/jobs/{a.pk}", {"on_failure": [b.pk]})
        assert response.status_code == 422
        error = error_of(response)
        assert error["code"] == "invalid"
        assert "A → B → A" in error["fields"]["on_failure"]
        assert not link_set(a)
        a.refresh_from_db()
        assert a.version == 1

    def test_it_requires_a_token(self, anonymous):
        b = make_job("b")
        a = make_job("a")
        response = anonymous.patch(f"/api/v1/jobs/{a.pk}", {"on_success": [b.pk]})
        assert response.status_code == 401
        assert not link_set(a)

    def test_it_requires_the_editor_role(self, as_operator):
        b = make_job("b")
        a = make_job("a")
        response = as_operator.patch(f"/api/v1/jobs/{a.pk}", {"on_success": [b.pk]})
        assert response.status_code == 403
        error_of(response)
        assert not link_set(a)
