"""A secret stays with the address it was entered for, and any header can be made a secret."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from jobs import services, vault
from jobs.models import Job, Run
from jobs.services import JobFileError
from tests.conftest import user_with_role, wait_for
from tests.test_api_support import Api, error_of

TOKEN = "Bearer admins-own-7c1d"


def clear_headers(job: Job) -> dict[str, str]:
    job.refresh_from_db()
    headers = job.config["headers"]
    return {k: vault.unseal(v) if vault.is_sealed(v) else v for k, v in headers.items()}


def make_hook(url: str = "https://api.example.com/hook", **headers: str) -> Job:
    config = {"method": "POST", "url": url, "headers": headers or {"Authorization": TOKEN}}
    return services.job_create(
        actor=None, name="hook", kind="http", schedule="@manual", config=config
    )


def moved(job: Job, url: str) -> dict[str, Any]:
    return {**job.config, "url": url}


class TestTheService:
    @pytest.mark.parametrize(
        "url",
        [
            "https://other.example.com/hook",  # host
            "http://api.example.com/hook",  # scheme
            "https://api.example.com:8443/hook",  # port
            "https://API.example.com.evil.io/hook",
        ],
    )
    def test_a_kept_secret_is_refused_for_another_target(self, db, url):
        job = make_hook()
        with pytest.raises(ValidationError) as caught:
            services.job_update(actor=None, job=job, config=moved(job, url))
        [message] = caught.value.message_dict["headers"]
        assert "instead of https://api.example.com" in message and "Authorization" in message
        assert caught.value.error_dict["headers"][0].code == "secret_target_changed"
        job.refresh_from_db()
        assert job.version == 1 and job.config["url"] == "https://api.example.com/hook"

    @pytest.mark.parametrize(
        "url",
        [
            "https://api.example.com/other?x=1",
            "https://API.EXAMPLE.COM/hook",
            "https://api.example.com:443/hook",
        ],
    )
    def test_the_same_target_keeps_it(self, db, url):
        job = make_hook()
        job = services.job_update(actor=None, job=job, config=moved(job, url))
        assert clear_headers(job)["Authorization"] == TOKEN

    def test_a_secret_entered_again_goes_to_the_new_target(self, db):
        job = make_hook()
        config = {**moved(job, "https://other.example.com/"), "headers": {"Authorization": "B 2"}}
        job = services.job_update(actor=None, job=job, config=config)
        assert clear_headers(job) == {"Authorization": "B 2"}

    def test_removing_the_secret_lets_the_url_change(self, db):
        job = make_hook(**{"Authorization": TOKEN, "X-Team": "data"})
        config = {**moved(job, "https://other.example.com/"), "headers": {"X-Team": "data"}}
        job = services.job_update(actor=None, job=job, config=config)
        assert clear_headers(job) == {"X-Team": "data"}

    def test_headers_that_are_not_secret_follow_the_url(self, db):
        job = make_hook(**{"X-Team": "data"})
        job = services.job_update(actor=None, job=job, config=moved(job, "https://b.example/"))
        assert job.config["headers"] == {"X-Team": "data"}


class TestForm:
    def test_the_form_says_why_and_keeps_the_job(self, db):
        job = make_hook()
        client = Client()
        client.force_login(user_with_role("Editor"))
        initial = client.get(f"/jobs/{job.pk}/edit/").context["form"].initial
        data = {k: v for k, v in initial.items() if v is not None}
        data["url"] = "https://listener.example.net/"
        response = client.post(f"/jobs/{job.pk}/edit/", data)
        assert response.status_code == 200
        [message] = response.context["form"].errors["headers"]
        assert "https://listener.example.net instead of https://api.example.com" in message
        assert "enter it again" in message
        assert clear_headers(job)["Authorization"] == TOKEN
        assert job.config["url"] == "https://api.example.com/hook"

    def test_any_header_can_be_marked_secret(self, db):
        client = Client()
        client.force_login(user_with_role("Editor"))
        data = {
            "name": "marked",
            "kind": "http",
            "schedule": "@daily",
            "timezone": "UTC",
            "method": "GET",
            "url": "https://api.example.com/",
            "headers": "X-Auth: hunter2-long\nX-Team: data",
            "secret_headers": "x-auth",
            "overlap": "skip",
            "misfire": "once",
            "retry_backoff": "fixed",
            "max_concurrent": "1",
            "max_retries": "0",
            "retry_backoff_seconds": "60",
            "misfire_limit": "10",
            "priority": "0",
        }
        response = client.post("/jobs/new/?kind=http", data)
        assert response.status_code == 302, response.context["form"].errors
        job = Job.objects.get(name="marked")
        assert vault.is_sealed(job.config["headers"]["X-Auth"])
        assert job.config["headers"]["X-Team"] == "data"
        page = client.get(f"/jobs/{job.pk}/edit/")
        assert "hunter2-long" not in page.content.decode()
        assert 'name="secret_headers"' in page.content.decode()
        assert page.context["form"].initial["secret_headers"] == "X-Auth"

    def test_a_secret_name_must_be_one_of_the_headers(self, db):
        job = make_hook()
        client = Client()
        client.force_login(user_with_role("Editor"))
        initial = client.get(f"/jobs/{job.pk}/edit/").context["form"].initial
        data = {k: v for k, v in initial.items() if v is not None}
        data["secret_headers"] = "X-Nothing"
        response = client.post(f"/jobs/{job.pk}/edit/", data)
        assert response.status_code == 200
        assert "X-Nothing" in response.context["form"].errors["secret_headers"][0]


class TestApi:
    def test_secret_headers_marks_any_header(self, db):
        api = Api(user_with_role("Editor"))
        body = {
            "name": "marked",
            "kind": "http",
            "schedule": "@daily",
            "http": {
                "url": "https://api.example.com/",
                "headers": {"X-Credential": "abc-123-def", "X-Team": "data"},
                "secret_headers": ["X-Credential"],
            },
        }
        response = api.post("/api/v1/jobs", body)
        assert response.status_code == 201, response.content
        job = Job.objects.get(name="marked")
        assert vault.is_sealed(job.config["headers"]["X-Credential"])
        seen = Api(user_with_role("Viewer")).get(f"/api/v1/jobs/{job.pk}")
        assert "abc-123-def" not in seen.content.decode()
        http = seen.json()["http"]
        assert http["headers"] == {"X-Credential": vault.SECRET_MASK, "X-Team": "data"}
        assert http["secret_headers"] == ["X-Credential"]

    def test_secret_headers_must_name_headers(self, db):
        api = Api(user_with_role("Editor"))
        job = make_hook()
        response = api.patch(f"/api/v1/jobs/{job.pk}", {"http": {"secret_headers": ["X-None"]}})
        assert response.status_code == 422
        assert "http.secret_headers" in error_of(response)["fields"]


class TestImport:
    def test_an_import_refuses_the_kept_secret_at_its_line(self, db):
        make_hook()
        text = services.jobs_export(actor=None, fmt="yaml")
        text = text.replace("https://api.example.com/hook", "https://listener.example.net/")
        with pytest.raises(JobFileError) as caught:
            services.jobs_import_plan(actor=None, text=text, fmt="yaml")
        error = caught.value
        assert error.path == "jobs.hook.config.headers"
        assert text.splitlines()[error.line - 1].strip() == "headers:"
        assert "listener.example.net" in error.messages[0]


class TestExecutors:
    def test_registering_at_another_address_needs_the_secret_again(self, db):
        api = Api(user_with_role("Editor"))
        registration = {
            "name": "billing",
            "base_url": "https://billing.example.com/",
            "headers": {"Authorization": TOKEN},
            "jobs": [{"name": "invoices", "schedule": "@daily", "path": "/invoices"}],
        }
        assert api.post("/api/v1/executors/register", registration).status_code == 200
        job = Job.objects.get(name="billing/invoices")
        masked = {**registration, "base_url": "https://elsewhere.example.com/"}
        masked["headers"] = {"Authorization": vault.SECRET_MASK}
        response = api.post("/api/v1/executors/register", masked)
        assert response.status_code == 422
        assert "real values" in error_of(response)["fields"]["headers"]
        assert clear_headers(job)["Authorization"] == TOKEN
        assert job.config["url"] == "https://billing.example.com/invoices"
        again = {**registration, "base_url": "https://elsewhere.example.com/"}
        assert api.post("/api/v1/executors/register", again).status_code == 200
        assert clear_headers(job)["Authorization"] == TOKEN
        assert job.config["url"] == "https://elsewhere.example.com/invoices"


# --- for real: the secret never reaches the listener an Editor chose ---


class Listener(BaseHTTPRequestHandler):
    received: dict[int, list[str]] = {}

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        port = self.server.server_address[1]
        Listener.received.setdefault(port, []).append(self.headers.get("Authorization", ""))
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def listeners() -> Iterator[list[str]]:
    Listener.received = {}
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Listener) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield [f"http://127.0.0.1:{server.server_address[1]}" for server in servers]
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_admins_secret_never_reaches_the_editors_listener(start_scheduler, listeners, settings):
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    own, chosen = listeners
    job = make_hook(url=f"{own}/hook")
    editor = Api(user_with_role("Editor"))
    response = editor.patch(f"/api/v1/jobs/{job.pk}", {"http": {"url": f"{chosen}/steal"}})
    assert response.status_code == 422
    assert "Authorization" in error_of(response)["fields"]["http.headers"]
    scheduler = start_scheduler(CRONADMIN_HTTP_ALLOWED_HOSTS="127.0.0.1")
    run = services.job_run_now(actor=None, job=job)
    done = wait_for(lambda: Run.objects.filter(pk=run.pk, state__in=Run.FINAL_STATES).first(), 15)
    assert done.state == Run.State.SUCCEEDED, done.reason
    own_port, chosen_port = (int(url.rsplit(":", 1)[1]) for url in listeners)
    assert Listener.received == {own_port: [TOKEN]}
    assert chosen_port not in Listener.received
    scheduler.stop()


def test_a_clone_starts_without_the_secrets(db):
    job = make_hook(**{"Authorization": TOKEN, "X-Team": "data"})
    client = Client()
    client.force_login(user_with_role("Editor"))
    initial = client.get(f"/jobs/{job.pk}/clone/").context["form"].initial
    assert initial["headers"] == "X-Team: data" and initial["secret_headers"] == ""
