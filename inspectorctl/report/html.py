"""The HTML report: one self-contained file (inline CSS, JS and SVG charts; no network fetch).

Every value from a host or a database row is untrusted. It reaches the page in one of two ways:
- in HTML text or an attribute value, through :func:`esc` (``html.escape`` with quotes, control
  and bidi characters shown as escapes first);
- in the JSON data block (``<script type="application/json">``) through :func:`script_json`,
  with ``<``, ``>``, ``&`` and U+2028/U+2029 written as ``\\uXXXX``: no value can close the block
  or open a tag. The page's script reads the block with ``JSON.parse(textContent)`` and writes
  values with ``textContent`` and ``setAttribute`` only.
A Content-Security-Policy allows no fetch at all and only the report's own script and style (by
their sha256): an event-handler attribute or a ``<script>`` that got in some other way would not
run.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from inspectorctl import __version__
from inspectorctl.errors import InputError
from inspectorctl.models.common import Severity, Status
from inspectorctl.models.finding import Evidence
from inspectorctl.models.rule import Rule, VarRef
from inspectorctl.report.reportdata import (
    SEVERITIES,
    FindingView,
    ReportData,
    Requirement,
    RunPosture,
)
from inspectorctl.textsafe import escape_controls, one_line

SCHEMA_VERSION = 1

_FRAMEWORK_LABEL = {"cis": "CIS", "pci-dss": "PCI DSS 4.0", "hipaa": "HIPAA",
                    "nist-800-53": "NIST 800-53", "aws": "AWS"}


def esc(value: object) -> str:
    """Text for HTML (element content or a quoted attribute value)."""
    return html.escape(escape_controls(str(value)), quote=True)


def script_json(data: object) -> str:
    """JSON that can sit inside ``<script type="application/json">``: it cannot end the element
    (``</script>``), open a comment (``<!--``) or hold a raw line separator."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for ch, rep in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, rep)
    return text


def _asset(name: str) -> str:
    return resources.files("inspectorctl.report").joinpath("html_assets", name).read_text(
        encoding="utf-8")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


# ------------------------------------------------------------------------------------ charts


def _svg(width: int, height: int, label: str, body: Iterable[str]) -> str:
    return (f'<svg class="chart" viewBox="0 0 {width} '
            f'{height}" width="{width}" height="{height}" role="img" aria-label="{esc(label)}">'
            f"<title>{esc(label)}</title>{''.join(body)}</svg>")


def severity_chart(counts: dict[Severity, int]) -> str:
    """FAIL results per severity: one horizontal bar each."""
    width, bar_h, gap, left = 640, 22, 8, 110
    top = 12
    most = max([*counts.values(), 1])
    body = []
    for i, sev in enumerate(SEVERITIES):
        y = top + i * (bar_h + gap)
        n = counts.get(sev, 0)
        w = round((width - left - 70) * n / most) if n else 0
        body.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{esc(sev.value)}</text>'
                    f'<rect class="sev-{sev.value}" x="{left}" y="{y}" width="{max(w, 1)}" '
                    f'height="{bar_h}"><title>{esc(sev.value)}: {n}</title></rect>'
                    f'<text x="{left + max(w, 1) + 6}" y="{y + 15}">{n}</text>')
    height = top * 2 + len(SEVERITIES) * (bar_h + gap)
    return _svg(width, height, "Failed results by severity", body)


def posture_chart(posture: dict[str, list[Requirement]]) -> str:
    """Per framework: requirements compliant, non-compliant and unknown, as one stacked bar."""
    width, bar_h, gap, left = 640, 22, 10, 110
    top = 12
    body = []
    for i, (fw, reqs) in enumerate(posture.items()):
        y = top + i * (bar_h + gap)
        total = len(reqs) or 1
        x = float(left)
        body.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">'
                    f"{esc(_FRAMEWORK_LABEL.get(fw, fw))}</text>")
        for state in ("compliant", "non-compliant", "unknown"):
            n = sum(1 for r in reqs if r.state == state)
            if not n:
                continue
            w = (width - left - 90) * n / total
            body.append(f'<rect class="st-{state}" x="{x:.1f}" y="{y}" width="{w:.1f}" '
                        f'height="{bar_h}"><title>{esc(fw)}: {n} {state}</title></rect>')
            x += w
        ok = sum(1 for r in reqs if r.state == "compliant")
        body.append(f'<text x="{width - 84}" y="{y + 15}">{ok}/{len(reqs)} '
                    f"({100 * ok / total:.0f}%)</text>")
    height = top * 2 + max(len(posture), 1) * (bar_h + gap)
    return _svg(width, height, "Requirements compliant per framework", body)


