"""A test request: an http job's request sent once, observed instead of recorded as a run.

It is the kind's own exchange (jobs.kinds.http): the same SSRF guard and allow-list, the same
pinned connection, no redirect followed, the same response size cap and a total deadline. What
differs is only what is kept: the status, the response headers, the timing and the start of the
body, for a person to read on the page, with the job's secrets masked. Nothing goes to the ledger.
"""

import http.client
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from jobs import kinds, vault
from jobs.audit import is_secret_header
from jobs.kinds import http as http_kind
from jobs.kinds.base import KindResult
from jobs.kinds.http_connection import Guard
from jobs.models import Run
from jobs.vault import SECRET_MASK, VaultError

# What the page shows of the body; the whole body (up to the size cap) is still read.
SHOWN_BODY_BYTES = 16_384


@dataclass
class ProbeResult:
    method: str
    url: str
    # The kind's verdict, as a run would have recorded it: state, reason, status.
    outcome: KindResult
    reason_phrase: str = ""
    http_version: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""
    body_bytes: int = 0
    # The body was longer than what is shown (or than the size cap).
    truncated: bool = False
    elapsed_seconds: float = 0.0

    @property
    def elapsed_ms(self) -> int:
        return round(self.elapsed_seconds * 1000)

    @property
    def succeeded(self) -> bool:
        return self.outcome.state == Run.State.SUCCEEDED


class _Sink:
    """Stands in for a run's OutputCapture: keeps the start of the body in memory."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.body = bytearray()
        self.received = 0

    def write(self, text: str) -> int:
        # The status line and the truncation note: the probe reports both on their own.
        return len(text)

    def write_bytes(self, data: bytes | bytearray | memoryview) -> None:
        room = self.limit - len(self.body)
        if room > 0:
            self.body += bytes(data[:room])
        self.received += len(data)


class _ObservedExchange(http_kind._Exchange):
    """The kind's exchange, remembering the response's head for the page."""

    def _copy_body(self, response: http.client.HTTPResponse) -> None:
        self.reason_phrase = response.reason
        self.http_version = "1.0" if response.version == 10 else "1.1"
        self.response_headers = response.getheaders()
        super()._copy_body(response)


def probe(config: dict[str, Any], *, deadline_seconds: float, idempotency_key: str) -> ProbeResult:
    """Send the request of these stored http settings once and describe what came back."""
    secrets = vault.redaction_targets(kinds.secret_values("http", config))
    method, url = config.get("method", "GET"), config.get("url", "")
    try:
        clear = http_kind.clean_config(http_kind._unsealed(config))
    except VaultError as exc:
        failed = KindResult(Run.State.FAILED, "a secret header cannot be decrypted", str(exc))
        return ProbeResult(method, url, failed)
    except ValidationError as exc:
        failed = KindResult(Run.State.FAILED, "; ".join(exc.messages))
        return ProbeResult(method, url, failed)
    sink = _Sink(SHOWN_BODY_BYTES)
    guard = Guard(threading.Event(), time.monotonic() + deadline_seconds)
    exchange = _ObservedExchange(clear, idempotency_key, sink, guard)  # type: ignore[arg-type]
    started = time.monotonic()
    guard.start()
    try:
        exchange.perform()
    except Exception as exc:
        state = guard.finish()
        exchange.close()
        outcome = http_kind._failure(exc, state, exchange.status, deadline_seconds)
    else:
        state = guard.finish()
        exchange.close()
        if state is not None:
            outcome = http_kind._interrupted(state, exchange.status, deadline_seconds)
        else:
            outcome = http_kind._judge(exchange, clear["expect_status"])
    elapsed = time.monotonic() - started
    headers = [
        (name, SECRET_MASK if is_secret_header(name) else vault.redact(value, secrets))
        for name, value in getattr(exchange, "response_headers", [])
    ]
    return ProbeResult(
        method=method,
        url=url,
        outcome=KindResult(
            outcome.state,
            outcome.reason.redacted(lambda text: vault.redact(text, secrets)),
            vault.redact(outcome.error, secrets),
            http_status=outcome.http_status,
        ),
        reason_phrase=getattr(exchange, "reason_phrase", ""),
        http_version=getattr(exchange, "http_version", ""),
        headers=headers,
        body=vault.redact(bytes(sink.body).decode("utf-8", errors="replace"), secrets),
        body_bytes=sink.received,
        truncated=exchange.truncated or sink.received > len(sink.body),
        elapsed_seconds=elapsed,
    )
