"""Exact-output tests of the assessment commands (offline: saved snapshots, a tiny pack)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from inspectorctl.cli.main import app
from inspectorctl.models.finding import finding_id
from tests.fixtures import snapshot_dict, write_mini

runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSPECTORCTL_DB", str(tmp_path / "findings.db"))
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")


def run_id(output: str) -> str:
    m = re.search(r"Run (r-\w+):", output)
    assert m, output
    return m.group(1)


def test_assess_from_snapshots_summary(tmp_path: Path) -> None:
    pack, snaps = write_mini(tmp_path, {
        "web-1": snapshot_dict("web-1", root_login="yes", tries="6"),
        "web-2": snapshot_dict("web-2"),
    })
    res = runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps)])
    assert res.exit_code == 0, res.output
    rid = run_id(res.output)
    lines = res.stdout.splitlines()
    assert lines[0].startswith(f"Run {rid}: 2 host(s), 3 rule(s) in ")
    assert lines[1:] == [
        "Host   Pass  Fail  Error  N/A",
        "web-1     1     2      0    0",
        "web-2     3     0      0    0",
        "Failed by severity: critical 0, high 1, medium 1, low 0, informational 0",
        "Severity  Finding             Host   Rule            Title                      ",
        f"high      {finding_id('mini-ssh-root', 'web-1')}  web-1  mini-ssh-root   "
        "SSH root login is disabled ",
        f"medium    {finding_id('mini-ssh-tries', 'web-1')}  web-1  mini-ssh-tries  "
        "SSH MaxAuthTries is limited",
        "New findings: 2, reopened: 0, closed: 0",
    ]


def test_fail_on_threshold_and_tailoring(tmp_path: Path) -> None:
    pack, snaps = write_mini(tmp_path, {"h": snapshot_dict("h", tries="6")})
    base = ["assess", "--pack", str(pack), "--from-snapshots", str(snaps)]
    assert runner.invoke(app, [*base, "--fail-on", "high"]).exit_code == 0
    assert runner.invoke(app, [*base, "--fail-on", "medium"]).exit_code == 1
    # tailoring raises the limit: the medium finding passes and closes
    res = runner.invoke(app, [*base, "--set", "max_tries=6", "--fail-on", "medium"])
    assert res.exit_code == 0, res.output
    assert "New findings: 0, reopened: 0, closed: 1" in res.stdout


def test_json_output_is_complete(tmp_path: Path) -> None:
    pack, snaps = write_mini(tmp_path, {"h": snapshot_dict("h", forward="1")})
    res = runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps),
                              "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    by_rule = {r["rule_id"]: r for r in doc["results"]}
    assert by_rule["mini-ip-forward"]["status"] == "FAIL"
    assert by_rule["mini-ip-forward"]["evidence"] == {
        "expected": "net.ipv4.ip_forward = 0",
        "found": "runtime 1; configured 1",
        "source": "/proc/sys, /etc/sysctl.d/60-x.conf:1",
    }
    assert by_rule["mini-ssh-root"]["status"] == "PASS"
    assert doc["run"]["counts"]["failed"] == 1


def test_framework_view_reports_per_requirement(tmp_path: Path) -> None:
    pack, snaps = write_mini(tmp_path, {"h": snapshot_dict("h", tries="9")})
    res = runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps),
                              "--framework", "pci-dss"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "3 rule(s)" not in out and "2 rule(s)" in out  # ip-forward has no PCI mapping
    assert "pci-dss compliance: 1 of 2 requirement(s) compliant" in out
    assert re.search(r"^2\.2\.6\s+non-compliant\s+2\s+1\s+0\s+h\s*$", out, re.M)
    assert re.search(r"^8\.2\.2\s+compliant\s+1\s+0\s+0\s*$", out, re.M)


def test_findings_list_show_and_runs(tmp_path: Path) -> None:
    pack, snaps = write_mini(tmp_path, {"h": snapshot_dict("h", root_login="yes")})
    res = runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps)])
    rid = run_id(res.output)
    res = runner.invoke(app, ["findings", "list", "--format", "json"])
    assert res.exit_code == 0
    (f,) = json.loads(res.stdout)["findings"]
    assert (f["rule_id"], f["host"], f["state"], f["status"]) == (
        "mini-ssh-root", "h", "active", "FAIL")
    res = runner.invoke(app, ["findings", "show", f["id"]])
    assert res.exit_code == 0
    assert f"Finding   {f['id']}\n" in res.stdout
    assert "Expected  permitrootlogin = no\n" in res.stdout
    assert "Found     permitrootlogin yes\n" in res.stdout
    # the references the pack holds (a user's pack, found through the run that used it)
    assert "PCI DSS   2.2.6, 8.2.2\nHIPAA     164.312(a)(1)\n" in res.stdout
    res = runner.invoke(app, ["runs", "list"])
    assert rid in res.stdout
    res = runner.invoke(app, ["findings", "list", "--severity", "critical"])
    assert res.stdout == "No findings match.\n"


def test_unknown_finding_and_run(tmp_path: Path) -> None:
    res = runner.invoke(app, ["findings", "show", "f-nope"])
    assert res.exit_code == 2
    assert res.stderr == "error: no finding 'f-nope'; see `inspectorctl findings list`\n"
    res = runner.invoke(app, ["findings", "list", "--run", "r-nope"])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: no run 'r-nope' in ")


def test_bad_inputs_exit_2_and_write_nothing(tmp_path: Path) -> None:
    pack, snaps = write_mini(tmp_path, {"h": snapshot_dict("h")})
    db = tmp_path / "findings.db"
    cases = [
        (["--pack", "no-such-pack"], "error: unknown rulepack 'no-such-pack'; shipped packs: "),
        (["--pack", str(pack), "--framework", "sox"],
         "error: unknown framework 'sox'; valid: cis, pci-dss, hipaa, nist-800-53, aws\n"),
        (["--pack", str(pack), "--set", "nope"],
         "error: --set 'nope': expected NAME=VALUE (e.g. --set pass_max_days=90)\n"),
        (["--pack", str(pack), "--set", "nope=1"],
         "error: unknown tailoring variable(s) nope; the selected packs define: max_tries, "
         "mini.max_tries\n"),
        (["--pack", str(pack), "--rule", "zzz*"],
         "error: no rule matches the selection (check --pack, --rule, --exclude and "
         "--framework)\n"),
        (["--pack", str(pack), "--inventory", str(tmp_path / "none.yml")],
         f"error: {tmp_path / 'none.yml'}: no such inventory file\n"),
        (["--pack", str(pack), "--template", str(tmp_path / "none.yml")],
         f"error: {tmp_path / 'none.yml'}: no such file\n"),
    ]
    for args, message in cases:
        res = runner.invoke(app, ["assess", *args, "--from-snapshots", str(snaps)])
        assert res.exit_code == 2, (args, res.output)
        assert res.stderr.startswith(message), (args, res.stderr)
        assert res.stdout == ""
    assert not db.exists()


def test_bad_snapshot_file_names_the_file(tmp_path: Path) -> None:
    pack, snaps = write_mini(tmp_path, {"h": snapshot_dict("h")})
    (snaps / "zz-broken.json").write_text('{"host": {"name": "x"}}')
    res = runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps)])
    assert res.exit_code == 2
    assert res.stderr == (f"error: {snaps / 'zz-broken.json'}: not a valid snapshot: "
                          "collected_at: Field required\n")
    # nothing half-written: the good host was not recorded either
    res = runner.invoke(app, ["runs", "list"])
    assert res.stdout == "No runs recorded.\n"


def test_bad_template(tmp_path: Path) -> None:
    tpl = tmp_path / "t.yml"
    tpl.write_text("name: weekly\ntargets:\n  become: true\n  forks: 0\n")
    res = runner.invoke(app, ["assess", "--template", str(tpl)])
    assert res.exit_code == 2
    assert res.stderr == (f"error: {tpl}:4: template: targets.forks: Input should be greater "
                          "than or equal to 1\n")
    tpl.write_text("name: weekly\npacks: [cis-linux]\nbogus: 1\n")
    res = runner.invoke(app, ["assess", "--template", str(tpl)])
    assert res.exit_code == 2
    assert res.stderr == f"error: {tpl}:3: template: bogus: unknown field (check its spelling)\n"


def test_corrupt_db_is_one_message(tmp_path: Path) -> None:
    pack, snaps = write_mini(tmp_path, {"h": snapshot_dict("h")})
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 500)
    res = runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps),
                              "--db", str(bad)])
    assert res.exit_code == 1
    assert res.stderr.startswith(f"error: the database {bad} is corrupt or not an inspectorctl "
                                 "database")


def test_suppress_and_unsuppress_are_audited(tmp_path: Path) -> None:
    pack, snaps = write_mini(tmp_path, {"h": snapshot_dict("h", root_login="yes")})
    runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps)])
    (f,) = json.loads(
        runner.invoke(app, ["findings", "list", "--format", "json"]).stdout)["findings"]
    res = runner.invoke(app, ["findings", "suppress", f["id"], "--by", "alice", "--reason",
                              "bastion needs it", "--days", "30"])
    assert res.exit_code == 0, res.output
    assert re.fullmatch(rf"suppressed {f['id']} \(mini-ssh-root on h\) until \d{{4}}-\d\d-\d\d\n",
                        res.stdout)
    assert runner.invoke(app, ["findings", "list"]).stdout == "No findings match.\n"
    shown = runner.invoke(app, ["findings", "show", f["id"]]).stdout
    assert "Suppressed by alice until " in shown and ": bastion needs it" in shown
    audit = runner.invoke(app, ["audit", "list", "--format", "json"])
    assert audit.exit_code == 0, audit.output
    assert [e["event"] for e in json.loads(audit.stdout)["entries"]] == ["suppress"]
    res = runner.invoke(app, ["findings", "unsuppress", f["id"], "--by", "alice"])
    assert res.stdout == f"{f['id']} is active\n"
    res = runner.invoke(app, ["findings", "suppress", "f-nope", "--by", "a", "--reason", "r"])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: no finding f-nope in ")


@pytest.mark.parametrize("command", ["suppress", "unsuppress", "prune"])
def test_a_change_and_its_audit_entry_are_written_together_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """A failure after the audit entry was written, before the commit (here: the audit write
    fails right after its INSERT), leaves neither the change nor the entry."""
    from inspectorctl.errors import InspectorctlError
    from inspectorctl.remediate import audit

    pack, snaps = write_mini(tmp_path, {"h": snapshot_dict("h", root_login="yes")})
    for _ in range(2):
        runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps)])
    (f,) = json.loads(
        runner.invoke(app, ["findings", "list", "--format", "json"]).stdout)["findings"]
    if command == "unsuppress":
        assert runner.invoke(app, ["findings", "suppress", f["id"], "--by", "a", "--reason",
                                   "r"]).exit_code == 0
    before = {
        "findings": runner.invoke(app, ["findings", "list", "--all", "--format", "json"]).stdout,
        "runs": runner.invoke(app, ["runs", "list", "--format", "json"]).stdout,
        "audit": runner.invoke(app, ["audit", "list", "--format", "json"]).stdout,
    }
    real_append = audit.append

    def append_then_fail(db: Any, *args: Any, **kwargs: Any) -> None:
        real_append(db, *args, **kwargs)
        assert db.execute("SELECT count(*) FROM audit_log").fetchone()[0] >= 1
        raise InspectorctlError("disk full (injected)")

    monkeypatch.setattr(audit, "append", append_then_fail)
    argv = {
        "suppress": ["findings", "suppress", f["id"], "--by", "alice", "--reason", "accepted"],
        "unsuppress": ["findings", "unsuppress", f["id"], "--by", "alice"],
        "prune": ["runs", "prune", "--keep", "1", "--by", "alice"],
    }[command]
    res = runner.invoke(app, argv)
    assert res.exit_code == 1 and res.stderr == "error: disk full (injected)\n"
    monkeypatch.setattr(audit, "append", real_append)
    after = {
        "findings": runner.invoke(app, ["findings", "list", "--all", "--format", "json"]).stdout,
        "runs": runner.invoke(app, ["runs", "list", "--format", "json"]).stdout,
        "audit": runner.invoke(app, ["audit", "list", "--format", "json"]).stdout,
    }
    assert after == before
    # and without the failure the same command changes both
    assert runner.invoke(app, argv).exit_code == 0
    assert runner.invoke(app, ["audit", "list", "--format", "json"]).stdout != before["audit"]


def test_runs_prune_keeps_the_newest_result_of_each_rule_on_each_host(tmp_path: Path) -> None:
    pack, snaps = write_mini(tmp_path, {"a": snapshot_dict("a", root_login="yes"),
                                        "b": snapshot_dict("b")})
    base = ["assess", "--pack", str(pack), "--from-snapshots"]
    old = run_id(runner.invoke(app, [*base, str(snaps)]).output)  # hosts a and b
    (snaps / "b.json").unlink()
    mid = run_id(runner.invoke(app, [*base, str(snaps)]).output)  # a only
    new = run_id(runner.invoke(app, [*base, str(snaps)]).output)  # a only
    res = runner.invoke(app, ["runs", "prune", "--keep", "1", "--by", "ops"])
    assert res.exit_code == 0, res.output
    # old: a's 3 results are superseded, b's are b's newest; mid: all superseded
    assert res.stdout == ("Pruned 2 run(s): 6 result row(s) removed, 3 kept (the newest "
                          "result of a rule on a host). Findings are unchanged.\n")
    runs = {r["id"]: r for r in json.loads(
        runner.invoke(app, ["runs", "list", "--format", "json"]).stdout)["runs"]}
    assert runs[new]["pruned_at"] is None
    assert runs[old]["pruned_at"] is not None and runs[mid]["pruned_at"] is not None
    assert runs[old]["counts"]["hosts"] == 2  # the run's record and counts stay
    assert "(pruned)" in runner.invoke(app, ["runs", "list"]).stdout
    # the finding on a is still there, and still listed for the newest run
    res = runner.invoke(app, ["findings", "list", "--run", new, "--format", "json"])
    assert [f["host"] for f in json.loads(res.stdout)["findings"]] == ["a"]
    res = runner.invoke(app, ["findings", "list", "--run", old, "--format", "json"])
    assert json.loads(res.stdout)["findings"] == []
    assert res.stderr.startswith(f"note: run {old} was pruned on ")
    audit = json.loads(runner.invoke(app, ["audit", "list", "--format", "json"]).stdout)
    assert [(e["event"], e["actor"]) for e in audit["entries"]] == [("prune", "ops")]
    # again: nothing older than the newest 3
    res = runner.invoke(app, ["runs", "prune", "--keep", "3", "--by", "ops", "--vacuum"])
    assert res.stdout == "Nothing to prune: no run older than the newest 3.\n"
    res = runner.invoke(app, ["runs", "prune", "--keep", "1", "--by", "ops", "--vacuum"])
    assert res.exit_code == 0
    assert re.fullmatch(r"Pruned 2 run\(s\): 0 result row\(s\) removed, 3 kept \(.*\)\. "
                        r"Findings are unchanged\.\nCompacted .*findings\.db: [\d.]+ MB -> "
                        r"[\d.]+ MB\n", res.stdout), res.stdout
    res = runner.invoke(app, ["runs", "prune", "--keep", "0", "--by", "ops"])
    assert res.exit_code == 2


def test_piped_output_is_not_wrapped_at_80_columns(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Output to a pipe or a CI log (no terminal, no COLUMNS) keeps every row on one line,
    where rich would fold the rule id at 80 columns; COLUMNS still decides when set."""
    host = "ip-10-20-30-40.eu-west-1.compute.internal.example-fleet"
    pack, snaps = write_mini(tmp_path, {host: snapshot_dict(host, root_login="yes")})
    args = ["assess", "--pack", str(pack), "--from-snapshots", str(snaps)]
    monkeypatch.delenv("COLUMNS")
    lines = runner.invoke(app, args).stdout.splitlines()
    fid = finding_id("mini-ssh-root", host)
    row = f"high      {fid}  {host}  mini-ssh-root  SSH root login is disabled"
    assert [ln.rstrip() for ln in lines if ln.startswith("high")] == [row]
    monkeypatch.setenv("COLUMNS", "80")
    lines = runner.invoke(app, args).stdout.splitlines()
    assert row not in [ln.rstrip() for ln in lines]


