"""Run Command, done right: discovery, SendCommand in chunks of 50, polling, output, cancel.

Shared by the SSM collector and the SSM executor; both pass clients made by the one session
factory. Call shapes are those of botocore's SSM and S3 models (tests stub every one with
``Stubber``); what botocore does not check (at most 50 instance ids per SendCommand, SSM's
MaxConcurrency/MaxErrors formats) is checked here.

- Discovery: ``DescribeInstanceInformation`` (paginated, filtered by instance ids or by tag).
  An instance SSM does not know, one whose agent is not Online, or one that is not Linux is a
  ``Skipped`` host with the reason; the others go on.
- Sending: one ``SendCommand`` per chunk of at most 50 instance ids, with an explicit
  ``TimeoutSeconds`` (delivery) and the document's ``executionTimeout`` (the step's
  ``timeoutSeconds``), ``MaxConcurrency`` and ``MaxErrors``, and the S3 output location.
- Polling: ``ListCommandInvocations`` per command (paginated, 50 per page, no details), with
  backoff; an invocation that does not exist yet (right after SendCommand) is pending.
- Terminal statuses map to a ``HostRun`` with the reason (``describe_status``).
- Output: ``GetObject`` of the step's stdout under the S3 prefix (one per host), else
  ``GetCommandInvocation``'s ``StandardOutputContent`` (first 24,000 characters).
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from inspectorctl.aws.session import AwsError, describe_client_error
from inspectorctl.aws.targets import (
    MAX_INSTANCE_IDS,
    S3Location,
    SsmTargets,
    check_max_concurrency,
    check_max_errors,
)
from inspectorctl.models.common import Frozen

#: GetCommandInvocation keeps the first 24,000 characters of stdout, ListCommandInvocations 2,500
STDOUT_LIMIT = 24_000
#: stop reading an S3 output beyond this many bytes (a hostile or broken agent could write more)
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
PAGE_SIZE = 50
TERMINAL = frozenset({"Success", "Failed", "TimedOut", "Cancelled"})
#: what the plugin's output directory is called under the S3 prefix for aws:runShellScript
S3_PLUGIN_DIR = "awsrunShellScript"


class RunCommandError(AwsError):
    """A Run Command call failed for the whole run (not for one host)."""


class Interrupted(RunCommandError):
    """Ctrl-C: what was still running was cancelled (CancelCommand)."""

    exit_code = 130


class HostState(enum.StrEnum):
    SUCCESS = "success"
    FAILED = "failed"
    UNREACHABLE = "unreachable"


class Instance(Frozen):
    """A managed instance as DescribeInstanceInformation reports it."""

    instance_id: str
    ping_status: str
    platform_type: str | None = None
    platform_name: str | None = None
    computer_name: str | None = None


class Skipped(Frozen):
    instance_id: str
    reason: str


class HostRun(Frozen):
    """The terminal state of one invocation."""

    instance_id: str
    command_id: str
    status: str
    details: str
    state: HostState
    reason: str = ""


class Command(Frozen):
    command_id: str
    instance_ids: tuple[str, ...]


class RunSpec(Frozen):
    document: str
    document_version: str | None = None
    parameters: dict[str, list[str]]
    #: the step whose stdout is the result
    step: str
    #: seconds the step may run (the document's executionTimeout)
    execution_timeout: int
    comment: str = ""


def chunks(ids: Sequence[str], size: int = MAX_INSTANCE_IDS) -> list[tuple[str, ...]]:
    if size > MAX_INSTANCE_IDS:
        raise ValueError(f"SendCommand takes at most {MAX_INSTANCE_IDS} instance ids")
    return [tuple(ids[i:i + size]) for i in range(0, len(ids), size)]


def describe_status(status: str, details: str, execution_timeout: int,
                    delivery_timeout: int) -> tuple[HostState, str]:
    """A terminal (Status, StatusDetails) as a host state and a reason a person can act on."""
    d = details or status
    if status == "Success":
        return HostState.SUCCESS, ""
    if d == "Delivery Timed Out":
        return HostState.UNREACHABLE, (
            f"Delivery Timed Out: SSM could not deliver the command within {delivery_timeout}s "
            "(the instance's agent did not connect; is it running and online?)")
    if d == "Execution Timed Out":
        return HostState.FAILED, (
            f"Execution Timed Out: the step ran longer than its {execution_timeout}s budget "
            "and the agent stopped it")
    if d == "Undeliverable":
        return HostState.UNREACHABLE, (
            "Undeliverable: the instance could not receive the command (terminated, or it "
            "lacks the IAM permissions for SSM)")
    if d == "Terminated":
        return HostState.FAILED, ("Terminated: the parent command exceeded its MaxErrors "
                                  "limit and SSM stopped this invocation")
    if status == "Cancelled" or d in ("Cancelled", "Canceled"):
        return HostState.FAILED, "Cancelled: the command was cancelled before it finished"
    if d == "Access Denied":
        return HostState.UNREACHABLE, ("Access Denied: the caller or the instance lacks the "
                                       "permissions to run this document")
    if status == "TimedOut":
        return HostState.FAILED, f"TimedOut ({d})"
    if d == "Failed":
        return HostState.FAILED, "Failed: the document's step exited with an error"
    return HostState.FAILED, f"{status} ({d})"


class RunCommand:
    """One Run Command conversation. ``sleep``/``clock`` are injectable for tests."""

    def __init__(self, ssm: Any, s3: Any | None = None, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 poll_initial: float = 1.0, poll_max: float = 10.0) -> None:
        self.ssm = ssm
        self.s3 = s3
        self.sleep = sleep
        self.clock = clock
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        #: API calls made, by operation (the benchmark reads it)
        self.calls: dict[str, int] = {}
        #: poll rounds made, and the most ListCommandInvocations pages one round needed
        self.poll_rounds = 0
        self.max_pages_per_round = 0

    def _count(self, op: str, n: int = 1) -> None:
        self.calls[op] = self.calls.get(op, 0) + n

    def _call(self, op: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        import botocore.exceptions

        self._count(op)
        try:
            return fn(**kwargs)
        except botocore.exceptions.ClientError:
            raise
        except botocore.exceptions.NoCredentialsError as e:
            raise RunCommandError(
                "no AWS credentials: use --profile, or set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (the lab endpoint accepts any)") from e
        except botocore.exceptions.EndpointConnectionError as e:
            raise RunCommandError(f"{op}: cannot reach the endpoint: {e}") from e
        except botocore.exceptions.BotoCoreError as e:
            raise RunCommandError(f"{op}: {e}") from e

    # -- discovery -------------------------------------------------------------------------------

    def discover(self, targets: SsmTargets) -> tuple[list[Instance], list[Skipped]]:
        """The Linux instances SSM manages and sees Online among the targets; the rest, each
        with the reason it is left out."""
        import botocore.exceptions

        filters: list[dict[str, Any]]
        if targets.instance_ids:
            filters = [{"Key": "InstanceIds", "Values": list(c)}
                       for c in chunks(targets.instance_ids)]
            queries = [[f] for f in filters]
        else:
            queries = [[{"Key": f"tag:{t.key}", "Values": list(t.values)} for t in targets.tags]]
        seen: dict[str, Instance] = {}
        for query in queries:
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"Filters": query, "MaxResults": PAGE_SIZE}
                if token:
                    kwargs["NextToken"] = token
                try:
                    page = self._call("DescribeInstanceInformation",
                                      self.ssm.describe_instance_information, **kwargs)
                except botocore.exceptions.ClientError as e:
                    raise RunCommandError(
                        f"cannot list managed instances: {describe_client_error(e)}") from e
                for info in page.get("InstanceInformationList", []):
                    iid = str(info.get("InstanceId", ""))
                    seen[iid] = Instance(
                        instance_id=iid,
                        ping_status=str(info.get("PingStatus", "")),
                        platform_type=info.get("PlatformType"),
                        platform_name=info.get("PlatformName"),
                        computer_name=info.get("ComputerName"),
                    )
                token = page.get("NextToken")
                if not token:
                    break
        ready: list[Instance] = []
        skipped: list[Skipped] = []
        order = list(targets.instance_ids) or sorted(seen)
        for iid in order:
            inst = seen.get(iid)
            if inst is None:
                skipped.append(Skipped(instance_id=iid, reason=(
                    "not a managed instance: SSM does not know it in this account and region "
                    "(no SSM agent registered, or no instance profile with "
                    "AmazonSSMManagedInstanceCore)")))
            elif inst.ping_status != "Online":
                skipped.append(Skipped(instance_id=iid, reason=(
                    f"SSM agent is {inst.ping_status or 'not Online'}, not Online: SSM cannot "
                    "deliver commands to it now")))
            elif inst.platform_type != "Linux":
                skipped.append(Skipped(instance_id=iid, reason=(
                    f"platform {inst.platform_type or 'unknown'}"
                    f"{' (' + inst.platform_name + ')' if inst.platform_name else ''} is not "
                    "Linux: inspectorctl's documents run on Linux only")))
            else:
                ready.append(inst)
        return ready, skipped

    # -- send ------------------------------------------------------------------------------------

    def send(self, spec: RunSpec, instance_ids: Sequence[str], targets: SsmTargets
             ) -> list[Command]:
        """One SendCommand per chunk of at most 50 ids."""
        import botocore.exceptions

        check_max_concurrency(targets.max_concurrency)
        check_max_errors(targets.max_errors)
        commands: list[Command] = []
        for chunk in chunks(instance_ids):
            kwargs: dict[str, Any] = {
                "InstanceIds": list(chunk),
                "DocumentName": spec.document,
                "Parameters": {k: list(v) for k, v in spec.parameters.items()},
                "TimeoutSeconds": targets.delivery_timeout,
                "MaxConcurrency": targets.max_concurrency,
                "MaxErrors": targets.max_errors,
            }
            if spec.document_version:
                kwargs["DocumentVersion"] = spec.document_version
            if spec.comment:
                kwargs["Comment"] = spec.comment[:100]
            if targets.output_s3 is not None:
                kwargs["OutputS3BucketName"] = targets.output_s3.bucket
                if targets.output_s3.prefix:
                    kwargs["OutputS3KeyPrefix"] = targets.output_s3.prefix
            try:
                resp = self._call("SendCommand", self.ssm.send_command, **kwargs)
            except botocore.exceptions.ClientError as e:
                code = (getattr(e, "response", {}) or {}).get("Error", {}).get("Code", "")
                if commands:
                    self.cancel(commands)
                if code in ("InvalidDocument", "InvalidDocumentVersion"):
                    raise RunCommandError(
                        f"SSM document {spec.document} (version "
                        f"{spec.document_version or 'default'}) is not available: "
                        f"{describe_client_error(e)}; deploy it with "
                        "`inspectorctl ssm-docs deploy`") from e
                raise RunCommandError(f"cannot send {spec.document}: "
                                      f"{describe_client_error(e)}") from e
            cid = str(resp["Command"]["CommandId"])
            commands.append(Command(command_id=cid, instance_ids=chunk))
        return commands

    # -- poll ------------------------------------------------------------------------------------

    def _list(self, command_id: str) -> list[dict[str, Any]]:
        import botocore.exceptions

        out: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"CommandId": command_id, "MaxResults": PAGE_SIZE,
                                      "Details": False}
            if token:
                kwargs["NextToken"] = token
            try:
                page = self._call("ListCommandInvocations", self.ssm.list_command_invocations,
                                  **kwargs)
            except botocore.exceptions.ClientError as e:
                code = (getattr(e, "response", {}) or {}).get("Error", {}).get("Code", "")
                if code in ("InvalidCommandId", "InvocationDoesNotExist"):
                    return out  # not visible yet right after SendCommand: pending
                raise RunCommandError(f"cannot poll command {command_id}: "
                                      f"{describe_client_error(e)}") from e
            out.extend(page.get("CommandInvocations", []))
            token = page.get("NextToken")
            if not token:
                return out

    def wait(self, commands: Sequence[Command], spec: RunSpec, targets: SsmTargets,
             on_done: Callable[[HostRun], None] | None = None) -> dict[str, HostRun]:
        """Poll until every invocation is terminal, or until delivery + execution time (and a
        margin) has passed, when what is left is cancelled and reported as such."""
        done: dict[str, HostRun] = {}
        pending = {c.command_id: set(c.instance_ids) for c in commands}
        deadline = self.clock() + targets.delivery_timeout + spec.execution_timeout + 60
        delay = self.poll_initial
        try:
            while pending:
                self.poll_rounds += 1
                pages_before = self.calls.get("ListCommandInvocations", 0)
                for cid in list(pending):
                    for inv in self._list(cid):
                        iid = str(inv.get("InstanceId", ""))
                        status = str(inv.get("Status", ""))
                        if iid not in pending[cid] or status not in TERMINAL:
                            continue
                        details = str(inv.get("StatusDetails", ""))
                        state, reason = describe_status(status, details, spec.execution_timeout,
                                                        targets.delivery_timeout)
                        run = HostRun(instance_id=iid, command_id=cid, status=status,
                                      details=details, state=state, reason=reason)
                        done[iid] = run
                        pending[cid].discard(iid)
                        if on_done is not None:
                            on_done(run)
                    if not pending[cid]:
                        del pending[cid]
                self.max_pages_per_round = max(
                    self.max_pages_per_round,
                    self.calls.get("ListCommandInvocations", 0) - pages_before)
                if not pending:
                    break
                if self.clock() >= deadline:
                    late = [Command(command_id=c, instance_ids=tuple(sorted(ids)))
                            for c, ids in pending.items()]
                    self.cancel(late)
                    for c in late:
                        for iid in c.instance_ids:
                            done[iid] = HostRun(
                                instance_id=iid, command_id=c.command_id, status="TimedOut",
                                details="No result", state=HostState.UNREACHABLE,
                                reason=("no terminal status from SSM in time; inspectorctl "
                                        "cancelled the command"))
                    break
                self.sleep(delay)
                delay = min(self.poll_max, delay * 1.6)
        except KeyboardInterrupt as e:
            left = [Command(command_id=c, instance_ids=tuple(sorted(ids)))
                    for c, ids in pending.items()]
            self.cancel(left)
            ids = ", ".join(c.command_id for c in left) or "none"
            raise Interrupted(f"interrupted: cancelled the command(s) still running ({ids}); "
                              f"{len(done)} instance(s) had finished") from e
        return done

    def cancel(self, commands: Iterable[Command]) -> None:
        """CancelCommand for each command (best effort: a failure to cancel is not raised)."""
        import botocore.exceptions

        for c in commands:
            try:
                self._call("CancelCommand", self.ssm.cancel_command, CommandId=c.command_id,
                           InstanceIds=list(c.instance_ids))
            except (botocore.exceptions.ClientError, RunCommandError):
                continue

    # -- output ----------------------------------------------------------------------------------

    def s3_key(self, where: S3Location, command_id: str, instance_id: str, step: str,
               stream: str = "stdout") -> str:
        parts = [where.prefix] if where.prefix else []
        parts += [command_id, instance_id, S3_PLUGIN_DIR, step, stream]
        return "/".join(parts)

    def output_s3(self, where: S3Location, command_id: str, instance_id: str, step: str,
                  stream: str = "stdout") -> bytes:
        import botocore.exceptions

        if self.s3 is None:
            raise RunCommandError("no S3 client for --output-s3")
        key = self.s3_key(where, command_id, instance_id, step, stream)
        try:
            resp = self._call("GetObject", self.s3.get_object, Bucket=where.bucket, Key=key)
        except botocore.exceptions.ClientError as e:
            raise RunCommandError(f"s3://{where.bucket}/{key}: "
                                  f"{describe_client_error(e)}") from e
        body = resp["Body"]
        try:
            data = bytes(body.read(MAX_OUTPUT_BYTES + 1))
        finally:
            body.close()
        if len(data) > MAX_OUTPUT_BYTES:
            raise RunCommandError(f"s3://{where.bucket}/{key}: larger than "
                                  f"{MAX_OUTPUT_BYTES} bytes; refusing to read it")
        return data

    def invocation(self, command_id: str, instance_id: str, step: str,
                   attempts: int = 5) -> Mapping[str, Any]:
        """GetCommandInvocation for one step; InvocationDoesNotExist is retried (it is what
        SSM answers for a moment after SendCommand)."""
        import botocore.exceptions

        delay = self.poll_initial
        for attempt in range(attempts):
            try:
                resp: Mapping[str, Any] = self._call(
                    "GetCommandInvocation", self.ssm.get_command_invocation,
                    CommandId=command_id, InstanceId=instance_id, PluginName=step)
                return resp
            except botocore.exceptions.ClientError as e:
                code = (getattr(e, "response", {}) or {}).get("Error", {}).get("Code", "")
                if code == "InvocationDoesNotExist" and attempt + 1 < attempts:
                    self.sleep(delay)
                    delay = min(self.poll_max, delay * 2)
                    continue
                raise RunCommandError(f"{instance_id}: cannot read the output of command "
                                      f"{command_id}: {describe_client_error(e)}") from e
        raise RunCommandError("unreachable")  # pragma: no cover - the loop returns or raises


def expected_calls(n: int, rounds: int) -> dict[str, int]:
    """The API-call budget of one run on ``n`` instances polled ``rounds`` times."""
    commands = math.ceil(n / MAX_INSTANCE_IDS)
    return {"SendCommand": commands, "ListCommandInvocations": rounds * commands}
