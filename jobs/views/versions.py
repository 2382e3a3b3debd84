"""A job's saved versions with what changed in each, and restoring one as a new version."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from jobs import audit, change_display, selectors, services
from jobs.models import Job
from jobs.views.access import get_job, role_required


def _versions_context(job: Job) -> dict[str, Any]:
    versions = selectors.job_versions(job)
    diffs = []
    for i, version in enumerate(versions):
        older = versions[i + 1].definition if i + 1 < len(versions) else None
        diffs.append((version, older, audit.diff(older or {}, version.definition)))
    names = change_display.job_names(change_display.chain_job_ids(d for _v, _o, d in diffs))
    entries = []
    for version, older, changes in diffs:
        # The first version has nothing before it: its whole definition, compactly.
        if older is None:
            entry = {"summary": change_display.summary_rows(changes, 1, names)}
        else:
            entry = {"rows": change_display.change_rows(changes, names)}
        entries.append({"version": version, **entry})
    return {"job": job, "entries": entries}


@require_GET
@login_required
@role_required("view")
def job_versions(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    template = "jobs/_versions.html" if request.htmx else "jobs/job_versions.html"
    return render(request, template, _versions_context(job))


@require_POST
@login_required
@role_required("edit")
def job_version_restore(request: HttpRequest, pk: int, version: int) -> HttpResponse:
    job = get_job(pk)
    try:
        saved = services.job_restore_version(actor=request.user, job=job, version=version)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        if saved.version == job.version:
            messages.info(
                request, _("Version %(v)s is already the current definition.") % {"v": version}
            )
        else:
            messages.success(
                request,
                _("Version %(old)s restored as version %(new)s.")
                % {"old": version, "new": saved.version},
            )
    if request.htmx:
        return render(request, "jobs/_versions.html", _versions_context(get_job(pk)))
    return HttpResponseRedirect(reverse("jobs:job_versions", args=[pk]))