def _unreachable_inventory(tmp_path: Path, host: str) -> Path:
    """An inventory whose host is a closed port on loopback: refused at once, unreachable."""
    inv = tmp_path / "down.ini"
    inv.write_text(
        f"{host} ansible_host=127.0.0.1 ansible_port=9 ansible_user=nobody "
        "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
        "-o ConnectTimeout=5'\n", encoding="utf-8")
    return inv


def test_an_unreachable_host_is_not_compliant_and_keeps_its_findings(tmp_path: Path) -> None:
    """The user's report: `assess --limit weak-2 --fail-on low` with weak-2 stopped exited 0,
    its FAIL findings became ERROR findings with the connection error as evidence, and ERRORs
    counted as new findings. Now: exit 1 with the reason, findings unchanged but for a note."""
    pack, snaps = write_mini(tmp_path, {"h": snapshot_dict("h", root_login="yes")})
    res = runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps)])
    assert res.exit_code == 0, res.output
    first = run_id(res.output)
    fid = finding_id("mini-ssh-root", "h")
    before = json.loads(runner.invoke(app, ["findings", "show", fid, "-f", "json"]).stdout)

    inv = _unreachable_inventory(tmp_path, "h")
    # (--no-vulns: no advisory database, no note about it on stderr)
    base = ["assess", "--pack", str(pack), "-i", str(inv), "--limit", "h", "--no-vulns"]
    res = runner.invoke(app, [*base, "--fail-on", "low"])
    assert res.exit_code == 1, res.output
    second = run_id(res.output)
    assert "\nh        0     0      3    0\n" in res.stdout
    assert "New findings: 0, reopened: 0, closed: 0\n" in res.stdout
    assert ("Not re-checked: 3 result(s) were errors; the findings they concern keep their "
            "last known state\n") in res.stdout
    (line,) = res.stderr.splitlines()
    assert line.startswith("--fail-on low: 1 host(s) could not be assessed: h (")
    assert line.endswith(") (--allow-unreachable to let them pass)")

    after = json.loads(runner.invoke(app, ["findings", "show", fid, "-f", "json"]).stdout)
    for key in ("status", "state", "evidence", "last_seen", "last_run", "first_run"):
        assert after[key] == before[key], key
    assert after["status"] == "FAIL" and after["last_run"] == first
    assert after["unchecked_run"] == second
    shown = runner.invoke(app, ["findings", "show", fid]).stdout
    assert f"Unchecked not re-checked since {first}: " in shown
    assert shown.count("Found     permitrootlogin yes\n") == 1  # the evidence is still there

    # unreachable hosts accepted: the rest decides (no FAIL in this run: exit 0, no message)
    res = runner.invoke(app, [*base, "--fail-on", "low", "--allow-unreachable"])
    assert res.exit_code == 0, res.output
    assert res.stderr == ""


