"""kill -9 (and Ctrl-C) of ``inspectorctl apply`` in the middle of a real apply (issue 9 item 6),
each on a weak lab host of its own (``kill-1``, ``sigint-1``).

The apply runs as a real process through the CLI. The host is made slow by a lab-side trick (a
``.pth`` file in the host's Python that sleeps at every interpreter start, so every Ansible
module takes seconds) so that the apply is surely mid-run when it is killed. Then:

- a second apply against the same database, while the first runs, exits 3 with the lock's
  message and runs nothing;
- after kill -9 of the orchestrator no process of the run survives: not the supervisor, not
  ``ansible-playbook`` nor its workers, not their ``ssh`` clients (read from /proc);
- ``journal`` shows the row that was running as possibly changed (the run ``died``);
- ``--resume`` runs that row again (it is not taken for ``ok``) and it ends changed or possibly
  changed;
- ``rollback`` includes the host and restores its /etc as it was before the apply.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inspectorctl.cli.main import app
from inspectorctl.lab import Lab
from inspectorctl.models.plan import JournalState
from inspectorctl.remediate import audit
from inspectorctl.store import journal
from inspectorctl.store.db import Store

pytestmark = [pytest.mark.lab, pytest.mark.slow]

RULES = ("ssh-max-auth-tries", "ssh-x11-forwarding", "sysctl-net-ipv4-conf-all-send-redirects")

runner = CliRunner()

#: every Python started on the host sleeps first (the host's own site-packages, in its overlay)
SLOW = ("d=$(/usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')"
        " && mkdir -p \"$d\" && echo 'import time; time.sleep(3)' > \"$d/zz_inspectorctl_slow.pth\""
        " && echo \"$d/zz_inspectorctl_slow.pth\"")


def _stat(pid: int) -> tuple[str, int, str] | None:
    """(state, ppid, start time) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    rest = raw.rpartition(")")[2].split()
    return rest[0], int(rest[1]), rest[19]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            "utf-8", "replace").strip()
    except OSError:
        return ""


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _descendants(root: int) -> dict[int, tuple[str, str]]:
    """pid -> (start time, command line) of every live descendant of ``root``."""
    children: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for pid in _all_pids():
        st = _stat(pid)
        if st is None or st[0] == "Z":
            continue
        children.setdefault(st[1], []).append(pid)
        starts[pid] = st[2]
    out: dict[int, tuple[str, str]] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out[pid] = (starts[pid], _cmdline(pid))
        todo.extend(children.get(pid, []))
    return out


def _alive(pid: int, start: str) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z" and st[2] == start


def _is_ssh(cmd: str) -> bool:
    return os.path.basename(cmd.split(" ", 1)[0]) == "ssh"


