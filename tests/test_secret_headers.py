"""Secret header values: encrypted in the database, clear only in the request, masked elsewhere."""

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.test import Client

from jobs import services, vault
from jobs.kinds import http
from jobs.models import AuditEvent, Job, JobVersion, Run
from jobs.output import OutputCapture, read_output
from tests.conftest import user_with_role, wait_for
from tests.test_api_support import Api
from tests.test_vault import raw_config, raw_definitions

TOKEN = "Bearer tok-5f3a9c1e77"
CREDENTIAL = "tok-5f3a9c1e77"
HX = {"HX-Request": "true"}


def make_hook(url: str = "https://example.com/hook", token: str = TOKEN, **fields: Any) -> Job:
    config = {
        "method": "POST",
        "url": url,
        "headers": {"Authorization": token, "X-Team": "data"},
        "body": "{}",
    }
    return services.job_create(
        actor=None, name="hook", kind="http", schedule="@manual", config=config, **fields
    )


def clear_headers(job: Job) -> dict[str, str]:
    job.refresh_from_db()
    headers = job.config["headers"]
    return {k: vault.unseal(v) if vault.is_sealed(v) else v for k, v in headers.items()}


def shows_no_secret(text: str) -> bool:
    return CREDENTIAL not in text and vault.PREFIX not in text


class TestStorage:
    def test_the_row_holds_ciphertext(self, db):
        job = make_hook()
        stored = raw_config(job)
        assert CREDENTIAL not in stored and vault.PREFIX in stored
        assert '"X-Team": "data"' in stored  # only secrets are encrypted
        assert all(CREDENTIAL not in d and vault.PREFIX in d for d in raw_definitions(job))
        assert clear_headers(job)["Authorization"] == TOKEN

    def test_saving_the_same_secret_again_makes_no_version(self, db):
        job = make_hook()
        sealed = job.config["headers"]["Authorization"]
        config = {**job.config, "headers": {"Authorization": TOKEN, "X-Team": "data"}}
        job = services.job_update(actor=None, job=job, config=config)
        assert job.version == 1 and job.config["headers"]["Authorization"] == sealed

    def test_a_changed_secret_is_a_masked_change_in_the_audit(self, db):
        job = make_hook()
        config = {**job.config, "headers": {"Authorization": "Bearer new-0123456"}}
        job = services.job_update(actor=None, job=job, config=config)
        assert job.version == 2
        assert clear_headers(job) == {"Authorization": "Bearer new-0123456"}
        entry = AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE).get()
        mask = vault.SECRET_MASK
        assert entry.changes["config.headers"] == [
            {"Authorization": mask, "X-Team": "data"},
            {"Authorization": mask},
        ]
        every_entry = str(list(AuditEvent.objects.values_list("changes", flat=True)))
        assert shows_no_secret(every_entry) and "new-0123456" not in every_entry

    def test_a_restored_version_brings_its_secret_back(self, db):
        job = make_hook()
        config = {**job.config, "headers": {"Authorization": "Bearer new-0123456"}}
        job = services.job_update(actor=None, job=job, config=config)
        job = services.job_restore_version(actor=None, job=job, version=1)
        assert job.version == 3
        assert clear_headers(job)["Authorization"] == TOKEN
        # The current definition restored again is no change at all.
        job = services.job_restore_version(actor=None, job=job, version=3)
        assert job.version == 3

    def test_a_value_that_does_not_decrypt_is_refused(self, db, settings):
        job = make_hook()
        forged = vault.PREFIX + "gAAAAAforged"
        with pytest.raises(ValidationError) as caught:
            services.job_update(
                actor=None, job=job, config={**job.config, "headers": {"X-Token": forged}}
            )
        assert "X-Token can no longer be decrypted" in str(caught.value.message_dict["headers"])
        job.refresh_from_db()
        assert job.version == 1 and JobVersion.objects.filter(job=job).count() == 1

    def test_a_version_sealed_with_a_lost_key_cannot_be_restored(self, db, settings):
        settings.CRONADMIN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
        job = make_hook()
        services.job_update(actor=None, job=job, config={**job.config, "headers": {}})
        settings.CRONADMIN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
        with pytest.raises(ValidationError, match="type it again"):
            services.job_restore_version(actor=None, job=job, version=1)


