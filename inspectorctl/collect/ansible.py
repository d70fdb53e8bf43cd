"""AnsibleCollector: run the probe on every inventory host through ``ansible-runner``.

How the probe travels: the shipped probe (one file built from ``inspectorctl/probe/``, see
``inspectorctl.probe.bundle``) is written to ``project/library/inspectorctl_probe.py`` in a private
data dir made for this run (a temp dir, removed afterwards). It carries Ansible's
JSON-args marker, so Ansible treats it as a "new"-style module and, with ``ANSIBLE_PIPELINING``,
pipes it into the target's python3 over the one SSH session (no AnsiballZ, no temp files on the
target). The request travels base64-encoded as the module argument ``request_b64``. The module
returns ``{"snapshot": {...}}``; the event handler reads it from the ``runner_on_ok`` event's
``res`` (results are data, never scraped stdout) and reports progress per host.

``gather_facts`` is off: the probe reports the OS itself, so the minimum ``setup`` subset is none.
No inventory means this machine: ``localhost ansible_connection=local`` with the host's python3.
An inventory is checked before anything runs (PyYAML for YAML files, to name the line; then
``ansible-inventory --list`` through ``ansible_runner.run_command``), so a malformed file or a
limit that matches nothing is an ``InventoryError`` naming the file.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from inspectorctl.collect._result import (
    host_python,
    probe_budget,
    request_json,
    shipped_probe,
    snapshot_from_probe,
)
from inspectorctl.collect.interface import (
    CollectError,
    CollectionFailure,
    HostResult,
    InventoryError,
    ProgressCallback,
    Targets,
)
from inspectorctl.errors import InputError
from inspectorctl.models.snapshot import ProbeRequest
from inspectorctl.runner import ansible_bin_dir, ansible_env, never_cancel, stdout_tail
from inspectorctl.yamlfile import MAX_BYTES, check_yaml, read_text_limited

MODULE_NAME = "inspectorctl_probe"
PLAYBOOK = "inspectorctl_collect.yml"
LOCALHOST = "localhost"

_EVENT_STATES = {
    "runner_on_start": "started",
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
}


class _LenientLoader(yaml.SafeLoader):
    """SafeLoader that accepts Ansible's custom tags (``!vault``, ``!unsafe``) as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    return None


_LenientLoader.add_multi_constructor("!", _any_tag)


class InventoryHosts:
    """The hosts an inventory (and limit) selects, in inventory order, with their variables."""

    def __init__(self, hosts: list[str], hostvars: dict[str, dict[str, Any]]) -> None:
        self.hosts = hosts
        self.hostvars = hostvars


def _yaml_precheck(path: Path, text: str) -> None:
    if path.suffix.lower() not in (".yml", ".yaml", ".json"):
        return
    try:
        check_yaml(text, path)  # depth and alias limits before the (recursive) loader
        data = yaml.load(text, Loader=_LenientLoader)  # a SafeLoader subclass
    except InputError as e:
        if not isinstance(e.__cause__, yaml.YAMLError):
            raise InventoryError(str(e)) from e
        cause = e.__cause__  # a syntax error: said as the loader says it, with the column
        mark = getattr(cause, "problem_mark", None) or getattr(cause, "context_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = (getattr(cause, "problem", None) or getattr(cause, "context", None)
                   or "invalid YAML")
        raise InventoryError(f"{where}: {problem}") from cause
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = e.problem or e.context or "invalid YAML"
        raise InventoryError(f"{where}: {problem}") from e
    except yaml.YAMLError as e:
        raise InventoryError(f"{path}: invalid YAML: {e}") from e
    if data is not None and not isinstance(data, dict):
        raise InventoryError(
            f"{path}: an inventory must be a mapping of groups, not {type(data).__name__}"
        )


_PLUGIN_FAIL = re.compile(r"Failed to parse inventory with '([\w.]+)' plugin: (.*)")


def _inventory_failure(path: Path, output: str) -> str:
    """The most useful line of ansible-inventory's complaint about ``path``."""
    by_plugin: dict[str, str] = {}
    origin = None
    for line in output.splitlines():
        m = _PLUGIN_FAIL.search(line)
        if m:
            by_plugin.setdefault(m.group(1), m.group(2).strip())
        if line.startswith("Origin: ") and re.search(r":\d+(:\d+)?$", line) and origin is None:
            origin = line[len("Origin: ") :].strip()
    suffix = path.suffix.lower()
    prefer = ["auto", "yaml"] if suffix in (".yml", ".yaml", ".json") else ["ini", "script"]
    for plugin in [*prefer, *by_plugin]:
        if plugin in by_plugin:
            msg = by_plugin[plugin]
            if msg.startswith("Failed to parse inventory: "):
                msg = msg[len("Failed to parse inventory: ") :]
            return f"{origin}: {msg}" if origin else f"{path}: {msg}"
    errors = [ln for ln in output.splitlines() if "ERROR" in ln]
    tail = errors[-1] if errors else (output.strip().splitlines() or ["unparseable"])[-1]
    return f"{path}: {tail.replace('[ERROR]: ', '')}"


