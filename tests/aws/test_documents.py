"""The shipped SSM documents: valid, every String parameter constrained, within the budget."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from inspectorctl.aws.documents import (
    MAX_COLLECT_BYTES,
    PROBE_MARKER,
    Document,
    DocumentError,
    DocumentName,
    collect_budget,
    documents_dir,
    encode_request,
    largest_request,
    load_document,
    shipped_documents,
    validate,
)


def test_every_shipped_document_validates() -> None:
    docs = shipped_documents()
    assert {d.name for d in docs} == {n.value for n in DocumentName}
    files = {p.stem for p in documents_dir().iterdir() if p.suffix in (".yml", ".json")}
    assert files == {n.value for n in DocumentName}
    for doc in docs:
        data = validate(doc)
        assert data["schemaVersion"] == "2.2"


def test_every_string_parameter_is_constrained() -> None:
    for doc in shipped_documents():
        for name, spec in doc.data()["parameters"].items():
            if spec["type"] != "String":
                continue
            pattern = spec.get("allowedPattern")
            assert pattern or spec.get("interpolationType") == "ENV_VAR", (doc.name, name)
            for hostile in ("a'b", "a;reboot", "$(id)", "`id`", "a b", "x\ny"):
                assert not re.fullmatch(pattern, hostile), (doc.name, name, hostile)


def test_collect_document_plus_largest_request_fits_the_budget() -> None:
    doc = load_document(DocumentName.COLLECT.value)
    request = encode_request(largest_request())
    size = len(doc.content.encode()) + len(request)
    assert size <= MAX_COLLECT_BYTES, size
    assert PROBE_MARKER not in doc.content
    pattern = doc.data()["parameters"]["request"]["allowedPattern"]
    assert re.fullmatch(pattern, request)


def _variant(tmp_path: Path, edit: dict[str, object], name: str = "InspectorCtl-Collect"
             ) -> Document:
    data = load_document(name).data()
    data.update(edit)
    p = tmp_path / f"{name}.yml"
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_document(name, p)


def test_validation_refuses_an_unconstrained_or_unanchored_parameter(tmp_path: Path) -> None:
    params = load_document("InspectorCtl-Collect").data()["parameters"]
    loose = {**params, "request": {"type": "String", "description": "x"}}
    with pytest.raises(DocumentError, match="needs an allowedPattern"):
        validate(_variant(tmp_path, {"parameters": loose}))
    unanchored = {**params, "request": {"type": "String", "allowedPattern": "[A-Za-z0-9+/=]+"}}
    with pytest.raises(DocumentError, match="must be anchored"):
        validate(_variant(tmp_path, {"parameters": unanchored}))
    quoting = {**params, "request": {"type": "String", "allowedPattern": "^[A-Za-z0-9';]+$"}}
    with pytest.raises(DocumentError, match="admits"):
        validate(_variant(tmp_path, {"parameters": quoting}))


def test_validation_refuses_schema_undeclared_refs_and_oversize(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match=r"schemaVersion '1\.2'"):
        validate(_variant(tmp_path, {"schemaVersion": "1.2"}))
    steps = load_document("InspectorCtl-Collect").data()["mainSteps"]
    steps[0]["inputs"]["runCommand"].append("echo {{ nosuch }}")
    with pytest.raises(DocumentError, match=r"undeclared parameter.*nosuch"):
        validate(_variant(tmp_path, {"mainSteps": steps}))
    big = load_document("InspectorCtl-Collect").data()["mainSteps"]
    _, req_bytes = collect_budget()
    doc_bytes = len(_variant(tmp_path, {}).content.encode("utf-8"))
    # over our budget by a little, still under SSM's own 64 KiB for a document
    big[0]["inputs"]["runCommand"].append("# " + "x" * (60_000 - doc_bytes - req_bytes + 200))
    with pytest.raises(DocumentError, match="over the 60000-byte budget"):
        validate(_variant(tmp_path, {"mainSteps": big}))


def test_rendering_is_deterministic() -> None:
    a = load_document(DocumentName.COLLECT.value)
    b = load_document(DocumentName.COLLECT.value)
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
