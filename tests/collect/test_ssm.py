"""SsmCollector against botocore Stubber (parameter validation on): every call shape it makes,
and the checks botocore does not do."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import ANY

from inspectorctl.aws.documents import DocumentName, encode_request
from inspectorctl.aws.frame import unframe
from inspectorctl.aws.runcommand import Interrupted
from inspectorctl.aws.session import AwsConfig
from inspectorctl.aws.targets import S3Location, SsmTargets, TagTarget
from inspectorctl.collect.interface import CollectError, CollectionFailure, Targets
from inspectorctl.collect.ssm import STEP, SsmCollector
from inspectorctl.models.snapshot import HostSnapshot, ProbeRequest
from tests.aws.stubs import REGION, StubbedFactory, body, instance, invocation, run_collect_document


def cid(n: int) -> str:
    """A command id of SSM's shape (36 characters)."""
    return f"{n:08d}-0000-4000-8000-000000000000"


C1, C9 = cid(1), cid(9)
REQUEST = ProbeRequest(facts=("os", "accounts"))
I1, I2, I3, I4 = ("i-0123456789abcdef0", "i-0123456789abcdef1", "mi-0123456789abcdef2",
                  "i-0123456789abcdef3")


@pytest.fixture(scope="module")
def frame() -> bytes:
    return run_collect_document(REQUEST)


def targets(*ids: str, s3: S3Location | None = None, **kw: Any) -> Targets:
    return Targets(ssm=SsmTargets(instance_ids=ids, aws=AwsConfig(region=REGION),
                                  output_s3=s3, **kw))


def send_params(ids: list[str], s3: S3Location | None = None, budget: int = 31) -> dict[str, Any]:
    p: dict[str, Any] = {
        "InstanceIds": ids, "DocumentName": DocumentName.COLLECT.value,
        "Parameters": {"request": [encode_request(REQUEST)], "executionTimeout": [str(budget)]},
        "TimeoutSeconds": 600, "MaxConcurrency": "100%", "MaxErrors": "100%",
        "Comment": "inspectorctl collect"}
    if s3 is not None:
        p["OutputS3BucketName"] = s3.bucket
        p["OutputS3KeyPrefix"] = s3.prefix
    return p


def collector(f: StubbedFactory) -> SsmCollector:
    return SsmCollector(f, sleep=lambda s: None, poll_initial=0.01, fetch_workers=0)


def test_discovery_skips_unmanaged_offline_and_windows_and_probes_the_rest(frame: bytes) -> None:
    f = StubbedFactory()
    ssm = f.stub("ssm")
    ssm.add_response("describe_instance_information", {"InstanceInformationList": [
        instance(I1), instance(I2, ping="ConnectionLost"), instance(I3, platform="Windows")]},
        {"Filters": [{"Key": "InstanceIds", "Values": [I1, I2, I3, I4]}], "MaxResults": 50})
    ssm.add_response("send_command", {"Command": {"CommandId": C1}}, send_params([I1]))
    # right after SendCommand the invocation may not be listed yet: pending
    ssm.add_response("list_command_invocations", {"CommandInvocations": []},
                     {"CommandId": C1, "MaxResults": 50, "Details": False})
    ssm.add_response("list_command_invocations",
                     {"CommandInvocations": [invocation(C1, I1, "InProgress", "In Progress")]},
                     {"CommandId": C1, "MaxResults": 50, "Details": False})
    ssm.add_response("list_command_invocations",
                     {"CommandInvocations": [invocation(C1, I1, "Success")]},
                     {"CommandId": C1, "MaxResults": 50, "Details": False})
    ssm.add_response("get_command_invocation",
                     {"CommandId": C1, "InstanceId": I1, "Status": "Success",
                      "StandardOutputContent": frame.decode()},
                     {"CommandId": C1, "InstanceId": I1, "PluginName": STEP})
    events: list[tuple[str, str]] = []
    with f.verified():
        results = collector(f).collect(REQUEST, targets(I1, I2, I3, I4),
                                       lambda h, e: events.append((h, e)))
    assert [r.host if isinstance(r, CollectionFailure) else r.host.name for r in results] == [
        I1, I2, I3, I4]
    snap = results[0]
    assert isinstance(snap, HostSnapshot)
    assert snap.host.transport == "ssm" and snap.host.instance_id == I1
    assert snap.os is not None and snap.accounts is not None
    offline, windows, unknown = results[1:]
    assert isinstance(offline, CollectionFailure) and "ConnectionLost, not Online" in offline.reason
    assert isinstance(windows, CollectionFailure) and "Windows" in windows.reason
    assert "not Linux" in windows.reason
    assert isinstance(unknown, CollectionFailure)
    assert "not a managed instance" in unknown.reason
    assert (I1, "ok") in events and (I2, "unreachable") in events


