"""The allow-list rule of the SSRF guard, and targets checked when jobs and webhooks are saved.

No test here asks DNS: targets are IP literals, `localhost` names (loopback by RFC 6761, answered
by the guard itself) and `.invalid` names (which never exist).
"""

import ipaddress
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from jobs import services
from jobs.kinds import ssrf
from jobs.models import AllowedHost, AuditEvent, Job
from tests.conftest import user_with_role

pytestmark = pytest.mark.django_db
ALLOWED_PAGE = "an administrator can allow this host on the Allowed hosts page"


@pytest.fixture(autouse=True)
def nothing_configured(settings) -> None:
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = []


def allow(host: str, note: str = "internal tools portal") -> AllowedHost:
    from django.contrib.auth.models import User

    admin = User.objects.filter(username="admin").first() or user_with_role("Admin")
    return services.allowed_host_create(actor=admin, host=host, note=note)


def address(text: str) -> Any:
    return ipaddress.ip_address(text)


def http_job(url: str, **fields: Any) -> Job:
    config = {"method": "GET", "url": url}
    return services.job_create(
        actor=None, name=fields.pop("name", "portal"), kind="http", schedule="@hourly",
        config=config, **fields,
    )  # fmt: skip


def field_errors(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return {
        field: [str(m) for e in errors for m in e.messages]
        for field, errors in exc.value.error_dict.items()
    }


# --- entries ---


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("Billing.Internal.", "billing.internal"),
        ("*.Corp.Example", "*.corp.example"),
        ("10.1.2.3", "10.1.2.3"),
        ("10.1.2.3/16", "10.1.0.0/16"),
        ("10.1.2.3/32", "10.1.2.3"),
        ("[fd00:1::5]", "fd00:1::5"),
        ("FD00:1::/64", "fd00:1::/64"),
        ("bücher.intern", "xn--bcher-kva.intern"),
    ],
)
def test_entries_are_stored_in_their_normal_form(written: str, stored: str) -> None:
    assert allow(written).host == stored


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("", "required"),
        ("10.0.0.0/33", "invalid_network"),
        ("10.0.0.0/7", "too_broad"),
        ("0.0.0.0/0", "too_broad"),
        ("::/0", "too_broad"),
        ("169.254.169.254", "metadata_address"),
        ("not a host", "invalid_host"),
        ("*.", "invalid_host"),
        ("a" * 256, "too_long"),
    ],
)
def test_bad_entries_are_refused(written: str, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        allow(written)
    assert [e.code for e in caught.value.error_dict["host"]] == [code]
    assert not AllowedHost.objects.exists()


def test_an_entry_needs_a_note_and_may_be_listed_once() -> None:
    with pytest.raises(ValidationError) as caught:
        allow("10.1.0.0/16", note="  ")
    assert "note" in caught.value.error_dict
    allow("10.1.0.0/16")
    with pytest.raises(ValidationError) as caught:
        allow("10.1.5.5/16")
    assert [e.code for e in caught.value.error_dict["host"]] == ["unique"]
    assert AllowedHost.objects.count() == 1


def test_only_admins_manage_entries() -> None:
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.allowed_host_create(actor=user_with_role("Editor"), host="10.0.0.1", note="x")
    entry = allow("10.0.0.1")
    with pytest.raises(PermissionDenied):
        services.allowed_host_delete(actor=user_with_role("Operator"), entry=entry)
    assert AllowedHost.objects.count() == 1


def test_adding_and_removing_are_audited() -> None:
    admin = user_with_role("Admin", "root")
    entry = services.allowed_host_create(actor=admin, host="10.20.0.0/16", note="portal")
    services.allowed_host_delete(actor=admin, entry=entry)
    events = list(AuditEvent.objects.filter(object_type="allowed_host").order_by("id"))
    assert [(e.action, e.actor_name, e.object_repr) for e in events] == [
        ("create", "root", "10.20.0.0/16"),
        ("delete", "root", "10.20.0.0/16"),
    ]
    assert events[0].changes == {"host": [None, "10.20.0.0/16"], "note": [None, "portal"]}
    assert events[1].changes == {"host": ["10.20.0.0/16", None], "note": ["portal", None]}
    assert not AllowedHost.objects.exists()


# --- the rule ---


def test_internal_addresses_are_blocked_until_allowed() -> None:
    with pytest.raises(ssrf.BlockedAddress):
        ssrf.checked_address("10.1.2.3", [address("10.1.2.3")])
    allow("10.1.0.0/16")
    assert ssrf.checked_address("10.1.2.3", [address("10.1.2.3")]) == address("10.1.2.3")
    with pytest.raises(ssrf.BlockedAddress):
        ssrf.checked_address("10.2.0.1", [address("10.2.0.1")])


def test_a_name_entry_matches_the_host_as_written() -> None:
    allow("portal.internal")
    allow("*.corp.example")
    internal = [address("10.1.2.3")]
    assert ssrf.checked_address("Portal.Internal.", internal) == internal[0]
    assert ssrf.checked_address("wiki.corp.example", internal) == internal[0]
    for other in ("other.internal", "corp.example", "evilcorp.example"):
        with pytest.raises(ssrf.BlockedAddress):
            ssrf.checked_address(other, internal)


def test_an_address_entry_must_cover_every_answer() -> None:
    allow("127.0.0.1")
    # localhost is 127.0.0.1 and ::1: one answer outside the list is enough to refuse.
    with pytest.raises(ssrf.BlockedAddress) as caught:
        ssrf.resolve_public_address("localhost", 80)
    assert caught.value.address == address("::1")
    allow("::1")
    assert ssrf.resolve_public_address("localhost", 80) == address("127.0.0.1")


def test_an_allowed_network_also_covers_its_ipv4_mapped_form() -> None:
    allow("10.1.0.0/16")
    mapped = address("::ffff:10.1.2.3")
    assert ssrf.checked_address("[::ffff:10.1.2.3]", [mapped]) == mapped


@pytest.mark.parametrize("entry", ["169.254.0.0/16", "metadata.internal", "::ffff:0:0/96"])
def test_cloud_metadata_stays_blocked_whatever_is_allowed(settings, entry: str) -> None:
    allow(entry)
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["metadata.internal", "169.254.0.0/16"]
    for metadata in ("169.254.169.254", "::ffff:169.254.169.254"):
        with pytest.raises(ssrf.BlockedAddress) as caught:
            ssrf.checked_address("metadata.internal", [address(metadata)])
        assert caught.value.problem == "metadata"
        assert "never allowed" in str(caught.value)


def test_the_setting_allows_names_addresses_and_networks(settings) -> None:
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["portal.internal", "10.5.0.0/16"]
    assert ssrf.checked_address("portal.internal", [address("192.168.1.1")])
    assert ssrf.checked_address("10.5.9.9", [address("10.5.9.9")])
    with pytest.raises(ssrf.BlockedAddress):
        ssrf.checked_address("10.6.0.1", [address("10.6.0.1")])


def test_localhost_names_never_reach_a_resolver() -> None:
    loopback = [address("127.0.0.1"), address("::1")]
    assert ssrf.resolve("localhost", 80) == loopback
    assert ssrf.resolve("api.LOCALHOST.", 80) == loopback
    with pytest.raises(ssrf.UnresolvableHost):
        ssrf.resolve("portal.invalid", 80)


# --- checked when saved ---


def test_an_internal_target_is_refused_when_saved_with_who_can_allow_it() -> None:
    with pytest.raises(ValidationError) as caught:
        http_job("http://10.1.2.3:8080/sync")
    [message] = field_errors(caught)["url"]
    assert "10.1.2.3 is a private address" in message
    assert ALLOWED_PAGE in message
    assert not Job.objects.exists()


def test_a_localhost_name_is_refused_with_its_address() -> None:
    with pytest.raises(ValidationError) as caught:
        http_job("http://api.localhost/")
    [message] = field_errors(caught)["url"]
    assert message.startswith("api.localhost resolves to 127.0.0.1, a loopback address.")


def test_a_metadata_target_is_refused_as_never_allowed() -> None:
    allow("169.254.0.0/16")
    with pytest.raises(ValidationError) as caught:
        http_job("http://169.254.169.254/latest/meta-data/")
    [message] = field_errors(caught)["url"]
    assert "cloud metadata address" in message and "never be called" in message


def test_an_allowed_target_saves() -> None:
    allow("10.1.0.0/16")
    job = http_job("http://10.1.2.3:8080/sync")
    assert job.config["url"] == "http://10.1.2.3:8080/sync"


def test_a_webhook_is_checked_too() -> None:
    with pytest.raises(ValidationError) as caught:
        services.job_create(
            actor=None, name="nightly", kind="task", schedule="@daily",
            config={"task": "demo.echo", "params": {"message": "hi"}},
            notify_on=["failure"], notify_webhook_url="http://192.168.1.20/hook",
        )  # fmt: skip
    [message] = field_errors(caught)["notify_webhook_url"]
    assert "192.168.1.20 is a private address" in message and ALLOWED_PAGE in message


def test_a_name_that_does_not_resolve_is_accepted(settings) -> None:
    # The web server may not see the scheduler's DNS; the run checks again.
    settings.CRONADMIN_HTTP_SAVE_RESOLVE_SECONDS = 2
    job = http_job("https://portal.invalid/sync")
    assert Job.objects.filter(pk=job.pk).exists()


def test_a_change_to_a_blocked_target_is_refused_and_nothing_is_written() -> None:
    job = http_job("https://portal.invalid/sync")
    with pytest.raises(ValidationError):
        services.job_update(actor=None, job=job, config={"method": "GET", "url": "http://[::1]/"})
    job.refresh_from_db()
    assert job.config["url"] == "https://portal.invalid/sync" and job.version == 1


def test_an_executor_with_an_internal_base_url_is_refused_once() -> None:
    offer = {"name": "ping", "schedule": "@hourly", "path": "/ping"}
    with pytest.raises(ValidationError) as caught:
        services.executor_register(
            actor=None, name="tools", base_url="http://10.3.0.7:9000", jobs=[offer]
        )
    errors = field_errors(caught)
    assert list(errors) == ["base_url"] and ALLOWED_PAGE in errors["base_url"][0]
    allow("10.3.0.0/24")
    services.executor_register(
        actor=None, name="tools", base_url="http://10.3.0.7:9000", jobs=[offer]
    )
    assert Job.objects.get().config["url"] == "http://10.3.0.7:9000/ping"


def test_an_import_reports_a_blocked_target_at_its_field() -> None:
    text = (
        "version: 1\njobs:\n  portal:\n    kind: http\n    schedule: '@hourly'\n"
        "    config:\n      method: GET\n      url: http://172.16.0.9/run\n"
    )
    with pytest.raises(services.JobFileError) as caught:
        services.jobs_import_plan(actor=None, text=text, fmt="yaml")
    assert ALLOWED_PAGE in str(caught.value)
    assert not Job.objects.exists()


def test_a_setting_entry_breaking_the_rules_is_left_out_and_reported(settings) -> None:
    from jobs.checks import check_allowed_hosts

    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["0.0.0.0/0", "169.254.169.254", "10.9.0.0/16"]
    with pytest.raises(ssrf.BlockedAddress):
        ssrf.checked_address("10.1.2.3", [address("10.1.2.3")])
    assert ssrf.checked_address("10.9.0.1", [address("10.9.0.1")])
    warnings = check_allowed_hosts()
    assert [w.id for w in warnings] == ["cronadmin.W011", "cronadmin.W011"]
    assert "'0.0.0.0/0' is not used" in warnings[0].msg
    assert "'169.254.169.254' is not used" in warnings[1].msg


def test_every_refusal_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        http_job("http://10.1.2.3/sync", notify_webhook_url="ftp://hooks/")
    errors = field_errors(caught)
    assert ALLOWED_PAGE in errors["url"][0]
    assert errors["notify_webhook_url"] == ["Only http:// and https:// URLs can be called."]
