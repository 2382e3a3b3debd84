"""Delivery: e-mail through Django's e-mail backend, webhooks through the http jobs' guard.

A webhook goes through exactly the code http jobs use (jobs.kinds.ssrf, jobs.kinds.http_connection):
the host is resolved once and checked against the SSRF rules and CRONADMIN_HTTP_ALLOWED_HOSTS, the
connection is pinned to the checked address, no redirect is followed, and a guard thread ends the
request at its deadline. A job's webhook must not become a way to reach what its http jobs cannot.
"""

import http.client
import json
import smtplib
import ssl
import threading
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail

from jobs.kinds.http import USER_AGENT, clean_url
from jobs.kinds.http_connection import (
    Guard,
    Interrupted,
    PinnedHTTPConnection,
    PinnedHTTPSConnection,
    resolve_in_time,
)
from jobs.kinds.ssrf import AddressError

# A receiver's answer is only read to free the connection; its body says nothing we keep.
MAX_ANSWER_BYTES = 65_536


class SendError(Exception):
    """A message could not be delivered; the text is recorded on the notification."""


def send_email(recipients: list[str], subject: str, body: str) -> None:
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=False)
    except (OSError, smtplib.SMTPException) as exc:
        raise SendError(f"e-mail not sent: {exc}") from exc


def send_webhook(url: str, payload: dict[str, Any], *, idempotency_key: str) -> int:
    """POST `payload` as JSON to `url`; returns the 2xx status or raises SendError."""
    try:
        url = clean_url(url)
    except ValidationError as exc:
        raise SendError("; ".join(exc.messages)) from None
    timeout = settings.CRONADMIN_NOTIFY_TIMEOUT_SECONDS
    guard = Guard(threading.Event(), time.monotonic() + timeout)
    guard.start()
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    connection: PinnedHTTPConnection | PinnedHTTPSConnection | None = None
    try:
        address = resolve_in_time(host, port, guard)
        pinned = PinnedHTTPSConnection if parts.scheme == "https" else PinnedHTTPConnection
        connection = pinned(host, port, address=address, guard=guard)
        target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        body = json.dumps(payload).encode("utf-8")
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            # Retried sends of one notification carry the same key: the receiver can drop repeats.
            "Idempotency-Key": idempotency_key,
        }
        connection.request("POST", target, body=body, headers=headers)
        assert connection.live_socket is not None
        connection.live_socket.settimeout(guard.step_timeout())
        response = connection.getresponse()
        response.read(MAX_ANSWER_BYTES)
        status = response.status
    except Interrupted:
        raise SendError(f"webhook timed out after {timeout:g} s") from None
    except (OSError, http.client.HTTPException, ssl.SSLError, AddressError) as exc:
        if guard.state is not None:
            raise SendError(f"webhook timed out after {timeout:g} s") from None
        raise SendError(f"webhook not delivered: {exc}") from None
    finally:
        guard.finish()
        if connection is not None:
            connection.close()
    if not 200 <= status <= 299:
        raise SendError(f"webhook answered HTTP {status}")
    return status
