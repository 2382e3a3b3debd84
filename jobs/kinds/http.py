"""The http job kind: one request to a public URL, within a total deadline.

The request connects to the address the SSRF guard checked (never resolving twice), follows no
redirect, reads at most CRONADMIN_HTTP_MAX_RESPONSE_BYTES of the body and stops on time (see
jobs.kinds.http_connection).
"""

import http.client
import ipaddress
import re
import ssl
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext_lazy as _

from jobs.audit import is_secret_header
from jobs.kinds.base import KindResult
from jobs.kinds.http_connection import (
    Guard,
    Interrupted,
    PinnedHTTPConnection,
    PinnedHTTPSConnection,
    resolve_in_time,
)
from jobs.kinds.ssrf import AddressError
from jobs.models import Run
from jobs.output import OutputCapture
from jobs.run_reasons import Reason, reason
from jobs.vault import VaultError, is_sealed, seal, unseal

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
FIELDS = ("method", "url", "headers", "body", "expect_status")
USER_AGENT = "CronAdmin"
# CronAdmin sets these itself; letting a job override them would break framing or the key.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "idempotency-key"}
)
MAX_URL_LENGTH = 2048
CHUNK_BYTES = 65_536

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_HOST_NAME = re.compile(
    r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$"
)


# --- settings ---


def clean_config(config: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise ValidationError(_("HTTP settings must be an object."), code="invalid")
    cleaners = {
        "method": (clean_method, "GET"),
        "url": (clean_url, ""),
        "headers": (clean_headers, {}),
        "body": (clean_body, ""),
        "expect_status": (clean_expect_status, []),
    }
    cleaned: dict[str, Any] = {}
    errors: dict[str, ValidationError] = {}
    for name, (cleaner, default) in cleaners.items():
        try:
            cleaned[name] = cleaner(config.get(name, default))
        except ValidationError as exc:
            errors[name] = exc
    unknown = sorted(str(name) for name in config if name not in FIELDS)
    if unknown:
        errors[NON_FIELD_ERRORS] = ValidationError(
            _("Unknown HTTP settings: %(names)s."),
            code="unknown_setting",
            params={"names": ", ".join(unknown)},
        )
    if errors:
        raise ValidationError(errors)
    return cleaned


def clean_method(value: Any) -> str:
    method = value.strip().upper() if isinstance(value, str) else value
    if method not in METHODS:
        raise ValidationError(
            _("Choose one of these methods: %(methods)s."),
            code="invalid_method",
            params={"methods": ", ".join(METHODS)},
        )
    return method


def clean_url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(_("Enter the URL to call."), code="required")
    url = value.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError(
            _("The URL is longer than %(limit)d characters."),
            code="too_long",
            params={"limit": MAX_URL_LENGTH},
        )
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise ValidationError(
            _("The URL must not contain spaces or control characters."), code="invalid_url"
        )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValidationError(_("This is not a valid URL."), code="invalid_url") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValidationError(
            _("Only http:// and https:// URLs can be called."), code="invalid_scheme"
        )
    if not parts.hostname:
        raise ValidationError(_("The URL needs a host name."), code="missing_host")
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            _("Put credentials in a header, not in the URL."), code="credentials_in_url"
        )
    port = _clean_port(parts)
    netloc = _netloc(_clean_host(parts.hostname), port)
    # The fragment never reaches the server; dropping it keeps the stored URL honest.
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def clean_headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(
            _("Headers must be an object of names and text values."), code="invalid_headers"
        )
    headers: dict[str, str] = {}
    seen: set[str] = set()
    for name, header_value in value.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name.strip()):
            raise ValidationError(
                _("%(name)s is not a valid header name."),
                code="invalid_header_name",
                params={"name": repr(name)},
            )
        name = name.strip()
        if name.lower() in RESERVED_HEADERS:
            raise ValidationError(
                _("The %(name)s header is set by CronAdmin and cannot be changed."),
                code="reserved_header",
                params={"name": name},
            )
        if name.lower() in seen:
            raise ValidationError(
                _("The %(name)s header is given twice."),
                code="duplicate_header",
                params={"name": name},
            )
        if not isinstance(header_value, str) or any(c in header_value for c in "\r\n\0"):
            # A line break in a value would let a job inject headers or a second request.
            raise ValidationError(
                _("The value of %(name)s must be text on one line."),
                code="invalid_header_value",
                params={"name": name},
            )
        seen.add(name.lower())
        headers[name] = header_value.strip()
    return headers


