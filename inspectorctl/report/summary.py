"""Human and machine renderings of an assessment and of stored findings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from inspectorctl.models.common import Severity, Status
from inspectorctl.models.finding import Finding, RuleResult, RunRecord
from inspectorctl.models.rule import Rule
from inspectorctl.report.jsondoc import envelope
from inspectorctl.textsafe import escape_controls, one_line

_STATUS_STYLE = {
    Status.PASS: "green",
    Status.FAIL: "red",
    Status.ERROR: "yellow",
    Status.NOT_APPLICABLE: "dim",
}
def cell(value: object) -> Text:
    """A table cell of data (a host name, a rule id or title from a rulepack): plain text on
    one line, never rich markup, control characters escaped."""
    return Text(one_line(value))


_SEV_ORDER = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW,
              Severity.INFORMATIONAL]


def framework_compliance(
    results: Sequence[RuleResult], rules: Sequence[Rule], framework: str
) -> list[dict[str, Any]]:
    """Per requirement: rules mapped to it, hosts failing it, compliant or not.

    A requirement is compliant when every mapped rule is PASS or NOT_APPLICABLE on every host;
    an ERROR makes it ``unknown`` (never compliant for something not seen).
    """
    by_rule: dict[str, list[str]] = {r.id: r.references.framework_ids(framework) for r in rules}
    req_rules: dict[str, set[str]] = defaultdict(set)
    for rid, reqs in by_rule.items():
        for req in reqs:
            req_rules[req].add(rid)
    status_by: dict[str, dict[str, list[RuleResult]]] = defaultdict(lambda: defaultdict(list))
    for res in results:
        for req in by_rule.get(res.rule_id, ()):
            status_by[req][res.status.value].append(res)
    rows = []
    for req in sorted(req_rules, key=_req_key):
        st = status_by[req]
        failing_hosts = sorted({r.host for r in st.get("FAIL", [])})
        error_hosts = sorted({r.host for r in st.get("ERROR", [])})
        state = "non-compliant" if failing_hosts else "unknown" if error_hosts else "compliant"
        rows.append({
            "requirement": req,
            "rules": sorted(req_rules[req]),
            "state": state,
            "passed": len(st.get("PASS", [])),
            "failed": len(st.get("FAIL", [])),
            "errors": len(st.get("ERROR", [])),
            "not_applicable": len(st.get("NOT_APPLICABLE", [])),
            "failing_hosts": failing_hosts,
        })
    return rows


def _req_key(req: str) -> tuple[Any, ...]:
    parts = []
    for p in req.replace("(", ".").replace(")", "").split("."):
        parts.append((0, int(p), "") if p.isdigit() else (1, 0, p))
    return tuple(parts)


def render_assessment(
    console: Console,
    run: RunRecord,
    results: Sequence[RuleResult],
    *,
    framework_rows: list[dict[str, Any]] | None = None,
    framework: str | None = None,
    max_failures: int = 25,
    timings: dict[str, float] | None = None,
    host_counts: dict[str, dict[Status, int]] | None = None,
) -> None:
    """The summary table. ``results`` needs at least the FAIL and ERROR results; per-host
    counts come from ``host_counts`` when given (results may then hold problems only)."""
    hosts = host_counts
    if hosts is None:
        hosts = defaultdict(lambda: dict.fromkeys(Status, 0))
        for r in results:
            hosts[r.host][r.status] += 1
    c = run.counts
    secs = f" in {timings['total']:.1f} s" if timings else ""
    console.print(f"Run {run.id}: {c.hosts} host(s), {c.rules} rule(s){secs}", highlight=False,
                  markup=False)
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    table.add_column("Host")
    for s, label in ((Status.PASS, "Pass"), (Status.FAIL, "Fail"), (Status.ERROR, "Error"),
                     (Status.NOT_APPLICABLE, "N/A")):
        table.add_column(label, justify="right", style=_STATUS_STYLE[s])
    for host in sorted(hosts):
        h = hosts[host]
        table.add_row(cell(host), *(str(h[s]) for s in (Status.PASS, Status.FAIL, Status.ERROR,
                                                  Status.NOT_APPLICABLE)))
    console.print(table)
    fails = [r for r in results if r.status is Status.FAIL]
    fails.sort(key=lambda r: (-r.severity.rank, r.host, r.rule_id))
    by_sev = {s: sum(1 for r in fails if r.severity is s) for s in _SEV_ORDER}
    console.print(
        "Failed by severity: " + ", ".join(f"{s.value} {by_sev[s]}" for s in _SEV_ORDER),
        highlight=False,
    )
    if fails:
        ft = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
        ft.add_column("Severity", no_wrap=True)
        ft.add_column("Finding", no_wrap=True)
        ft.add_column("Host", no_wrap=True)
        ft.add_column("Rule", overflow="fold", min_width=10)
        ft.add_column("Title", overflow="fold", min_width=12)
        for r in fails[:max_failures]:
            ft.add_row(r.severity.value, r.finding_id, cell(r.host), cell(r.rule_id),
                       cell(r.title))
        console.print(ft)
        if len(fails) > max_failures:
            console.print(f"... and {len(fails) - max_failures} more: "
                          f"inspectorctl findings list --run {run.id}", highlight=False)
    errors = [r for r in results if r.status is Status.ERROR]
    if errors:
        by_reason: dict[str, int] = defaultdict(int)
        for r in errors:
            by_reason[f"{r.host}: {r.reason}"] += 1
        console.print(f"Errors ({len(errors)}):", highlight=False)
        for reason, n in sorted(by_reason.items())[:10]:
            console.print(f"  {one_line(reason)} ({n} rule{'s' if n > 1 else ''})",
                          highlight=False, markup=False)
    if framework_rows is not None and framework:
        render_framework(console, framework, framework_rows)
    console.print(f"New findings: {c.new}, reopened: {c.reopened}, closed: {c.closed}",
                  highlight=False)
    if c.unchecked:
        console.print(f"Not re-checked: {c.unchecked} result(s) were errors; the findings they "
                      "concern keep their last known state", highlight=False)


def render_framework(console: Console, framework: str, rows: list[dict[str, Any]]) -> None:
    ok = sum(1 for r in rows if r["state"] == "compliant")
    console.print(f"{framework} compliance: {ok} of {len(rows)} requirement(s) compliant",
                  highlight=False)
    t = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for col in ("Requirement", "State", "Rules", "Fail", "Error", "Failing hosts"):
        t.add_column(col, overflow="fold")
    for r in rows:
        style = {"compliant": "green", "non-compliant": "red", "unknown": "yellow"}[r["state"]]
        t.add_row(cell(r["requirement"]), Text(r["state"], style=style), str(len(r["rules"])),
                  str(r["failed"]), str(r["errors"]), cell(", ".join(r["failing_hosts"])))
    console.print(t)


def assessment_doc(
    run: RunRecord,
    results: Sequence[RuleResult],
    framework_rows: list[dict[str, Any]] | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The JSON document of an assessment (schema ``assessment``)."""
    doc: dict[str, Any] = envelope("assessment", {
        "run": run.model_dump(mode="json"),
        "results": [
            {**r.model_dump(mode="json"), "finding_id": r.finding_id, "score": r.score}
            for r in results
        ],
    })
    if framework_rows is not None:
        doc["compliance"] = framework_rows
    if timings is not None:
        doc["timings"] = {k: round(v, 4) for k, v in timings.items()}
    return doc


