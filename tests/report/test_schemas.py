"""Every JSON output validates against its published schema; the schemas are what the models
say (rebuilt by ``python -m inspectorctl.schemas.build``); ``inspectorctl schema`` prints
them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from inspectorctl import __version__
from inspectorctl.cli.main import app
from inspectorctl.report.jsondoc import SCHEMA_VERSION, SCHEMAS_DIR, load_schema, schema_names
from inspectorctl.schemas import build
from tests.fixtures import snapshot_dict, write_mini
from tests.report.schemacheck import validate

runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSPECTORCTL_DB", str(tmp_path / "findings.db"))


def _assess(tmp_path: Path, *extra: str) -> str:
    pack, snaps = write_mini(tmp_path, {
        "a": snapshot_dict("a", root_login="yes"),
        "b": snapshot_dict("b", tries="9"),
    })
    res = runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps),
                              *extra])
    assert res.exit_code == 0, res.output
    return res.stdout


def test_the_committed_schemas_are_what_the_models_give() -> None:
    assert build.main(["--check"]) == 0, "run python -m inspectorctl.schemas.build"
    for kind in build.DOCUMENTS:
        assert (SCHEMAS_DIR / f"{kind}.json").read_text("utf-8") == build.text(kind)


def test_every_schema_is_a_valid_schema() -> None:
    assert schema_names() == sorted([*build.DOCUMENTS, "sarif"])
    for name in schema_names():
        schema = load_schema(name)
        jsonschema.validators.validator_for(schema).check_schema(schema)


def test_assess_json_carries_the_envelope_and_validates(tmp_path: Path) -> None:
    doc = validate("assessment", _assess(tmp_path, "--format", "json", "--framework",
                                         "pci-dss"))
    assert (doc["schema_version"], doc["tool"], doc["kind"]) == (
        SCHEMA_VERSION, {"name": "inspectorctl", "version": __version__}, "assessment")
    assert doc["compliance"] and doc["timings"]


def test_listings_validate(tmp_path: Path) -> None:
    _assess(tmp_path)
    findings = runner.invoke(app, ["findings", "list", "--all", "-f", "json"]).stdout
    doc = validate("findings", findings)
    assert len(doc["findings"]) == 2 and doc["kind"] == "findings"
    fid = doc["findings"][0]["id"]
    runner.invoke(app, ["findings", "suppress", fid, "--by", "alice", "--reason", "r",
                        "--days", "3"])
    validate("findings", runner.invoke(app, ["findings", "list", "--all", "-f", "json"]).stdout)
    assert validate("runs", runner.invoke(app, ["runs", "list", "-f", "json"]).stdout)["runs"]
    entries = validate("audit", runner.invoke(app, ["audit", "list", "-f", "json"]).stdout)
    assert [e["event"] for e in entries["entries"]] == ["suppress"]


def test_sarif_validates_against_the_sarif_schema(tmp_path: Path) -> None:
    doc = validate("sarif", _assess(tmp_path, "--format", "sarif"))
    assert len(doc["runs"][0]["results"]) == 2
    fid = doc["runs"][0]["results"][0]["partialFingerprints"]["inspectorctlFinding/v1"]
    runner.invoke(app, ["findings", "suppress", fid, "--by", "alice", "--reason", "r"])
    doc = validate("sarif", runner.invoke(app, ["findings", "list", "--all", "-f",
                                                "sarif"]).stdout)
    assert sum(1 for r in doc["runs"][0]["results"] if "suppressions" in r) == 1


def test_the_schemas_refuse_what_they_should(tmp_path: Path) -> None:
    """A schema that accepted anything would make the tests above worthless."""
    good = json.loads(_assess(tmp_path, "--format", "json"))
    for broken in (
        {k: v for k, v in good.items() if k != "schema_version"},
        {**good, "schema_version": "2.0"},
        {**good, "kind": "findings"},
        {**good, "surprise": 1},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate("assessment", broken)
    bad = copy.deepcopy(good)
    bad["results"][0]["status"] = "MAYBE"
    with pytest.raises(jsonschema.ValidationError):
        validate("assessment", bad)
    sarif = json.loads(_assess(tmp_path, "--format", "sarif"))
    sarif["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        validate("sarif", sarif)
    del sarif["runs"][0]["results"][0]["message"]
    with pytest.raises(jsonschema.ValidationError):
        validate("sarif", sarif)


def test_schema_command() -> None:
    res = runner.invoke(app, ["schema"])
    assert res.stdout.splitlines() == schema_names()
    res = runner.invoke(app, ["schema", "findings"])
    assert res.exit_code == 0
    assert res.stdout == (SCHEMAS_DIR / "findings.json").read_text("utf-8")
    res = runner.invoke(app, ["schema", "html"])
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr == f"error: no schema 'html'; valid: {', '.join(schema_names())}\n"