def test_send_command_takes_at_most_50_instance_ids(frame: bytes) -> None:
    ids = [f"i-{n:017x}" for n in range(120)]
    f = StubbedFactory()
    ssm = f.stub("ssm")
    for part in (ids[:50], ids[50:100], ids[100:]):
        ssm.add_response("describe_instance_information",
                         {"InstanceInformationList": [instance(i) for i in part]},
                         {"Filters": [{"Key": "InstanceIds", "Values": part}], "MaxResults": 50})
    for n, part in enumerate((ids[:50], ids[50:100], ids[100:])):
        ssm.add_response("send_command", {"Command": {"CommandId": cid(n)}}, send_params(part))
    for n, part in enumerate((ids[:50], ids[50:100], ids[100:])):
        ssm.add_response("list_command_invocations", {
            "CommandInvocations": [invocation(cid(n), i, "Failed") for i in part[:25]],
            "NextToken": "t"}, {"CommandId": cid(n), "MaxResults": 50, "Details": False})
        ssm.add_response("list_command_invocations", {
            "CommandInvocations": [invocation(cid(n), i, "Failed") for i in part[25:]]},
            {"CommandId": cid(n), "MaxResults": 50, "Details": False, "NextToken": "t"})
        for i in part:
            ssm.add_response("get_command_invocation", {
                "CommandId": cid(n), "InstanceId": i, "Status": "Failed", "ResponseCode": 64,
                "StandardErrorContent": "inspectorctl: no python3 on this instance\n"},
                {"CommandId": cid(n), "InstanceId": i, "PluginName": STEP})
    c = collector(f)
    with f.verified():
        results = c.collect(REQUEST, targets(*ids))
    assert len(results) == 120
    assert all(isinstance(r, CollectionFailure) and r.reason.endswith(
        "(exit code 64): inspectorctl: no python3 on this instance") for r in results)
    assert c.last_run is not None and c.last_run.calls["SendCommand"] == 3


def test_output_from_s3_one_get_object_per_host(frame: bytes) -> None:
    s3loc = S3Location(bucket="inspectorctl-out", prefix="runs/today")
    f = StubbedFactory()
    ssm, s3 = f.stub("ssm"), f.stub("s3")
    ssm.add_response("describe_instance_information",
                     {"InstanceInformationList": [instance(I1), instance(I3)]},
                     {"Filters": [{"Key": "InstanceIds", "Values": [I1, I3]}], "MaxResults": 50})
    ssm.add_response("send_command", {"Command": {"CommandId": C9}}, send_params([I1, I3], s3loc))
    ssm.add_response("list_command_invocations", {"CommandInvocations": [
        invocation(C9, I1, "Success"), invocation(C9, I3, "Success")]},
        {"CommandId": C9, "MaxResults": 50, "Details": False})
    for iid in (I1, I3):
        s3.add_response("get_object", {"Body": body(frame)}, {
            "Bucket": "inspectorctl-out",
            "Key": f"runs/today/{C9}/{iid}/awsrunShellScript/{STEP}/stdout"})
    c = collector(f)
    with f.verified():
        results = c.collect(REQUEST, targets(I1, I3, s3=s3loc))
    assert all(isinstance(r, HostSnapshot) for r in results)
    assert c.last_run is not None and c.last_run.calls == {
        "DescribeInstanceInformation": 1, "SendCommand": 1, "ListCommandInvocations": 1,
        "GetObject": 2}


def _one_host_run(frame_text: str, status: str = "Success", details: str | None = None,
                  stderr: str = "") -> HostSnapshot | CollectionFailure:
    f = StubbedFactory()
    ssm = f.stub("ssm")
    ssm.add_response("describe_instance_information",
                     {"InstanceInformationList": [instance(I1)]}, None)
    ssm.add_response("send_command", {"Command": {"CommandId": C1}}, None)
    ssm.add_response("list_command_invocations",
                     {"CommandInvocations": [invocation(C1, I1, status, details)]}, None)
    ssm.add_response("get_command_invocation", {
        "CommandId": C1, "InstanceId": I1, "Status": status,
        "StandardOutputContent": frame_text, "StandardErrorContent": stderr},
        {"CommandId": C1, "InstanceId": I1, "PluginName": STEP})
    with f.verified():
        [result] = collector(f).collect(REQUEST, targets(I1))
    assert isinstance(result, HostSnapshot | CollectionFailure)
    return result


def test_truncated_output_is_an_error_naming_output_s3(frame: bytes) -> None:
    # what GetCommandInvocation returns of a frame longer than 24,000 characters
    big = frame.decode()
    head, rest = big.split("\n", 1)
    cut = (head + "\n" + rest * 20)[:24_000]
    result = _one_host_run(cut)
    assert isinstance(result, CollectionFailure)
    assert "truncated" in result.reason and "--output-s3" in result.reason
    assert "first 24000 characters" in result.reason


def test_corrupt_output_is_an_error_and_never_parsed(frame: bytes) -> None:
    text = frame.decode()
    head, payload = text.split("\n", 1)
    flipped = head + "\n" + ("B" if payload[0] != "B" else "C") + payload[1:]
    result = _one_host_run(flipped)
    assert isinstance(result, CollectionFailure) and "corrupt" in result.reason
    assert "--output-s3" in result.reason
    other = _one_host_run('{"os": "not a frame"}')
    assert isinstance(other, CollectionFailure) and "not an inspectorctl frame" in other.reason


