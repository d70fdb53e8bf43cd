"""Rollout of an approved plan: gate, canary, batches, error threshold, journal, resume.

``apply_plan`` is the only way a plan reaches hosts (``apply``, ``remediate`` and ``rollback``
all call it) and it starts with the gate, ``approval.check_approvals``. Only approved actions
are journaled and run; an unapproved action never runs.

Order: hosts (of the approved actions, sorted) are split into a canary (the first N hosts,
alone) and batches (``--batch-size N`` or ``P%`` of all hosts; default: everything after the
canary in one batch). Within a batch each action runs once on its hosts of that batch. After
every action the failed hosts (failed or unreachable, this attempt) are counted; when they
exceed ``--max-errors`` (N or P% of all hosts; default 0) every row not started yet becomes
``skipped_threshold`` and the rollout stops.

Journal: one row per host x action, written before anything runs (``pending``), set
``running`` before the executor is called and to its outcome right after, each in its own
transaction. A crash or Ctrl-C leaves ``running`` rows; ``--resume`` puts every row that did not
end ``changed`` or ``ok`` back to ``pending`` and runs those (playbooks are idempotent).
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from inspectorctl.collect.interface import Targets
from inspectorctl.errors import InputError, InspectorctlError
from inspectorctl.models.common import Frozen
from inspectorctl.models.plan import (
    Action,
    ApplyRun,
    HostUpdate,
    JournalEntry,
    JournalState,
    Plan,
    PlanKind,
    Policy,
)
from inspectorctl.remediate import audit, catalog
from inspectorctl.remediate.approval import (
    GateResult,
    Refusal,
    RefusalKind,
    check_approvals,
    refuse,
)
from inspectorctl.remediate.audit import AuditEvent
from inspectorctl.remediate.catalog import PlaybookChanged, stage_playbooks
from inspectorctl.remediate.interface import (
    ExecRequest,
    ExecResult,
    Executor,
    ExecutorError,
    HostStatus,
)
from inspectorctl.store import journal
from inspectorctl.store.db import Store
from inspectorctl.store.db import now as utcnow

_CP = re.compile(r"^\s*(\d+)\s*(%?)\s*$")

_STATE = {
    HostStatus.CHANGED: JournalState.CHANGED,
    HostStatus.OK: JournalState.OK,
    HostStatus.FAILED: JournalState.FAILED,
    HostStatus.UNREACHABLE: JournalState.UNREACHABLE,
}


class CountOrPercent(Frozen):
    value: int
    percent: bool = False

    @classmethod
    def parse(cls, text: str, option: str) -> CountOrPercent:
        m = _CP.match(text)
        if not m or (m[2] and not 0 <= int(m[1]) <= 100):
            raise InputError(f"{option} {text!r}: expected a count (5) or a percentage (25%)")
        return cls(value=int(m[1]), percent=bool(m[2]))

    def of(self, total: int) -> int:
        """As a number of hosts out of ``total`` (percentages round down)."""
        return math.floor(total * self.value / 100) if self.percent else self.value

    def __str__(self) -> str:
        return f"{self.value}{'%' if self.percent else ''}"


class RolloutOptions(Frozen):
    batch_size: CountOrPercent | None = None
    canary: int = 0
    max_errors: CountOrPercent = CountOrPercent(value=0)
    resume: bool = False
    #: refuse the whole plan unless every action is approved
    require_all: bool = False


class RolloutEvent(Frozen):
    """Progress for the CLI: a phase starts, or an action finished on a host."""

    phase: str
    action_id: str = ""
    playbook: str = ""
    host: str = ""
    state: JournalState | None = None
    message: str = ""


RolloutProgress = Callable[[RolloutEvent], None]


class ApplyReport(Frozen):
    run_id: str
    plan_id: str
    plan_digest: str
    gate: GateResult
    entries: list[JournalEntry]
    stopped: bool
    stop_reason: str = ""
    resumed: bool = False
    #: approved actions run now, and those left out because they are not approved
    applied_actions: list[str]
    not_approved: list[str]
    ansible_seconds: float = 0.0
    total_seconds: float = 0.0
    executor_calls: int = 0

    @property
    def failed(self) -> list[JournalEntry]:
        return [e for e in self.entries if e.state.failure]

    @property
    def complete(self) -> bool:
        return all(e.state.done for e in self.entries)

    def hosts_in(self, *states: JournalState) -> list[str]:
        return sorted({e.host for e in self.entries if e.state in states})


def new_apply_id(kind: str = "apply") -> str:
    prefix = "a" if kind == "apply" else "rb"
    return f"{prefix}-" + time.strftime("%Y%m%d%H%M%S", time.gmtime()) + uuid.uuid4().hex[:4]


def phases(hosts: Sequence[str], canary: int, batch: CountOrPercent | None
           ) -> list[tuple[str, list[str]]]:
    """Split ``hosts`` into the canary and the batches, in order."""
    if canary < 0:
        raise InputError("--canary must be 0 or more")
    out: list[tuple[str, list[str]]] = []
    rest = list(hosts)
    if canary and rest:
        out.append(("canary", rest[:canary]))
        rest = rest[canary:]
    size = len(rest) if batch is None else max(1, batch.of(len(hosts)))
    if batch is not None and batch.value == 0:
        raise InputError("--batch-size must be at least 1 (or a percentage above 0)")
    for n, i in enumerate(range(0, len(rest), max(1, size)), start=1):
        out.append((f"batch {n}", rest[i:i + size]))
    return out


def _gate(plan: Plan, store: Store, now: datetime, policy: Policy | None,
          options: RolloutOptions, actor: str, command: str) -> GateResult:
    result = check_approvals(plan, store, now, policy)
    if result.ok and options.require_all and result.unapproved:
        result = result.model_copy(update={"problems": [Refusal(
            kind=RefusalKind.NOT_ALL_APPROVED,
            message=(f"--require-all: {len(result.unapproved)} of {len(plan.actions)} actions "
                     "of plan " + plan.plan_id + " are not approved: "
                     + ", ".join(f"{v.action_id} ({v.reason})" for v in result.unapproved)))]})
    if not result.ok:
        raise refuse(store, result, actor, now, command=command)
    return result


def machine_ids(plan: Plan) -> dict[str, str]:
    """host -> the machine-id the plan's assessment recorded (checked before each change)."""
    return {h: i.machine_id for h, i in plan.identities.items() if i.machine_id}


