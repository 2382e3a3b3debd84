"""The page a locked-out login gets (django-axes calls it through AXES_LOCKOUT_CALLABLE)."""

import math
from typing import Any

from axes.helpers import get_cool_off, get_failure_limit
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    cool_off = get_cool_off(request)
    # Each attempt made while locked out restarts the wait (axes' default), so it counts from now.
    retry_at = timezone.now() + cool_off
    seconds = math.ceil(cool_off.total_seconds())
    context = {
        "failure_limit": get_failure_limit(request, credentials),
        "retry_at": retry_at,
        "minutes": math.ceil(seconds / 60),
    }
    response = render(request, "registration/lockout.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response