class TestPagesAndApi:
    @pytest.fixture
    def job(self, db) -> Job:
        job = make_hook()
        services.job_update(
            actor=None, job=job, config={**job.config, "headers": {"Authorization": TOKEN + "x"}}
        )
        return job

    def test_pages_never_show_it(self, job):
        client = Client()
        client.force_login(user_with_role("Editor"))
        for path in (
            f"/jobs/{job.pk}/",
            f"/jobs/{job.pk}/edit/",
            f"/jobs/{job.pk}/clone/",
            f"/jobs/{job.pk}/versions/",
            "/audit/",
        ):
            for headers in ({}, HX):
                response = client.get(path, headers=headers)
                assert response.status_code == 200, path
                assert shows_no_secret(response.content.decode()), path
        edit = client.get(f"/jobs/{job.pk}/edit/").content.decode()
        assert f"Authorization: {vault.SECRET_MASK}" in edit
        # A clone starts without the secret: whoever saves it types it again.
        assert (
            "Authorization"
            not in client.get(f"/jobs/{job.pk}/clone/").context["form"].initial["headers"]
        )

    def test_the_api_never_returns_it(self, job):
        api = Api(user_with_role("Viewer"))
        detail = api.get(f"/api/v1/jobs/{job.pk}")
        assert detail.json()["http"]["headers"] == {"Authorization": vault.SECRET_MASK}
        listing = api.get("/api/v1/jobs")
        for response in (detail, listing):
            assert response.status_code == 200
            assert shows_no_secret(response.content.decode())

    def test_the_api_keeps_it_when_the_mask_comes_back(self, job):
        api = Api(user_with_role("Editor"))
        body = api.get(f"/api/v1/jobs/{job.pk}").json()
        body["description"] = "changed"
        response = api.put(f"/api/v1/jobs/{job.pk}", body)
        assert response.status_code == 200 and shows_no_secret(response.content.decode())
        assert clear_headers(job)["Authorization"] == TOKEN + "x"
        assert job.version == 3

    def test_the_form_keeps_it_when_the_mask_comes_back(self, job):
        client = Client()
        client.force_login(user_with_role("Editor"))
        data = {
            **{
                k: v
                for k, v in client.get(f"/jobs/{job.pk}/edit/").context["form"].initial.items()
                if v is not None
            },
            "description": "changed",
        }
        response = client.post(f"/jobs/{job.pk}/edit/", data)
        assert response.status_code == 302, response.context["form"].errors
        assert clear_headers(job)["Authorization"] == TOKEN + "x"
        assert job.description == "changed" and job.version == 3


# --- runs: the request gets the clear value; what the run records does not ---


class EchoHandler(BaseHTTPRequestHandler):
    received: list[str] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        auth = self.headers.get("Authorization") or self.headers.get("X-Api-Key", "")
        EchoHandler.received.append(auth)
        if self.path == "/redirect":
            credential = auth.partition(" ")[2]
            self.send_response(302)
            self.send_header("Location", f"/login?token={credential}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = f"you sent {auth}; token alone: {auth.partition(' ')[2]}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def echo_server() -> Iterator[str]:
    EchoHandler.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    server.address_family = socket.AF_INET
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_run_sends_the_clear_header_and_records_it_masked(start_scheduler, echo_server):
    from django.conf import settings

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(settings, "CRONADMIN_HTTP_ALLOWED_HOSTS", ["127.0.0.1"])
        echo = make_hook(url=f"{echo_server}/echo")
        redirect = services.job_create(
            actor=None,
            name="redirect",
            kind="http",
            schedule="@manual",
            config={
                "method": "POST",
                "url": f"{echo_server}/redirect",
                "headers": {"X-Api-Key": TOKEN},
            },
        )
    scheduler = start_scheduler(CRONADMIN_HTTP_ALLOWED_HOSTS="127.0.0.1")
    runs = [services.job_run_now(actor=None, job=job) for job in (echo, redirect)]
    echoed, redirected = (
        wait_for(lambda r=r: Run.objects.filter(pk=r.pk, state__in=Run.FINAL_STATES).first(), 15)
        for r in runs
    )
    assert EchoHandler.received == [TOKEN, TOKEN]
    mask = vault.SECRET_MASK
    assert echoed.state == Run.State.SUCCEEDED, echoed.reason
    assert f"you sent {mask}; token alone: {mask}" in echoed.output
    assert redirected.state == Run.State.FAILED
    assert f"/login?token={mask}" in redirected.reason
    for run in (echoed, redirected):
        assert shows_no_secret(run.output + run.reason + run.error)
    assert CREDENTIAL not in scheduler.log()
    scheduler.stop()


def test_a_run_whose_secret_does_not_decrypt_fails_clearly(db, settings, tmp_path):
    settings.CRONADMIN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    job = make_hook()
    settings.CRONADMIN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with OutputCapture(tmp_path / "out", 1000, 1000) as output:
        result = http.execute(
            job.config,
            deadline_seconds=5,
            idempotency_key="k",
            output=output,
            cancel=threading.Event(),
        )
    assert result.state == Run.State.FAILED
    assert result.reason.english == "a secret header cannot be decrypted"
    assert "CRONADMIN_ENCRYPTION_KEYS" in result.error
    assert read_output(tmp_path / "out") == ("", 0)


def test_an_executor_registering_again_makes_no_new_version(db):
    api = Api(user_with_role("Editor"))
    registration = {
        "name": "billing",
        "base_url": "https://billing.example.com/hooks/",
        "headers": {"Authorization": TOKEN},
        "jobs": [{"name": "invoices", "schedule": "@daily", "path": "/invoices"}],
    }
    for _attempt in range(2):
        response = api.post("/api/v1/executors/register", registration)
        assert response.status_code == 200, response.content
        assert shows_no_secret(response.content.decode())
    job = Job.objects.get(name="billing/invoices")
    assert job.version == 1 and CREDENTIAL not in raw_config(job)
    assert clear_headers(job)["Authorization"] == TOKEN