def clean_body(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(_("The body must be text."), code="invalid_body")
    return value


def clean_expect_status(value: Any) -> list[int]:
    if value is None:
        return []
    valid = isinstance(value, list | tuple) and all(
        isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599
        for code in value
    )
    if not valid:
        raise ValidationError(
            _("Expected statuses must be a list of HTTP status codes (100-599)."),
            code="invalid_status",
        )
    return sorted(set(value))


def _clean_port(parts: SplitResult) -> int | None:
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValidationError(_("The port must be between 1 and 65535."), code="invalid_port")
    return port


def _clean_host(host: str) -> str:
    if ":" in host:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise ValidationError(_("The host name is not valid."), code="invalid_host") from None
        return host
    try:
        # Internationalised names travel as their ASCII (punycode) form.
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValidationError(_("The host name is not valid."), code="invalid_host") from None
    if not _HOST_NAME.match(ascii_host):
        raise ValidationError(_("The host name is not valid."), code="invalid_host")
    return ascii_host


def _netloc(host: str, port: int | None) -> str:
    written = f"[{host}]" if ":" in host else host
    return f"{written}:{port}" if port is not None else written


# --- secrets ---


def seal_config(config: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """Settings as stored: the values of secret headers encrypted (see jobs.vault).

    Encrypted values come back too (the mask kept by a form or the API, a restored version);
    they must open with the keys at hand. A value equal to the one stored keeps the stored
    ciphertext, so saving or restoring an unchanged definition makes no new version.

    A secret stays with the address it was entered for: when the URL's scheme, host or port
    changes, a stored secret sent back as it is (the mask) is refused, and has to be typed
    again for the new address (or the header removed).
    """
    headers = config.get("headers") or {}
    stored = (previous or {}).get("headers") or {}
    old_origin = origin(previous.get("url")) if previous else None
    moved = old_origin is not None and origin(config.get("url")) != old_origin
    stored_sealed = {value for value in stored.values() if is_sealed(value)}
    sealed: dict[str, str] = {}
    left_behind: list[str] = []
    for name, value in headers.items():
        if not is_sealed(value) and not is_secret_header(name):
            sealed[name] = value
            continue
        if moved and value in stored_sealed:
            left_behind.append(name)
            continue
        clear = _opened(name, value) if is_sealed(value) else value
        kept = stored.get(name)
        if is_sealed(kept) and _opens_to(kept, clear):
            sealed[name] = kept
        else:
            sealed[name] = value if is_sealed(value) else seal(value)
    if left_behind:
        raise ValidationError(
            {
                "headers": ValidationError(
                    _(
                        "The URL now goes to %(new)s instead of %(old)s. The saved value of "
                        "%(names)s was entered for %(old)s and is never sent anywhere else: "
                        "enter it again for the new address, or remove the header."
                    ),
                    code="secret_target_changed",
                    params={
                        "new": _shown_origin(origin(config.get("url"))),
                        "old": _shown_origin(old_origin),
                        "names": ", ".join(left_behind),
                    },
                )
            }
        )
    return {**config, "headers": sealed}


def origin(url: Any) -> tuple[str, str, int] | None:
    """Where a URL sends its request: scheme, host and port (the secrets' target)."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


def _shown_origin(target: tuple[str, str, int] | None) -> str:
    if target is None:
        return "?"
    scheme, host, port = target
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{_netloc(host, None if port == default else port)}"


def mark_secret(headers: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """`headers` with the values of `names` (any header, compared without case) encrypted, so
    that they are stored and shown as secrets whatever their names."""
    wanted = {name.lower() for name in names}
    return {
        name: seal(value)
        if str(name).lower() in wanted and isinstance(value, str) and not is_sealed(value)
        else value
        for name, value in headers.items()
    }


def _opened(name: str, value: str) -> str:
    try:
        return unseal(value)
    except VaultError:
        raise ValidationError(
            {
                "headers": ValidationError(
                    _("The saved value of %(name)s can no longer be decrypted; type it again."),
                    code="undecryptable",
                    params={"name": name},
                )
            }
        ) from None


def map_header_values(config: dict[str, Any], change: Callable[[str, str], str]) -> dict[str, Any]:
    """The settings with each header value replaced by change(name, value)."""
    headers = config.get("headers")
    if not isinstance(headers, dict):
        return config
    return {**config, "headers": {name: change(name, v) for name, v in headers.items()}}


def secret_values(config: dict[str, Any]) -> list[str]:
    """The clear values of the secret headers: what a run's output and error must not show."""
    headers = config.get("headers") or {}
    return [
        unseal(value) if is_sealed(value) else value
        for name, value in headers.items()
        if is_sealed(value) or is_secret_header(name)
    ]


def _opens_to(sealed: str, value: str) -> bool:
    try:
        return unseal(sealed) == value
    except VaultError:
        return False


def _unsealed(config: dict[str, Any]) -> dict[str, Any]:
    return map_header_values(config, lambda _name, v: unseal(v) if is_sealed(v) else v)


# --- running ---


def execute(
    config: dict[str, Any],
    *,
    deadline_seconds: float,
    idempotency_key: str,
    output: OutputCapture,
    cancel: threading.Event,
) -> KindResult:
    # The only place secrets are decrypted: the request itself needs them.
    try:
        config = clean_config(_unsealed(config))
    except VaultError as exc:
        return KindResult(Run.State.FAILED, reason("http_secret_unreadable"), error=str(exc))
    except ValidationError as exc:
        return KindResult(Run.State.FAILED, reason("http_invalid"), error="; ".join(exc.messages))
    guard = Guard(cancel, time.monotonic() + deadline_seconds)
    guard.start()
    exchange = _Exchange(config, idempotency_key, output, guard)
    try:
        exchange.perform()
    except Exception as exc:
        state = guard.finish()
        exchange.close()
        return _failure(exc, state, exchange.status, deadline_seconds)
    state = guard.finish()
    exchange.close()
    if state is not None:
        return _interrupted(state, exchange.status, deadline_seconds)
    return _judge(exchange, config["expect_status"])


class _Exchange:
    """One request and its response, kept so a failure still reports the status if known."""

    def __init__(
        self, config: dict[str, Any], idempotency_key: str, output: OutputCapture, guard: Guard
    ) -> None:
        self.config = config
        self.idempotency_key = idempotency_key
        self.output = output
        self.guard = guard
        self.connection: PinnedHTTPConnection | PinnedHTTPSConnection | None = None
        self.status: int | None = None
        self.location = ""
        self.truncated = False

    def perform(self) -> None:
        parts = urlsplit(self.config["url"])
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = resolve_in_time(host, port, self.guard)
        pinned = PinnedHTTPSConnection if parts.scheme == "https" else PinnedHTTPConnection
        self.connection = pinned(host, port, address=address, guard=self.guard)
        target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        body = self.config["body"].encode("utf-8") or None
        self.connection.request(self.config["method"], target, body=body, headers=self._headers())
        self._set_timeout()
        response = self.connection.getresponse()
        self.status = response.status
        self.location = response.getheader("Location", "")
        version = "1.0" if response.version == 10 else "1.1"
        self.output.write(f"HTTP/{version} {response.status} {response.reason}\n\n")
        self._copy_body(response)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT}
        headers.update(self.config["headers"])
        headers["Idempotency-Key"] = self.idempotency_key
        return headers

    def _set_timeout(self) -> None:
        assert self.connection is not None and self.connection.live_socket is not None
        self.connection.live_socket.settimeout(self.guard.step_timeout())

    def _copy_body(self, response: http.client.HTTPResponse) -> None:
        limit = settings.CRONADMIN_HTTP_MAX_RESPONSE_BYTES
        received = 0
        while True:
            self._set_timeout()
            # One byte more than the cap tells a full body from a truncated one.
            chunk = response.read1(min(CHUNK_BYTES, limit - received + 1))
            if not chunk:
                break
            kept = chunk[: limit - received]
            self.output.write_bytes(kept)
            received += len(kept)
            if len(chunk) > len(kept):
                self.truncated = True
                self.output.write(f"\n[response truncated at {limit} bytes]\n")
                return
        if response.length:
            # read1 reports a connection closed early as a plain end of body.
            raise http.client.IncompleteRead(b"", response.length)


def _judge(exchange: _Exchange, expect_status: list[int]) -> KindResult:
    status = exchange.status
    assert status is not None
    if status in expect_status or (not expect_status and 200 <= status <= 299):
        return KindResult(
            Run.State.SUCCEEDED, reason("http_status", status=status), http_status=status
        )
    expected = ", ".join(str(code) for code in expect_status) or "200-299"
    if 300 <= status <= 399 and exchange.location:
        why = reason("http_redirect", status=status, location=exchange.location, expected=expected)
    else:
        why = reason("http_unexpected", status=status, expected=expected)
    return KindResult(Run.State.FAILED, why, http_status=status)


def _interrupted(state: str, status: int | None, deadline_seconds: float) -> KindResult:
    if state == Run.State.CANCELLED:
        return KindResult(Run.State.CANCELLED, reason("cancelled"), http_status=status)
    why = reason("timed_out", seconds=f"{deadline_seconds:g}")
    return KindResult(Run.State.TIMED_OUT, why, http_status=status)


def _failure(
    exc: Exception, state: str | None, status: int | None, deadline_seconds: float
) -> KindResult:
    # Once the guard fired, whatever the socket raised is a consequence, not the cause.
    if isinstance(exc, Interrupted):
        return _interrupted(exc.state, status, deadline_seconds)
    if state is not None:
        return _interrupted(state, status, deadline_seconds)
    if isinstance(exc, TimeoutError):
        return _interrupted(Run.State.TIMED_OUT, status, deadline_seconds)
    why = _failure_reason(exc)
    if why is None:
        return KindResult(
            Run.State.FAILED,
            reason("unexpected_error", type=type(exc).__name__),
            error="".join(traceback.format_exception(exc)),
            http_status=status,
        )
    return KindResult(Run.State.FAILED, why, error=str(exc), http_status=status)


def _failure_reason(exc: Exception) -> Reason | None:
    if isinstance(exc, AddressError):
        return reason("message", message=str(exc))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return reason("tls_certificate", detail=str(exc.verify_message))
    if isinstance(exc, ssl.SSLError):
        return reason("tls_error", detail=str(exc.reason or exc))
    if isinstance(exc, http.client.IncompleteRead):
        return reason("http_incomplete")
    if isinstance(exc, http.client.HTTPException):
        return reason("http_invalid_response", detail=f"{type(exc).__name__} {exc}".strip())
    if isinstance(exc, ConnectionRefusedError):
        return reason("http_refused")
    if isinstance(exc, OSError):
        return reason("http_connection_failed", detail=str(exc.strerror or exc))
    return None
