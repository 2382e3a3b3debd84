"""Exporting job definitions to JSON or YAML and importing them back (jobs.services.transfer)."""

import json
from datetime import timedelta
from io import StringIO

import pytest
import yaml
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from jobs import services
from jobs.audit import SECRET_MASK
from jobs.models import AuditEvent, Job, JobLink, JobVersion
from jobs.services import JobFileError, job_definition
from jobs.vault import unseal
from tests.conftest import user_with_role
from tests.test_api_support import make_http_job, make_job

pytestmark = pytest.mark.django_db


def some_jobs() -> list[Job]:
    later = timezone.now() + timedelta(days=3)
    return [
        make_job("nightly report", labels={"team": "data"}, description="Sends 日报", priority=3),
        make_job(
            "weekly",
            schedule="0 9 * * 1",
            timezone="Europe/Berlin",
            start_at=timezone.now() + timedelta(days=1),
            max_retries=2,
            retry_backoff="exponential",
        ),
        make_job(
            "hook",
            kind="http",
            config={
                "method": "POST",
                "url": "https://example.com/hook",
                "headers": {"X-Team": "data"},
                "body": "{}",
                "expect_status": [200, 204],
            },
        ),
        services.job_pause(
            actor=None, job=make_job("paused one"), until=later, note="until the migration"
        ),
    ]


def definitions() -> dict[str, dict]:
    return {job.name: job_definition(job) for job in Job.objects.all()}


def states() -> dict[str, tuple]:
    return {job.name: (job.state, job.paused_until, job.pause_note) for job in Job.objects.all()}


def written() -> tuple[int, int, int]:
    return Job.objects.count(), JobVersion.objects.count(), AuditEvent.objects.count()


def plan(text: str, fmt: str = "yaml", **options) -> services.ImportPlan:
    return services.jobs_import_plan(actor=None, text=text, fmt=fmt, **options)


def apply(text: str, fmt: str = "yaml", **options) -> services.ImportPlan:
    return services.jobs_import_apply(actor=None, text=text, fmt=fmt, **options)


class TestExport:
    def test_it_writes_yaml_keyed_by_name(self):
        some_jobs()
        document = yaml.safe_load(services.jobs_export(actor=None, fmt="yaml"))
        assert set(document) == {"version", "jobs"} and document["version"] == 1
        assert list(document["jobs"]) == ["hook", "nightly report", "paused one", "weekly"]
        report = document["jobs"]["nightly report"]
        assert report["config"] == {"task": "demo.echo", "params": {"message": "hi"}}
        assert report["description"] == "Sends 日报" and report["labels"] == {"team": "data"}
        assert (report["state"], report["paused_until"], report["pause_note"]) == (
            "active",
            None,
            "",
        )
        assert "name" not in report
        paused = document["jobs"]["paused one"]
        assert paused["state"] == "paused" and paused["pause_note"] == "until the migration"
        assert paused["paused_until"].endswith("+00:00")

    def test_it_writes_json(self):
        some_jobs()
        text = services.jobs_export(actor=None, fmt="json", names=["weekly"])
        document = json.loads(text)
        assert list(document["jobs"]) == ["weekly"]
        assert document["jobs"]["weekly"]["timezone"] == "Europe/Berlin"
        assert document["jobs"]["weekly"]["start_at"].endswith("+00:00")

    def test_it_masks_secrets(self):
        make_http_job("hook")  # Authorization: Bearer s3cret
        text = services.jobs_export(actor=None, fmt="yaml")
        assert "s3cret" not in text
        headers = yaml.safe_load(text)["jobs"]["hook"]["config"]["headers"]
        assert headers == {"Authorization": SECRET_MASK, "X-Team": "data"}

    def test_it_exports_the_jobs_picked_by_id(self):
        jobs = some_jobs()
        text = services.jobs_export(actor=None, fmt="json", ids=[jobs[0].pk, jobs[2].pk])
        assert list(json.loads(text)["jobs"]) == ["hook", "nightly report"]

    def test_it_refuses_unknown_names(self):
        make_job("echo")
        with pytest.raises(ValidationError) as caught:
            services.jobs_export(actor=None, fmt="json", names=["echo", "nope"])
        assert caught.value.error_dict["name"][0].code == "not_found"
        assert "nope" in caught.value.messages[0]

    def test_every_role_that_reads_may_export(self):
        make_job("echo")
        text = services.jobs_export(actor=user_with_role("Viewer"), fmt="yaml")
        assert "echo" in text
        with pytest.raises(PermissionDenied):
            services.jobs_export(actor=user_with_role(None), fmt="yaml")


