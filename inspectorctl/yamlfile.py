"""Read YAML files for pydantic models with errors that name the file, line and field."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from inspectorctl.errors import InputError

M = TypeVar("M", bound=BaseModel)

#: libyaml's C parser when PyYAML was built with it (10x faster on the shipped packs)
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlDocument:
    """A parsed YAML file that can say on which line a given path (keys/indexes) starts."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self._node: yaml.Node | None = None
        self._composed = False
        try:
            self.data: Any = yaml.load(text, Loader=_FAST_LOADER)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            problem = getattr(e, "problem", None) or str(e)
            raise InputError(f"{where}: invalid YAML: {problem}") from e

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


def read_yaml(path: Path) -> YamlDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise InputError(f"{path}: no such file") from e
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read: {e}") from e
    return YamlDocument(path, text)


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
