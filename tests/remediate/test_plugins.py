"""Every shipped playbook runs on the README's install (ansible-core only, no collections), and
a module or filter an installation lacks is reported as such before anything runs.

The user's report: ``file_permissions`` used ``community.general.dict_kv`` and
``kernel_module_disabled`` used ``community.general.modprobe``; after ``scripts/setup.sh``
(runtime: ansible-core, no ``ansible`` collections package) ``apply`` failed half-way with
``can only concatenate list (not "CapturedExceptionMarker") to list``.

"The runtime install" is simulated exactly: Ansible is told to look for collections only in an
empty directory (``ANSIBLE_COLLECTIONS_PATH``) and not on Python's path
(``ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false``), which is where the ``ansible`` package of the
dev install puts them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inspectorctl.remediate import catalog, plugins
from inspectorctl.remediate.catalog import MissingPluginError
from tests.remediate.helpers import fake_catalog
from tests.remediate.test_rollout import FakeExecutor, _apply, _approved

__all__ = ["fake_catalog"]

REPO = Path(__file__).resolve().parents[2]


def _runtime_env(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "no-collections"
    empty.mkdir(exist_ok=True)
    return {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(empty),
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false", "NO_COLOR": "1"}


def _runtime_missing(tmp_path: Path, files: dict[str, Path]) -> dict[str, list[str]]:
    """plugins.missing() of each file, computed in a process that sees the runtime install."""
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from inspectorctl.remediate import plugins\n"
        "files = json.loads(sys.argv[1])\n"
        "out = {k: [f'{r.kind.value} {r.name}' for r in plugins.missing(plugins.references("
        "[(k + '/playbook.yml', Path(p))]))] for k, p in files.items()}\n"
        "print(json.dumps(out))\n")
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps({k: str(v) for k, v in files.items()})],
        env=_runtime_env(tmp_path), capture_output=True, text=True, timeout=300, check=True)
    out: dict[str, list[str]] = json.loads(proc.stdout)
    return out


def test_every_shipped_playbook_resolves_on_the_runtime_install(tmp_path: Path) -> None:
    code = ("import json\n"
            "from inspectorctl.remediate import catalog\n"
            "print(json.dumps({p: catalog.missing_plugins(p) for p in sorted("
            "catalog.load_catalog())}))\n")
    proc = subprocess.run([sys.executable, "-c", code], env=_runtime_env(tmp_path),
                          capture_output=True, text=True, timeout=300, check=True)
    missing = json.loads(proc.stdout)
    assert set(missing) == set(catalog.load_catalog())
    assert {p: m for p, m in missing.items() if m} == {}


def test_ansible_itself_resolves_every_shipped_playbook_on_the_runtime_install(
        tmp_path: Path) -> None:
    """ansible-playbook --syntax-check resolves every task's module: one run over a playbook
    importing all of them, with no collection reachable."""
    site = tmp_path / "all.yml"
    site.write_text("---\n" + "".join(
        f"- ansible.builtin.import_playbook: {catalog.playbooks_root() / p / 'playbook.yml'}\n"
        for p in sorted(catalog.load_catalog())), encoding="utf-8")
    inv = tmp_path / "inv.ini"
    inv.write_text("localhost ansible_connection=local\n", encoding="utf-8")
    bin_dir = Path(sys.executable).parent
    playbook_bin = bin_dir / "ansible-playbook"
    exe = str(playbook_bin) if playbook_bin.is_file() else shutil.which("ansible-playbook")
    assert exe is not None
    env = {**_runtime_env(tmp_path), "ANSIBLE_ROLES_PATH": str(catalog.roles_root())}
    proc = subprocess.run([exe, "--syntax-check", "-i", str(inv), str(site)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_community_general_uses_are_found_missing_on_the_runtime_install(
        tmp_path: Path) -> None:
    """The two uses the user hit (a module, and a filter inside map()), and the ansible.posix
    modules two other playbooks used, are reported on the runtime install; with the
    collections package of the dev install (on Python's path) they resolve."""
    pb = tmp_path / "old.yml"
    pb.write_text(
        "- hosts: all\n"
        "  tasks:\n"
        "    - name: paths\n"
        "      ansible.builtin.set_fact:\n"
        "        t: \"{{ [1] | product(x | map('community.general.dict_kv', 'path')) }}\"\n"
        "    - name: unload\n"
        "      community.general.modprobe: {name: cramfs, state: absent}\n"
        "    - name: sysctl\n"
        "      ansible.posix.sysctl: {name: a.b, value: '1'}\n"
        "    - name: bare sysctl is routed to ansible.posix\n"
        "      sysctl: {name: a.b, value: '1'}\n"
        "    - name: fine\n"
        "      ansible.builtin.debug: {msg: \"{{ 'a|b' | regex_replace('x', 'y') }}\"}\n"
        "      when: x is ansible.builtin.truthy\n", encoding="utf-8")
    missing = _runtime_missing(tmp_path, {"old": pb})["old"]
    assert sorted(missing) == ["filter community.general.dict_kv",
                               "module ansible.posix.sysctl",
                               "module community.general.modprobe", "module sysctl"]
    refs = plugins.references([("old/playbook.yml", pb)])
    assert {(r.kind.value, r.name) for r in refs} >= {
        ("filter", "regex_replace"), ("test", "ansible.builtin.truthy"),
        ("module", "ansible.builtin.debug"), ("module", "ansible.builtin.set_fact")}
    if plugins.resolves(plugins.PluginKind.module, "community.general.modprobe"):
        # the dev install (pip install '.[dev]': the ansible package) has them
        assert plugins.missing(refs) == []


@pytest.mark.usefixtures("fake_catalog")
def test_apply_refuses_before_any_host_when_a_module_is_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No journal, no executor call: one error naming playbook, plugin and file."""
    root = tmp_path / "playbooks"
    shutil.copytree(catalog.playbooks_root(), root,
                    ignore=shutil.ignore_patterns("molecule"))
    pb = root / "sysctl" / "playbook.yml"
    pb.write_text(pb.read_text(encoding="utf-8") + (
        "\n    - name: something from a collection nobody installed\n"
        "      acme.hardening.sysctl_plus: {}\n"), encoding="utf-8")
    monkeypatch.setattr(catalog, "playbooks_root", lambda: root)
    store, plan = _approved(tmp_path)
    ex = FakeExecutor()
    with pytest.raises(MissingPluginError) as e:
        _apply(store, plan, ex)
    assert e.value.exit_code == 2
    assert str(e.value).startswith(
        "this installation of Ansible lacks what these playbooks use: playbook sysctl: module "
        "acme.hardening.sysctl_plus (sysctl/playbook.yml) (install the collection")
    assert ex.calls == []
    from inspectorctl.store import journal

    assert journal.apply_runs(store) == []
