"""The lab's SSM endpoint without lab hosts: its wire protocol, documents and scale mode.

An in-process endpoint over a simulated fleet (no root, no hosts, no S3) answers boto3 over real
HTTP; every response is checked against botocore's output shape.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from inspectorctl.lab.ssm.agent import SimulatedFleet, parse_s3_url, simulated_id
from inspectorctl.lab.ssm.documents import (
    DocumentFormat,
    parse_command,
    resolve_parameters,
    substitute,
)
from inspectorctl.lab.ssm.errors import ApiError
from inspectorctl.lab.ssm.server import SsmHttpServer, parse_authorization
from inspectorctl.lab.ssm.service import SsmService, truncate_output
from inspectorctl.lab.ssm.wire import check_output, operation_model

SNAPSHOT = '{"probe": "canned"}\n'


@pytest.fixture(scope="module")
def endpoint() -> Iterator[SsmHttpServer]:
    service = SsmService(SimulatedFleet(120, SNAPSHOT, 0.05), workers=32)
    server = SsmHttpServer(service, check_responses=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        service.close()


@pytest.fixture(scope="module")
def ssm(endpoint: SsmHttpServer) -> Any:
    return boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1"
    ).client("ssm", endpoint_url=endpoint.url, config=Config(retries={"max_attempts": 1}))


def raw(
    url: str, target: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "X-Amz-Target": target,
            "Content-Type": "application/x-amz-json-1.1",
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/ssm/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
)


# --- protocol -------------------------------------------------------------------------------


def test_requests_without_sigv4_are_refused(endpoint: SsmHttpServer) -> None:
    code, body = raw(endpoint.url, "AmazonSSM.ListDocuments", b"{}")
    assert (code, body["__type"]) == (400, "MissingAuthenticationTokenException")
    code, body = raw(
        endpoint.url,
        "AmazonSSM.ListDocuments",
        b"{}",
        {"Authorization": AUTH.replace("/ssm/", "/ec2/")},
    )
    assert body["__type"] == "InvalidSignatureException"
    code, body = raw(endpoint.url, "AmazonSSM.ListDocuments", b"{}", {"Authorization": "Bearer x"})
    assert body["__type"] == "IncompleteSignatureException"
    code, body = raw(endpoint.url, "AmazonSSM.ListDocuments", b"{}", {"Authorization": AUTH})
    assert code == 200 and check_output("ListDocuments", body) == []


def test_bad_requests_get_aws_errors(endpoint: SsmHttpServer) -> None:
    headers = {"Authorization": AUTH}
    assert raw(endpoint.url, "AmazonSSM.NoSuchThing", b"{}", headers)[1]["__type"] == (
        "UnknownOperationException"
    )
    assert raw(endpoint.url, "AmazonSSM.ListDocuments", b"{nope", headers)[1]["__type"] == (
        "SerializationException"
    )
    code, body = raw(endpoint.url, "AmazonSSM.ListDocuments", b'{"MaxResults": "ten"}', headers)
    assert (code, body["__type"]) == (400, "ValidationException")
    assert "MaxResults: expected an integer" in body["message"]
    # a modeled operation the lab does not imitate says so and lists what it serves
    code, body = raw(endpoint.url, "AmazonSSM.GetParameter", b'{"Name": "x"}', headers)
    assert body["__type"] == "UnknownOperationException" and "SendCommand" in body["message"]


def test_parse_authorization() -> None:
    cred = parse_authorization(AUTH)
    assert (cred.access_key, cred.region) == ("AKID", "us-east-1")
    with pytest.raises(ApiError):
        parse_authorization(None)


def test_modeled_errors_become_boto3_exceptions(ssm: Any) -> None:
    with pytest.raises(ssm.exceptions.InvalidDocument):
        ssm.describe_document(Name="NoSuchDocument")
    with pytest.raises(ssm.exceptions.InvalidCommandId):
        ssm.get_command_invocation(CommandId="0" * 36, InstanceId=simulated_id(1))
    with pytest.raises(ssm.exceptions.InvalidNextToken):
        ssm.list_documents(NextToken="garbage")


def test_check_output_refuses_what_the_model_refuses() -> None:
    ok = {"InstanceInformationList": [{"InstanceId": simulated_id(1), "PingStatus": "Online"}]}
    assert check_output("DescribeInstanceInformation", ok) == []
    bad = {
        "InstanceInformationList": [
            {"InstanceId": "i-lab0123", "PingStatus": "Asleep", "Colour": "red"}
        ]
    }
    problems = check_output("DescribeInstanceInformation", bad)
    assert len(problems) == 3
    assert any("PingStatus" in p and "enum" in p for p in problems)
    assert any("InstanceId" in p and "pattern" in p for p in problems)
    assert any("unknown member 'Colour'" in p for p in problems)
    assert operation_model("SendCommand").input_shape.members["InstanceIds"].metadata["max"] == 50


# --- scale mode -------------------------------------------------------------------------------


def test_simulated_fleet_paginates(ssm: Any) -> None:
    pages = list(
        ssm.get_paginator("describe_instance_information").paginate(
            PaginationConfig={"PageSize": 50}
        )
    )
    assert [len(p["InstanceInformationList"]) for p in pages] == [50, 50, 20]
    ids = [i["InstanceId"] for p in pages for i in p["InstanceInformationList"]]
    assert len(set(ids)) == 120 and simulated_id(7) in ids


def test_simulated_command_over_a_fleet(ssm: Any) -> None:
    sent = ssm.send_command(
        Targets=[{"Key": "tag:Lab", "Values": ["simulated"]}],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["inspectorctl-probe"]},
        MaxConcurrency="50%",
        MaxErrors="10%",
    )["Command"]
    assert sent["TargetCount"] == 120
    ssm.get_waiter("command_executed").wait(
        CommandId=sent["CommandId"], InstanceId=simulated_id(120), WaiterConfig={"Delay": 1}
    )
    for _ in range(300):  # the waiter watched one instance; the command ends with the last
        if ssm.list_commands(CommandId=sent["CommandId"])["Commands"][0]["Status"] == "Success":
            break
        time.sleep(0.1)
    pages = list(
        ssm.get_paginator("list_command_invocations").paginate(
            CommandId=sent["CommandId"], Details=True, PaginationConfig={"PageSize": 50}
        )
    )
    assert [len(p["CommandInvocations"]) for p in pages] == [50, 50, 20]
    outputs = {inv["CommandPlugins"][0]["Output"] for p in pages for inv in p["CommandInvocations"]}
    assert outputs == {SNAPSHOT}
    done = ssm.list_commands(CommandId=sent["CommandId"])["Commands"][0]
    assert (done["Status"], done["CompletedCount"], done["MaxConcurrency"]) == (
        "Success",
        120,
        "50%",
    )


def test_invocations_do_not_exist_before_delivery(endpoint: SsmHttpServer, ssm: Any) -> None:
    endpoint.service.delivery_latency = 2.0
    try:
        sent = ssm.send_command(
            InstanceIds=[simulated_id(3)],
            DocumentName="AWS-RunShellScript",
            Parameters={"commands": ["x"]},
        )["Command"]
        with pytest.raises(ssm.exceptions.InvocationDoesNotExist):
            ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=simulated_id(3))
        assert ssm.list_command_invocations(CommandId=sent["CommandId"])["CommandInvocations"] == []
        # the waiter treats InvocationDoesNotExist as "not yet" and goes on
        ssm.get_waiter("command_executed").wait(
            CommandId=sent["CommandId"], InstanceId=simulated_id(3), WaiterConfig={"Delay": 1}
        )
    finally:
        endpoint.service.delivery_latency = 0.0


def test_cancel_pending_invocations(ssm: Any) -> None:
    sent = ssm.send_command(
        InstanceIds=[simulated_id(i) for i in range(1, 11)],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["x"]},
        MaxConcurrency="1",
    )["Command"]
    ssm.cancel_command(CommandId=sent["CommandId"])
    for _ in range(100):
        cmd = ssm.list_commands(CommandId=sent["CommandId"])["Commands"][0]
        if cmd["Status"] == "Cancelled":
            break
        time.sleep(0.1)
    assert (cmd["Status"], cmd["StatusDetails"]) == ("Cancelled", "Canceled")
    statuses = {
        i["StatusDetails"]
        for i in ssm.list_command_invocations(CommandId=sent["CommandId"])["CommandInvocations"]
    }
    assert statuses <= {"Canceled", "Success"} and "Canceled" in statuses


# --- documents and parameters (no HTTP) -------------------------------------------------------


PARAMS_DOC = json.dumps(
    {
        "schemaVersion": "2.2",
        "description": "d",
        "parameters": {
            "Name": {"type": "String", "allowedPattern": "^[a-z]+$"},
            "Items": {"type": "StringList", "default": ["a", "b"], "maxItems": 3},
            "Flag": {"type": "Boolean", "default": False},
        },
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": "step1",
                "inputs": {"runCommand": ["{{ Items }}", "echo {{Name}} {{ Flag }}"]},
            }
        ],
    }
)


def test_parameters_resolved_and_substituted() -> None:
    doc = parse_command(PARAMS_DOC, DocumentFormat.JSON)
    params = resolve_parameters(doc, {"Name": ["abc"]})
    assert params == {"Name": "abc", "Items": ["a", "b"], "Flag": "false"}
    inputs = substitute(doc.steps[0].inputs, params)
    assert inputs["runCommand"] == ["a", "b", "echo abc false"]


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ({}, "Name is required"),
        ({"Name": ["ABC"]}, "allowedPattern"),
        ({"Name": ["a"], "Items": ["1", "2", "3", "4"]}, "maxItems"),
        ({"Name": ["a"], "Flag": ["yes"]}, "Boolean"),
        ({"Name": ["a"], "Other": ["x"]}, "does not declare parameter(s) Other"),
        ({"Name": ["{{ssm:/secret}}"]}, "Parameter Store"),
    ],
)
def test_parameters_refused(given: dict[str, list[str]], why: str) -> None:
    doc = parse_command(PARAMS_DOC, DocumentFormat.JSON)
    with pytest.raises(ApiError) as exc:
        resolve_parameters(doc, given)
    assert exc.value.code == "InvalidParameters" and why in exc.value.message


def test_schema_1_2_is_refused_plainly() -> None:
    with pytest.raises(ApiError) as exc:
        parse_command('{"schemaVersion": "1.2", "runtimeConfig": {}}', DocumentFormat.JSON)
    assert exc.value.code == "InvalidDocumentSchemaVersion" and "1.2" in exc.value.message


def test_s3_urls() -> None:
    assert parse_s3_url("https://s3.amazonaws.com/b/k/x.sh") == ("b", "k/x.sh")
    assert parse_s3_url("https://s3.eu-west-1.amazonaws.com/b/k") == ("b", "k")
    assert parse_s3_url("https://b.s3.amazonaws.com/dir/") == ("b", "dir/")
    assert parse_s3_url("http://127.0.0.1:5000/b/k") == ("b", "k")
    with pytest.raises(ValueError):
        parse_s3_url("https://example.com/b/k")


# --- output truncation: the agent's rules -----------------------------------------------------


def test_truncate_output_cases() -> None:
    assert truncate_output("out", "") == "out"
    assert truncate_output("", "err") == "\n----------ERROR-------\nerr"
    both = truncate_output("o" * 3000, "e" * 3000)
    assert len(both) == 2500 and both.startswith("o" * 1000)
    assert "---Output truncated---\n----------ERROR-------\n" in both
    short_err = truncate_output("o" * 3000, "e" * 10)
    assert short_err.endswith("\n----------ERROR-------\n" + "e" * 10)
    assert len(short_err) == 2500


@given(st.text(max_size=4000), st.text(max_size=4000))
def test_truncate_output_bounds(stdout: str, stderr: str) -> None:
    out = truncate_output(stdout, stderr)
    assert len(out) <= 2500
    if len(stdout) + len(stderr) + (24 if stderr else 0) < 2500:
        assert out == stdout + ("\n----------ERROR-------\n" + stderr if stderr else "")
    else:
        assert "truncated" in out


def test_hostile_documents_and_bodies(endpoint: SsmHttpServer) -> None:
    bomb = "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\nschemaVersion: '2.2'\n"
    with pytest.raises(ApiError) as exc:
        parse_command(bomb, DocumentFormat.YAML)
    assert "anchors and aliases" in exc.value.message
    with pytest.raises(ApiError) as exc:
        parse_command("[" * 100000 + "]" * 100000, DocumentFormat.JSON)
    assert exc.value.code in ("InvalidDocumentContent", "MaxDocumentSizeExceeded")
    code, body = raw(
        endpoint.url,
        "AmazonSSM.ListDocuments",
        b"[" * 50000 + b"]" * 50000,
        {"Authorization": AUTH},
    )
    assert (code, body["__type"]) == (400, "SerializationException")


def test_instance_ids_derive_from_machine_ids() -> None:
    from datetime import UTC, datetime

    from inspectorctl.lab.models import DesiredState, HostRecord, instance_id_for

    machine = "0123456789abcdef0123456789abcdef"
    assert instance_id_for(machine) == instance_id_for(machine)
    assert re.fullmatch(r"mi-[0-9a-f]{17}", instance_id_for(machine))
    assert instance_id_for(machine) != instance_id_for("f" * 32)
    # a record of a lab made before hosts had mi- ids reads with the derived id
    legacy = HostRecord.model_validate(
        {
            "name": "old-1",
            "profiles": ["baseline"],
            "netns": "ictl-old-1",
            "instance_id": "i-lab0123456789abcdef0",
            "machine_id": machine,
            "hostname": "old-1",
            "tags": {},
            "host_key": "ssh-ed25519 AAAA",
            "desired": DesiredState.RUNNING,
            "created_at": datetime.now(UTC),
        }
    )
    assert legacy.instance_id == instance_id_for(machine)


def test_tags_added_to_an_instance_target_it(ssm: Any) -> None:
    one = simulated_id(5)
    ssm.add_tags_to_resource(
        ResourceType="ManagedInstance", ResourceId=one, Tags=[{"Key": "Role", "Value": "web"}]
    )
    tags = ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=one)["TagList"]
    assert {"Key": "Role", "Value": "web"} in tags and {"Key": "Name", "Value": "sim-5"} in tags
    sent = ssm.send_command(
        Targets=[{"Key": "tag:Role", "Values": ["web"]}],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["x"]},
    )["Command"]
    assert sent["TargetCount"] == 1
    listed = ssm.list_commands(
        Filters=[{"key": "DocumentName", "value": "AWS-RunShellScript"}], MaxResults=50
    )["Commands"]
    assert sent["CommandId"] in {c["CommandId"] for c in listed}
    ssm.remove_tags_from_resource(ResourceType="ManagedInstance", ResourceId=one, TagKeys=["Role"])
    with pytest.raises(ssm.exceptions.InvalidResourceId):
        ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId="mi-" + "0" * 17)
    none = ssm.send_command(
        Targets=[{"Key": "tag:Role", "Values": ["web"]}],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["x"]},
    )["Command"]
    assert (none["TargetCount"], none["Status"], none["StatusDetails"]) == (
        0,
        "Success",
        "No Instances In Tag",
    )


def test_unimitated_features_are_refused_plainly(ssm: Any) -> None:
    with pytest.raises(ClientError) as exc:
        ssm.send_command(
            InstanceIds=[simulated_id(1)],
            DocumentName="AWS-RunShellScript",
            Parameters={"commands": ["x"]},
            CloudWatchOutputConfig={"CloudWatchOutputEnabled": True},
        )
    assert exc.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "CloudWatchOutputConfig is not imitated by the lab's SSM endpoint",
    }
    with pytest.raises(ssm.exceptions.InvalidParameters):
        ssm.send_command(
            Targets=[{"Key": "resource-groups:Name", "Values": ["g"]}],
            DocumentName="AWS-RunShellScript",
            Parameters={"commands": ["x"]},
        )
