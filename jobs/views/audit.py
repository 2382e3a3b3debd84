"""The audit log: read-only; nobody can change or remove an entry through the product."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from jobs import change_display, selectors
from jobs.forms import choice_or_blank, filter_text, page_number
from jobs.models import AuditEvent
from jobs.views.access import role_required

OBJECT_TYPES = [
    ("job", _("Job")),
    ("run", _("Run")),
    ("calendar", _("Calendar")),
    ("user", _("User")),
    ("executor", _("Executor")),
    ("allowed_host", _("Allowed host")),
]


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
    page = selectors.audit_events(filters)
    events = list(page.object_list)
    names = change_display.job_names(change_display.chain_job_ids(e.changes for e in events))
    for event in events:
        # A creation or deletion lists the definition; anything else what changed.
        if event.action == AuditEvent.Action.CREATE:
            event.summary = change_display.summary_rows(event.changes, 1, names)
        elif event.action == AuditEvent.Action.DELETE:
            event.summary = change_display.summary_rows(event.changes, 0, names)
        else:
            event.rows = change_display.change_rows(event.changes, names)
    page.object_list = events
    context = {
        "page": page,
        "filters": filters,
        "actions": AuditEvent.Action.choices,
        "object_types": OBJECT_TYPES,
    }
    template = "jobs/_audit_table.html" if request.htmx else "jobs/audit_log.html"
    return render(request, template, context)
