"""What every API view shares: declared methods, authentication, one transaction per write, the
error shape, and reading JSON bodies and query parameters without ever answering 500 for them."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    ObjectDoesNotExist,
    PermissionDenied,
    RequestDataTooBig,
    ValidationError,
)
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from jobs.api.auth import SAFE_METHODS, authenticate
from jobs.api.errors import ApiError, bad_request, from_validation_error, invalid, not_found
from jobs.permissions import require

View = Callable[..., HttpResponse]
# Object ids are 64-bit in every database we support; a larger number cannot name anything.
MAX_ID = 2**63 - 1
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def api_view(
    *methods: str,
    public: bool = False,
    role: str | dict[str, str] = "edit",
    atomic: bool = True,
) -> Callable[[View], View]:
    """Declare the methods of an API view; every rejection becomes the one error shape.

    Unsafe methods need `role` (one action of jobs.permissions for all of them, or one per
    method), checked before anything of the request is read: a person who may not write is
    refused with 403 whatever the body, not told which fields are wrong. The services check
    again, with what they know (a shell job needs an Admin).

    Unsafe methods run in one transaction, so a request that fails half-way writes nothing;
    `atomic=False` leaves that to the services, for a view that must not hold the database's
    write lock while it reads (an import's plan) or waits on the network (a test request):
    SQLite takes its write lock when a transaction begins. `public` views (the schema, the docs, the
    health check) need no credentials.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise ApiError(
                        405,
                        "method_not_allowed",
                        _("%(method)s is not allowed here; use %(allowed)s.")
                        % {"method": request.method, "allowed": ", ".join(methods)},
                        headers={"Allow": ", ".join(methods)},
                    )
                if not public:
                    request.user = authenticate(request)
                    require(request.user, "view")
                    if request.method not in SAFE_METHODS:
                        needed = role if isinstance(role, str) else role[request.method]
                        require(request.user, needed)
                if "" in request.GET:
                    # `?=x` names nothing; answering as if it were absent would hide the mistake.
                    raise bad_request(_("A query parameter has no name."))
                if request.method in SAFE_METHODS or not atomic:
                    return view(request, *args, **kwargs)
                with transaction.atomic():
                    return view(request, *args, **kwargs)
            except Exception as exc:
                error = as_api_error(exc)
                if error is None:
                    raise
                return error.response()

        # Read by the tests that check every write endpoint's role.
        wrapped.api_methods = methods  # type: ignore[attr-defined]
        wrapped.api_role = None if public else role  # type: ignore[attr-defined]
        return csrf_exempt(wrapped)

    return decorate


def as_api_error(exc: Exception) -> ApiError | None:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ValidationError):
        return from_validation_error(exc)
    if isinstance(exc, PermissionDenied):
        return ApiError(403, "forbidden", str(exc) or _("Your role does not allow this."))
    if isinstance(exc, ObjectDoesNotExist | Http404):
        return not_found()
    if isinstance(exc, RequestDataTooBig):
        return ApiError(
            413,
            "too_large",
            _("The request body is larger than %(n)d bytes.")
            % {"n": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
        )
    if isinstance(exc, IntegrityError):
        # A unique constraint lost to a concurrent request (two creates of one name).
        return ApiError(409, "conflict", _("This conflicts with a change made at the same time."))
    return None


def object_id(value: int) -> int:
    if not 1 <= value <= MAX_ID:
        raise not_found()
    return value


# --- request bodies ------------------------------------------------------------------------------


def read_json(request: HttpRequest, *, required: bool = True) -> dict[str, Any]:
    """The JSON object in the body; an empty body is {} where a body is optional."""
    if not request.body:
        if required:
            raise bad_request(_("Send a JSON object in the request body."), "body_required")
        return {}
    if request.content_type != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            _("Send the body as application/json, not %(type)s.")
            % {"type": request.content_type or _("an unnamed type")},
        )
    try:
        data = json.loads(request.body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        message = _("The body is not valid JSON: %(error)s") % {"error": exc}
        raise bad_request(message, "malformed") from None
    if not isinstance(data, dict):
        raise bad_request(_("The body must be a JSON object."), "malformed")
    problem = _text_problem(data, "")
    if problem:
        raise invalid({problem[0] or "request": problem[1]})
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _text_problem(value: Any, path: str) -> tuple[str, str] | None:
    # Text that no database stores alike: NUL is refused by PostgreSQL, and a lone surrogate
    # cannot be encoded at all. Refused up front, with the field it is in.
    if isinstance(value, str):
        if "\x00" in value:
            return path, _("Text must not contain NUL characters.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path, _("Text must be valid Unicode (no lone surrogates).")
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            problem = _text_problem(key, inner) or _text_problem(item, inner)
            if problem:
                return problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problem = _text_problem(item, f"{path}[{index}]")
            if problem:
                return problem
    return None


# --- query parameters ----------------------------------------------------------------------------


def query_text(
    request: HttpRequest, name: str, *, required: bool = False, max_length: int | None = None
) -> str:
    if required and name not in request.GET:
        raise bad_request(_("The parameter %(name)s is required.") % {"name": name})
    value = request.GET.get(name, "")
    if "\x00" in value:
        raise bad_request(_("The parameter %(name)s contains a NUL character.") % {"name": name})
    if max_length is not None and len(value) > max_length:
        raise bad_request(
            _("The parameter %(name)s is longer than %(n)d characters.")
            % {"name": name, "n": max_length}
        )
    return value.strip()


def query_list(request: HttpRequest, name: str) -> list[str]:
    values = [value.strip() for value in request.GET.getlist(name)]
    if any("\x00" in value for value in values):
        raise bad_request(_("The parameter %(name)s contains a NUL character.") % {"name": name})
    return [value for value in values if value]


def query_choice(request: HttpRequest, name: str, choices: list[str]) -> str:
    value = query_text(request, name)
    if name in request.GET and value not in choices:
        raise bad_request(
            _("%(name)s must be one of: %(choices)s.")
            % {"name": name, "choices": ", ".join(choices)}
        )
    return value


def query_int(request: HttpRequest, name: str, default: int, minimum: int, maximum: int) -> int:
    # A typed parameter that is present must be valid, even empty (`?page=` is a mistake).
    if name not in request.GET:
        return default
    raw = query_text(request, name)
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not minimum <= value <= maximum:
        raise bad_request(
            _("%(name)s must be a whole number from %(min)s to %(max)s.")
            % {"name": name, "min": minimum, "max": maximum}
        )
    return value


def query_instant(request: HttpRequest, name: str) -> datetime | None:
    if name not in request.GET:
        return None
    try:
        return parse_instant(query_text(request, name))
    except ValueError:
        raise bad_request(
            _(
                "%(name)s must be an ISO-8601 date-time with an offset, between the years 1900 "
                "and 8999, e.g. %(example)s."
            )
            % {"name": name, "example": "2030-01-31T09:00:00+01:00"}
        ) from None


def parse_instant(text: str) -> datetime:
    """An ISO-8601 date-time with an offset, as UTC. A time without offset is ambiguous: refused.

    Years outside 1900-8999 are refused too: no schedule needs them, and schedule arithmetic
    near datetime's limits (year 1 or 9999) would overflow.
    """
    parsed = datetime.fromisoformat(text.strip())
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("no offset")
    try:
        instant = parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None
    if not EARLIEST <= instant < LATEST:
        raise ValueError("out of range")
    return instant


def isoformat(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None
