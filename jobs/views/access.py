"""Fetching the objects a URL names, and the small response helpers every page area shares."""

import math
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

from jobs.models import Job, Run
from jobs.permissions import require

FAST_POLL = "every 2s"
# A page that waits for a future run asks once when it is due; beyond this it waits for a click.
MAX_WAIT_SECONDS = 3600


View = Callable[..., HttpResponse]


def role_required(action: str) -> Callable[[View], View]:
    """Refuse (403) people whose role does not allow `action`; use after login_required.

    Reading needs the Viewer role; a person with an account but no role sees nothing.
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            require(request.user, action)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


# Every role may read every job and run (secrets are masked in the templates), so one lookup
# per type is all the access control reading needs; writes are checked by the services.
def get_job(pk: int) -> Job:
    return get_object_or_404(Job, pk=pk)


def get_run(pk: int) -> Run:
    related = ("job", "requested_by", "parent_run__job")
    return get_object_or_404(Run.objects.select_related(*related), pk=pk)


def redirect_after_action(request: HttpRequest, url: str) -> HttpResponse:
    """htmx follows a normal redirect with a swap; a changed page needs a client-side visit."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)


def poll_trigger(*, busy: bool, next_at: datetime | None = None) -> str:
    """The hx-trigger that keeps a region fresh, or "" when nothing on it can change by itself.

    While something runs the region polls; otherwise it asks once, when the next run is due.
    """
    if busy:
        return FAST_POLL
    if next_at is None:
        return ""
    wait = (next_at - timezone.now()).total_seconds()
    if wait > MAX_WAIT_SECONDS:
        return ""
    return f"load delay:{max(1, math.ceil(wait) + 1)}s"
