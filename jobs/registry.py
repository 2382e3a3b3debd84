"""Python tasks that operators may schedule, registered by developers with `@task`.

Only names registered here can run: a job never names an arbitrary dotted path. Each installed
app may define a `cron_tasks` module; it is imported at start-up like `admin.py`.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _

SUPPORTED_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


@dataclass(frozen=True)
class TaskParam:
    name: str
    type: type
    required: bool
    default: Any = None
    help: str = ""

    @property
    def type_name(self) -> str:
        return SUPPORTED_TYPES[self.type]


@dataclass(frozen=True)
class RegisteredTask:
    name: str
    func: Callable[..., Any]
    description: str
    params: tuple[TaskParam, ...] = field(default_factory=tuple)

    def json_schema(self) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        for param in self.params:
            prop: dict[str, Any] = {"type": param.type_name}
            if not param.required:
                prop["default"] = param.default
            if param.help:
                prop["description"] = param.help
            properties[param.name] = prop
        return {
            "type": "object",
            "properties": properties,
            "required": [p.name for p in self.params if p.required],
            "additionalProperties": False,
        }


_tasks: dict[str, RegisteredTask] = {}


def task(
    name: str, *, description: str = "", help: dict[str, str] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `func` under `name`. Parameters must be keyword-compatible with simple types."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        params = []
        for param in inspect.signature(func).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
                raise TypeError(f"Task {name}: parameter {param.name} must be a plain keyword.")
            if param.annotation not in SUPPORTED_TYPES:
                raise TypeError(
                    f"Task {name}: parameter {param.name} needs a type annotation of str, int, "
                    "float or bool."
                )
            required = param.default is inspect.Parameter.empty
            params.append(
                TaskParam(
                    name=param.name,
                    type=param.annotation,
                    required=required,
                    default=None if required else param.default,
                    help=(help or {}).get(param.name, ""),
                )
            )
        existing = _tasks.get(name)
        if existing and existing.func.__qualname__ != func.__qualname__:
            raise ValueError(f"Two tasks are registered under the name {name!r}.")
        doc = description or (inspect.getdoc(func) or "").split("\n\n")[0]
        _tasks[name] = RegisteredTask(name=name, func=func, description=doc, params=tuple(params))
        return func

    return register


def autodiscover() -> None:
    autodiscover_modules("cron_tasks")


def get_task(name: str) -> RegisteredTask | None:
    return _tasks.get(name)


def all_tasks() -> list[RegisteredTask]:
    return sorted(_tasks.values(), key=lambda t: t.name)


def _coerce(param: TaskParam, value: Any) -> Any:
    # JSON gives us ints for floats and strings from HTML forms; accept the unambiguous cases.
    if param.type is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "1", "0", "on", "off"}:
            return value.lower() in {"true", "1", "on"}
        raise ValueError
    if param.type is int:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            return int(value.strip())
        raise ValueError
    if param.type is float:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int | float):
            result = float(value)
        elif isinstance(value, str):
            result = float(value.strip())
        else:
            raise ValueError
        if result != result or result in (float("inf"), float("-inf")):
            raise ValueError
        return result
    if isinstance(value, str):
        return value
    raise ValueError


def clean_params(task_name: str, params: Any) -> dict[str, Any]:
    """Validate `params` against the task's signature; errors are keyed by parameter name."""
    registered = get_task(task_name)
    if registered is None:
        raise ValidationError(
            {"task": _("There is no registered task named “%(name)s”.") % {"name": task_name}},
            code="unknown_task",
        )
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValidationError({"params": _("Parameters must be an object of name → value.")})
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    known = {p.name: p for p in registered.params}
    for key in params:
        if key not in known:
            errors[key] = _("This task has no parameter named “%(name)s”.") % {"name": key}
    for param in registered.params:
        if param.name not in params or params[param.name] in (None, ""):
            if param.required and not (param.type is str and params.get(param.name) == ""):
                errors[param.name] = _("This parameter is required.")
            elif not param.required:
                cleaned[param.name] = param.default
            else:
                cleaned[param.name] = ""
            continue
        try:
            cleaned[param.name] = _coerce(param, params[param.name])
        except (TypeError, ValueError):
            errors[param.name] = _("Enter a valid %(type)s.") % {"type": param.type_name}
    if errors:
        raise ValidationError({"params": [f"{k}: {v}" for k, v in errors.items()]}, code="invalid")
    return cleaned
