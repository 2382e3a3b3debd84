"""The internal hosts and networks http jobs and webhooks may call; administrators only."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from jobs import services
from jobs.api.endpoint import api_view, isoformat, object_id, read_json
from jobs.api.errors import from_validation_error, invalid
from jobs.models import AllowedHost
from jobs.permissions import require

ENTRY_FIELDS = ("host", "note")


def entry_json(entry: AllowedHost) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "host": entry.host,
        "kind": "network" if entry.is_network else "name",
        "note": entry.note,
        "created_at": isoformat(entry.created_at),
        "created_by": entry.created_by.get_username() if entry.created_by else None,
    }


@api_view("GET", "POST", role="admin")
def allowed_hosts(request: HttpRequest) -> HttpResponse:
    # Which internal networks exist is itself worth hiding: administrators only, reads too.
    require(request.user, "admin")
    if request.method == "POST":
        data = read_json(request)
        errors = {name: _("Unknown field.") for name in data if name not in ENTRY_FIELDS}
        errors.update({n: _("This field is required.") for n in ENTRY_FIELDS if n not in data})
        if errors:
            raise invalid(errors)
        try:
            entry = services.allowed_host_create(
                actor=request.user, host=data["host"], note=data["note"]
            )
        except ValidationError as exc:
            raise from_validation_error(exc) from None
        return JsonResponse(entry_json(entry), status=201)
    entries = [entry_json(e) for e in AllowedHost.objects.select_related("created_by")]
    return JsonResponse(
        {
            "results": entries,
            "count": len(entries),
            "configured": list(settings.CRONADMIN_HTTP_ALLOWED_HOSTS),
        }
    )


@api_view("DELETE", role="admin")
def allowed_host_item(request: HttpRequest, entry_id: int) -> HttpResponse:
    require(request.user, "admin")
    entry = AllowedHost.objects.get(pk=object_id(entry_id))
    services.allowed_host_delete(actor=request.user, entry=entry)
    return HttpResponse(status=204)
