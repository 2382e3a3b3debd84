"""Settings read from the environment: production is the default and refuses to start
half-configured; development mode (CRONADMIN_DEV=1) is what make and the tests use."""

import json
import subprocess
import sys

import pytest

from tests.production import ROOT, manage, production_env

pytestmark = pytest.mark.timeout(120)


def settings_of(env: dict[str, str], *names: str) -> dict[str, object]:
    """The named settings as a fresh process with `env` sees them."""
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"names = {list(names)!r}; "
        "print(json.dumps({n: getattr(settings, n, None) for n in names}, default=str))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "DJANGO_SETTINGS_MODULE": "cronadmin.settings"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def refusal(env: dict[str, str]) -> str:
    done = manage(env, "check")
    assert done.returncode != 0
    return done.stderr.strip().splitlines()[-1]


def test_it_passes_the_deployment_checklist(tmp_path):
    done = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_it_refuses_to_start_without_a_secret_key(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    message = refusal(env)
    assert "ImproperlyConfigured: SECRET_KEY is required in production" in message
    assert "CRONADMIN_DEV=1" in message


def test_it_refuses_to_start_without_allowed_hosts(tmp_path):
    env = production_env(tmp_path)
    del env["ALLOWED_HOSTS"]
    assert "ALLOWED_HOSTS is required in production" in refusal(env)


def test_it_refuses_bad_values(tmp_path):
    env = production_env(tmp_path, SECURE_HSTS_SECONDS="a year")
    assert "SECURE_HSTS_SECONDS must be a whole number, not 'a year'" in refusal(env)
    env = production_env(tmp_path, COOKIE_SAMESITE="None")
    assert "COOKIE_SAMESITE must be one of Lax, Strict, not 'None'" in refusal(env)


def test_production_is_locked_down_by_default(tmp_path):
    env = production_env(tmp_path)
    for name in ("USE_X_FORWARDED_PROTO", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD"):
        del env[name]
    assert settings_of(
        env,
        "DEBUG",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "CSRF_COOKIE_HTTPONLY",
        "SECURE_PROXY_SSL_HEADER",
        "USE_X_FORWARDED_HOST",
        "X_FRAME_OPTIONS",
        "TRUSTED_PROXY_COUNT",
    ) == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_HTTPONLY": True,
        "SECURE_PROXY_SSL_HEADER": None,  # no header is trusted unless asked for
        "USE_X_FORWARDED_HOST": False,
        "X_FRAME_OPTIONS": "DENY",
        "TRUSTED_PROXY_COUNT": 0,  # X-Forwarded-For is ignored
    }


def test_the_proxy_settings_are_opt_in(tmp_path):
    env = production_env(
        tmp_path, USE_X_FORWARDED_HOST="true", TRUSTED_PROXY_COUNT="2", COOKIE_SAMESITE="Strict"
    )
    assert settings_of(
        env,
        "SECURE_PROXY_SSL_HEADER",
        "USE_X_FORWARDED_HOST",
        "TRUSTED_PROXY_COUNT",
        "SESSION_COOKIE_SAMESITE",
        "CSRF_COOKIE_SAMESITE",
    ) == {
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "USE_X_FORWARDED_HOST": True,
        "TRUSTED_PROXY_COUNT": 2,
        "SESSION_COOKIE_SAMESITE": "Strict",
        "CSRF_COOKIE_SAMESITE": "Strict",
    }


def test_development_mode_needs_no_environment(tmp_path):
    env = {"CRONADMIN_DEV": "1", "PATH": "/usr/bin:/bin"}
    values = settings_of(
        env, "SECRET_KEY", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE"
    )
    assert values["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost", "[::1]"]
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["SECRET_KEY"]


def test_the_test_suite_runs_in_development_mode(settings):
    # Scheduler processes started by tests inherit this and so start without a SECRET_KEY.
    assert settings.DEVELOPMENT is True
