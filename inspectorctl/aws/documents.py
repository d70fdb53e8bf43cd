"""The SSM documents inspectorctl ships (``ssm_documents/``): loading, rendering, validation.

A document file is YAML data. ``InspectorCtl-Collect`` carries the probe: the file holds the
marker ``@@INSPECTORCTL_PROBE_GZIP_BASE64@@`` and rendering puts the shipped probe there
(gzip+base64), so what is validated, deployed and pinned in plans is the rendered content and its
sha256. ``shipped_probe_bytes`` is the one place that says which bytes are the shipped probe.

Validation (``validate``) checks what SSM checks when a document is created, and what inspectorctl
requires on top of it: schema 2.2 Command documents, known actions, unique step names, declared
parameters for every ``{{ reference }}``, an anchored ``allowedPattern`` (or
``interpolationType: ENV_VAR``) for every String parameter, defaults that match their pattern,
the content size, and for the collect document the size of document plus the largest probe
request inspectorctl can send.
"""

from __future__ import annotations

import base64
import enum
import gzip
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from inspectorctl.aws.session import AwsError
from inspectorctl.collect._result import request_json, shipped_probe
from inspectorctl.collect.interface import CollectError
from inspectorctl.models.common import Frozen
from inspectorctl.models.snapshot import ProbeRequest
from inspectorctl.paths import data_dir

PROBE_MARKER = "@@INSPECTORCTL_PROBE_GZIP_BASE64@@"
#: SSM's own limit on a Command document's content
MAX_DOCUMENT_BYTES = 64 * 1024
#: our budget: the collect document plus the largest probe request travel in one SendCommand
MAX_COLLECT_BYTES = 60_000
SCHEMA_VERSION = "2.2"
#: the actions our documents may use (all run by the agent on Linux)
ACTIONS = frozenset({"aws:runShellScript", "aws:downloadContent"})
PARAMETER_TYPES = frozenset({"String", "StringList", "Boolean", "Integer", "MapList",
                             "StringMap"})
_STEP_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_REFERENCE = re.compile(r"\{\{\s*([A-Za-z0-9_:.-]+)\s*\}\}")
_B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


class DocumentError(AwsError):
    """A shipped or given SSM document is invalid (names the file and what to fix)."""

    exit_code = 2


class DocumentName(enum.StrEnum):
    COLLECT = "InspectorCtl-Collect"
    APPLY_PLAYBOOK = "InspectorCtl-ApplyPlaybook"


class Document(Frozen):
    """A document as deployed: its name, rendered YAML content and that content's sha256."""

    name: str
    path: str
    content: str
    sha256: str

    def data(self) -> dict[str, Any]:
        loaded = yaml.safe_load(self.content)
        return loaded if isinstance(loaded, dict) else {}


def shipped_probe_bytes() -> bytes:
    """The probe exactly as it ships to hosts (the one place that says which file that is)."""
    try:
        return shipped_probe().source
    except CollectError as e:
        raise DocumentError(str(e)) from e


def gzip_b64(data: bytes) -> str:
    """gzip (level 9, no timestamp, so equal input gives equal output) then base64."""
    return base64.b64encode(gzip.compress(data, compresslevel=9, mtime=0)).decode("ascii")


def encode_request(request: ProbeRequest) -> str:
    """The ``request`` parameter of InspectorCtl-Collect."""
    return gzip_b64(request_json(request).encode("utf-8"))


def documents_dir() -> Path:
    return data_dir("ssm_documents")


def document_path(name: str) -> Path:
    root = documents_dir()
    for suffix in (".yml", ".yaml", ".json"):
        p = root / f"{name}{suffix}"
        if p.is_file():
            return p
    valid = sorted(p.stem for p in root.glob("*") if p.suffix in (".yml", ".yaml", ".json"))
    raise DocumentError(f"unknown SSM document {name!r}; valid: {', '.join(valid) or 'none'}")


