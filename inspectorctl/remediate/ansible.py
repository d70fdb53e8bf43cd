"""AnsibleExecutor: run a catalogue playbook through ansible-runner and read the result as data.

Each call gets its own private data dir (a temp dir, removed afterwards unless
``keep_artifacts``). The playbook runs from ``request.playbooks_root`` (the rollout's approved,
digest-checked private copy) or else the catalogue, with ``ANSIBLE_ROLES_PATH`` at its
``roles``; the hosts are the request's hosts (``--limit``). ``items`` and
``inspectorctl_run_id`` travel in an extra-vars file where every string is tagged ``!unsafe``,
so Ansible never templates data (a ``{{ lookup('pipe', ...) }}`` in a tailoring value stays
text). The playbook is imported by a wrapper whose first play reads ``/etc/machine-id`` of
every host with a recorded identity and fails the hosts that are another machine, so they
never reach the remediation; for a host assessed over SSH it also reads the public host keys
(``/etc/ssh/ssh_host_*_key.pub``) and fails the host when their SHA-256 digests are not the
recorded fingerprints'. Per-host outcomes come from the runner's ``stats``
(ok/changed/failures/dark) and failure messages and diffs from the events, which the event
handler keeps by returning True; what ``package_upgrade`` reports its repositories offer
(``vulnfix.py``) becomes the message of a host that did not fail.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import difflib
import json
import os
import re
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from inspectorctl.remediate import _supervise
from inspectorctl.remediate.catalog import PLAYBOOK_ID_RE, playbooks_root
from inspectorctl.remediate.interface import (
    ExecProgress,
    ExecRequest,
    ExecResult,
    ExecutorError,
    HostOutcome,
    HostStatus,
)
from inspectorctl.remediate.vulnfix import OFFERS_FACT, UPGRADES_FACT, offers_message
from inspectorctl.runner import ansible_bin_dir, ansible_env, never_cancel, stdout_tail

_EVENTS = {
    "runner_on_start": "started",
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}


def render_diff(diff: Any) -> str:
    """Ansible's ``diff`` result (a dict, a list of dicts, or ``prepared`` text) as text."""
    if isinstance(diff, list):
        return "".join(render_diff(d) for d in diff)
    if not isinstance(diff, Mapping):
        return ""
    if diff.get("prepared"):
        text = str(diff["prepared"])
        return text if text.endswith("\n") else text + "\n"
    before, after = diff.get("before"), diff.get("after")
    if before is None and after is None:
        return ""
    if not isinstance(before, str) or not isinstance(after, str):
        before, after = _state_text(before), _state_text(after)
    if before == after:
        return ""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile=str(diff.get("before_header") or "before"),
        tofile=str(diff.get("after_header") or "after"))
    text = "".join(ln if ln.endswith("\n") else ln + "\n" for ln in lines)
    return text


def result_diffs(res: Mapping[str, Any]) -> list[Any]:
    """A task result's diffs: its own, or those of its loop items (a looped ``file`` task
    reports one per item, under ``results``)."""
    if res.get("diff"):
        return [res["diff"]]
    items = res.get("results")
    if not isinstance(items, list):
        return []
    return [r["diff"] for r in items if isinstance(r, Mapping) and r.get("diff")]


def _state_text(v: Any) -> str:
    if isinstance(v, Mapping):
        return "".join(f"{k}: {v[k]}\n" for k in sorted(v))
    return "" if v is None else f"{v}\n"


def _failure(res: Mapping[str, Any], task: str) -> str:
    msg = str(res.get("msg") or "").strip()
    items = res.get("results")
    if isinstance(items, list):  # a loop: say which item failed and why
        bad = [r for r in items if isinstance(r, Mapping) and r.get("failed")]
        if bad:
            first = bad[0]
            item = first.get("item")
            while isinstance(item, Mapping):  # nested loops carry the item inside
                item = item.get("path") or item.get("item") or (item.get("stat") or {}
                                                                ).get("path") or "?"
            label = str(item)[:120]
            msg = (f"{msg}: item {label}: "
                   f"{str(first.get('msg') or first.get('stderr') or '').strip()}")
    parts = [msg] if msg else []
    for key in ("stderr", "module_stderr"):
        text = str(res.get(key) or "").strip()
        if text:
            parts.append(" | ".join(ln for ln in text.splitlines()[-3:] if ln.strip()))
    detail = "; ".join(parts) or "failed without a message"
    return f"task {task!r}: {detail}" if task else detail


