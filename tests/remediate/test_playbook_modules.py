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
PERMS = ROOT / "file_permissions" / "library" / "inspectorctl_file_permissions.py"
LINES = ROOT / "config_line" / "library" / "inspectorctl_config_lines.py"
KMODS = ROOT / "kernel_module_disabled" / "library" / "inspectorctl_kernel_modules.py"
SERVICES = ROOT / "service_disabled" / "library" / "inspectorctl_services_disabled.py"
ABSENT = ROOT / "file_absent" / "library" / "inspectorctl_files_absent.py"
CRON = ROOT / "cron_allow" / "library" / "inspectorctl_cron_allow.py"
NOLOGIN = ROOT / "system_accounts_nologin" / "library" / "inspectorctl_nologin.py"
SSHD = ROOT / "sshd_config" / "library" / "inspectorctl_sshd_options.py"
MOUNTS = ROOT / "mount_options" / "library" / "inspectorctl_mount_options.py"
WORLD = ROOT / "world_writable" / "library" / "inspectorctl_world_writable.py"
SSHD_RELOAD = ROOT / "roles" / "inspectorctl_sshd" / "library" / "inspectorctl_sshd_reload.py"


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
    for pid in ("file_permissions", "config_line", "kernel_module_disabled",
                "service_disabled", "sysctl", "file_absent", "cron_allow",
                "system_accounts_nologin", "sshd_config", "mount_options", "world_writable"):
        assert catalog.missing_plugins(pid) == []
    files = catalog.playbook_files("file_permissions")
    assert catalog.local_modules(files) == {"inspectorctl_backup",
                                            "inspectorctl_file_permissions"}


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


# -- file_permissions ----------------------------------------------------------------------


def test_file_permissions_changes_exactly_the_matching_paths(tmp_path: Path) -> None:
    for name in ("key_a", "key_b", "other"):
        (tmp_path / name).write_text(name)
        (tmp_path / name).chmod(0o644)
    (tmp_path / "key_b").chmod(0o600)
    items = [{"path": f"{tmp_path}/key_*", "mode": "0600", "owner": "root"},
             {"path": f"{tmp_path}/missing", "mode": "0600"}]
    planned = run(PERMS, {"items": items, "expand_only": True})
    assert planned["paths"] == [f"{tmp_path}/key_a", f"{tmp_path}/key_b"]
    assert stat.S_IMODE((tmp_path / "key_a").stat().st_mode) == 0o644
    preview = run(PERMS, {"items": items}, check=True, diff=True)
    assert preview["changed"] is True and preview["changed_paths"] == [f"{tmp_path}/key_a"]
    assert preview["diff"] == [{"before": {"path": f"{tmp_path}/key_a", "mode": "0644"},
                                "after": {"path": f"{tmp_path}/key_a", "mode": "0600"}}]
    assert stat.S_IMODE((tmp_path / "key_a").stat().st_mode) == 0o644
    res = run(PERMS, {"items": items})
    assert res["changed"] is True and res["changed_paths"] == [f"{tmp_path}/key_a"]
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"key_a": 0o600, "key_b": 0o600, "other": 0o644}
    assert run(PERMS, {"items": items})["changed"] is False