class TestRoundTrip:
    @pytest.mark.parametrize("fmt", ["json", "yaml"])
    def test_an_empty_database_gets_the_same_definitions(self, fmt):
        some_jobs()
        before, before_states = definitions(), states()
        text = services.jobs_export(actor=None, fmt=fmt)
        Job.objects.all().delete()
        result = apply(text, fmt)
        assert [job.action for job in result.jobs] == ["create"] * 4
        assert definitions() == before
        assert states() == before_states

    @pytest.mark.parametrize("fmt", ["json", "yaml"])
    def test_a_round_trip_changes_nothing(self, fmt):
        some_jobs()
        make_http_job("secret hook")
        text = services.jobs_export(actor=None, fmt=fmt)
        counts = written()
        result = plan(text, fmt)
        assert result.counts == {"create": 0, "change": 0, "unchanged": 5, "delete": 0}
        assert not result.writes
        applied = apply(text, fmt, fingerprint=result.fingerprint)
        assert applied.applied and applied.counts["unchanged"] == 5
        assert written() == counts  # no new versions, no audit entries


class TestPlan:
    def test_it_reports_creates_changes_and_unchanged_and_writes_nothing(self):
        some_jobs()
        document = yaml.safe_load(services.jobs_export(actor=None, fmt="yaml"))
        document["jobs"]["weekly"]["schedule"] = "0 10 * * 1"
        document["jobs"]["nightly report"]["config"]["params"] = {"message": "bye"}
        document["jobs"]["paused one"]["state"] = "active"
        document["jobs"]["new one"] = {
            "kind": "task",
            "schedule": "@daily",
            "config": {"task": "demo.noop"},
        }
        counts, before = written(), definitions()
        result = plan(yaml.safe_dump(document))
        by_name = {job.name: job for job in result.jobs}
        assert by_name["weekly"].action == "change"
        assert by_name["weekly"].changes == {"schedule": ["0 9 * * 1", "0 10 * * 1"]}
        assert by_name["nightly report"].changes == {
            "config.params": [{"message": "hi"}, {"message": "bye"}]
        }
        assert by_name["paused one"].changes["state"] == ["paused", "active"]
        assert by_name["new one"].action == "create"
        assert by_name["hook"].action == "unchanged"
        assert result.counts == {"create": 1, "change": 3, "unchanged": 1, "delete": 0}
        assert written() == counts and definitions() == before
        assert Job.objects.get(name="paused one").state == "paused"

    def test_it_applies_what_it_planned(self):
        some_jobs()
        document = yaml.safe_load(services.jobs_export(actor=None, fmt="yaml"))
        document["jobs"]["weekly"]["max_retries"] = 5
        document["jobs"]["paused one"]["state"] = "active"
        text = yaml.safe_dump(document)
        planned = plan(text)
        applied = apply(text, fingerprint=planned.fingerprint)
        assert [(j.name, j.action, j.changes) for j in applied.jobs] == [
            (j.name, j.action, j.changes) for j in planned.jobs
        ]
        weekly = Job.objects.get(name="weekly")
        assert weekly.max_retries == 5 and weekly.version == 2
        assert Job.objects.get(name="paused one").state == "active"

    def test_left_out_fields_take_their_defaults(self):
        make_job("echo", max_retries=3, labels={"a": "b"})
        text = "version: 1\njobs:\n  echo:\n    kind: task\n    schedule: '*/5 * * * *'\n"
        text += "    config: {task: demo.echo, params: {message: hi}}\n"
        result = plan(text)
        assert result.jobs[0].changes == {"labels": [{"a": "b"}, {}], "max_retries": [3, 0]}

    def test_it_refuses_an_apply_when_the_jobs_changed_since_the_plan(self):
        job = make_job("echo")
        text = services.jobs_export(actor=None, fmt="yaml").replace("hi", "bye")
        planned = plan(text)
        services.job_update(actor=None, job=job, priority=4)
        counts = written()
        with pytest.raises(ValidationError) as caught:
            apply(text, fingerprint=planned.fingerprint)
        assert caught.value.code == "conflict"
        assert written() == counts
        assert Job.objects.get(name="echo").config["params"] == {"message": "hi"}


