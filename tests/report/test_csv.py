"""CSV: exact output, RFC 4180 quoting, no formula injection (hypothesis)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from inspectorctl.models.common import Severity, Status
from inspectorctl.models.finding import (
    Evidence,
    Finding,
    FindingState,
    RuleResult,
    RunRecord,
    finding_id,
)
from inspectorctl.report.csvout import FORMULA_START, render_csv, safe_cell
from inspectorctl.report.formats import FINDINGS, FindingsView, Report, render_csv_results
from inspectorctl.report.listings import AUDIT, JOURNAL, RUNS, Listing

AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
RUN = RunRecord(id="r-1", started_at=AT)


def _result(host: str, status: Status, found: str = "yes") -> RuleResult:
    ev = Evidence(expected="permitrootlogin = no", found=found, source="/etc/ssh/sshd_config:3")
    return RuleResult(rule_id="ssh-root", pack="mini", host=host, status=status,
                      severity=Severity.HIGH, title="SSH root login, disabled",
                      evidence=ev if status is not Status.ERROR else None,
                      reason="unreachable" if status is Status.ERROR else None)


def _parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


EVIL = '=HYPERLINK("http://x")'


def test_assessment_csv_exact() -> None:
    report = Report(RUN, [
        _result("web-1", Status.FAIL, found='permitrootlogin "yes",\nagain'),
        _result(EVIL, Status.PASS, found="-1+1"),
        _result("db-1", Status.ERROR),
    ], [])
    assert render_csv_results(report) == (
        "run_id,finding_id,host,pack,rule_id,title,severity,score,status,evidence_expected,"
        "evidence_found,evidence_source,reason\r\n"
        f"r-1,{finding_id('ssh-root', 'web-1')},web-1,mini,ssh-root,"
        "\"SSH root login, disabled\",high,7.5,FAIL,"
        "permitrootlogin = no,\"permitrootlogin \"\"yes\"\",\nagain\",/etc/ssh/sshd_config:3,"
        "\r\n"
        f"r-1,{finding_id('ssh-root', EVIL)},\"'=HYPERLINK(\"\"http://x\"\")\",mini,ssh-root,"
        "\"SSH root login, disabled\",high,7.5,PASS,permitrootlogin = no,'-1+1,"
        "/etc/ssh/sshd_config:3,\r\n"
        f"r-1,{finding_id('ssh-root', 'db-1')},db-1,mini,ssh-root,"
        "\"SSH root login, disabled\",high,7.5,ERROR,"
        ",,,unreachable\r\n")


def test_findings_csv_exact_columns_and_order() -> None:
    f = Finding(id="f-1", rule_id="ssh-root", pack="mini", host="@web", title="t",
                severity=Severity.LOW, score=2.5, status=Status.FAIL,
                state=FindingState.SUPPRESSED, evidence=Evidence(expected="a", found="b"),
                first_seen=AT, last_seen=AT, first_run="r-1", last_run="r-2",
                suppressed_by="alice", suppress_reason="+bastion", suppressed_until=None)
    text = FINDINGS.render("csv", FindingsView([f]))
    assert text == (
        "id,host,pack,rule_id,title,severity,score,status,state,evidence_expected,"
        "evidence_found,evidence_source,reason,first_seen,last_seen,closed_at,first_run,"
        "last_run,suppressed_by,suppressed_until,suppress_reason,unchecked_run,"
        "unchecked_reason,suppress_source\r\n"
        "f-1,'@web,mini,ssh-root,t,low,2.5,FAIL,suppressed,a,b,,,2026-12-01T09:30:00Z,"
        "2026-12-01T09:30:00Z,,r-1,r-2,alice,,'+bastion,,,\r\n")


def test_listing_csv_exact() -> None:
    runs = Listing("runs", "runs", [
        {"id": "r-2", "kind": "assess", "started_at": "2026-12-01T09:30:00Z",
         "targets": {"inventory": "hosts.yml", "framework": "pci-dss"},
         "counts": {"hosts": 2, "passed": 3, "failed": 1, "errors": 0, "not_applicable": 0,
                    "new": 1, "reopened": 0, "closed": 0}},
        {"id": "a-1", "kind": "apply", "started_at": "2026-12-01T09:00:00Z", "status":
         "completed", "hosts": 1, "plan_id": "p-1", "rollback_of": None},
    ])
    assert RUNS.render("csv", runs) == (
        "id,kind,started_at,ended_at,status,targets,framework,hosts,counts_passed,"
        "counts_failed,counts_errors,counts_not_applicable,counts_new,counts_reopened,"
        "counts_closed,plan_id,rollback_of,pruned_at\r\n"
        "r-2,assess,2026-12-01T09:30:00Z,,,"
        "\"{\"\"framework\"\":\"\"pci-dss\"\",\"\"inventory\"\":\"\"hosts.yml\"\"}\","
        "pci-dss,2,3,1,0,0,1,0,0,,,\r\n"
        "a-1,apply,2026-12-01T09:00:00Z,,completed,,,1,,,,,,,,p-1,,\r\n")
    audit = Listing("audit", "entries", [
        {"seq": 1, "at": "2026-12-01T09:30:00Z", "event": "suppress", "actor": "-alice",
         "plan_id": None, "plan_digest": None, "run_id": None,
         "detail": {"findings": ["f-1"], "reason": "=1"}, "digest": "h1:ab"}])
    assert AUDIT.render("csv", audit) == (
        "seq,at,event,actor,plan_id,plan_digest,run_id,detail,digest\r\n"
        "1,2026-12-01T09:30:00Z,suppress,'-alice,,,,"
        "\"{\"\"findings\"\":[\"\"f-1\"\"],\"\"reason\"\":\"\"=1\"\"}\",h1:ab\r\n")
    journal = Listing("journal", "journal", [
        {"run_id": "a-1", "seq": 1, "phase": "canary", "action_id": "act-1",
         "playbook": "sshd_config", "host": "web-1", "state": "changed", "attempts": 1,
         "rc": 0, "started_at": None, "ended_at": None, "message": "\tok"}],
        {"run": {"id": "a-1"}})
    assert JOURNAL.render("csv", journal) == (
        "run_id,seq,phase,action_id,playbook,host,state,attempts,rc,started_at,ended_at,"
        "message\r\n"
        "a-1,1,canary,act-1,sshd_config,web-1,changed,1,0,,,'\tok\r\n")


def test_safe_cell_values() -> None:
    assert [safe_cell(v) for v in (None, True, 2.5, 3, ["a", "b"], "=x", "\rx", "ok")] == [
        "", "true", "2.5", "3", "a; b", "'=x", "'\rx", "ok"]
    assert safe_cell("a\ud800b") == "a\ufffdb"  # a lone surrogate cannot be UTF-8


HOSTILE = st.one_of(
    st.text(max_size=40),
    st.builds(lambda c, t: c + t, st.sampled_from([*FORMULA_START, '"', ",", "\n", "'"]),
              st.text(max_size=20)),
    st.sampled_from(["=HYPERLINK(\"http://evil\",\"x\")", "@SUM(1+1)*cmd|' /C calc'!A0",
                     "+1", "-2", "\t=1", "\r=1", "a\r\nb", '"', "\x00", ""]),
)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.tuples(HOSTILE, HOSTILE, HOSTILE), max_size=5))
def test_hostile_strings_round_trip_and_never_start_a_formula(
    rows: list[tuple[str, str, str]]
) -> None:
    cols = [(name, lambda r, i=i: r[i]) for i, name in enumerate(("a", "b", "c"))]
    text = render_csv(cols, rows)
    assert text.endswith("\r\n")
    text.encode("utf-8")  # always writable
    parsed = _parse(text)
    assert parsed[0] == ["a", "b", "c"]
    assert len(parsed) == len(rows) + 1  # one record per row, whatever the cells hold
    for got, want in zip(parsed[1:], rows, strict=True):
        for cell, value in zip(got, want, strict=True):
            assert not cell.startswith(FORMULA_START)
            clean = value.translate({c: "\ufffd" for c in range(0xD800, 0xE000)})
            # the only change: a leading quote on a cell that would be a formula
            assert cell == ("'" + clean if clean.startswith(FORMULA_START) else clean)
