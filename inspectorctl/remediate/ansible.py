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
handler keeps by returning True.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import difflib
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
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
from inspectorctl.runner import ansible_bin_dir, ansible_env, stdout_tail

_EVENTS = {
    "runner_on_start": "started",
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
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
        bin_dir = ansible_bin_dir()
        if bin_dir is None:
            raise ExecutorError("ansible-playbook not found: install ansible-core")
        if not PLAYBOOK_ID_RE.match(request.playbook):
            raise ExecutorError(f"{request.playbook!r} is not a playbook name of the catalogue")
        root = request.playbooks_root or playbooks_root()
        playbook = root / request.playbook / "playbook.yml"
        if not playbook.is_file():
            raise ExecutorError(f"playbook {request.playbook} not found at {playbook}")
        inventory = request.targets.inventory
        if inventory is None:
            raise ExecutorError("no inventory: an apply needs the inventory the hosts were "
                                "assessed through (give --inventory)")
        if not Path(inventory).is_file():
            raise ExecutorError(f"{inventory}: no such inventory file")
        if not request.hosts:
            return ExecResult(status="successful", rc=0, hosts={}, seconds=0.0)
        pdd = Path(tempfile.mkdtemp(prefix="inspectorctl-apply-"))
        (pdd / "tmp").mkdir()
        write_supervisor(pdd / "bin")
        self.last_private_data_dir = pdd
        try:
            return self._run(request, progress, bin_dir, pdd, playbook, Path(inventory))
        finally:
            if not self.keep_artifacts:
                shutil.rmtree(pdd, ignore_errors=True)

    def _run(self, request: ExecRequest, progress: ExecProgress | None, bin_dir: Path,
             pdd: Path, playbook: Path, inventory: Path) -> ExecResult:
        import ansible_runner

        messages: dict[str, str] = {}
        diffs: dict[str, list[str]] = {}
        hosts = set(request.hosts)

        def on_event(event: dict[str, Any]) -> bool:
            kind = _EVENTS.get(str(event.get("event", "")))
            if kind is None:
                return True
            data = event.get("event_data") or {}
            host = str(data.get("host") or "")
            if host not in hosts:
                return True
            raw = data.get("res")
            res: dict[str, Any] = raw if isinstance(raw, dict) else {}
            task = str(data.get("task") or "")
            if kind == "ok" and res.get("diff"):
                text = render_diff(res["diff"])
                if text:
                    diffs.setdefault(host, []).append(f"# {task}\n{text}" if task else text)
            elif kind == "failed" and not data.get("ignore_errors"):
                messages.setdefault(host, _failure(res, task))
            elif kind == "unreachable":
                messages.setdefault(host, str(res.get("msg") or "unreachable").strip())
            if progress is not None and kind in ("started", "failed", "unreachable"):
                progress(host, kind)
            return True  # keep the event (None/False would drop it)

        vars_file = pdd / "inspectorctl-vars.yml"
        vars_file.write_text(unsafe_yaml({
            "items": list(request.items),
            "inspectorctl_machine_ids": {h: request.machine_ids[h] for h in request.hosts
                                         if h in request.machine_ids},
            "inspectorctl_host_keys": {h: host_key_check(request.host_keys[h])
                                       for h in request.hosts
                                       if request.host_keys.get(h)}}), encoding="utf-8")
        wrapper = pdd / "inspectorctl-run.yml"
        wrapper.write_text(_WRAPPER.format(playbook=json.dumps(str(playbook.resolve()))),
                           encoding="utf-8")
        # the run id is ours (letters, digits, '-'): a plain extra var; the data goes unsafe
        cmdline = ["--extra-vars", shlex.quote(f"@{vars_file}"), "--extra-vars",
                   shlex.quote(json.dumps({"inspectorctl_run_id": request.run_id}))]
        if request.check:
            cmdline.append("--check")
        if request.diff or request.check:
            cmdline.append("--diff")
        if request.targets.become:
            cmdline.append("--become")
        t0 = time.perf_counter()
        try:
            runner = _run_supervised(pdd, lambda: ansible_runner.run(
                private_data_dir=str(pdd),
                playbook=str(wrapper),
                inventory=str(inventory.resolve()),
                limit=",".join(request.hosts),
                cmdline=" ".join(cmdline),
                forks=request.targets.forks,
                envvars=self._env(bin_dir, pdd, request),
                quiet=True,
                event_handler=on_event,
                timeout=self.timeout,
                ident="apply",
            ))
        except Exception as e:
            raise ExecutorError(f"ansible-runner could not run playbook {request.playbook}: "
                                f"{e}") from e
        seconds = time.perf_counter() - t0
        status = str(getattr(runner, "status", "unknown"))
        rc = getattr(runner, "rc", None)
        stats = getattr(runner, "stats", None) or {}
        outcomes: dict[str, HostOutcome] = {}
        for host in request.hosts:
            counts = {k: int((stats.get(k) or {}).get(host, 0))
                      for k in ("ok", "changed", "failures", "dark", "skipped", "rescued",
                                "ignored")}
            processed = host in (stats.get("processed") or {})
            if counts["dark"]:
                st = HostStatus.UNREACHABLE
            elif counts["failures"] or not processed:
                st = HostStatus.FAILED
            elif counts["changed"]:
                st = HostStatus.CHANGED
            else:
                st = HostStatus.OK
            msg = messages.get(host, "")
            if not processed and not msg:
                msg = (f"ansible did not run on this host (status {status}, rc {rc}): "
                       + stdout_tail(runner))
            outcomes[host] = HostOutcome(host=host, status=st, stats=counts, message=msg,
                                         diff="".join(diffs.get(host, [])))
            if progress is not None:
                progress(host, st.value)
        return ExecResult(status=status, rc=rc if isinstance(rc, int) else None,
                          hosts=outcomes, seconds=seconds)


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


#: the playbook Ansible runs: an identity check, then the (approved copy of the) remediation
_WRAPPER = """\
- name: inspectorctl checks each host is the machine that was assessed
  hosts: all
  gather_facts: false
  tasks:
    - name: Read /etc/machine-id
      ansible.builtin.slurp:
        src: /etc/machine-id
      register: inspectorctl_mid
      check_mode: false
      when: inventory_hostname in inspectorctl_machine_ids
    - name: Refuse a host that is another machine
      ansible.builtin.fail:
        msg: >-
          identity mismatch: the machine reached as {{{{ inventory_hostname }}}} has machine-id
          {{{{ inspectorctl_mid.content | b64decode | trim }}}}, but the plan's assessment recorded
          {{{{ inspectorctl_machine_ids[inventory_hostname] }}}} for it; nothing was changed on
          it. Check the inventory entry of {{{{ inventory_hostname }}}} (it reaches another
          machine), then assess and plan again
      when: >-
        inventory_hostname in inspectorctl_machine_ids and
        (inspectorctl_mid.content | b64decode | trim)
        != inspectorctl_machine_ids[inventory_hostname]
    - name: Read the SSH host keys
      ansible.builtin.shell: "awk 'FNR == 1 {{print $2}}' /etc/ssh/ssh_host_*_key.pub"
      register: inspectorctl_keys
      check_mode: false
      changed_when: false
      failed_when: false
      when: inventory_hostname in inspectorctl_host_keys
    - name: Refuse a host whose SSH host keys are others
      ansible.builtin.fail:
        msg: >-
          identity mismatch: the machine reached as {{{{ inventory_hostname }}}} has other SSH
          host keys than the plan's assessment recorded for it
          ({{{{ inspectorctl_host_keys[inventory_hostname].shown | join(', ') }}}}); nothing was
          changed on it. Check the inventory entry of {{{{ inventory_hostname }}}} (it reaches
          another machine, or the host's keys were replaced), then assess and plan again
      when: >-
        inventory_hostname in inspectorctl_host_keys and
        (inspectorctl_keys.stdout_lines | map('trim') | select | map('b64decode')
         | map('hash', 'sha256') | unique | sort | list)
        != inspectorctl_host_keys[inventory_hostname].sha256

- name: The approved remediation
  ansible.builtin.import_playbook: {playbook}
"""
