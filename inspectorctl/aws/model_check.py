"""Check a value against botocore's own model of an AWS shape, with the constraints the model
states and the ones it only documents.

botocore's parameter validation (what Stubber and every client call run) checks types,
required members and minimums; it does not check maximum lengths, list sizes, enums or
patterns, and several Security Hub limits (Title ≤ 256 characters, Resources ≤ 32 items,
ProductFields ≤ 50 pairs of ≤ 128/2048 characters) exist only in the member documentation the
model carries ("Length Constraints: Maximum length of 256."). This checker walks the shape and
reads both, so what inspectorctl sends is held to the service's model, never to a hand-written
copy of it. Each problem is one line naming the path (``Resources[0].Type``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

_TAG = re.compile(r"<[^>]+>")
#: "Length Constraints: Minimum length of 1. Maximum length of 256." (also written "Minimum of
#: 1. Maximum of 512." and "Minimum of 1 length. Maximum of 512 length.")
_MAX_LEN = re.compile(r"Maximum (?:length )?of (\d+)")
_MIN_LEN = re.compile(r"Minimum (?:length )?of (\d+)")
_MAX_ITEMS = re.compile(r"Maximum number of (\d+) items?")
_MIN_ITEMS = re.compile(r"Minimum number of (\d+) items?")
_MAP_PAIRS = re.compile(r"up to (\d+) key-value pairs")
_MAP_KEY = re.compile(r"the key can contain up to (\d+) characters")
_MAP_VALUE = re.compile(r"the value can contain up to (\d+) characters")
_NAMESPACES = re.compile(r"Valid namespace values are: ([^.]*?)(?:Array Members|$)")
#: RFC 3339 with a zone, as Security Hub's "Timestamps" section requires of every *At field
_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


def _text(doc: str | None) -> str:
    return " ".join(_TAG.sub(" ", doc or "").split())


class Constraints:
    """What a member's documentation says about its value, beyond the shape's metadata."""

    def __init__(self, doc: str | None) -> None:
        t = _text(doc)

        def num(rx: re.Pattern[str]) -> int | None:
            m = rx.search(t)
            return int(m.group(1)) if m else None

        at = t.find("Length Constraints:")
        lt = t[at:] if at >= 0 else ""
        self.max_len = int(m.group(1)) if (m := _MAX_LEN.search(lt)) else None
        self.min_len = int(m.group(1)) if (m := _MIN_LEN.search(lt)) else None
        self.max_items = num(_MAX_ITEMS)
        self.min_items = num(_MIN_ITEMS)
        self.map_pairs = num(_MAP_PAIRS)
        self.map_key = num(_MAP_KEY)
        self.map_value = num(_MAP_VALUE)
        ns = _NAMESPACES.search(t)
        self.namespaces = (tuple(x.strip() for x in ns.group(1).split("|") if x.strip())
                           if ns else ())
        self.timestamp = "Timestamps" in t and "timestamp" in t.lower()

    def for_items(self) -> Constraints:
        """What a list's documentation says of each item: only the Types namespaces."""
        if not self.namespaces:
            return _NONE
        c = Constraints(None)
        c.namespaces = self.namespaces
        return c


_NONE = Constraints(None)


@cache
def constraints(doc: str | None) -> Constraints:
    """The constraints of a member's documentation, read once per text (never mutated)."""
    return Constraints(doc)