def test_fail_on_says_why_on_stderr(tmp_path: Path) -> None:
    """The user's report: `--fail-on high --format sarif -o x.sarif` printed only `wrote
    x.sarif` and exited 1."""
    pack, snaps = write_mini(tmp_path, {
        "web-1": snapshot_dict("web-1", root_login="yes", tries="6"),
        "web-2": snapshot_dict("web-2", root_login="yes"),
    })
    out = tmp_path / "x.sarif"
    res = runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps),
                              "--fail-on", "medium", "--format", "sarif", "-o", str(out),
                              "--no-vulns"])
    assert res.exit_code == 1
    assert res.stdout == ""
    assert res.stderr.splitlines() == [
        f"wrote {out}",
        "--fail-on medium: 3 FAIL result(s) at or above medium (high 2, medium 1): "
        f"{finding_id('mini-ssh-root', 'web-1')} (mini-ssh-root on web-1), "
        f"{finding_id('mini-ssh-root', 'web-2')} (mini-ssh-root on web-2), "
        f"{finding_id('mini-ssh-tries', 'web-1')} (mini-ssh-tries on web-1)",
    ]


@pytest.mark.parametrize(("command", "extra", "fmt", "supported"), [
    ("assess", ["--from-snapshots", "nowhere"], "xml", "table, json, csv, junit, sarif, "
     "ocsf, asff, html"),
    ("findings list", [], "nope", "table, json, csv, junit, sarif, asff"),
    ("findings list", [], "html", "table, json, csv, junit, sarif, asff (`inspectorctl "
     "report --html FILE` writes the HTML report)"),
    ("findings list", [], "ocsf", "table, json, csv, junit, sarif, asff (`inspectorctl "
     "export ocsf` writes the stored findings)"),
    ("findings show", ["f-0000000000000000"], "junit", "table, json"),
    ("findings show", ["f-0000000000000000"], "csv", "table, json"),
    ("runs list", [], "junit", "table, json, csv"),
    ("runs list", [], "sarif", "table, json, csv"),
    ("rulepacks list", [], "sarif", "table, json"),
    ("rulepacks show", ["cis-linux"], "junit", "table, json"),
    ("audit list", [], "sarif", "table, json, csv"),
    ("audit verify", [], "csv", "table, json"),
    ("journal", ["a-nope"], "sarif", "table, json, csv"),
    ("plan show", ["plan.json"], "junit", "table, json"),
])
def test_an_unsupported_format_is_bad_input(command: str, extra: list[str], fmt: str,
                                            supported: str) -> None:
    """The user's report: `findings list -f sarif`, `runs list -f junit`, `audit list -f
    sarif` printed the plain table. Now exit 2 naming the formats the command writes, before
    anything is read or run."""
    res = runner.invoke(app, [*command.split(), *extra, "--format", fmt])
    assert res.exit_code == 2
    assert res.stdout == ""
    assert res.stderr == (f"error: {command} does not write --format {fmt}; it supports: "
                          f"{supported}\n")