def trend_severity_chart(trend: Sequence[RunPosture]) -> str:
    """FAIL results per run, stacked by severity (oldest run left)."""
    width, height, left, bottom, top = 720, 240, 50, 40, 14
    plot_w, plot_h = width - left - 16, height - top - bottom
    totals = [sum(p.failed.values()) for p in trend]
    most = max([*totals, 1])
    slot = plot_w / max(len(trend), 1)
    bar_w = max(min(slot * 0.7, 40), 2)
    body = [f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width - 16}" '
            f'y2="{top + plot_h}"/>',
            f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}"/>']
    for frac in (0.5, 1.0):
        y = top + plot_h * (1 - frac)
        body.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - 16}" '
                    f'y2="{y:.1f}"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                    f"{round(most * frac)}</text>")
    for i, p in enumerate(trend):
        x = left + i * slot + (slot - bar_w) / 2
        y = float(top + plot_h)
        for sev in reversed(SEVERITIES):
            n = p.failed.get(sev, 0)
            if not n:
                continue
            h = plot_h * n / most
            y -= h
            body.append(f'<rect class="sev-{sev.value}" x="{x:.1f}" y="{y:.1f}" '
                        f'width="{bar_w:.1f}" height="{h:.1f}"><title>{esc(p.run.id)} '
                        f"{esc(sev.value)}: {n}</title></rect>")
        if len(trend) <= 12 or i in (0, len(trend) - 1) or i % max(len(trend) // 8, 1) == 0:
            body.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 16}" '
                        f'text-anchor="middle">{esc(p.run.started_at.strftime("%m-%d %H:%M"))}'
                        "</text>")
    body.append(f'<text x="{left}" y="{height - 6}">failed results per run, by severity '
                f"({len(trend)} run(s))</text>")
    return _svg(width, height, "Failed results per run by severity", body)


