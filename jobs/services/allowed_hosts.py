"""The internal hosts and networks http jobs and webhooks may call (the Allowed hosts page).

Entries are added and removed, never edited, each with who and why in the audit log. The SSRF
guard (jobs.kinds.ssrf) reads the table at every check, so nothing needs to be told of a change.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from jobs import audit
from jobs.kinds.ssrf import clean_allowed_entry
from jobs.models import AllowedHost, AuditEvent
from jobs.permissions import require
from jobs.services.jobs import Actor, _user

MAX_NOTE_LENGTH = AllowedHost._meta.get_field("note").max_length


@transaction.atomic
def allowed_host_create(*, actor: Actor, host: str, note: str) -> AllowedHost:
    require(actor, "admin")
    errors: dict[str, ValidationError] = {}
    try:
        host = clean_allowed_entry(host)
    except ValidationError as exc:
        errors["host"] = exc
    note = note.strip() if isinstance(note, str) else ""
    if not note:
        errors["note"] = ValidationError(
            _("Say why this host may be called, for whoever reads the list later."),
            code="required",
        )
    elif len(note) > MAX_NOTE_LENGTH:
        errors["note"] = ValidationError(
            _("Keep the note under %(n)d characters.") % {"n": MAX_NOTE_LENGTH}, code="too_long"
        )
    if "host" not in errors and AllowedHost.objects.filter(host=host).exists():
        errors["host"] = ValidationError(
            _("%(host)s is already on the list.") % {"host": host}, code="unique"
        )
    if errors:
        raise ValidationError(errors)
    entry = AllowedHost.objects.create(host=host, note=note, created_by=_user(actor))
    audit.record(
        actor=actor,
        action=AuditEvent.Action.CREATE,
        object_type="allowed_host",
        object_id=entry.pk,
        object_repr=host,
        changes={"host": [None, host], "note": [None, note]},
    )
    return entry


@transaction.atomic
def allowed_host_delete(*, actor: Actor, entry: AllowedHost) -> None:
    require(actor, "admin")
    audit.record(
        actor=actor,
        action=AuditEvent.Action.DELETE,
        object_type="allowed_host",
        object_id=entry.pk,
        object_repr=entry.host,
        changes={"host": [entry.host, None], "note": [entry.note, None]},
    )
    AllowedHost.objects.filter(pk=entry.pk).delete()
