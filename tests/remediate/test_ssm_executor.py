"""SsmExecutor against botocore Stubber (parameter validation on), the bundle it uploads, and
the result callback it ships (run for real by ansible-playbook on a temporary file)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from inspectorctl.aws.documents import DocumentName, load_document
from inspectorctl.aws.frame import unframe
from inspectorctl.aws.session import AwsConfig
from inspectorctl.aws.targets import S3Location, SsmTargets
from inspectorctl.collect.interface import Targets
from inspectorctl.remediate.catalog import playbook_files
from inspectorctl.remediate.interface import ExecRequest, ExecutorError, HostStatus
from inspectorctl.remediate.ssm import CALLBACK, STEP, SsmExecutor, build_bundle
from tests.aws.stubs import REGION, StubbedFactory, body

DOC = load_document(DocumentName.APPLY_PLAYBOOK.value)
I1, I2 = "i-0123456789abcdef0", "mi-0123456789abcdef1"
C1 = "00000001-0000-4000-8000-000000000000"
S3 = S3Location(bucket="inspectorctl-ops", prefix="fleet")
ITEMS = [{"path": "/etc/crontab", "mode": "0600"}]


def framed(obj: dict[str, Any]) -> bytes:
    payload = base64.b64encode(gzip.compress(json.dumps(obj).encode()))
    return (b"INSPECTORCTL-FRAME/1 %d %s\n%s\nINSPECTORCTL-END\n"
            % (len(payload), hashlib.sha256(payload).hexdigest().encode(), payload))


def request(check: bool = False, sha: str = DOC.sha256) -> ExecRequest:
    st = SsmTargets(instance_ids=(I1, I2), aws=AwsConfig(region=REGION), output_s3=S3,
                    document_version="2", document_sha256=sha)
    return ExecRequest(playbook="file_permissions", hosts=[I1, I2], items=ITEMS,
                       run_id="apply-1", targets=Targets(ssm=st), check=check)


def test_one_send_command_per_batch_with_the_pinned_version_and_the_bundle_in_s3() -> None:
    bundle = build_bundle("file_permissions")
    sha = hashlib.sha256(bundle).hexdigest()
    key = f"fleet/bundles/{sha}.tar.gz"
    f = StubbedFactory()
    ssm, s3 = f.stub("ssm"), f.stub("s3")
    ssm.add_response("get_document", {"Name": DOC.name, "Content": DOC.content},
                     {"Name": DOC.name, "DocumentVersion": "2", "DocumentFormat": "YAML"})
    s3.add_response("put_object", {}, {"Bucket": "inspectorctl-ops", "Key": key, "Body": bundle,
                                       "ContentType": "application/gzip",
                                       "Metadata": {"inspectorctl-sha256": sha}})
    variables = base64.b64encode(gzip.compress(json.dumps(
        {"inspectorctl_run_id": "apply-1", "items": ITEMS}, sort_keys=True).encode(), 9,
        mtime=0)).decode()
    ssm.add_response("send_command", {"Command": {"CommandId": C1}}, {
        "InstanceIds": [I1, I2], "DocumentName": DOC.name, "DocumentVersion": "2",
        "Parameters": {
            "bundleUrl": [f"https://s3.{REGION}.amazonaws.com/inspectorctl-ops/{key}"],
            "bundleSha256": [sha], "playbook": ["file_permissions"], "vars": [variables],
            "check": ["true"], "diff": ["true"], "executionTimeout": ["1800"]},
        "TimeoutSeconds": 600, "MaxConcurrency": "100%", "MaxErrors": "100%",
        "Comment": "inspectorctl file_permissions apply-1",
        "OutputS3BucketName": "inspectorctl-ops", "OutputS3KeyPrefix": "fleet"})
    ssm.add_response("list_command_invocations", {"CommandInvocations": [
        {"CommandId": C1, "InstanceId": I1, "Status": "Success", "StatusDetails": "Success"},
        {"CommandId": C1, "InstanceId": I2, "Status": "Failed", "StatusDetails": "Failed"}]},
        {"CommandId": C1, "MaxResults": 50, "Details": False})
    out = f"fleet/{C1}/{{}}/awsrunShellScript/{STEP}/{{}}"
    s3.add_response("get_object", {"Body": body(framed({
        "stats": {"ok": 3, "changed": 1, "failures": 0, "unreachable": 0},
        "failures": [], "diffs": [{"task": "Set modes", "diff": {
            "before": {"mode": "0644"}, "after": {"mode": "0600"},
            "before_header": "/etc/crontab", "after_header": "/etc/crontab"}}]}))},
        {"Bucket": "inspectorctl-ops", "Key": out.format(I1, "stdout")})
    s3.add_client_error("get_object", "NoSuchKey", "none",
                        expected_params={"Bucket": "inspectorctl-ops",
                                         "Key": out.format(I2, "stdout")})
    s3.add_response("get_object", {"Body": body(
        b"inspectorctl: ansible-core is not installed on this instance (no ansible-playbook "
        b"on PATH); inspectorctl never installs it\n")},
        {"Bucket": "inspectorctl-ops", "Key": out.format(I2, "stderr")})
    ex = SsmExecutor(f, sleep=lambda s: None)
    events: list[tuple[str, str]] = []
    with f.verified():
        result = ex.run(request(check=True), lambda h, e: events.append((h, e)))
    one, two = result.hosts[I1], result.hosts[I2]
    assert one.status is HostStatus.CHANGED and one.stats["changed"] == 1
    assert "# Set modes" in one.diff and "-mode: 0644" in one.diff and "+mode: 0600" in one.diff
    assert two.status is HostStatus.FAILED
    assert two.message.startswith("Failed: the document's step exited with an error: "
                                  "inspectorctl: ansible-core is not installed")
    assert result.status == "failed" and (I1, "changed") in events and (I2, "failed") in events


def test_a_changed_document_refuses_before_anything_is_sent() -> None:
    f = StubbedFactory()
    ssm = f.stub("ssm")
    ssm.add_response("get_document", {"Name": DOC.name, "Content": DOC.content + "# evil\n"},
                     {"Name": DOC.name, "DocumentVersion": "2", "DocumentFormat": "YAML"})
    with f.verified(), pytest.raises(ExecutorError, match="changed since the plan was approved"):
        SsmExecutor(f, sleep=lambda s: None).run(request())


def test_no_pin_or_no_s3_is_refused() -> None:
    st = SsmTargets(instance_ids=(I1,), aws=AwsConfig(region=REGION), output_s3=S3)
    with pytest.raises(ExecutorError, match="pins no InspectorCtl-ApplyPlaybook version"):
        SsmExecutor(StubbedFactory()).run(ExecRequest(
            playbook="file_permissions", hosts=[I1], items=ITEMS, run_id="r",
            targets=Targets(ssm=st)))
    with pytest.raises(ExecutorError, match="--output-s3"):
        SsmExecutor(StubbedFactory()).run(ExecRequest(
            playbook="file_permissions", hosts=[I1], items=ITEMS, run_id="r",
            targets=Targets(ssm=st.model_copy(update={"output_s3": None}))))


def test_bundle_holds_the_digested_files_and_the_callback_and_is_deterministic() -> None:
    a, b = build_bundle("file_permissions"), build_bundle("file_permissions")
    assert a == b
    with tarfile.open(fileobj=io.BytesIO(a), mode="r:gz") as tar:
        names = tar.getnames()
        assert all(m.uid == 0 and m.mtime == 0 for m in tar.getmembers())
    assert names == sorted([rel for rel, _ in playbook_files("file_permissions")]
                           + ["callback_plugins/inspectorctl_result.py"])
    assert "file_permissions/playbook.yml" in names


def test_result_callback_frames_stats_and_diffs(tmp_path: Path) -> None:
    """ansible-playbook -c local with the shipped callback, on a file under tmp_path only."""
    ansible = Path(sys.executable).with_name("ansible-playbook")
    if not ansible.is_file():
        pytest.skip("ansible-playbook is not installed next to this interpreter")
    target = tmp_path / "f.txt"
    target.write_text("old\n")
    (tmp_path / "callback_plugins").mkdir()
    (tmp_path / "callback_plugins" / "inspectorctl_result.py").write_bytes(
        CALLBACK.read_bytes())
    play = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "write", "ansible.builtin.copy": {"dest": str(target), "content": "new\n"}},
        {"name": "fail softly", "ansible.builtin.command": "false", "ignore_errors": True,
         "changed_when": False}]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_CALLBACK_PLUGINS=str(tmp_path / "callback_plugins"),
               ANSIBLE_STDOUT_CALLBACK="inspectorctl_result", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    proc = subprocess.run([str(ansible), "-c", "local", "-i", "localhost,", "-l", "localhost",
                           "--diff", str(tmp_path / "play.yml")], capture_output=True,
                          env=env, cwd=tmp_path, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    result = json.loads(unframe(proc.stdout, from_s3=True))
    assert result["stats"]["changed"] == 1 and result["stats"]["failures"] == 0
    assert result["stats"]["ignored"] == 1 and result["failures"] == []
    assert result["diffs"][0]["task"] == "write"
    assert target.read_text() == "new\n"



def test_ctrl_c_cancels_the_batch_and_interrupts_the_rollout() -> None:
    f = StubbedFactory()
    ssm, s3 = f.stub("ssm"), f.stub("s3")
    ssm.add_response("get_document", {"Name": DOC.name, "Content": DOC.content}, None)
    s3.add_response("put_object", {}, None)
    ssm.add_response("send_command", {"Command": {"CommandId": C1}}, None)
    ssm.add_response("list_command_invocations", {"CommandInvocations": [
        {"CommandId": C1, "InstanceId": I1, "Status": "InProgress",
         "StatusDetails": "In Progress"}]}, None)
    ssm.add_response("cancel_command", {}, {"CommandId": C1, "InstanceIds": [I1, I2]})

    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    with f.verified(), pytest.raises(KeyboardInterrupt, match="cancelled the command"):
        SsmExecutor(f, sleep=interrupt).run(request())
