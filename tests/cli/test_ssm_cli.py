"""Exact-output tests of the SSM options and ``ssm-docs`` (SSM stubbed with botocore Stubber)."""

from __future__ import annotations

import base64
import gzip
import io
import json
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
from inspectorctl.vuln_assess import SSM_NEEDS_S3
from tests.aws.stubs import (
    REGION,
    StubbedFactory,
    instance,
    invocation,
    run_collect_document,
)
from tests.vulns import records as R

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


def stub_ssm(monkeypatch: pytest.MonkeyPatch, s3: bool = False) -> dict[str, Any]:
    """SSM stubbed: I1 online (its collect step runs the probe here, on the request that was
    sent), I2 not; returns the SendCommand parameters once sent. With ``s3`` the output is
    read from S3 (``--output-s3``)."""
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
        return {"StandardOutputContent": run_collect_document(sent_request(captured)).decode()}

    f.clients["ssm"].meta.events.register("provide-client-params.ssm.SendCommand", stdout)
    collector = SsmCollector(f, sleep=lambda s: None, fetch_workers=0)

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
    if s3:
        from botocore.response import StreamingBody

        s3_stub = f.stub("s3")
        get_object = f.clients["s3"].get_object

        def s3_get(**kw: Any) -> Any:
            body = run_collect_document(sent_request(captured))
            s3_stub.add_response("get_object", {"Body": StreamingBody(io.BytesIO(body),
                                                                      len(body))}, kw)
            return get_object(**kw)

        monkeypatch.setattr(f.clients["s3"], "get_object", s3_get)
    return captured


def sent_request(captured: dict[str, Any]) -> ProbeRequest:
    raw = captured["Parameters"]["request"][0]
    return ProbeRequest.model_validate(json.loads(gzip.decompress(base64.b64decode(raw))))


def test_assess_via_ssm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    captured = stub_ssm(monkeypatch)
    res = runner.invoke(app, ["assess", "--via", "ssm", "--instance-ids", f"{I1},{I2}",
                              "--rule", "ssh-*", "--format", "json", "--no-vulns"])
    assert res.exit_code == 0, res.output
    assert captured["InstanceIds"] == [I1]
    assert "package_changelogs" not in sent_request(captured).facts  # no matching
    report = json.loads(res.stdout)
    hosts = {r["host"] for r in report["results"]}
    assert hosts == {I1, I2}
    offline = [r for r in report["results"] if r["host"] == I2]
    assert offline and all(r["status"] == "ERROR" for r in offline)
    assert "ConnectionLost, not Online" in offline[0]["reason"]


def _advisories(tmp_path: Path) -> None:
    z = R.osv_zip(tmp_path / "Debian.zip", R.OSV_RECORDS)
    assert runner.invoke(app, ["vulns", "update", "--from", str(z)]).exit_code == 0


@pytest.mark.parametrize("command", [["vulns", "assess"], ["assess", "--rule", "ssh-*"]])
def test_vulnerabilities_via_ssm(command: list[str], monkeypatch: pytest.MonkeyPatch,
                                 tmp_path: Path) -> None:
    """The managed instance's packages come back through SSM in the one collect step and are
    matched; the instance that is not online is an ERROR that changes no finding."""
    _advisories(tmp_path)
    base = [*command, "--via", "ssm", "--instance-ids", f"{I1},{I2}", "--max-db-age", "36500"]
    # a host's packages do not fit in the 24,000 characters SSM returns inline
    stub_ssm(monkeypatch)
    res = runner.invoke(app, base)
    if command[0] == "vulns":
        assert (res.exit_code, res.stderr) == (2, f"error: {SSM_NEEDS_S3}\n")
    else:
        assert res.exit_code == 0, res.output
        assert res.stderr == (f"note: {SSM_NEEDS_S3}: configuration only (the advisory "
                              f"database {tmp_path / 'vulns.db'} is not used; --no-vulns: no "
                              "note)\n")
        assert "Vulnerabilities" not in res.stdout
        assert runner.invoke(app, [*base, "--require-fresh"]).exit_code == 2
    captured = stub_ssm(monkeypatch, s3=True)
    res = runner.invoke(app, [*base, "--output-s3", "s3://bucket/out", "--region", REGION])
    assert res.exit_code == 0, res.output
    assert captured["OutputS3BucketName"] == "bucket"
    assert captured["InstanceIds"] == [I1]
    assert {"os", "packages", "sockets", "package_changelogs"} <= set(
        sent_request(captured).facts)
    run = json.loads(runner.invoke(app, ["runs", "list", "-f", "json"]).stdout)["runs"][0]
    assert run["targets"]["transport"] == "ssm"
    assert run["targets"]["ssm"]["instance_ids"] == [I1, I2]
    assert run["targets"]["vuln_db"] == str((tmp_path / "vulns.db").resolve())
    assert run["packs"][-1] == "vulns"
    results = json.loads(runner.invoke(app, ["findings", "list", "--all", "-f", "json"]
                                       ).stdout)["findings"]
    # this machine's packages (the probe ran here) were collected and matched
    assert {(f["rule_id"], f["host"], f["status"]) for f in results
            if f["pack"] == "vulns" and not f["rule_id"].startswith("vuln:CVE")} <= {
        ("vuln:collect", I1, "PASS")}
    assert f"{I2}: " in res.stdout and "ConnectionLost, not Online" in res.stdout
    assert not any(f["host"] == I2 for f in results)


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



