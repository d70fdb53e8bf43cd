"""Hostile input at the command line: each case is one clear error (exit 2 for bad input, 1
for the environment), never a traceback, and nothing is written that should not be.

Issue 9's crash list and items 9-11 (identities, control characters, TTLs)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from inspectorctl.remediate import audit
from inspectorctl.store.db import Store
from tests.cli.test_remediate_cli import Env, env
from tests.fixtures import snapshot_dict, write_mini

__all__ = ["env"]


def _no_traceback(res: object) -> None:
    text = getattr(res, "output", "") + getattr(res, "stderr", "")
    assert "Traceback" not in text
    exc = getattr(res, "exception", None)
    assert exc is None or isinstance(exc, SystemExit), repr(exc)


def _audit_rows(env: Env) -> list[tuple[str, str]]:
    with Store(env.tmp / "findings.db") as store:
        return [(e.event.value, e.actor) for e in audit.entries(store)]


# ----------------------------------------------------------------------------------- TTLs


@pytest.mark.parametrize(("ttl", "message"), [
    ("0s", "error: --ttl 0s: an approval must last longer than 0s (give e.g. 30m, 24h or 7d)"),
    ("0d0h", "error: --ttl 0d0h: an approval must last longer than 0s (give e.g. 30m, 24h or "
             "7d)"),
    ("999999999d", "error: --ttl 999999999d: duration '999999999d' is too long: at most "
                   "3650d"),
    ("99999999999999999999d", "error: --ttl 99999999999999999999d: duration "
                              "'99999999999999999999d' is too long: at most 3650d"),
    ("400d", "error: --ttl 400d: an approval may last at most 366d, not 400d"),
])
def test_bad_ttls_are_refused(env: Env, ttl: str, message: str) -> None:
    env.make_plan()
    before = _audit_rows(env)
    res = env.run("approve", str(env.plan), "--by", "alice", "--ttl", ttl)
    _no_traceback(res)
    assert (res.exit_code, res.stderr) == (2, message + "\n")
    assert _audit_rows(env) == before  # nothing approved


def test_the_shortest_ttl_wins_and_a_rule_ttl_applies_to_people(env: Env) -> None:
    env.make_plan()
    pol = env.tmp / "policy.yml"
    pol.write_text("approval_ttl: 12h\nrules:\n  - name: ssh needs a person\n"
                   "    rules: ['mini-ssh-*']\n    approvers: 1\n    approval_ttl: 2h\n")
    res = env.run("approve", str(env.plan), "--by", "alice", "--policy", str(pol),
                  "--ttl", "48h")
    assert res.exit_code == 0, res.output
    with Store(env.tmp / "findings.db") as store:
        from inspectorctl.remediate.approval import read_approvals

        (a,) = read_approvals(store).approvals
    assert a.expires_at - a.created_at == timedelta(hours=2)


def test_policy_ttl_overflow_is_a_policy_error(env: Env) -> None:
    env.make_plan()
    pol = env.tmp / "policy.yml"
    pol.write_text("approval_ttl: 999999999d\n")
    res = env.run("approve", str(env.plan), "--policy", str(pol))
    _no_traceback(res)
    assert (res.exit_code, res.stderr) == (
        2, f"error: {pol}:1: policy: approval_ttl: duration '999999999d' is too long: at most "
           "3650d\n")
    pol.write_text("rules:\n  - name: r\n    auto_approve: true\n    approval_ttl: 0s\n")
    res = env.run("approve", str(env.plan), "--policy", str(pol))
    assert res.exit_code == 2
    assert "an approval must last longer than 0s" in res.stderr


def test_suppress_days_overflow(env: Env) -> None:
    env.assess()
    fid = json.loads(env.run("findings", "list", "-f", "json").stdout)["findings"][0]["id"]
    res = env.run("findings", "suppress", fid, "--by", "alice", "--reason", "r",
                  "--days", "99999999")
    _no_traceback(res)
    assert res.exit_code == 2
    assert "Invalid value for '--days': Input should be less than or equal to 3650" in res.output


# ----------------------------------------------------------------------------- identities


def test_approver_names_are_one_person_whatever_their_spelling(env: Env) -> None:
    actions = env.make_plan()["actions"]
    assert isinstance(actions, list)
    (aid,) = [a["id"] for a in actions]
    pol = env.tmp / "policy.yml"
    pol.write_text("default_approvers: 2\n")
    for name in ("alice", "Alice", " \uff21\uff2c\uff29\uff23\uff25 "):  # full-width
        res = env.run("approve", str(env.plan), "--by", name, "--policy", str(pol))
        assert res.exit_code == 0, res.output
        assert res.stdout.startswith("Approved by alice: ")
    res = env.run("apply", str(env.plan), "-i", str(env.inventory), "--no-verify",
                  "--policy", str(pol))
    assert res.exit_code == 3
    assert f"{aid} (sshd_config): needs 2 distinct approvers, has 1 (alice)" in res.stderr
    assert env.executor.calls == []
    assert env.run("approve", str(env.plan), "--by", "bob", "--policy",
                   str(pol)).exit_code == 0
    res = env.run("apply", str(env.plan), "-i", str(env.inventory), "--no-verify",
                  "--policy", str(pol))
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(("name", "shown"), [
    ("mallory\n   1 2026-01-01T00:00:00+00:00 approve        alice", "\\n"),
    ("eve\x1b[2J", "\\x1b"),
    ("bob\u202egnp.exe", "\\u202e"),
    ("   ", None),
])
def test_control_characters_and_empty_names_are_refused(env: Env, name: str,
                                                        shown: str | None) -> None:
    env.make_plan()
    before = _audit_rows(env)
    for cmd in (["approve", str(env.plan), "--by", name],
                ["apply", str(env.plan), "--by", name, "-i", str(env.inventory)],
                ["runs", "prune", "--keep", "1", "--by", name]):
        res = env.run(*cmd)
        _no_traceback(res)
        assert res.exit_code == 2, (cmd, res.output)
        if shown is None:
            assert res.stderr == ("error: --by: the name is empty; give who you are (e.g. "
                                  "--by alice)\n")
        else:
            assert res.stderr.startswith("error: --by ")
            assert f"contains control or format character(s) {shown}" in res.stderr
            assert "\x1b" not in res.stderr and "\u202e" not in res.stderr
    res = env.run("approve", str(env.plan), "--by", "alice", "--comment", "ok\nfake line")
    assert (res.exit_code, res.stderr) == (
        2, "error: --comment: contains control or format character(s) \\n; write it on one "
           "line without them\n")
    assert _audit_rows(env) == before
    assert env.executor.calls == []


def test_the_planner_may_not_approve_alone_when_the_policy_says_so(env: Env) -> None:
    env.assess()
    res = env.run("plan", "--pack", str(env.pack), "-o", str(env.plan), "--by", "Alice")
    assert res.exit_code == 0, res.output
    assert json.loads(env.plan.read_text())["created_by"] == "alice"
    pol = env.tmp / "policy.yml"
    pol.write_text("planner_cannot_approve: true\n")
    res = env.run("approve", str(env.plan), "--by", "ALICE", "--policy", str(pol))
    assert (res.exit_code, res.stderr) == (
        2, f"error: alice made plan {json.loads(env.plan.read_text())['plan_id']} and the "
           f"policy {pol} says the planner may not approve it (planner_cannot_approve); "
           "someone else must approve it\n")
    # approved without the policy, the gate that enforces it does not count the planner
    assert env.run("approve", str(env.plan), "--by", "alice").exit_code == 0
    res = env.run("apply", str(env.plan), "-i", str(env.inventory), "--no-verify",
                  "--policy", str(pol))
    assert res.exit_code == 3, res.output
    assert ("not approved (needs 1 approver); the planner alice does not count "
            "(planner_cannot_approve)") in res.stderr
    assert env.executor.calls == []
    assert env.run("approve", str(env.plan), "--by", "bob", "--policy",
                   str(pol)).exit_code == 0
    res = env.run("apply", str(env.plan), "-i", str(env.inventory), "--no-verify",
                  "--policy", str(pol))
    assert res.exit_code == 0, res.output


def test_audit_list_shows_one_line_per_entry(env: Env) -> None:
    env.make_plan()
    with Store(env.tmp / "findings.db") as store:  # a row written by an older version
        audit.record(store, audit.AuditEvent.REFUSE, "x\n  99 forged", env_now(),
                     detail={"message": "m\x1b[31m"})
    res = env.run("audit", "list")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert len(lines) == 2
    assert lines[1].endswith(" refuse         x\\n  99 forged   - - m\\x1b[31m")
    assert "\x1b" not in res.stdout


def env_now() -> datetime:
    from inspectorctl.store.db import now

    return now()


# ------------------------------------------------------------------- control chars in output


def _hostile_env(tmp: Path) -> tuple[Path, Path]:
    tmp.mkdir()
    return write_mini(tmp, {"web-1": snapshot_dict(
        "web-1", root_login="yes\x1b]0;pwned\x07\x1b[2J\x00\x0c", tries="6")})


def test_evidence_with_control_characters_in_every_renderer(env: Env) -> None:
    pack, snaps = _hostile_env(env.tmp / "h")
    res = env.run("assess", "--pack", str(pack), "--from-snapshots", str(snaps))
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.stdout
    fid = next(f["id"] for f in json.loads(
        env.run("findings", "list", "-f", "json").stdout)["findings"]
               if "ssh-root" in f["rule_id"])
    res = env.run("findings", "show", fid)
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.stdout and "\x00" not in res.stdout and "\x07" not in res.stdout
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\x00\\x0c" in res.stdout
    junit = env.tmp / "r.xml"
    res = env.run("assess", "--pack", str(pack), "--from-snapshots", str(snaps), "-f",
                  "junit", "-o", str(junit), "--no-store")
    assert res.exit_code == 0, res.output
    root = ET.fromstring(junit.read_text())  # valid XML 1.0
    fail = [f.text for f in root.iter("failure") if f.text and "pwned" in f.text]
    assert fail and "\\x1b]0;pwned" in fail[0]
    res = env.run("assess", "--pack", str(pack), "--from-snapshots", str(snaps), "-f",
                  "sarif", "--no-store")
    assert res.exit_code == 0
    json.loads(res.stdout)  # JSON escapes control characters itself


MARKUP_PACK = textwrap.dedent("""\
    id: "mini[/x]"
    version: "1[/b]"
    title: "[/x] closes nothing [bold]"
    description: "[red]d"
    rules:
      - id: mini-ssh-root
        title: "[/x] title [link=http://x]"
        description: d
        rationale: r
        severity: high
        check: {kind: sshd_option, option: PermitRootLogin, expect: {op: eq, value: "no"}}
    """)


def test_rich_markup_in_a_rulepack_is_text(env: Env) -> None:
    pack = env.tmp / "markup.yml"
    pack.write_text(MARKUP_PACK)
    res = env.run("rulepacks", "validate", str(pack))
    _no_traceback(res)
    assert res.exit_code == 0, res.output
    assert res.stdout == f"ok: {pack}: pack mini[/x], 1 rules\n"
    res = env.run("rulepacks", "show", str(pack))
    _no_traceback(res)
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0] == "mini[/x] 1[/b]: [/x] closes nothing [bold]"
    assert "[/x] title [link=http://x]" in res.stdout


# ------------------------------------------------------------------ files that are bombs


BOMB = textwrap.dedent("""\
    a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
    h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
    i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
    tailoring: {x: *i}
    """)


@pytest.mark.parametrize(("text", "message"), [
    (BOMB, ":6: aliases expand to more than 100000 nodes (a YAML alias bomb?); inspectorctl "
           "refuses such a file"),
    ("tailoring: &a {x: [*a]}\n", ":1: alias *a refers to a node that contains it (a "
                                 "recursive alias); inspectorctl refuses such a file"),
    ("tailoring: " + "[" * 80 + "]" * 80 + "\n",
     ":1: nested deeper than 64 levels; inspectorctl refuses such a file"),
    ("tailoring: " + "[" * 50000 + "]" * 50000 + "\n",
     ":1: invalid YAML: exceeded maximum nesting depth"),
])
def test_yaml_bombs_in_a_template(env: Env, text: str, message: str) -> None:
    tpl = env.tmp / "tpl.yml"
    tpl.write_text(text)
    res = env.run("assess", "--template", str(tpl), "--pack", str(env.pack),
                  "--from-snapshots", str(env.snaps))
    _no_traceback(res)
    assert (res.exit_code, res.stderr) == (2, f"error: {tpl}{message}\n")


def test_deep_inventory_and_plan(env: Env) -> None:
    inv = env.tmp / "deep.yml"
    inv.write_text("all:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(50000)))
    res = env.run("assess", "-i", str(inv), "--pack", str(env.pack))
    _no_traceback(res)
    assert res.exit_code == 2
    assert res.stderr.startswith(f"error: {inv}:")
    plan = env.tmp / "deep.json"
    plan.write_text('{"actions": ' + "[" * 100000 + "]" * 100000 + "}")
    for cmd in (["plan", "show", str(plan)], ["approve", str(plan), "--by", "a"],
                ["apply", str(plan)]):
        res = env.run(*cmd)
        _no_traceback(res)
        assert (res.exit_code, res.stderr) == (
            2, f"error: {plan}: nested deeper than 64 levels; inspectorctl refuses such a "
               "file\n")


def test_a_fifo_is_not_read(env: Env) -> None:
    fifo = env.tmp / "policy.yml"
    os.mkfifo(fifo)
    env.make_plan()
    res = env.run("approve", str(env.plan), "--policy", str(fifo))
    assert (res.exit_code, res.stderr) == (
        2, f"error: {fifo}: the file is a FIFO; give a regular file\n")


# --------------------------------------------------------------------- the environment


def test_a_corrupt_database_is_one_error(env: Env) -> None:
    env.make_plan()
    db = env.tmp / "findings.db"
    with sqlite3.connect(db) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = db.stat().st_size
    with db.open("r+b") as fh:  # keep the header, garble every page after the first two
        fh.seek(8192)
        fh.write(b"\xa5" * (size - 8192))
    for cmd in (["audit", "list"], ["findings", "list"], ["runs", "list"],
                ["audit", "verify"]):
        res = env.run(*cmd)
        _no_traceback(res)
        assert res.exit_code in (1, 2), (cmd, res.output)
        assert re.match(rf"error: (the database {db} is corrupt|database error)",
                        res.stderr), res.stderr


def test_a_file_size_limit_during_assess_is_one_error(tmp_path: Path) -> None:
    """ulimit -f: every write past the limit fails with EFBIG (Python ignores SIGXFSZ)."""
    pack, snaps = write_mini(tmp_path, {
        f"web-{i}": snapshot_dict(f"web-{i}", root_login="yes", tries="6") for i in range(40)})
    code = textwrap.dedent(f"""\
        import resource, sys
        resource.setrlimit(resource.RLIMIT_FSIZE, (60000, 60000))
        from inspectorctl.cli.main import app
        sys.argv = ["inspectorctl", "assess", "--pack", {str(pack)!r}, "--from-snapshots",
                    {str(snaps)!r}, "--db", {str(tmp_path / "f.db")!r}]
        app()
        """)
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("INSPECTORCTL_DB", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("error: "), proc.stderr
    assert ("file size limit" in proc.stderr or "File too large" in proc.stderr), proc.stderr


def test_audit_verify_names_what_was_done_to_the_log(env: Env) -> None:
    env.make_plan()
    assert env.run("approve", str(env.plan), "--by", "alice").exit_code == 0
    res = env.run("audit", "verify")
    assert res.exit_code == 0, res.output
    assert re.fullmatch(r"audit log intact: 2 entries; head entry 2 \(h1:[0-9a-f]{12}\)\n",
                        res.stdout)
    db = sqlite3.connect(env.tmp / "findings.db")
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("DROP TRIGGER audit_log_no_delete")
    db.execute("UPDATE audit_log SET actor='mallory' WHERE seq=1")
    db.execute("DELETE FROM audit_log WHERE seq=2")
    db.commit()
    db.close()
    res = env.run("audit", "verify")
    assert res.exit_code == 1
    assert res.stdout.splitlines() == [
        "edited: entry 1: entry 1 (plan by 'mallory') does not match its keyed digest: it was "
        "edited, or inserted by someone without the key",
        f"truncated: entry 2: the log ends at entry 1 but entry 2 was written (head file "
        f"{env.tmp}/findings.db.key.head): entries 2-2 were cut off the end",
    ]
    res = env.run("audit", "list")
    assert res.exit_code == 1
    assert res.stderr.startswith(f"error: the audit log in {env.tmp}/findings.db is not "
                                 "intact: entry 1 (plan by 'mallory') does not match")
    assert res.stderr.endswith("see `inspectorctl audit verify`\n")
    # nothing is applied (or rolled back) on top of a log that does not verify
    for cmd in (("apply", str(env.plan), "-i", str(env.inventory), "--no-verify"),
                ("rollback", "a-any", "--by", "alice")):
        res = env.run(*cmd)
        assert (res.exit_code, res.stdout) == (3, ""), res.output
        assert res.stderr == (
            f"error: refused: the audit log in {env.tmp}/findings.db is not intact: entry 1 "
            "(plan by 'mallory') does not match its keyed digest: it was edited, or inserted "
            "by someone without the key (and 1 more problem(s)); nothing was run: see "
            "`inspectorctl audit verify`, and find out who changed the database before "
            "changing any host\n")
    assert env.executor.calls == []