def trend_compliance_chart(trend: Sequence[RunPosture]) -> str:
    """Per framework, the share of compliant requirements in each run (0-100%)."""
    width, height, left, bottom, top = 720, 240, 50, 40, 14
    plot_w, plot_h = width - left - 140, height - top - bottom
    frameworks = [fw for fw in _FRAMEWORK_LABEL if any(fw in p.frameworks for p in trend)]
    slot = plot_w / max(len(trend), 1)
    body = [f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
            f'y2="{top + plot_h}"/>',
            f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}"/>']
    for pct in (0, 50, 100):
        y = top + plot_h * (1 - pct / 100)
        body.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" '
                    f'y2="{y:.1f}"/><text x="{left - 6}" y="{y + 4:.1f}" '
                    f'text-anchor="end">{pct}%</text>')
    for k, fw in enumerate(frameworks):
        points = []
        for i, p in enumerate(trend):
            score = p.frameworks.get(fw)
            if score is None or score.percent is None:
                continue
            x = left + i * slot + slot / 2
            y = top + plot_h * (1 - score.percent / 100)
            points.append((x, y, p, score.percent))
        if len(points) > 1:
            body.append(f'<polyline class="fw fw-line-{k}" points="'
                        + " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points) + '"/>')
        for x, y, p, share in points:
            body.append(f'<circle class="fw-dot-{k}" cx="{x:.1f}" cy="{y:.1f}" r="3.5">'
                        f"<title>{esc(_FRAMEWORK_LABEL[fw])} {esc(p.run.id)}: {share:.0f}%"
                        "</title></circle>")
        ly = top + 10 + k * 18
        body.append(f'<circle class="fw-dot-{k}" cx="{left + plot_w + 16}" cy="{ly - 4}" '
                    f'r="5"/><text x="{left + plot_w + 26}" y="{ly}">'
                    f"{esc(_FRAMEWORK_LABEL[fw])}</text>")
    body.append(f'<text x="{left}" y="{height - 6}">requirements compliant per framework, per '
                "run</text>")
    return _svg(width, height, "Compliance per framework per run", body)


# ---------------------------------------------------------------------------------- sections


def _kv(rows: Iterable[tuple[str, str | None]]) -> str:
    out = ['<dl class="kv">']
    for k, v in rows:
        if v:
            out.append(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>")
    out.append("</dl>")
    return "".join(out)


def _card(n: object, label: str) -> str:
    return (f'<div class="card"><span class="n">{esc(n)}</span>'
            f'<span class="l">{esc(label)}</span></div>')


def reference_items(rule: Rule) -> list[tuple[str, str]]:
    """(framework, ids) pairs for a rule's references, ComplianceAsCode's id included."""
    refs = rule.references
    out = []
    if refs.cis:
        out.append(("CIS", "; ".join(
            f"{c.benchmark} {c.version} {c.id} (level {c.level}"
            + (", workstation" if c.profile == "workstation" else "") + ")" for c in refs.cis)))
    for label, values in (("PCI DSS", refs.pci_dss), ("HIPAA", refs.hipaa),
                          ("NIST 800-53", refs.nist_800_53), ("AWS", refs.aws)):
        if values:
            out.append((label, ", ".join(values)))
    if refs.cac:
        out.append(("ComplianceAsCode", ", ".join(refs.cac)))
    return out


def remediation_text(rule: Rule | None) -> str:
    if rule is None or rule.remediation is None:
        return "none known"
    rem = rule.remediation
    if rem.manual:
        return "manual: " + rem.manual.strip()
    parts = []
    if rem.playbook:
        parts.append(f"playbook {rem.playbook}")
    if rem.ssm_document:
        parts.append(f"SSM document {rem.ssm_document}")
    text = " or ".join(parts)
    if rem.params:
        text += " (parameters: " + ", ".join(
            f"{k}={_param(v)}" for k, v in sorted(rem.params.items())) + ")"
    return text + " — `inspectorctl plan` proposes it, an approval lets it run"


def _param(value: object) -> str:
    """A remediation parameter as the pack wrote it (a tailoring variable as ``{var: NAME}``)."""
    if isinstance(value, VarRef):
        return f"{{var: {value.var}}}"
    return json.dumps(value, ensure_ascii=False)


def _evidence_rows(ev: Evidence | None, reason: str | None) -> list[tuple[str, str | None]]:
    rows: list[tuple[str, str | None]] = []
    if ev is not None:
        rows += [("Expected", ev.expected), ("Found", ev.found), ("Source", ev.source)]
    if reason:
        rows.append(("Reason", reason))
    return rows


def _finding_html(v: FindingView) -> str:
    r = v.result
    sev = r.severity.value
    f = v.finding
    head = (f'<details class="finding" id="{esc(v.id)}" data-severity="{esc(sev)}" '
            f'data-status="{esc(r.status.value)}"><summary>'
            f'<span class="badge sev-{esc(sev)}">{esc(sev)}</span> '
            f'<span class="status status-{esc(r.status.value)}">{esc(r.status.value)}</span> '
            f'<span class="mono">{esc(r.host)}</span> · <span class="mono">{esc(r.rule_id)}</span>'
            f" · {esc(r.title)}</summary><div class=\"body\">")
    life: list[tuple[str, str | None]] = [("Finding", v.id), ("Host", r.host),
                                          ("Rule", f"{r.rule_id} ({r.pack})")]
    if f is not None:
        life += [
            ("State", f"{f.state.value} (last result {f.status.value})"),
            ("First seen", f"{f.first_seen:%Y-%m-%d %H:%M} (run {f.first_run})"),
            ("Last seen", f"{f.last_seen:%Y-%m-%d %H:%M} (run {f.last_run})"),
            ("Closed", f"{f.closed_at:%Y-%m-%d %H:%M}" if f.closed_at else None),
            ("Not re-checked", f.unchecked_note),
        ]
        if f.state.value == "suppressed":
            until = f"{f.suppressed_until:%Y-%m-%d}" if f.suppressed_until else "lifted"
            life.append(("Suppressed", f"by {f.suppressed_by or '?'} until {until}: "
                                       f"{f.suppress_reason or ''}"))
    parts = [head, "<h3>Evidence</h3>", _kv(_evidence_rows(r.evidence, r.reason)),
             _kv(life)]
    rule = v.rule
    if rule is not None:
        parts.append(_kv([("Description", rule.description.strip()),
                          ("Rationale", rule.rationale.strip())]))
        refs = reference_items(rule)
        parts.append("<h3>References</h3>" + (_kv(refs) if refs else "<p>none</p>"))
    parts.append("<h3>Remediation</h3>" + _kv([("Fix", remediation_text(rule))]))
    parts.append('<h3>History</h3><table class="history"><thead><tr><th>Run</th>'
                 "<th>Started</th><th>Status</th><th>Found</th></tr></thead><tbody>")
    for h in v.history:
        found = h.evidence.found if h.evidence is not None else (h.reason or "")
        label = " (verification)" if h.verification else ""
        parts.append(f'<tr><td class="mono">{esc(h.run_id + label)}</td>'
                     f"<td>{esc(f'{h.started_at:%Y-%m-%d %H:%M}')}</td>"
                     f'<td class="status status-{esc(h.status)}">{esc(h.status)}</td>'
                     f"<td>{esc(found)}</td></tr>")
    parts.append("</tbody></table></div></details>")
    return "".join(parts)


def _requirements_table(fw: str, reqs: Sequence[Requirement]) -> dict[str, Any]:
    return {
        "id": f"table-req-{fw}", "label": f"{_FRAMEWORK_LABEL.get(fw, fw)} requirements",
        "columns": [{"label": "Requirement"}, {"label": "Title"},
                    {"label": "State", "mark": True}, {"label": "Rules"},
                    {"label": "Fail", "num": True}, {"label": "Error", "num": True},
                    {"label": "Pass", "num": True}, {"label": "Failing hosts"}],
        "select": 2, "sort": 0,
        "rows": [[one_line(r.requirement), one_line(r.title), r.state,
                  one_line(", ".join(r.rules)), r.failed, r.errors, r.passed,
                  one_line(", ".join(r.failing_hosts))] for r in reqs],
    }


def report_json(data: ReportData) -> dict[str, Any]:
    """The report's data as the page's script reads it (and tools may)."""
    host_table = {
        "id": "table-hosts", "label": "hosts",
        "columns": [{"label": "Host"}, {"label": "Fail", "num": True},
                    *({"label": s.value.capitalize() if s is not Severity.INFORMATIONAL
                       else "Info", "num": True} for s in SEVERITIES),
                    {"label": "Error", "num": True}, {"label": "Pass", "num": True},
                    {"label": "N/A", "num": True}, {"label": "Pass %", "num": True}],
        "sort": 1, "desc": True,
        "rows": [[one_line(h.host), h.counts[Status.FAIL], *(h.failed[s] for s in SEVERITIES),
                  h.counts[Status.ERROR], h.counts[Status.PASS],
                  h.counts[Status.NOT_APPLICABLE],
                  _pct(h.counts[Status.PASS], h.counts[Status.PASS] + h.counts[Status.FAIL])]
                 for h in data.hosts],
    }
    rule_table = {
        "id": "table-rules", "label": "rules",
        "columns": [{"label": "Rule"}, {"label": "Title"}, {"label": "Severity", "mark": True},
                    {"label": "Pack"}, {"label": "Failing hosts", "num": True},
                    {"label": "Error", "num": True}, {"label": "Pass", "num": True},
                    {"label": "N/A", "num": True}, {"label": "Fix"}, {"label": "References"}],
        "select": 2, "sort": 4, "desc": True,
        "rows": [[one_line(r.rule_id), one_line(r.title), r.severity.value, one_line(r.pack),
                  r.counts[Status.FAIL], r.counts[Status.ERROR], r.counts[Status.PASS],
                  r.counts[Status.NOT_APPLICABLE], one_line(_fix_short(r.rule)),
                  one_line("; ".join(f"{k} {v}" for k, v in reference_items(r.rule))
                           if r.rule is not None else "")]
                 for r in data.rules],
    }
    tables = [host_table, rule_table,
              *(_requirements_table(fw, reqs) for fw, reqs in data.posture.items())]
    run = data.scope.run
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "inspectorctl", "version": __version__},
        "generated_at": data.generated_at.isoformat(),
        "run": {"id": run.id, "started_at": run.started_at.isoformat(),
                "pruned": run.pruned_at is not None},
        "trend": [{"run": p.run.id, "started_at": p.run.started_at.isoformat(),
                   "failed": {s.value: n for s, n in p.failed.items()},
                   "compliance": {fw: {"requirements": s.requirements,
                                       "compliant": s.compliant,
                                       "non_compliant": s.non_compliant,
                                       "unknown": s.unknown}
                                  for fw, s in p.frameworks.items()}}
                  for p in data.trend],
        "tables": tables,
    }