class TestDeleteMissing:
    def test_it_deletes_only_when_asked(self):
        make_job("kept")
        make_job("gone")
        text = services.jobs_export(actor=None, fmt="yaml", names=["kept"])
        assert plan(text).counts["delete"] == 0
        result = plan(text, delete_missing=True)
        assert [(job.name, job.action) for job in result.jobs] == [
            ("kept", "unchanged"),
            ("gone", "delete"),
        ]
        assert Job.objects.filter(name="gone").exists()  # a plan only
        apply(text, delete_missing=True)
        assert list(Job.objects.values_list("name", flat=True)) == ["kept"]
        assert AuditEvent.objects.filter(action="delete", object_repr="gone").exists()

    def test_it_refuses_to_delete_a_job_the_file_links_to(self):
        gone = make_job("gone")
        make_job("kept", on_success=[gone])
        text = services.jobs_export(actor=None, fmt="yaml", names=["kept"])
        assert plan(text).counts["unchanged"] == 1  # without deleting, the link stays
        counts = written()
        with pytest.raises(JobFileError) as caught:
            apply(text, delete_missing=True)
        assert caught.value.path == "jobs.kept.on_success"
        assert "“gone” is not in the file, so deleting" in caught.value.messages[0]
        assert text.splitlines()[caught.value.line - 1].startswith("    on_success:")
        assert written() == counts

    def test_a_deleted_job_takes_its_links_along(self):
        kept = make_job("kept")
        make_job("gone", on_failure=[kept])
        text = services.jobs_export(actor=None, fmt="yaml", names=["kept"])
        result = apply(text, delete_missing=True)
        assert [(job.name, job.action) for job in result.jobs] == [
            ("kept", "unchanged"),
            ("gone", "delete"),
        ]
        assert not JobLink.objects.exists()


def linked_jobs() -> None:
    report, alert = make_job("report"), make_job("alert")
    load = make_job("load warehouse", on_finish=[report])
    make_job("extract", on_success=[load, report], on_failure=[alert])


def links() -> set[tuple[str, str, str]]:
    rows = JobLink.objects.values_list("upstream__name", "event", "downstream__name")
    return set(rows)


LINKED = {
    ("extract", "success", "load warehouse"),
    ("extract", "success", "report"),
    ("extract", "failure", "alert"),
    ("load warehouse", "finish", "report"),
}
TASK = "    kind: task\n    schedule: '@daily'\n    config: {task: demo.noop}\n"
# "a" starts "b", which comes later in the file: line 7 is a's on_success, 8 is "b:".
FORWARD = f"version: 1\njobs:\n  a:\n{TASK}    on_success: [b]\n  b:\n{TASK}"


