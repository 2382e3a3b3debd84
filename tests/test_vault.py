import io
import logging
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from cronadmin.env import env_fernet_keys
from jobs import services, vault
from jobs.models import Job, JobVersion
from tests.conftest import ROOT

# Fixed keys (32 bytes each, as Fernet.generate_key() makes them): test ids must not change between
# runs, or parallel test workers would collect different tests.
KEY_A = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
KEY_B = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM="
BEFORE = ("jobs", "0006_executors_and_idempotency")
MIGRATION = ("jobs", "0007_encrypt_secrets")


def raw_config(job: Job) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT config FROM jobs_job WHERE id = %s", [job.pk])
        return cursor.fetchone()[0]


def raw_definitions(job: Job) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT definition FROM jobs_jobversion WHERE job_id = %s", [job.pk])
        return [row[0] for row in cursor.fetchall()]


def http_job(name: str = "hook", token: str = "Bearer tok-1234567") -> Job:
    return services.job_create(
        actor=None,
        name=name,
        kind="http",
        schedule="@daily",
        config={"url": "https://example.com/", "headers": {"Authorization": token}},
    )


class TestSealing:
    def test_it_works(self, settings):
        settings.CRONADMIN_ENCRYPTION_KEYS = [KEY_A]
        sealed = vault.seal("Bearer abc")
        assert sealed.startswith(vault.PREFIX) and "abc" not in sealed
        assert vault.is_sealed(sealed) and not vault.is_sealed("Bearer abc")
        assert vault.unseal(sealed) == "Bearer abc"
        # Fernet tokens carry a random IV: the same secret never encrypts the same way twice.
        assert vault.seal("Bearer abc") != sealed

    def test_a_wrong_key_fails_with_a_clear_error(self, settings):
        settings.CRONADMIN_ENCRYPTION_KEYS = [KEY_A]
        sealed = vault.seal("Bearer abc")
        settings.CRONADMIN_ENCRYPTION_KEYS = [KEY_B]
        with pytest.raises(vault.VaultError, match="CRONADMIN_ENCRYPTION_KEYS"):
            vault.unseal(sealed)
        with pytest.raises(vault.VaultError):
            vault.unseal(vault.PREFIX + "not-a-token")

    def test_every_key_decrypts_and_the_first_encrypts(self, settings):
        settings.CRONADMIN_ENCRYPTION_KEYS = [KEY_A]
        old = vault.seal("s3cret")
        settings.CRONADMIN_ENCRYPTION_KEYS = [KEY_B, KEY_A]
        assert vault.unseal(old) == "s3cret"
        new = vault.reseal(old)
        assert new != old and vault.reseal(new) == new
        settings.CRONADMIN_ENCRYPTION_KEYS = [KEY_B]
        assert vault.unseal(new) == "s3cret"

    def test_without_keys_one_is_derived_from_secret_key(self, settings):
        settings.CRONADMIN_ENCRYPTION_KEYS = []
        sealed = vault.seal("s3cret")
        assert vault.unseal(sealed) == "s3cret"
        assert vault.derived_key("one") != vault.derived_key("two")
        settings.SECRET_KEY = "another secret key, long enough to be a real one"
        with pytest.raises(vault.VaultError):
            vault.unseal(sealed)


class TestKeySetting:
    def test_it_reads_comma_separated_keys(self, monkeypatch):
        monkeypatch.setenv("CRONADMIN_ENCRYPTION_KEYS", f" {KEY_A} , {KEY_B} ")
        assert env_fernet_keys("CRONADMIN_ENCRYPTION_KEYS") == [KEY_A, KEY_B]

    @pytest.mark.parametrize("value", ["abc", KEY_A[:-4], "é" * 44, "AAAA" + KEY_A])
    def test_it_rejects_a_bad_key(self, monkeypatch, value):
        monkeypatch.setenv("CRONADMIN_ENCRYPTION_KEYS", f"{KEY_A},{value}")
        with pytest.raises(ImproperlyConfigured, match="key 2 of 2 is not a Fernet key"):
            env_fernet_keys("CRONADMIN_ENCRYPTION_KEYS")

    def test_a_bad_key_stops_the_program_at_startup(self):
        env = {**os.environ, "CRONADMIN_ENCRYPTION_KEYS": "not-a-key"}
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "check"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        assert "CRONADMIN_ENCRYPTION_KEYS: key 1 of 1 is not a Fernet key" in result.stderr

    def test_the_deploy_check_warns_until_a_key_is_set(self, settings):
        settings.CRONADMIN_ENCRYPTION_KEYS = []
        ids = {m.id for m in run_checks(include_deployment_checks=True)}
        assert "cronadmin.W001" in ids
        assert "cronadmin.W001" not in {m.id for m in run_checks()}
        settings.CRONADMIN_ENCRYPTION_KEYS = [KEY_A]
        assert "cronadmin.W001" not in {m.id for m in run_checks(include_deployment_checks=True)}


