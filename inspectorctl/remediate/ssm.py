"""SsmExecutor: run one approved remediation on managed instances through SSM Run Command.

The rollout (canary, batches, error threshold, journal, ``--resume``) stays inspectorctl's:
it calls ``run`` once per batch, and ``run`` makes one SendCommand per batch (chunks of at most
50 ids, SSM's limit). Invocations SSM already started keep running after its MaxErrors is hit,
so SSM's own counter is not the gate; ours is.

What runs is what was approved:
- the plan pins ``InspectorCtl-ApplyPlaybook``'s DocumentVersion and the sha256 of its content
  (``Targets.ssm.document_version`` / ``document_sha256``); before sending, GetDocument of that
  version must hash to the pinned sha256, else nothing runs;
- the playbook bundle (the playbook's files and roles, exactly those the plan's playbook digest
  covers, taken from the rollout's approved, digest-checked private copy, plus the result
  callback and the identity-check wrapper) is built deterministically, uploaded to S3 under its
  own sha256 and checked against that sha256 on the instance before ansible-playbook starts;
- the action's items travel as a vars file whose data is tagged ``!unsafe`` (as on the SSH
  path): no Jinja2 in a tailored value or a collected one is ever evaluated on the instance;
- each instance reads its own ``/etc/machine-id`` and fails (nothing changed) when it is not
  the machine-id the plan's assessment recorded for the instance id the agent names
  (``AWS_SSM_INSTANCE_ID``, which the SSM agent sets for every script it runs).

Each host's result is the callback's framed JSON (stats, failures, diffs) from the step's
stdout (S3, or GetCommandInvocation); a host whose step failed before the play (no ansible-core,
a bundle that does not match) is FAILED with the step's stderr.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspectorctl.aws.documents import DocumentName, gzip_b64
from inspectorctl.aws.frame import FrameError, unframe
from inspectorctl.aws.runcommand import (
    HostRun,
    HostState,
    Interrupted,
    RunCommand,
    RunCommandError,
    RunSpec,
)
from inspectorctl.aws.session import AwsError, SessionFactory, describe_client_error
from inspectorctl.aws.targets import S3Location, SsmTargets, check_targets
from inspectorctl.remediate.ansible import render_diff, unsafe_yaml
from inspectorctl.remediate.catalog import PLAYBOOK_ID_RE, playbook_files
from inspectorctl.remediate.interface import (
    ExecProgress,
    ExecRequest,
    ExecResult,
    ExecutorError,
    HostOutcome,
    HostStatus,
)

STEP = "applyPlaybook"
CALLBACK = Path(__file__).resolve().with_name("ssm_callback") / "inspectorctl_result.py"
#: run ids are ours (see store/db.py): they travel as a plain (templated) value, so they are
#: held to this shape
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,79}$")
#: seconds the play may run on one instance
EXECUTION_TIMEOUT = 1800


#: the file of the bundle the document runs: the identity check, then the remediation
RUN_PLAYBOOK = "inspectorctl-run.yml"

#: the identity check on the instance (``-c local``: the instance is the controller, so the
#: env lookup reads the agent's environment). ``inspectorctl_machine_ids`` names every instance
#: of the command: the machine-id the assessment recorded, or "" where none was recorded.
_WRAPPER = """\
- name: inspectorctl checks this instance is the machine that was assessed
  hosts: all
  gather_facts: false
  vars:
    inspectorctl_iid: "{{{{ lookup('ansible.builtin.env', 'AWS_SSM_INSTANCE_ID') }}}}"
  tasks:
    - name: Refuse an instance the command was not sent to
      ansible.builtin.fail:
        msg: >-
          identity mismatch: the agent names this instance {{{{ inspectorctl_iid or 'nothing'
          }}}} (AWS_SSM_INSTANCE_ID), which is not an instance of the approved action; nothing
          was changed on it
      when: inspectorctl_iid not in inspectorctl_machine_ids
    - name: Read /etc/machine-id
      ansible.builtin.slurp:
        src: /etc/machine-id
      register: inspectorctl_mid
      check_mode: false
      when: inspectorctl_machine_ids[inspectorctl_iid] | length > 0
    - name: Refuse an instance that is another machine
      ansible.builtin.fail:
        msg: >-
          identity mismatch: instance {{{{ inspectorctl_iid }}}} has machine-id
          {{{{ inspectorctl_mid.content | b64decode | trim }}}}, but the plan's assessment
          recorded {{{{ inspectorctl_machine_ids[inspectorctl_iid] }}}} for it; nothing was
          changed on it. The instance id now names another machine (re-imaged or re-registered):
          assess and plan again
      when: >-
        inspectorctl_machine_ids[inspectorctl_iid] | length > 0 and
        (inspectorctl_mid.content | b64decode | trim)
        != inspectorctl_machine_ids[inspectorctl_iid]

- name: The approved remediation
  ansible.builtin.import_playbook: {playbook}