def load_document(name: str, path: Path | None = None) -> Document:
    """A shipped document (or the file ``path``), rendered: the probe put in its place."""
    p = path or document_path(name)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DocumentError(f"{p}: cannot read: {e}") from e
    if PROBE_MARKER in text:
        text = text.replace(PROBE_MARKER, gzip_b64(shipped_probe_bytes()))
    return Document(name=name, path=str(p), content=text,
                    sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def shipped_documents() -> list[Document]:
    return [load_document(n.value) for n in DocumentName]


# -- validation ------------------------------------------------------------------------------


def _parse(doc: Document) -> dict[str, Any]:
    try:
        data = yaml.safe_load(doc.content)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"{doc.path}:{mark.line + 1}" if mark else doc.path
        raise DocumentError(f"{where}: invalid YAML: {e.problem}") from e
    except yaml.YAMLError as e:
        raise DocumentError(f"{doc.path}: invalid YAML: {e}") from e
    if not isinstance(data, dict):
        raise DocumentError(f"{doc.path}: a document must be a mapping")
    return data


def _references(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(_REFERENCE.findall(value))
    if isinstance(value, Mapping):
        return {r for v in value.values() for r in _references(v)}
    if isinstance(value, list):
        return {r for v in value for r in _references(v)}
    return set()


def _check_parameters(doc: Document, params: Any) -> dict[str, dict[str, Any]]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise DocumentError(f"{doc.path}: parameters: must be a mapping of name to definition")
    out: dict[str, dict[str, Any]] = {}
    for name, spec in params.items():
        where = f"{doc.path}: parameter {name!r}"
        if not isinstance(spec, dict):
            raise DocumentError(f"{where}: must be a mapping (type, description, ...)")
        ptype = spec.get("type")
        if ptype not in PARAMETER_TYPES:
            raise DocumentError(f"{where}: type {ptype!r} is not one of "
                                f"{', '.join(sorted(PARAMETER_TYPES))}")
        if ptype in ("String", "StringList"):
            pattern = spec.get("allowedPattern")
            if spec.get("interpolationType") == "ENV_VAR":
                pass
            elif not isinstance(pattern, str) or not pattern:
                raise DocumentError(
                    f"{where}: a {ptype} parameter needs an allowedPattern (or "
                    "interpolationType: ENV_VAR) so no value reaches a shell unquoted")
            else:
                if not (pattern.startswith("^") and pattern.endswith("$")):
                    raise DocumentError(f"{where}: allowedPattern {pattern!r} must be anchored "
                                        "(^...$), or a value could carry anything around it")
                try:
                    compiled = re.compile(pattern)
                except re.error as e:
                    raise DocumentError(f"{where}: allowedPattern does not compile: {e}") from e
                for banned in ("'", '"', "`", "$", ";", "\n", " ", "\\"):
                    if compiled.search(f"a{banned}a") or compiled.fullmatch(banned):
                        raise DocumentError(f"{where}: allowedPattern admits {banned!r}, which "
                                            "could break out of the script's quoting")
                default = spec.get("default")
                if default is not None and not compiled.fullmatch(str(default)):
                    raise DocumentError(f"{where}: default {default!r} does not match its "
                                        f"allowedPattern {pattern!r}")
        out[str(name)] = spec
    return out


def _check_steps(doc: Document, steps: Any) -> None:
    if not isinstance(steps, list) or not steps:
        raise DocumentError(f"{doc.path}: mainSteps: a 2.2 document needs a list of steps")
    seen: set[str] = set()
    for i, step in enumerate(steps):
        where = f"{doc.path}: mainSteps[{i}]"
        if not isinstance(step, dict):
            raise DocumentError(f"{where}: must be a mapping (action, name, inputs)")
        action, name = step.get("action"), step.get("name")
        if action not in ACTIONS:
            raise DocumentError(f"{where}: action {action!r}; inspectorctl's documents use "
                                f"{', '.join(sorted(ACTIONS))}")
        if not isinstance(name, str) or not _STEP_NAME.match(name):
            raise DocumentError(f"{where}: name {name!r} must match {_STEP_NAME.pattern}")
        if name in seen:
            raise DocumentError(f"{where}: step name {name!r} is used twice")
        seen.add(name)
        inputs = step.get("inputs")
        if not isinstance(inputs, dict):
            raise DocumentError(f"{where} ({name}): inputs must be a mapping")
        if action == "aws:runShellScript":
            cmds = inputs.get("runCommand")
            if not isinstance(cmds, list) or not all(isinstance(c, str) for c in cmds):
                raise DocumentError(f"{where} ({name}): runCommand must be a list of lines")
            if "timeoutSeconds" not in inputs:
                raise DocumentError(f"{where} ({name}): set timeoutSeconds (the agent's "
                                    "default of 3600 s is not our time budget)")
        if action == "aws:downloadContent" and inputs.get("sourceType") != "S3":
            raise DocumentError(f"{where} ({name}): sourceType must be S3")


def largest_request() -> ProbeRequest:
    """The probe request for every rule of every shipped rulepack (the largest we send)."""
    from inspectorctl.rules.facts import probe_request
    from inspectorctl.rules.loader import load_packs, shipped_pack_ids

    packs = load_packs(tuple(shipped_pack_ids()))
    rules = [r for p in packs for r in p.rules]
    return probe_request(rules)


def validate(doc: Document, *, request: ProbeRequest | None = None) -> dict[str, Any]:
    """Raise ``DocumentError`` on the first problem; return the parsed document."""
    data = _parse(doc)
    if str(data.get("schemaVersion")) != SCHEMA_VERSION:
        raise DocumentError(f"{doc.path}: schemaVersion {data.get('schemaVersion')!r}; "
                            f"inspectorctl's Command documents use {SCHEMA_VERSION!r}")
    if not isinstance(data.get("description"), str) or not data["description"].strip():
        raise DocumentError(f"{doc.path}: description: say what the document does")
    params = _check_parameters(doc, data.get("parameters"))
    _check_steps(doc, data.get("mainSteps"))
    undeclared = sorted(r for r in _references(data.get("mainSteps"))
                        if r not in params and not r.startswith("ssm:"))
    if undeclared:
        raise DocumentError(f"{doc.path}: mainSteps use undeclared parameter(s) "
                            f"{', '.join(undeclared)}; declare them under parameters")
    unused = sorted(set(params) - _references(data.get("mainSteps")))
    if unused:
        raise DocumentError(f"{doc.path}: parameter(s) {', '.join(unused)} are declared but "
                            "never used")
    if PROBE_MARKER in doc.content:
        raise DocumentError(f"{doc.path}: the probe marker was not rendered")
    size = len(doc.content.encode("utf-8"))
    if size > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"{doc.path}: {size} bytes; SSM takes at most {MAX_DOCUMENT_BYTES}")
    if doc.name == DocumentName.COLLECT:
        req = encode_request(request or largest_request())
        if "request" not in params or not re.fullmatch(str(params["request"]["allowedPattern"]),
                                                       req):
            raise DocumentError(f"{doc.path}: parameter 'request' must admit a gzip+base64 "
                                "probe request")
        total = size + len(req)
        if total > MAX_COLLECT_BYTES:
            raise DocumentError(
                f"{doc.path}: document ({size} bytes) + largest probe request ({len(req)} "
                f"bytes) = {total} bytes, over the {MAX_COLLECT_BYTES}-byte budget; shrink the "
                "probe bundle")
    return data


def collect_budget(request: ProbeRequest | None = None) -> tuple[int, int]:
    """(document bytes, request bytes) of InspectorCtl-Collect with ``request`` (default:
    the largest)."""
    doc = load_document(DocumentName.COLLECT.value)
    req = encode_request(request or largest_request())
    return len(doc.content.encode("utf-8")), len(req)


def is_b64(value: str) -> bool:
    return bool(_B64.match(value))
