"""The audit trail: every change to jobs and runs, every login, with who, when and from where."""

import ipaddress
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext

from jobs.models import AuditEvent
from jobs.vault import SECRET_MASK, VaultError, is_sealed, seal, unseal

_client_ip: ContextVar[str | None] = ContextVar("cronadmin_client_ip", default=None)
# Header names whose values are secrets: stored encrypted, never shown again anywhere.
SECRET_HINTS = ("authorization", "token", "secret", "key", "password", "cookie", "signature")


class AuditContextMiddleware:
    """Remembers the client address of the current request for the audit entries it causes."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _client_ip.set(client_ip(request))
        try:
            return self.get_response(request)
        finally:
            _client_ip.reset(token)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, for the audit log and for login throttling (django-axes).

    Behind TRUSTED_PROXY_COUNT proxies, each appends the address it received the request from
    to X-Forwarded-For, so the client is the entry that many places from the right; whatever
    stands further left came from the client itself and may be forged. Without trusted proxies
    the header is ignored: anyone can send one.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRUSTED_PROXY_COUNT
    if not proxies:
        return remote
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    forwarded = [address.strip() for address in header.split(",") if address.strip()]
    if not forwarded:
        return remote
    # Fewer entries than proxies: the request entered behind the outermost one.
    candidate = forwarded[-proxies] if len(forwarded) >= proxies else forwarded[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return any(hint in lowered for hint in SECRET_HINTS)


def mask_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """Headers as anyone may see them: secret-looking names and encrypted values masked."""
    return {
        name: SECRET_MASK if is_secret_header(name) or is_sealed(value) else value
        for name, value in headers.items()
    }


def secret_header_names(headers: dict[str, Any]) -> list[str]:
    """The headers whose values are secret: by their names, or marked so (stored encrypted)."""
    return [name for name in headers if is_secret_header(name) or is_sealed(headers[name])]


def unmask_headers(headers: dict[Any, Any], job: Any | None) -> tuple[dict[Any, Any], list[Any]]:
    """Headers sent back by a form, the API or a job file, with each mask replaced by the value
    `job` has stored under that name (header names compare case-insensitively); also the names
    whose mask stands for nothing stored, for the caller to refuse or keep as it sees fit."""
    stored: dict[str, Any] = {}
    if job is not None and job.kind == "http":
        stored = {str(k).lower(): v for k, v in (job.config.get("headers") or {}).items()}
    result: dict[Any, Any] = {}
    unknown: list[Any] = []
    for name, value in headers.items():
        if value == SECRET_MASK:
            if isinstance(name, str) and name.lower() in stored:
                value = stored[name.lower()]
            else:
                unknown.append(name)
        result[name] = value
    return result, unknown


def masked_definition(definition: dict[str, Any]) -> dict[str, Any]:
    config = definition.get("config")
    if definition.get("kind") == "http" and isinstance(config, dict):
        config = {**config, "headers": mask_headers(config.get("headers") or {})}
        definition = {**definition, "config": config}
    if definition.get("notify_webhook_url"):
        definition = {
            **definition,
            "notify_webhook_url": mask_url(definition["notify_webhook_url"]),
        }
    return definition


# --- the notification webhook's URL: a secret (Slack-style URLs carry theirs in the path) ---


def webhook_mask_message() -> str:
    return gettext(
        "Enter the whole URL: “%(mask)s” only stands for the webhook URL already saved."
    ) % {"mask": SECRET_MASK}


def seal_url(value: str, stored: str) -> str:
    """The webhook URL as stored: encrypted; the stored ciphertext if it is the same URL."""
    if not value or is_sealed(value):
        return value
    if is_sealed(stored) and open_url(stored) == value:
        return stored
    return seal(value)


def open_url(value: str) -> str:
    """The clear URL, to send to; "" for a value that no key opens."""
    if not is_sealed(value):
        return value
    try:
        return unseal(value)
    except VaultError:
        return ""


def mask_url(value: str) -> str:
    """The URL as anyone may see it: where it goes (scheme, host, port), not its path."""
    if not value:
        return ""
    parts = urlsplit(open_url(value))
    if not parts.scheme or not parts.netloc:
        return SECRET_MASK
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/{SECRET_MASK}"


def unmask_url(value: Any, stored: str) -> tuple[Any, bool]:
    """A webhook URL sent back by a form, the API or a job file: the mask of the stored URL
    stands for it. Also whether `value` holds a mask that stands for nothing stored."""
    if not isinstance(value, str) or SECRET_MASK not in value:
        return value, False
    if stored and value.strip() in (mask_url(stored), SECRET_MASK):
        return stored, False
    return value, True


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    # Changes are found on the stored values, then shown masked: a changed secret is listed
    # (as masks on both sides) without either value appearing.
    shown_before, shown_after = masked_definition(before), masked_definition(after)
    changes: dict[str, list[Any]] = {}
    for field in before.keys() | after.keys():
        old, new = before.get(field), after.get(field)
        if old == new:
            continue
        shown_old, shown_new = shown_before.get(field), shown_after.get(field)
        if field == "config" and isinstance(old, dict) and isinstance(new, dict):
            assert isinstance(shown_old, dict) and isinstance(shown_new, dict)
            for key in old.keys() | new.keys():
                if old.get(key) != new.get(key):
                    changes[f"config.{key}"] = [shown_old.get(key), shown_new.get(key)]
        else:
            changes[field] = [shown_old, shown_new]
    return dict(sorted(changes.items()))


def record(**fields: Any) -> AuditEvent:
    """Write an audit entry now; the fields are entry()'s."""
    event = entry(**fields)
    event.save()
    return event


def entry(
    *,
    actor: Any,
    action: str,
    object_type: str,
    object_id: Any = "",
    object_repr: str = "",
    changes: dict[str, Any] | None = None,
    actor_name: str | None = None,
) -> AuditEvent:
    """An audit entry not yet saved, for services that save many at once (bulk_create)."""
    user = actor if actor is not None and actor.is_authenticated else None
    return AuditEvent(
        actor=user,
        actor_name=actor_name or (user.get_username() if user else "system"),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        object_repr=object_repr[:200],
        changes=changes or {},
        ip=_client_ip.get(),
    )


def on_login(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    record(
        actor=user,
        action=AuditEvent.Action.LOGIN,
        object_type="user",
        object_id=user.pk,
        object_repr=user.get_username(),
    )


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = str(credentials.get("username", ""))[:150]
    token = _client_ip.set(client_ip(request)) if request is not None else None
    try:
        record(
            actor=None,
            actor_name=username or "unknown",
            action=AuditEvent.Action.LOGIN_FAILED,
            object_type="user",
            object_repr=username,
        )
    finally:
        if token is not None:
            _client_ip.reset(token)