def test_findings_list_filters_are_globs_like_assess_and_plan(tmp_path: Path) -> None:
    """The user's report: `findings list --rule 'acme-*'` and `--host 'local*'` returned
    nothing while `assess -r` and `plan -r/--host` take globs."""
    pack, snaps = write_mini(tmp_path, {
        "web-1": snapshot_dict("web-1", root_login="yes", tries="6"),
        "db-1": snapshot_dict("db-1", root_login="yes"),
    })
    assert runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots",
                               str(snaps)]).exit_code == 0

    def listed(*args: str) -> list[tuple[str, str]]:
        res = runner.invoke(app, ["findings", "list", "-f", "json", *args])
        assert res.exit_code == 0, res.output
        return sorted((f["rule_id"], f["host"]) for f in json.loads(res.stdout)["findings"])

    assert listed("--rule", "mini-ssh-*", "--host", "web*") == [
        ("mini-ssh-root", "web-1"), ("mini-ssh-tries", "web-1")]
    assert listed("-r", "*tries") == [("mini-ssh-tries", "web-1")]
    assert listed("--host", "db-?") == [("mini-ssh-root", "db-1")]
    assert listed("--host", "db-1", "--host", "web-[0-9]", "--rule", "mini-ssh-root") == [
        ("mini-ssh-root", "db-1"), ("mini-ssh-root", "web-1")]
    assert listed("--rule", "acme-*") == []