def _journal_states(db: Path) -> list[tuple[str, str, str, int]]:
    """(action, host, state, attempts) of every journal row, read as the test (no lock)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return [(str(a), str(h), str(s), int(n)) for a, h, s, n in con.execute(
            "SELECT action_id, host, state, attempts FROM journal ORDER BY action_id, host")]
    except sqlite3.OperationalError:  # no run yet
        return []
    finally:
        con.close()


def _etc(lab: Lab, host: str) -> str:
    script = ("find /etc -xdev -printf '%p %y %m %U:%G %l\\n' | LC_ALL=C sort; "
              "find /etc -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum")
    out = lab.exec(host, ["sh", "-c", script])
    assert out.returncode == 0, out.stderr
    return hashlib.sha256(out.stdout.encode()).hexdigest()


class Apply:
    """An approved plan of RULES for a weak lab host of its own, made slow, and a real
    ``inspectorctl apply`` process of it (``start``)."""

    def __init__(self, lab: Lab, tmp_path: Path, prefix: str) -> None:
        self.lab, self.tmp = lab, tmp_path
        self.host = lab.up(1, ["weak"], prefix)[0].name
        self.db = tmp_path / "findings.db"
        self.cli("assess", "-i", str(lab.inventory_path), "--limit", self.host, "--pack",
                 "cis-linux", *(a for r in RULES for a in ("--rule", r)))
        self.plan = tmp_path / "plan.json"
        self.cli("plan", "-o", str(self.plan))
        self.cli("approve", str(self.plan), "--by", "alice")
        self.plan_id = json.loads(self.plan.read_text())["plan_id"]
        self.etc_before = _etc(lab, self.host)
        slow = lab.exec(self.host, ["sh", "-c", SLOW])
        assert slow.returncode == 0, slow.stderr
        self.pth = slow.stdout.strip()
        self.exe = str(Path(sys.executable).with_name("inspectorctl"))
        self.env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}

    def cli(self, *args: str) -> str:
        res = runner.invoke(app, [*args, "--db", str(self.db)])
        assert res.exit_code == 0, res.output
        return res.stdout

    def start(self) -> subprocess.Popen[bytes]:
        with (self.tmp / "apply.out").open("w") as out, \
                (self.tmp / "apply.err").open("w") as err:
            # Ctrl-C's handling as in a terminal: a test run started in the background by a
            # shell without job control inherits SIGINT ignored, and so would the apply
            return subprocess.Popen([self.exe, "apply", str(self.plan), "--no-verify", "--by",
                                     "ops", "--db", str(self.db)], stdout=out, stderr=err,
                                    env=self.env, stdin=subprocess.DEVNULL,
                                    preexec_fn=_sigint_default)

    def mid_run(self, first: subprocess.Popen[bytes]
                ) -> tuple[list[tuple[str, str, str, int]], dict[int, tuple[str, str]]]:
        """Wait until a journal row is running while ansible-playbook and an ssh client of
        the run talk to the host; return the rows that are running and the processes."""
        deadline = time.monotonic() + 180
        while True:
            assert first.poll() is None, (self.tmp / "apply.err").read_text()
            assert time.monotonic() < deadline, "the apply never reached the host"
            procs = _descendants(first.pid)
            running = [r for r in _journal_states(self.db) if r[2] == "running"]
            if (running and any(_is_ssh(c) for _, c in procs.values())
                    and any("ansible-playbook" in c for _, c in procs.values())):
                return running, procs
            time.sleep(0.1)


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _none_survive(procs: dict[int, tuple[str, str]]) -> None:
    """No process of a stopped apply is left (the supervisor takes the whole process group
    down with the orchestrator), nor anything that runs its playbook."""
    deadline = time.monotonic() + 30
    while any(_alive(p, s) for p, (s, _) in procs.items()) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = {p: c for p, (s, c) in procs.items() if _alive(p, s)}
    assert not survivors, f"processes of the stopped apply survived: {survivors}"
    (pdd,) = {m for _, c in procs.values()
              for m in re.findall(r"/\S*/inspectorctl-apply-[A-Za-z0-9_]+", c)}
    assert not [p for p in _all_pids() if pdd in _cmdline(p) and (_stat(p) or "Z")[0] != "Z"]
    shutil.rmtree(pdd, ignore_errors=True)  # left behind by a killed process


def test_sigint_mid_apply_stops_it(lab: Lab, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (SIGINT to the process, as `kill -INT` or a scheduler sends it) stops the apply:
    exit 130, the run recorded as interrupted, nothing of it left running. (ansible-runner's
    own signal handlers used to swallow it: the run was cancelled and the apply went on.)"""
    monkeypatch.setenv("NO_COLOR", "1")
    a = Apply(lab, tmp_path, "sigint")
    first = a.start()
    try:
        _, procs = a.mid_run(first)
        os.kill(first.pid, signal.SIGINT)
        assert first.wait(timeout=60) == 130, (tmp_path / "apply.err").read_text()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert (tmp_path / "apply.err").read_text().endswith("interrupted\n")
    _none_survive(procs)
    with Store(a.db) as store:
        (run,) = journal.apply_runs(store)
        assert run.status == "interrupted"
        ends = [e.detail for e in audit.entries(store, run_id=run.id)
                if e.event.value == "apply_end"]
    assert ends == [{"status": "interrupted"}]
    assert lab.exec(a.host, ["rm", "-f", a.pth]).returncode == 0


