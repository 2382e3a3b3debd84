from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


def clean_config(kind: str, config: Any) -> dict[str, Any]:
    from jobs.kinds import http, shell, task

    cleaners = {"task": task.clean_config, "http": http.clean_config, "shell": shell.clean_config}
    if kind not in cleaners:
        raise ValidationError({"kind": _("Unknown kind “%(kind)s”.") % {"kind": kind}})
    if not isinstance(config, dict):
        raise ValidationError({"config": _("The settings of a job must be an object.")})
    return cleaners[kind](config)


def seal_config(
    kind: str, config: dict[str, Any], previous: dict[str, Any] | None
) -> dict[str, Any]:
    """The settings as they are stored: secrets encrypted. Only http jobs have secrets."""
    from jobs.kinds import http

    return http.seal_config(config, previous) if kind == "http" else config


def secret_values(kind: str, config: dict[str, Any]) -> list[str]:
    """The clear secrets of these settings, to keep out of what a run records."""
    from jobs.kinds import http

    return http.secret_values(config) if kind == "http" else []
