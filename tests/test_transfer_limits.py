"""Hostile and large job files: bounded aliases and numbers, every problem at once, and plans that
neither write nor hold the database's write lock (jobs.job_files, jobs.services.transfer)."""

# ruff: noqa: F811 - fixtures imported from tests.test_api_support are parameters

import json

import pytest
from django.db import connection

from jobs import job_files, services
from jobs.models import AuditEvent, Job, JobVersion
from jobs.services import JobFileError, transfer_file
from tests.test_api_support import (  # noqa: F401 - fixtures
    as_editor,
    editor,
    error_of,
    fresh_caches,
    make_job,
    user_with_role,
)
from tests.write_locks import watch_write_lock

pytestmark = pytest.mark.django_db
IMPORT = "/api/v1/jobs/import"
TASK = "    kind: task\n    schedule: '@daily'\n    config: {task: demo.noop}\n"


def written() -> tuple[int, int, int]:
    return Job.objects.count(), JobVersion.objects.count(), AuditEvent.objects.count()


def plan(text: str, fmt: str = "yaml", **options) -> services.ImportPlan:
    return services.jobs_import_plan(actor=None, text=text, fmt=fmt, **options)


def apply(text: str, fmt: str = "yaml", **options) -> services.ImportPlan:
    return services.jobs_import_apply(actor=None, text=text, fmt=fmt, **options)


def alias_bomb(levels: int = 9) -> str:
    """Anchors x0…x8, each a list of ten references to the one before: 10⁹ values written out."""
    lines = ["      x0: &x0 [a, b, c, d, e, f, g, h, i, j]"]
    for level in range(1, levels):
        lines.append(f"      x{level}: &x{level} [" + ", ".join([f"*x{level - 1}"] * 10) + "]")
    return "version: 1\njobs:\n  a:\n" + TASK + "    labels:\n" + "\n".join(lines) + "\n"


def many_jobs(count: int) -> str:
    entries = "".join(f"  job{i}:\n{TASK}" for i in range(count))
    return f"version: 1\njobs:\n{entries}"


class TestAliases:
    @pytest.mark.parametrize("attempt", [plan, apply])
    def test_nested_aliases_are_refused_at_their_line(self, attempt):
        counts = written()
        with pytest.raises(JobFileError) as caught:
            attempt(alias_bomb())
        assert "alias" in caught.value.messages[0]
        assert str(job_files.MAX_EXPANDED_NODES) in caught.value.messages[0]
        assert caught.value.line is not None and caught.value.line > 7
        assert written() == counts

    def test_a_few_aliases_are_read(self):
        text = "version: 1\njobs:\n  a: &job\n" + TASK + "  b: *job\n  c: *job\n"
        result = apply(text)
        assert result.counts["create"] == 3
        assert Job.objects.get(name="c").schedule == "@daily"

    def test_the_expanded_size_is_counted_for_every_use(self):
        # One anchor of 100 values used 3,000 times: small to write, 300,000 values to read.
        text = (
            "version: 1\njobs:\n  a:\n"
            + TASK
            + "    labels: {x: &big ["
            + ", ".join(["1"] * 100)
            + "]}\n    description: ["
            + ", ".join(["*big"] * 3000)
            + "]\n"
        )
        with pytest.raises(JobFileError) as caught:
            plan(text)
        assert "alias" in caught.value.messages[0]


class TestNumbers:
    def test_a_huge_yaml_integer_is_a_field_error(self):
        text = "version: 1\njobs:\n  a:\n" + TASK + "    priority: " + "9" * 5000 + "\n"
        with pytest.raises(JobFileError) as caught:
            plan(text)
        error = caught.value
        assert (error.line, error.path) == (7, "jobs.a.priority")
        assert "at most 20 digits" in error.messages[0]

    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            ("version: 1\njobs:\n  a:\n" + TASK + "    priority: " + "9" * 5000 + "\n", "yaml"),
            ('{"version": 1, "jobs": {"a": {"priority": ' + "9" * 5000 + "}}}", "json"),
        ],
    )
    def test_the_api_answers_422(self, as_editor, body, content_type):
        response = as_editor.post(IMPORT, body, content_type=f"application/{content_type}")
        assert response.status_code == 422
        assert error_of(response)["code"] == "invalid_file"
        assert "20 digits" in error_of(response)["message"]
        assert not Job.objects.exists()


class TestJobsPerFile:
    def test_a_file_over_the_limit_is_refused(self, monkeypatch):
        monkeypatch.setattr(transfer_file, "MAX_JOBS_PER_FILE", 3)
        with pytest.raises(JobFileError) as caught:
            plan(many_jobs(4))
        assert (caught.value.line, caught.value.path) == (2, "jobs")
        assert "at most 3 jobs; this one has 4" in caught.value.messages[0]

    def test_a_file_at_the_limit_is_imported(self, monkeypatch):
        monkeypatch.setattr(transfer_file, "MAX_JOBS_PER_FILE", 3)
        assert apply(many_jobs(3)).counts["create"] == 3


