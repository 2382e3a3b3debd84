"""The change counters open pages watch, and the endpoint that answers "changed since?"."""

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from jobs import live, services
from jobs.models import Executor, Job, LiveTopic, Run, SchedulerLease, SchedulerNode
from tests.conftest import user_with_role
from tests.test_views_base import (  # noqa: F401 - fixtures are found by their names
    HX,
    as_viewer_fixture,
    job_fixture,
    logged_in,
    login_redirect,
    make_run,
    viewer_fixture,
)
from tests.test_views_base import make_job as make_view_job


def make_service_job(name: str = "Nightly") -> Job:
    return services.job_create(
        actor=None,
        name=name,
        kind="task",
        config={"task": "demo.echo", "params": {"message": "hi"}},
        schedule="@manual",
    )


def bumped(before: dict[str, int], *topics: str) -> set[str]:
    after = live.versions(before)
    return {t for t in before if after[t] != before[t]}


ALL = ("runs", "jobs", "executors", "schedulers")


@pytest.mark.django_db(transaction=True)
class TestTriggers:
    def test_a_run_written_by_any_means_bumps_runs_and_its_job(self):
        job, other = make_service_job(), make_service_job("Other")
        topics = (*ALL, live.job_topic(job.pk), live.job_topic(other.pk))
        before = live.versions(topics)
        run = services.job_run_now(actor=None, job=job)
        assert bumped(before) >= {"runs", f"job:{job.pk}"}
        assert f"job:{other.pk}" not in bumped(before)

        before = live.versions(topics)
        Run.objects.filter(pk=run.pk).update(state=Run.State.RUNNING)
        assert bumped(before) == {"runs", f"job:{job.pk}"}

        before = live.versions(topics)
        with connection.cursor() as cursor:
            cursor.execute("UPDATE jobs_run SET state = 'succeeded' WHERE id = %s", [run.pk])
        assert bumped(before) == {"runs", f"job:{job.pk}"}

        before = live.versions(topics)
        Run.objects.filter(pk=run.pk).delete()
        assert bumped(before) == {"runs", f"job:{job.pk}"}

    def test_a_job_changed_by_update_bumps_jobs_and_the_job(self):
        job = make_service_job()
        before = live.versions((*ALL, live.job_topic(job.pk)))
        Job.objects.filter(pk=job.pk).update(state=Job.State.PAUSED)
        assert bumped(before) == {"jobs", f"job:{job.pk}"}

    def test_scheduler_heartbeats_alone_do_not_count(self):
        node = SchedulerNode.objects.create(host="h", pid=1)
        before = live.versions(ALL)
        SchedulerNode.objects.filter(pk=node.pk).update(heartbeat_at=node.heartbeat_at)
        assert bumped(before) == set()
        SchedulerNode.objects.filter(pk=node.pk).update(stopped_at=node.heartbeat_at)
        assert bumped(before) == {"schedulers"}

        lease = SchedulerLease.objects.create(name="scheduler")
        before = live.versions(ALL)
        SchedulerLease.objects.filter(pk=lease.pk).update(expires_at=node.heartbeat_at)
        assert bumped(before) == set()
        SchedulerLease.objects.filter(pk=lease.pk).update(holder=node, term=1)
        assert bumped(before) == {"schedulers"}

    def test_executors_count(self):
        before = live.versions(ALL)
        Executor.objects.create(name="billing", base_url="http://127.0.0.1:9/")
        assert bumped(before) == {"executors"}

    def test_the_triggers_survive_a_reinstall(self):
        live.install_triggers(connection)
        live.install_triggers(connection)
        before = live.versions(["jobs"])
        make_service_job()
        assert bumped(before) == {"jobs"}
        assert LiveTopic.objects.filter(topic="jobs").exists()


