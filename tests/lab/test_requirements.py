"""Requirement checks: one message naming the Debian package or the reason, exit 2."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inspectorctl.cli.main import app
from inspectorctl.lab import LabRequirementError, check_requirements
from inspectorctl.lab import requirements as req


def _path_without(tmp_path: Path, *missing: str) -> str:
    """A search path holding links to every lab tool except ``missing``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in req.TOOLS:
        if tool in missing:
            continue
        found = shutil.which(tool, path=req.default_search_path())
        if found is None:
            pytest.skip(f"{tool} is not installed here")
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def test_not_root_is_named() -> None:
    with pytest.raises(LabRequirementError) as err:
        check_requirements(Path("/tmp"), euid=1000)
    assert str(err.value) == (
        "the lab must run as root: it creates network namespaces and overlay mounts "
        "(running as uid 1000)"
    )
    assert err.value.exit_code == 2


def test_missing_tools_name_their_debian_packages(tmp_path: Path) -> None:
    search = _path_without(tmp_path, "sshd", "nc")
    with pytest.raises(LabRequirementError) as err:
        check_requirements(tmp_path, search_path=search, euid=0, selftest=False)
    assert str(err.value) == (
        "the lab cannot run on this machine: sshd not found (Debian package openssh-server); "
        "nc not found (Debian package netcat-openbsd). "
        "Install with: apt-get install openssh-server netcat-openbsd"
    )


def test_missing_host_python_is_named(tmp_path: Path) -> None:
    search = _path_without(tmp_path)
    with pytest.raises(
        LabRequirementError,
        match=r"/nonexistent/python3 not found \(Debian "
        r"package python3\)\. Install with: apt-get install python3$",
    ):
        check_requirements(
            tmp_path,
            search_path=search,
            euid=0,
            host_python="/nonexistent/python3",
            selftest=False,
        )


def test_cli_reports_missing_tools_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() != 0:
        pytest.skip("the root check comes first when not root")
    search = _path_without(tmp_path, "ip")
    monkeypatch.setattr(req, "FALLBACK_PATH", "")
    state = tmp_path / "state"
    result = CliRunner().invoke(app, ["lab", "--state-dir", str(state), "up"], env={"PATH": search})
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: the lab cannot run on this machine: ip not found (Debian package iproute2). "
        "Install with: apt-get install iproute2\n"
    )
    assert not state.exists(), "a failed requirement check must not create anything"


def test_namespace_selftest_passes_here_and_leaves_nothing(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    before = sorted(os.listdir(tmp_path))
    assert req.selftest_namespaces(req.HOST_PYTHON, tmp_path) is None
    assert sorted(os.listdir(tmp_path)) == before
