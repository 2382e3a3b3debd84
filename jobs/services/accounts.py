"""Writes that belong to a person: preferences and personal API tokens."""

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from jobs import audit
from jobs.models import (
    ApiToken,
    AuditEvent,
    UserProfile,
)
from jobs.permissions import require
from jobs.services.jobs import Actor, _user


@transaction.atomic
def profile_update(*, actor: Actor, language: str, timezone_name: str) -> UserProfile:
    """Save the language and time zone the pages are shown in for `actor`."""
    from django.conf import settings

    from jobs.validators import validate_timezone

    user = _user(actor)
    if user is None:
        raise PermissionDenied(_("Log in to change your preferences."))
    errors: dict[str, list[ValidationError]] = {}
    if language and language not in dict(settings.LANGUAGES):
        errors["language"] = [ValidationError(_("Choose one of the offered languages."))]
    if timezone_name:
        try:
            validate_timezone(timezone_name)
        except ValidationError as exc:
            errors["timezone"] = exc.error_list
    if errors:
        raise ValidationError(errors)
    profile, _created = UserProfile.objects.get_or_create(user=user)
    profile.language = language
    profile.timezone = timezone_name
    profile.save(update_fields=["language", "timezone"])
    return profile


@transaction.atomic
def profile_timezone_set(*, actor: Actor, timezone_name: str) -> UserProfile:
    """Save only the time zone (the offer of the browser's zone on a first visit)."""
    from jobs.validators import validate_timezone

    user = _user(actor)
    if user is None:
        raise PermissionDenied(_("Log in to change your preferences."))
    try:
        validate_timezone(timezone_name)
    except ValidationError as exc:
        raise ValidationError({"timezone": exc.error_list}) from exc
    profile, _created = UserProfile.objects.get_or_create(user=user)
    profile.timezone = timezone_name
    profile.save(update_fields=["timezone"])
    return profile


# --- API tokens ---------------------------------------------------------------------------------

API_TOKEN_PREFIX = "cra_"
# A token's last use is written at most this often: a busy script must not turn every API call
# into a database write.
API_TOKEN_TOUCH_SECONDS = 60


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _require_self_or_admin(actor: Actor, user: Any) -> None:
    # People manage their own tokens; only administrators manage someone else's.
    if actor is None:
        return
    acting = _user(actor)
    if acting is None or acting.pk != user.pk:
        require(actor, "admin")


@transaction.atomic
def api_token_create(*, actor: Actor, user: Any, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`: returned here once, stored only as its SHA-256."""
    _require_self_or_admin(actor, user)
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": _("Give the token a name of 1 to 100 characters.")})
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    api_token = ApiToken.objects.create(
        user=user, name=name, prefix=token[:12], token_hash=_token_hash(token)
    )
    audit.record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        object_type="api_token",
        object_id=api_token.pk,
        object_repr=f"{name} ({api_token.prefix}…) of {user.get_username()}",
    )
    return api_token, token


@transaction.atomic
def api_token_revoke(*, actor: Actor, token: ApiToken) -> ApiToken:
    token = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
    _require_self_or_admin(actor, token.user)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(
            actor=actor,
            action=AuditEvent.Action.DELETE,
            object_type="api_token",
            object_id=token.pk,
            object_repr=f"{token.name} ({token.prefix}…) of {token.user.get_username()}",
        )
    return token


def api_token_authenticate(token: str) -> Any | None:
    """The active user `token` belongs to, or None when it is unknown, revoked or disabled."""
    found = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=_token_hash(token), revoked_at__isnull=True)
        .first()
    )
    if found is None or not found.user.is_active:
        return None
    now = timezone.now()
    stale = now - timedelta(seconds=API_TOKEN_TOUCH_SECONDS)
    if found.last_used_at is None or found.last_used_at < stale:
        # Conditional, so a burst of requests with one token still writes once.
        ApiToken.objects.filter(pk=found.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale)
        ).update(last_used_at=now)
    return found.user
