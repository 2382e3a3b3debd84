"""Who is calling: a bearer token (scripts, CI, executors) or the browser's session.

A token is checked against the SHA-256 stored in ApiToken (jobs.services.api_token_authenticate).
A session is only trusted for unsafe methods with a valid CSRF token, exactly like the web pages:
the API views are CSRF-exempt so that token clients need no cookie, and the check is made here.
"""

from typing import Any

from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.translation import gettext as _

from jobs import services
from jobs.api.errors import ApiError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="cronadmin"'}


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> Any:
        return reason


def authenticate(request: HttpRequest) -> Any:
    """The user behind `request`, or ApiError 401 (403 for a session without its CSRF token)."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _space, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                401,
                "not_authenticated",
                _("Send your API token as “Authorization: Bearer <token>”."),
                headers=CHALLENGE,
            )
        user = services.api_token_authenticate(token)
        if user is None:
            raise ApiError(
                401,
                "invalid_token",
                _("This API token is not valid: unknown, revoked, or its user is disabled."),
                headers=CHALLENGE,
            )
        return user
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        raise ApiError(
            401,
            "not_authenticated",
            _("Authentication required: send “Authorization: Bearer <token>” or log in."),
            headers=CHALLENGE,
        )
    if request.method not in SAFE_METHODS:
        _check_csrf(request)
    return user


def _check_csrf(request: HttpRequest) -> None:
    check = _CsrfCheck(lambda _request: None)  # type: ignore[arg-type]
    check.process_request(request)
    reason = check.process_view(request, None, (), {})  # type: ignore[arg-type]
    if reason:
        raise ApiError(
            403,
            "csrf_failed",
            _("CSRF check failed (%(reason)s). Send the X-CSRFToken header, or use a token.")
            % {"reason": reason},
        )