def test_rulepacks_validate_reports_every_error_at_once(tmp_path: Path) -> None:
    """The user's report: `rulepacks validate` said `description: Field required (and 1 more
    error)`, five rounds to learn the required fields. Now every error, in file order."""
    pack = tmp_path / "acme.yml"
    pack.write_text(
        'id: acme\nversion: "1.0"\ntitle: Acme\ndescription: d\nrules:\n'
        "  - id: acme-one\n    title: One\n    severity: high\n"
        "    check: {kind: sysctl, key: net.ipv4.ip_forward, expect: {value: 0}}\n"
        "  - id: acme-two\n    title: Two\n    description: d\n    rationale: r\n"
        "    severity: low\n    check: {kind: nope}\n"
        "  - id: acme-three\n    title: Three\n    description: d\n    rationale: r\n"
        "    severity: low\n"
        "    check: {kind: sysctl, key: net.ipv4.ip_forward, expect: {value: {var: fwd}}}\n"
        "  - id: acme-three\n    title: Again\n    description: d\n    rationale: r\n"
        "    severity: low\n"
        "    check: {kind: sysctl, key: net.ipv4.ip_forward, expect: {value: 0}}\n",
        encoding="utf-8")
    res = runner.invoke(app, ["rulepacks", "validate", str(pack)])
    assert res.exit_code == 2
    assert res.stdout == ""
    from inspectorctl.models.rule import CHECK_KINDS

    assert res.stderr.splitlines() == [
        f"error: {pack}:6: rule acme-one: description: Field required",
        f"error: {pack}:6: rule acme-one: rationale: Field required",
        f"error: {pack}:15: rule acme-two: check.kind: unknown check kind 'nope'; valid kinds: "
        f"{', '.join(CHECK_KINDS)}",
        f"error: {pack}:21: rule acme-three: check.expect.value: check uses variable 'fwd', "
        "which the pack does not define (defined: none)",
        f"error: {pack}:22: rule acme-three: id: duplicate rule id (first defined at line 16)",
    ]