class TestGenerateKeyCommand:
    def test_it_prints_a_usable_key(self, monkeypatch):
        out = io.StringIO()
        call_command("generateencryptionkey", stdout=out)
        key = out.getvalue().strip().splitlines()[-1]
        monkeypatch.setenv("CRONADMIN_ENCRYPTION_KEYS", key)
        assert env_fernet_keys("CRONADMIN_ENCRYPTION_KEYS") == [key]
        assert Fernet(key).decrypt(Fernet(key).encrypt(b"x")) == b"x"


class TestReencryptCommand:
    def test_it_reencrypts_jobs_and_versions_with_the_first_key(self, db, settings):
        settings.CRONADMIN_ENCRYPTION_KEYS = [KEY_A]
        job = http_job()
        services.job_update(
            actor=None,
            job=job,
            config={**job.config, "headers": {"Authorization": "Bearer tok-7654321"}},
        )
        task = services.job_create(
            actor=None,
            name="task",
            kind="task",
            schedule="@daily",
            config={"task": "demo.echo", "params": {"message": "hi"}},
        )
        settings.CRONADMIN_ENCRYPTION_KEYS = [KEY_B, KEY_A]
        out = io.StringIO()
        call_command("reencryptsecrets", stdout=out)
        # One job and its two versions.
        assert "3 job(s) and version(s)" in out.getvalue()
        settings.CRONADMIN_ENCRYPTION_KEYS = [KEY_B]
        job.refresh_from_db()
        assert vault.unseal(job.config["headers"]["Authorization"]) == "Bearer tok-7654321"
        old, new = JobVersion.objects.filter(job=job).order_by("version")
        assert vault.unseal(old.definition["config"]["headers"]["Authorization"]).endswith(
            "1234567"
        )
        assert vault.unseal(new.definition["config"]["headers"]["Authorization"]).endswith("4321")
        # Nothing about the definitions changed: no new version, same task job.
        assert job.version == 2 and task.versions.count() == 1
        out = io.StringIO()
        call_command("reencryptsecrets", stdout=out)
        assert "0 job(s)" in out.getvalue()

    def test_it_moves_secrets_from_the_derived_key_to_a_real_one(self, db, settings):
        settings.CRONADMIN_ENCRYPTION_KEYS = []
        job = http_job()
        settings.CRONADMIN_ENCRYPTION_KEYS = [KEY_A]
        with pytest.raises(CommandError):
            call_command("reencryptsecrets", stdout=io.StringIO())
        call_command("reencryptsecrets", "--from-secret-key", stdout=io.StringIO())
        job.refresh_from_db()
        assert vault.unseal(job.config["headers"]["Authorization"]) == "Bearer tok-1234567"

    def test_a_missing_key_is_an_error(self, db, settings):
        settings.CRONADMIN_ENCRYPTION_KEYS = [KEY_A]
        job = http_job()
        settings.CRONADMIN_ENCRYPTION_KEYS = [KEY_B]
        with pytest.raises(CommandError, match=f"Authorization header of job {job.pk}"):
            call_command("reencryptsecrets", stdout=io.StringIO())
        settings.CRONADMIN_ENCRYPTION_KEYS = [KEY_A]
        job.refresh_from_db()
        assert vault.unseal(job.config["headers"]["Authorization"]) == "Bearer tok-1234567"


