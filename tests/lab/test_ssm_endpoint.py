"""The lab speaks SSM: boto3, unchanged, against the lab's endpoint over the real wire protocol.

The session's ``ssm_endpoint`` checks every response against botocore's output shape; hosts
weak-1, hardened-1 and baseline-1 are only listed here, commands run on ``ssmt`` hosts of this
module's own.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError
from typer.testing import CliRunner

from inspectorctl.cli.main import app
from inspectorctl.lab import Lab, LabHost
from inspectorctl.lab.ssm import EndpointInfo

pytestmark = pytest.mark.lab

MI = re.compile(r"^mi-[0-9a-f]{17}$")


@pytest.fixture(scope="module")
def ssmt(lab: Lab) -> list[LabHost]:
    """Two hosts of this module's own (tests run commands on them, stop and start them)."""
    return lab.up(2, ["baseline"], "ssmt")


@pytest.fixture(scope="module")
def ssm(ssm_endpoint: EndpointInfo) -> Any:
    return ssm_endpoint.client("ssm")


@pytest.fixture(scope="module")
def s3(ssm_endpoint: EndpointInfo) -> Any:
    return ssm_endpoint.client("s3")


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def wait_done(ssm: Any, command_id: str, timeout: float = 90) -> dict[str, Any]:
    """The command once it reached a terminal status (polled like a client does)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cmd = ssm.list_commands(CommandId=command_id)["Commands"][0]
        if cmd["Status"] in ("Success", "Failed", "TimedOut", "Cancelled"):
            return dict(cmd)
        time.sleep(0.3)
    raise AssertionError(f"command {command_id} still {cmd['Status']} after {timeout}s")


def invocations(ssm: Any, command_id: str) -> dict[str, dict[str, Any]]:
    pages = ssm.get_paginator("list_command_invocations").paginate(
        CommandId=command_id, Details=True
    )
    return {inv["InstanceId"]: inv for page in pages for inv in page["CommandInvocations"]}


def run(ssm: Any, host: LabHost, commands: list[str], **kwargs: Any) -> dict[str, Any]:
    sent = ssm.send_command(
        InstanceIds=[host.instance_id],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": commands},
        **kwargs,
    )["Command"]
    wait_done(ssm, sent["CommandId"])
    return dict(
        ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=host.instance_id)
    )


# --- managed instances ------------------------------------------------------------------------


def test_lab_hosts_are_managed_instances(lab: Lab, ssm: Any) -> None:
    pages = ssm.get_paginator("describe_instance_information").paginate(
        PaginationConfig={"PageSize": 5}
    )
    listed = [i for page in pages for i in page["InstanceInformationList"]]
    hosts = {h.instance_id: h for h in lab.status()}
    assert {i["InstanceId"] for i in listed} == set(hosts)
    for info in listed:
        host = hosts[info["InstanceId"]]
        assert MI.match(info["InstanceId"])
        assert info["PingStatus"] == (
            "Online" if host.state.value == "running" else "ConnectionLost"
        )
        assert (info["PlatformType"], info["ResourceType"], info["ComputerName"]) == (
            "Linux",
            "ManagedInstance",
            host.name,
        )
    weak = hosts[next(i for i, h in hosts.items() if h.name == "weak-1")]
    tags = ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=weak.instance_id)
    assert {t["Key"]: t["Value"] for t in tags["TagList"]} == weak.tags


def test_instance_filters(lab: Lab, ssm: Any) -> None:
    weak = lab.host("weak-1")
    by_tag = ssm.describe_instance_information(
        Filters=[{"Key": "tag:Name", "Values": ["weak-1", "hardened-1"]}]
    )["InstanceInformationList"]
    assert sorted(i["ComputerName"] for i in by_tag) == ["hardened-1", "weak-1"]
    by_id = ssm.describe_instance_information(
        InstanceInformationFilterList=[{"key": "InstanceIds", "valueSet": [weak.instance_id]}]
    )["InstanceInformationList"]
    assert [i["InstanceId"] for i in by_id] == [weak.instance_id]
    by_key = ssm.describe_instance_information(
        Filters=[
            {"Key": "tag-key", "Values": ["Profile"]},
            {"Key": "PingStatus", "Values": ["Online"]},
        ]
    )["InstanceInformationList"]
    assert weak.instance_id in {i["InstanceId"] for i in by_key}
    with pytest.raises(ClientError) as exc:
        ssm.describe_instance_information(Filters=[{"Key": "Colour", "Values": ["red"]}])
    assert code_of(exc) == "InvalidFilterKey"
    with pytest.raises(ssm.exceptions.InvalidInstanceInformationFilterValue):
        ssm.describe_instance_information(Filters=[{"Key": "PingStatus", "Values": ["Sleeping"]}])


# --- Run Command --------------------------------------------------------------------------


def test_send_command_runs_as_root_inside_the_host(ssm: Any, ssmt: list[LabHost]) -> None:
    host = ssmt[0]
    sent = ssm.send_command(
        InstanceIds=[host.instance_id],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["id -u", "cat /etc/hostname", "pwd", "echo oops >&2"]},
        Comment="who am i",
    )["Command"]
    assert sent["Status"] == "Pending" and sent["TargetCount"] == 1
    assert (sent["MaxConcurrency"], sent["MaxErrors"]) == ("50", "0")
    ssm.get_waiter("command_executed").wait(
        CommandId=sent["CommandId"], InstanceId=host.instance_id, WaiterConfig={"Delay": 1}
    )
    got = ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=host.instance_id)
    lines = got["StandardOutputContent"].splitlines()
    assert lines[:2] == ["0", host.name]
    assert lines[2] == (
        f"/var/lib/amazon/ssm/{host.instance_id}/document/orchestration/{sent['CommandId']}"
        "/awsrunShellScript/runShellScript"
    )
    assert got["StandardErrorContent"] == "oops\n"
    assert (got["Status"], got["StatusDetails"], got["ResponseCode"]) == ("Success", "Success", 0)
    assert re.fullmatch(r"PT\d+\.\d{3}S", got["ExecutionElapsedTime"])
    cmd = wait_done(ssm, sent["CommandId"])
    assert (cmd["Status"], cmd["CompletedCount"], cmd["ErrorCount"]) == ("Success", 1, 0)
    plugin = invocations(ssm, sent["CommandId"])[host.instance_id]["CommandPlugins"][0]
    assert plugin["Output"] == got["StandardOutputContent"] + "\n----------ERROR-------\noops\n"


def test_targets_by_tag(ssm: Any, ssmt: list[LabHost]) -> None:
    sent = ssm.send_command(
        Targets=[{"Key": "tag:Name", "Values": [h.name for h in ssmt]}],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["hostname"]},
    )["Command"]
    assert sent["InstanceIds"] == []
    assert wait_done(ssm, sent["CommandId"])["Status"] == "Success"
    got = invocations(ssm, sent["CommandId"])
    assert {i: inv["CommandPlugins"][0]["Output"] for i, inv in got.items()} == {
        h.instance_id: f"{h.name}\n" for h in ssmt
    }


def test_failure_and_exit_code(ssm: Any, ssmt: list[LabHost]) -> None:
    got = run(ssm, ssmt[0], ["echo before", "exit 3"])
    assert (got["Status"], got["StatusDetails"], got["ResponseCode"]) == ("Failed", "Failed", 3)
    assert got["StandardOutputContent"] == "before\n"


def test_unknown_and_duplicate_instances_are_refused(ssm: Any, ssmt: list[LabHost]) -> None:
    with pytest.raises(ssm.exceptions.InvalidInstanceId):
        ssm.send_command(
            InstanceIds=["mi-0123456789abcdef0"],
            DocumentName="AWS-RunShellScript",
            Parameters={"commands": ["true"]},
        )
    with pytest.raises(ssm.exceptions.DuplicateInstanceId):
        ssm.send_command(
            InstanceIds=[ssmt[0].instance_id] * 2,
            DocumentName="AWS-RunShellScript",
            Parameters={"commands": ["true"]},
        )
    # botocore checks only minimums; the service refuses 51 ids
    with pytest.raises(ClientError) as exc:
        ssm.send_command(
            InstanceIds=[f"mi-{i:017x}" for i in range(51)],
            DocumentName="AWS-RunShellScript",
            Parameters={"commands": ["true"]},
        )
    assert code_of(exc) == "ValidationException"
    assert "less than or equal to 50" in str(exc.value)


def test_output_limits(ssm: Any, ssmt: list[LabHost]) -> None:
    got = run(
        ssm,
        ssmt[0],
        ["head -c 30000 /dev/zero | tr '\\0' a", "head -c 9000 /dev/zero | tr '\\0' e >&2"],
    )
    assert got["StandardOutputContent"] == "a" * 24000
    assert got["StandardErrorContent"] == "e" * 8000
    cmd_id = got["CommandId"]
    output = invocations(ssm, cmd_id)[ssmt[0].instance_id]["CommandPlugins"][0]["Output"]
    assert len(output) == 2500
    assert "\n---Output truncated---\n----------ERROR-------\n" in output
    assert output.endswith("\n---Error truncated----")


def test_execution_timeout(ssm: Any, ssmt: list[LabHost]) -> None:
    sent = ssm.send_command(
        InstanceIds=[ssmt[1].instance_id],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["echo started", "sleep 60"], "executionTimeout": ["2"]},
    )["Command"]
    cmd = wait_done(ssm, sent["CommandId"], timeout=30)
    assert (cmd["Status"], cmd["StatusDetails"], cmd["ErrorCount"]) == (
        "TimedOut",
        "Execution Timed Out",
        1,
    )
    got = ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=ssmt[1].instance_id)
    assert (got["Status"], got["StatusDetails"]) == ("TimedOut", "Execution Timed Out")
    assert got["StandardOutputContent"] == "started\n"
    with pytest.raises(WaiterError):
        ssm.get_waiter("command_executed").wait(
            CommandId=sent["CommandId"],
            InstanceId=ssmt[1].instance_id,
            WaiterConfig={"Delay": 1, "MaxAttempts": 3},
        )


def test_cancel_command(lab: Lab, ssm: Any, ssmt: list[LabHost]) -> None:
    host = ssmt[1]
    sent = ssm.send_command(
        InstanceIds=[host.instance_id],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["echo $$ > /tmp/ssm-cancel.pid", "sleep 120"]},
    )["Command"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        inv = invocations(ssm, sent["CommandId"]).get(host.instance_id)
        if inv and inv["Status"] == "InProgress":
            break
        time.sleep(0.2)
    ssm.cancel_command(CommandId=sent["CommandId"])
    cmd = wait_done(ssm, sent["CommandId"], timeout=30)
    assert (cmd["Status"], cmd["StatusDetails"]) == ("Cancelled", "Canceled")
    got = ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=host.instance_id)
    assert (got["Status"], got["StatusDetails"]) == ("Cancelled", "Canceled")
    # the script's process was killed: gone from the host, or a zombie its init has yet to reap
    pid = lab.exec(host.name, ["cat", "/tmp/ssm-cancel.pid"]).stdout.strip()
    assert pid.isdigit()
    state = lab.exec(
        host.name, ["sh", "-c", f"cut -d' ' -f3 /proc/{pid}/stat 2>/dev/null || true"]
    ).stdout.strip()
    assert state in ("", "Z")


def test_max_concurrency_and_max_errors(ssm: Any, ssmt: list[LabHost]) -> None:
    """One at a time, no error allowed: the first failure stops the rest before they start."""
    sent = ssm.send_command(
        InstanceIds=[h.instance_id for h in ssmt],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["exit 1"]},
        MaxConcurrency="1",
        MaxErrors="0",
    )["Command"]
    cmd = wait_done(ssm, sent["CommandId"])
    assert (cmd["Status"], cmd["StatusDetails"], cmd["ErrorCount"], cmd["CompletedCount"]) == (
        "Failed",
        "Failed",
        1,
        2,
    )
    got = sorted(
        (i["Status"], i["StatusDetails"]) for i in invocations(ssm, sent["CommandId"]).values()
    )
    assert got == [("Cancelled", "Terminated"), ("Failed", "Failed")]


def test_incomplete_within_max_errors(ssm: Any, ssmt: list[LabHost]) -> None:
    sent = ssm.send_command(
        InstanceIds=[h.instance_id for h in ssmt],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": [f'[ "$(hostname)" = "{ssmt[0].name}" ]']},
        MaxErrors="1",
    )["Command"]
    cmd = wait_done(ssm, sent["CommandId"])
    assert (cmd["Status"], cmd["StatusDetails"], cmd["ErrorCount"]) == ("Failed", "Incomplete", 1)


def test_invocation_of_another_instance_does_not_exist(ssm: Any, ssmt: list[LabHost]) -> None:
    sent = ssm.send_command(
        InstanceIds=[ssmt[0].instance_id],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["true"]},
    )["Command"]
    with pytest.raises(ssm.exceptions.InvocationDoesNotExist):
        ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=ssmt[1].instance_id)
    with pytest.raises(ssm.exceptions.InvalidCommandId):
        ssm.list_command_invocations(CommandId="00000000-0000-0000-0000-000000000000")
    wait_done(ssm, sent["CommandId"])


# --- documents ------------------------------------------------------------------------------


DOC = {
    "schemaVersion": "2.2",
    "description": "lab test document",
    "parameters": {
        "Name": {"type": "String", "allowedPattern": "^[a-z]{1,10}$", "default": "lab"},
        "Mode": {"type": "String", "allowedValues": ["fast", "slow"], "default": "fast"},
        "Note": {
            "type": "String",
            "interpolationType": "ENV_VAR",
            "default": "",
            "allowedPattern": "^[^\\n]*$",
        },
    },
    "mainSteps": [
        {
            "action": "aws:runShellScript",
            "name": "greet",
            "inputs": {"runCommand": ["echo hello {{ Name }} {{Mode}}", 'echo "[$SSM_Note]"']},
        }
    ],
}


def test_document_lifecycle(ssm: Any) -> None:
    name = "LabTest-Lifecycle"
    content = json.dumps(DOC)
    created = ssm.create_document(
        Name=name,
        Content=content,
        DocumentType="Command",
        DocumentFormat="JSON",
        Tags=[{"Key": "Owner", "Value": "t"}],
    )
    desc = created["DocumentDescription"]
    assert (desc["DocumentVersion"], desc["LatestVersion"], desc["DefaultVersion"]) == (
        "1",
        "1",
        "1",
    )
    assert desc["HashType"] == "Sha256" and len(desc["Hash"]) == 64
    assert {p["Name"] for p in desc["Parameters"]} == {"Name", "Mode", "Note"}
    with pytest.raises(ssm.exceptions.DocumentAlreadyExists):
        ssm.create_document(Name=name, Content=content, DocumentType="Command")
    with pytest.raises(ssm.exceptions.DuplicateDocumentContent):
        ssm.update_document(Name=name, Content=content, DocumentVersion="$LATEST")
    changed = dict(DOC, description="second version")
    updated = ssm.update_document(Name=name, Content=json.dumps(changed), DocumentVersion="$LATEST")
    assert (
        updated["DocumentDescription"]["DocumentVersion"],
        updated["DocumentDescription"]["DefaultVersion"],
    ) == ("2", "1")
    assert ssm.describe_document(Name=name)["Document"]["DocumentVersion"] == "1"
    ssm.update_document_default_version(Name=name, DocumentVersion="2")
    assert ssm.describe_document(Name=name)["Document"]["Description"] == "second version"
    yaml_text = ssm.get_document(Name=name, DocumentVersion="1", DocumentFormat="YAML")
    assert yaml_text["DocumentFormat"] == "YAML" and "schemaVersion: '2.2'" in yaml_text["Content"]
    listed = [
        d["Name"]
        for page in ssm.get_paginator("list_documents").paginate(
            Filters=[{"Key": "Owner", "Values": ["Self"]}]
        )
        for d in page["DocumentIdentifiers"]
    ]
    assert name in listed and "AWS-RunShellScript" not in listed
    tags = ssm.list_tags_for_resource(ResourceType="Document", ResourceId=name)["TagList"]
    assert tags == [{"Key": "Owner", "Value": "t"}]
    with pytest.raises(ssm.exceptions.InvalidDocumentVersion):
        ssm.describe_document(Name=name, DocumentVersion="7")
    ssm.delete_document(Name=name)
    with pytest.raises(ssm.exceptions.InvalidDocument):
        ssm.describe_document(Name=name)


def test_invalid_documents_are_refused(ssm: Any) -> None:
    with pytest.raises(ssm.exceptions.InvalidDocumentContent):
        ssm.create_document(Name="LabTest-Bad", Content="{not json", DocumentType="Command")
    bad = dict(
        DOC,
        mainSteps=[
            {
                "action": "aws:runShellScript",
                "name": "step1",
                "inputs": {"runCommand": ["echo {{ Undeclared }}"]},
            }
        ],
    )
    with pytest.raises(ssm.exceptions.InvalidDocumentContent) as exc:
        ssm.create_document(Name="LabTest-Bad", Content=json.dumps(bad), DocumentType="Command")
    assert "Undeclared" in str(exc.value)
    with pytest.raises(ssm.exceptions.MaxDocumentSizeExceeded):
        ssm.create_document(
            Name="LabTest-Big",
            Content=json.dumps(dict(DOC, description="x" * 70000)),
            DocumentType="Command",
        )


def test_parameters_checked_and_substituted(ssm: Any, ssmt: list[LabHost]) -> None:
    name = "LabTest-Params"
    ssm.create_document(Name=name, Content=json.dumps(DOC), DocumentType="Command")
    host = ssmt[0]
    before = len(ssm.list_commands()["Commands"])
    for params in (
        {"Name": ["x; reboot"]},
        {"Mode": ["medium"]},
        {"Colour": ["red"]},
        {"Name": ["a", "b"]},
    ):
        with pytest.raises(ssm.exceptions.InvalidParameters):
            ssm.send_command(InstanceIds=[host.instance_id], DocumentName=name, Parameters=params)
    assert len(ssm.list_commands()["Commands"]) == before  # nothing was sent
    sent = ssm.send_command(
        InstanceIds=[host.instance_id],
        DocumentName=name,
        Parameters={"Name": ["ann"], "Note": ["$(id) 'quoted' \"double\""]},
    )["Command"]
    wait_done(ssm, sent["CommandId"])
    got = ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=host.instance_id)
    assert got["StandardOutputContent"] == "hello ann fast\n[$(id) 'quoted' \"double\"]\n"
    assert sent["Parameters"] == {"Name": ["ann"], "Note": ["$(id) 'quoted' \"double\""]}


def test_document_hash_and_version_pinned(ssm: Any, ssmt: list[LabHost]) -> None:
    name = "LabTest-Pinned"
    desc = ssm.create_document(Name=name, Content=json.dumps(DOC), DocumentType="Command")[
        "DocumentDescription"
    ]
    with pytest.raises(ssm.exceptions.InvalidDocument):
        ssm.send_command(
            InstanceIds=[ssmt[0].instance_id],
            DocumentName=name,
            DocumentVersion="1",
            DocumentHash="0" * 64,
            DocumentHashType="Sha256",
        )
    with pytest.raises(ssm.exceptions.InvalidDocumentVersion):
        ssm.send_command(InstanceIds=[ssmt[0].instance_id], DocumentName=name, DocumentVersion="2")
    sent = ssm.send_command(
        InstanceIds=[ssmt[0].instance_id],
        DocumentName=name,
        DocumentVersion="1",
        DocumentHash=desc["Hash"],
        DocumentHashType="Sha256",
    )["Command"]
    assert wait_done(ssm, sent["CommandId"])["Status"] == "Success"


# --- S3 -------------------------------------------------------------------------------------


def test_output_to_s3_and_download_content(
    ssm: Any, s3: Any, ssm_endpoint: EndpointInfo, ssmt: list[LabHost]
) -> None:
    s3.create_bucket(Bucket="lab-ssm-test")
    s3.put_object(Bucket="lab-ssm-test", Key="bundles/hello.sh", Body=b"echo from-s3 $1\n")
    doc = {
        "schemaVersion": "2.2",
        "description": "download then run",
        "mainSteps": [
            {
                "action": "aws:downloadContent",
                "name": "fetch",
                "inputs": {
                    "sourceType": "S3",
                    "sourceInfo": json.dumps(
                        {"path": "https://s3.amazonaws.com/lab-ssm-test/bundles/hello.sh"}
                    ),
                    "destinationPath": "/tmp/ssm-bundle/",
                },
            },
            {
                "action": "aws:runShellScript",
                "name": "runBundle",
                "inputs": {"runCommand": ["sh /tmp/ssm-bundle/hello.sh ok"]},
            },
        ],
    }
    ssm.create_document(Name="LabTest-Download", Content=json.dumps(doc), DocumentType="Command")
    host = ssmt[0]
    sent = ssm.send_command(
        InstanceIds=[host.instance_id],
        DocumentName="LabTest-Download",
        OutputS3BucketName="lab-ssm-test",
        OutputS3KeyPrefix="out/x",
    )["Command"]
    assert wait_done(ssm, sent["CommandId"])["Status"] == "Success"
    with pytest.raises(ssm.exceptions.InvalidPluginName):
        ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=host.instance_id)
    got = ssm.get_command_invocation(
        CommandId=sent["CommandId"], InstanceId=host.instance_id, PluginName="runBundle"
    )
    assert got["StandardOutputContent"] == "from-s3 ok\n"
    key = f"out/x/{sent['CommandId']}/{host.instance_id}/awsrunShellScript/runBundle/stdout"
    assert s3.get_object(Bucket="lab-ssm-test", Key=key)["Body"].read() == b"from-s3 ok\n"
    assert got["StandardOutputUrl"] == f"{ssm_endpoint.s3_url}/lab-ssm-test/{key}"
    fetch_key = f"out/x/{sent['CommandId']}/{host.instance_id}/awsdownloadContent/fetch/stdout"
    assert (
        b"/tmp/ssm-bundle/hello.sh"
        in s3.get_object(Bucket="lab-ssm-test", Key=fetch_key)["Body"].read()
    )


# --- a stopped host -------------------------------------------------------------------------


@pytest.mark.slow
def test_stopped_host_is_connection_lost_and_delivery_times_out(
    lab: Lab, ssm: Any, ssmt: list[LabHost]
) -> None:
    host = ssmt[1]
    lab.stop(host.name)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            info = ssm.describe_instance_information(
                Filters=[{"Key": "InstanceIds", "Values": [host.instance_id]}]
            )["InstanceInformationList"][0]
            if info["PingStatus"] == "ConnectionLost":
                break
            time.sleep(0.3)
        assert info["PingStatus"] == "ConnectionLost"
        sent = ssm.send_command(
            InstanceIds=[host.instance_id],
            DocumentName="AWS-RunShellScript",
            Parameters={"commands": ["true"]},
            TimeoutSeconds=30,
        )["Command"]
        time.sleep(2)
        inv = invocations(ssm, sent["CommandId"])[host.instance_id]
        assert (inv["Status"], inv["StatusDetails"]) == ("Delayed", "Delayed")
        cmd = wait_done(ssm, sent["CommandId"], timeout=60)
        assert (cmd["Status"], cmd["StatusDetails"], cmd["DeliveryTimedOutCount"]) == (
            "TimedOut",
            "Delivery Timed Out",
            1,
        )
    finally:
        lab.start(host.name)


@pytest.mark.slow
def test_host_stopped_while_a_step_runs_times_out(lab: Lab, ssm: Any, ssmt: list[LabHost]) -> None:
    """SSM hears nothing more from a stopped host's agent: the invocation stays InProgress
    until the step's execution timeout, then it is TimedOut (Execution Timed Out)."""
    host = ssmt[1]
    sent = ssm.send_command(
        InstanceIds=[host.instance_id],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["sleep 60"], "executionTimeout": ["8"]},
    )["Command"]
    deadline = time.monotonic() + 30
    while invocations(ssm, sent["CommandId"]).get(host.instance_id, {}).get("Status") != (
        "InProgress"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    lab.stop(host.name)
    try:
        time.sleep(2)
        assert invocations(ssm, sent["CommandId"])[host.instance_id]["Status"] == "InProgress"
        cmd = wait_done(ssm, sent["CommandId"], timeout=30)
        assert (cmd["Status"], cmd["StatusDetails"]) == ("TimedOut", "Execution Timed Out")
    finally:
        lab.start(host.name)


def test_lab_up_with_ssm(lab: Lab, ssm_endpoint: EndpointInfo, ssm: Any) -> None:
    """`lab up --ssm` adds hosts and serves (here: finds) the endpoint; the new host is a
    managed instance at once."""
    result = CliRunner().invoke(
        app,
        [
            "lab",
            "--state-dir",
            str(lab.state_dir),
            "up",
            "-n",
            "1",
            "-p",
            "baseline",
            "--name",
            "ssmup",
            "--ssm",
        ],
    )
    assert result.exit_code == 0, result.output
    host = lab.host("ssmup-1")
    assert f"SSM endpoint: {ssm_endpoint.url} (region us-east-1, pid {ssm_endpoint.pid})" in (
        result.stdout.splitlines()
    )
    time.sleep(1.1)  # the endpoint reads the lab's state at most once a second
    listed = ssm.describe_instance_information(
        Filters=[{"Key": "tag:Name", "Values": ["ssmup-1"]}]
    )["InstanceInformationList"]
    assert [(i["InstanceId"], i["PingStatus"]) for i in listed] == [(host.instance_id, "Online")]
