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
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, overload

from inspectorctl.aws.documents import DocumentName, encode_request
from inspectorctl.aws.frame import FrameError, gunzip, unframe_gzip
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


class _Payload:
    """A host's checked, still compressed snapshot: parsed only when the result is read, so a
    fleet's results hold ~20 KB per host instead of a parsed snapshot each."""

    __slots__ = ("computer_name", "gz", "instance_id")

    def __init__(self, instance_id: str, gz: bytes, computer_name: str | None) -> None:
        self.instance_id = instance_id
        self.gz = gz
        self.computer_name = computer_name

    def parse(self) -> HostResult:
        iid = self.instance_id
        try:
            data = gunzip(self.gz)
        except FrameError as e:
            return CollectionFailure(host=iid, reason=str(e))
        result = snapshot_from_probe(data.decode("utf-8", "replace"), name=iid,
                                     transport="ssm",
                                     hostvars={"inspectorctl_instance_id": iid})
        if (isinstance(result, HostSnapshot) and result.host.hostname is None
                and self.computer_name):
            host = result.host.model_copy(update={"hostname": self.computer_name})
            result = result.model_copy(update={"host": host})
        return result


class LazyResults(Sequence[HostResult]):
    """The results of one collection, each snapshot parsed when it is read (not kept)."""

    def __init__(self, items: list[HostResult | _Payload]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def failures(self) -> list[CollectionFailure]:
        """The hosts that failed before their output was parsed (nothing is parsed)."""
        return [i for i in self._items if isinstance(i, CollectionFailure)]

    @overload
    def __getitem__(self, index: int) -> HostResult: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[HostResult]: ...

    def __getitem__(self, index: int | slice) -> HostResult | Sequence[HostResult]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        item = self._items[index]
        return item.parse() if isinstance(item, _Payload) else item


class SsmCollector:
    """Probe managed instances through SSM. ``factory``: the session factory (default: one
    made from ``Targets.ssm.aws``); ``sleep``/``clock`` are for tests."""

    name = "ssm"

    def __init__(self, factory: SessionFactory | None = None, *,
                 sleep: Callable[[float], None] | None = None,
                 clock: Callable[[], float] | None = None,
                 poll_initial: float = 1.0, poll_max: float = 10.0,
                 document_version: str | None = None, fetch_workers: int = 8) -> None:
        self.factory = factory
        self.fetch_workers = fetch_workers
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
                 targets: Targets, progress: ProgressCallback | None) -> Sequence[HostResult]:
        ready, skipped = run.discover(st)
        results: dict[str, HostResult | _Payload] = {}
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

            def fetch(h: HostRun) -> CollectionFailure | _Payload:
                r = self._fetch(run, st, h, names.get(h.instance_id))
                if progress is not None:
                    progress(h.instance_id, "ok" if isinstance(r, _Payload) else (
                        "unreachable" if r.unreachable else "failed"))
                return r

            # outputs are fetched while the rest still run, a few at a time (one GetObject or
            # GetCommandInvocation each; fetch_workers=0 fetches in this thread); parsing waits
            # until the results are read
            if self.fetch_workers <= 0:
                run.wait(commands, spec, st,
                         lambda h: results.__setitem__(h.instance_id, fetch(h)))
            else:
                with ThreadPoolExecutor(max_workers=self.fetch_workers) as pool:
                    futures: dict[str, Future[CollectionFailure | _Payload]] = {}
                    try:
                        run.wait(commands, spec, st, lambda h: futures.__setitem__(
                            h.instance_id, pool.submit(fetch, h)))
                    except BaseException:
                        for f in futures.values():
                            f.cancel()
                        raise
                    for iid, fut in futures.items():
                        results[iid] = fut.result()
        order = list(st.instance_ids) or sorted(results)
        return LazyResults([results[i] for i in order if i in results])

    def _fetch(self, run: RunCommand, st: SsmTargets, h: HostRun,
               computer_name: str | None) -> CollectionFailure | _Payload:
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
            return _Payload(iid, unframe_gzip(raw, from_s3=st.output_s3 is not None),
                            computer_name)
        except (RunCommandError, FrameError) as e:
            return CollectionFailure(host=iid, reason=str(e))

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
