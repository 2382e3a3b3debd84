"""The web in production mode, served by a real gunicorn behind a (simulated) TLS proxy: the
security headers and cookies, allowed hosts, collected static files, and the 503 page."""

import gzip
import json
import re
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from tests.production import HOST, Server, gunicorn, manage, production_env

pytestmark = pytest.mark.timeout(180)

CREATE_USER = (
    "from django.contrib.auth.models import Group, User; "
    "u = User.objects.create_user('ada', password='pw-Secret-1'); "
    "u.groups.add(Group.objects.get(name='Viewer'))"
)


@pytest.fixture(scope="module")
def web(tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("serving")
    env = production_env(tmp)
    for command in (["migrate", "--no-input", "-v0"], ["collectstatic", "--no-input", "-v0"]):
        done = manage(env, *command)
        assert done.returncode == 0, done.stderr
    done = manage(env, "shell", "-c", CREATE_USER)
    assert done.returncode == 0, done.stderr
    server = gunicorn(env, tmp / "gunicorn.log").start()
    yield server
    server.stop()


def log_in(web: Server) -> dict[str, str]:
    """Log in as ada through the login form; the cookies of the logged-in browser."""
    form = web.get("/login/")
    csrf_cookie = form.cookies()["csrftoken"].split(";")[0]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', form.body).group(1)
    body = urlencode(
        {"username": "ada", "password": "pw-Secret-1", "csrfmiddlewaretoken": token.decode()}
    )
    response = web.request(
        "POST",
        "/login/",
        headers={
            "Cookie": csrf_cookie,
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": f"https://{HOST}/login/",
            "Origin": f"https://{HOST}",
        },
        body=body,
    )
    assert response.status == 302, response.body[:500]
    return response.cookies()


def test_it_serves_the_login_page(web):
    response = web.get("/login/")
    assert response.status == 200
    assert b'name="username"' in response.body


def test_it_redirects_plain_http_to_https(web):
    response = web.get("/login/", X_Forwarded_Proto=None)
    assert response.status == 301
    assert response.header("Location") == f"https://{HOST}/login/"


def test_health_checks_are_not_redirected(web):
    # /healthz and /metrics answer over plain HTTP (container probes talk to the process).
    assert web.get("/healthz", X_Forwarded_Proto=None).status != 301
    assert web.get("/metrics", X_Forwarded_Proto=None).status != 301


def test_it_refuses_unknown_hosts(web):
    assert web.get("/login/", Host="evil.example").status == 400


def test_it_sends_hsts(web):
    assert web.get("/login/").header("Strict-Transport-Security") == (
        "max-age=31536000; includeSubDomains; preload"
    )


def test_it_sends_the_browser_protections(web):
    response = web.get("/login/")
    assert response.header("X-Content-Type-Options") == "nosniff"
    assert response.header("Referrer-Policy") == "same-origin"
    assert response.header("X-Frame-Options") == "DENY"
    assert response.header("Cross-Origin-Opener-Policy") == "same-origin"


def test_it_sends_a_strict_content_security_policy(web):
    policy = web.get("/login/").header("Content-Security-Policy")
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in policy


def test_the_csrf_cookie_is_secure_httponly_and_samesite(web):
    cookie = web.get("/login/").cookies()["csrftoken"]
    assert "; Secure" in cookie
    assert "; HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_the_session_cookie_is_secure_httponly_and_samesite(web):
    cookie = log_in(web)["sessionid"]
    assert "; Secure" in cookie
    assert "; HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_a_logged_in_page_works_under_the_policy(web):
    session = log_in(web)["sessionid"].split(";")[0]
    response = web.get("/jobs/", Cookie=session)
    assert response.status == 200
    assert b"<script>" not in response.body  # nothing inline for the policy to block
    assert b" style=" not in response.body


def test_static_files_are_hashed_and_compressed(web):
    page = web.get("/login/").body.decode()
    css = re.search(r'href="(/static/cronadmin\.[0-9a-f]{12}\.css)"', page).group(1)
    script = re.search(r'src="(/static/cronadmin\.[0-9a-f]{12}\.js)"', page).group(1)
    htmx = re.search(r'src="(/static/django_htmx/htmx-2\.min\.[0-9a-f]{12}\.js)"', page)
    assert htmx, page

    response = web.get(css, Accept_Encoding="gzip")
    assert response.status == 200
    assert response.header("Content-Encoding") == "gzip"
    assert b"CronAdmin" in gzip.decompress(response.body)
    # A hashed name never changes content, so browsers may keep it for ever.
    assert "immutable" in response.header("Cache-Control")
    assert web.get(script).status == 200


def test_the_api_answers_json_errors(web):
    response = web.get("/api/v1/jobs")
    assert response.status == 401
    assert json.loads(response.body)["error"]["code"] == "not_authenticated"


# --- the database is down -------------------------------------------------------------------


@pytest.fixture(scope="module")
def web_without_database(tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("nodb")
    # Nothing listens on port 1: every connection attempt is refused at once.
    env = production_env(tmp, DATABASE_URL="postgres://cronadmin@127.0.0.1:1/none")
    done = manage(env, "collectstatic", "--no-input", "-v0")
    assert done.returncode == 0, done.stderr
    server = gunicorn(env, tmp / "gunicorn.log").start()
    yield server
    server.stop()


def test_a_page_answers_503_without_a_database(web_without_database):
    # A session cookie makes the page look its user up: the first database query fails.
    response = web_without_database.get(
        "/jobs/", Cookie="sessionid=abcdefghijklmnopqrstuvwxyz012345"
    )
    assert response.status == 503
    assert response.header("Retry-After") == "30"
    assert response.header("Content-Type").startswith("text/html")
    assert b"cannot reach its database" in response.body
    assert b"Traceback" not in response.body
    assert b"OperationalError" not in response.body


def test_the_login_answers_503_without_a_database(web_without_database):
    form = web_without_database.get("/login/")
    assert form.status == 200  # drawing the form needs no database
    csrf_cookie = form.cookies()["csrftoken"].split(";")[0]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', form.body).group(1)
    response = web_without_database.request(
        "POST",
        "/login/",
        headers={
            "Cookie": csrf_cookie,
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": f"https://{HOST}",
        },
        body=urlencode({"username": "a", "password": "b", "csrfmiddlewaretoken": token.decode()}),
    )
    assert response.status == 503
    assert b"cannot reach its database" in response.body


def test_the_api_answers_503_json_without_a_database(web_without_database):
    response = web_without_database.get("/api/v1/jobs", Authorization="Bearer some-token")
    assert response.status == 503
    assert response.header("Content-Type") == "application/json"
    assert json.loads(response.body) == {
        "error": {
            "code": "unavailable",
            "message": "The database is unavailable; try again shortly.",
            "fields": {},
        }
    }


def test_the_outage_is_logged_in_one_line(web_without_database):
    web_without_database.get("/api/v1/runs", Authorization="Bearer another-token")
    log = web_without_database.log()
    lines = [line for line in log.splitlines() if "GET /api/v1/runs:" in line]
    assert len(lines) == 1, log
    assert "database unavailable, answered 503" in lines[0]
    assert "Traceback" not in log