def test_kill_9_mid_apply(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    a = Apply(lab, tmp_path, "kill")
    host, db, plan, plan_id, pth = a.host, a.db, a.plan, a.plan_id, a.pth
    exe, env, cli = a.exe, a.env, a.cli
    first = a.start()

    def mid_run() -> tuple[list[tuple[str, str, str, int]], dict[int, tuple[str, str]]]:
        return a.mid_run(first)

    try:
        mid_run()
        # a second apply of the same database meanwhile: refused, nothing run
        second = subprocess.run([exe, "apply", str(plan), "--no-verify", "--db", str(db)],
                                capture_output=True, text=True, env=env, timeout=120,
                                stdin=subprocess.DEVNULL)
        assert second.returncode == 3, second.stderr
        assert second.stdout == ""
        assert second.stderr == (
            f"error: another apply is running against {db} (pid {first.pid}, plan "
            f"{plan_id}); nothing was run: wait for it to finish (or, if its process "
            "is gone, run again: the lock is released when a process dies)\n")
        running, procs = mid_run()
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    # the supervisor takes the whole process group down with the orchestrator, and nothing
    # anywhere still runs the killed run's playbook (its private data dir)
    _none_survive(procs)

    # the rows running when it died (the actions of a batch on the same hosts run together,
    # so that may be more than one)
    died = sorted((a, h) for a, h, _, _ in running)
    assert {n for _, _, _, n in running} == {1}
    with Store(db) as store:
        (run,) = journal.apply_runs(store)
        assert run.status == "running"  # nobody recorded the end
    # the journal reads the rows the dead process left running as possibly changed
    shown = cli("journal", run.id).splitlines()
    assert shown[0] == (f"Run {run.id} (apply of plan {plan_id}): died (the process "
                        "applying it died; finish it with --resume (or roll it back))")
    for action_id, h in died:
        killed_line = [ln for ln in shown if f"({action_id}) on {h}:" in ln]
        assert len(killed_line) == 1
        assert killed_line[0].endswith(
            f"on {h}: possibly_changed (tries 1): the process applying it died while it ran "
            "(kill -9, crash or power loss): the host may have been changed")

    # --resume runs them again: they are not taken for ok
    assert lab.exec(host, ["rm", "-f", pth]).returncode == 0
    res = runner.invoke(app, ["apply", str(plan), "--resume", "--no-verify", "--db", str(db)])
    assert res.exit_code == 0, res.output
    with Store(db) as store:
        rows = {(e.action_id, e.host): e for e in journal.entries(store, run.id)}
        resumed = [e for e in audit.entries(store, run_id=run.id)
                   if e.event.value == "apply_start" and e.detail.get("resume")]
    for key in died:
        assert rows[key].attempts == 2
        assert rows[key].state in (JournalState.CHANGED, JournalState.POSSIBLY_CHANGED)
    assert all(e.state.done for e in rows.values())
    assert [e.detail["possibly_changed"] for e in resumed] == [
        sorted(f"{a}@{h}" for a, h in died)]

    # the rollback includes the host and puts its /etc back as it was
    res = runner.invoke(app, ["rollback", run.id, "--by", "carol", "--db", str(db)])
    assert res.exit_code == 0, res.output
    with Store(db) as store:
        (rb,) = [r for r in journal.apply_runs(store) if r.rollback_of == run.id]
        assert {e.host for e in journal.entries(store, rb.id)} == {host}
    assert _etc(lab, host) == a.etc_before
