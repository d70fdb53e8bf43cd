"""Validate a JSON output against its published schema (``inspectorctl/schemas/KIND.json``)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from inspectorctl.report.jsondoc import load_schema


def validate(kind: str, doc: Any) -> Any:
    """``doc`` (a JSON text or a parsed document) checked against the schema ``kind``;
    returns the parsed document. Formats (date-time, uri) are checked too."""
    if isinstance(doc, str):
        doc = json.loads(doc)
    schema = load_schema(kind)
    cls = jsonschema.validators.validator_for(schema)
    cls(schema, format_checker=cls.FORMAT_CHECKER).validate(doc)
    return doc
