"""The shipped probe as a program: on this machine's python3 (and 3.6 where present), standalone
and in Ansible's jsonargs module mode, checked against the HostSnapshot contract and the machine.
(The package form runs as ``python -m inspectorctl.probe``: see test_bundle.py.)"""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from inspectorctl.models.snapshot import FACT_NAMES, HostSnapshot, ProbeRequest
from inspectorctl.probe.bundle import PACKAGE_DIR, shipped_probe
from tests.collect import fakeroot, probes
from tests.collect.machine import installed_package_count

SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="module")
def probe_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped probe, written where a transport would write it."""
    path = tmp_path_factory.mktemp("shipped") / "inspectorctl_probe.py"
    path.write_bytes(shipped_probe().source)
    return path
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "INSPECTORCTL_PROBE_NO_IMDS": "1"}

FULL_REQUEST = ProbeRequest(
    facts=tuple(sorted(FACT_NAMES)),
    sysctl_keys=("net.ipv4.ip_forward", "kernel.randomize_va_space"),
    modules=("cramfs",),
    walks=("suid",),
    walk_max_seconds=10,
)


def _python36() -> str | None:
    candidates = ["/root/.pyenv/versions/3.6.15/bin/python3.6", shutil.which("python3.6")]
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        check = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode == 0 and check.stdout.strip() == "(3, 6)":
            return candidate
    return None


def run_probe_program(probe: Path, python: str, request: Any, *args: str) -> dict[str, Any]:
    payload = (
        request.model_dump_json() if isinstance(request, ProbeRequest) else json.dumps(request)
    )
    proc = subprocess.run(
        [python, str(probe), *args],
        input=payload,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


@pytest.mark.skipif(not os.access(SYSTEM_PYTHON, os.X_OK), reason="no /usr/bin/python3")
def test_probe_on_the_system_python_matches_the_machine(probe_file: Path) -> None:
    data = run_probe_program(probe_file, SYSTEM_PYTHON, FULL_REQUEST)
    snap = HostSnapshot.model_validate(data)
    assert set(snap.requested) == FACT_NAMES
    for fact in FACT_NAMES:
        assert (getattr(snap, fact) is not None) != (fact in snap.unknown), fact
    assert snap.host.hostname == socket.gethostname()
    assert snap.os is not None and snap.os.kernel == os.uname().release
    if Path("/var/lib/dpkg/status").exists():
        assert snap.packages is not None and snap.packages.manager == "dpkg"
        assert len(snap.packages.items) == installed_package_count()
    assert snap.accounts is not None and any(
        a.name == "root" and a.uid == 0 for a in snap.accounts.accounts
    )
    assert snap.mounts is not None and any(m.mountpoint == "/" for m in snap.mounts.mounts)
    assert snap.sysctl is not None
    assert (
        snap.sysctl.runtime["net.ipv4.ip_forward"]
        == Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    )
    assert snap.walks is not None and snap.walks["suid"].scanned > 1000
    assert snap.probe_seconds > 0 and snap.fact_seconds
    assert snap.probe_uid == os.geteuid()


def test_probe_runs_on_python36_when_available(probe_file: Path, tmp_path: Path) -> None:
    py36 = _python36()
    if py36 is None:
        pytest.skip("no python 3.6 interpreter on this machine")
    root = fakeroot.build(tmp_path / "root")
    request = {
        "facts": sorted(FACT_NAMES),
        "walks": ["suid", "world_writable"],
        "files": [{"path": "/etc/passwd", "sha256": True, "patterns": ["^root"]}],
    }
    data = run_probe_program(probe_file, py36, request, "--root", str(root))
    snap = HostSnapshot.model_validate(data)
    assert snap.accounts is not None and snap.walks is not None
    # and the real root as well (subprocesses, /proc, threads)
    real = run_probe_program(probe_file, py36, {"facts": sorted(FACT_NAMES - {"walks"})})
    HostSnapshot.model_validate(real)


@pytest.mark.parametrize("part", ["bundle", *probes.shipped_module_names()])
def test_probe_source_is_python36_syntax(part: str) -> None:
    """The shipped file, and each module it is built from."""
    if part == "bundle":
        source = shipped_probe().source.decode()
    else:
        source = (PACKAGE_DIR / f"{part}.py").read_text()
    tree = ast.parse(source, feature_version=(3, 6))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.module not in ("__future__", "dataclasses"), node.module
        if isinstance(node, ast.Call):
            kwargs = {k.arg for k in node.keywords}
            assert not kwargs & {"capture_output", "text"}, kwargs  # 3.7+ subprocess arguments
        assert not isinstance(node, ast.NamedExpr)


def test_no_password_hash_in_output(probe_file: Path, tmp_path: Path) -> None:
    root = fakeroot.build(tmp_path / "root")
    request = {
        "facts": sorted(FACT_NAMES),
        "files": [
            {"path": "/etc/shadow", "sha256": True, "patterns": [".*", "root"]},
            {"path": "/etc/passwd", "patterns": [".*"]},
            {"path": "/etc/backup-of-shadow.txt", "patterns": [".*"]},
            {"path": "/etc/ssh/ssh_host_ed25519_key", "patterns": [".*"]},
        ],
        "walks": ["world_writable"],
    }
    raw = json.dumps(run_probe_program(probe_file, SYSTEM_PYTHON, request, "--root", str(root)))
    for secret in fakeroot.SECRET_HASHES:
        assert secret not in raw
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in raw
    assert not re.search(r"\$(1|5|6|y|2[aby])\$", raw)


def test_ansible_module_mode() -> None:
    """What Ansible does with a jsonargs module: substitute the marker, pipe the source to the
    interpreter's stdin (pipelining). The probe must answer with a module result."""
    source = shipped_probe().source.decode()
    marker = "<<INCLUDE_ANSIBLE_" + "MODULE_JSON_ARGS>>"
    assert source.count(marker) == 1
    for other in (
        "<<INCLUDE_ANSIBLE_MODULE_COMPLEX_ARGS>>",
        "<<ANSIBLE_VERSION>>",
        "<<SELINUX_SPECIAL_FILESYSTEMS>>",
        "syslog.LOG_USER",
        "#<<INCLUDE_ANSIBLE_MODULE_COMMON>>",
    ):
        assert other not in source
    assert not re.search(r"(from|import) +ansible(_collections)?[. ]", source)
    request = {"facts": ["os", "login_defs"]}
    args = {
        "request_b64": base64.b64encode(json.dumps(request).encode()).decode(),
        "_ansible_check_mode": False,
        "_ansible_remote_tmp": "~/.ansible/tmp",
        "_ansible_selinux_special_fs": ["fuse", "nfs"],
        "weird": 'quotes " \' """ and \\ backslashes \\',
    }
    module = source.replace(marker, json.dumps(args))
    proc = subprocess.run(
        [SYSTEM_PYTHON], input=module, capture_output=True, text=True, env=ENV, check=False
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["changed"] is False
    HostSnapshot.model_validate(result["snapshot"])
    bad = source.replace(marker, json.dumps({"nothing": 1}))
    proc = subprocess.run(
        [SYSTEM_PYTHON], input=bad, capture_output=True, text=True, env=ENV, check=False
    )
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["failed"] is True


def test_standalone_usage_errors(probe_file: Path) -> None:
    proc = subprocess.run(
        [SYSTEM_PYTHON, str(probe_file), "--bogus"],
        input="{}",
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "usage" in proc.stderr
    proc = subprocess.run(
        [SYSTEM_PYTHON, str(probe_file)],
        input="not json",
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "not JSON" in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("sshd", path="/usr/sbin:/sbin"),
                    reason="needs root and sshd")
def test_sshd_t_without_run_sshd_uses_a_private_run_and_leaves_nothing(probe_file: Path) -> None:
    """sshd -T refuses to run without /run/sshd (sshd stopped or socket-activated); the probe
    answers anyway from a private mount namespace and never creates /run/sshd on the host."""
    if os.path.exists("/run/sshd"):
        pytest.skip("/run/sshd exists here: sshd -T works directly")
    mounts_before = Path("/proc/self/mounts").read_text()
    out = run_probe_program(probe_file, "/usr/bin/python3", {"facts": ["sshd"]})
    assert out["sshd"]["error"] is None
    assert out["sshd"]["config"]["permitrootlogin"]  # a real effective configuration
    assert not os.path.exists("/run/sshd")
    assert Path("/proc/self/mounts").read_text() == mounts_before
