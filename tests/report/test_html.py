"""The HTML report: what it holds, that nothing from a host or a row becomes markup or script,
that it references nothing outside itself, and the command's errors (exit 2, nothing written)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from inspectorctl.cli.main import app
from inspectorctl.models.rule import FRAMEWORKS
from inspectorctl.report.html import esc, render_html, script_json
from inspectorctl.report.reportdata import (
    collect_report,
    framework_posture,
    load_rules,
    parse_since,
    run_postures,
)
from inspectorctl.store.db import Store
from tests.report.html_fixtures import (
    ATTR_HOST,
    EVIL_ROW_FOUND,
    EVIL_TRIES,
    SCRIPT_HOST,
    ReportDb,
    build_report_db,
    fid,
)

runner = CliRunner()

#: every element the report is made of: anything else in the page came from data
REPORT_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3",
               "p", "nav", "a", "main", "section", "div", "span", "svg", "rect", "text",
               "line", "polyline", "circle", "details", "summary", "dl", "dt", "dd", "table",
               "thead", "tbody", "tr", "th", "td", "input", "select", "option", "footer",
               "script", "strong"}


@pytest.fixture(scope="module")
def report_db(tmp_path_factory: pytest.TempPathFactory) -> ReportDb:
    return build_report_db(tmp_path_factory.mktemp("htmldb"))


@pytest.fixture(scope="module")
def page(report_db: ReportDb, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("htmlout") / "report.html"
    res = runner.invoke(app, ["report", "--html", str(out), "--db", str(report_db.db)])
    assert res.exit_code == 0, res.output
    return out.read_text(encoding="utf-8")


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.data: dict[str, str] = {}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self._in = dict(attrs).get("id") if tag == "script" else None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.data[self._in] = self.data.get(self._in, "") + data


def _parse(text: str) -> _Elements:
    p = _Elements()
    p.feed(text)
    p.close()
    return p


def _data_block(text: str) -> dict[str, object]:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text,
                  re.S)
    assert m, "no data block"
    doc = json.loads(m.group(1))
    assert isinstance(doc, dict)
    return doc


# --------------------------------------------------------------------------------- escaping


def test_hostile_strings_are_text_never_markup(page: str) -> None:
    for raw in (SCRIPT_HOST, ATTR_HOST, EVIL_TRIES, "<svg onload", "<img", "<!--"):
        assert raw not in page, raw
    # shown, escaped, where people read them
    assert html.escape(SCRIPT_HOST, quote=True) in page
    assert html.escape(ATTR_HOST, quote=True) in page
    assert html.escape(f"maxauthtries {EVIL_TRIES}", quote=True) in page
    assert esc(EVIL_ROW_FOUND) in page and "\\u2028" in esc(EVIL_ROW_FOUND)
    parsed = _parse(page)
    tags = [t for t, _ in parsed.tags]
    assert set(tags) <= REPORT_TAGS, set(tags) - REPORT_TAGS
    assert tags.count("script") == 2 and page.count("</script>") == 2
    assert "img" not in tags
    handlers = [(t, k) for t, attrs in parsed.tags for k, _ in attrs if k.startswith("on")]
    assert handlers == []


def test_data_block_holds_the_hostile_values_escaped_and_intact(page: str) -> None:
    m = re.search(r'id="report-data">(.*?)</script>', page, re.S)
    assert m
    block = m.group(1)
    for ch in "<>&\u2028\u2029":
        assert ch not in block
    doc = _data_block(page)
    tables = {t["id"]: t for t in doc["tables"]}  # type: ignore[attr-defined]
    hosts = {row[0] for row in tables["table-hosts"]["rows"]}
    assert hosts == {SCRIPT_HOST, ATTR_HOST, "web-1"}


@given(st.text())
def test_script_json_cannot_leave_its_element(text: str) -> None:
    out = script_json({"v": text, text: [text]})
    for ch in "<>&\u2028\u2029":
        assert ch not in out
    assert json.loads(out) == {"v": text, text: [text]}


def test_esc_quotes_and_controls() -> None:
    assert esc("\"'<>&") == "&quot;&#x27;&lt;&gt;&amp;"
    assert esc("a\x1b[2Jb\u202e") == "a\\x1b[2Jb\\u202e"


# ------------------------------------------------------------------------- self-contained


def test_the_file_references_nothing_outside_itself(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    assert "url(" not in page and "@import" not in page
    parsed = _parse(page)
    for tag, attrs in parsed.tags:
        a = dict(attrs)
        assert "src" not in a, (tag, a)
        assert "srcset" not in a and "action" not in a, (tag, a)
        if "href" in a:
            assert (a["href"] or "").startswith("#"), (tag, a)
            assert "//" not in (a["href"] or "")
    assert not [t for t, _ in parsed.tags if t in ("link", "iframe", "object", "embed", "img",
                                                   "base", "form")]


def test_csp_allows_only_the_reports_own_script_and_style(page: str) -> None:
    m = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert m
    csp = html.unescape(m.group(1))
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert script and style

    def digest(s: str) -> str:
        return base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()

    assert csp == (f"default-src 'none'; script-src 'sha256-{digest(script.group(1))}'; "
                   f"style-src 'sha256-{digest(style.group(1))}'; img-src 'none'; "
                   "base-uri 'none'; form-action 'none'")


# ---------------------------------------------------------------------------------- content


def test_report_holds_posture_trend_tables_and_findings(page: str, report_db: ReportDb
                                                        ) -> None:
    doc = _data_block(page)
    assert doc["schema_version"] == 1
    assert doc["run"] == {"id": report_db.second_run, "started_at": doc["run"]["started_at"],  # type: ignore[index]
                          "pruned": False}
    trend = doc["trend"]
    assert [t["run"] for t in trend] == [report_db.first_run, report_db.second_run]  # type: ignore[attr-defined]
    # run 1: two high (root login on two hosts), one medium, one low; run 2: web-1 fixed root
    assert [t["failed"] for t in trend] == [  # type: ignore[attr-defined]
        {"critical": 0, "high": 2, "medium": 1, "low": 1, "informational": 0},
        {"critical": 0, "high": 1, "medium": 1, "low": 1, "informational": 0}]
    assert trend[1]["compliance"] == {  # type: ignore[index]
        "pci-dss": {"requirements": 2, "compliant": 0, "non_compliant": 2, "unknown": 0},
        "hipaa": {"requirements": 1, "compliant": 0, "non_compliant": 1, "unknown": 0}}
    tables = {t["id"]: t for t in doc["tables"]}  # type: ignore[attr-defined]
    assert set(tables) == {"table-hosts", "table-rules", "table-req-pci-dss", "table-req-hipaa"}
    pci = {r[0]: r for r in tables["table-req-pci-dss"]["rows"]}
    assert pci["2.2.6"][:4] == ["2.2.6", "System security parameters are configured to "
                                "prevent misuse", "non-compliant",
                                "mini-ssh-root, mini-ssh-tries"]
    assert pci["8.2.2"][1] == "Shared, group or generic accounts are used only by exception"
    rules = {r[0]: r for r in tables["table-rules"]["rows"]}
    assert rules["mini-ssh-root"][2:8] == ["high", "mini", 1, 0, 2, 0]
    assert rules["mini-ssh-root"][9] == "PCI DSS 2.2.6, 8.2.2; HIPAA 164.312(a)(1)"
    hosts = {r[0]: r for r in tables["table-hosts"]["rows"]}
    # host, fail, critical, high, medium, low, info, error, pass, n/a, pass %
    assert hosts["web-1"] == ["web-1", 1, 0, 0, 0, 1, 0, 0, 2, 0, 66.7]
    # the findings: FAIL results of the run, each with history over both runs
    assert page.count('<details class="finding"') == 3
    assert f'id="{fid("mini-ip-forward", "web-1")}"' in page
    assert "Rationale" in page and "References" in page and "Remediation" in page
    assert "Severity distribution" in page and page.count('<svg class="chart"') == 4


def test_finding_history_lists_each_run_of_the_trend(report_db: ReportDb) -> None:
    with Store(report_db.db) as store:
        data = collect_report(store, run_id=None, since=None, now=datetime.now(UTC))
    by_id = {v.id: v for v in data.findings}
    root = by_id[fid("mini-ssh-root", SCRIPT_HOST)]
    assert [(h.run_id, h.status) for h in root.history] == [
        (report_db.second_run, "FAIL"), (report_db.first_run, "FAIL")]
    assert root.finding is not None and root.finding.state.value == "active"
    fwd = by_id[fid("mini-ip-forward", "web-1")]
    assert fwd.history[0].evidence is not None
    assert fwd.history[0].evidence.found == EVIL_ROW_FOUND


def test_trend_posture_agrees_with_the_framework_view(report_db: ReportDb) -> None:
    """The trend's own posture query and ``assess --framework``'s computation give one answer
    for the run reported on."""
    with Store(report_db.db) as store:
        run = store.run(report_db.second_run)
        assert run is not None
        rules = load_rules([run])
        (trend,) = run_postures(store, [run], rules)
        view = framework_posture(store.results(run.id), rules)
    assert set(trend.frameworks) == set(view) and set(view) <= set(FRAMEWORKS)
    for fw, reqs in view.items():
        s = trend.frameworks[fw]
        assert (s.requirements, s.compliant, s.non_compliant, s.unknown) == (
            len(reqs), sum(r.state == "compliant" for r in reqs),
            sum(r.state == "non-compliant" for r in reqs),
            sum(r.state == "unknown" for r in reqs))


def test_run_selects_the_report_and_ends_its_trend(report_db: ReportDb,
                                                   tmp_path: Path) -> None:
    with Store(report_db.db) as store:
        data = collect_report(store, run_id=report_db.first_run, since=None,
                              now=datetime.now(UTC))
    assert data.scope.run.id == report_db.first_run
    assert [p.run.id for p in data.trend] == [report_db.first_run]
    assert {v.id for v in data.findings} == {
        fid("mini-ssh-root", "web-1"), fid("mini-ip-forward", "web-1"),
        fid("mini-ssh-root", SCRIPT_HOST), fid("mini-ssh-tries", ATTR_HOST)}


def test_since_window(report_db: ReportDb) -> None:
    with Store(report_db.db) as store:
        data = collect_report(store, run_id=None, since=timedelta(hours=1),
                              now=datetime.now(UTC))
        assert [p.run.id for p in data.trend] == [report_db.first_run, report_db.second_run]
        with pytest.raises(Exception, match=r"no run in the last 1 hour\(s\) in "):
            collect_report(store, run_id=None, since=timedelta(hours=1),
                           now=datetime.now(UTC) + timedelta(hours=3))


def test_missing_pack_is_named_and_findings_still_shown(tmp_path: Path) -> None:
    rdb = build_report_db(tmp_path)
    rdb.pack.unlink()
    with Store(rdb.db) as store:
        data = collect_report(store, run_id=None, since=None, now=datetime.now(UTC))
    text = render_html(data)
    assert f"Rules of pack {esc(rdb.pack)} could not be loaded ({esc(rdb.pack)}: no such " \
           "rulepack file)" in text
    assert len(data.findings) == 3 and all(v.rule is None for v in data.findings)
    assert data.posture == {}


@pytest.mark.parametrize("text,expected", [
    ("12h", timedelta(hours=12)), ("30d", timedelta(days=30)), ("6w", timedelta(weeks=6))])
def test_parse_since(text: str, expected: timedelta) -> None:
    assert parse_since(text) == expected


# ------------------------------------------------------------------------------------- CLI


def test_cli_writes_the_file_atomically_and_privately(report_db: ReportDb,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    out.write_text("old")
    res = runner.invoke(app, ["report", "--html", str(out), "--db", str(report_db.db),
                              "--run", report_db.first_run])
    assert res.exit_code == 0, res.output
    assert res.stderr == (f"wrote {out}: run {report_db.first_run}, 3 host(s), 4 finding(s), "
                          "1 run(s) in the trend\n")
    assert res.stdout == ""
    assert os.stat(out).st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]  # no temporary left
    assert out.read_text().startswith("<!DOCTYPE html>")


def _errors(tmp_path: Path, report_db: ReportDb) -> list[tuple[list[str], str]]:
    empty = tmp_path / "empty.db"
    Store(empty).close()
    none = tmp_path / "none.db"
    db = str(report_db.db)
    return [
        (["--db", str(none)], f"error: no database at {none}: nothing to report; run "
         "`inspectorctl assess` first (or give the right --db)\n"),
        (["--db", str(empty)], f"error: no run recorded in {empty}: nothing to report; run "
         "`inspectorctl assess` first (or give the right --db)\n"),
        (["--db", db, "--run", "r-nope"],
         f"error: no run 'r-nope' in {db}; see `inspectorctl runs list`\n"),
        (["--db", db, "--run", report_db.first_run, "--since", "7d"],
         "error: give --run or --since, not both (--run ID reports that run with the 30 days "
         "before it as its trend)\n"),
        (["--db", db, "--since", "30 days"], "error: --since '30 days': expected a number of "
         "hours, days or weeks such as 12h, 30d or 6w\n"),
        (["--db", db, "--since", "999w"], "error: --since '999w': at most 3650 days\n"),
    ]


def test_cli_bad_input_is_one_error_exit_2_nothing_written(report_db: ReportDb,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "keep.html"
    out.write_text("previous report")
    for args, message in _errors(tmp_path, report_db):
        res = runner.invoke(app, ["report", "--html", str(out), *args])
        assert (res.exit_code, res.stderr) == (2, message), args
        assert out.read_text() == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "keep.html"]
    missing = tmp_path / "no" / "r.html"
    res = runner.invoke(app, ["report", "--html", str(missing), "--db", str(report_db.db)])
    assert (res.exit_code, res.stderr) == (
        2, f"error: --html {missing}: no such directory {missing.parent}; create it first\n")
    res = runner.invoke(app, ["report", "--html", str(tmp_path), "--db", str(report_db.db)])
    assert (res.exit_code, res.stderr) == (
        2, f"error: --html {tmp_path}: is a directory; give a file name such as "
        f"{tmp_path / 'report.html'}\n")


def test_an_unreadable_evidence_row_is_shown_not_interpreted(tmp_path: Path) -> None:
    rdb = build_report_db(tmp_path)
    con = sqlite3.connect(rdb.db)
    with con:
        con.execute("UPDATE results SET evidence='<b>not json' WHERE host='web-1' AND "
                    "rule_id='mini-ip-forward' AND run_id=?", (rdb.first_run,))
    con.close()
    out = tmp_path / "r.html"
    res = runner.invoke(app, ["report", "--html", str(out), "--db", str(rdb.db)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "&lt;b&gt;not json" in text and "<b>not json" not in text


def test_verification_runs_stay_out_of_the_trend_but_in_histories(tmp_path: Path) -> None:
    """A remediation's verification run re-assesses only what an apply touched: the report does
    not pick it as the newest run nor put it in the trend; the findings' histories show it."""
    from inspectorctl.remediate.audit import AuditEvent, record

    rdb = build_report_db(tmp_path)
    with Store(rdb.db) as store:
        record(store, AuditEvent.VERIFY, "alice", datetime.now(UTC), plan_id="p-1",
               run_id=rdb.second_run)
        data = collect_report(store, run_id=None, since=None, now=datetime.now(UTC))
        assert data.scope.run.id == rdb.first_run
        assert [p.run.id for p in data.trend] == [rdb.first_run]
        assert data.scope.verification_runs == 1
        root = {v.id: v for v in data.findings}[fid("mini-ssh-root", SCRIPT_HOST)]
        assert [(h.run_id, h.verification) for h in root.history] == [
            (rdb.second_run, True), (rdb.first_run, False)]
        text = render_html(data)
        assert "1 verification run(s) of remediations" in text
        assert f"{rdb.second_run} (verification)</td>" in text
        # asked for, it is reported on; the runs before it are its trend
        data = collect_report(store, run_id=rdb.second_run, since=None, now=datetime.now(UTC))
        assert [p.run.id for p in data.trend] == [rdb.first_run, rdb.second_run]
        # asked for the first run: its report ends there, histories too
        data = collect_report(store, run_id=rdb.first_run, since=None, now=datetime.now(UTC))
        root = {v.id: v for v in data.findings}[fid("mini-ssh-root", SCRIPT_HOST)]
        assert [h.run_id for h in root.history] == [rdb.first_run]
        assert data.scope.verification_runs == 0


