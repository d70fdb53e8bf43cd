"""Labs of their own: down leaves nothing, a crashed lab is cleaned, a failed up undoes itself."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inspectorctl.cli.main import app
from inspectorctl.lab import HostState, Lab, LabError
from inspectorctl.lab.lab import NETNS_DIR
from tests.conftest import new_lab

pytestmark = pytest.mark.lab


def _netns(prefix: str) -> list[str]:
    if not NETNS_DIR.is_dir():
        return []
    return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))


def _processes(prefix: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(part.endswith(b"hostinit.py") for part in cmd) and any(
            part.startswith(prefix.encode()) for part in cmd
        ):
            found.append(int(entry))
    return found


def _overlays(state_dir: Path) -> list[str]:
    marker = f"upperdir={state_dir}/"
    hits = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker in Path(f"/proc/{entry}/mountinfo").read_text():
                    hits.append(entry)
            except OSError:
                continue
    return hits


def assert_nothing_left(lab: Lab, prefix: str, state_dir: Path) -> None:
    assert _netns(prefix) == []
    assert _processes(prefix) == []
    assert _overlays(state_dir) == []
    assert "overlay" not in [
        line.split()[2]
        for line in Path("/proc/mounts").read_text().splitlines()
        if str(state_dir) in line
    ]
    assert not state_dir.exists()
    assert lab.leftovers() == []


def test_down_of_a_small_lab_leaves_nothing(tmp_path_factory: pytest.TempPathFactory) -> None:
    lab = new_lab(tmp_path_factory, "small")
    prefix, state_dir = lab.netns_prefix, lab.state_dir
    hosts = lab.up(2, ["weak"], "small")
    assert [h.name for h in hosts] == ["small-1", "small-2"]
    # a live ssh connection and an ansible-style control master also belong to the lab
    ssh = subprocess.Popen(
        lab.ssh_argv("small-1", ["sleep", "300"]),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert len(_netns(prefix)) == 2 and len(_processes(prefix)) == 2
        assert len(_overlays(state_dir)) > 0
        report = lab.down()
        assert report.hosts == ("small-1", "small-2")
        assert report.state_dir_removed
        assert ssh.wait(timeout=30) == 255  # its connection went with the host
    finally:
        if ssh.poll() is None:
            ssh.kill()
    assert_nothing_left(lab, prefix, state_dir)
    again = lab.down()  # idempotent
    assert again.hosts == () and again.processes_killed == 0 and not again.state_dir_removed


def test_down_cleans_a_lab_whose_state_was_lost(tmp_path_factory: pytest.TempPathFactory) -> None:
    lab = new_lab(tmp_path_factory, "crash")
    prefix, state_dir = lab.netns_prefix, lab.state_dir
    lab.up(2, ["baseline"], "crash")
    shutil.rmtree(state_dir)  # the crash: every record is gone, the hosts still run
    assert len(_processes(prefix)) == 2
    lost = Lab(state_dir, netns_prefix=prefix)
    assert lost.status() == []
    result = CliRunner().invoke(
        app, ["lab", "--state-dir", str(state_dir), "--netns-prefix", prefix, "status"]
    )
    assert result.exit_code == 0
    assert result.stderr == (
        f"warning: network namespaces of a lab without state: {prefix}crash-1, "
        f"{prefix}crash-2; `inspectorctl lab down` removes them\n"
    )
    assert result.stdout == f"no lab hosts in {state_dir}\n"
    assert len(lost.leftovers()) >= 4  # 2 namespaces, 2 inits (and their overlays)
    report = lost.down()
    assert report.orphan_namespaces == (f"{prefix}crash-1", f"{prefix}crash-2")
    assert report.processes_killed >= 2
    assert_nothing_left(lost, prefix, state_dir)


def test_killed_processes_show_as_broken_and_down_cleans_them(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    lab = new_lab(tmp_path_factory, "killed")
    prefix, state_dir = lab.netns_prefix, lab.state_dir
    lab.up(1, ["baseline"], "killed")
    for pid in _processes(prefix):
        os.kill(pid, 9)
    for _ in range(500):
        if lab.status()[0].state is HostState.BROKEN:
            break
        subprocess.run(["sleep", "0.01"], check=False)
    assert lab.status()[0].state is HostState.BROKEN
    result = CliRunner().invoke(app, ["lab", "--state-dir", str(state_dir), "down"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "removed 1 host\n"
    assert_nothing_left(lab, prefix, state_dir)


def test_down_copes_with_a_corrupt_state_file(tmp_path_factory: pytest.TempPathFactory) -> None:
    lab = new_lab(tmp_path_factory, "corrupt")
    prefix, state_dir = lab.netns_prefix, lab.state_dir
    lab.up(1, ["baseline"], "corrupt")
    (state_dir / "lab.json").write_text("{not json")
    result = CliRunner().invoke(
        app, ["lab", "--state-dir", str(state_dir), "--netns-prefix", prefix, "down"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "removed 1 host\n"
    assert_nothing_left(lab, prefix, state_dir)


def test_a_failed_up_removes_what_it_started(lab: Lab, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "name: bad\ndescription: fails on its second step\nsteps:\n"
        "  - {kind: file, path: /etc/bad-marker, content: x}\n"
        "  - {kind: command, shell: 'echo nope >&2; exit 3'}\n"
    )
    before = {h.name for h in lab.status()}
    with pytest.raises(LabError) as err:
        lab.up(2, [str(bad)], "failing")
    assert str(err.value).startswith("host failing-")
    assert "profile bad step 2 (command) failed: exited with 3: nope" in str(err.value)
    assert {h.name for h in lab.status()} == before
    assert _netns(f"{lab.netns_prefix}failing") == []
    assert not list(lab.hosts_dir.glob("failing-*"))
    assert "failing-1" not in lab.inventory_yaml()
