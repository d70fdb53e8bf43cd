"""Read YAML and JSON files a user gives, with limits, and errors that name the file.

Every YAML or JSON document a user supplies (templates, policies, rulepacks, inventories,
plans, lab profiles, allowed-signers files) goes through ``read_text_limited`` and
``check_yaml`` / ``load_json`` here: a file larger than ``MAX_BYTES``, nested deeper than
``MAX_DEPTH``, or whose aliases expand to more than ``MAX_ALIAS_NODES`` nodes (a "billion
laughs" bomb), a recursive alias, or a path that is not a regular file (a FIFO would block the
read forever) is refused with one ``InputLimitError`` naming the file, before any parser or
pydantic model recurses into it.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from inspectorctl.errors import InputError

M = TypeVar("M", bound=BaseModel)

#: libyaml's C parser when PyYAML was built with it (10x faster on the shipped packs)
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` through libyaml's C parser when PyYAML has it (the same safe
    constructors; no limits: check the text with ``check_yaml`` first where it is untrusted)."""
    return yaml.load(text, Loader=_FAST_LOADER)


#: largest YAML/JSON configuration file read (the shipped CIS pack is ~0.2 MB)
MAX_BYTES = 16 * 1024 * 1024
#: deepest nesting of mappings/sequences (the shipped files nest at most ~8 levels)
MAX_DEPTH = 64
#: most nodes that aliases may add when expanded (a billion-laughs bomb adds 10**9)
MAX_ALIAS_NODES = 100_000


class InputLimitError(InputError):
    """A user's file is too large, too deep, an alias bomb, or not a regular file."""


def read_text_limited(path: Path, max_bytes: int = MAX_BYTES, what: str = "file", *,
                      errors: str = "strict") -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes``.

    Opened with O_NONBLOCK and checked with fstat before reading: a FIFO, a device or a
    directory is refused instead of blocking or reading forever.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as e:
        raise InputError(f"{path}: no such {what}") from e
    except OSError as e:
        raise InputError(f"{path}: cannot read the {what}: {e.strerror or e}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else
                    "a FIFO" if stat.S_ISFIFO(st.st_mode) else "not a regular file")
            raise InputLimitError(f"{path}: the {what} is {kind}; give a regular file")
        if st.st_size > max_bytes:
            raise InputLimitError(
                f"{path}: the {what} is {st.st_size} bytes, more than the {max_bytes} "
                "inspectorctl reads")
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                chunk = os.read(fd, 1 << 20)
            except OSError as e:
                if e.errno == errno.EAGAIN:
                    continue
                raise InputError(f"{path}: cannot read the {what}: {e.strerror or e}") from e
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:  # the file grew while it was read
                raise InputLimitError(
                    f"{path}: the {what} is more than the {max_bytes} bytes inspectorctl "
                    "reads")
            chunks.append(chunk)
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8", errors)
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: the {what} is not UTF-8 text ({e.reason} at byte "
                         f"{e.start})") from e


def check_yaml(text: str, path: Path | str, *, max_depth: int = MAX_DEPTH,
               max_alias_nodes: int = MAX_ALIAS_NODES, loader: Any = None) -> None:
    """Refuse a YAML text nested deeper than ``max_depth``, with a recursive or undefined
    alias, or whose aliases expand to more than ``max_alias_nodes`` nodes; a syntax error is
    an ``InputError`` naming the line.

    Walks libyaml's event stream (no recursion, nothing constructed): the sizes of anchored
    nodes are counted as they close, and each alias adds the size of what it names.
    """
    ld = loader or _FAST_LOADER
    anchors: dict[str, int] = {}
    open_anchors: set[str] = set()
    #: per open collection: its anchor (or None) and its expanded node count so far
    stack: list[tuple[str | None, int]] = [(None, 0)]
    added = 0
    try:
        for ev in yaml.parse(text, Loader=ld):
            if isinstance(ev, yaml.CollectionStartEvent):
                if len(stack) > max_depth:
                    line = ev.start_mark.line + 1 if ev.start_mark else "?"
                    raise InputLimitError(
                        f"{path}:{line}: nested deeper than {max_depth} levels; "
                        "inspectorctl refuses such a file")
                if ev.anchor:
                    open_anchors.add(ev.anchor)
                stack.append((ev.anchor, 1))
            elif isinstance(ev, yaml.CollectionEndEvent):
                anchor, size = stack.pop()
                if anchor:
                    anchors[anchor] = size
                    open_anchors.discard(anchor)
                top_anchor, top_size = stack[-1]
                stack[-1] = (top_anchor, top_size + size)
            elif isinstance(ev, yaml.ScalarEvent):
                if ev.anchor:
                    anchors[ev.anchor] = 1
                top_anchor, top_size = stack[-1]
                stack[-1] = (top_anchor, top_size + 1)
            elif isinstance(ev, yaml.AliasEvent):
                line = ev.start_mark.line + 1 if ev.start_mark else "?"
                name = ev.anchor or ""
                if name in open_anchors:
                    raise InputLimitError(
                        f"{path}:{line}: alias *{name} refers to a node that contains it "
                        "(a recursive alias); inspectorctl refuses such a file")
                if name not in anchors:
                    raise InputLimitError(f"{path}:{line}: alias *{name} names no anchor "
                                          "defined before it")
                size = anchors[name]
                added += size
                if added > max_alias_nodes:
                    raise InputLimitError(
                        f"{path}:{line}: aliases expand to more than {max_alias_nodes} "
                        "nodes (a YAML alias bomb?); inspectorctl refuses such a file")
                top_anchor, top_size = stack[-1]
                stack[-1] = (top_anchor, top_size + size)
            elif isinstance(ev, yaml.DocumentStartEvent):
                anchors.clear()
    except yaml.YAMLError as e:
        raise InputError(_yaml_problem(path, e)) from e


