"""A lab host carries the machine's operating system, not its data: /root is a fresh server's,
the data dirs start empty, top-level directories outside the FHS are not there, and the lab
refuses tools it could not run inside hosts. Nothing here creates anything on the machine's root
(fake trees live under pytest's tmp_path)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from inspectorctl.lab import Lab, LabHost, LabRequirementError, Tools
from inspectorctl.lab import overlay as lab_module
from inspectorctl.lab import requirements as req
from tests.lab.shell import sh


@pytest.fixture(scope="module")
def fresh(lab: Lab) -> Iterator[LabHost]:
    """A baseline host nobody else touches, so what it holds is what it booted with."""
    (host,) = lab.up(1, ["baseline"], "fresh")
    yield host


# --- inside a host ------------------------------------------------------------------------


@pytest.mark.lab
def test_root_holds_only_what_the_lab_put_there(lab: Lab, fresh: LabHost) -> None:
    found = sh(lab, fresh.name, "cd /root && find . -mindepth 1 | sort").split()
    skeleton = {
        name: next(Path(s) for s in sources if os.path.isfile(s))
        for name, sources in lab_module.ROOT_SKELETON.items()
        if any(os.path.isfile(s) for s in sources)
    }
    assert found == sorted(
        [*(f"./{name}" for name in skeleton), "./.ssh", "./.ssh/authorized_keys"]
    )
    for name, source in skeleton.items():
        assert sh(lab, fresh.name, f"cat /root/{name}") == source.read_text()
    keys = sh(lab, fresh.name, "cat /root/.ssh/authorized_keys")
    assert keys == lab.private_key_path.with_suffix(".pub").read_text()
    st = os.stat("/root")
    inside = sh(lab, fresh.name, "stat -c '%a %u %g' /root /root/.ssh").splitlines()
    assert inside == [f"{st.st_mode & 0o7777:o} {st.st_uid} {st.st_gid}", "700 0 0"]


@pytest.mark.lab
def test_data_dirs_are_empty_at_boot_with_the_machines_mode(lab: Lab, fresh: LabHost) -> None:
    present = [rel for rel in lab_module.EMPTY_DATA_DIRS if lab_module._lower_is_plain_dirs(rel)]
    assert "home" in present and "tmp" in present
    for rel in present:
        assert sh(lab, fresh.name, f"ls -A /{rel}") == "", rel
        st = os.stat(f"/{rel}")
        inside = sh(lab, fresh.name, f"stat -c '%a %u %g' /{rel}").split()
        assert inside == [f"{st.st_mode & 0o7777:o}", str(st.st_uid), str(st.st_gid)], rel
    for rel in ("tmp", "var/tmp"):
        if rel in present:
            assert sh(lab, fresh.name, f"stat -c %a /{rel}").strip() == "1777"


@pytest.mark.lab
def test_top_level_entries_outside_the_fhs_are_absent(lab: Lab, fresh: LabHost) -> None:
    # the operating system's dirs and every top-level symlink are there as on the machine
    for entry in os.scandir("/"):
        if entry.is_symlink():
            assert sh(lab, fresh.name, f"readlink /{entry.name}").strip() == os.readlink(entry)
        elif entry.name in lab_module.OS_TOP_LEVEL:
            assert lab.exec(fresh.name, ["test", "-d", f"/{entry.name}"]).returncode == 0
    hidden = lab_module.hidden_top_level()
    if not hidden:
        pytest.skip("this machine has no top-level entry outside the FHS")
    for name in hidden:
        assert lab.exec(fresh.name, ["test", "-e", f"/{name}"]).returncode == 1, name
    listing = set(sh(lab, fresh.name, "ls -A /").split())
    assert not listing & set(hidden)


@pytest.mark.lab
def test_weak_profile_data_lands_in_the_emptied_dirs(lab: Lab) -> None:
    assert sh(lab, "weak-1", "ls -A /home").split() == ["guest"]
    assert sh(lab, "weak-1", "cat /root/.rhosts") == "+ +\n"
    assert sh(lab, "weak-1", "stat -c '%a' /srv/shared").strip() == "777"


# --- which directories are hidden, and the tools check (no lab needed) ----------------------


def test_hidden_top_level_keeps_the_fhs_dirs_and_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "machine"
    root.mkdir()
    for name in ("usr", "etc", "var", "home", "lib32", "work", "lost+found", "farm"):
        (root / name).mkdir()
    (root / "sbin.usr-is-merged").mkdir()  # a merged-/usr marker is the operating system's
    (root / "bin").symlink_to("usr/bin")
    (root / "data").symlink_to("work")  # a symlink stays as it is, whatever it points to
    (root / "pyenv-installer").write_text("a top-level file is the machine's\n")
    (root / ".dockerenv").write_text("")
    assert lab_module.hidden_top_level(root) == [
        ".dockerenv", "farm", "lost+found", "pyenv-installer", "work"]
    paths = lab_module.host_hidden_paths([Path("/var/lib/x/lab")], root)
    assert paths[:5] == ["/.dockerenv", "/farm", "/lost+found", "/pyenv-installer", "/work"]
    assert {"/root", "/home", "/tmp", "/var/tmp", "/var/lib/x/lab"} <= set(paths)


def _tools(**inside: str) -> Tools:
    return Tools(
        ip="/usr/bin/ip",
        nsenter="/usr/bin/nsenter",
        setpriv=inside.get("setpriv", "/usr/bin/setpriv"),
        pivot_root="/usr/sbin/pivot_root",
        sshd=inside.get("sshd", "/usr/sbin/sshd"),
        ssh="/usr/bin/ssh",
        ssh_keygen="/usr/bin/ssh-keygen",
        nc="/usr/bin/nc",
        python3=inside.get("python3", "/usr/bin/python3"),
    )


def test_tools_in_hidden_dirs_are_refused(tmp_path: Path) -> None:
    lab_module.check_tools_visible(_tools(), ["/work", "/root", "/tmp"])
    with pytest.raises(LabRequirementError) as err:
        lab_module.check_tools_visible(
            _tools(sshd="/work/bin/sshd", python3="/root/.local/bin/python3"), ["/work", "/root"]
        )
    message = str(err.value)
    assert "python3 is /root/.local/bin/python3, under /root" in message
    assert "sshd is /work/bin/sshd, under /work" in message
    assert err.value.exit_code == 2
    # a name that only starts like a hidden dir is not in it
    lab_module.check_tools_visible(_tools(sshd="/workshop/sshd"), ["/work"])
    # a symlink in a visible dir whose target is hidden is refused as well
    hidden = tmp_path / "data"
    hidden.mkdir()
    (hidden / "setpriv").write_text("")
    link = tmp_path / "setpriv"
    link.symlink_to(hidden / "setpriv")
    with pytest.raises(LabRequirementError, match=f"setpriv is {hidden}/setpriv, under {hidden}"):
        lab_module.check_tools_visible(_tools(setpriv=str(link)), [str(hidden)])


def test_lab_refuses_tools_from_a_dir_hosts_do_not_see(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the root check comes first when not root")
    bin_dir = tmp_path / "bin"  # under /tmp, which hosts see empty
    bin_dir.mkdir()
    for tool in req.TOOLS:
        found = shutil.which(tool, path=req.default_search_path())
        if found is None:
            pytest.skip(f"{tool} is not installed here")
        (bin_dir / tool).symlink_to(found)
    state = tmp_path / "state"
    lab = Lab(state, netns_prefix="ictlx-", search_path=str(bin_dir))
    with pytest.raises(LabRequirementError, match=f"sshd is {bin_dir}/sshd, under /tmp"):
        lab.up(1, ["baseline"])
    assert not state.exists(), "a failed requirement check must not create anything"
