"""Job files as text: JSON or YAML in, mappings that remember the line of each key out.

An import refuses a whole file for one bad entry, and the message must say where it is. YAML
nodes carry their position (`yaml.compose`); for JSON the object parser below records where each
key starts. Both formats also refuse a key given twice, which `json.loads` and PyYAML's loader
would otherwise resolve silently by keeping the last one.

Only PyYAML's safe loader and dumper are used: a file can never name a Python object. Every
check here is linear in the size of the text: a YAML alias is built once and counted at its
expanded size, and a document that would expand past MAX_EXPANDED_NODES is refused, so nested
aliases ("billion laughs") cannot make anything downstream walk more than that.
"""

import bisect
import json
import math
import re
from datetime import date, datetime
from json.decoder import JSONDecodeError
from json.scanner import py_make_scanner
from typing import Any

import yaml
from django.utils.translation import gettext as _

FORMATS = ("json", "yaml")
# Far above what a file of the largest allowed import holds with every alias written out (a job
# is a few dozen nodes), far below what would take seconds to walk.
MAX_EXPANDED_NODES = 100_000
# The widest integer any field takes is a 64-bit one (19 digits); Python refuses to read more
# than 4,300 digits at all.
MAX_INTEGER_DIGITS = 20
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class FileSyntaxError(ValueError):
    """The text is not a readable file of its format; `line` is 1-based."""

    def __init__(self, message: str, line: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.field = field


class LineMap(dict[str, Any]):
    """A mapping read from a file, with the line of each key and of the mapping itself."""

    def __init__(self, pairs: list[tuple[Any, Any, int]], line: int) -> None:
        super().__init__()
        self.line = line
        self.lines: dict[Any, int] = {}
        self.repeated: list[tuple[Any, int]] = []
        for key, value, key_line in pairs:
            if key in self.lines:
                self.repeated.append((key, key_line))
            self.lines.setdefault(key, key_line)
            self[key] = value

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


def guess_format(text: str, name: str = "") -> str:
    lowered = name.lower()
    if lowered.endswith(".json"):
        return "json"
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    return "json" if text.lstrip().startswith(("{", "[")) else "yaml"


def read(text: str, fmt: str) -> Any:
    """The file's content, every mapping in it a LineMap; FileSyntaxError if it is unreadable."""
    data = _read_json(text) if fmt == "json" else _read_yaml(text)
    if fmt == "json":
        # YAML's scalars are checked as they are built; JSON has no aliases, so one walk is linear.
        problem = _text_problem(data)
        if problem:
            raise FileSyntaxError(*problem)
    return data


def write(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


# --- JSON ----------------------------------------------------------------------------------------


class _PositionDecoder(json.JSONDecoder):
    def __init__(self, text: str) -> None:
        super().__init__(parse_constant=_reject_constant, parse_int=_integer)
        self._newlines = [i for i, char in enumerate(text) if char == "\n"]
        self.parse_object = self._parse_object
        # The C scanner calls its own object parser; the Python one calls ours.
        self.scan_once = py_make_scanner(self)

    def line_at(self, index: int) -> int:
        return bisect.bisect_left(self._newlines, index) + 1

    def _parse_object(self, s_and_end: tuple[str, int], strict: bool, scan_once: Any, *_: Any):
        text, end = s_and_end
        start = end - 1
        pairs: list[tuple[Any, Any, int]] = []
        end = _WHITESPACE.match(text, end).end()
        if text[end : end + 1] == "}":
            return LineMap(pairs, self.line_at(start)), end + 1
        while True:
            if text[end : end + 1] != '"':
                expected = "Expecting property name enclosed in double quotes"
                raise JSONDecodeError(expected, text, end)
            key_at = end
            key, end = json.decoder.scanstring(text, end + 1, strict)
            end = _WHITESPACE.match(text, end).end()
            if text[end : end + 1] != ":":
                raise JSONDecodeError("Expecting ':' delimiter", text, end)
            end = _WHITESPACE.match(text, end + 1).end()
            try:
                value, end = scan_once(text, end)
            except StopIteration as err:
                raise JSONDecodeError("Expecting value", text, err.value) from None
            pairs.append((key, value, self.line_at(key_at)))
            end = _WHITESPACE.match(text, end).end()
            delimiter = text[end : end + 1]
            end += 1
            if delimiter == "}":
                return LineMap(pairs, self.line_at(start)), end
            if delimiter != ",":
                raise JSONDecodeError("Expecting ',' delimiter", text, end - 1)
            end = _WHITESPACE.match(text, end).end()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(_too_long_number())
    return int(digits)


def _too_long_number() -> str:
    return _("Numbers may have at most %(n)d digits.") % {"n": MAX_INTEGER_DIGITS}


def _read_json(text: str) -> Any:
    decoder = _PositionDecoder(text)
    try:
        return decoder.decode(text)
    except JSONDecodeError as exc:
        raise FileSyntaxError(
            _("This is not valid JSON: %(error)s.") % {"error": exc.msg}, exc.lineno
        ) from None
    except (ValueError, RecursionError) as exc:
        raise FileSyntaxError(_("This is not valid JSON: %(error)s.") % {"error": exc}) from None


# --- YAML ----------------------------------------------------------------------------------------


# libyaml's parser is about ten times faster than PyYAML's own; both give each node its line.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(text: str) -> Any:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return _YamlBuilder(loader).build(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or str(exc)
        raise FileSyntaxError(
            _("This is not valid YAML: %(error)s.") % {"error": problem},
            mark.line + 1 if mark else None,
        ) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise FileSyntaxError(_("This is not valid YAML: %(error)s.") % {"error": exc}) from None
    finally:
        loader.dispose()


class _YamlBuilder:
    """Plain values from composed YAML nodes, each node built and checked once.

    An alias is the same node again: it is built once and shared, and counted at its expanded
    size, so the document is refused as soon as its aliases would expand past
    MAX_EXPANDED_NODES, before anything walks the result.
    """

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.built: dict[int, Any] = {}
        self.sizes: dict[int, int] = {}
        self.expanded = 0

    def build(self, node: yaml.Node, field: str | None = None) -> Any:
        if id(node) in self.built:
            self._count(self.sizes[id(node)], node)
            return self.built[id(node)]
        before = self.expanded
        if isinstance(node, yaml.MappingNode):
            pairs = []
            for key_node, value_node in node.value:
                key = self.build(key_node, field)
                if isinstance(key, list | dict):
                    raise FileSyntaxError(_("A key must be text."), key_node.start_mark.line + 1)
                path = f"{field}.{key}" if field else str(key)
                value = self.build(value_node, path)
                pairs.append((key, value, key_node.start_mark.line + 1))
            value = LineMap(pairs, node.start_mark.line + 1)
        elif isinstance(node, yaml.SequenceNode):
            value = [self.build(item, field) for item in node.value]
        else:
            value = self._scalar(node, field)
        self._count(1, node)
        self.built[id(node)] = value
        self.sizes[id(node)] = self.expanded - before
        return value

    def _count(self, size: int, node: yaml.Node) -> None:
        self.expanded += size
        if self.expanded > MAX_EXPANDED_NODES:
            raise FileSyntaxError(
                _(
                    "This file has more than %(n)d values, counting each alias (*name) as "
                    "the values it stands for: import it in parts, with fewer aliases."
                )
                % {"n": MAX_EXPANDED_NODES},
                node.start_mark.line + 1,
            )

    def _scalar(self, node: yaml.Node, field: str | None) -> Any:
        line = node.start_mark.line + 1
        if node.tag == "tag:yaml.org,2002:int" and len(node.value) > MAX_INTEGER_DIGITS + 1:
            raise FileSyntaxError(_too_long_number(), line, field)
        value = self.loader.construct_object(node, deep=True)
        # YAML reads an unquoted 2030-01-31 as a date: as text, it goes where JSON's text goes,
        # and the fields that take an instant parse it (and refuse one without an offset).
        if isinstance(value, date | datetime):
            return value.isoformat()
        if value is not None and not isinstance(value, str | int | float):
            raise FileSyntaxError(
                _("Only text, numbers, true/false, null, lists and mappings can be used here."),
                line,
            )
        problem = _text_problem(value, line)
        if problem:
            raise FileSyntaxError(problem[0], problem[1], field)
        return value


# --- text every database stores ------------------------------------------------------------------


def _text_problem(value: Any, line: int | None = None) -> tuple[str, int | None] | None:
    # NUL is refused by PostgreSQL, a lone surrogate cannot be encoded at all: refused here, with
    # the line it is on, rather than by the database half-way through an import.
    if isinstance(value, str):
        if "\x00" in value:
            return _("Text must not contain NUL characters."), line
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return _("Text must be valid Unicode (no lone surrogates)."), line
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return _("Numbers must be finite."), line
    if isinstance(value, LineMap):
        for key, item in value.items():
            where = value.line_of(key)
            problem = _text_problem(key, where) or _text_problem(item, where)
            if problem:
                return problem
    elif isinstance(value, list):
        for item in value:
            problem = _text_problem(item, line)
            if problem:
                return problem
    return None
