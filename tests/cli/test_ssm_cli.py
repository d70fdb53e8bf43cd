"""Exact-output tests of the SSM options and ``ssm-docs`` (SSM stubbed with botocore Stubber)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from inspectorctl import collect as collect_mod
from inspectorctl.aws.documents import DocumentName, load_document
from inspectorctl.cli import ssm_docs
from inspectorctl.cli.main import app
from inspectorctl.collect.interface import Collector
from inspectorctl.collect.ssm import STEP, SsmCollector
from inspectorctl.models.snapshot import ProbeRequest
from tests.aws.stubs import StubbedFactory, instance, invocation, run_collect_document

runner = CliRunner()
I1, I2 = "i-0123456789abcdef0", "mi-0123456789abcdef1"
C1 = "00000001-0000-4000-8000-000000000000"


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSPECTORCTL_DB", str(tmp_path / "findings.db"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.mark.parametrize(("args", "message"), [
    (["--via", "ssm"], "--via ssm needs targets: --instance-ids i-…,mi-… or --targets "
     "tag:KEY=VALUE"),
    (["--via", "ssm", "--instance-ids", "i-lab0001"], "--instance-ids: 'i-lab0001' is not an "
     "SSM managed instance id (i- followed by 8 or 17 hex digits, or mi- followed by 17)"),
    (["--via", "ssm", "--targets", "Env=prod"], "--targets 'Env=prod': expected "
     "tag:KEY=VALUE[,VALUE...] (e.g. tag:Env=prod)"),
    (["--via", "ssm", *[a for n in range(6) for a in ("--targets", f"tag:K{n}=v")]],
     "--targets: 6 tag keys; SSM takes at most 5 (an instance must match every key)"),
    (["--via", "ssm", "--instance-ids", I1, "--targets", "tag:Env=prod"],
     "give --instance-ids or --targets, not both"),
    (["--via", "ssm", "--instance-ids", I1, "--max-errors", "101%"], "--max-errors '101%': "
     "expected a number of errors (e.g. 0, 5) or a percentage of 0-100% (e.g. 10%)"),
    (["--via", "ssm", "--instance-ids", I1, "--output-s3", "bucket/x"],
     "--output-s3 'bucket/x': expected s3://BUCKET[/PREFIX]"),
    (["--via", "ssm", "--instance-ids", I1, "--region", "mars"],
     "--region 'mars': not an AWS region name (e.g. eu-west-1, us-east-1)"),
    (["--instance-ids", I1], "--instance-ids: only with --via ssm"),
    (["--via", "ssm", "--instance-ids", I1, "--inventory", "/etc/hostname"],
     "--via ssm reaches managed instances: drop --inventory/--limit"),
])
def test_bad_ssm_values_are_one_error_exit_2(args: list[str], message: str) -> None:
    for command in ("assess", "collect"):
        extra = ["--out", "/nonexistent/x"] if command == "collect" else []
        res = runner.invoke(app, [command, *extra, *args])
        assert res.exit_code == 2, res.output
        assert res.stderr == f"error: {message}\n"


def test_assess_via_ssm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    f = StubbedFactory()
    ssm = f.stub("ssm")
    ssm.add_response("describe_instance_information", {"InstanceInformationList": [
        instance(I1), instance(I2, ping="ConnectionLost")]}, None)
    ssm.add_response("send_command", {"Command": {"CommandId": C1}}, None)
    ssm.add_response("list_command_invocations",
                     {"CommandInvocations": [invocation(C1, I1, "Success")]}, None)
    captured: dict[str, Any] = {}

    def stdout(params: dict[str, Any], **_: Any) -> None:
        captured.update(params)

    def output() -> dict[str, Any]:
        import base64
        import gzip
        import json

        raw = captured["Parameters"]["request"][0]
        req = ProbeRequest.model_validate(json.loads(gzip.decompress(base64.b64decode(raw))))
        return {"StandardOutputContent": run_collect_document(req).decode()}

    f.clients["ssm"].meta.events.register("provide-client-params.ssm.SendCommand", stdout)
    collector = SsmCollector(f, sleep=lambda s: None)

    def get() -> Collector:
        return collector

    monkeypatch.setitem(collect_mod.COLLECTORS, "ssm", get)
    # the frame is made from the request that was really sent
    orig = f.clients["ssm"].get_command_invocation

    def gci(**kw: Any) -> Any:
        ssm.add_response("get_command_invocation", output(),
                         {"CommandId": C1, "InstanceId": I1, "PluginName": STEP})
        return orig(**kw)

    monkeypatch.setattr(f.clients["ssm"], "get_command_invocation", gci)
    res = runner.invoke(app, ["assess", "--via", "ssm", "--instance-ids", f"{I1},{I2}",
                              "--rule", "ssh-*", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert captured["InstanceIds"] == [I1]
    import json

    report = json.loads(res.stdout)
    hosts = {r["host"] for r in report["results"]}
    assert hosts == {I1, I2}
    offline = [r for r in report["results"] if r["host"] == I2]
    assert offline and all(r["status"] == "ERROR" for r in offline)
    assert "ConnectionLost, not Online" in offline[0]["reason"]


def test_ssm_docs_validate_output() -> None:
    res = runner.invoke(app, ["ssm-docs", "validate"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    for name, line in zip(("InspectorCtl-Collect", "InspectorCtl-ApplyPlaybook"), lines,
                          strict=False):
        doc = load_document(name)
        assert line == f"ok {name}: {len(doc.content.encode())} bytes, sha256 {doc.sha256}"
    assert lines[2].startswith("collect budget: document ")
    assert lines[2].endswith(" of 60000 bytes")


def test_ssm_docs_validate_refuses_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "Mine.yml"
    bad.write_text("schemaVersion: '2.2'\ndescription: x\nparameters:\n  p:\n    type: String\n"
                   "mainSteps:\n  - action: aws:runShellScript\n    name: s\n    inputs:\n"
                   "      timeoutSeconds: '5'\n      runCommand: ['echo {{ p }}']\n")
    res = runner.invoke(app, ["ssm-docs", "validate", str(bad)])
    assert res.exit_code == 2
    assert res.stderr == (f"error: {bad}: parameter 'p': a String parameter needs an "
                          "allowedPattern (or interpolationType: ENV_VAR) so no value reaches a "
                          "shell unquoted\n")


def test_ssm_docs_deploy_creates_then_is_idempotent(monkeypatch: pytest.MonkeyPatch) -> None:
    f = StubbedFactory()
    ssm = f.stub("ssm")
    docs = [load_document(n.value) for n in DocumentName]
    for doc in docs:
        ssm.add_client_error("describe_document", "InvalidDocument", "no such document",
                             expected_params={"Name": doc.name})
        ssm.add_response("create_document", {"DocumentDescription": {
            "Name": doc.name, "DocumentVersion": "1"}}, {
            "Content": doc.content, "Name": doc.name, "DocumentType": "Command",
            "DocumentFormat": "YAML", "Tags": [
                {"Key": "inspectorctl:sha256", "Value": doc.sha256},
                {"Key": "inspectorctl:managed-by", "Value": "inspectorctl"}]})
    for doc in docs:
        ssm.add_response("describe_document", {"Document": {"Name": doc.name,
                                                            "DefaultVersion": "1"}},
                         {"Name": doc.name})
        ssm.add_response("get_document", {"Name": doc.name, "Content": doc.content},
                         {"Name": doc.name, "DocumentVersion": "1", "DocumentFormat": "YAML"})

    class Factory:
        def __init__(self, _: Any) -> None:
            pass

        def client(self, service: str) -> Any:
            return f.client(service)

    monkeypatch.setattr(ssm_docs, "SessionFactory", Factory)
    first = runner.invoke(app, ["ssm-docs", "deploy", "--region", "eu-west-1"])
    assert first.exit_code == 0, first.output
    assert first.stdout == "".join(f"created {d.name} version 1 (sha256 {d.sha256})\n"
                                   for d in docs)
    again = runner.invoke(app, ["ssm-docs", "deploy", "--region", "eu-west-1"])
    assert again.exit_code == 0, again.output
    assert again.stdout == "".join(f"unchanged {d.name} version 1 (sha256 {d.sha256})\n"
                                   for d in docs)
    ssm.assert_no_pending_responses()


@pytest.mark.parametrize("args", [
    ["apply", "/nonexistent/plan.json", "--via", "ssm"],
    ["rollback", "a-run", "--by", "alice", "--via", "ssm"],
    ["plan", "--out", "/nonexistent/p.json", "--preview", "--via", "ssm"],
    ["remediate", "--policy", "/nonexistent/policy.yml", "--via", "ssm"],
])
def test_changing_hosts_via_ssm_says_it_is_not_finished(args: list[str], tmp_path: Path) -> None:
    db = tmp_path / "findings.db"
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    command = "plan --preview" if args[0] == "plan" else args[0]
    assert res.stderr.startswith(f"error: {command} --via ssm: remediation through SSM Run "
                                 "Command")
    assert "is not finished in this version; nothing was run" in res.stderr
    assert not db.exists()  # refused before the store was opened