def _hosts_from_list(data: Mapping[str, Any]) -> list[str]:
    """Hosts of ``ansible-inventory --list`` JSON, in group order from ``all``."""
    hosts: list[str] = []
    seen_groups: set[str] = set()

    def visit(group: str) -> None:
        if group in seen_groups:
            return
        seen_groups.add(group)
        entry = data.get(group)
        if not isinstance(entry, Mapping):
            return
        for h in entry.get("hosts", []) or []:
            if h not in hosts:
                hosts.append(str(h))
        for child in entry.get("children", []) or []:
            visit(str(child))

    visit("all")
    for group in data:
        if group != "_meta":
            visit(group)
    return hosts


class AnsibleCollector:
    """Probe every selected inventory host through ansible-runner.

    ``keep_artifacts``: leave the private data dir (playbook, module, runner artifacts) in
    place for debugging; its path is then in ``last_private_data_dir``. ``python``: the
    interpreter for the implicit localhost (default: the host's python3). ``extra_env``:
    additional environment for ansible (e.g. ``ANSIBLE_SSH_ARGS``).
    """

    name = "ansible"

    def __init__(
        self,
        *,
        keep_artifacts: bool = False,
        python: str | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.keep_artifacts = keep_artifacts
        self.python = python or host_python()
        self.extra_env = dict(extra_env or {})
        self.last_private_data_dir: Path | None = None

    # -- environment -----------------------------------------------------------------------------

    def _env(self, bin_dir: Path, pdd: Path, targets: Targets) -> dict[str, str]:
        return ansible_env(bin_dir, pdd, targets.timeout, extra=self.extra_env)

    # -- inventory ---------------------------------------------------------------------------------

    def check_inventory(self, targets: Targets) -> InventoryHosts:
        """Validate the inventory (and limit) before running anything."""
        bin_dir = ansible_bin_dir()
        if bin_dir is None:
            raise CollectError("ansible-playbook not found: install ansible-core")
        with tempfile.TemporaryDirectory(prefix="inspectorctl-inventory-") as tmp:
            return self._check_inventory(targets, bin_dir, Path(tmp))

    def _check_inventory(self, targets: Targets, bin_dir: Path, pdd: Path) -> InventoryHosts:
        import ansible_runner

        inventory = targets.inventory
        if inventory is None:
            return InventoryHosts([LOCALHOST], {LOCALHOST: {}})
        path = Path(inventory)
        if not path.exists():
            raise InventoryError(f"{path}: no such inventory file")
        if not path.is_dir():
            try:
                text = read_text_limited(path, MAX_BYTES, "inventory file", errors="replace")
            except InputError as e:
                raise InventoryError(str(e)) from e
            _yaml_precheck(path, text)
        args = ["--list", "-i", str(path.resolve())]
        if targets.limit:
            args += ["--limit", targets.limit]
        try:
            out, err, rc = ansible_runner.run_command(
                executable_cmd=str(bin_dir / "ansible-inventory"),
                cmdline_args=args,
                runner_mode="subprocess",
                private_data_dir=str(pdd),
                envvars=self._env(bin_dir, pdd, targets),
                quiet=True,
                timeout=max(60, targets.timeout * 4),
                cancel_callback=never_cancel,
            )
        except Exception as e:
            raise CollectError(f"ansible-inventory could not run: {e}") from e
        if rc != 0:
            raise InventoryError(_inventory_failure(path, f"{err}\n{out}"))
        try:
            data = json.loads(out)
        except ValueError as e:
            raise InventoryError(f"{path}: ansible-inventory returned no JSON: {e}") from e
        hosts = _hosts_from_list(data)
        if not hosts:
            what = f" the limit {targets.limit!r}" if targets.limit else " (the inventory is empty)"
            raise InventoryError(f"{path}: no hosts matched{what}")
        hostvars = data.get("_meta", {}).get("hostvars", {}) or {}
        return InventoryHosts(hosts, {h: dict(hostvars.get(h, {}) or {}) for h in hosts})

    # -- run ---------------------------------------------------------------------------------------

    def collect(
        self,
        request: ProbeRequest,
        targets: Targets,
        progress: ProgressCallback | None = None,
    ) -> Sequence[HostResult]:
        bin_dir = ansible_bin_dir()
        if bin_dir is None:
            raise CollectError("ansible-playbook not found: install ansible-core")
        shipped_probe()  # a checkout whose probe cannot be built fails before anything runs
        pdd = Path(tempfile.mkdtemp(prefix="inspectorctl-ansible-"))
        self.last_private_data_dir = pdd
        try:
            selected = self._check_inventory(targets, bin_dir, pdd)
            return self._run(request, targets, progress, bin_dir, pdd, selected)
        finally:
            if not self.keep_artifacts:
                shutil.rmtree(pdd, ignore_errors=True)

    def _write_private_data_dir(
        self, pdd: Path, request: ProbeRequest, targets: Targets, budget: int
    ) -> str:
        """Playbook, module and (for localhost) inventory; returns the inventory argument."""
        project = pdd / "project"
        (project / "library").mkdir(parents=True, exist_ok=True)
        (pdd / "tmp").mkdir(exist_ok=True)
        (project / "library" / f"{MODULE_NAME}.py").write_bytes(shipped_probe().source)
        encoded = base64.b64encode(request_json(request).encode("utf-8")).decode("ascii")
        play = [
            {
                "name": "inspectorctl collect",
                "hosts": "all",
                "gather_facts": False,
                "become": bool(targets.become),
                "tasks": [
                    {
                        "name": "inspectorctl probe",
                        MODULE_NAME: {"request_b64": encoded},
                        "timeout": budget,
                    }
                ],
            }
        ]
        # JSON is YAML: no quoting surprises, and the request is opaque base64 to Jinja.
        (project / PLAYBOOK).write_text(json.dumps(play, indent=1), encoding="utf-8")
        if targets.inventory is not None:
            return str(Path(targets.inventory).resolve())
        inv_dir = pdd / "inventory"
        inv_dir.mkdir(exist_ok=True)
        (inv_dir / "hosts").write_text(
            f"{LOCALHOST} ansible_connection=local ansible_python_interpreter={self.python}\n",
            encoding="utf-8",
        )
        return str(inv_dir / "hosts")

    def _run(
        self,
        request: ProbeRequest,
        targets: Targets,
        progress: ProgressCallback | None,
        bin_dir: Path,
        pdd: Path,
        selected: InventoryHosts,
    ) -> list[HostResult]:
        import ansible_runner

        budget = probe_budget(request, targets)
        inventory = self._write_private_data_dir(pdd, request, targets, budget)
        outcomes: dict[str, tuple[str, dict[str, Any]]] = {}

        def on_event(event: dict[str, Any]) -> bool:
            state = _EVENT_STATES.get(str(event.get("event", "")))
            if state is None:
                return True
            data = event.get("event_data") or {}
            host = str(data.get("host") or data.get("remote_addr") or "")
            if not host:
                return True
            if state != "started":
                res = data.get("res")
                outcomes[host] = (state, res if isinstance(res, dict) else {})
            if progress is not None:
                progress(host, state)
            return True  # keep the event (returning None/False drops it)

        batches = max(1, math.ceil(len(selected.hosts) / max(1, targets.forks)))
        overall = budget * batches + targets.timeout * 2 + 60
        try:
            runner = ansible_runner.run(
                private_data_dir=str(pdd),
                playbook=PLAYBOOK,
                inventory=inventory,
                limit=targets.limit if targets.inventory is not None else None,
                forks=targets.forks,
                envvars=self._env(bin_dir, pdd, targets),
                quiet=True,
                event_handler=on_event,
                timeout=overall,
                ident="collect",
                cancel_callback=never_cancel,
            )
        except Exception as e:
            raise CollectError(f"ansible-runner could not run the probe playbook: {e}") from e

        status = str(getattr(runner, "status", "unknown"))
        rc = getattr(runner, "rc", None)
        if not outcomes and status not in ("successful",):
            tail = stdout_tail(runner)
            if status == "timeout":
                raise CollectError(f"ansible-runner timed out after {overall}s: {tail}")
            raise CollectError(f"ansible-playbook failed (status {status}, rc {rc}): {tail}")

        results: list[HostResult] = []
        names = list(selected.hosts) + [h for h in outcomes if h not in selected.hosts]
        for host in names:
            if host not in outcomes:
                why = "timed out" if status == "timeout" else f"status {status}, rc {rc}"
                results.append(
                    CollectionFailure(
                        host=host,
                        reason=f"no result from ansible for this host ({why}): "
                        + stdout_tail(runner),
                    )
                )
                continue
            state, res = outcomes[host]
            if state == "ok":
                results.append(
                    snapshot_from_probe(
                        res.get("snapshot"),
                        name=host,
                        transport="ansible",
                        hostvars=selected.hostvars.get(host, {}),
                    )
                )
            else:
                results.append(
                    CollectionFailure(
                        host=host, reason=_failure_reason(res), unreachable=state == "unreachable"
                    )
                )
        return results


def _failure_reason(res: Mapping[str, Any]) -> str:
    msg = str(res.get("msg") or "").strip()
    parts = [msg] if msg else []
    for key in ("module_stderr", "module_stdout", "stderr"):
        text = str(res.get(key) or "").strip()
        if text:
            lines = [ln for ln in text.splitlines() if ln.strip()]
            parts.append(f"{key}: {' | '.join(lines[-3:])}")
    if "rc" in res and res.get("rc") not in (None, 0):
        parts.append(f"rc={res['rc']}")
    return "; ".join(parts) or "the probe task failed without a message"


