"""The envelope every JSON output carries, and the JSON Schemas that describe them.

Every JSON document inspectorctl prints starts with ``schema_version`` (of the document's
shape: a change that removes or retypes a field bumps the major number, an added field the
minor), ``tool`` (name and version of the inspectorctl that wrote it) and ``kind`` (which
document it is). The schemas are package data in ``inspectorctl/schemas/KIND.json``
(JSON Schema 2020-12); ``inspectorctl schema KIND`` prints one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inspectorctl import __version__
from inspectorctl.errors import InputError

#: the version of the shapes of the JSON documents (see the module doc)
SCHEMA_VERSION = "1.1"

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"


def envelope(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION,
            "tool": {"name": "inspectorctl", "version": __version__},
            "kind": kind, **body}


def dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2)


def schema_names() -> list[str]:
    return sorted(p.stem for p in SCHEMAS_DIR.glob("*.json"))


def load_schema(name: str) -> dict[str, Any]:
    """The schema ``name`` (``findings``, ``sarif`` ...); an unknown name lists the known."""
    names = schema_names()
    if name not in names:
        raise InputError(f"no schema {name!r}; valid: {', '.join(names)}")
    doc: dict[str, Any] = json.loads((SCHEMAS_DIR / f"{name}.json").read_text("utf-8"))
    return doc