class AnsibleExecutor:
    name = "ansible"

    def __init__(
        self,
        *,
        keep_artifacts: bool = False,
        extra_env: Mapping[str, str] | None = None,
        timeout: int = 1800,
    ) -> None:
        self.keep_artifacts = keep_artifacts
        self.extra_env = dict(extra_env or {})
        self.timeout = timeout
        self.last_private_data_dir: Path | None = None

    def _env(self, bin_dir: Path, pdd: Path, request: ExecRequest) -> dict[str, str]:
        env = ansible_env(bin_dir, pdd, request.targets.timeout,
                          roles_path=(request.playbooks_root or playbooks_root()) / "roles",
                          extra=self.extra_env)
        # the supervisor (see _supervise.py) is the ansible-playbook ansible-runner finds
        env["PATH"] = f"{pdd / 'bin'}{os.pathsep}{env['PATH']}"
        env[_supervise.REAL_ENV] = str(bin_dir / "ansible-playbook")
        env[_supervise.PARENT_ENV] = str(os.getpid())
        env[_supervise.PIDFILE_ENV] = str(pdd / "supervisor.pid")
        return env

    def run(self, request: ExecRequest, progress: ExecProgress | None = None) -> ExecResult:
        return self.run_many([request], progress=progress)[0]

    def run_many(self, requests: Sequence[ExecRequest], *, tolerate: int | None = None,
                 failed_before: Sequence[str] = (),
                 progress: ExecProgress | None = None) -> list[ExecResult]:
        """Run several actions on the same hosts in ONE ansible-playbook run, in order: the
        identity check, then for each action a marker play and the (approved copy of the)
        playbook with that action's items. One result per request, each host's outcome from
        that action's own events; as in separate runs, every action is reported on its own.

        A host that fails (or cannot be reached) gets none of the later actions of the run:
        its later results are left out of ``hosts`` and named in ``not_reached`` (the rollout
        runs them again, or skips them at its error threshold). ``tolerate``: the number of
        hosts that may fail before the later actions stop starting on every host (the
        rollout's remaining error budget), not counting ``failed_before`` (hosts the rollout
        already counts as failed); None: no limit."""
        if not requests:
            return []
        first = requests[0]
        for r in requests[1:]:
            same = (r.hosts == first.hosts and r.run_id == first.run_id
                    and r.targets == first.targets and r.check == first.check
                    and r.diff == first.diff and r.playbooks_root == first.playbooks_root
                    and r.machine_ids == first.machine_ids
                    and r.host_keys == first.host_keys)
            if not same:
                raise ExecutorError("actions run together must share hosts, run, targets, "
                                    "mode and identities")
        bin_dir = ansible_bin_dir()
        if bin_dir is None:
            raise ExecutorError("ansible-playbook not found: install ansible-core")
        root = first.playbooks_root or playbooks_root()
        books: list[Path] = []
        for r in requests:
            if not PLAYBOOK_ID_RE.match(r.playbook):
                raise ExecutorError(f"{r.playbook!r} is not a playbook name of the catalogue")
            playbook = root / r.playbook / "playbook.yml"
            if not playbook.is_file():
                raise ExecutorError(f"playbook {r.playbook} not found at {playbook}")
            books.append(playbook)
        inventory = first.targets.inventory
        if inventory is None:
            raise ExecutorError("no inventory: an apply needs the inventory the hosts were "
                                "assessed through (give --inventory)")
        if not Path(inventory).is_file():
            raise ExecutorError(f"{inventory}: no such inventory file")
        if not first.hosts:
            return [ExecResult(status="successful", rc=0, hosts={}, seconds=0.0)
                    for _ in requests]
        pdd = Path(tempfile.mkdtemp(prefix="inspectorctl-apply-"))
        (pdd / "tmp").mkdir()
        write_supervisor(pdd / "bin")
        self.last_private_data_dir = pdd
        try:
            return self._run(list(requests), progress, bin_dir, pdd, books, Path(inventory),
                             tolerate, list(failed_before))
        finally:
            if not self.keep_artifacts:
                shutil.rmtree(pdd, ignore_errors=True)

    def _run(self, requests: list[ExecRequest], progress: ExecProgress | None, bin_dir: Path,
             pdd: Path, books: list[Path], inventory: Path, tolerate: int | None,
             failed_before: list[str]) -> list[ExecResult]:
        import ansible_runner

        first = requests[0]
        hosts = set(first.hosts)
        names = [str(r.playbook) for r in requests]
        seen = _Seen(len(requests))

        def on_event(event: dict[str, Any]) -> bool:
            name = str(event.get("event", ""))
            data = event.get("event_data") or {}
            if name == "playbook_on_play_start":
                seen.play_start(str(data.get("play") or data.get("name") or ""))
                return True
            kind = _EVENTS.get(name)
            if kind is None:
                return True
            host = str(data.get("host") or "")
            if host not in hosts:
                return True
            raw = data.get("res")
            res: dict[str, Any] = raw if isinstance(raw, dict) else {}
            seen.result(host, kind, str(data.get("task") or ""), res,
                        bool(data.get("ignore_errors")))
            if progress is not None and kind in ("started", "failed", "unreachable"):
                progress(host, kind)
            return True  # keep the event (None/False would drop it)

        vars_file = pdd / "inspectorctl-vars.yml"
        vars_file.write_text(unsafe_yaml({
            "inspectorctl_items": [list(r.items) for r in requests],
            "inspectorctl_failed_before": sorted(failed_before),
            "inspectorctl_machine_ids": {h: first.machine_ids[h] for h in first.hosts
                                         if h in first.machine_ids},
            "inspectorctl_host_keys": {h: host_key_check(first.host_keys[h])
                                       for h in first.hosts
                                       if first.host_keys.get(h)}}), encoding="utf-8")
        wrapper = pdd / "inspectorctl-run.yml"
        wrapper.write_text(combined_wrapper(books, tolerate), encoding="utf-8")
        # the run id is ours (letters, digits, '-'): a plain extra var; the data goes unsafe
        cmdline = ["--extra-vars", shlex.quote(f"@{vars_file}"), "--extra-vars",
                   shlex.quote(json.dumps({"inspectorctl_run_id": first.run_id}))]
        if first.check:
            cmdline.append("--check")
        if first.diff or first.check:
            cmdline.append("--diff")
        if first.targets.become:
            cmdline.append("--become")
        t0 = time.perf_counter()
        try:
            runner = _run_supervised(pdd, lambda: ansible_runner.run(
                private_data_dir=str(pdd),
                playbook=str(wrapper),
                inventory=str(inventory.resolve()),
                limit=",".join(first.hosts),
                cmdline=" ".join(cmdline),
                forks=first.targets.forks,
                envvars=self._env(bin_dir, pdd, first),
                quiet=True,
                event_handler=on_event,
                timeout=self.timeout,
                ident="apply",
                cancel_callback=never_cancel,
            ))
        except Exception as e:
            raise ExecutorError(f"ansible-runner could not run playbook "
                                f"{', '.join(names)}: {e}") from e
        seconds = time.perf_counter() - t0
        seen.finish()
        status = str(getattr(runner, "status", "unknown"))
        rc = getattr(runner, "rc", None)
        results: list[ExecResult] = []
        for i, _r in enumerate(requests):
            outcomes: dict[str, HostOutcome] = {}
            not_reached: list[str] = []
            for host in first.hosts:
                out = seen.outcome(i, host)
                if out is None:
                    not_reached.append(host)
                    continue
                st, counts, msg, diff = out
                if st is None:
                    st, msg = HostStatus.FAILED, (
                        f"ansible did not run {names[i]} on this host (status {status}, rc "
                        f"{rc}): " + stdout_tail(runner))
                outcomes[host] = HostOutcome(host=host, status=st, stats=counts, message=msg,
                                             diff=diff)
                if progress is not None:
                    progress(host, st.value)
            results.append(ExecResult(
                status=status, rc=rc if isinstance(rc, int) else None, hosts=outcomes,
                seconds=seen.seconds(i, seconds), not_reached=not_reached))
        return results


