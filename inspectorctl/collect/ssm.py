"""SsmCollector: run the probe on managed instances through SSM Run Command.

The probe travels inside the ``InspectorCtl-Collect`` document (deploy it with
``inspectorctl ssm-docs deploy``); the request travels gzip+base64 as its ``request``
parameter. The document prints one frame,
``INSPECTORCTL-FRAME/1 <length> <sha256>`` + the gzip+base64 snapshot + ``INSPECTORCTL-END``.
With ``--output-s3`` the agent writes stdout to S3 and it is read from there (one GetObject per
host); otherwise it comes from GetCommandInvocation, which keeps only the first 24,000
characters: a frame cut there (or altered) is an ERROR for that host naming the way out
(``--output-s3``), never parsed.

A host's identity is its SSM instance id, so its findings keep their ids across runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from inspectorctl.aws.documents import DocumentName, encode_request
from inspectorctl.aws.frame import FrameError, unframe
from inspectorctl.aws.runcommand import (
    HostRun,
    HostState,
    RunCommand,
    RunCommandError,
    RunSpec,
)
from inspectorctl.aws.session import AwsError, SessionFactory
from inspectorctl.aws.targets import SsmTargets, check_targets
from inspectorctl.collect._result import probe_budget, snapshot_from_probe
from inspectorctl.collect.interface import (
    CollectError,
    CollectionFailure,
    HostResult,
    ProgressCallback,
    Targets,
)
from inspectorctl.models.snapshot import HostSnapshot, ProbeRequest

STEP = "probe"


class SsmCollector:
    """Probe managed instances through SSM. ``factory``: the session factory (default: one
    made from ``Targets.ssm.aws``); ``sleep``/``clock`` are for tests."""

    name = "ssm"

    def __init__(self, factory: SessionFactory | None = None, *,
                 sleep: Callable[[float], None] | None = None,
                 clock: Callable[[], float] | None = None,
                 poll_initial: float = 1.0, poll_max: float = 10.0,
                 document_version: str | None = None) -> None:
        self.factory = factory
        self.sleep = sleep
        self.clock = clock
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        self.document_version = document_version
        #: the last run's Run Command conversation (API call counts), for benchmarks
        self.last_run: RunCommand | None = None

    def _runner(self, st: SsmTargets) -> RunCommand:
        factory = self.factory or SessionFactory(st.aws)
        ssm = factory.client("ssm")
        s3 = factory.client("s3") if st.output_s3 is not None else None
        kwargs: dict[str, Any] = {"poll_initial": self.poll_initial, "poll_max": self.poll_max}
        if self.sleep is not None:
            kwargs["sleep"] = self.sleep
        if self.clock is not None:
            kwargs["clock"] = self.clock
        return RunCommand(ssm, s3, **kwargs)

    def collect(
        self,
        request: ProbeRequest,
        targets: Targets,
        progress: ProgressCallback | None = None,
    ) -> Sequence[HostResult]:
        st = targets.ssm
        if st is None:
            raise CollectError("the ssm transport needs SSM targets: --instance-ids or "
                               "--targets tag:KEY=VALUE")
        if targets.inventory is not None:
            raise CollectError(f"the ssm transport reaches managed instances, not the "
                               f"inventory {targets.inventory}: drop --inventory")
        try:
            check_targets(st)
            run = self._runner(st)
            self.last_run = run
            return self._collect(run, st, request, targets, progress)
        except AwsError as e:
            raise CollectError(str(e), exit_code=e.exit_code) from e

    def _collect(self, run: RunCommand, st: SsmTargets, request: ProbeRequest,
                 targets: Targets, progress: ProgressCallback | None) -> list[HostResult]:
        ready, skipped = run.discover(st)
        results: dict[str, HostResult] = {}
        for s in skipped:
            results[s.instance_id] = CollectionFailure(host=s.instance_id, reason=s.reason,
                                                       unreachable=True)
            if progress is not None:
                progress(s.instance_id, "unreachable")
        if ready:
            budget = probe_budget(request, targets)
            spec = RunSpec(
                document=DocumentName.COLLECT.value,
                document_version=self.document_version,
                parameters={"request": [encode_request(request)],
                            "executionTimeout": [str(budget)]},
                step=STEP,
                execution_timeout=budget,
                comment="inspectorctl collect",
            )
            ids = [i.instance_id for i in ready]
            names = {i.instance_id: i.computer_name for i in ready}
            commands = run.send(spec, ids, st)
            if progress is not None:
                for iid in ids:
                    progress(iid, "started")

            def on_done(h: HostRun) -> None:
                results[h.instance_id] = self._result(run, st, h, names.get(h.instance_id))
                if progress is not None:
                    r = results[h.instance_id]
                    progress(h.instance_id, "ok" if isinstance(r, HostSnapshot) else (
                        "unreachable" if getattr(r, "unreachable", False) else "failed"))

            run.wait(commands, spec, st, on_done)
        order = list(st.instance_ids) or sorted(results)
        return [results[i] for i in order if i in results]

    def _result(self, run: RunCommand, st: SsmTargets, h: HostRun,
                computer_name: str | None) -> HostResult:
        iid = h.instance_id
        if h.state is not HostState.SUCCESS:
            return CollectionFailure(host=iid, reason=self._failure(run, st, h),
                                     unreachable=h.state is HostState.UNREACHABLE)
        try:
            if st.output_s3 is not None:
                raw = run.output_s3(st.output_s3, h.command_id, iid, STEP)
            else:
                inv = run.invocation(h.command_id, iid, STEP)
                raw = str(inv.get("StandardOutputContent") or "").encode("utf-8")
            data = unframe(raw, from_s3=st.output_s3 is not None)
        except (RunCommandError, FrameError) as e:
            return CollectionFailure(host=iid, reason=str(e))
        result = snapshot_from_probe(data.decode("utf-8", "replace"), name=iid, transport="ssm",
                                     hostvars={"inspectorctl_instance_id": iid})
        if isinstance(result, HostSnapshot) and result.host.hostname is None and computer_name:
            host = result.host.model_copy(update={"hostname": computer_name})
            result = result.model_copy(update={"host": host})
        return result

    def _failure(self, run: RunCommand, st: SsmTargets, h: HostRun) -> str:
        """The reason with the step's stderr (what the probe or the shell said), when any."""
        if h.state is HostState.UNREACHABLE:
            return h.reason
        try:
            if st.output_s3 is not None:
                err = run.output_s3(st.output_s3, h.command_id, h.instance_id, STEP,
                                    "stderr").decode("utf-8", "replace")
                code = ""
            else:
                inv = run.invocation(h.command_id, h.instance_id, STEP)
                err = str(inv.get("StandardErrorContent") or "")
                rc = inv.get("ResponseCode")
                code = f" (exit code {rc})" if isinstance(rc, int) and rc not in (0, -1) else ""
        except RunCommandError:
            return h.reason
        lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
        tail = " | ".join(lines[-3:])
        return f"{h.reason}{code}: {tail}" if tail else f"{h.reason}{code}"