def render_findings(console: Console, findings: Sequence[Finding]) -> None:
    if not findings:
        console.print("No findings match.")
        return
    t = Table(show_edge=False, pad_edge=False, box=None, header_style="bold",
              padding=(0, 1, 0, 0))
    rows = [(f.id, f.severity.value, f.status.value, f.state.value, f.host, f.rule_id,
             f.last_seen.strftime("%Y-%m-%d %H:%M")) for f in findings]
    add_fitting_columns(t, ("ID", "Severity", "Status", "State", "Host", "Rule", "Last seen"),
                        rows, fold=("Host", "Rule"))
    for row in rows:
        t.add_row(*(cell(c) for c in row))  # values are data, never markup
    console.print(t)
    console.print(f"{len(findings)} finding(s)", highlight=False)


def render_finding(console: Console, f: Finding, rule: Rule | None) -> None:
    lines = [
        f"Finding   {f.id}",
        f"Rule      {f.rule_id} ({f.pack})",
        f"Title     {f.title}",
        f"Host      {f.host}",
        f"Severity  {f.severity.value} (score {f.score:g})",
        f"Status    {f.status.value}, {f.state.value}",
        f"First     {f.first_seen.isoformat(timespec='seconds')} (run {f.first_run})",
        f"Last      {f.last_seen.isoformat(timespec='seconds')} (run {f.last_run})",
    ]
    if f.closed_at:
        lines.append(f"Closed    {f.closed_at.isoformat(timespec='seconds')}")
    note = f.unchecked_note
    if note:
        lines.append(f"Unchecked {note}")
    if f.state.value == "suppressed":
        until = (f.suppressed_until.isoformat(timespec="seconds") if f.suppressed_until
                 else "lifted")
        lines.append(f"Suppressed by {f.suppressed_by or '?'} until {until}: "
                     f"{f.suppress_reason or ''}")
        if f.suppress_source:
            lines.append(f"Via       {f.suppress_source}")
    if f.evidence:
        lines.append(f"Expected  {f.evidence.expected}")
        lines.append(f"Found     {f.evidence.found}")
        if f.evidence.source:
            lines.append(f"Source    {f.evidence.source}")
    if f.reason:
        lines.append(f"Reason    {f.reason}")
    if rule is not None:
        lines.append(f"Rationale {rule.rationale.strip()}")
        if rule.remediation is not None:
            rem = rule.remediation
            fix = rem.manual or ", ".join(
                x for x in (f"playbook {rem.playbook}" if rem.playbook else "",
                            f"SSM document {rem.ssm_document}" if rem.ssm_document else "") if x)
            lines.append(f"Fix       {fix}")
        lines.extend(reference_lines(rule))
    for line in lines:
        # evidence comes from hosts: an escape sequence in it must not reach the terminal
        console.print(escape_controls(line), highlight=False, markup=False, soft_wrap=True)