class TestChains:
    def test_it_exports_links_by_name(self):
        linked_jobs()
        document = yaml.safe_load(services.jobs_export(actor=None, fmt="yaml"))
        extract = document["jobs"]["extract"]
        assert extract["on_success"] == ["load warehouse", "report"]
        assert extract["on_failure"] == ["alert"] and "on_finish" not in extract
        assert document["jobs"]["load warehouse"]["on_finish"] == ["report"]
        assert "on_success" not in document["jobs"]["report"]

    def test_a_subset_names_the_jobs_it_leaves_out(self):
        linked_jobs()
        text = services.jobs_export(actor=None, fmt="json", names=["extract"])
        assert json.loads(text)["jobs"]["extract"]["on_failure"] == ["alert"]

    @pytest.mark.parametrize("fmt", ["json", "yaml"])
    def test_a_round_trip_changes_nothing(self, fmt):
        linked_jobs()
        text = services.jobs_export(actor=None, fmt=fmt)
        counts = written()
        result = plan(text, fmt)
        assert result.counts == {"create": 0, "change": 0, "unchanged": 4, "delete": 0}
        apply(text, fmt, fingerprint=result.fingerprint)
        assert written() == counts and links() == LINKED

    @pytest.mark.parametrize("fmt", ["json", "yaml"])
    def test_an_empty_database_gets_the_links(self, fmt):
        linked_jobs()
        text = services.jobs_export(actor=None, fmt=fmt)
        Job.objects.all().delete()
        result = apply(text, fmt)
        assert result.counts["create"] == 4
        assert links() == LINKED
        # Each job is saved once, with its links: one version each.
        assert set(Job.objects.values_list("version", flat=True)) == {1}
        assert JobVersion.objects.count() == 4
        extract = next(job for job in result.jobs if job.name == "extract")
        assert extract.changes["on_success"] == [None, ["load warehouse", "report"]]

    def test_a_job_may_start_one_later_in_the_file(self):
        result = apply(FORWARD)
        assert [(job.name, job.action) for job in result.jobs] == [("a", "create"), ("b", "create")]
        assert result.jobs[0].changes["on_success"] == [None, ["b"]]
        assert links() == {("a", "success", "b")}
        assert JobVersion.objects.count() == 2

    def test_the_plan_shows_link_changes_by_name(self):
        linked_jobs()
        document = yaml.safe_load(services.jobs_export(actor=None, fmt="yaml"))
        document["jobs"]["extract"]["on_success"] = ["report"]
        document["jobs"]["extract"]["on_finish"] = ["alert"]
        del document["jobs"]["load warehouse"]["on_finish"]
        counts = written()
        result = plan(yaml.safe_dump(document))
        by_name = {job.name: job for job in result.jobs}
        assert by_name["extract"].changes == {
            "on_finish": [None, ["alert"]],
            "on_success": [["load warehouse", "report"], ["report"]],
        }
        assert by_name["load warehouse"].changes == {"on_finish": [["report"], None]}
        assert result.counts["unchanged"] == 2
        assert written() == counts and links() == LINKED

    def test_links_may_be_turned_around(self):
        b = make_job("b")
        make_job("a", on_success=[b])
        # Linking b to a first would close a cycle with the link a still has: the order of
        # saving, not of the file, decides.
        text = f"version: 1\njobs:\n  b:\n{TASK}    on_success: [a]\n  a:\n{TASK}"
        result = apply(text)
        assert result.counts["change"] == 2
        assert links() == {("b", "success", "a")}
        assert set(Job.objects.values_list("version", flat=True)) == {2}

    def test_jobs_left_out_of_the_file_keep_their_links(self):
        b = make_job("b")
        x = make_job("x", on_success=[b])
        make_job("a", on_success=[x])
        # a → x → b becomes x → b → a: fine once a is saved before b.
        text = f"version: 1\njobs:\n  b:\n{TASK}    on_success: [a]\n  a:\n{TASK}"
        apply(text)
        assert links() == {("x", "success", "b"), ("b", "success", "a")}

    def test_an_unknown_name_is_refused_with_its_line_and_field(self):
        make_job("first")
        text = f"version: 1\njobs:\n  first:\n{TASK}  new:\n{TASK}"
        text += "    on_failure: [first]\n    on_success: [first, nope]\n"
        counts, before = written(), definitions()
        for attempt in (plan, apply):
            with pytest.raises(JobFileError) as caught:
                attempt(text)
            error = caught.value
            assert (error.line, error.path) == (12, "jobs.new.on_success")
            assert error.messages[0] == (
                "Line 12 (job “new”, on_success): "
                "No job is named “nope”, in the file or on this server."
            )
        assert written() == counts and definitions() == before
        assert not JobLink.objects.exists()

    def test_a_cycle_in_the_file_is_refused(self):
        text = FORWARD + "    on_failure: [a]\n"  # line 12
        for attempt in (plan, apply):
            with pytest.raises(JobFileError) as caught:
                attempt(text)
            error = caught.value
            assert (error.line, error.path) == (12, "jobs.b.on_failure")
            assert "This would make a cycle: b → a → b." in error.messages[0]
            assert error.messages[0].startswith("Line 12 (job “b”, on_failure): ")
        assert not Job.objects.exists() and not JobLink.objects.exists()

    def test_a_cycle_through_a_job_left_out_is_refused(self):
        a = make_job("a")
        make_job("x", on_success=[a])
        counts = written()
        text = f"version: 1\njobs:\n  a:\n{TASK}    on_finish: [x]\n"
        with pytest.raises(JobFileError) as caught:
            apply(text)
        assert caught.value.path == "jobs.a.on_finish"
        assert "a → x → a" in caught.value.messages[0]
        assert written() == counts

    def test_a_job_cannot_start_itself(self):
        with pytest.raises(JobFileError) as caught:
            apply(FORWARD.replace("[b]", "[a]"))
        assert (caught.value.line, caught.value.path) == (7, "jobs.a.on_success")
        assert "cannot start itself" in caught.value.messages[0]
        assert not Job.objects.exists()

    @pytest.mark.parametrize("value", ["b", "[1]", "['']", "{b: 1}", "null"])
    def test_links_must_be_a_list_of_names(self, value):
        with pytest.raises(JobFileError) as caught:
            plan(FORWARD.replace("[b]", value))
        assert (caught.value.line, caught.value.path) == (7, "jobs.a.on_success")


