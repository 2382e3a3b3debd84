"""The Allowed hosts settings page: the internal hosts and networks http jobs may call."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from jobs import services
from jobs.forms import AllowedHostForm, add_service_errors
from jobs.models import AllowedHost
from jobs.views.access import role_required


def _context(form: AllowedHostForm | None = None) -> dict[str, object]:
    return {
        "entries": AllowedHost.objects.select_related("created_by"),
        "configured": settings.CRONADMIN_HTTP_ALLOWED_HOSTS,
        "form": form or AllowedHostForm(),
    }


def _respond(request: HttpRequest, form: AllowedHostForm | None = None) -> HttpResponse:
    template = "jobs/_allowed_hosts.html" if request.htmx else "jobs/allowed_hosts.html"
    return render(request, template, _context(form))


@require_http_methods(["GET", "POST"])
@login_required
@role_required("admin")
def allowed_hosts(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _respond(request)
    form = AllowedHostForm(request.POST)
    if form.is_valid():
        try:
            entry = services.allowed_host_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("%(host)s may now be called.") % {"host": entry.host})
            if not request.htmx:
                return HttpResponseRedirect(reverse("jobs:allowed_hosts"))
            return _respond(request)
    return _respond(request, form)


@require_POST
@login_required
@role_required("admin")
def allowed_host_delete(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_object_or_404(AllowedHost, pk=pk)
    services.allowed_host_delete(actor=request.user, entry=entry)
    messages.success(request, _("%(host)s is blocked again.") % {"host": entry.host})
    if not request.htmx:
        return HttpResponseRedirect(reverse("jobs:allowed_hosts"))
    return _respond(request)
