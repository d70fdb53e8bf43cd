"""SSM's wire contract as botocore models it: the service model and a checker for JSON values.

The endpoint checks every request against the operation's input shape with :func:`check` (the
constraints botocore's own parameter validation leaves to the service: maximum lengths and
counts, patterns, enums), and tests check every response against the output shape the same
way, so no response shape is hand-made without botocore's model saying it is right.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from typing import Any

import botocore.session

SERVICE = "ssm"
TARGET_PREFIX = "AmazonSSM"
#: shapes whose model pattern SSM's own answers do not meet, so it is not checked: the
#: StringDateTime pattern admits one fractional digit and no durations, while SSM sends
#: ``ExecutionStartDateTime: 2020-04-03T20:29:46.791Z`` and ``ExecutionElapsedTime: PT0.025S``
#: (the formats GetCommandInvocation returns, which clients parse)
UNCHECKED_PATTERNS = frozenset({"StringDateTime"})
#: how deep a request's JSON may nest before it is refused (SSM's shapes nest a few levels)
MAX_DEPTH = 32


@functools.cache
def service_model() -> Any:
    """botocore's model of SSM (``botocore.model.ServiceModel``), loaded once."""
    return botocore.session.get_session().get_service_model(SERVICE)


def operation_model(name: str) -> Any:
    return service_model().operation_model(name)


def operation_names() -> list[str]:
    return list(service_model().operation_names)


def error_codes(operation: str) -> set[str]:
    """The modeled error codes of ``operation`` (plus the ones every AWS JSON service has)."""
    return {shape.name for shape in operation_model(operation).error_shapes}


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str] | None:
    """The model's pattern compiled for Python, or None when it uses Java-only syntax
    (``\\p{L}`` ...), which is then not checked."""
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _member_label(path: str) -> str:
    return path or "input"


def check(shape: Any, value: Any, path: str = "", depth: int = 0) -> list[str]:
    """Problems of ``value`` (as JSON decodes it) against botocore ``shape``: AWS's wording,
    one line each; empty when ``value`` fits."""
    if depth > MAX_DEPTH:
        return [f"{_member_label(path)}: nested deeper than {MAX_DEPTH} levels"]
    kind = shape.type_name
    meta = shape.metadata
    problems: list[str] = []
    where = _member_label(path)
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        members = shape.members
        for name in shape.required_members:
            if name not in value or value[name] is None:
                problems.append(f"{where}: missing required member {name}")
        for key, item in value.items():
            if key not in members:
                problems.append(f"{where}: unknown member {key!r}")
                continue
            if item is None:
                continue
            sub = f"{path}.{key}" if path else key
            problems.extend(check(members[key], item, sub, depth + 1))
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        problems.extend(_range(where, len(value), meta, "length"))
        for i, item in enumerate(value):
            problems.extend(check(shape.member, item, f"{path}[{i}]", depth + 1))
        return problems
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: expected a map, got {type(value).__name__}"]
        problems.extend(_range(where, len(value), meta, "length"))
        for key, item in value.items():
            problems.extend(check(shape.key, key, f"{path}.(key)", depth + 1))
            problems.extend(check(shape.value, item, f"{path}.{key}", depth + 1))
        return problems
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: expected a string, got {type(value).__name__}"]
        problems.extend(_range(where, len(value), meta, "length"))
        enum = meta.get("enum")
        if enum and value not in enum:
            problems.append(
                f"{where}: value {value!r} failed to satisfy constraint: Member must satisfy "
                f"enum value set: [{', '.join(enum)}]"
            )
        pattern = None if shape.name in UNCHECKED_PATTERNS else meta.get("pattern")
        compiled = _pattern(pattern) if pattern else None
        if compiled is not None and not compiled.fullmatch(value):
            problems.append(
                f"{where}: value {value!r} failed to satisfy constraint: Member must satisfy "
                f"regular expression pattern: {pattern}"
            )
        return problems
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{where}: expected an integer, got {type(value).__name__}"]
        return _range(where, value, meta, "value")
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return [f"{where}: expected a number, got {type(value).__name__}"]
        return []
    if kind == "boolean":
        if not isinstance(value, bool):
            return [f"{where}: expected a boolean, got {type(value).__name__}"]
        return []
    if kind == "timestamp":
        # the JSON protocol sends epoch seconds
        if isinstance(value, bool) or not isinstance(value, int | float):
            return [f"{where}: expected epoch seconds, got {type(value).__name__}"]
        return []
    if kind == "blob":
        if not isinstance(value, str):
            return [f"{where}: expected base64 text, got {type(value).__name__}"]
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error:
            return [f"{where}: not valid base64"]
        return []
    return [f"{where}: shape type {kind} is not supported by this endpoint"]


def _range(where: str, size: int, meta: dict[str, Any], what: str) -> list[str]:
    problems = []
    low, high = meta.get("min"), meta.get("max")
    if low is not None and size < low:
        problems.append(
            f"{where}: failed to satisfy constraint: Member must have {what} greater than or "
            f"equal to {low}"
        )
    if high is not None and size > high:
        problems.append(
            f"{where}: failed to satisfy constraint: Member must have {what} less than or "
            f"equal to {high}"
        )
    return problems


def check_input(operation: str, params: Any) -> list[str]:
    return check(operation_model(operation).input_shape, params)


def check_output(operation: str, body: Any) -> list[str]:
    shape = operation_model(operation).output_shape
    if shape is None:
        return [] if body == {} else ["operation has no output, but a body was given"]
    return check(shape, body)
