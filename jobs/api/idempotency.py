"""`Idempotency-Key`: a retried request gets the first answer instead of acting twice.

An HTTP concern, not a business rule, so it lives with the API: the record of the first answer is
written in the same transaction as what the request did, so either both exist or neither. A
concurrent duplicate waits for that transaction (SQLite's write lock) or loses on the unique
index (PostgreSQL, answered 409); either way the action happens once.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from jobs.api.errors import ApiError, bad_request
from jobs.models import IdempotencyRecord

KEEP = timedelta(hours=24)
HEADER = "Idempotency-Key"


def idempotent(request: HttpRequest, scope: str, act: Callable[[], JsonResponse]) -> JsonResponse:
    if HEADER not in request.headers:
        return act()
    key = request.headers[HEADER]
    if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
        raise bad_request(_("Idempotency-Key must be 1 to 255 printable ASCII characters."))
    fingerprint = hashlib.sha256(
        b"\n".join([request.method.encode(), request.path.encode(), request.body])  # type: ignore[union-attr]
    ).hexdigest()
    cutoff = timezone.now() - KEEP
    mine = IdempotencyRecord.objects.filter(user=request.user, key=key, scope=scope)
    record = mine.filter(created_at__gte=cutoff).first()
    if record is not None:
        if record.fingerprint != fingerprint:
            raise ApiError(
                422,
                "idempotency_key_reused",
                _("This Idempotency-Key was used for a different request; use a new key."),
            )
        replay = JsonResponse(record.body, status=record.status, safe=False)
        replay["Idempotent-Replayed"] = "true"
        return replay
    response = act()
    # Expired records go as new ones come, so the table stays as small as a day's keys.
    IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    IdempotencyRecord.objects.create(
        user=request.user,
        key=key,
        scope=scope,
        fingerprint=fingerprint,
        status=response.status_code,
        body=json.loads(response.content),
    )
    return response