class TestSecrets:
    def test_the_placeholder_keeps_the_stored_value(self):
        job = make_http_job("hook")
        document = yaml.safe_load(services.jobs_export(actor=None, fmt="yaml"))
        assert document["jobs"]["hook"]["config"]["headers"]["Authorization"] == SECRET_MASK
        document["jobs"]["hook"]["config"]["headers"]["X-Team"] = "web"
        result = apply(yaml.safe_dump(document, allow_unicode=True))
        assert result.jobs[0].changes == {
            "config.headers": [
                {"Authorization": SECRET_MASK, "X-Team": "data"},
                {"Authorization": SECRET_MASK, "X-Team": "web"},
            ]
        }
        job.refresh_from_db()
        assert unseal(job.config["headers"]["Authorization"]) == "Bearer s3cret"
        assert job.config["headers"]["X-Team"] == "web"

    def test_a_new_secret_value_replaces_it(self):
        job = make_http_job("hook")
        document = yaml.safe_load(services.jobs_export(actor=None, fmt="yaml"))
        document["jobs"]["hook"]["config"]["headers"]["Authorization"] = "Bearer new"
        apply(yaml.safe_dump(document))
        job.refresh_from_db()
        assert unseal(job.config["headers"]["Authorization"]) == "Bearer new"

    def test_the_placeholder_is_refused_for_a_new_job(self):
        make_http_job("hook")
        text = services.jobs_export(actor=None, fmt="yaml").replace("hook:", "other:", 1)
        counts = written()
        with pytest.raises(JobFileError) as caught:
            plan(text)
        error = caught.value
        assert (error.job, error.field) == ("other", "config.headers.Authorization")
        assert text.splitlines()[error.line - 1].strip().startswith("Authorization:")
        assert "real value" in error.messages[0]
        assert written() == counts


GOOD = "version: 1\njobs:\n  first:\n    kind: task\n    schedule: '@daily'\n"
GOOD += "    config: {task: demo.noop}\n"
# Line 7 is "bad:", 8 its kind, 9 its schedule, 10 the next field.
BAD = GOOD + "  bad:\n    kind: task\n    schedule: '@daily'\n"
JSON_TWO = """{"version": 1,
 "jobs": {
  "a": {"kind": "task", "schedule": "@daily", "config": {"task": "demo.noop"}},
  "b": {"kind": "task", "config": {"task": "demo.noop"},
        "schedule": "@often"}}}"""
PAUSED_BEFORE = (
    BAD + "    config: {task: demo.noop}\n    state: paused\n    paused_until: 2001-01-01T00:00Z\n"
)
JSON_KEY_TWICE = '{"version": 1,\n "jobs": {"a": {"kind": "task", "kind": "http"}}}'
NUL = '{"version": 1, "jobs": {"a": {"kind": "task", "description": "\\u0000"}}}'