#: the name of the play before each action (``_Seen`` splits the run's events by it)
_MARKER = "inspectorctl action {i} of {n}"
_MARKER_RE = re.compile(r"^inspectorctl action (\d+) of \d+$")
_IDENTITY_PLAY = "inspectorctl checks each host is the machine that was assessed"
_THRESHOLD_TASK = "inspectorctl stops at the error threshold"
_COUNTS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")


class _Seen:
    """The events of one run, split by action: segment -1 is the identity check, segment i
    the marker play and the plays of action i."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.segment = -1
        self.started_at: dict[int, float] = {}
        self.ended_at = 0.0
        self.counts: dict[tuple[int, str], dict[str, int]] = {}
        self.messages: dict[tuple[int, str], str] = {}
        self.diffs: dict[tuple[int, str], list[str]] = {}
        #: what package_upgrade reported its repositories offer (vulnfix.py)
        self.offers: dict[tuple[int, str], str] = {}
        self.touched: set[tuple[int, str]] = set()
        #: tasks started and tasks that ended, per (segment, host): more started than ended
        #: means the run was cut in the middle of a task (timeout, cancel)
        self.started: dict[tuple[int, str], int] = {}
        self.ended: dict[tuple[int, str], int] = {}
        self.last_task: dict[tuple[int, str], str] = {}
        self.threshold_at: int | None = None

    def play_start(self, name: str) -> None:
        m = _MARKER_RE.match(name)
        if m is not None and int(m.group(1)) < self.n:
            self.segment = int(m.group(1))
            self.started_at[self.segment] = time.perf_counter()
        elif name == _IDENTITY_PLAY:
            self.segment = -1

    def result(self, host: str, kind: str, task: str, res: dict[str, Any],
               ignored: bool) -> None:
        key = (self.segment, host)
        if task == _THRESHOLD_TASK:
            if kind == "failed" and self.threshold_at is None:
                self.threshold_at = self.segment
            return
        self.touched.add(key)
        counts = self.counts.setdefault(key, dict.fromkeys(_COUNTS, 0))
        if kind == "started":
            self.started[key] = self.started.get(key, 0) + 1
            self.last_task[key] = task
            return
        self.ended[key] = self.ended.get(key, 0) + 1
        if kind == "ok":
            counts["ok"] += 1
            if res.get("changed"):
                counts["changed"] += 1
            facts = res.get("ansible_facts")
            if isinstance(facts, dict) and OFFERS_FACT in facts:
                self.offers[key] = offers_message(facts[OFFERS_FACT], facts.get(UPGRADES_FACT))
            diffs = result_diffs(res)
            text = render_diff(diffs) if diffs else ""
            if text:
                self.diffs.setdefault(key, []).append(f"# {task}\n{text}" if task else text)
        elif kind == "failed":
            if ignored:
                counts["ignored"] += 1
            else:
                counts["failures"] += 1
                self.messages.setdefault(key, _failure(res, task))
        elif kind == "unreachable":
            counts["dark"] += 1
            self.messages.setdefault(key, str(res.get("msg") or "unreachable").strip())
        elif kind == "skipped":
            counts["skipped"] += 1

    def finish(self) -> None:
        self.ended_at = time.perf_counter()

    def seconds(self, i: int, whole: float) -> float:
        """Wall time of action i's plays (the whole run when there is one action)."""
        if self.n == 1 or i not in self.started_at:
            return whole if self.n == 1 else 0.0
        later = [t for j, t in self.started_at.items() if j > i]
        return max(0.0, (min(later) if later else self.ended_at) - self.started_at[i])

    def _failed_in(self, seg: int, host: str) -> bool:
        c = self.counts.get((seg, host))
        return bool(c and (c["failures"] or c["dark"]))

    def outcome(self, i: int, host: str
                ) -> tuple[HostStatus | None, dict[str, int], str, str] | None:
        """Action i on host: (status, counts, message, diff); status None when it should have
        run and did not (the run ended); None when it was not reached (the host failed an
        earlier action of the run, or the error threshold stopped the run)."""
        if self._failed_in(-1, host):
            # not the assessed machine, or unreachable: the first action fails so, the later
            # ones were not reached (as separate runs would have it)
            if i > 0:
                return None
            c = self.counts[(-1, host)]
            st = HostStatus.UNREACHABLE if c["dark"] else HostStatus.FAILED
            return st, dict(c), self.messages.get((-1, host), ""), ""
        key = (i, host)
        if key not in self.touched:
            if any(self._failed_in(j, host) for j in range(i)):
                return None
            if self.threshold_at is not None and self.threshold_at <= i:
                return None
            return None, dict.fromkeys(_COUNTS, 0), "", ""
        c = self.counts.get(key, dict.fromkeys(_COUNTS, 0))
        if self.started.get(key, 0) > self.ended.get(key, 0) and not (c["dark"] or
                                                                        c["failures"]):
            return (HostStatus.FAILED, dict(c),
                    f"the run ended during task {self.last_task.get(key, '')!r}: the host may "
                    "have been changed part-way", "".join(self.diffs.get(key, [])))
        if c["dark"]:
            st = HostStatus.UNREACHABLE
        elif c["failures"]:
            st = HostStatus.FAILED
        elif c["changed"]:
            st = HostStatus.CHANGED
        else:
            st = HostStatus.OK
        return (st, dict(c), self.messages.get(key, "") or self.offers.get(key, ""),
                "".join(self.diffs.get(key, [])))


