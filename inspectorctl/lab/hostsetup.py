"""Making a host: its upper dir, its netns, booting its init (applying its profiles' steps
while the init holds), waiting for SSH; and removing it again."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

from inspectorctl.lab.errors import LabError
from inspectorctl.lab.inventory import ssh_options
from inspectorctl.lab.models import DesiredState, HostRecord, LabRecord, instance_id_for
from inspectorctl.lab.overlay import _mkdir_like_lower, prepare_upper
from inspectorctl.lab.processes import (
    HOST_PATH,
    NETNS_DIR,
    add_netns,
    gone,
    host_alive,
    kill_and_wait,
    netns_inode,
    pids_in_netns,
    read_line,
    run_in_host,
)
from inspectorctl.lab.profiles import LoadedProfile
from inspectorctl.lab.requirements import HOSTINIT, Tools
from inspectorctl.lab.state import LabState, now

APPLY_SOURCE = (Path(__file__).resolve().parent / "hostapply.py").read_text(encoding="utf-8")
#: what a lab host calls itself in ``container=`` (PID 1's environment) and
#: /run/systemd/container, the conventions systemd-detect-virt and the probe read
CONTAINER_KIND = "inspectorctl-lab"

#: seconds a host gets to mount its root / to run its boot scripts / to answer SSH
MOUNT_TIMEOUT = 20.0
BOOT_TIMEOUT = 60.0
SSH_TIMEOUT = 30.0


def console_tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return ("; console: " + " | ".join(text)) if text else ""


def keygen(path: Path, comment: str, tools: Tools) -> None:
    result = subprocess.run(
        [tools.ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise LabError(f"ssh-keygen failed: {result.stderr.strip()}")


class HostSetup:
    """Creates, boots and removes the hosts of the lab whose files ``state`` holds."""

    def __init__(self, state: LabState) -> None:
        self.state = state

    def create_host(
        self,
        name: str,
        loaded: list[LoadedProfile],
        lab: LabRecord,
        tools: Tools,
        created: list[str],
        lock: threading.Lock,
        hidden_state_dirs: list[Path],
    ) -> None:
        hostdir = self.state.hosts_dir / name
        hostdir.mkdir(mode=0o700, parents=True)
        with lock:
            created.append(name)
        root_stat = os.stat("/")
        for sub in ("upper", "work", "root"):
            (hostdir / sub).mkdir()
            os.chmod(hostdir / sub, 0o755)
        upper = hostdir / "upper"
        # the upper dir's own attributes are those of the host's "/"
        os.chown(upper, root_stat.st_uid, root_stat.st_gid)
        os.chmod(upper, root_stat.st_mode & 0o7777)
        _mkdir_like_lower(upper, "etc/ssh")
        keygen(upper / "etc/ssh/ssh_host_ed25519_key", f"root@{name}", tools)
        host_key = (upper / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
        profile_names = tuple(lp.profile.name for lp in loaded)
        machine_id = uuid.uuid4().hex
        record = HostRecord(
            name=name,
            profiles=profile_names,
            netns=f"{lab.netns_prefix}{name}",
            instance_id=instance_id_for(machine_id),
            machine_id=machine_id,
            hostname=name,
            tags={"Name": name, "Lab": lab.lab_id, "Profile": "+".join(profile_names)},
            host_key=f"{host_key[0]} {host_key[1]}",
            desired=DesiredState.RUNNING,
            created_at=now(),
        )
        self.state.save_record(record)
        with lock:
            self.state.write_known_hosts()
        prepare_upper(
            upper,
            record,
            tools,
            authorized_key=self.state.private_key_path.with_suffix(".pub").read_text(),
            hidden_state_dirs=hidden_state_dirs,
        )
        add_netns(record.netns, tools)
        steps = [
            {"profile": lp.profile.name, "index": i, "step": step.model_dump(mode="json")}
            for lp in loaded
            for i, step in enumerate(lp.profile.steps)
        ]
        record = self.boot(record, tools, steps=steps)
        self.wait_ssh(record, tools)

    def boot(
        self, record: HostRecord, tools: Tools, steps: list[dict[str, object]] | None
    ) -> HostRecord:
        """Start the host's init; apply ``steps`` while it holds; wait for its boot scripts."""
        hostdir = self.state.hosts_dir / record.name
        console = hostdir / "console.log"
        argv = [
            tools.ip,
            "netns",
            "exec",
            record.netns,
            tools.python3,
            "-I",
            "-S",
            str(HOSTINIT),
            "--netns",
            record.netns,
            "--name",
            record.hostname,
            "--root",
            str(hostdir / "root"),
            "--upper",
            str(hostdir / "upper"),
            "--work",
            str(hostdir / "work"),
            "--console",
            str(console),
            "--pivot-root",
            tools.pivot_root,
        ]
        if steps is not None:
            argv.append("--hold")
        with open(console, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                # the host's PID 1 says what it is the way container managers do (systemd
                # reads container= from PID 1's environment): a lab host is a container
                env={"PATH": HOST_PATH, "LANG": "C.UTF-8", "container": CONTAINER_KIND},
            )
        assert proc.stdin is not None and proc.stdout is not None
        buffer = bytearray()
        fd = proc.stdout.fileno()
        try:
            line = self.expect(record, fd, buffer, "mounted", MOUNT_TIMEOUT, console)
            _, pid_text, start_text = line.split()
            record = record.model_copy(update={"pid": int(pid_text), "starttime": int(start_text)})
            self.state.save_record(record)
            if steps:
                self.apply(record, steps, tools)
            if steps is not None:
                proc.stdin.write(b"go\n")
                proc.stdin.flush()
            proc.stdin.close()
            self.expect(record, fd, buffer, "ready", BOOT_TIMEOUT, console)
        except BaseException:
            if record.pid is not None:
                with contextlib.suppress(LabError):
                    kill_and_wait({record.pid})
            raise
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            proc.stdout.close()
            proc.wait(timeout=10)
        return record

    def expect(
        self,
        record: HostRecord,
        fd: int,
        buffer: bytearray,
        word: str,
        timeout: float,
        console: Path,
    ) -> str:
        try:
            line = read_line(fd, buffer, time.monotonic() + timeout)
        except TimeoutError:
            raise LabError(
                f"host {record.name}: no '{word}' from its init within {timeout:g}s"
                f"{console_tail(console)}"
            ) from None
        if line is None:
            raise LabError(
                f"host {record.name}: its init ended before '{word}'{console_tail(console)}"
            )
        if line.startswith("error "):
            raise LabError(f"host {record.name}: {line[6:]}{console_tail(console)}")
        if line.split(" ", 1)[0] != word:
            raise LabError(f"host {record.name}: unexpected word from its init: {line!r}")
        return line

    def apply(self, record: HostRecord, steps: list[dict[str, object]], tools: Tools) -> None:
        assert record.pid is not None
        result = run_in_host(
            record.pid,
            [tools.python3, "-I", "-S", "-c", APPLY_SOURCE],
            tools,
            json.dumps({"steps": steps}),
            timeout=1800,
        )
        try:
            answer = json.loads(result.stdout or "{}")
        except json.JSONDecodeError:
            answer = {}
        if result.returncode != 0 or not isinstance(answer, dict) or "ok" not in answer:
            raise LabError(
                f"host {record.name}: applying its profiles failed (exit {result.returncode}): "
                f"{(result.stderr or result.stdout or '').strip()[-600:]}"
            )
        if not answer["ok"]:
            raise LabError(
                f"host {record.name}: profile {answer['profile']} step {answer['index'] + 1} "
                f"({answer['kind']}) failed: {answer['error']}"
            )

    def wait_ssh(self, record: HostRecord, tools: Tools) -> None:
        argv = [*self.ssh_argv_for(record, tools), "-o", "ConnectTimeout=10", "true"]
        deadline = time.monotonic() + SSH_TIMEOUT
        last = ""
        while True:
            try:
                result = subprocess.run(
                    argv,
                    capture_output=True,
                    text=True,
                    timeout=15,
                    check=False,
                    stdin=subprocess.DEVNULL,
                )
                if result.returncode == 0:
                    return
                last = result.stderr.strip()
            except subprocess.TimeoutExpired:
                last = "ssh timed out"
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        hint = ""
        if record.pid is not None and not gone(record.pid):
            check = run_in_host(record.pid, [tools.sshd, "-t"], tools, None, 30)
            if check.returncode != 0:
                hint = f"; sshd -t says: {check.stderr.strip()[-400:]}"
        raise LabError(f"host {record.name} does not answer SSH: {last[-400:]}{hint}")

    def ssh_argv_for(self, record: HostRecord, tools: Tools) -> list[str]:
        return [
            tools.ssh,
            *ssh_options(
                record,
                ip=tools.ip,
                nc=tools.nc,
                known_hosts=self.state.known_hosts_path,
                control_dir=None,
            ),
            "-o",
            "BatchMode=yes",
            "-i",
            str(self.state.private_key_path),
            "-p",
            "22",
            "root@127.0.0.1",
        ]

    def destroy_host(self, name: str, tools: Tools, netns_prefix: str) -> None:
        records = self.state.records()
        record = records.get(name)
        netns = record.netns if record else f"{netns_prefix}{name}"
        pids: set[int] = set()
        if record is not None and record.pid is not None and host_alive(record):
            pids.add(record.pid)
        inode = netns_inode(NETNS_DIR / netns)
        if inode is not None:
            pids |= pids_in_netns({inode})
        kill_and_wait(pids)
        if (NETNS_DIR / netns).exists():
            subprocess.run([tools.ip, "netns", "delete", netns], capture_output=True, check=False)
        shutil.rmtree(self.state.hosts_dir / name, ignore_errors=True)