def _pct(a: int, total: int) -> float | None:
    return round(100 * a / total, 1) if total else None


def _fix_short(rule: Rule | None) -> str:
    if rule is None or rule.remediation is None:
        return "-"
    rem = rule.remediation
    return "manual" if rem.manual else (rem.playbook or rem.ssm_document or "-")


def render_html(data: ReportData) -> str:
    run = data.scope.run
    css = _asset("report.css")
    js = _asset("report.js")
    csp = (f"default-src 'none'; script-src '{_sha256(js)}'; style-src '{_sha256(css)}'; "
           "img-src 'none'; base-uri 'none'; form-action 'none'")
    c = run.counts
    sc = data.status_counts
    notes = []
    if run.pruned_at is not None:
        notes.append(f"Run {run.id} was pruned on {run.pruned_at:%Y-%m-%d}: only the results "
                     "that were the newest of their rule and host are left, so its counts "
                     "below are partial.")
    for ref, why in sorted(data.missing_packs.items()):
        notes.append(f"Rules of pack {ref} could not be loaded ({why}): their findings are "
                     "shown without references or fixes, and they count in no framework.")
    if data.scope.trend_cut:
        notes.append(f"{data.scope.trend_cut} older run(s) of the window are not in the trend "
                     "(it shows the newest runs only).")
    if data.scope.verification_runs:
        notes.append(f"{data.scope.verification_runs} verification run(s) of remediations (a "
                     "re-assessment of the hosts and rules an apply touched) are not in the "
                     "trend; findings' histories show them.")
    if data.findings_left_out:
        notes.append(f"{data.findings_left_out} more problem result(s) are not shown here: "
                     f"`inspectorctl findings list --run {run.id}` lists them all.")
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(f'inspectorctl report: run {run.id}')}</title>",
        f"<style>{css}</style></head><body>",
        "<header>",
        f"<h1>inspectorctl report: run {esc(run.id)}</h1>",
        f'<p class="meta">Run started {esc(f"{run.started_at:%Y-%m-%d %H:%M:%S %Z}")}; '
        f"trend over {len(data.scope.trend)} run(s) since "
        f"{esc(f'{data.scope.window_start:%Y-%m-%d %H:%M %Z}')}; generated "
        f"{esc(f'{data.generated_at:%Y-%m-%d %H:%M:%S %Z}')} by inspectorctl "
        f"{esc(__version__)} from {esc(data.db_path)}</p>",
        '<nav><a href="#summary">Summary</a><a href="#posture">Posture</a>'
        '<a href="#trend">Trend</a><a href="#hosts">Hosts</a><a href="#rules">Rules</a>'
        '<a href="#findings">Findings</a></nav></header><main>',
        '<section id="summary"><h2>Summary</h2>',
        *(f'<p class="note">{esc(n)}</p>' for n in notes),
        '<div class="cards">',
        _card(len(data.hosts), "hosts"), _card(c.rules or len(data.rules), "rules"),
        _card(sc[Status.FAIL], "failed"), _card(sc[Status.ERROR], "errors"),
        _card(sc[Status.PASS], "passed"), _card(sc[Status.NOT_APPLICABLE], "not applicable"),
        _card(c.new, "new findings"), _card(c.reopened, "reopened"),
        _card(c.closed, "closed"),
        "</div>",
        "<h3>Severity distribution</h3>",
        severity_chart(data.severity),
        "</section>",
        '<section id="posture"><h2>Posture per framework</h2>',
    ]
    if data.posture:
        out.append(posture_chart(data.posture))
        out.append("<p>A requirement is compliant when every rule mapped to it passes (or does "
                   "not apply) on every host, non-compliant when one fails, unknown when one "
                   "could not be checked.</p>")
        for fw, reqs in data.posture.items():
            ok = sum(1 for r in reqs if r.state == "compliant")
            out.append(f'<details class="framework"><summary><strong>'
                       f"{esc(_FRAMEWORK_LABEL.get(fw, fw))}</strong>: {ok} of {len(reqs)} "
                       f"requirement(s) compliant</summary>"
                       f'<div id="table-req-{esc(fw)}"></div></details>')
    else:
        out.append("<p>No rule of this run maps to a framework.</p>")
    out += [
        "</section>",
        '<section id="trend"><h2>Trend over runs</h2>',
        trend_severity_chart(data.trend),
        trend_compliance_chart(data.trend),
        "<table><thead><tr><th>Run</th><th>Started</th><th>Kind</th>"
        '<th class="num">Results</th><th class="num">Failed</th>'
        + "".join(f'<th class="num">{esc(_FRAMEWORK_LABEL[fw])}</th>' for fw in _FRAMEWORK_LABEL
                  if any(fw in p.frameworks for p in data.trend))
        + "</tr></thead><tbody>",
    ]
    shown_fw = [fw for fw in _FRAMEWORK_LABEL if any(fw in p.frameworks for p in data.trend)]
    for p in reversed(data.trend):
        cells = []
        for fw in shown_fw:
            s = p.frameworks.get(fw)
            cells.append(f'<td class="num">{s.compliant}/{s.requirements}</td>' if s
                         else "<td></td>")
        kind = p.run.kind + (" (pruned)" if p.run.pruned_at else "")
        out.append(f'<tr><td class="mono">{esc(p.run.id)}</td>'
                   f"<td>{esc(f'{p.run.started_at:%Y-%m-%d %H:%M}')}</td><td>{esc(kind)}</td>"
                   f'<td class="num">{p.results}</td>'
                   f'<td class="num">{sum(p.failed.values())}</td>{"".join(cells)}</tr>')
    out += [
        "</tbody></table></section>",
        '<section id="hosts"><h2>Hosts</h2><div id="table-hosts"></div></section>',
        '<section id="rules"><h2>Rules</h2><div id="table-rules"></div></section>',
        f'<section id="findings"><h2>Findings ({len(data.findings)})</h2>',
        "<p>The run's failed and unchecked results, most severe first, each with its evidence, "
        "references, fix and its results in the trend's runs.</p>",
        '<div class="controls"><input type="search" id="finding-filter" '
        'placeholder="Filter findings" aria-label="Filter findings">'
        '<select id="finding-severity" aria-label="Severity"><option value="">any severity'
        "</option>"
        + "".join(f'<option value="{s.value}">{s.value}</option>' for s in SEVERITIES)
        + '</select><select id="finding-status" aria-label="Status"><option value="">any '
        'status</option><option value="FAIL">FAIL</option><option value="ERROR">ERROR</option>'
        '</select><span class="count" id="finding-count"></span></div>',
        *(_finding_html(v) for v in data.findings),
        "</section></main>",
        f"<footer>inspectorctl {esc(__version__)} · report schema {SCHEMA_VERSION} · "
        "self-contained: this file loads nothing from anywhere.</footer>",
        f'<script type="application/json" id="report-data">{script_json(report_json(data))}'
        "</script>",
        f"<script>{js}</script>",
        "</body></html>",
    ]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------ output


def write_report(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file beside it, renamed over it):
    readers see the old file or the whole new one, never a part. The file is 0600 (findings
    describe the fleet's weaknesses). A path whose directory is missing is bad input."""
    parent = path.parent
    if path.is_dir():
        raise InputError(f"--html {path}: is a directory; give a file name such as "
                         f"{path / 'report.html'}")
    if not parent.is_dir():
        raise InputError(f"--html {path}: no such directory {parent}; create it first")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