@pytest.mark.parametrize(("status", "details", "words"), [
    ("TimedOut", "Delivery Timed Out", "could not deliver the command within 600s"),
    ("TimedOut", "Execution Timed Out", "longer than its 31s budget"),
    ("Failed", "Undeliverable", "could not receive the command"),
    ("Failed", "Terminated", "MaxErrors"),
    ("Cancelled", "Cancelled", "cancelled before it finished"),
    ("Failed", "Failed", "step exited with an error"),
])
def test_every_terminal_status_is_a_host_result_with_the_reason(
        status: str, details: str, words: str) -> None:
    f = StubbedFactory()
    ssm = f.stub("ssm")
    ssm.add_response("describe_instance_information",
                     {"InstanceInformationList": [instance(I1)]}, None)
    ssm.add_response("send_command", {"Command": {"CommandId": C1}}, None)
    ssm.add_response("list_command_invocations",
                     {"CommandInvocations": [invocation(C1, I1, status, details)]}, None)
    unreachable = details in ("Delivery Timed Out", "Undeliverable")
    if not unreachable:
        ssm.add_response("get_command_invocation", {
            "CommandId": C1, "InstanceId": I1, "Status": status, "ResponseCode": 1,
            "StandardErrorContent": "probe said why\n"}, None)
    with f.verified():
        [result] = collector(f).collect(REQUEST, targets(I1))
    assert isinstance(result, CollectionFailure)
    assert words in result.reason and result.reason.startswith(details)
    assert result.unreachable is unreachable
    if not unreachable:
        assert result.reason.endswith("(exit code 1): probe said why")


def test_ctrl_c_cancels_what_is_still_running() -> None:
    f = StubbedFactory()
    ssm = f.stub("ssm")
    ssm.add_response("describe_instance_information",
                     {"InstanceInformationList": [instance(I1), instance(I2)]}, None)
    ssm.add_response("send_command", {"Command": {"CommandId": C1}}, None)
    ssm.add_response("list_command_invocations", {"CommandInvocations": [
        invocation(C1, I1, "Success"), invocation(C1, I2, "InProgress", "In Progress")]},
        None)
    ssm.add_response("get_command_invocation", {"CommandId": C1, "InstanceId": I1,
                                                "StandardOutputContent": "x"}, None)
    ssm.add_response("cancel_command", {}, {"CommandId": C1, "InstanceIds": [I2]})

    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    c = SsmCollector(f, sleep=interrupt, fetch_workers=0)
    with f.verified(), pytest.raises(CollectError) as info:
        c.collect(REQUEST, targets(I1, I2))
    assert info.value.exit_code == 130
    assert isinstance(info.value.__cause__, Interrupted)
    assert f"cancelled the command(s) still running ({C1})" in str(info.value)


def test_undeployed_document_says_how_to_deploy_it() -> None:
    f = StubbedFactory()
    ssm = f.stub("ssm")
    ssm.add_response("describe_instance_information",
                     {"InstanceInformationList": [instance(I1)]}, None)
    ssm.add_client_error("send_command", "InvalidDocument", "Document does not exist")
    with f.verified(), pytest.raises(CollectError, match="inspectorctl ssm-docs deploy"):
        collector(f).collect(REQUEST, targets(I1))


def test_tag_targets_discover_by_tag_filters(frame: bytes) -> None:
    f = StubbedFactory()
    ssm = f.stub("ssm")
    ssm.add_response("describe_instance_information",
                     {"InstanceInformationList": [instance(I1)], "NextToken": "n"},
                     {"Filters": [{"Key": "tag:Env", "Values": ["prod", "stage"]},
                                  {"Key": "tag:Team", "Values": ["web"]}], "MaxResults": 50})
    ssm.add_response("describe_instance_information",
                     {"InstanceInformationList": [instance(I3, ping="Inactive")]},
                     {"Filters": ANY, "MaxResults": 50, "NextToken": "n"})
    ssm.add_response("send_command", {"Command": {"CommandId": C1}}, send_params([I1]))
    ssm.add_response("list_command_invocations",
                     {"CommandInvocations": [invocation(C1, I1, "Success")]}, None)
    ssm.add_response("get_command_invocation", {"StandardOutputContent": frame.decode()}, None)
    t = Targets(ssm=SsmTargets(tags=(TagTarget(key="Env", values=("prod", "stage")),
                                     TagTarget(key="Team", values=("web",))),
                               aws=AwsConfig(region=REGION)))
    with f.verified():
        results = collector(f).collect(REQUEST, t)
    assert isinstance(results[0], HostSnapshot)
    assert isinstance(results[1], CollectionFailure) and "Inactive" in results[1].reason


def test_unframe_round_trip_of_the_documents_output(frame: bytes) -> None:
    data = unframe(frame, from_s3=True)
    assert data.startswith(b"{") and b'"os"' in data
    with pytest.raises(ValueError, match="truncated"):
        unframe(frame[:-40], from_s3=True)