def host_keys(plan: Plan) -> dict[str, list[str]]:
    """host -> the SSH host key fingerprints the plan's assessment recorded (checked before
    each change, like the machine-id)."""
    return {h: list(i.ssh_host_keys) for h, i in plan.identities.items() if i.ssh_host_keys}


class AuditLogBroken(InspectorctlError):
    """The audit log does not verify (``audit verify``): nothing is applied until someone has
    looked at what happened. Exit code 3: refused, nothing was run."""

    exit_code = 3


def require_intact_audit_log(store: Store) -> None:
    """Refuse (``AuditLogBroken``) when the audit log is not intact: an apply would add its
    record to a log that no longer shows what happened before it."""
    report = audit.verify(store)
    if report.ok:
        return
    more = len(report.problems) - 1
    tail = f" (and {more} more problem(s))" if more else ""
    raise AuditLogBroken(
        f"refused: the audit log in {store.path} is not intact: {report.problems[0].message}"
        f"{tail}; nothing was run: see `inspectorctl audit verify`, and find out who changed "
        "the database before changing any host")


class ApplyLocked(InspectorctlError):
    """Another apply (or resume, or rollback) holds the database's apply lock. Exit code 3:
    nothing was run."""

    exit_code = 3


@contextlib.contextmanager
def apply_lock(store: Store, plan: Plan) -> Iterator[None]:
    """One apply at a time per database: an exclusive ``fcntl`` lock on ``<database>.lock``,
    held for the whole rollout (released by the kernel if the process dies). The file says
    who holds it."""
    path = Path(str(store.path) + ".lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        raise InspectorctlError(f"cannot open the apply lock {path}: {e}") from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 400, 0).decode("utf-8", "replace").strip() or "unknown"
            raise ApplyLocked(
                f"another apply is running against {store.path} ({holder}); nothing was run: "
                "wait for it to finish (or, if its process is gone, run again: the lock is "
                "released when a process dies)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, plan {plan.plan_id}".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


_HOLDER = re.compile(r"^pid (\d+), plan (\S+)$")


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (a killed process not reaped yet is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def lock_holder(store: Store) -> tuple[int, str] | None:
    """(pid, plan id) of the live process holding the database's apply lock, or None. The
    holder writes them into the lock file and clears them when it ends; a process killed
    (kill -9) leaves them behind, so a named process that is gone holds nothing."""
    path = Path(str(store.path) + ".lock")
    try:
        with path.open("rb") as fh:
            text = fh.read(400).decode("utf-8", "replace").strip()
    except OSError:
        return None
    m = _HOLDER.match(text)
    if m is None or not _alive(int(m.group(1))):
        return None
    return int(m.group(1)), m.group(2)


#: the state a run left ``running`` by a process that is gone reads as
RUN_DIED = "died"


def journal_view(store: Store, run_id: str
                 ) -> tuple[ApplyRun, list[JournalEntry]] | None:
    """A run and its journal as they stand: when no live process is applying the run's plan,
    a run still ``running`` died (kill -9, crash, power loss) and reads ``died``, and every
    row it left ``running`` reads ``possibly_changed`` (what ``--resume`` will record before
    it runs them again, and what ``rollback`` counts). Nothing is written."""
    run = journal.apply_run(store, run_id)
    if run is None:
        return None
    rows = journal.entries(store, run_id)
    holder = lock_holder(store)
    if holder is not None and holder[1] == run.plan_id:
        return run, rows
    if run.status == "running":
        run = run.model_copy(update={
            "status": RUN_DIED,
            "message": "the process applying it died; finish it with --resume (or roll it "
                       "back)"})
    rows = [e.model_copy(update={"state": JournalState.POSSIBLY_CHANGED,
                                 "message": journal.DIED_WHILE_RUNNING})
            if e.state is JournalState.RUNNING else e for e in rows]
    return run, rows


def _resumable(store: Store, plan: Plan) -> ApplyRun | None:
    for run in journal.apply_runs(store, plan.digest):
        if any(not e.state.done for e in journal.entries(store, run.id)):
            return run
    return None


def apply_plan(
    plan: Plan,
    store: Store,
    executor: Executor,
    targets: Targets,
    options: RolloutOptions,
    *,
    actor: str,
    policy: Policy | None = None,
    clock: Callable[[], datetime] = utcnow,
    progress: RolloutProgress | None = None,
    command: str = "apply",
) -> ApplyReport:
    """Gate, then run the approved actions with canary/batches/threshold, journaling all."""
    t_start = time.perf_counter()
    with apply_lock(store, plan), tempfile.TemporaryDirectory(
            prefix="inspectorctl-run-") as private:
        require_intact_audit_log(store)
        gate = _gate(plan, store, clock(), policy, options, actor, command)
        approved = set(gate.approved_ids)
        actions = [a for a in plan.actions if a.id in approved]
        try:
            staged = stage_playbooks({a.playbook: a.playbook_digest for a in actions},
                                     Path(private))
        except PlaybookChanged as e:
            result = gate.model_copy(update={"problems": [Refusal(
                kind=RefusalKind.PLAYBOOK_CHANGED, message=str(e))]})
            raise refuse(store, result, actor, clock(), command=command) from e
        return _apply_gated(plan, store, executor, targets, options, actor=actor,
                            clock=clock, progress=progress, gate=gate, staged=staged,
                            t_start=t_start)


def _apply_gated(
    plan: Plan,
    store: Store,
    executor: Executor,
    targets: Targets,
    options: RolloutOptions,
    *,
    actor: str,
    clock: Callable[[], datetime],
    progress: RolloutProgress | None,
    gate: GateResult,
    staged: Path,
    t_start: float,
) -> ApplyReport:
    approved = set(gate.approved_ids)
    actions = [a for a in plan.actions if a.id in approved]
    # a module or filter the installation lacks is reported before any host is touched
    catalog.require_plugins(a.playbook for a in actions)
    kind = "rollback" if plan.kind is PlanKind.ROLLBACK else "apply"
    resumed = False
    if options.resume:
        prior = _resumable(store, plan)
        if prior is None:
            raise InputError(f"nothing to resume: no unfinished apply of plan {plan.plan_id} "
                             f"(digest {plan.digest[:12]}) in {store.path}")
        run_id = prior.id
        _, died = journal.reset_for_resume(store, run_id)
        journal.set_run_status(store, run_id, "running")
        resumed = True
    else:
        died = set()
        run_id = new_apply_id(kind)
        hosts = sorted({h for a in actions for h in a.hosts})
        rows: list[JournalEntry] = []
        for seq, (phase, phase_hosts) in enumerate(phases(hosts, options.canary,
                                                          options.batch_size)):
            for a in actions:
                for h in a.hosts:
                    if h in phase_hosts:
                        rows.append(JournalEntry(run_id=run_id, action_id=a.id, host=h,
                                                 playbook=a.playbook,
                                                 state=JournalState.PENDING, phase=phase,
                                                 seq=seq))
        run = ApplyRun(
            id=run_id, kind=kind, plan_id=plan.plan_id, plan_digest=plan.digest,
            status="running", started_at=clock(), rollback_of=plan.rollback_of,
            options={"canary": options.canary,
                     "batch_size": str(options.batch_size) if options.batch_size else None,
                     "max_errors": str(options.max_errors), "actor": actor})
        journal.create_apply_run(store, run, plan, rows)
    not_approved = [v.action_id for v in gate.unapproved]
    audit.record(store, AuditEvent.ROLLBACK_START if kind == "rollback" else
                 AuditEvent.APPLY_START, actor, clock(), plan_id=plan.plan_id,
                 plan_digest=plan.digest, run_id=run_id,
                 detail={"actions": sorted(approved), "not_approved": not_approved,
                         "resume": resumed,
                         "possibly_changed": sorted(f"{a}@{h}" for a, h in died),
                         "approvers": {v.action_id: v.auto or v.approvers
                                                          for v in gate.verdicts if v.approved},
                         "rollback_of": plan.rollback_of})
    exec_run_id = plan.rollback_of if plan.kind is PlanKind.ROLLBACK and plan.rollback_of \
        else run_id
    try:
        stopped, reason, ansible_s, calls = _execute(
            plan, store, executor, targets, options, run_id, exec_run_id, approved, clock,
            progress, staged, died)
    except KeyboardInterrupt:
        journal.finish_apply_run(store, run_id, "interrupted", clock(),
                                 "interrupted; finish it with --resume")
        audit.record(store, AuditEvent.ROLLBACK_END if kind == "rollback" else
                     AuditEvent.APPLY_END, actor, clock(), plan_id=plan.plan_id,
                     plan_digest=plan.digest, run_id=run_id, detail={"status": "interrupted"})
        raise
    entries = journal.entries(store, run_id)
    status = ("stopped" if stopped else
              "completed" if all(e.state.done for e in entries) else "failed")
    journal.finish_apply_run(store, run_id, status, clock(), reason)
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.state.value] = counts.get(e.state.value, 0) + 1
    audit.record(store, AuditEvent.ROLLBACK_END if kind == "rollback" else AuditEvent.APPLY_END,
                 actor, clock(), plan_id=plan.plan_id, plan_digest=plan.digest, run_id=run_id,
                 detail={"status": status, "states": counts, "stop_reason": reason})
    return ApplyReport(
        run_id=run_id, plan_id=plan.plan_id, plan_digest=plan.digest, gate=gate,
        entries=entries, stopped=stopped, stop_reason=reason, resumed=resumed,
        applied_actions=[a.id for a in actions], not_approved=not_approved,
        ansible_seconds=ansible_s, total_seconds=time.perf_counter() - t_start,
        executor_calls=calls,
    )


def _execute(
    plan: Plan,
    store: Store,
    executor: Executor,
    targets: Targets,
    options: RolloutOptions,
    run_id: str,
    exec_run_id: str,
    approved: set[str],
    clock: Callable[[], datetime],
    progress: RolloutProgress | None,
    staged: Path,
    died: set[tuple[str, str]],
) -> tuple[bool, str, float, int]:
    entries = journal.entries(store, run_id)
    total_hosts = len({e.host for e in entries})
    limit = options.max_errors.of(total_hosts)
    by_action = {a.id: a for a in plan.actions}
    ids = machine_ids(plan)
    keys = host_keys(plan)
    failed_hosts: set[str] = set()
    ansible_s = 0.0
    calls = 0
    #: (action, host) rows this call has run to an end (a row that died before, run again,
    #: may end possibly_changed: it is not run a third time)
    done: set[tuple[str, str]] = set()
    run_many = getattr(executor, "run_many", None)

    def stop_if_over(phase: str) -> str:
        if len(failed_hosts) <= limit:
            return ""
        reason = (f"stopped: {len(failed_hosts)} host(s) failed "
                  f"({', '.join(sorted(failed_hosts))}), more than --max-errors "
                  f"{options.max_errors} allows")
        journal.skip_remaining(store, run_id, clock(), reason)
        if progress is not None:
            progress(RolloutEvent(phase=phase, message=reason))
        return reason

    for seq in sorted({e.seq for e in entries}):
        announced = False
        while True:  # rounds: a row a run of several actions did not reach runs in the next
            phase_rows = [e for e in journal.entries(store, run_id)
                          if e.seq == seq and e.action_id in approved
                          and (e.action_id, e.host) not in done
                          and (e.state is JournalState.PENDING
                               or (e.action_id, e.host) in died)]
            if not phase_rows:
                break
            phase = phase_rows[0].phase
            if progress is not None and not announced:
                progress(RolloutEvent(phase=phase))
                announced = True
            for group in _groups(plan, phase_rows):
                hosts = group[0][1]
                if run_many is None or len(group) == 1:
                    for action, action_hosts in group:
                        seconds = _run_action(store, executor, targets, run_id, exec_run_id,
                                              by_action[action.id], action_hosts, phase,
                                              failed_hosts, clock, progress, staged, ids,
                                              keys, {h for a, h in died if a == action.id})
                        done.update((action.id, h) for h in action_hosts)
                        ansible_s += seconds
                        calls += 1
                        reason = stop_if_over(phase)
                        if reason:
                            return True, reason, ansible_s, calls
                    continue
                seconds, reason = _run_together(
                    store, run_many, targets, run_id, exec_run_id,
                    [by_action[a.id] for a, _ in group], hosts, phase, failed_hosts, clock,
                    progress, staged, ids, keys, died, done, limit, stop_if_over)
                ansible_s += seconds
                calls += 1
                if reason:
                    return True, reason, ansible_s, calls
    return False, "", ansible_s, calls


def _groups(plan: Plan, rows: list[JournalEntry]) -> list[list[tuple[Action, list[str]]]]:
    """The phase's actions in plan order with their hosts, consecutive actions on the same
    hosts grouped (they run in one executor call when the executor can)."""
    out: list[list[tuple[Action, list[str]]]] = []
    for action in plan.actions:
        hosts = sorted({e.host for e in rows if e.action_id == action.id})
        if not hosts:
            continue
        if out and out[-1][0][1] == hosts:
            out[-1].append((action, hosts))
        else:
            out.append([(action, hosts)])
    return out


def _run_together(
    store: Store,
    run_many: Callable[..., list[ExecResult]],
    targets: Targets,
    run_id: str,
    exec_run_id: str,
    actions: list[Action],
    hosts: list[str],
    phase: str,
    failed_hosts: set[str],
    clock: Callable[[], datetime],
    progress: RolloutProgress | None,
    staged: Path,
    ids: dict[str, str],
    keys: dict[str, list[str]],
    died: set[tuple[str, str]],
    done: set[tuple[str, str]],
    limit: int,
    stop_if_over: Callable[[str], str],
) -> tuple[float, str]:
    """Several actions on the same hosts in one executor run; each action's results are
    recorded (and the error threshold checked) in plan order, as if each had run alone. Rows
    the run did not reach go back to pending for the next round (or the threshold's skip)."""
    t0 = time.perf_counter()
    for action in actions:
        journal.mark_running(store, run_id, action.id, hosts, clock())
    requests = [ExecRequest(playbook=a.playbook, hosts=hosts, items=a.items, run_id=exec_run_id,
                            targets=targets, playbooks_root=staged,
                            machine_ids={h: ids[h] for h in hosts if h in ids},
                            host_keys={h: keys[h] for h in hosts if h in keys})
                for a in actions]
    t1 = time.perf_counter()
    results: list[ExecResult] | None
    try:
        results = run_many(requests, tolerate=max(0, limit - len(failed_hosts)),
                           failed_before=sorted(failed_hosts))
        error = ""
    except ExecutorError as e:
        results, error = None, str(e)
    t2 = time.perf_counter()
    whole = sum(r.seconds for r in results) if results is not None else t2 - t1
    overhead = ((t1 - t0) + max(0.0, (t2 - t1) - whole)) / len(actions)
    # everything the run did is recorded (a host it changed is journaled whatever comes
    # next); what it did not reach goes back to pending; then the threshold, once: the
    # executor already stopped starting actions where the threshold would have
    for i, action in enumerate(actions):
        result = results[i] if results is not None else None
        skipped = set(result.not_reached) if result is not None else set()
        if skipped:
            journal.unmark_running(store, run_id, action.id, sorted(skipped))
        ran = [h for h in hosts if h not in skipped]
        if not ran:
            continue
        _record(store, run_id, action, ran, phase, failed_hosts, clock, progress, result,
                error, {h for a, h in died if a == action.id}, overhead,
                result.seconds if result is not None else whole)
        done.update((action.id, h) for h in ran)
    return whole, stop_if_over(phase)


def _record(store: Store, run_id: str, action: Action, hosts: list[str], phase: str,
            failed_hosts: set[str], clock: Callable[[], datetime],
            progress: RolloutProgress | None, result: ExecResult | None, error: str,
            possibly: set[str], overhead: float, seconds: float) -> None:
    """One action's results on ``hosts`` into the journal (and the failed hosts)."""
    updates: list[HostUpdate] = []
    for h in hosts:
        rc: int | None = None
        stats: dict[str, int] = {}
        if result is None:
            st, msg = JournalState.FAILED, error
        else:
            out = result.hosts.get(h)
            if out is None:
                st, msg = JournalState.FAILED, "the executor returned no result"
            else:
                st, stats, msg = _STATE[out.status], dict(out.stats), out.message
                if st is JournalState.OK and h in possibly:
                    st = JournalState.POSSIBLY_CHANGED
                    msg = ("possibly changed by the attempt that died while it ran; this run "
                           "found nothing left to change")
            rc = result.rc
        if st.failure:
            failed_hosts.add(h)
        updates.append(HostUpdate(host=h, state=st, rc=rc, stats=stats, message=msg,
                                          ansible_seconds=seconds,
                                          overhead_seconds=overhead))
    journal.record_results(store, run_id, action.id, updates, clock())
    if progress is not None:
        for u in updates:
            progress(RolloutEvent(phase=phase, action_id=action.id, playbook=action.playbook,
                                  host=u.host, state=u.state, message=u.message))


def _run_action(
    store: Store,
    executor: Executor,
    targets: Targets,
    run_id: str,
    exec_run_id: str,
    action: Action,
    hosts: list[str],
    phase: str,
    failed_hosts: set[str],
    clock: Callable[[], datetime],
    progress: RolloutProgress | None,
    staged: Path,
    ids: dict[str, str],
    keys: dict[str, list[str]],
    possibly: set[str],
) -> float:
    t0 = time.perf_counter()
    journal.mark_running(store, run_id, action.id, hosts, clock())
    request = ExecRequest(playbook=action.playbook, hosts=hosts, items=action.items,
                          run_id=exec_run_id, targets=targets, playbooks_root=staged,
                          machine_ids={h: ids[h] for h in hosts if h in ids},
                          host_keys={h: keys[h] for h in hosts if h in keys})
    t1 = time.perf_counter()
    error = ""
    try:
        result: ExecResult | None = executor.run(request)
    except ExecutorError as e:
        result = None
        error = str(e)
    t2 = time.perf_counter()
    seconds = result.seconds if result is not None else t2 - t1
    overhead = (t1 - t0) + max(0.0, (t2 - t1) - seconds)
    _record(store, run_id, action, hosts, phase, failed_hosts, clock, progress, result, error,
            possibly, overhead, seconds)
    return seconds

