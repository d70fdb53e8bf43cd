"""End-to-end tests on the session's shared lab: reachability, isolation, identity, profiles."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from inspectorctl.cli.main import app
from inspectorctl.lab import HostState, Lab, LabError, LabHost
from tests.lab.shell import sh

pytestmark = pytest.mark.lab

CLI_MAIN = "from inspectorctl.cli.main import main; main()"


def inventory_hosts(path: Path) -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    hosts: dict[str, dict[str, Any]] = doc["all"]["children"]["lab"]["hosts"]
    return hosts


def ssh_from_inventory(hostvars: dict[str, Any], *command: str) -> list[str]:
    """The ssh command Ansible's ssh connection builds from these host vars."""
    return [
        "ssh",
        *shlex.split(hostvars["ansible_ssh_common_args"]),
        "-o",
        "BatchMode=yes",
        "-o",
        "ControlMaster=no",
        "-i",
        hostvars["ansible_ssh_private_key_file"],
        "-p",
        str(hostvars["ansible_port"]),
        f"{hostvars['ansible_user']}@{hostvars['ansible_host']}",
        *command,
    ]


def run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def scratch(lab: Lab) -> Iterator[LabHost]:
    """A baseline host of this module's own, which these tests change, stop and start."""
    (host,) = lab.up(1, ["baseline"], "labtest")
    yield host


# --- reachability -------------------------------------------------------------------------


def test_session_hosts_are_running_with_their_profiles(lab: Lab) -> None:
    hosts = {h.name: h for h in lab.status()}
    expected = {
        "weak-1": ("weak",),
        "hardened-1": ("hardened",),
        "baseline-1": ("baseline",),
        "remed-1": ("weak",),
        "remed-2": ("weak",),
        "mol-1": ("weak",),
    }
    for name, profiles in expected.items():
        assert hosts[name].profiles == profiles
        if name in ("weak-1", "hardened-1", "baseline-1"):  # others may be stopped by their tests
            assert hosts[name].state is HostState.RUNNING
        assert hosts[name].netns == f"{lab.netns_prefix}{name}"
        assert hosts[name].tags == {
            "Name": name,
            "Lab": lab.netns_prefix.rstrip("-"),
            "Profile": profiles[0],
        }


def test_every_host_answers_real_ssh_through_the_inventory(lab: Lab) -> None:
    hosts = inventory_hosts(lab.inventory_path)
    for name in ("weak-1", "hardened-1", "baseline-1"):
        hostvars = hosts[name]
        assert hostvars["ansible_host"] == "127.0.0.1"
        assert hostvars["ansible_user"] == "root"
        assert hostvars["ansible_port"] == 22
        assert hostvars["ansible_python_interpreter"] == "/usr/bin/python3"
        common = hostvars["ansible_ssh_common_args"]
        assert f"netns exec {lab.netns_prefix}{name} " in common
        assert "StrictHostKeyChecking=yes" in common
        result = run(ssh_from_inventory(hostvars, "hostname; cat /etc/machine-id"))
        assert result.returncode == 0, result.stderr
        hostname, machine_id = result.stdout.split()
        assert hostname == name
        assert machine_id == hostvars["inspectorctl_machine_id"] == lab.host(name).machine_id


def test_host_keys_are_verified(lab: Lab) -> None:
    """Connecting to weak-1 while expecting hardened-1's key must fail."""
    hosts = inventory_hosts(lab.inventory_path)
    argv = ssh_from_inventory(hosts["weak-1"], "true")
    # a fresh connection: a master left by an earlier Ansible run would skip verification
    wrong = [
        "HostKeyAlias=hardened-1" if arg == "HostKeyAlias=weak-1"
        else "ControlPath=none" if arg.startswith("ControlPath=")
        else arg
        for arg in argv
    ]
    assert "ControlPath=none" in wrong
    result = run(wrong)
    assert result.returncode == 255
    assert "Host key verification failed" in result.stderr