@pytest.mark.parametrize(
    ("text", "fmt", "line", "path", "message"),
    [
        ("jobs: {}\n", "yaml", 1, "version", "no “version”"),
        ("version: 2\njobs: {}\n", "yaml", 1, "version", "Version 2 is not one"),
        ("version: '1'\njobs: {}\n", "yaml", 1, "version", "Version '1' is not one"),
        ("version: 1\n", "yaml", 1, "jobs", "no “jobs”"),
        ("version: 1\njobs: [a, b]\n", "yaml", 2, "jobs", "mapping of job names"),
        ("- 1\n- 2\n", "yaml", 1, "file", "must be a mapping"),
        ("[1, 2]", "json", 1, "file", "must be a mapping"),
        ("version: 1\njobs: {}\nextra: 1\n", "yaml", 3, "extra", "Unknown key"),
        ("version: 1\njobs:\n  a: [1]\n", "yaml", 3, "jobs.a", "must be a mapping of its fields"),
        (BAD + "    config: {}\n", "yaml", 10, "jobs.bad.config.task", "registered task"),
        (
            GOOD + "  bad:\n    kind: task\n    schedule: '@daily'\n",
            "yaml",
            7,
            "jobs.bad.config.task",
            "registered",
        ),
        (GOOD + "  bad:\n    kind: ftp\n", "yaml", 8, "jobs.bad.kind", "“ftp” is not one of"),
        (GOOD + "  bad:\n    schedule: '@daily'\n", "yaml", 7, "jobs.bad.kind", "required"),
        (
            GOOD
            + "  bad:\n    kind: task\n    config: {task: demo.noop}\n    schedule: 61 * * * *\n",
            "yaml",
            10,
            "jobs.bad.schedule",
            "61 is out of range",
        ),
        (BAD + "    config:\n      task: no.such\n", "yaml", 11, "jobs.bad.config.task", "no.such"),
        (GOOD + "  first:\n    kind: task\n", "yaml", 7, "jobs.first", "twice (first on line 3)"),
        (BAD + "    max_retries: three\n", "yaml", 10, "jobs.bad.max_retries", "whole number"),
        (BAD + "    max_retries: true\n", "yaml", 10, "jobs.bad.max_retries", "whole number"),
        (BAD + "    priority: 99999\n", "yaml", 10, "jobs.bad.priority", "from -32768 to 32767"),
        (BAD + "    labels: {a: .inf}\n", "yaml", 10, "jobs.bad.labels.a", "finite"),
        (BAD + "    labels: x\n", "yaml", 10, "jobs.bad.labels", "Expected a mapping"),
        (BAD + "    start_at: 2030-01-01\n", "yaml", 10, "jobs.bad.start_at", "with an offset"),
        (BAD + "    colour: red\n", "yaml", 10, "jobs.bad.colour", "Unknown field"),
        (BAD + "    schedule: '@hourly'\n", "yaml", 10, "jobs.bad.schedule", "given twice"),
        (BAD + "    state: sleeping\n", "yaml", 10, "jobs.bad.state", "not one of"),
        (
            PAUSED_BEFORE,
            "yaml",
            12,
            "jobs.bad.paused_until",
            "future",
        ),
        (GOOD + "  bad: {kind: task, schedule: @daily}\n", "yaml", 7, "file", "not valid YAML"),
        (JSON_TWO, "json", 5, "jobs.b.schedule", "@often"),
        (JSON_KEY_TWICE, "json", 2, "jobs.a.kind", "twice"),
        ('{"version": 1,\n "jobs": {"a": {}, \n "a": {}}}', "json", 3, "jobs.a", "twice"),
        ('{"version": 1,\n "jobs": {\n', "json", 3, "file", "not valid JSON"),
        (NUL, "json", 1, "file", "NUL"),
        ("", "yaml", None, "file", "empty"),
    ],
)
def test_a_bad_file_is_refused_whole(text, fmt, line, path, message):
    make_job("existing")
    counts, before = written(), definitions()
    for attempt in (plan, apply):
        with pytest.raises(JobFileError) as caught:
            attempt(text, fmt)
        # Every problem of the file is reported; this one is among them, with its line.
        error = next(p for p in caught.value.problems if message in p.messages[0])
        if line is not None:
            assert error.line == line
            assert error.messages[0].startswith(f"Line {line}")
        assert error.path == path
    assert written() == counts and definitions() == before