def test_a_template_schedule_warns_that_it_does_nothing_yet(tmp_path: Path) -> None:
    pack, snaps = write_mini(tmp_path, {"h": snapshot_dict("h")})
    tpl = tmp_path / "weekly.yml"
    tpl.write_text(f"name: weekly\npacks: [{pack}]\nschedule: 'cron(0 3 ? * SUN *)'\n",
                   encoding="utf-8")
    res = runner.invoke(app, ["assess", "--template", str(tpl), "--from-snapshots", str(snaps),
                              "--no-vulns"])
    assert res.exit_code == 0, res.output
    assert res.stderr == (
        f"warning: {tpl}: schedule 'cron(0 3 ? * SUN *)' does nothing yet: inspectorctl has no "
        "scheduler; run this template from cron or a systemd timer\n")
    tpl.write_text(f"name: weekly\npacks: [{pack}]\n", encoding="utf-8")
    res = runner.invoke(app, ["assess", "--template", str(tpl), "--from-snapshots", str(snaps),
                              "--no-vulns"])
    assert (res.exit_code, res.stderr) == (0, "")


def test_help_shows_no_python_list_types() -> None:
    """The user's report: help text showed types such as `<list[str]>`."""

    from typer.main import get_command

    seen = 0

    def walk(group: Any, path: list[str]) -> None:
        nonlocal seen
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                walk(cmd, [*path, name])
                continue
            res = runner.invoke(app, [*path, name, "--help"])
            assert res.exit_code == 0, (path, name, res.output)
            assert "<list[" not in res.stdout, (path, name, res.stdout)
            seen += 1

    walk(get_command(app), [])
    assert seen >= 20


def test_tables_fit_80_columns_without_collapsing(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's report: at 80 columns headers collapsed to `Rul…` (and ids were cut)."""
    host = "ip-10-20-30-40.eu-west-1.compute.internal"
    pack, snaps = write_mini(tmp_path, {host: snapshot_dict(host, root_login="yes")})
    monkeypatch.setenv("COLUMNS", "80")
    assert runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots",
                               str(snaps)]).exit_code == 0
    out = runner.invoke(app, ["findings", "list"]).stdout
    lines = out.splitlines()
    assert re.split(r"\s+", lines[0].strip()) == [
        "ID", "Severity", "Status", "State", "Host", "Rule", "Last", "seen"]
    assert lines[1].startswith(f"{finding_id('mini-ssh-root', host)} high     FAIL   active")
    assert "…" not in out and all(len(ln) <= 80 for ln in lines)
    out = runner.invoke(app, ["runs", "list"]).stdout
    assert re.split(r"\s+", out.splitlines()[0].strip()) == [
        "Run", "Kind", "Started", "Targets", "Hosts", "P/F/E/NA"]
    assert "…" not in out and all(len(ln) <= 80 for ln in out.splitlines())
