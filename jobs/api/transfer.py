"""Job files over the API: export as JSON or YAML, import with a plan first (docs/api.md)."""

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from jobs import services
from jobs.api.endpoint import api_view, query_choice, query_list, query_text
from jobs.api.errors import ApiError, bad_request, not_found
from jobs.job_files import FORMATS
from jobs.services import JobFileError

CONTENT_TYPES = {"json": "application/json", "yaml": "application/yaml"}
# What clients send YAML as: there was no registered type until RFC 9512 (2024).
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
FINGERPRINT_LENGTH = 64


@api_view("GET")
def jobs_export(request: HttpRequest) -> HttpResponse:
    fmt = query_choice(request, "format", list(FORMATS)) or "json"
    names = query_list(request, "name")
    try:
        text = services.jobs_export(actor=request.user, fmt=fmt, names=names or None)
    except ValidationError as exc:
        # The only refusal left once the format is checked: a name that no job has.
        raise not_found(" ".join(exc.messages)) from None
    return HttpResponse(text, content_type=f"{CONTENT_TYPES[fmt]}; charset=utf-8")


# Not one transaction: the plan reads only, and applying takes its own short transaction.
@api_view("POST", atomic=False)
def jobs_import(request: HttpRequest) -> HttpResponse:
    apply = query_flag(request, "apply")
    delete_missing = query_flag(request, "delete_missing")
    fingerprint = query_text(request, "fingerprint", max_length=FINGERPRINT_LENGTH) or None
    if not request.body.strip():
        raise bad_request(_("Send the job file in the request body."), "body_required")
    fmt = _body_format(request)
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request(_("The body must be UTF-8 text."), "malformed") from None
    try:
        if apply:
            plan = services.jobs_import_apply(
                actor=request.user,
                text=text,
                fmt=fmt,
                delete_missing=delete_missing,
                fingerprint=fingerprint,
            )
        else:
            plan = services.jobs_import_plan(
                actor=request.user, text=text, fmt=fmt, delete_missing=delete_missing
            )
    except JobFileError as exc:
        raise ApiError(422, "invalid_file", exc.messages[0], _problem_fields(exc)) from None
    return JsonResponse(plan.as_json())


def _problem_fields(exc: JobFileError) -> dict[str, str]:
    """Every problem of the file, by where it is; two at one place share its entry."""
    fields: dict[str, str] = {}
    for problem in exc.problems:
        message = problem.messages[0]
        fields[problem.path] = (
            f"{fields[problem.path]} {message}" if problem.path in fields else message
        )
    return fields


def _body_format(request: HttpRequest) -> str:
    if request.content_type == "application/json":
        return "json"
    if request.content_type in YAML_TYPES:
        return "yaml"
    raise ApiError(
        415,
        "unsupported_media_type",
        _("Send the file as application/json or application/yaml, not %(type)s.")
        % {"type": request.content_type or _("an unnamed type")},
    )


def query_flag(request: HttpRequest, name: str) -> bool:
    value = query_text(request, name).lower()
    if value in ("", "false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise bad_request(_("%(name)s must be true or false.") % {"name": name})
