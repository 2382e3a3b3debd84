"""The audit log: read-only; nobody can change or remove an entry through the product."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs.forms import choice_or_blank, filter_text, page_number
from jobs.models import AuditEvent
from jobs.views.access import role_required

OBJECT_TYPES = [("job", "job"), ("run", "run"), ("calendar", "calendar"), ("user", "user")]


@require_GET
@login_required
@role_required("view")
def audit_log(request: HttpRequest) -> HttpResponse:
    filters = selectors.AuditFilters(
        actor=filter_text(request.GET.get("actor", ""), 150),
        action=choice_or_blank(request.GET.get("action", ""), AuditEvent.Action.choices),
        object_type=choice_or_blank(request.GET.get("object_type", ""), OBJECT_TYPES),
        object_id=filter_text(request.GET.get("object_id", ""), 40),
        page=page_number(request.GET.get("page")),
    )
    context = {
        "page": selectors.audit_events(filters),
        "filters": filters,
        "actions": AuditEvent.Action.choices,
        "object_types": OBJECT_TYPES,
    }
    template = "jobs/_audit_table.html" if request.htmx else "jobs/audit_log.html"
    return render(request, template, context)