class SsmPlanEnv:
    """Findings of two managed instances (saved snapshots), a stubbed SSM for the pin, and a
    recording executor in place of SsmExecutor."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        from tests.cli.test_remediate_cli import PACK
        from tests.fixtures import snapshot_dict, write_mini
        from tests.remediate.test_rollout import FakeExecutor

        _, self.snaps = write_mini(tmp, {
            I1: snapshot_dict(I1, root_login="yes", tries="6"),
            I2: snapshot_dict(I2, tries="6")})
        self.pack = tmp / "mini.yml"
        self.pack.write_text(PACK)
        self.plan = tmp / "plan.json"
        self.doc = load_document(DocumentName.APPLY_PLAYBOOK.value)
        self.factory = StubbedFactory()
        self.executor = FakeExecutor()
        self.requests: list[Any] = []
        factory = self.factory

        class Factory:
            def __init__(self, _: Any) -> None:
                pass

            def client(self, service: str) -> Any:
                return factory.client(service)

        from inspectorctl.cli import remediate as remediate_cli

        recording = self.executor
        outer = self

        class Recording:
            name = "ssm"

            def run(self, request: Any, progress: Any = None) -> Any:
                outer.requests.append(request)
                return recording.run(request, progress)

        monkeypatch.setattr(remediate_cli, "SessionFactory", Factory)
        monkeypatch.setattr(remediate_cli, "make_ssm_executor", Recording)

    def stub_document(self, content: str, version: str = "3", *, describe: bool) -> None:
        ssm = self.factory.stub("ssm")
        if describe:
            ssm.add_response("describe_document", {"Document": {
                "Name": self.doc.name, "DefaultVersion": version}}, {"Name": self.doc.name})
        ssm.add_response("get_document", {"Name": self.doc.name, "Content": content},
                         {"Name": self.doc.name, "DocumentVersion": version,
                          "DocumentFormat": "YAML"})

    def plan_via_ssm(self) -> dict[str, Any]:
        import json

        res = runner.invoke(app, ["assess", "--pack", str(self.pack), "--from-snapshots",
                                  str(self.snaps)])
        assert res.exit_code == 0, res.output
        self.stub_document(self.doc.content, describe=True)
        res = runner.invoke(app, ["plan", "--pack", str(self.pack), "-o", str(self.plan),
                                  "--via", "ssm", "--region", "eu-west-1"])
        assert res.exit_code == 0, res.output
        data: dict[str, Any] = json.loads(self.plan.read_text())
        return data

    def apply(self, *extra: str) -> Any:
        return runner.invoke(app, ["apply", str(self.plan), "--via", "ssm", "--region",
                                   "eu-west-1", "--output-s3", "s3://ops-bucket/fleet",
                                   "--no-verify", *extra])


def test_plan_via_ssm_pins_the_document_and_apply_runs_what_was_approved(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = SsmPlanEnv(tmp_path, monkeypatch)
    plan = env.plan_via_ssm()
    pin = {"document": env.doc.name, "document_version": "3",
           "document_sha256": env.doc.sha256}
    assert plan["source"]["ssm"] == pin
    from inspectorctl.models.plan import Plan

    sealed = Plan.model_validate(plan)
    # the digest covers the pin: the same plan pinning another version has another digest
    other = sealed.model_copy(update={"source": sealed.source.model_copy(update={
        "ssm": sealed.source.ssm.model_copy(update={"document_version": "4"})
        if sealed.source.ssm else None})})
    assert other.computed_digest() != sealed.digest == sealed.computed_digest()
    # unapproved: refused by the gate, nothing ran
    env.stub_document(env.doc.content, describe=False)
    res = env.apply()
    assert res.exit_code == 3, res.output
    assert env.requests == []
    res = runner.invoke(app, ["approve", str(env.plan), "--by", "alice"])
    assert res.exit_code == 0, res.output
    env.stub_document(env.doc.content, describe=False)
    res = env.apply()
    assert res.exit_code == 0, res.output
    assert env.requests, "the executor ran"
    for req in env.requests:
        st = req.targets.ssm
        assert st.document_version == "3" and st.document_sha256 == env.doc.sha256
        assert st.output_s3.url == "s3://ops-bucket/fleet"
        assert set(req.hosts) <= {I1, I2}


def test_apply_via_ssm_refuses_a_changed_document(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    env = SsmPlanEnv(tmp_path, monkeypatch)
    env.plan_via_ssm()
    res = runner.invoke(app, ["approve", str(env.plan), "--by", "alice"])
    assert res.exit_code == 0, res.output
    env.stub_document(env.doc.content + "# changed after approval\n", describe=False)
    res = env.apply()
    assert res.exit_code == 3, res.output
    assert res.stderr.startswith(f"error: refused: {env.doc.name} version 3 changed since plan ")
    assert res.stderr.rstrip().endswith("nothing was run: deploy, plan and approve again")
    assert env.requests == []


def test_apply_via_ssm_of_a_plan_without_pin_says_how_to_make_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = SsmPlanEnv(tmp_path, monkeypatch)
    res = runner.invoke(app, ["assess", "--pack", str(env.pack), "--from-snapshots",
                              str(env.snaps)])
    assert res.exit_code == 0
    res = runner.invoke(app, ["plan", "--pack", str(env.pack), "-o", str(env.plan)])
    assert res.exit_code == 0, res.output
    res = env.apply()
    assert res.exit_code == 2, res.output
    assert "pins no SSM document version: make it with `inspectorctl plan --via ssm ...`" in (
        res.stderr)
    assert env.requests == []