class TestRoles:
    def test_import_needs_the_editor_role(self):
        text = services.jobs_export(actor=None, fmt="yaml")
        for role in ("Viewer", "Operator"):
            with pytest.raises(PermissionDenied):
                services.jobs_import_plan(actor=user_with_role(role), text=text, fmt="yaml")
        result = services.jobs_import_plan(actor=user_with_role("Editor"), text=text, fmt="yaml")
        assert result.jobs == []

    def test_shell_jobs_need_an_administrator(self, settings):
        settings.CRONADMIN_ALLOW_SHELL_JOBS = True
        text = "version: 1\njobs:\n  sh:\n    kind: shell\n    schedule: '@daily'\n"
        text += "    config: {command: 'true'}\n"
        with pytest.raises(JobFileError) as caught:
            services.jobs_import_apply(actor=user_with_role("Editor"), text=text, fmt="yaml")
        assert caught.value.line == 3 and "administrators" in caught.value.messages[0]
        assert not Job.objects.exists()
        services.jobs_import_apply(actor=user_with_role("Admin"), text=text, fmt="yaml")
        assert Job.objects.get(name="sh").created_by.username == "admin"
        assert AuditEvent.objects.filter(action="create", actor_name="admin").exists()


class TestCommands:
    def test_exportjobs_writes_a_file(self, tmp_path):
        some_jobs()
        target = tmp_path / "jobs.json"
        call_command("exportjobs", "--format", "json", "--job", "weekly", "-o", str(target))
        assert list(json.loads(target.read_text())["jobs"]) == ["weekly"]

    def test_exportjobs_prints_yaml_by_default(self):
        make_job("echo")
        out = StringIO()
        call_command("exportjobs", stdout=out)
        assert yaml.safe_load(out.getvalue())["jobs"]["echo"]["kind"] == "task"

    def test_exportjobs_refuses_an_unknown_job(self):
        with pytest.raises(CommandError, match="no job named nope"):
            call_command("exportjobs", "--job", "nope")

    def test_importjobs_prints_the_plan_and_writes_nothing(self, tmp_path):
        make_job("echo")
        make_job("gone")
        source = tmp_path / "jobs.yaml"
        text = services.jobs_export(actor=None, fmt="yaml", names=["echo"])
        new = "  new:\n    kind: task\n    schedule: '@daily'\n    config: {task: demo.noop}\n"
        source.write_text(text.replace("hi", "bye") + new)
        counts = written()
        out = StringIO()
        call_command("importjobs", str(source), "--delete-missing", stdout=out)
        printed = out.getvalue()
        assert "change  echo" in printed
        assert "config.params: {'message': 'hi'} -> {'message': 'bye'}" in printed
        assert "create  new" in printed and "delete  gone" in printed
        assert "1 to create, 1 to change, 0 unchanged, 1 to delete." in printed
        assert "--yes" in printed
        assert written() == counts

    def test_importjobs_applies_with_yes(self, tmp_path):
        make_job("echo")
        make_job("gone")
        source = tmp_path / "jobs.json"
        source.write_text(services.jobs_export(actor=None, fmt="json", names=["echo"]))
        out = StringIO()
        call_command("importjobs", str(source), "--yes", "--delete-missing", stdout=out)
        assert "Imported: 0 to create, 0 to change, 1 unchanged, 1 to delete." in out.getvalue()
        assert list(Job.objects.values_list("name", flat=True)) == ["echo"]

    def test_importjobs_refuses_a_bad_file(self, tmp_path):
        source = tmp_path / "jobs.yaml"
        source.write_text(BAD + "    colour: red\n")
        with pytest.raises(CommandError, match=r"Line 10 \(job “bad”, colour\): Unknown field"):
            call_command("importjobs", str(source), "--yes")
        assert not Job.objects.exists()
        with pytest.raises(CommandError, match="Cannot read"):
            call_command("importjobs", str(tmp_path / "missing.yaml"))
