"""The API's one error shape: {"error": {"code", "message", "fields"}}.

Every rejection, from a missing token to a bad schedule, leaves through here, so clients handle
one format and the OpenAPI schema can promise it for every 4xx.
"""

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import JsonResponse
from django.utils.translation import gettext as _

# ValidationError codes that mean "the request clashes with the current state", not "the request
# is malformed": a name already taken, a run that has already ended.
CONFLICT_CODES = frozenset({"unique", "conflict", "already_final"})


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        response = error_response(self.status, self.code, self.message, self.fields)
        for name, value in self.headers.items():
            response[name] = value
        return response


def error_response(
    status: int, code: str, message: str, fields: dict[str, str] | None = None
) -> JsonResponse:
    body = {"error": {"code": code, "message": message, "fields": fields or {}}}
    return JsonResponse(body, status=status)


def bad_request(message: str, code: str = "bad_request") -> ApiError:
    return ApiError(400, code, message)


def invalid(fields: dict[str, str], message: str | None = None) -> ApiError:
    return ApiError(422, "invalid", message or _("Some fields are not valid."), fields)


def not_found(message: str | None = None) -> ApiError:
    return ApiError(404, "not_found", message or _("Not found."))


def from_validation_error(exc: ValidationError, rename: dict[str, str] | None = None) -> ApiError:
    """A model or service ValidationError as one API error: 409 for conflicts, else 422.

    `rename` maps the model's field names to the API's (`url` → `http.url`); errors that belong
    to no field go into the message only.
    """
    rename = rename or {}
    items = exc.error_dict.items() if hasattr(exc, "error_dict") else [(NON_FIELD_ERRORS, exc)]
    fields: dict[str, str] = {}
    loose: list[str] = []
    codes: set[str | None] = set()
    for name, errors in items:
        error_list = errors.error_list if isinstance(errors, ValidationError) else errors
        codes.update(error.code for error in error_list)
        text = " ".join(m for error in error_list for m in error.messages)
        key = rename.get(name, "" if name == NON_FIELD_ERRORS else name)
        if key:
            fields[key] = f"{fields[key]} {text}" if key in fields else text
        else:
            loose.append(text)
    message = " ".join([*loose, *(f"{key}: {text}" for key, text in fields.items())])
    if codes and codes <= CONFLICT_CODES:
        code = "already_final" if codes == {"already_final"} else "conflict"
        return ApiError(409, code, message, fields)
    return ApiError(422, "invalid", message or _("The request is not valid."), fields)
