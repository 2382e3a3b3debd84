"""An administrator allows the internal tools portal; an operator tries the job that calls it."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.auth.models import Group, User

from jobs import services
from jobs.models import AllowedHost, Job, Run
from tests.browser.conftest import log_in, shoot

pytestmark = [pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


def person(name: str, role: str) -> User:
    user = User.objects.create_user(name, password="pw-Secret-1")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


class Portal(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        body = b'{"status": "green"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def portal() -> Any:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()
    server.server_close()


def test_an_admin_allows_a_host_and_an_operator_tries_the_job(page, portal, settings):
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = []
    person("ada", "Admin")
    person("otto", "Operator")
    log_in(page, "ada")
    page.get_by_role("link", name="Allowed hosts").click()
    expect(page.locator("h1")).to_have_text("Allowed internal hosts")
    page.get_by_label("Host name or network").fill("127.0.0.0/8")
    page.get_by_label("Why it may be called").fill("the internal tools portal")
    page.get_by_role("button", name="Allow", exact=True).click()
    expect(page.locator("#allowed-hosts")).to_contain_text("127.0.0.0/8 may now be called.")
    expect(page.locator("#allowed-hosts table")).to_contain_text("the internal tools portal")
    assert AllowedHost.objects.get().host == "127.0.0.0/8"
    shoot(page, "allowed-hosts")

    job = services.job_create(
        actor=None, name="Portal health", kind="http", schedule="@hourly",
        config={"method": "GET", "url": portal},
    )  # fmt: skip
    page.context.clear_cookies()
    log_in(page, "otto")
    page.goto(f"{page.base}/jobs/{job.pk}/")
    page.get_by_role("button", name="Send a test request").click()
    region = page.locator("#test-request")
    expect(region).to_contain_text("As expected")
    expect(region).to_contain_text("HTTP/1.0 200 OK")
    expect(region).to_contain_text('{"status": "green"}')
    assert not Run.objects.filter(job=job).exists()
    shoot(page, "test-request")

    page.get_by_label("Language").select_option("zh-hans")
    page.get_by_role("button", name="Switch").click()
    page.get_by_role("button", name="发送测试请求").click()
    expect(page.locator("#test-request")).to_contain_text("符合预期")
    shoot(page, "test-request-zh")


def test_removing_a_host_asks_first(page, settings):
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = []
    person("ada", "Admin")
    services.allowed_host_create(actor=None, host="10.20.0.0/16", note="portal")
    log_in(page, "ada")
    page.goto(f"{page.base}/settings/allowed-hosts/")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Remove").click()
    expect(page.locator("#allowed-hosts table")).to_contain_text("10.20.0.0/16")
    assert AllowedHost.objects.exists()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove").click()
    expect(page.locator("#allowed-hosts")).to_contain_text("10.20.0.0/16 is blocked again.")
    assert not AllowedHost.objects.exists()
    page.get_by_label("Language").select_option("zh-hans")
    page.get_by_role("button", name="Switch").click()
    expect(page.locator("h1")).to_have_text("允许的内部主机")
    shoot(page, "allowed-hosts-zh")
    assert Job.objects.count() == 0