def reference_lines(rule: Rule) -> list[str]:
    """The framework references a rule's pack holds, one line per framework."""
    refs = rule.references
    out = []
    if refs.cis:
        out.append("CIS       " + "; ".join(
            f"{c.benchmark} {c.version} {c.id} (level {c.level}"
            + (", workstation" if c.profile == "workstation" else "") + ")" for c in refs.cis))
    for label, values in (("PCI DSS", refs.pci_dss), ("HIPAA", refs.hipaa),
                          ("NIST", refs.nist_800_53), ("AWS", refs.aws)):
        if values:
            out.append(f"{label:<9} {', '.join(values)}")
    if refs.cac:
        out.append(f"CaC       {', '.join(refs.cac)}")
    return out


def add_fitting_columns(table: Table, headers: Sequence[str], rows: Sequence[Sequence[str]],
                        fold: Sequence[str] = ()) -> None:
    """Columns that a narrow terminal (80 columns) neither drops nor truncates to ``Rul…``:
    every column keeps its widest value (its header at least) except the ``fold`` ones, which
    wrap their long values onto more lines."""
    for i, h in enumerate(headers):
        widest = max([len(h), *(len(r[i]) for r in rows)])
        if h in fold:
            table.add_column(h, overflow="fold", min_width=min(widest, max(len(h), 10)))
        else:
            table.add_column(h, no_wrap=True, min_width=widest)