def test_file_permissions_symbolic_mode(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir(mode=0o777)
    (tmp_path / "d").chmod(0o777)
    items = [{"path": str(tmp_path / "d"), "mode": "go-w"}]
    assert run(PERMS, {"items": items})["changed"] is True
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755
    assert run(PERMS, {"items": items})["changed"] is False


@pytest.mark.parametrize("items", [
    [],
    [{"path": "etc/shadow", "mode": "0640"}],
    [{"path": "/etc/shadow", "mode": "0999"}],
    [{"path": "/etc/shadow", "mode": 640}],
    [{"path": "/etc/shadow", "mode": "0640", "owner": "root; rm -rf /"}],
    [{"mode": "0640"}],
])
def test_file_permissions_refuses_bad_items(items: list[Any]) -> None:
    res = run(PERMS, {"items": items})
    assert res["failed"] is True
    assert res["msg"].startswith("items must be a non-empty list of {path:")


# -- config_line ---------------------------------------------------------------------------


def test_config_lines_replaces_the_last_match_removes_others_and_appends(
        tmp_path: Path) -> None:
    defs = tmp_path / "login.defs"
    defs.write_text("# c\nPASS_MAX_DAYS 9\nX 1\nPASS_MAX_DAYS 99999\n")
    defs.chmod(0o600)
    new = tmp_path / "issue"
    items = [
        {"path": str(defs), "regexp": r"^\s*PASS_MAX_DAYS\s", "line": "PASS_MAX_DAYS\t365"},
        {"path": str(defs), "regexp": r"^\s*UMASK\s", "line": "UMASK 027"},
        {"path": str(new), "regexp": r"(?i)\bdebian\b", "line": "Authorized users only."},
    ]
    assert run(LINES, {"items": items, "plan_only": True})["paths"] == [str(defs), str(new)]
    preview = run(LINES, {"items": items}, check=True, diff=True)
    assert preview["changed"] is True and preview["changed_paths"] == [str(defs), str(new)]
    assert preview["diff"][1] == {"before": "", "after": "Authorized users only.\n",
                                  "before_header": "/dev/null", "after_header": str(new)}
    assert not new.exists() and "UMASK" not in defs.read_text()
    res = run(LINES, {"items": items})
    assert res["changed"] is True
    assert defs.read_text() == "# c\nX 1\nPASS_MAX_DAYS\t365\nUMASK 027\n"
    assert stat.S_IMODE(defs.stat().st_mode) == 0o600
    assert new.read_text() == "Authorized users only.\n"
    assert stat.S_IMODE(new.stat().st_mode) == 0o644
    again = run(LINES, {"items": items}, diff=True)
    assert again["changed"] is False and again["diff"] == []


def test_config_lines_refuses_a_link_and_takes_values_as_data(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("a\n")
    (tmp_path / "link").symlink_to("real")
    res = run(LINES, {"items": [{"path": str(tmp_path / "link"), "regexp": "^a",
                                 "line": "b"}]})
    assert res["failed"] is True and "is not a regular file" in res["msg"]
    odd = "{{ lookup('pipe', 'touch /tmp/x') }} $(id)"
    f = tmp_path / "f"
    run(LINES, {"items": [{"path": str(f), "regexp": "^never$", "line": odd}]})
    assert f.read_text() == odd + "\n"


@pytest.mark.parametrize("items", [
    [],
    [{"path": "/etc/x", "regexp": "^a"}],
    [{"path": "etc/x", "regexp": "^a", "line": "b"}],
    [{"path": "/etc/x", "regexp": "(", "line": "b"}],
    [{"path": "/etc/x", "regexp": "^a", "line": "b\nc"}],
])
def test_config_lines_refuses_bad_items(items: list[Any]) -> None:
    res = run(LINES, {"items": items})
    assert res["failed"] is True
    assert res["msg"].startswith("items must be a non-empty list of {path:")


# -- file_absent ---------------------------------------------------------------------------


def test_files_absent_removes_exactly_the_existing_files(tmp_path: Path) -> None:
    (tmp_path / "equiv").write_text("+\n")
    (tmp_path / "keep").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "keep")
    items = [{"path": str(tmp_path / n)} for n in ("equiv", "link", "never")]
    planned = run(ABSENT, {"items": items, "plan_only": True})
    assert planned["paths"] == [str(tmp_path / "equiv"), str(tmp_path / "link")]
    preview = run(ABSENT, {"items": items}, check=True, diff=True)
    assert preview["changed"] is True
    assert preview["diff"][1] == {"before": {"path": str(tmp_path / "link"), "state": "link"},
                                  "after": {"path": str(tmp_path / "link"), "state": "absent"}}
    assert (tmp_path / "equiv").exists()
    assert run(ABSENT, {"items": items})["changed"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep"]
    assert run(ABSENT, {"items": items})["changed"] is False


def test_files_absent_refuses_directories_and_bad_items(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("x")
    res = run(ABSENT, {"items": [{"path": str(tmp_path / "f")}, {"path": str(tmp_path / "d")}]})
    assert res["failed"] is True
    assert res["msg"] == (f"{tmp_path / 'd'} is a directory; file_absent removes files only "
                          "(remove it by hand)")
    assert (tmp_path / "f").exists()
    for items in ([], [{"path": "rel"}], [{"path": "/etc/"}], [{"name": "/x"}]):
        bad = run(ABSENT, {"items": items})
        assert bad["failed"] is True
        assert bad["msg"].startswith("items must be a non-empty list of {path: /absolute/path")


# -- kernel_module_disabled and service_disabled: their item checks come before any I/O ----


@pytest.mark.parametrize("items", [[], [{"module": "cram fs"}], [{"module": "../x"}],
                                   [{"name": "cramfs"}]])
def test_kernel_modules_refuses_bad_items(items: list[Any]) -> None:
    res = run(KMODS, {"items": items}, check=True)
    assert res["failed"] is True
    assert res["msg"].startswith("items must be a non-empty list of {module: NAME}")


@pytest.mark.parametrize("items", [[], [{"name": "sshd"}], [{"name": "ssh.service"}],
                                   [{"name": "-x"}], [{"name": "a b"}], [{"module": "x"}]])
def test_services_disabled_refuses_bad_items(items: list[Any]) -> None:
    res = run(SERVICES, {"items": items}, check=True)
    assert res["failed"] is True
    assert res["msg"].startswith("items must be a non-empty list of {name: SERVICE}")


SYSCTL = ROOT / "sysctl" / "library" / "inspectorctl_sysctl.py"


@pytest.mark.parametrize("items", [[], [{"key": "net.ipv4.ip_forward"}],
                                   [{"key": "../../x", "value": "1"}],
                                   [{"key": "net.ipv4.ip_forward", "value": "0\nkernel.x=1"}],
                                   [{"key": "net", "value": "1"}]])
def test_sysctl_refuses_bad_items(items: list[Any]) -> None:
    res = run(SYSCTL, {"items": items}, check=True)
    assert res["failed"] is True
    assert res["msg"].startswith("items must be a non-empty list of {key: a.b.c, value: VALUE}")


@pytest.mark.parametrize("module", [CRON, NOLOGIN])
def test_modules_without_parameters_refuse_items_that_are_not_mappings(module: Path) -> None:
    res = run(module, {"items": ["root"]}, check=True)
    assert res["failed"] is True
    assert res["msg"] == "items must be a list of {} (this remediation has no parameters)"


# -- sshd_config -----------------------------------------------------------------------------

_MAIN = """# stock sshd_config
Include /etc/ssh/sshd_config.d/*.conf
X11Forwarding yes
  maxauthtries=10
#MaxAuthTries 6
Match User backup
    X11Forwarding yes
"""


def _sshd_tree(tmp_path: Path, refuse: str = "") -> dict[str, Any]:
    """A main configuration, drop-ins and an sshd stand-in that refuses a file containing
    ``refuse`` (``sshd -t -f FILE``), as the module's path options."""
    (tmp_path / "d").mkdir()
    (tmp_path / "sshd_config").write_text(_MAIN)
    (tmp_path / "d" / "10-weak.conf").write_text("X11Forwarding yes\nPort 22\n")
    (tmp_path / "d" / "20-other.conf").write_text("Banner /etc/issue.net\n")
    (tmp_path / "d" / "30-link.conf").symlink_to(tmp_path / "d" / "10-weak.conf")
    (tmp_path / "d" / ".hidden.conf").write_text("X11Forwarding yes\n")
    (tmp_path / "d" / "notes.txt").write_text("X11Forwarding yes\n")
    sshd = tmp_path / "sshd"
    sshd.write_text("#!/bin/sh\n" + (f'grep -q "{refuse}" "$3" && {{ echo "$3: bad option"; '
                                      "exit 255; }\n" if refuse else "") + "exit 0\n")
    sshd.chmod(0o755)
    return {"main": str(tmp_path / "sshd_config"), "dropin_dir": str(tmp_path / "d"),
            "sshd": str(sshd)}


def test_sshd_options_block_at_the_top_others_commented_out(tmp_path: Path) -> None:
    paths = _sshd_tree(tmp_path)
    items = [{"option": "X11Forwarding", "value": "no"}, {"option": "MaxAuthTries", "value": 4}]
    plan = run(SSHD, {**paths, "items": items, "plan_only": True})
    assert plan["changed"] is False
    # the main file and the drop-ins that set a managed option (regular *.conf files only)
    assert plan["paths"] == [paths["main"], str(tmp_path / "d" / "10-weak.conf")]
    assert (tmp_path / "sshd_config").read_text() == _MAIN
    res = run(SSHD, {**paths, "items": items}, diff=True)
    assert res["changed"] is True
    assert res["changed_paths"] == [str(tmp_path / "d" / "10-weak.conf"), paths["main"]]
    assert (tmp_path / "sshd_config").read_text() == (
        "# BEGIN inspectorctl managed settings\n"
        "MaxAuthTries 4\n"
        "X11Forwarding no\n"
        "# END inspectorctl managed settings\n"
        "# stock sshd_config\n"
        "Include /etc/ssh/sshd_config.d/*.conf\n"
        "# (disabled by inspectorctl) X11Forwarding yes\n"
        "# (disabled by inspectorctl)   maxauthtries=10\n"
        "#MaxAuthTries 6\n"
        "Match User backup\n"
        "# (disabled by inspectorctl)     X11Forwarding yes\n")
    assert (tmp_path / "d" / "10-weak.conf").read_text() == (
        "# (disabled by inspectorctl) X11Forwarding yes\nPort 22\n")
    for untouched in (".hidden.conf", "notes.txt"):
        assert (tmp_path / "d" / untouched).read_text() == "X11Forwarding yes\n"
    assert [d["after_header"] for d in res["diff"]] == [
        str(tmp_path / "d" / "10-weak.conf"), paths["main"]]
    # idempotent; a later run merges its options into the block where it stands
    assert run(SSHD, {**paths, "items": items})["changed"] is False
    res = run(SSHD, {**paths, "items": [{"option": "maxauthtries", "value": "3"},
                                        {"option": "Banner", "value": "none"}]})
    assert res["changed_paths"] == [str(tmp_path / "d" / "20-other.conf"), paths["main"]]
    assert (tmp_path / "sshd_config").read_text().startswith(
        "# BEGIN inspectorctl managed settings\nBanner none\nmaxauthtries 3\n"
        "X11Forwarding no\n# END inspectorctl managed settings\n# stock sshd_config\n")


def test_sshd_options_block_replaced_where_it_stands(tmp_path: Path) -> None:
    paths = _sshd_tree(tmp_path)
    (tmp_path / "sshd_config").write_text(
        "Port 22\nX11Forwarding yes\n# BEGIN inspectorctl managed settings\nLogLevel INFO\n"
        "# END inspectorctl managed settings\nLogLevel QUIET\n")
    run(SSHD, {**paths, "items": [{"option": "X11Forwarding", "value": "no"}]})
    assert (tmp_path / "sshd_config").read_text() == (
        "Port 22\n# (disabled by inspectorctl) X11Forwarding yes\n"
        "# BEGIN inspectorctl managed settings\nLogLevel INFO\nX11Forwarding no\n"
        "# END inspectorctl managed settings\n# (disabled by inspectorctl) LogLevel QUIET\n")


def test_sshd_options_check_mode_and_a_refused_configuration_change_nothing(
        tmp_path: Path) -> None:
    paths = _sshd_tree(tmp_path, refuse="MaxAuthTries 99")
    items = [{"option": "X11Forwarding", "value": "no"}, {"option": "MaxAuthTries",
                                                          "value": "99"}]
    res = run(SSHD, {**paths, "items": items}, check=True, diff=True)
    assert res["changed"] is True and len(res["diff"]) == 2
    assert (tmp_path / "sshd_config").read_text() == _MAIN
    res = run(SSHD, {**paths, "items": items})
    assert res["failed"] is True
    assert res["msg"].startswith("sshd refuses the new configuration, nothing was changed: ")
    assert str(tmp_path / "sshd_config") + ": bad option" in res["msg"]
    assert (tmp_path / "sshd_config").read_text() == _MAIN
    # the drop-in edited before the main file was checked has its text back
    assert (tmp_path / "d" / "10-weak.conf").read_text() == "X11Forwarding yes\nPort 22\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".inspectorctl")]


def test_sshd_options_take_values_as_data(tmp_path: Path) -> None:
    paths = _sshd_tree(tmp_path)
    odd = "{{ lookup('pipe', 'id') }} $(id)"
    run(SSHD, {**paths, "items": [{"option": "Banner", "value": odd}]})
    assert f"\nBanner {odd}\n" in (tmp_path / "sshd_config").read_text()


@pytest.mark.parametrize("items", [
    [],
    [{"option": "X11Forwarding"}],
    [{"option": "X11 Forwarding", "value": "no"}],
    [{"option": "Match", "value": "all\nPermitRootLogin yes"}],
    ["X11Forwarding no"],
])
def test_sshd_options_refuse_bad_items(tmp_path: Path, items: list[Any]) -> None:
    res = run(SSHD, {**_sshd_tree(tmp_path), "items": items})
    assert res["failed"] is True
    assert res["msg"].startswith("items must be a non-empty list of {option: NAME, value: ")
    assert (tmp_path / "sshd_config").read_text() == _MAIN


def test_sshd_options_refuse_a_missing_main_file_and_relative_paths(tmp_path: Path) -> None:
    paths = _sshd_tree(tmp_path)
    items = [{"option": "X11Forwarding", "value": "no"}]
    res = run(SSHD, {**paths, "main": str(tmp_path / "nope"), "items": items})
    assert res["failed"] is True and "does not exist" in res["msg"]
    res = run(SSHD, {**paths, "sshd": "sshd", "items": items})
    assert res["failed"] is True and res["msg"].startswith("sshd must be an absolute path")


def _reload_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("inspectorctl_sshd_reload", SSHD_RELOAD)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_sshd_reload_reads_where_sshd_listens_and_its_family(tmp_path: Path) -> None:
    mod = _reload_module()
    assert mod.effective("port 22\npidfile /run/sshd.pid\nlistenaddress [::]:2222\n"
                         "listenaddress 0.0.0.0:2222\n") == ("/run/sshd.pid", "::1", 2222)
    assert mod.effective("pidfile /var/run/s.pid\nlistenaddress 10.0.0.5:22\n") == (
        "/var/run/s.pid", "10.0.0.5", 22)
    assert mod.effective("") == ("/run/sshd.pid", "127.0.0.1", 22)
    osr = tmp_path / "os-release"
    for text, debian in (('ID=ubuntu\nID_LIKE=debian\n', True), ("ID=debian\n", True),
                         ('ID="rhel"\nID_LIKE="fedora"\n', False), ("ID=alpine\n", False)):
        osr.write_text(text)
        assert mod.debian_family(str(osr)) is debian, text
    assert mod.debian_family(str(tmp_path / "none")) is False


# -- mount_options ---------------------------------------------------------------------------

_PROC_MOUNTS = (
    "overlay / overlay rw,relatime 0 0\n"
    "tmpfs /tmp tmpfs rw,nosuid,relatime 0 0\n"
    "/dev/sda2 /var ext4 rw,nodev,relatime 0 0\n"
    "/dev/sda3 /my\\040data ext4 rw,relatime 0 0\n")
_FSTAB = (
    "# /etc/fstab\n"
    "#/dev/sda2 /var ext4 defaults 0 1\n"
    "/dev/sda2 /var ext4 defaults,exec 0 2\n"
    "/dev/sda3 /my\\040data ext4 rw 0 0\n")


def _mount_tree(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "mounts").write_text(_PROC_MOUNTS)
    (tmp_path / "fstab").write_text(_FSTAB)
    (tmp_path / "fstab").chmod(0o600)
    # never remount: the tests' mount table is not this machine's
    return {"fstab": str(tmp_path / "fstab"), "mounts": str(tmp_path / "mounts"),
            "remount": False}


def test_mount_options_fstab_entries_opposites_dropped_and_appended(tmp_path: Path) -> None:
    paths = _mount_tree(tmp_path)
    items = [{"mountpoint": "/var/", "options": ["nodev", "noexec"]},
             {"mountpoint": "/var", "options": ["nosuid", "nodev"]},
             {"mountpoint": "/tmp", "options": ["noexec", "nodev"]},
             {"mountpoint": "/my data", "options": ["ro"]}]
    plan = run(MOUNTS, {**paths, "items": items, "plan_only": True})
    assert plan == {"changed": False, "paths": [paths["fstab"]], "invocation": plan[
        "invocation"]}
    assert (tmp_path / "fstab").read_text() == _FSTAB
    res = run(MOUNTS, {**paths, "items": items}, diff=True)
    assert res["changed"] is True
    assert (tmp_path / "fstab").read_text() == (
        "# /etc/fstab\n"
        "#/dev/sda2 /var ext4 defaults 0 1\n"
        "/dev/sda2 /var ext4 defaults,nodev,noexec,nosuid 0 2\n"
        "/dev/sda3 /my\\040data ext4 ro 0 0\n"
        "tmpfs /tmp tmpfs defaults,noexec,nodev 0 0\n")
    assert stat.S_IMODE((tmp_path / "fstab").stat().st_mode) == 0o644
    assert res["diff"][0]["before"] == _FSTAB
    # options missing at runtime (not remounted here) wait for the next mount
    assert res["next_mount"] == ["/my data", "/tmp", "/var"]
    again = run(MOUNTS, {**paths, "items": items})
    assert again["changed"] is False and again["next_mount"] == ["/my data", "/tmp", "/var"]
    # the runtime table decides what is missing: nothing once the mounts have the options
    (tmp_path / "mounts").write_text(
        "tmpfs /tmp tmpfs rw,nosuid,nodev,noexec 0 0\n/dev/sda2 /var ext4 rw,nodev,nosuid,"
        "noexec 0 0\n/dev/sda3 /my\\040data ext4 ro 0 0\n")
    assert run(MOUNTS, {**paths, "items": items})["next_mount"] == []


def test_mount_options_refuse_what_is_not_a_separate_mount(tmp_path: Path) -> None:
    paths = _mount_tree(tmp_path)
    items = [{"mountpoint": "/home", "options": ["nodev"]},
             {"mountpoint": "/var/tmp", "options": ["nodev"]},
             {"mountpoint": "/tmp", "options": ["nodev"]}]
    for plan_only in (True, False):
        res = run(MOUNTS, {**paths, "items": items, "plan_only": plan_only})
        assert res["failed"] is True
        assert res["msg"] == ("/home, /var/tmp are not a separate mount; making it one (a "
                              "partition or a tmpfs) is a manual step")
        assert (tmp_path / "fstab").read_text() == _FSTAB


def test_mount_options_check_mode_changes_nothing(tmp_path: Path) -> None:
    paths = _mount_tree(tmp_path)
    res = run(MOUNTS, {**paths, "items": [{"mountpoint": "/var", "options": ["nodev"]}]},
              check=True, diff=True)
    assert res["changed"] is True
    # nodev drops its opposite (dev), not exec
    assert "/dev/sda2 /var ext4 defaults,exec,nodev 0 2\n" in res["diff"][0]["after"]
    assert (tmp_path / "fstab").read_text() == _FSTAB


@pytest.mark.parametrize("items", [
    [],
    [{"mountpoint": "/tmp"}],
    [{"mountpoint": "tmp", "options": ["nodev"]}],
    [{"mountpoint": "/tmp", "options": "nodev"}],
    [{"mountpoint": "/tmp", "options": ["nodev,exec"]}],
    [{"mountpoint": "/tmp", "options": ["NODEV"]}],
])
def test_mount_options_refuse_bad_items(tmp_path: Path, items: list[Any]) -> None:
    res = run(MOUNTS, {**_mount_tree(tmp_path), "items": items})
    assert res["failed"] is True
    assert res["msg"].startswith("items must be a non-empty list of {mountpoint: /path, ")


# -- world_writable --------------------------------------------------------------------------


def test_world_writable_removes_o_w_from_regular_files_only(tmp_path: Path) -> None:
    files = {"a": 0o666, "b": 0o4777, "c": 0o644}
    for name, mode in files.items():
        (tmp_path / name).write_text(name)
        (tmp_path / name).chmod(mode)
    target = tmp_path / "target"
    target.write_text("t")
    target.chmod(0o666)
    (tmp_path / "link").symlink_to(target)  # swapped in for a file since the walk
    (tmp_path / "dir").mkdir(mode=0o777)
    (tmp_path / "dir").chmod(0o777)
    paths = [str(tmp_path / n) for n in ("a", "b", "c", "link", "dir", "gone")]
    res = run(WORLD, {"paths": paths}, check=True, diff=True)
    assert res["changed_paths"] == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert [(d["before"]["mode"], d["after"]["mode"]) for d in res["diff"]] == [
        ("0666", "0664"), ("4777", "4775")]
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o666  # check mode: unchanged
    res = run(WORLD, {"paths": paths})
    assert res["changed"] is True
    modes = {n: stat.S_IMODE((tmp_path / n).lstat().st_mode) for n in ("a", "b", "c", "dir")}
    assert modes == {"a": 0o664, "b": 0o4775, "c": 0o644, "dir": 0o777}
    assert stat.S_IMODE(target.stat().st_mode) == 0o666  # the link was not followed
    assert [s.split(": ")[0] for s in res["skipped"]] == [
        str(tmp_path / n) for n in ("link", "dir", "gone")]
    assert run(WORLD, {"paths": paths})["changed"] is False


def test_world_writable_refuses_relative_paths() -> None:
    res = run(WORLD, {"paths": ["etc/passwd"]})
    assert res["failed"] is True and res["msg"].startswith("paths must be absolute file paths")
