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
from inspectorctl.remediate.ansible import render_diff, result_diffs
from inspectorctl.remediate.catalog import playbook_digest, playbook_files, stage_playbooks
from inspectorctl.remediate.interface import ExecRequest, ExecutorError, HostStatus
from inspectorctl.remediate.ssm import (
    CALLBACK,
    RUN_PLAYBOOK,
    STEP,
    SsmExecutor,
    build_bundle,
    vars_yaml,
)
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
    variables = base64.b64encode(gzip.compress(vars_yaml(request()).encode(), 9,
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
                           + ["callback_plugins/inspectorctl_result.py", RUN_PLAYBOOK])
    assert "file_permissions/playbook.yml" in names
    with pytest.raises(ExecutorError, match="not a playbook name"):
        build_bundle("../file_permissions")


def bundle_member(bundle: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
        f = tar.extractfile(name)
        assert f is not None
        return f.read()


def test_the_bundle_is_built_from_the_approved_private_copy(tmp_path: Path) -> None:
    """What is shipped is the rollout's digest-checked copy, not whatever the catalogue holds
    by the time the batch runs."""
    pid = "file_permissions"
    root = stage_playbooks({pid: playbook_digest(pid)}, tmp_path / "staged")
    assert build_bundle(pid, root) == build_bundle(pid)
    play = root / pid / "playbook.yml"
    play.chmod(0o600)
    play.write_bytes(play.read_bytes() + b"# the approved copy\n")
    bundle = build_bundle(pid, root)
    assert bundle_member(bundle, f"{pid}/playbook.yml").endswith(b"# the approved copy\n")
    assert not bundle_member(build_bundle(pid), f"{pid}/playbook.yml").endswith(
        b"# the approved copy\n")


def test_vars_are_unsafe_yaml_with_every_instance_named() -> None:
    req = request().model_copy(update={"items": [{"path": "{{ lookup('pipe', 'id') }}"}],
                                       "machine_ids": {I1: "a" * 32}})
    assert vars_yaml(req) == (
        "inspectorctl_machine_ids: !unsafe\n"
        f"  {I1}: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
        f"  {I2}: ''\n"
        "items: !unsafe\n"
        "- path: '{{ lookup(''pipe'', ''id'') }}'\n"
        "inspectorctl_run_id: apply-1\n")
    with pytest.raises(ExecutorError, match="run id"):
        vars_yaml(req.model_copy(update={"run_id": "x: {{ 1 }}"}))


def run_wrapper(tmp_path: Path, iid: str, ids: dict[str, str], items: list[dict[str, Any]]
                ) -> tuple[dict[str, Any], Path]:
    """The bundle's identity check and the document's vars handling, run as the document does
    (ansible-playbook -c local, the shipped callback) on this machine, with the remediation
    replaced by a playbook that only writes its items to a file under tmp_path."""
    ansible = Path(sys.executable).with_name("ansible-playbook")
    if not ansible.is_file():
        pytest.skip("ansible-playbook is not installed next to this interpreter")
    w = tmp_path / "w"
    with tarfile.open(fileobj=io.BytesIO(build_bundle("file_permissions")), mode="r:gz") as t:
        t.extractall(w, filter="data")
    out = tmp_path / "items.json"
    (w / "file_permissions" / "playbook.yml").write_text(json.dumps([{
        "hosts": "all", "gather_facts": False, "tasks": [{"name": "write the items",
        "ansible.builtin.copy": {"dest": str(out), "content": "{{ items | to_json }}"}}]}]))
    req = request().model_copy(update={"hosts": sorted(ids), "items": items,
                                       "machine_ids": {h: v for h, v in ids.items() if v}})
    (w / "vars.yml").write_text(vars_yaml(req))
    env = dict(os.environ, ANSIBLE_CALLBACK_PLUGINS=str(w / "callback_plugins"),
               ANSIBLE_STDOUT_CALLBACK="inspectorctl_result", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               AWS_SSM_INSTANCE_ID=iid)
    proc = subprocess.run([str(ansible), "-c", "local", "-i", "localhost,", "-l", "localhost",
                           str(w / RUN_PLAYBOOK), "-e", f"@{w / 'vars.yml'}"],
                          capture_output=True, env=env, cwd=w, timeout=300, check=False)
    return json.loads(unframe(proc.stdout, from_s3=True)), out


def test_the_instance_checks_its_identity_and_never_templates_the_items(tmp_path: Path) -> None:
    mid_file = Path("/etc/machine-id")
    if not mid_file.is_file() or not mid_file.read_text().strip():
        pytest.skip("this machine has no /etc/machine-id to check against")
    mid = mid_file.read_text().strip()
    canary = tmp_path / "templated"
    hostile = [{"path": f"{{{{ lookup('pipe', 'touch {canary}') }}}}", "mode": "0600"}]

    result, out = run_wrapper(tmp_path / "ok", I1, {I1: mid, I2: "b" * 32}, hostile)
    assert result["failures"] == [] and result["stats"]["changed"] == 1
    assert json.loads(out.read_text()) == hostile  # the text itself, never evaluated
    assert not canary.exists()

    result, out = run_wrapper(tmp_path / "other", I2, {I1: mid, I2: "b" * 32}, hostile)
    assert not out.exists() and result["stats"]["changed"] == 0
    assert len(result["failures"]) == 1
    assert f"identity mismatch: instance {I2} has machine-id {mid}" in result["failures"][0]
    assert "recorded bbbbbbbb" in result["failures"][0]

    result, out = run_wrapper(tmp_path / "stranger", "mi-0000000000000000f", {I1: mid}, hostile)
    assert not out.exists()
    assert "not an instance of the approved action" in result["failures"][0]
    result, out = run_wrapper(tmp_path / "nameless", "", {I1: mid}, hostile)
    assert not out.exists()
    assert "names this instance nothing" in result["failures"][0]

    # an instance whose assessment recorded no machine-id is not checked
    result, out = run_wrapper(tmp_path / "unrecorded", I2, {I1: mid, I2: ""}, ITEMS)
    assert result["failures"] == [] and json.loads(out.read_text()) == ITEMS
    assert not canary.exists()


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
    other = tmp_path / "g.txt"
    other.write_text("x\n")
    other.chmod(0o664)
    play = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "write", "ansible.builtin.copy": {"dest": str(target), "content": "new\n"}},
        {"name": "modes", "ansible.builtin.file": {"path": "{{ item }}", "mode": "0600"},
         "loop": [str(target), str(other)]},
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
    assert result["stats"]["changed"] == 2 and result["stats"]["failures"] == 0
    assert result["stats"]["ignored"] == 1 and result["failures"] == []
    assert [d["task"] for d in result["diffs"]] == ["write", "modes"]
    # a looped task's diffs are its items' (as the SSH path reads them)
    assert render_diff(result["diffs"][1]["diff"]) == (
        f"--- before\n+++ after\n@@ -1,2 +1,2 @@\n-mode: 0644\n+mode: 0600\n path: {target}\n"
        f"--- before\n+++ after\n@@ -1,2 +1,2 @@\n-mode: 0664\n+mode: 0600\n path: {other}\n")
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


def test_result_diffs_reads_a_task_or_its_loop_items() -> None:
    one = {"before": "a\n", "after": "b\n"}
    assert result_diffs({"diff": one}) == [one]
    assert result_diffs({"results": [{"diff": one}, {"changed": False}, "junk", {"diff": {}}]}
                        ) == [one]
    assert result_diffs({"results": "not a list"}) == []
    assert result_diffs({}) == []