def test_every_shipped_requirement_has_a_title() -> None:
    """A reference added to a shipped pack needs its requirement's title (CIS excepted: a CIS
    recommendation's title is its rule's)."""
    from inspectorctl.report.requirements import REQUIREMENT_TITLES
    from inspectorctl.rules.loader import load_pack, shipped_pack_ids

    missing = set()
    for path in shipped_pack_ids().values():
        for rule in load_pack(path).rules:
            for fw in FRAMEWORKS:
                if fw == "cis":
                    continue
                missing |= {(fw, req) for req in rule.references.framework_ids(fw)
                            if req not in REQUIREMENT_TITLES[fw]}
    assert missing == set()


@given(st.text(max_size=20))
def test_parse_since_accepts_only_bounded_ages(text: str) -> None:
    from inspectorctl.errors import InputError

    try:
        delta = parse_since(text)
    except InputError as e:
        assert str(e).startswith(f"--since {text!r}: ")
    else:
        assert timedelta(hours=1) <= delta <= timedelta(days=3650)
        assert re.fullmatch(r"\s*[1-9][0-9]*[hdw]\s*", text)


def test_a_row_that_cannot_be_read_is_one_error(tmp_path: Path) -> None:
    rdb = build_report_db(tmp_path)
    con = sqlite3.connect(rdb.db)
    with con:
        con.execute("UPDATE results SET status='<b>BOGUS' WHERE host='web-1' AND "
                    "rule_id='mini-ip-forward' AND run_id=?", (rdb.second_run,))
    con.close()
    out = tmp_path / "r.html"
    res = runner.invoke(app, ["report", "--html", str(out), "--db", str(rdb.db)])
    assert (res.exit_code, res.stderr) == (1, (
        f"error: the database {rdb.db} holds a row inspectorctl cannot read ('<b>BOGUS' is not "
        "a valid Status); was it edited by hand? Move it aside or use another --db\n"))
    assert not out.exists()
