"""What the web answers when a request fails unexpectedly, above all when the database is down.

Django hands every unhandled exception, raised in a view or in any middleware, to the urlconf's
handler500 while the exception is still being handled; so this one place sees them all.
"""

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.defaults import server_error as default_server_error

from jobs.api.errors import error_response

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 30
DATABASE_ERRORS = (OperationalError, InterfaceError)


def server_error(request: HttpRequest) -> HttpResponse:
    error = _database_error(sys.exc_info()[1])
    if error is None:
        if _is_api(request):
            return error_response(500, "server_error", _("An unexpected error occurred."))
        return default_server_error(request)
    # One line, no traceback: a database outage fails every request the same way and would
    # otherwise bury the log.
    logger.error(
        "database unavailable, answered 503: %s %s: %s",
        request.method,
        request.path,
        _first_line(error),
    )
    if _is_api(request):
        response: HttpResponse = error_response(
            503, "unavailable", _("The database is unavailable; try again shortly.")
        )
    else:
        page = render_to_string("503.html", {"retry_after": RETRY_AFTER_SECONDS})
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    response._has_been_logged = True  # type: ignore[attr-defined]  # Django's traceback log
    return response


def _database_error(exc: BaseException | None) -> BaseException | None:
    # Third-party code sometimes re-raises a database error as its own exception.
    for _depth in range(10):
        if exc is None or isinstance(exc, DATABASE_ERRORS):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