# Transactional: on PostgreSQL the counters move when the writing transaction commits.
@pytest.mark.django_db(transaction=True)
class TestLiveChanges:
    """GET /live/?topics=…&since=…: the question an open page asks every 2 s."""

    def ask(self, client, topics: str, since: str, **headers):
        return client.get(
            reverse("jobs:live_changes"), {"topics": topics, "since": since}, headers=headers
        )

    def test_it_answers_nothing_changed_with_204(self, as_viewer, job):
        watched = live.watch("runs", live.job_topic(job.pk))
        response = self.ask(as_viewer, watched["topics"], watched["since"], **HX)
        assert response.status_code == 204
        assert response.content == b""
        assert "HX-Trigger" not in response

    def test_it_names_the_topics_that_changed(self, as_viewer, job, django_assert_num_queries):
        other = make_view_job("other")
        watched = live.watch("runs", live.job_topic(job.pk), live.job_topic(other.pk))
        make_run(job, Run.State.QUEUED)
        response = self.ask(as_viewer, watched["topics"], watched["since"], **HX)
        assert response.status_code == 200
        events = json.loads(response["HX-Trigger"])
        assert set(events) == {"live-runs", f"live-job-{job.pk}"}
        # The new watcher carries the new versions: asked again, nothing changed.
        now = live.watch("runs", live.job_topic(job.pk), live.job_topic(other.pk))
        assert f"since={now['since']}" in response.content.decode()
        assert LiveTopic.objects.get(topic=f"job:{job.pk}").version >= 1
        assert self.ask(as_viewer, now["topics"], now["since"], **HX).status_code == 204

    def test_it_is_one_lookup_besides_the_session(self, as_viewer, job):
        watched = live.watch("runs", "jobs")
        as_viewer.get("/")  # warm the session and the user
        with CaptureQueriesContext(connection) as queries:
            self.ask(as_viewer, watched["topics"], watched["since"], **HX)
        topic_queries = [q["sql"] for q in queries if "jobs_livetopic" in q["sql"]]
        assert len(topic_queries) == 1

    def test_plain_clients_get_an_etag_and_304(self, as_viewer):
        watched = live.watch("jobs")
        first = self.ask(as_viewer, watched["topics"], "")
        assert first.status_code == 200 and first["ETag"] == f'"{watched["since"]}"'
        again = self.ask(as_viewer, watched["topics"], "", **{"If-None-Match": first["ETag"]})
        assert again.status_code == 304
        make_view_job("new")
        changed = self.ask(as_viewer, watched["topics"], "", **{"If-None-Match": first["ETag"]})
        assert changed.status_code == 200

    def test_it_requires_login(self, client):
        response = self.ask(client, "runs", "0")
        assert login_redirect(response)

    def test_it_requires_a_role(self, db):
        nobody = logged_in(user_with_role(None, "nobody"))
        assert self.ask(nobody, "runs", "0", **HX).status_code == 403

    def test_it_rejects_post(self, as_viewer):
        assert as_viewer.post(reverse("jobs:live_changes") + "?topics=runs").status_code == 405

    @pytest.mark.parametrize(
        "topics", ["", "secrets", "job:abc", "job:0", "runs,jobs,x", ",".join(["runs"] * 9)]
    )
    def test_it_rejects_unknown_topics(self, as_viewer, topics):
        response = self.ask(as_viewer, topics, "0", **HX)
        assert response.status_code == 400
        assert not LiveTopic.objects.filter(topic=topics).exists()

    def test_a_garbled_since_counts_as_changed(self, as_viewer):
        response = self.ask(as_viewer, "runs,jobs", "x.y.z", **HX)
        assert response.status_code == 200
        assert set(json.loads(response["HX-Trigger"])) == {"live-runs", "live-jobs"}


@pytest.mark.django_db
class TestPagesWatch:
    @pytest.mark.parametrize(
        ("url", "topics"),
        [
            ("/", "runs,jobs,schedulers"),
            ("/jobs/", "runs,jobs"),
            ("/executors/", "executors,jobs"),
            ("/schedulers/", "schedulers,jobs"),
        ],
    )
    def test_each_live_page_watches_its_topics(self, as_viewer, url, topics):
        response = as_viewer.get(url)
        assert response.context["live_watch"]["topics"] == topics
        html = response.content.decode()
        assert 'id="live-watch"' in html and "data-live-refresh" in html
        assert 'id="ago-words"' in html

    def test_the_job_and_run_pages_watch_their_job(self, as_viewer, job):
        run = make_run(job)
        for url in (f"/jobs/{job.pk}/", f"/runs/{run.pk}/"):
            response = as_viewer.get(url)
            assert response.context["live_watch"]["topics"] == f"job:{job.pk}"

    def test_the_jobs_list_partial_does_not_nest_a_watcher(self, as_viewer, job):
        html = as_viewer.get("/jobs/", headers=HX).content.decode()
        assert 'id="job-table"' in html and 'id="live-watch"' not in html

    def test_countdowns_carry_their_instant(self, as_viewer):
        make_view_job("hourly", schedule="@hourly")
        html = as_viewer.get("/").content.decode()
        assert re.search(r'<time datetime="[^"]+" data-ago>in \d+\s(minutes?|s)</time>', html)


@pytest.mark.django_db
def test_a_run_page_names_the_jobs_newest_run_once(as_viewer, job):
    old = make_run(job, Run.State.FAILED, ago=120)
    assert as_viewer.get(f"/runs/{old.pk}/").context["newer_run"] is None
    newer = make_run(job, Run.State.RUNNING, ago=5)
    response = as_viewer.get(f"/runs/{old.pk}/live/", headers=HX)
    assert response.context["newer_run"] == newer
    assert f'href="/runs/{newer.pk}/"' in response.content.decode()
    # A run of the same slot is linked as such already, not twice.
    again = make_run(job, Run.State.QUEUED, ago=1, stands_for=old)
    assert as_viewer.get(f"/runs/{old.pk}/").context["newer_run"] is None
    assert again.stands_for_id == old.pk