def _yaml_problem(path: Path | str, e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
    problem = getattr(e, "problem", None) or str(e)
    return f"{where}: invalid YAML: {problem}"


def check_depth(data: Any, path: Path | str, max_depth: int = MAX_DEPTH) -> None:
    """Refuse loaded data (JSON) nested deeper than ``max_depth``: level by level, only
    containers visited (no recursion)."""
    level: list[Any] = [data] if isinstance(data, dict | list) else []
    depth = 0
    while level:
        if depth >= max_depth:
            raise InputLimitError(f"{path}: nested deeper than {max_depth} levels; "
                                  "inspectorctl refuses such a file")
        nxt: list[Any] = []
        for v in level:
            items = v.values() if type(v) is dict else v
            nxt.extend(x for x in items if type(x) is dict or type(x) is list)
        level = nxt
        depth += 1


def load_json(path: Path, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
              what: str = "file") -> Any:
    """A JSON document read with limits; ``InputError`` naming the file for anything wrong."""
    text = read_text_limited(path, max_bytes, what)
    return parse_json(text, path, max_depth=max_depth, what=what)


def parse_json(text: str, path: Path | str, *, max_depth: int = MAX_DEPTH,
               what: str = "file") -> Any:
    try:
        data = json.loads(text)
    except RecursionError as e:
        raise InputLimitError(f"{path}: nested deeper than {max_depth} levels; inspectorctl "
                              "refuses such a file") from e
    except ValueError as e:
        raise InputError(f"{path}: not a {what} (invalid JSON: {e})") from e
    check_depth(data, path, max_depth)
    return data


class YamlDocument:
    """A parsed YAML file that can say on which line a given path (keys/indexes) starts."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self._node: yaml.Node | None = None
        self._composed = False
        check_yaml(text, path)
        try:
            self.data: Any = yaml.load(text, Loader=_FAST_LOADER)
        except yaml.YAMLError as e:
            raise InputError(_yaml_problem(path, e)) from e

    @property
    def node(self) -> yaml.Node | None:
        """The node tree with line marks, composed only when an error needs a line number."""
        if not self._composed:
            self._node = yaml.compose(self.text, Loader=_FAST_LOADER)
            self._composed = True
        return self._node

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """1-based line where the value at ``loc`` starts (the deepest node that exists)."""
        node = self.node
        line = node.start_mark.line + 1 if node is not None else None
        for key in loc:
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(key):
                        node = v
                        line = k.start_mark.line + 1
                        break
                else:
                    return line
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
                if key >= len(node.value):
                    return line
                node = node.value[key]
                line = node.start_mark.line + 1
            else:
                return line
        return line


def read_yaml(path: Path, max_bytes: int = MAX_BYTES) -> YamlDocument:
    return YamlDocument(path, read_text_limited(path, max_bytes))


def describe_validation_error(
    doc: YamlDocument,
    exc: ValidationError,
    context: str = "",
    *,
    prefix: Sequence[str | int] = (),
    union_tags: Collection[str] = (),
) -> str:
    """One message for the first error: ``file:line: [context] field: problem``.

    ``prefix`` locates the validated object in the file (``["rules", 3]``); the field is
    named relative to it (the context names the object). ``union_tags`` are discriminator
    values pydantic inserts into error locations (such as a check kind); they are not keys
    of the file, so they are dropped.
    """
    errors = exc.errors()
    more = len(errors) - 1
    tail = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    return describe_errors(doc, exc, context, prefix=prefix, union_tags=union_tags)[0] + tail


def describe_errors(
    doc: YamlDocument,
    exc: ValidationError,
    context: str = "",
    *,
    prefix: Sequence[str | int] = (),
    union_tags: Collection[str] = (),
) -> list[str]:
    """Every error of ``exc``, each as ``file:line: [context] field: problem``."""
    out = []
    for err in exc.errors():
        rel = [p for p in err["loc"] if p not in union_tags]
        msg = err["msg"]
        ctx = err.get("ctx", {})
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            disc = str(ctx.get("discriminator", "kind")).strip("'")
            rel.append(disc)
            valid = ", ".join(union_tags) or str(ctx.get("expected_tags", ""))
            if err["type"] == "union_tag_invalid":
                msg = f"unknown check {disc} {ctx.get('tag')!r}; valid {disc}s: {valid}"
            else:
                msg = f"missing check {disc}; valid {disc}s: {valid}"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling)"
        elif err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        loc = [*prefix, *rel]
        line = doc.line_of(loc)
        where = f"{doc.path}:{line}" if line else str(doc.path)
        field = ".".join(str(p) for p in rel) or "(document)"
        ctx_s = f"{context}: " if context else ""
        out.append(f"{where}: {ctx_s}{field}: {msg}")
    return out


def load_model(path: Path, model: type[M], context: str = "") -> M:
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise InputError(f"{path}:1: expected a mapping at the top level")
    try:
        return model.model_validate(doc.data)
    except ValidationError as e:
        raise InputError(describe_validation_error(doc, e, context)) from e