class TestLogFilter:
    def test_it_masks_the_secrets_of_running_jobs(self):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.addFilter(vault.RedactSecretsFilter())
        logger = logging.getLogger("jobs.tests.vault")
        logger.addHandler(handler)
        targets = vault.redaction_targets(["Bearer tok-1234567"])
        vault.watched.add(targets)
        try:
            logger.error("sent %s", "Bearer tok-1234567")
            try:
                raise RuntimeError("server echoed tok-1234567")
            except RuntimeError:
                logger.exception("failed")
        finally:
            vault.watched.remove(targets)
            logger.removeHandler(handler)
        logged = stream.getvalue()
        assert "tok-1234567" not in logged
        assert f"sent {vault.SECRET_MASK}" in logged
        assert f"RuntimeError: server echoed {vault.SECRET_MASK}" in logged
        assert vault.watched.targets == ()

    def test_it_is_installed_on_the_console_handler(self, settings):
        handler = settings.LOGGING["handlers"]["console"]
        assert "redact_secrets" in handler["filters"]


class TestRedaction:
    def test_it_masks_the_value_and_its_credential(self):
        targets = vault.redaction_targets(["Bearer tok-1234567", "ab", "Basic dXNlcjpwYXNz"])
        text = "Authorization: Bearer tok-1234567; token=tok-1234567; ab; dXNlcjpwYXNz"
        mask = vault.SECRET_MASK
        assert vault.redact(text, targets) == f"Authorization: {mask}; token={mask}; ab; {mask}"


@pytest.mark.django_db(transaction=True)
class TestDataMigration:
    def test_it_encrypts_clear_values_and_decrypts_them_back(self):
        executor = MigrationExecutor(connection)
        latest = executor.loader.graph.leaf_nodes("jobs")
        try:
            executor.migrate([BEFORE])
            apps = executor.loader.project_state([BEFORE]).apps
            config = {
                "url": "https://example.com/",
                "headers": {"Authorization": "Bearer clear-123", "X-Team": "data"},
            }
            job = apps.get_model("jobs", "Job").objects.create(
                name="old", kind="http", schedule="@daily", config=config
            )
            apps.get_model("jobs", "JobVersion").objects.create(
                job=job, version=1, definition={"kind": "http", "config": config}
            )
            assert "Bearer clear-123" in raw_config(job)

            executor = MigrationExecutor(connection)
            executor.migrate([MIGRATION])
            assert "clear-123" not in raw_config(job)
            assert "clear-123" not in raw_definitions(job)[0]
            # The models as they were then: later migrations add fields these tables lack yet.
            then = executor.loader.project_state([MIGRATION]).apps
            stored = then.get_model("jobs", "Job").objects.get(pk=job.pk).config["headers"]
            assert stored["X-Team"] == "data"
            assert vault.unseal(stored["Authorization"]) == "Bearer clear-123"

            executor = MigrationExecutor(connection)
            executor.migrate([BEFORE])
            assert apps.get_model("jobs", "Job").objects.get(pk=job.pk).config == config
            versions = apps.get_model("jobs", "JobVersion").objects
            assert versions.get(job_id=job.pk).definition["config"] == config
        finally:
            executor = MigrationExecutor(connection)
            executor.migrate(latest)


def test_reencrypting_covers_the_webhook_urls(db, settings):
    settings.CRONADMIN_ENCRYPTION_KEYS = [KEY_A]
    job = services.job_create(
        actor=None,
        name="watched",
        kind="task",
        schedule="@daily",
        config={"task": "demo.noop"},
        notify_on=["failure"],
        notify_webhook_url="https://hooks.example.com/services/T0/secret-path",
    )
    settings.CRONADMIN_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    out = io.StringIO()
    call_command("reencryptsecrets", stdout=out)
    assert "2 job(s) and version(s)" in out.getvalue()  # the job and its version
    settings.CRONADMIN_ENCRYPTION_KEYS = [KEY_B]
    job.refresh_from_db()
    assert vault.unseal(job.notify_webhook_url).endswith("/secret-path")
    version = JobVersion.objects.get(job=job)
    assert vault.unseal(version.definition["notify_webhook_url"]).endswith("/secret-path")
