"""The playbooks' own modules (``library/*.py`` next to a playbook or in a role), run as Ansible
runs them on a host: a separate Python process given its arguments as JSON. Here they act on
temporary files only; what they do to a host's /etc is the molecule scenarios' to check."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from inspectorctl.remediate import catalog

ROOT = catalog.playbooks_root()
BACKUP = ROOT / "roles" / "inspectorctl_backup" / "library" / "inspectorctl_backup.py"


#: what Ansible ships with a module that imports ``ansible.module_utils.inspectorctl_files``
MODULE_UTILS = ROOT / "roles" / "inspectorctl_modules" / "module_utils"
#: runs a module file as ``__main__`` with the role's module_utils where Ansible puts them
_BOOT = ("import runpy, sys, ansible.module_utils as mu; mu.__path__.append(sys.argv[1]); "
         "sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')")


def run(module: Path, args: dict[str, Any], *, check: bool = False,
        diff: bool = False) -> dict[str, Any]:
    payload = {"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check,
                                       "_ansible_diff": diff}}
    proc = subprocess.run([sys.executable, "-B", "-c", _BOOT, str(MODULE_UTILS), str(module),
                           json.dumps(payload)],
                          capture_output=True, text=True, check=False, timeout=60,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    out = proc.stdout.strip().splitlines()
    assert out, proc.stderr
    result: dict[str, Any] = json.loads(out[-1])
    return result


def test_every_local_module_resolves_for_its_playbook() -> None:
    for pid in ("file_permissions", "sysctl", "cron_allow"):
        assert catalog.missing_plugins(pid) == []
    files = catalog.playbook_files("file_permissions")
    assert catalog.local_modules(files) == {"inspectorctl_backup"}


# -- the backup role's module ------------------------------------------------------------


def test_backup_records_each_path_once_with_content(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "a").write_text("one\n")
    (etc / "a").chmod(0o640)
    (etc / "l").symlink_to("a")
    root = tmp_path / "bk"
    paths = [str(etc / "a"), str(etc / "l"), str(etc / "none"), str(etc), str(etc / "a")]
    res = run(BACKUP, {"root": str(root), "run_id": "r-1", "paths": paths,
                       "on_restore": "sysctl_reload", "playbook": "sysctl"})
    assert res["changed"] is False and not res.get("failed"), res
    assert res["recorded"] == paths[:4]
    (manifest,) = (root / "r-1" / "manifest").iterdir()
    records = {r["path"]: r for r in json.loads(manifest.read_text())["records"]}
    assert records[str(etc / "a")] == {
        "path": str(etc / "a"), "existed": True, "type": "file", "content": True,
        "mode": "0640", "uid": 0, "gid": 0, "owner": "root", "group": "root",
        "link_target": None, "on_restore": "sysctl_reload", "playbook": "sysctl"}
    assert records[str(etc / "l")]["type"] == "link"
    assert records[str(etc / "l")]["link_target"] == "a"
    assert records[str(etc / "none")]["existed"] is False
    assert records[str(etc / "none")]["type"] == "absent"
    assert records[str(etc)]["type"] == "directory"
    saved = sorted((root / "r-1" / "files").iterdir())
    assert [p.read_text() for p in saved] == ["one\n"]
    for d in (root, root / "r-1", root / "r-1" / "files"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    # the first state of the run is kept: a later call records nothing again
    (etc / "a").write_text("two\n")
    again = run(BACKUP, {"root": str(root), "run_id": "r-1", "paths": [str(etc / "a")]})
    assert again["recorded"] == [] and again["changed"] is False
    assert [p.read_text() for p in sorted((root / "r-1" / "files").iterdir())] == ["one\n"]
    assert len(list((root / "r-1" / "manifest").iterdir())) == 1


def test_backup_writes_nothing_in_check_mode_or_without_content(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    res = run(BACKUP, {"root": str(tmp_path / "bk"), "run_id": "r", "paths":
                       [str(tmp_path / "f")]}, check=True)
    assert res["changed"] is False and not (tmp_path / "bk").exists()
    run(BACKUP, {"root": str(tmp_path / "bk"), "run_id": "r", "paths": [str(tmp_path / "f")],
                 "content": False})
    assert list((tmp_path / "bk" / "r" / "files").iterdir()) == []


@pytest.mark.parametrize("args", [
    {"run_id": "bad id", "paths": []},
    {"run_id": "../up", "paths": []},
    {"run_id": "r", "paths": ["relative/path"]},
    {"run_id": "r", "paths": [], "on_restore": "reboot"},
])
def test_backup_refuses_bad_values(tmp_path: Path, args: dict[str, Any]) -> None:
    res = run(BACKUP, {"root": str(tmp_path / "bk"), **args})
    assert res["failed"] is True and res["msg"]
    assert not (tmp_path / "bk").exists()