@cache
def service_model(service: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


@cache
def shape(service: str, name: str) -> Any:
    """One shape object per name: botocore resolves a shape's members once per object."""
    return service_model(service).shape_for(name)


def check(value: Any, shape_: Any, path: str = "", doc: str | None = None) -> list[str]:
    """Every problem of ``value`` against ``shape_`` (empty: it conforms)."""
    return list(_check(value, shape_, path, constraints(doc)))


def _check(value: Any, s: Any, path: str, c: Constraints) -> Iterator[str]:
    where = path or s.name
    t = s.type_name
    meta = s.metadata
    if t == "structure":
        if not isinstance(value, dict):
            yield f"{where}: expected an object ({s.name}), got {type(value).__name__}"
            return
        for req in s.required_members:
            if req not in value:
                yield f"{where}: missing required member {req}"
        for k, v in value.items():
            if k not in s.members:
                yield f"{where}: unknown member {k!r} (not in {s.name})"
                continue
            m = s.members[k]
            yield from _check(v, m, f"{path}.{k}" if path else k,
                              constraints(m.documentation))
    elif t == "list":
        if not isinstance(value, list):
            yield f"{where}: expected a list, got {type(value).__name__}"
            return
        lo = max(x for x in (meta.get("min"), c.min_items, 0) if x is not None)
        hi = min((x for x in (meta.get("max"), c.max_items) if x is not None), default=None)
        if len(value) < lo:
            yield f"{where}: {len(value)} item(s), at least {lo} required"
        if hi is not None and len(value) > hi:
            yield f"{where}: {len(value)} items, at most {hi} allowed"
        for i, v in enumerate(value):
            yield from _check(v, s.member, f"{where}[{i}]", c.for_items())
    elif t == "map":
        if not isinstance(value, dict):
            yield f"{where}: expected a map, got {type(value).__name__}"
            return
        if c.map_pairs is not None and len(value) > c.map_pairs:
            yield f"{where}: {len(value)} pairs, at most {c.map_pairs} allowed"
        for k, v in value.items():
            yield from _check(k, s.key, f"{where} key {k!r}", _NONE)
            yield from _check(v, s.value, f"{where}[{k!r}]", _NONE)
            if c.map_key is not None and isinstance(k, str) and len(k) > c.map_key:
                yield f"{where} key {k[:40]!r}...: {len(k)} characters, at most {c.map_key}"
            if c.map_value is not None and isinstance(v, str) and len(v) > c.map_value:
                yield (f"{where}[{k!r}]: {len(v)} characters, at most {c.map_value}")
    elif t == "string":
        if not isinstance(value, str):
            yield f"{where}: expected a string, got {type(value).__name__}"
            return
        enum = meta.get("enum")
        if enum and value not in enum:
            yield f"{where}: {value!r} is not one of {', '.join(enum)}"
        lo = max(x for x in (meta.get("min"), c.min_len, 0) if x is not None)
        hi = min((x for x in (meta.get("max"), c.max_len) if x is not None), default=None)
        if len(value) < lo:
            yield f"{where}: {len(value)} characters, at least {lo} required"
        if hi is not None and len(value) > hi:
            yield f"{where}: {len(value)} characters, at most {hi} allowed"
        pattern = meta.get("pattern")
        if pattern and re.fullmatch(pattern, value, re.DOTALL) is None:
            yield f"{where}: {value[:60]!r} does not match the pattern {pattern}"
        if c.namespaces and value.split("/", 1)[0] not in c.namespaces:
            yield (f"{where}: {value!r} is not in a valid namespace "
                   f"({' | '.join(c.namespaces)})")
        if c.timestamp and not _TIMESTAMP.match(value):
            yield f"{where}: {value!r} is not an RFC 3339 timestamp with a time zone"
    elif t in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            yield f"{where}: expected an integer, got {type(value).__name__}"
            return
        yield from _range(value, meta, where)
    elif t in ("double", "float"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            yield f"{where}: expected a number, got {type(value).__name__}"
            return
        yield from _range(value, meta, where)
    elif t == "boolean":
        if not isinstance(value, bool):
            yield f"{where}: expected a boolean, got {type(value).__name__}"
    else:  # timestamps and blobs: Security Hub's findings carry neither
        yield f"{where}: shape type {t} is not checked"


def _range(value: float, meta: dict[str, Any], where: str) -> Iterator[str]:
    if meta.get("min") is not None and value < meta["min"]:
        yield f"{where}: {value} is below the minimum {meta['min']}"
    if meta.get("max") is not None and value > meta["max"]:
        yield f"{where}: {value} is above the maximum {meta['max']}"
