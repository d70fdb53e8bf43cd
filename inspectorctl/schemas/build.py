"""Derive the JSON Schemas of the JSON outputs from the models that make them, and write them
beside this file (``python -m inspectorctl.schemas.build``; ``--check`` exits 1 when a
committed file differs from what the models give). ``sarif.json`` is written by hand (a
faithful subset of the SARIF 2.1.0 schema) and left alone.

Each document is the envelope (``schema_version``, ``tool``, ``kind``) around its body; the
body's objects come from pydantic's serialization schema of the models, so a field added to a
model shows in the schema (and ``--check`` in the tests says the file must be rebuilt).
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from inspectorctl.config import ShownConfig
from inspectorctl.models.finding import Finding, RuleResult, RunRecord
from inspectorctl.models.plan import ApplyRun, JournalEntry
from inspectorctl.remediate.audit import AuditEntry
from inspectorctl.report.diff import FindingsDiff
from inspectorctl.report.jsondoc import SCHEMA_VERSION, SCHEMAS_DIR
from inspectorctl.report.posture import Posture
from inspectorctl.vuln_assess import Staleness, VulnFinding

MAJOR = SCHEMA_VERSION.split(".")[0]


def _defs(*models: type[BaseModel]) -> dict[str, Any]:
    _, top = models_json_schema([(m, "serialization") for m in models],
                                ref_template="#/$defs/{model}")
    defs: dict[str, Any] = top.get("$defs", {})
    return defs


def _extended(defs: dict[str, Any], base: str, name: str, extra: dict[str, Any]) -> None:
    """``defs[name]``: ``defs[base]`` with the properties ``extra`` added (and required)."""
    d = copy.deepcopy(defs[base])
    d["title"] = name
    d["properties"] |= extra
    d["required"] = sorted({*d.get("required", []), *extra})
    defs[name] = d


def _document(kind: str, title: str, body: dict[str, Any], required: list[str],
              defs: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:inspectorctl:schema:{kind}:{MAJOR}",
        "title": title,
        "type": "object",
        "additionalProperties": False,
        "required": ["schema_version", "tool", "kind", *required],
        "properties": {
            "schema_version": {"type": "string", "pattern": rf"^{MAJOR}\.[0-9]+$",
                               "description": "The version of this document's shape."},
            "tool": {"type": "object", "additionalProperties": False,
                     "required": ["name", "version"],
                     "properties": {"name": {"const": "inspectorctl"},
                                    "version": {"type": "string"}}},
            "kind": {"const": kind},
            **body,
        },
        "$defs": defs,
    }


def _array(ref: str) -> dict[str, Any]:
    return {"type": "array", "items": {"$ref": f"#/$defs/{ref}"}}


COMPLIANCE_ROW = {
    "type": "object", "additionalProperties": False,
    "required": ["requirement", "rules", "state", "passed", "failed", "errors",
                 "not_applicable", "failing_hosts"],
    "properties": {
        "requirement": {"type": "string"},
        "rules": {"type": "array", "items": {"type": "string"}},
        "state": {"enum": ["compliant", "non-compliant", "unknown"]},
        "passed": {"type": "integer", "minimum": 0},
        "failed": {"type": "integer", "minimum": 0},
        "errors": {"type": "integer", "minimum": 0},
        "not_applicable": {"type": "integer", "minimum": 0},
        "failing_hosts": {"type": "array", "items": {"type": "string"}},
    },
}


def assessment() -> dict[str, Any]:
    defs = _defs(RunRecord, RuleResult, Staleness, VulnFinding)
    _extended(defs, "RuleResult", "Result", {"finding_id": {"type": "string"},
                                             "score": {"type": "number"}})
    defs["ComplianceRow"] = COMPLIANCE_ROW
    return _document("assessment", "inspectorctl assessment (assess --format json)", {
        "run": {"$ref": "#/$defs/RunRecord"},
        "results": _array("Result"),
        "compliance": _array("ComplianceRow"),
        "timings": {"type": "object", "additionalProperties": {"type": "number"}},
        # when the run matched installed packages against advisory data (since 1.1)
        "advisory_data": {"$ref": "#/$defs/Staleness"},
        "vulnerabilities": _array("VulnFinding"),
    }, ["run", "results"], defs)


def findings() -> dict[str, Any]:
    return _document("findings", "inspectorctl findings (findings list --format json)",
                     {"findings": _array("Finding")}, ["findings"], _defs(Finding))


def runs() -> dict[str, Any]:
    defs = _defs(RunRecord, ApplyRun)
    _extended(defs, "ApplyRun", "ApplyRunRow", {"hosts": {"type": "integer", "minimum": 0}})
    return _document("runs", "inspectorctl runs (runs list --format json)", {
        "runs": {"type": "array", "items": {"oneOf": [{"$ref": "#/$defs/RunRecord"},
                                                      {"$ref": "#/$defs/ApplyRunRow"}]}},
    }, ["runs"], defs)


def audit() -> dict[str, Any]:
    return _document("audit", "inspectorctl audit log (audit list --format json)",
                     {"entries": _array("AuditEntry")}, ["entries"], _defs(AuditEntry))


def journal() -> dict[str, Any]:
    return _document("journal", "inspectorctl journal (journal RUN --format json)", {
        "run": {"$ref": "#/$defs/ApplyRun"},
        "journal": _array("JournalEntry"),
    }, ["run", "journal"], _defs(ApplyRun, JournalEntry))


def _model_document(kind: str, title: str, model: type[BaseModel]) -> dict[str, Any]:
    """A document whose body is the fields of ``model`` (the envelope beside them)."""
    defs = _defs(model)
    body = defs.pop(model.__name__)
    return _document(kind, title, body["properties"], body.get("required", []), defs)


def findings_diff() -> dict[str, Any]:
    return _model_document("findings-diff", "inspectorctl findings diff --format json",
                           FindingsDiff)


def posture() -> dict[str, Any]:
    return _model_document("posture", "inspectorctl posture --format json", Posture)


def config() -> dict[str, Any]:
    return _model_document("config", "inspectorctl config show --format json", ShownConfig)


#: the generated schemas by kind (the file is ``KIND.json``)
DOCUMENTS: dict[str, Callable[[], dict[str, Any]]] = {
    "assessment": assessment,
    "findings": findings,
    "runs": runs,
    "audit": audit,
    "journal": journal,
    "findings-diff": findings_diff,
    "posture": posture,
    "config": config,
}


def text(kind: str) -> str:
    return json.dumps(DOCUMENTS[kind](), indent=2) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for kind in DOCUMENTS:
        path: Path = SCHEMAS_DIR / f"{kind}.json"
        want = text(kind)
        if path.exists() and path.read_text("utf-8") == want:
            continue
        stale.append(path.name)
        if not check:
            path.write_text(want, encoding="utf-8")
    if check and stale:
        print(f"stale schemas: {', '.join(stale)}; run python -m inspectorctl.schemas.build",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