def combined_wrapper(books: Sequence[Path], tolerate: int | None) -> str:
    """The playbook Ansible runs: the identity check, then per action a marker play (which
    stops every host once more hosts failed than ``tolerate``) and the action's playbook with
    its own items."""
    n = len(books)
    parts = [_IDENTITY]
    for i, book in enumerate(books):
        tasks = "  tasks: []\n"
        if tolerate is not None and i > 0:
            tasks = (
                "  tasks:\n"
                f"    - name: {_THRESHOLD_TASK}\n"
                "      ansible.builtin.fail:\n"
                "        msg: >-\n"
                "          more hosts failed than the error threshold allows: this action and\n"
                "          the later ones do not start\n"
                "      when: >-\n"
                "        (ansible_play_hosts_all | difference(ansible_play_hosts)\n"
                "         | difference(inspectorctl_failed_before) | length)\n"
                f"        > {int(tolerate)}\n")
        parts.append(
            f"- name: {_MARKER.format(i=i, n=n)}\n"
            "  hosts: all\n"
            "  gather_facts: false\n"
            + tasks + "\n"
            f"- name: The approved remediation {i}\n"
            f"  ansible.builtin.import_playbook: {json.dumps(str(book.resolve()))}\n"
            "  vars:\n"
            f"    items: \"{{{{ inspectorctl_items[{i}] }}}}\"\n")
    return "\n".join(parts)