"""


def build_bundle(playbook: str, root: Path | None = None) -> bytes:
    """tar.gz of the playbook and its roles (from ``root``: the approved private copy; else the
    catalogue), the result callback and the identity-check wrapper; the same files give the
    same bytes (sorted, fixed owner and times), so the sha256 names the content."""
    if not PLAYBOOK_ID_RE.match(playbook):
        raise ExecutorError(f"{playbook!r} is not a playbook name of the catalogue")
    buf = io.BytesIO()
    entries: list[tuple[str, bytes]] = [
        (rel, path.read_bytes()) for rel, path in playbook_files(playbook, root)]
    entries.append(("callback_plugins/inspectorctl_result.py", CALLBACK.read_bytes()))
    entries.append((RUN_PLAYBOOK, _WRAPPER.format(
        playbook=json.dumps(f"{playbook}/playbook.yml")).encode("utf-8")))
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, data in sorted(entries):
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def vars_yaml(request: ExecRequest) -> str:
    """The action's variables as the instance reads them: items and the machine-ids tagged
    ``!unsafe`` (never templated), the run id (ours: letters, digits, '-') as a plain value."""
    if not RUN_ID_RE.match(request.run_id):
        raise ExecutorError(f"run id {request.run_id!r}: only letters, digits and '-'")
    ids = {h: request.machine_ids.get(h, "") for h in request.hosts}
    data = unsafe_yaml({"items": list(request.items), "inspectorctl_machine_ids": ids})
    return data + f"inspectorctl_run_id: {request.run_id}\n"


def _bundle_location(where: S3Location, sha: str) -> tuple[str, str]:
    key = "/".join([*([where.prefix] if where.prefix else []), "bundles", f"{sha}.tar.gz"])
    return where.bucket, key


class SsmExecutor:
    name = "ssm"

    def __init__(self, factory: SessionFactory | None = None, *,
                 sleep: Callable[[float], None] | None = None,
                 poll_initial: float = 1.0, poll_max: float = 10.0,
                 execution_timeout: int = EXECUTION_TIMEOUT) -> None:
        self.factory = factory
        self.sleep = sleep
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        self.execution_timeout = execution_timeout
        self.last_run: RunCommand | None = None

    def run(self, request: ExecRequest, progress: ExecProgress | None = None) -> ExecResult:
        st = request.targets.ssm
        if st is None:
            raise ExecutorError("the ssm executor needs SSM targets (the plan's instances and "
                                "--region/--endpoint-url)")
        if not request.hosts:
            return ExecResult(status="successful", rc=0, hosts={}, seconds=0.0)
        if st.output_s3 is None:
            raise ExecutorError("--via ssm: give --output-s3 s3://BUCKET/PREFIX: the approved "
                                "playbook bundle reaches the instances through S3")
        if not st.document_version or not st.document_sha256:
            raise ExecutorError(f"the plan pins no {DocumentName.APPLY_PLAYBOOK} version: make "
                                "the plan with --via ssm so what runs is what is approved")
        try:
            check_targets(st.model_copy(update={"instance_ids": tuple(request.hosts),
                                                "tags": ()}))
            return self._run(request, st, progress)
        except AwsError as e:
            raise ExecutorError(str(e)) from e

    def _clients(self, st: SsmTargets) -> tuple[Any, Any]:
        factory = self.factory or SessionFactory(st.aws)
        return factory.client("ssm"), factory.client("s3")

    def _check_document(self, ssm: Any, st: SsmTargets) -> None:
        import botocore.exceptions

        name = DocumentName.APPLY_PLAYBOOK.value
        try:
            resp = ssm.get_document(Name=name, DocumentVersion=st.document_version,
                                    DocumentFormat="YAML")
        except botocore.exceptions.ClientError as e:
            raise ExecutorError(f"{name} version {st.document_version} (pinned by the plan): "
                                f"{describe_client_error(e)}; nothing was run") from e
        sha = hashlib.sha256(str(resp.get("Content") or "").encode("utf-8")).hexdigest()
        if sha != st.document_sha256:
            raise ExecutorError(
                f"{name} version {st.document_version} changed since the plan was approved "
                f"(sha256 {sha[:12]}…, approved {str(st.document_sha256)[:12]}…); nothing was "
                "run: deploy the documents and make and approve the plan again")

    def _upload(self, run: RunCommand, s3: Any, st: SsmTargets, request: ExecRequest
                ) -> tuple[str, str]:
        import botocore.exceptions

        assert st.output_s3 is not None
        bundle = build_bundle(request.playbook, request.playbooks_root)
        sha = hashlib.sha256(bundle).hexdigest()
        bucket, key = _bundle_location(st.output_s3, sha)
        try:
            run._count("PutObject")
            s3.put_object(Bucket=bucket, Key=key, Body=bundle,
                          ContentType="application/gzip",
                          Metadata={"inspectorctl-sha256": sha})
        except botocore.exceptions.ClientError as e:
            raise ExecutorError(f"cannot upload the playbook bundle to s3://{bucket}/{key}: "
                                f"{describe_client_error(e)}") from e
        endpoint = str(s3.meta.endpoint_url).rstrip("/")
        return f"{endpoint}/{bucket}/{key}", sha

    def _run(self, request: ExecRequest, st: SsmTargets, progress: ExecProgress | None
             ) -> ExecResult:
        t0 = time.perf_counter()
        ssm, s3 = self._clients(st)
        kwargs: dict[str, Any] = {"poll_initial": self.poll_initial, "poll_max": self.poll_max}
        if self.sleep is not None:
            kwargs["sleep"] = self.sleep
        run = RunCommand(ssm, s3, **kwargs)
        self.last_run = run
        self._check_document(ssm, st)
        url, sha = self._upload(run, s3, st, request)
        spec = RunSpec(
            document=DocumentName.APPLY_PLAYBOOK.value,
            document_version=st.document_version,
            parameters={
                "bundleUrl": [url], "bundleSha256": [sha], "playbook": [request.playbook],
                "vars": [gzip_b64(vars_yaml(request).encode("utf-8"))],
                "check": ["true" if request.check else "false"],
                "diff": ["true" if (request.diff or request.check) else "false"],
                "executionTimeout": [str(self.execution_timeout)],
            },
            step=STEP,
            execution_timeout=self.execution_timeout,
            comment=f"inspectorctl {request.playbook} {request.run_id}",
        )
        # SSM's MaxErrors must not stop a batch half-way: inspectorctl's threshold is the gate
        targets = st.model_copy(update={"max_errors": "100%"})
        try:
            commands = run.send(spec, list(request.hosts), targets)
        except RunCommandError as e:
            raise ExecutorError(str(e)) from e
        if progress is not None:
            for h in request.hosts:
                progress(h, "started")
        outcomes: dict[str, HostOutcome] = {}

        def on_done(h: HostRun) -> None:
            outcomes[h.instance_id] = self._outcome(run, targets, h)
            if progress is not None:
                progress(h.instance_id, outcomes[h.instance_id].status.value)

        try:
            run.wait(commands, spec, targets, on_done)
        except Interrupted as e:
            # what still ran is cancelled; the rollout journals the interruption and stops
            raise KeyboardInterrupt(str(e)) from e
        except RunCommandError as e:
            raise ExecutorError(str(e)) from e
        failed = any(o.status in (HostStatus.FAILED, HostStatus.UNREACHABLE)
                     for o in outcomes.values())
        return ExecResult(status="failed" if failed else "successful", rc=2 if failed else 0,
                          hosts=outcomes, seconds=time.perf_counter() - t0)

    def _outcome(self, run: RunCommand, st: SsmTargets, h: HostRun) -> HostOutcome:
        iid = h.instance_id
        if h.state is HostState.UNREACHABLE:
            return HostOutcome(host=iid, status=HostStatus.UNREACHABLE, message=h.reason)
        assert st.output_s3 is not None  # run() requires it
        stderr = ""
        try:
            raw = run.output_s3(st.output_s3, h.command_id, iid, STEP)
        except RunCommandError as e:
            if h.state is HostState.SUCCESS:
                return HostOutcome(host=iid, status=HostStatus.FAILED, message=str(e))
            raw = b""
        if h.state is not HostState.SUCCESS:
            try:
                stderr = run.output_s3(st.output_s3, h.command_id, iid, STEP,
                                       "stderr").decode("utf-8", "replace")
            except RunCommandError:
                stderr = ""
        result: dict[str, Any] | None = None
        if raw.startswith(b"INSPECTORCTL-FRAME/"):
            try:
                loaded = json.loads(unframe(raw, from_s3=True,
                                            document=DocumentName.APPLY_PLAYBOOK.value))
                result = loaded if isinstance(loaded, dict) else None
            except (FrameError, ValueError) as e:
                return HostOutcome(host=iid, status=HostStatus.FAILED,
                                   message=f"{h.reason or 'result'}: {e}")
        if result is None:
            lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
            why = " | ".join(lines[-3:])
            msg = h.reason or "the step finished without inspectorctl's result"
            return HostOutcome(host=iid, status=HostStatus.FAILED,
                               message=f"{msg}: {why}" if why else msg)
        raw_stats = result.get("stats")
        stats = {k: int(v) for k, v in (raw_stats or {}).items()
                 if isinstance(raw_stats, dict) and isinstance(v, int)}
        failures = [str(f) for f in result.get("failures") or []][:5]
        diff = "".join(
            f"# {d.get('task')}\n{render_diff(d.get('diff'))}" for d in result.get("diffs") or []
            if isinstance(d, dict) and render_diff(d.get("diff")))
        if stats.get("unreachable"):
            status = HostStatus.UNREACHABLE
        elif stats.get("failures") or failures or h.state is not HostState.SUCCESS:
            status = HostStatus.FAILED
        elif stats.get("changed"):
            status = HostStatus.CHANGED
        else:
            status = HostStatus.OK
        message = "; ".join(failures) if failures else (
            h.reason if status is HostStatus.FAILED else "")
        return HostOutcome(host=iid, status=status, stats=stats, message=message, diff=diff)