def test_ansible_reaches_hosts_with_just_the_inventory(lab: Lab, tmp_path: Path) -> None:
    ansible = Path(sys.executable).parent / "ansible"
    if not ansible.exists():
        found = shutil.which("ansible")
        if found is None:
            pytest.skip("ansible is not installed")
        ansible = Path(found)
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="True", ANSIBLE_LOCAL_TEMP=str(tmp_path))
    result = subprocess.run(
        [str(ansible), "-i", str(lab.inventory_path), "weak-1:hardened-1", "-m", "ping"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count('"ping": "pong"') == 2


# --- exec ---------------------------------------------------------------------------------


def test_exec_passes_the_exit_code_through(lab: Lab) -> None:
    result = lab.exec("baseline-1", ["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (result.returncode, result.stdout, result.stderr) == (7, "out\n", "err\n")
    assert lab.exec("baseline-1", ["cat"], input="fed\n").stdout == "fed\n"
    cli = CliRunner().invoke(
        app,
        [
            "lab",
            "--state-dir",
            str(lab.state_dir),
            "exec",
            "baseline-1",
            "--",
            "sh",
            "-c",
            "exit 5",
        ],
    )
    assert cli.exit_code == 5


def test_exec_runs_as_root_in_the_host(lab: Lab) -> None:
    out = sh(lab, "hardened-1", "id -u; hostname; cat /etc/hostname; readlink /proc/1/exe")
    uid, hostname, etc_hostname, init = out.split()
    assert (uid, hostname, etc_hostname) == ("0", "hardened-1", "hardened-1")
    assert init.endswith("python3") or "python3" in init


def test_a_host_says_it_is_a_container_as_container_managers_do(lab: Lab) -> None:
    """systemd's conventions (what systemd-detect-virt and the probe read), not the machine's
    own markers: /.dockerenv or the like is hidden, so a host is a container on any machine."""
    out = sh(lab, "hardened-1", "cat /run/systemd/container; "
             "tr '\\0' '\\n' < /proc/1/environ | grep '^container='; "
             "test -d /run/systemd/system || echo no-systemd")
    assert out.split() == ["inspectorctl-lab", "container=inspectorctl-lab", "no-systemd"]


# --- isolation ----------------------------------------------------------------------------


def test_a_file_written_in_one_host_is_nowhere_else(lab: Lab, scratch: LabHost) -> None:
    path = f"/etc/ictl-isolation-{os.getpid()}"
    sh(lab, scratch.name, f"echo mine > {path}")
    assert sh(lab, scratch.name, f"cat {path}") == "mine\n"
    assert lab.exec("baseline-1", ["test", "-e", path]).returncode == 1
    assert not os.path.lexists(path)


def test_kernel_settings_are_read_only_and_net_is_per_host(lab: Lab, scratch: LabHost) -> None:
    real_domain = Path("/proc/sys/kernel/domainname").read_text()
    result = lab.exec(scratch.name, ["sysctl", "-w", "kernel.domainname=lab-was-here"])
    assert result.returncode != 0
    assert Path("/proc/sys/kernel/domainname").read_text() == real_domain
    real_forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    flipped = "0" if real_forward.strip() == "1" else "1"
    sh(lab, scratch.name, f"sysctl -q -w net.ipv4.ip_forward={flipped}")
    assert sh(lab, scratch.name, "cat /proc/sys/net/ipv4/ip_forward").strip() == flipped
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == real_forward
    # the weak and hardened profiles set it at runtime in their own namespaces
    assert sh(lab, "weak-1", "cat /proc/sys/net/ipv4/ip_forward").strip() == "1"
    assert sh(lab, "hardened-1", "cat /proc/sys/net/ipv4/ip_forward").strip() == "0"


def test_a_host_cannot_reach_past_itself(lab: Lab) -> None:
    # no mounts (a fresh /proc would be writable), no clock, no raw disks, its own processes only
    assert lab.exec("baseline-1", ["mount", "-t", "proc", "proc", "/mnt"]).returncode != 0
    assert lab.exec("baseline-1", ["date", "-s", "2001-01-01"]).returncode != 0
    devices = sh(lab, "baseline-1", "ls /dev").split()
    assert not [d for d in devices if d.startswith(("vd", "sd", "nvme", "loop", "mem"))]
    pids = sh(lab, "baseline-1", "ls /proc | grep -E '^[0-9]+$'").split()
    assert "1" in pids and len(pids) < 20
    # the machine's sshd host keys and the lab's own state are not visible inside
    keys = sh(lab, "baseline-1", "ls /etc/ssh").split()
    assert [k for k in keys if k.startswith("ssh_host_")] == [
        "ssh_host_ed25519_key",
        "ssh_host_ed25519_key.pub",
    ]
    if Path("/etc/ssh/ssh_host_ed25519_key.pub").exists():
        mine = sh(lab, "baseline-1", "cat /etc/ssh/ssh_host_ed25519_key.pub").split()[1]
        assert mine != Path("/etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[1]
    assert lab.exec("baseline-1", ["test", "-e", str(lab.state_dir)]).returncode == 1
    assert sh(lab, "baseline-1", "ls -A /root/.ssh").split() == ["authorized_keys"]


def test_only_loopback_in_a_host(lab: Lab) -> None:
    links = sh(lab, "baseline-1", "ls /sys/class/net").split()
    assert links == ["lo"]
    listening = sh(lab, "baseline-1", "ss -Hltn | awk '{print $4}'").split()
    assert listening == ["127.0.0.1:22"]


# --- stop / start -------------------------------------------------------------------------


def test_stop_makes_a_host_unreachable_and_start_brings_it_back_intact(
    lab: Lab, scratch: LabHost
) -> None:
    sh(lab, scratch.name, "echo kept > /root/kept.txt")
    sh(lab, scratch.name, "sysctl -q -w net.ipv4.conf.all.log_martians=1")
    before = lab.host(scratch.name)
    ssh = lab.ssh_argv(scratch.name, ["true"])
    assert run(ssh).returncode == 0

    stopped = lab.stop(scratch.name)
    assert stopped.state is HostState.STOPPED and stopped.pid is None
    assert run([*ssh, "-o", "ConnectTimeout=5"]).returncode == 255
    with pytest.raises(LabError, match=f"host {scratch.name} is stopped"):
        lab.exec(scratch.name, ["true"])
    assert lab.stop(scratch.name).state is HostState.STOPPED  # idempotent

    started = lab.start(scratch.name)
    assert started.state is HostState.RUNNING
    assert run(ssh).returncode == 0
    assert sh(lab, scratch.name, "cat /root/kept.txt") == "kept\n"
    # the network namespace stays across stop/start, so do its runtime settings
    assert sh(lab, scratch.name, "cat /proc/sys/net/ipv4/conf/all/log_martians").strip() == "1"
    # identity is stable
    after = lab.host(scratch.name)
    assert after.model_dump(exclude={"pid"}) == before.model_dump(exclude={"pid"})
    identity = sh(
        lab, scratch.name, "hostname; cat /etc/machine-id /etc/inspectorctl-lab/identity.json"
    )
    hostname, machine_id, rest = identity.split("\n", 2)
    assert (hostname, machine_id) == (before.hostname, before.machine_id)
    assert json.loads(rest)["instance_id"] == before.instance_id


def test_a_killed_host_is_broken_and_start_repairs_it(lab: Lab, scratch: LabHost) -> None:
    pid = lab.host(scratch.name).pid
    assert pid is not None
    os.kill(pid, 9)
    for _ in range(200):
        if lab.host(scratch.name).state is HostState.BROKEN:
            break
        subprocess.run(["sleep", "0.01"], check=False)
    assert lab.host(scratch.name).state is HostState.BROKEN
    assert lab.start(scratch.name).state is HostState.RUNNING
    assert sh(lab, scratch.name, "hostname").strip() == scratch.name


# --- profiles, as seen inside the hosts ---------------------------------------------------


def _sshd(lab: Lab, host: str) -> dict[str, str]:
    out = sh(lab, host, "sshd -T")
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def test_weak_host_is_weak(lab: Lab) -> None:
    sshd = _sshd(lab, "weak-1")
    assert sshd["permitrootlogin"] == "yes"
    assert sshd["passwordauthentication"] == "yes"
    assert sshd["permitemptypasswords"] == "yes"
    assert "3des-cbc" in sshd["ciphers"].split(",")
    assert "hmac-md5" in sshd["macs"].split(",")
    assert "diffie-hellman-group1-sha1" in sshd["kexalgorithms"].split(",")
    assert sh(lab, "weak-1", "stat -c '%a %U:%G' /etc/shadow /etc/crontab").split("\n")[:2] == [
        "644 root:root",
        "666 root:root",
    ]
    assert sh(lab, "weak-1", "awk -F: '$3 == 0 {print $1}' /etc/passwd").split() == ["root", "toor"]
    assert sh(lab, "weak-1", "awk -F: '$1 == \"guest\" {print $2}' /etc/shadow") == "\n"
    installed = sh(lab, "weak-1", "dpkg-query -W -f '${Package} ${Status}\\n' telnetd rsh-server")
    assert installed.splitlines() == [
        "rsh-server install ok installed",
        "telnetd install ok installed",
    ]
    listening = sh(lab, "weak-1", "ss -Hltun | awk '{print $1, $5}'").split("\n")
    for entry in ("tcp 0.0.0.0:23", "tcp 0.0.0.0:21", "tcp 0.0.0.0:512", "udp 0.0.0.0:69"):
        assert entry in listening
    assert "PASS_MAX_DAYS\t99999" in sh(lab, "weak-1", "cat /etc/login.defs")
    assert sh(lab, "weak-1", "stat -c %a /usr/local/bin/backup.sh").strip() == "777"


def test_hardened_host_is_hardened(lab: Lab) -> None:
    sshd = _sshd(lab, "hardened-1")
    assert sshd["permitrootlogin"] == "without-password"
    assert sshd["passwordauthentication"] == "no"
    assert sshd["x11forwarding"] == "no"
    assert sshd["maxauthtries"] == "4"
    assert not {"3des-cbc", "aes128-cbc"} & set(sshd["ciphers"].split(","))
    assert not {"hmac-md5", "hmac-sha1", "umac-64@openssh.com"} & set(sshd["macs"].split(","))
    perms = sh(
        lab,
        "hardened-1",
        "stat -c '%n %a %U:%G' /etc/shadow /etc/passwd /etc/crontab /etc/cron.d "
        "/etc/ssh/sshd_config",
    ).splitlines()
    assert perms == [
        "/etc/shadow 640 root:shadow",
        "/etc/passwd 644 root:root",
        "/etc/crontab 600 root:root",
        "/etc/cron.d 700 root:root",
        "/etc/ssh/sshd_config 600 root:root",
    ]
    defs = sh(lab, "hardened-1", "grep -E '^(PASS_|UMASK)' /etc/login.defs").split()
    assert dict(zip(defs[::2], defs[1::2], strict=True)) == {
        "PASS_MAX_DAYS": "365",
        "PASS_MIN_DAYS": "1",
        "PASS_WARN_AGE": "7",
        "UMASK": "027",
    }
    assert "install cramfs /bin/false" in sh(lab, "hardened-1", "cat /etc/modprobe.d/*.conf")
    tmp_opts = sh(lab, "hardened-1", "awk '$2 == \"/tmp\" {print $4}' /proc/mounts").strip()
    assert {"nodev", "nosuid", "noexec"} <= set(tmp_opts.split(","))
    assert sh(lab, "hardened-1", "cat /proc/sys/net/ipv4/conf/all/rp_filter").strip() == "1"
    assert sh(lab, "hardened-1", "ss -Hltun | wc -l").strip() == "1"


def test_baseline_host_is_the_machine(lab: Lab) -> None:
    for path in ("/etc/shadow", "/etc/passwd", "/etc/login.defs"):
        st = os.stat(path)
        inside = sh(lab, "baseline-1", f"stat -c '%a %u %g' {path}").split()
        assert inside == [f"{st.st_mode & 0o7777:o}", str(st.st_uid), str(st.st_gid)]
    assert sh(lab, "baseline-1", "cat /etc/login.defs") == Path("/etc/login.defs").read_text()


def test_user_profiles_compose_and_listeners_survive_restart(lab: Lab, tmp_path: Path) -> None:
    extra = tmp_path / "extra.yml"
    extra.write_text(
        "name: extra\n"
        "description: an extra service and a marker file\n"
        "steps:\n"
        "  - {kind: listen, name: demo, port: 8080}\n"
        '  - {kind: file, path: /etc/extra-marker, content: "from extra\\n", mode: "0600"}\n'
    )
    (host,) = lab.up(1, ["baseline", str(extra)], "composed")
    assert host.name == "composed-1"
    assert host.profiles == ("baseline", "extra")
    assert host.tags["Profile"] == "baseline+extra"
    assert sh(lab, host.name, "stat -c '%a' /etc/extra-marker; cat /etc/extra-marker") == (
        "600\nfrom extra\n"
    )
    port = "ss -Hltn | awk '{print $4}' | grep -c ':8080$'"
    assert sh(lab, host.name, port).strip() == "1"
    lab.stop(host.name)
    lab.start(host.name)
    assert sh(lab, host.name, port).strip() == "1"
    doc = yaml.safe_load(lab.inventory_path.read_text())
    assert "composed-1" in doc["all"]["children"]["extra"]["hosts"]
    assert "composed-1" in doc["all"]["children"]["baseline"]["hosts"]


def test_up_continues_numbering(lab: Lab) -> None:
    first = lab.up(1, ["baseline"], "numbered")
    second = lab.up(2, ["baseline"], "numbered")
    assert [h.name for h in first + second] == ["numbered-1", "numbered-2", "numbered-3"]
    assert len({h.instance_id for h in first + second}) == 3
    assert len({h.machine_id for h in first + second}) == 3


# --- state outlives the process -----------------------------------------------------------


def test_status_and_inventory_from_another_process(lab: Lab) -> None:
    env = dict(os.environ, INSPECTORCTL_LAB_DIR=str(lab.state_dir))
    status = subprocess.run(
        [sys.executable, "-c", CLI_MAIN, "lab", "status", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    seen = {h["name"]: h for h in json.loads(status.stdout)}
    assert seen["weak-1"]["state"] == "running"
    assert seen["weak-1"]["instance_id"] == lab.host("weak-1").instance_id

    runner = CliRunner()
    result = runner.invoke(app, ["lab", "--state-dir", str(lab.state_dir), "inventory"])
    assert result.exit_code == 0
    assert result.stdout == lab.inventory_yaml()
