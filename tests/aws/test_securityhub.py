"""BatchImportFindings: batches, refused findings, retries, the rate limit (botocore Stubber,
parameter validation on); a real import and GetFindings round trip (moto's Security Hub); the
``export securityhub`` command's output and exit codes."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY
from moto import mock_aws
from typer.testing import CliRunner

from inspectorctl.aws import securityhub as sh
from inspectorctl.aws.session import AwsConfig
from inspectorctl.cli.main import app
from inspectorctl.models.finding import finding_id
from inspectorctl.report import asff
from inspectorctl.report.exportable import load
from inspectorctl.store.db import Store
from tests.aws.stubs import REGION, StubbedFactory
from tests.report.exportdata import EC2, VULN_RULE, WEB, build

ACCOUNT = "123456789012"
TARGET = asff.AsffTarget(account_id=ACCOUNT, region=REGION)
runner = CliRunner()


class FakeClock:
    """Time that moves only when slept through; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One real, model-conforming ASFF finding to copy."""
    with Store(build(tmp_path_factory.mktemp("sh"))) as store:
        items = load(store).items
    item = next(i for i in items if i.finding.host == EC2)
    return asff.fit(asff.to_asff(item, TARGET))


def _many(template: dict[str, Any], n: int, pad: int = 0) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        f = copy.deepcopy(template)
        f["Id"] = f"inspectorctl/f-{i:016x}"
        if pad:
            f["ProductFields"]["inspectorctl/evidence/found"] = "x" * 2000
            for k in range(pad):
                f["ProductFields"][f"inspectorctl/pad/{k}"] = "\U0001f600" * 2048
        out.append(f)
    return out


def _ok(n: int) -> dict[str, Any]:
    return {"FailedCount": 0, "SuccessCount": n, "FailedFindings": []}


def _import(f: StubbedFactory, findings: list[dict[str, Any]], clock: FakeClock | None = None,
            **kw: Any) -> sh.ImportReport:
    clock = clock or FakeClock()
    return sh.import_findings(f.client("securityhub"), findings,
                              limiter=sh.RateLimiter(clock=clock), rng=random.Random(7), **kw)


# ------------------------------------------------------------------------------ batching

def test_batches_of_at_most_100_findings(template: dict[str, Any]) -> None:
    findings = _many(template, 250)
    f = StubbedFactory()
    stub = f.stub("securityhub")
    for chunk in (findings[:100], findings[100:200], findings[200:]):
        stub.add_response("batch_import_findings", _ok(len(chunk)), {"Findings": chunk})
    with f.verified():
        report = _import(f, findings)
    assert report.imported == tuple(x["Id"] for x in findings)
    assert (report.calls, report.failed, report.retried, report.ok) == (3, (), 0, True)


def test_batches_of_at_most_6_mb(template: dict[str, Any]) -> None:
    # each finding ~220 KB as botocore writes it (emoji are 12-byte escapes): 27 fit in 6 MB
    findings = _many(template, 60, pad=9)
    sizes = {asff.size(x) for x in findings}
    assert all(200_000 < s <= asff.MAX_FINDING_BYTES for s in sizes)
    assert all(asff.problems(x) == [] for x in findings[:1])
    groups = sh.batches(findings)
    assert [len(g) for g in groups] == [27, 27, 6]
    assert all(sh.body_size(g) <= sh.MAX_BATCH_BYTES for g in groups)
    assert sh.body_size(groups[0] + groups[1][:1]) > sh.MAX_BATCH_BYTES
    f = StubbedFactory()
    stub = f.stub("securityhub")
    for g in groups:
        stub.add_response("batch_import_findings", _ok(len(g)), {"Findings": g})
    with f.verified():
        assert len(_import(f, findings).imported) == 60


def test_a_finding_over_the_request_limit_is_refused_before_sending(
        template: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"alone is \d+ bytes, over the 1000-byte"):
        sh.batches([template], max_bytes=1000)


# ----------------------------------------------------------------- refusals and retries

def test_refused_findings_are_named_and_transient_ones_sent_again(
        template: dict[str, Any]) -> None:
    findings = _many(template, 5)
    ids = [x["Id"] for x in findings]
    f = StubbedFactory()
    stub = f.stub("securityhub")
    stub.add_response("batch_import_findings", {
        "FailedCount": 2, "SuccessCount": 3, "FailedFindings": [
            {"Id": ids[1], "ErrorCode": "InvalidInput", "ErrorMessage": "Finding is invalid"},
            {"Id": ids[3], "ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}]},
        {"Findings": findings})
    stub.add_response("batch_import_findings", _ok(1), {"Findings": [findings[3]]})
    clock = FakeClock()
    with f.verified():
        report = _import(f, findings, clock)
    assert report.imported == (ids[0], ids[2], ids[4], ids[3])
    assert report.failed == (sh.FailedFinding(id=ids[1], code="InvalidInput",
                                              message="Finding is invalid", attempts=1,
                                              transient=False),)
    assert (report.calls, report.retried) == (2, 1)
    # one backoff: half of 0.5 s plus jitter of up to the other half
    (slept,) = clock.sleeps
    assert 0.25 <= slept <= 0.5


def test_a_finding_still_throttled_after_every_attempt_fails_with_its_error(
        template: dict[str, Any]) -> None:
    (one,) = _many(template, 1)
    f = StubbedFactory()
    stub = f.stub("securityhub")
    for _ in range(4):
        stub.add_response("batch_import_findings", {
            "FailedCount": 1, "SuccessCount": 0, "FailedFindings": [
                {"Id": one["Id"], "ErrorCode": "InternalException", "ErrorMessage": "oops"}]},
            {"Findings": [one]})
    clock = FakeClock()
    with f.verified():
        report = _import(f, [one], clock, max_attempts=4)
    assert report.imported == ()
    assert report.failed == (sh.FailedFinding(id=one["Id"], code="InternalException",
                                              message="oops", attempts=4, transient=True),)
    # exponential backoff with jitter: each wait within [d/2, d] for d = 0.5, 1, 2
    assert len(clock.sleeps) == 3
    for slept, d in zip(clock.sleeps, (0.5, 1.0, 2.0), strict=True):
        assert d / 2 <= slept <= d


def test_a_throttled_call_is_sent_again_and_other_call_errors_fail_the_batch(
        template: dict[str, Any]) -> None:
    findings = _many(template, 150)
    f = StubbedFactory()
    stub = f.stub("securityhub")
    stub.add_client_error("batch_import_findings", "ThrottlingException", "Rate exceeded",
                          expected_params={"Findings": findings[:100]})
    stub.add_client_error("batch_import_findings", "InvalidInputException", "bad batch",
                          expected_params={"Findings": findings[100:]})
    stub.add_response("batch_import_findings", _ok(100), {"Findings": findings[:100]})
    with f.verified():
        report = _import(f, findings)
    assert report.imported == tuple(x["Id"] for x in findings[:100])
    assert len(report.failed) == 50
    assert report.failed[0].code == "InvalidInputException"
    assert report.failed[0].message == "BatchImportFindings: InvalidInputException: bad batch"
    assert (report.calls, report.retried) == (3, 100)


def test_access_refused_stops_the_import_saying_what_was_imported(
        template: dict[str, Any]) -> None:
    findings = _many(template, 120)
    f = StubbedFactory()
    stub = f.stub("securityhub")
    stub.add_response("batch_import_findings", _ok(100), {"Findings": findings[:100]})
    stub.add_client_error("batch_import_findings", "InvalidAccessException",
                          "Account 123456789012 is not subscribed to AWS Security Hub")
    with f.verified(), pytest.raises(sh.PartialImport) as e:
        _import(f, findings)
    assert str(e.value) == (
        "Security Hub refused the import: BatchImportFindings: InvalidAccessException: Account "
        "123456789012 is not subscribed to AWS Security Hub; 100 finding(s) imported before")
    assert len(e.value.report.imported) == 100


def test_a_failed_count_without_names_is_reported(template: dict[str, Any]) -> None:
    findings = _many(template, 2)
    f = StubbedFactory()
    stub = f.stub("securityhub")
    stub.add_response("batch_import_findings",
                      {"FailedCount": 1, "SuccessCount": 1, "FailedFindings": []},
                      {"Findings": findings})
    with f.verified():
        report = _import(f, findings)
    assert not report.ok
    assert report.anomalies == ("a call reported FailedCount 1 but named 0 finding(s) in "
                                "FailedFindings: some findings may not have been imported",)


# ------------------------------------------------------------------------------ the rate

def _windows(times: list[float], per: float = 1.0) -> int:
    """The most calls in any window of ``per`` seconds."""
    return max(sum(1 for t in times if s <= t < s + per) for s in times)


def test_the_limiter_keeps_to_10_calls_in_any_second() -> None:
    clock = FakeClock()
    lim = sh.RateLimiter(clock=clock)
    times = []
    for _ in range(35):
        lim.acquire()
        times.append(clock.now)
        clock.now += 0.01  # a call takes 10 ms
    assert clock.sleeps[:1] and clock.sleeps[0] == pytest.approx(0.9)
    assert times[:10] == pytest.approx([1000 + 0.01 * i for i in range(10)])
    assert _windows(times) == 10
    # and waits no more than it must: 35 calls take a little over 3 seconds
    assert times[-1] - times[0] == pytest.approx(3.04)


def test_the_limiter_does_not_wait_when_calls_are_slow() -> None:
    clock = FakeClock()
    lim = sh.RateLimiter(clock=clock)
    for _ in range(30):
        lim.acquire()
        clock.now += 0.2
    assert clock.sleeps == []


def test_an_import_of_1500_findings_keeps_to_the_rate(template: dict[str, Any]) -> None:
    findings = _many(template, 1500)
    clock = FakeClock()
    calls: list[float] = []
    f = StubbedFactory()
    stub = f.stub("securityhub")
    for i in range(15):
        stub.add_response("batch_import_findings", _ok(100),
                          {"Findings": findings[i * 100:(i + 1) * 100]})
    client = f.client("securityhub")

    class Timed:
        def batch_import_findings(self, **kw: Any) -> Any:
            calls.append(clock.now)
            clock.now += 0.02  # a call takes 20 ms
            return client.batch_import_findings(**kw)

    with f.verified():
        report = sh.import_findings(Timed(), findings, limiter=sh.RateLimiter(clock=clock))
    assert len(report.imported) == 1500 and len(calls) == 15
    assert _windows(calls) == 10


# ----------------------------------------------------------------------- moto round trip

@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECURITYHUB"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


def test_export_then_get_findings_round_trip(tmp_path: Path, aws_env: None) -> None:
    import boto3

    db = build(tmp_path)
    res = runner.invoke(app, ["export", "securityhub", "--db", str(db), "--region", REGION])
    assert res.exit_code == 0, res.output
    assert res.stdout == (
        f"Imported 6 of 6 finding(s) of run r-2 into Security Hub (arn:aws:securityhub:{REGION}"
        f":{ACCOUNT}:product/{ACCOUNT}/default) in 1 call(s).\n")
    client = boto3.client("securityhub", region_name=REGION)
    got = {f["Id"]: f for f in client.get_findings()["Findings"]}
    with Store(db) as store:
        sent = {x["Id"]: x for x in (asff.fit(asff.to_asff(i, TARGET.model_copy(update={
            "region": REGION}))) for i in load(store).items)}
    assert set(got) == set(sent)
    vid = asff.finding_asff_id(finding_id(VULN_RULE, WEB))
    assert got[vid]["Vulnerabilities"][0]["Id"] == "CVE-2023-38545"
    assert got[vid]["FindingProviderFields"] == sent[vid]["FindingProviderFields"]
    root = got[asff.finding_asff_id(finding_id("mini-ssh-root", WEB))]
    assert (root["RecordState"], root["Compliance"]["Status"]) == ("ARCHIVED", "PASSED")
    # a second export updates the same findings, never duplicates them
    again = runner.invoke(app, ["export", "securityhub", "--db", str(db), "--region", REGION,
                                "--account-id", ACCOUNT])
    assert again.exit_code == 0, again.output
    assert len(client.get_findings()["Findings"]) == 6


# ------------------------------------------------------------------------------ the CLI

@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> StubbedFactory:
    f = StubbedFactory()
    monkeypatch.setattr("inspectorctl.aws.session.SessionFactory",
                        lambda config: _Same(f, config))
    return f


class _Same(StubbedFactory):
    def __init__(self, shared: StubbedFactory, config: AwsConfig) -> None:
        self.__dict__ = shared.__dict__


def test_cli_names_every_refused_finding_and_exits_1(tmp_path: Path,
                                                     stubbed: StubbedFactory) -> None:
    db = build(tmp_path)
    ec2 = asff.finding_asff_id(finding_id("mini-ssh-tries", EC2))
    stub = stubbed.stub("securityhub")
    stub.add_response("batch_import_findings", {
        "FailedCount": 1, "SuccessCount": 5, "FailedFindings": [
            {"Id": ec2, "ErrorCode": "InvalidInput", "ErrorMessage": "Resource is invalid"}]},
        {"Findings": ANY})
    res = runner.invoke(app, ["export", "securityhub", "--db", str(db), "--account-id",
                              ACCOUNT])
    assert res.exit_code == 1
    assert res.stdout == (
        f"Imported 5 of 6 finding(s) of run r-2 into Security Hub (arn:aws:securityhub:{REGION}"
        f":{ACCOUNT}:product/{ACCOUNT}/default) in 1 call(s).\n")
    assert res.stderr == (
        f"error: {ec2} (mini-ssh-tries on {EC2}): refused by Security Hub: InvalidInput: "
        "Resource is invalid\n1 finding(s) not imported\n")


def test_cli_bad_input_exits_2_before_any_call(tmp_path: Path,
                                               stubbed: StubbedFactory) -> None:
    db = build(tmp_path)
    res = runner.invoke(app, ["export", "securityhub", "--db", str(db), "--account-id", "42"])
    assert (res.exit_code, res.stderr) == (
        2, "error: --account-id: '42' is not an AWS account id (12 digits)\n")
    res = runner.invoke(app, ["export", "securityhub", "--db", str(db), "--run", "r-9",
                              "--account-id", ACCOUNT])
    assert (res.exit_code, res.stderr) == (
        2, f"error: no run 'r-9' in {db}; see `inspectorctl runs list`\n")
    res = runner.invoke(app, ["export", "securityhub", "--db", str(db), "--region", "mars",
                              "--account-id", ACCOUNT])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: --region 'mars': not an AWS region name")
    empty = tmp_path / "empty.db"
    res = runner.invoke(app, ["export", "securityhub", "--db", str(empty), "--account-id",
                              ACCOUNT])
    assert (res.exit_code, res.stderr) == (
        2, f"error: no assessment recorded in {empty}: run `inspectorctl assess` (or "
           "`inspectorctl vulns assess`) first\n")
    stubbed.stub("securityhub").assert_no_pending_responses()


def test_cli_access_refused_exits_1_with_the_reason(tmp_path: Path,
                                                    stubbed: StubbedFactory) -> None:
    db = build(tmp_path)
    stubbed.stub("securityhub").add_client_error(
        "batch_import_findings", "InvalidAccessException", "not subscribed")
    res = runner.invoke(app, ["export", "securityhub", "--db", str(db), "--account-id",
                              ACCOUNT])
    assert res.exit_code == 1
    assert res.stderr == ("error: Security Hub refused the import: BatchImportFindings: "
                          "InvalidAccessException: not subscribed; 0 finding(s) imported "
                          "before\n")


def test_cli_never_sends_a_finding_that_does_not_conform(
        tmp_path: Path, stubbed: StubbedFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    db = build(tmp_path)
    real = asff.to_asff
    ec2 = asff.finding_asff_id(finding_id("mini-ssh-tries", EC2))

    def broken(item: Any, target: asff.AsffTarget) -> dict[str, Any]:
        f = real(item, target)
        if f["Id"] == ec2:
            f["RecordState"] = "GONE"
        return f

    monkeypatch.setattr(asff, "to_asff", broken)
    sent: list[list[str]] = []
    stub = stubbed.stub("securityhub")
    stub.add_response("batch_import_findings", _ok(5), {"Findings": ANY})
    stubbed.client("securityhub").meta.events.register(
        "provide-client-params.securityhub.BatchImportFindings",
        lambda params, **_: sent.append([f["Id"] for f in params["Findings"]]))
    res = runner.invoke(app, ["export", "securityhub", "--db", str(db), "--account-id",
                              ACCOUNT])
    assert res.exit_code == 1
    assert len(sent) == 1 and len(sent[0]) == 5 and ec2 not in sent[0]
    assert res.stdout.startswith("Imported 5 of 6 finding(s) of run r-2")
    assert res.stderr == (
        f"error: {ec2} (mini-ssh-tries on {EC2}): not sent, it does not conform to Security "
        "Hub's model: RecordState: 'GONE' is not one of ACTIVE, ARCHIVED\n"
        "1 finding(s) not imported\n")
