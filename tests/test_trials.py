"""The test request of an http job and the test notification, through the web and the API,
against real HTTP servers on 127.0.0.1."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core import mail

from jobs import services
from jobs.audit import mask_url
from jobs.models import AllowedHost, AuditEvent, Job, Notification, Run
from jobs.vault import SECRET_MASK
from tests.conftest import user_with_role
from tests.test_api_support import Api, make_job
from tests.test_views_base import HX, logged_in, login_redirect
from tests.webhook_receiver import receiver_fixture as receiver  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db


class Target(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[dict[str, Any]]
    release: threading.Event

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class Handler(BaseHTTPRequestHandler):
    server: Target

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.requests.append({"path": self.path, "headers": dict(self.headers)})
        if self.path == "/slow":
            self.server.release.wait(10)
        if self.path == "/big":
            body = b"x" * 100_000
        else:
            # Echoes what it received, the secret header too: the page must not show it.
            body = json.dumps({"seen": dict(self.headers)}).encode()
        status = 503 if self.path == "/down" else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Served-By", "target-1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target(("127.0.0.1", 0), Handler)
    server.requests = []
    server.release = threading.Event()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def allowed() -> AllowedHost:
    return services.allowed_host_create(actor=None, host="127.0.0.1", note="the test target")


def http_job(url: str, **config: Any) -> Job:
    settings_ = {"method": "POST", "url": url, "body": "{}", **config}
    return make_job("portal sync", kind="http", config=settings_)


def probe_url(job: Job) -> str:
    return f"/jobs/{job.pk}/test-request/"


def audited(job: Job, action: str = "test_request") -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(object_type="job", object_id=str(job.pk), action=action))


# --- the test request, on the job page ---


class TestTestRequestView:
    def test_it_works(self, target, allowed):
        job = http_job(target.url("/ok"), headers={"Authorization": "Bearer s3cret-token"})
        operator = user_with_role("Operator")
        response = logged_in(operator).post(probe_url(job), headers=HX)
        page = response.content.decode()
        assert response.status_code == 200
        assert response.templates[0].name == "jobs/_test_request.html"
        probe = response.context["probe"]
        assert probe.outcome.state == "succeeded" and probe.outcome.http_status == 200
        assert ("X-Served-By", "target-1") in probe.headers
        assert "HTTP/1.0 200 OK" in page and "X-Served-By" in page and "target-1" in page
        assert "ms" in page
        # The server really got it, with the secret; the page shows the echo masked.
        [request] = target.requests
        assert request["headers"]["Authorization"] == "Bearer s3cret-token"
        assert request["headers"]["Idempotency-Key"].startswith("cronadmin-test-")
        assert "s3cret-token" not in page and SECRET_MASK in probe.body
        # No run, one audit entry.
        assert not Run.objects.filter(job=job).exists()
        [event] = audited(job)
        assert event.actor == operator
        assert event.changes["result"] == [None, "HTTP 200"]
        assert event.changes["request"] == [None, f"POST {target.url('/ok')}"]

    def test_without_htmx_it_shows_the_job_page_with_the_answer(self, target, allowed):
        job = http_job(target.url("/down"))
        response = logged_in(user_with_role("Operator")).post(probe_url(job))
        page = response.content.decode()
        assert response.status_code == 200
        assert response.templates[0].name == "jobs/job_detail.html"
        assert "HTTP 503, expected 200-299" in page and "Not as expected" in page
        assert len(target.requests) == 1 and not Run.objects.exists()

    def test_it_goes_through_the_guard(self, target, allowed):
        job = http_job(target.url("/ok"))
        AllowedHost.objects.all().delete()
        response = logged_in(user_with_role("Operator")).post(probe_url(job), headers=HX)
        probe = response.context["probe"]
        assert probe.outcome.state == "failed"
        assert "a loopback address" in probe.outcome.reason.english
        assert "Allowed hosts page" in response.content.decode()
        assert target.requests == []

    def test_it_keeps_the_size_cap_and_shows_only_the_start(self, target, allowed, settings):
        settings.CRONADMIN_HTTP_MAX_RESPONSE_BYTES = 50_000
        job = http_job(target.url("/big"))
        probe = logged_in(user_with_role("Operator")).post(probe_url(job)).context["probe"]
        assert probe.body_bytes == 50_000 and probe.truncated
        assert len(probe.body) < probe.body_bytes

    def test_it_keeps_the_deadline(self, target, allowed, settings):
        settings.CRONADMIN_HTTP_TEST_TIMEOUT_SECONDS = 0.5
        job = http_job(target.url("/slow"))
        probe = logged_in(user_with_role("Operator")).post(probe_url(job)).context["probe"]
        assert probe.outcome.state == "timed_out"
        assert probe.outcome.reason.english == "timed out after 0.5 s"

    def test_a_task_job_has_no_test_request(self):
        job = make_job("nightly")
        response = logged_in(user_with_role("Operator")).post(probe_url(job), headers=HX)
        assert response.status_code == 200
        assert "Only HTTP jobs can send a test request." in response.content.decode()
        assert not audited(job)

    def test_it_requires_login(self, client, target, allowed):
        job = http_job(target.url("/ok"))
        assert login_redirect(client.post(probe_url(job)))
        assert target.requests == []

    def test_it_checks_role(self, target, allowed):
        job = http_job(target.url("/ok"))
        assert logged_in(user_with_role("Viewer")).post(probe_url(job)).status_code == 403
        assert target.requests == [] and not audited(job)

    def test_it_rejects_wrong_method(self, target, allowed):
        job = http_job(target.url("/ok"))
        assert logged_in(user_with_role("Operator")).get(probe_url(job)).status_code == 405
        assert target.requests == []

    def test_the_job_page_offers_it_to_operators_only(self, target, allowed):
        job = http_job(target.url("/ok"))
        page = logged_in(user_with_role("Operator")).get(f"/jobs/{job.pk}/").content.decode()
        assert probe_url(job) in page
        page = logged_in(user_with_role("Viewer")).get(f"/jobs/{job.pk}/").content.decode()
        assert probe_url(job) not in page


# --- the test request, in the API ---


class TestTestRequestApi:
    def path(self, job: Job) -> str:
        return f"/api/v1/jobs/{job.pk}/test-request"

    def test_it_works(self, target, allowed):
        job = http_job(target.url("/ok"), headers={"X-Api-Key": "k3y-value-long"})
        response = Api(user_with_role("Operator")).post(self.path(job))
        assert response.status_code == 200
        answer = response.json()
        assert answer["state"] == "succeeded" and answer["reason"] == "HTTP 200"
        assert answer["request"] == {"method": "POST", "url": target.url("/ok")}
        assert answer["response"]["status"] == 200
        assert ["X-Served-By", "target-1"] in answer["response"]["headers"]
        assert "k3y-value-long" not in response.content.decode()
        assert json.loads(answer["response"]["body"])["seen"]["X-Api-Key"] == SECRET_MASK
        assert not Run.objects.exists() and len(audited(job)) == 1

    def test_a_blocked_target_answers_without_a_response(self, target, allowed):
        job = http_job(target.url("/ok"))
        AllowedHost.objects.all().delete()
        answer = Api(user_with_role("Operator")).post(self.path(job)).json()
        assert answer["state"] == "failed" and answer["response"] is None
        assert "loopback" in answer["reason"] and target.requests == []

    def test_it_requires_credentials(self, target, allowed):
        job = http_job(target.url("/ok"))
        response = Api().post(self.path(job))
        assert response.status_code == 401 and response.json()["error"]["code"]
        assert target.requests == []

    def test_it_checks_role(self, target, allowed):
        job = http_job(target.url("/ok"))
        response = Api(user_with_role("Viewer")).post(self.path(job))
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
        assert target.requests == []

    def test_it_rejects_wrong_method(self, target, allowed):
        job = http_job(target.url("/ok"))
        response = Api(user_with_role("Operator")).get(self.path(job))
        assert response.status_code == 405 and response["Allow"] == "POST"

    def test_it_rejects_bad_input(self, target, allowed):
        job = http_job(target.url("/ok"))
        api = Api(user_with_role("Operator"))
        response = api.post(self.path(job), {"url": "http://elsewhere/"})
        assert response.status_code == 422 and "url" in response.json()["error"]["fields"]
        response = api.post(f"/api/v1/jobs/{make_job('nightly').pk}/test-request")
        assert response.status_code == 422
        assert api.post("/api/v1/jobs/999999/test-request").status_code == 404
        assert target.requests == []


# --- the test notification ---


def notified_job(**fields: Any) -> Job:
    return make_job("nightly", notify_on=["failure"], **fields)


def notify_url(job: Job) -> str:
    return f"/jobs/{job.pk}/test-notification/"


class TestTestNotification:
    def test_it_sends_to_every_channel(self, receiver, allowed):  # noqa: F811
        job = notified_job(notify_emails=["ops@example.com"], notify_webhook_url=receiver.url)
        operator = user_with_role("Operator")
        response = logged_in(operator).post(notify_url(job), headers=HX)
        page = response.content.decode()
        assert response.status_code == 200
        assert response.templates[0].name == "jobs/_test_notification.html"
        [message] = mail.outbox
        assert message.to == ["ops@example.com"] and "nightly" in message.subject
        [call] = receiver.calls
        assert call["json"]["test"] is True and call["json"]["job"]["name"] == "nightly"
        assert call["headers"]["Idempotency-Key"].startswith("cronadmin-test-notification-")
        assert "Delivered: the receiver answered HTTP 204." in page and "Sent." in page
        assert not Notification.objects.exists()
        [event] = audited(job, "test_notification")
        assert event.actor == operator
        assert event.changes == {
            "email": [None, "Sent."],
            "webhook": [None, "Delivered: the receiver answered HTTP 204."],
        }

    def test_a_failed_channel_says_why(self, receiver, allowed):  # noqa: F811
        receiver.status = 500
        job = notified_job(notify_webhook_url=receiver.url)
        response = logged_in(user_with_role("Operator")).post(notify_url(job))
        assert response.templates[0].name == "jobs/job_detail.html"
        [result] = response.context["sent"]
        assert not result.sent and result.detail == "webhook answered HTTP 500"
        assert "Not sent: webhook answered HTTP 500" in response.content.decode()

    def test_the_webhook_goes_through_the_guard(self, receiver, allowed):  # noqa: F811
        job = notified_job(notify_webhook_url=receiver.url)
        AllowedHost.objects.all().delete()
        [result] = logged_in(user_with_role("Operator")).post(notify_url(job)).context["sent"]
        assert not result.sent and "a loopback address" in result.detail
        assert receiver.calls == []

    def test_a_job_without_channels_says_so(self):
        job = make_job("nightly")
        response = logged_in(user_with_role("Operator")).post(notify_url(job), headers=HX)
        assert "has no e-mail address or webhook" in response.content.decode()
        assert not mail.outbox and not audited(job, "test_notification")

    def test_it_requires_login(self, client):
        job = notified_job(notify_emails=["ops@example.com"])
        assert login_redirect(client.post(notify_url(job)))
        assert not mail.outbox

    def test_it_checks_role(self):
        job = notified_job(notify_emails=["ops@example.com"])
        assert logged_in(user_with_role("Viewer")).post(notify_url(job)).status_code == 403
        assert not mail.outbox

    def test_it_rejects_wrong_method(self):
        job = notified_job(notify_emails=["ops@example.com"])
        assert logged_in(user_with_role("Operator")).get(notify_url(job)).status_code == 405
        assert not mail.outbox


class TestTestNotificationApi:
    def path(self, job: Job) -> str:
        return f"/api/v1/jobs/{job.pk}/test-notification"

    def test_it_works(self, receiver, allowed):  # noqa: F811
        job = notified_job(notify_emails=["ops@example.com"], notify_webhook_url=receiver.url)
        response = Api(user_with_role("Operator")).post(self.path(job))
        assert response.status_code == 200
        assert response.json() == {
            "results": [
                {"channel": "email", "target": "ops@example.com", "sent": True, "detail": "Sent."},
                {
                    "channel": "webhook",
                    # The webhook's path is a secret: where it goes is shown, not the path.
                    "target": mask_url(receiver.url),
                    "sent": True,
                    "detail": "Delivered: the receiver answered HTTP 204.",
                },
            ],
            "count": 2,
        }
        assert len(mail.outbox) == 1 and len(receiver.calls) == 1
        assert len(audited(job, "test_notification")) == 1

    def test_a_job_without_channels_is_refused(self):
        response = Api(user_with_role("Operator")).post(self.path(make_job("nightly")))
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid"
        assert not mail.outbox

    def test_it_requires_credentials(self):
        job = notified_job(notify_emails=["ops@example.com"])
        assert Api().post(self.path(job)).status_code == 401
        assert not mail.outbox

    def test_it_checks_role(self):
        job = notified_job(notify_emails=["ops@example.com"])
        assert Api(user_with_role("Viewer")).post(self.path(job)).status_code == 403
        assert not mail.outbox

    def test_it_rejects_wrong_method_and_bad_input(self):
        job = notified_job(notify_emails=["ops@example.com"])
        api = Api(user_with_role("Operator"))
        assert api.get(self.path(job)).status_code == 405
        assert api.post(self.path(job), {"channel": "email"}).status_code == 422
        assert not mail.outbox