def host_key_check(fingerprints: list[str]) -> dict[str, list[str]]:
    """What the identity play compares a host's keys with: ``sha256``, the hex digests of the
    recorded keys (what the play computes from the keys it reads: Jinja2 has sha256 but no
    base64 of a digest), and ``shown``, the ``SHA256:`` fingerprints for the message."""
    hexes = []
    for fp in fingerprints:
        if not fp.startswith("SHA256:"):
            raise ExecutorError(f"recorded SSH host key fingerprint {fp!r} is not SHA256:...")
        try:
            digest = base64.b64decode(fp[len("SHA256:"):] + "=", validate=True)
        except (binascii.Error, ValueError) as e:
            raise ExecutorError(f"recorded SSH host key fingerprint {fp!r} is not "
                                "base64") from e
        hexes.append(digest.hex())
    return {"sha256": sorted(set(hexes)), "shown": sorted(set(fingerprints))}


def write_supervisor(bin_dir: Path) -> Path:
    """``bin_dir/ansible-playbook``: runs the supervisor with this Python."""
    bin_dir.mkdir(mode=0o700)
    path = bin_dir / "ansible-playbook"
    path.write_text(f"#!{sys.executable}\nfrom inspectorctl.remediate._supervise import main\n"
                    "raise SystemExit(main())\n", encoding="utf-8")
    path.chmod(0o700)
    return path


def kill_supervised(pdd: Path) -> None:
    """Kill the process group of a run's supervisor (ansible-playbook and its children)."""
    try:
        pid = int((pdd / "supervisor.pid").read_text(encoding="ascii"))
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _run_supervised(pdd: Path, run: Callable[[], Any]) -> Any:
    """``run()``; when it is abandoned (an exception, Ctrl-C) the ansible-playbook it started
    is killed with its whole process group (when the orchestrator itself dies, the
    supervisor's death signal does it)."""
    try:
        return run()
    except BaseException:
        kill_supervised(pdd)
        raise