class TestFileSize:
    def test_a_file_over_the_size_limit_is_refused_before_it_is_read(self, monkeypatch):
        monkeypatch.setattr(transfer_file, "MAX_FILE_BYTES", 100)
        with pytest.raises(JobFileError) as caught:
            plan(many_jobs(2))
        assert "larger than 100 bytes" in caught.value.messages[0]

    def test_an_upload_over_it_is_refused_at_the_field(self, client, editor, monkeypatch):
        from django.core.files.uploadedfile import SimpleUploadedFile

        monkeypatch.setattr(transfer_file, "MAX_FILE_BYTES", 100)
        client.force_login(editor)
        upload = SimpleUploadedFile("jobs.yaml", many_jobs(2).encode())
        response = client.post("/jobs/import/", {"file": upload, "format": "yaml"})
        assert response.status_code == 200
        assert "larger than 100 bytes" in response.context["form"].errors["file"][0]


class TestEveryProblemAtOnce:
    FILE = (
        "version: 1\njobs:\n"
        "  a:\n    kind: task\n    schedule: '61 * * * *'\n    config: {task: demo.noop}\n"
        "  b:\n    kind: ftp\n    schedule: '@daily'\n"
        "  c:\n" + TASK + "    on_success: [nobody]\n    colour: red\n"
        "  d:\n    schedule: '@daily'\n"
    )

    def test_each_problem_has_its_line_and_field(self):
        with pytest.raises(JobFileError) as caught:
            plan(self.FILE)
        found = [(p.line, p.path) for p in caught.value.problems]
        assert found == [
            (5, "jobs.a.schedule"),
            (8, "jobs.b.kind"),
            (14, "jobs.c.on_success"),
            (15, "jobs.c.colour"),
            (16, "jobs.d.kind"),
        ]
        assert caught.value is caught.value.problems[0]

    def test_the_api_names_every_place(self, as_editor):
        counts = written()
        response = as_editor.post(IMPORT, self.FILE, content_type="application/yaml")
        assert response.status_code == 422
        fields = error_of(response)["fields"]
        assert list(fields) == [
            "jobs.a.schedule",
            "jobs.b.kind",
            "jobs.c.on_success",
            "jobs.c.colour",
            "jobs.d.kind",
        ]
        assert fields["jobs.c.colour"].startswith("Line 15 (job “c”, colour): Unknown field")
        assert written() == counts

    def test_the_page_shows_every_problem(self, client, editor):
        client.force_login(editor)
        response = client.post("/jobs/import/", {"text": self.FILE, "format": "yaml"})
        assert response.status_code == 200
        page = response.content.decode()
        for line in (5, 8, 14, 15, 16):
            assert f"Line {line} (job" in page
        assert not Job.objects.exists()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="reads SQLite's statements")
class TestWriteLock:
    def test_a_plan_opens_no_transaction_and_writes_nothing(self):
        make_job("job1", description="before")
        text = many_jobs(200)
        with watch_write_lock("imports") as watch:
            result = plan(text)
        assert result.counts == {"create": 199, "change": 1, "unchanged": 0, "delete": 0}
        assert (watch.transactions, watch.writes) == (0, 0)

    def test_applying_takes_one_transaction(self):
        with watch_write_lock("imports") as watch:
            result = apply(many_jobs(200))
        assert result.applied and Job.objects.count() == 200
        assert watch.transactions == 1

    def test_a_file_at_the_limit_is_applied_in_one_transaction_each_time(self):
        count = transfer_file.MAX_JOBS_PER_FILE
        with watch_write_lock("imports") as watch:
            assert apply(many_jobs(count)).counts["create"] == count
            changed = many_jobs(count).replace("'@daily'", "'@hourly'")
            assert apply(changed).counts["change"] == count
        assert watch.transactions == 2
        assert Job.objects.filter(schedule="@hourly", version=2).count() == count
        assert JobVersion.objects.count() == 2 * count

    def test_applying_an_unchanged_file_writes_nothing(self):
        text = many_jobs(50)
        apply(text)
        counts = written()
        with watch_write_lock("imports") as watch:
            assert apply(text).counts["unchanged"] == 50
        assert watch.writes == 0 and written() == counts

    def test_a_plan_with_a_stale_job_is_not_applied(self):
        text = many_jobs(3)
        apply(text)
        stale = plan(text.replace("'@daily'", "'@hourly'"))
        services.job_update(actor=None, job=Job.objects.get(name="job1"), description="meanwhile")
        with pytest.raises(Exception) as caught:
            apply(text.replace("'@daily'", "'@hourly'"), fingerprint=stale.fingerprint)
        assert getattr(caught.value, "code", None) == "conflict"
        assert not Job.objects.filter(schedule="@hourly").exists()


def test_json_files_are_read_in_linear_time():
    # A deep JSON document is walked once: no alias can make it bigger than its text.
    document = {"version": 1, "jobs": {f"j{i}": {"kind": "task"} for i in range(3)}}
    assert job_files.read(json.dumps(document), "json")["jobs"]["j2"] == {"kind": "task"}
