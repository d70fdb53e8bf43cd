"""A findings database for HTML report tests: two runs of the mini pack over three hosts, one
named to break out of a script element, one of an attribute, with hostile evidence too."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from inspectorctl.cli.main import app
from inspectorctl.models.finding import finding_id
from tests.fixtures import MINI_PACK, snapshot_dict

#: closes the JSON block and opens a script
SCRIPT_HOST = "</script><script>alert('host')</script>"
#: closes an attribute and adds an element with an event handler
ATTR_HOST = "\"><img src=x onerror=alert('attr')>"
#: sshd's MaxAuthTries as the hostile host reports it (the rule's evidence shows it)
EVIL_TRIES = "<script>alert('evidence')</script>"
#: a stored evidence row edited in the database (a line separator, a comment opener)
EVIL_ROW_FOUND = "<!--\u2028</script><svg onload=alert('row')>"

runner = CliRunner()


@dataclass(frozen=True)
class ReportDb:
    db: Path
    pack: Path
    first_run: str
    second_run: str


def _snapshots(folder: Path, hosts: dict[str, dict[str, object]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    for i, (_, data) in enumerate(sorted(hosts.items())):
        (folder / f"host-{i}.json").write_text(json.dumps(data))
    return folder


def _assess(db: Path, pack: Path, snaps: Path) -> str:
    res = runner.invoke(app, ["assess", "--db", str(db), "--pack", str(pack),
                              "--from-snapshots", str(snaps), "--format", "json"])
    assert res.exit_code == 0, res.output
    return str(json.loads(res.stdout)["run"]["id"])


def build_report_db(tmp: Path) -> ReportDb:
    """Run 1: every host fails something. Run 2: web-1 fixed its root login (the finding
    closes), the hostile hosts still fail; one stored evidence row is then edited to hold
    markup and a line separator."""
    pack = tmp / "mini.yml"
    pack.write_text(MINI_PACK)
    db = tmp / "findings.db"
    snaps = tmp / "snaps"
    first = _assess(db, pack, _snapshots(snaps, {
        "web-1": snapshot_dict("web-1", root_login="yes", forward="1"),
        SCRIPT_HOST: snapshot_dict(SCRIPT_HOST, root_login="yes"),
        ATTR_HOST: snapshot_dict(ATTR_HOST, tries=EVIL_TRIES),
    }))
    second = _assess(db, pack, _snapshots(snaps, {
        "web-1": snapshot_dict("web-1", forward="1"),
        SCRIPT_HOST: snapshot_dict(SCRIPT_HOST, root_login="yes"),
        ATTR_HOST: snapshot_dict(ATTR_HOST, tries=EVIL_TRIES),
    }))
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE results SET evidence=? WHERE run_id=? AND host=? AND rule_id=?",
                    (json.dumps({"expected": "0", "found": EVIL_ROW_FOUND}), second, "web-1",
                     "mini-ip-forward"))
    con.close()
    return ReportDb(db, pack, first, second)


def fid(rule: str, host: str) -> str:
    return finding_id(rule, host)