class _UnsafeMap(dict[str, Any]):
    """A mapping written with Ansible's ``!unsafe`` tag."""


class _UnsafeSeq(list[Any]):
    """A sequence written with Ansible's ``!unsafe`` tag."""


class _UnsafeDumper(yaml.SafeDumper):
    pass


_UnsafeDumper.add_representer(
    _UnsafeMap, lambda d, v: d.represent_mapping("!unsafe", dict(v)))
_UnsafeDumper.add_representer(
    _UnsafeSeq, lambda d, v: d.represent_sequence("!unsafe", list(v)))


def unsafe_yaml(data: Mapping[str, Any]) -> str:
    """Extra vars as YAML where every top-level value is a mapping or a sequence tagged
    ``!unsafe``: Ansible marks everything inside as unsafe for templating (ansible-core 2.19
    propagates the tag through the subtree, earlier versions wrap it with ``wrap_var``), so
    no Jinja2 in the data is ever evaluated. The tag goes on containers, never on scalars:
    2.19 re-resolves a tagged scalar's type, which would turn a quoted ``'no'`` into false."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, Mapping):
            out[str(k)] = _UnsafeMap(v)
        elif isinstance(v, list | tuple):
            out[str(k)] = _UnsafeSeq(v)
        else:
            raise TypeError(f"extra var {k}: only mappings and lists are written ({v!r})")
    return str(yaml.dump(out, Dumper=_UnsafeDumper, allow_unicode=True,
                         default_flow_style=False, sort_keys=True))


#: the first play of every run: hosts that are not the assessed machine fail here, so they
#: never reach an action
_IDENTITY = """\
- name: inspectorctl checks each host is the machine that was assessed
  hosts: all
  gather_facts: false
  tasks:
    - name: Read /etc/machine-id and the SSH host keys
      ansible.builtin.command:
        argv:
          - sh
          - -c
          - >-
            if [ -r /etc/machine-id ]; then printf 'mid %s\\n' "$(cat /etc/machine-id)"; fi;
            awk 'FNR == 1 {print "key " $2}' /etc/ssh/ssh_host_*_key.pub 2>/dev/null; exit 0
      register: inspectorctl_identity
      check_mode: false
      changed_when: false
      failed_when: false
      when: >-
        inventory_hostname in inspectorctl_machine_ids
        or inventory_hostname in inspectorctl_host_keys
    - name: Refuse a host that is another machine
      ansible.builtin.fail:
        msg: >-
          identity mismatch: the machine reached as {{ inventory_hostname }} has machine-id
          {{ inspectorctl_mid }}, but the plan's assessment recorded
          {{ inspectorctl_machine_ids[inventory_hostname] }} for it; nothing was changed on
          it. Check the inventory entry of {{ inventory_hostname }} (it reaches another
          machine), then assess and plan again
      vars:
        inspectorctl_mid: >-
          {{ inspectorctl_identity.stdout_lines | select('match', '^mid ')
             | map('regex_replace', '^mid ', '') | map('trim') | first | default('(unreadable)') }}
      when: >-
        inventory_hostname in inspectorctl_machine_ids and
        inspectorctl_mid != inspectorctl_machine_ids[inventory_hostname]
    - name: Refuse a host whose SSH host keys are others
      ansible.builtin.fail:
        msg: >-
          identity mismatch: the machine reached as {{ inventory_hostname }} has other SSH
          host keys than the plan's assessment recorded for it
          ({{ inspectorctl_host_keys[inventory_hostname].shown | join(', ') }}); nothing was
          changed on it. Check the inventory entry of {{ inventory_hostname }} (it reaches
          another machine, or the host's keys were replaced), then assess and plan again
      when: >-
        inventory_hostname in inspectorctl_host_keys and
        (inspectorctl_identity.stdout_lines | select('match', '^key ')
         | map('regex_replace', '^key ', '') | map('trim') | select | map('b64decode')
         | map('hash', 'sha256') | unique | sort | list)
        != inspectorctl_host_keys[inventory_hostname].sha256
"""
