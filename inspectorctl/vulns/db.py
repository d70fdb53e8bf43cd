"""The local advisory database (SQLite), beside the findings database by default.

Records are kept per (source, id); an import replaces a record only when its ``modified``
date differs, so importing the same data twice changes nothing. Each source keeps its name,
origin, import time and the newest record's date (how current the data itself is).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inspectorctl.vulns.models import (
    Affected,
    ImportStats,
    KevEntry,
    Reference,
    SourceInfo,
    SourceKind,
    Vulnerability,
    VulnError,
)
from inspectorctl.vulns.sources import AdvisorySource

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE sources (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    origin TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    newest_record TEXT,
    records INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE vulns (
    source TEXT NOT NULL REFERENCES sources(name) ON DELETE CASCADE,
    id TEXT NOT NULL,
    modified TEXT NOT NULL,
    published TEXT,
    summary TEXT,
    details TEXT,
    aliases TEXT NOT NULL,
    related TEXT NOT NULL,
    cvss TEXT NOT NULL,
    vendor_severity TEXT,
    refs TEXT NOT NULL,
    PRIMARY KEY (source, id)
);
CREATE TABLE affected (
    source TEXT NOT NULL,
    vuln_id TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    package TEXT NOT NULL,
    data TEXT NOT NULL,
    FOREIGN KEY (source, vuln_id) REFERENCES vulns(source, id) ON DELETE CASCADE
);
CREATE INDEX affected_pkg ON affected(ecosystem, package);
CREATE INDEX affected_vuln ON affected(source, vuln_id);
CREATE TABLE aliases (
    alias TEXT NOT NULL,
    source TEXT NOT NULL,
    vuln_id TEXT NOT NULL,
    FOREIGN KEY (source, vuln_id) REFERENCES vulns(source, id) ON DELETE CASCADE
);
CREATE INDEX aliases_alias ON aliases(alias);
CREATE INDEX aliases_vuln ON aliases(source, vuln_id);
CREATE TABLE kev (
    cve TEXT PRIMARY KEY,
    source TEXT NOT NULL REFERENCES sources(name) ON DELETE CASCADE,
    date_added TEXT NOT NULL,
    name TEXT,
    ransomware TEXT,
    due_date TEXT
)
"""


@dataclass(frozen=True, slots=True)
class AffectedRow:
    """One (vulnerability, package) row as the matcher reads it: plain values, no models."""

    source: str
    vuln_id: str
    ecosystem: str
    package: str
    data: dict[str, Any]  # Affected as JSON (exclude_defaults)
    aliases: tuple[str, ...] = ()


def _ts(d: datetime | None) -> str | None:
    return d.astimezone(UTC).isoformat() if d is not None else None


def _dt(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


class AdvisoryDB:
    def __init__(self, path: Path, *, timeout: float = 10.0) -> None:
        self.path = path
        #: (ecosystem, package) -> its rows, decoded, as read once (see ``affected_rows``)
        self._rows: dict[tuple[str, str], list[AffectedRow]] = {}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            self.db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise VulnError(f"the advisory database {path} has schema version {version}, "
                                f"newer than this inspectorctl knows ({SCHEMA_VERSION}); "
                                "upgrade inspectorctl")
            if version == 0:
                with self.transaction():
                    for stmt in _SCHEMA.split(";"):
                        if stmt.strip():
                            self.db.execute(stmt)
                    self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            raise VulnError(f"cannot open the advisory database {path}: {e}; move it aside "
                            "or use another --vuln-db") from e
        except OSError as e:
            raise VulnError(f"cannot open the advisory database {path}: {e}") from e

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> AdvisoryDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise VulnError(f"the advisory database {self.path} is busy: {e}") from e
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    # ------------------------------------------------------------------------------ import

    def import_source(self, src: AdvisorySource) -> ImportStats:
        """Import every record of ``src`` in one transaction: all of it or nothing."""
        t0 = time.perf_counter()
        self._rows.clear()  # what was read before may change
        read = added = updated = unchanged = 0
        newest: datetime | None = None
        with self.transaction() as db:
            row = db.execute("SELECT kind FROM sources WHERE name=?", (src.name,)).fetchone()
            if row is not None and row[0] != src.kind.value:
                raise VulnError(f"source {src.name!r} already holds {row[0]} data; import "
                                f"{src.kind.value} data under another --name")
            db.execute(
                "INSERT INTO sources(name, kind, origin, imported_at) VALUES (?,?,?,?)"
                " ON CONFLICT(name) DO UPDATE SET origin=excluded.origin,"
                " imported_at=excluded.imported_at",
                (src.name, src.kind.value, src.origin, _ts(datetime.now(UTC))))
            known = {r[0]: r[1] for r in db.execute(
                "SELECT id, modified FROM vulns WHERE source=?", (src.name,))}
            kev_known = {r[0]: r[1] for r in db.execute(
                "SELECT cve, date_added FROM kev WHERE source=?", (src.name,))}
            src.known = known
            for rec in src.records():
                read += 1
                if isinstance(rec, KevEntry):
                    added_d = _dt(rec.date_added + "T00:00:00+00:00") if len(
                        rec.date_added) == 10 else None
                    if added_d and (newest is None or added_d > newest):
                        newest = added_d
                    if kev_known.get(rec.cve) == rec.date_added:
                        unchanged += 1
                        continue
                    if rec.cve in kev_known:
                        updated += 1
                    else:
                        added += 1
                    kev_known[rec.cve] = rec.date_added
                    db.execute("INSERT OR REPLACE INTO kev(cve, source, date_added, name,"
                               " ransomware, due_date) VALUES (?,?,?,?,?,?)",
                               (rec.cve, src.name, rec.date_added, rec.name, rec.ransomware,
                                rec.due_date))
                    continue
                if newest is None or rec.modified > newest:
                    newest = rec.modified
                mod = _ts(rec.modified)
                old = known.get(rec.id)
                if old == mod:
                    unchanged += 1
                    continue
                if old is not None:
                    updated += 1
                    db.execute("DELETE FROM vulns WHERE source=? AND id=?", (src.name, rec.id))
                else:
                    added += 1
                known[rec.id] = mod or ""
                self._insert(db, rec)
            skipped = len(src.unchanged_ids)
            read += skipped
            unchanged += skipped
            withdrawn = 0
            for wid in src.withdrawn_ids:
                withdrawn += 1
                db.execute("DELETE FROM vulns WHERE source=? AND id=?", (src.name, wid))
            count = db.execute("SELECT count(*) FROM vulns WHERE source=?",
                               (src.name,)).fetchone()[0] + db.execute(
                "SELECT count(*) FROM kev WHERE source=?", (src.name,)).fetchone()[0]
            old_newest = db.execute("SELECT newest_record FROM sources WHERE name=?",
                                    (src.name,)).fetchone()[0]
            if old_newest and (newest is None or _dt(old_newest) > newest):  # type: ignore[operator]
                newest = _dt(old_newest)
            db.execute("UPDATE sources SET newest_record=?, records=? WHERE name=?",
                       (_ts(newest), count, src.name))
        return ImportStats(source=src.name, kind=src.kind, origin=src.origin, read=read,
                           added=added, updated=updated, unchanged=unchanged,
                           withdrawn=withdrawn, seconds=time.perf_counter() - t0)

    @staticmethod
    def _insert(db: sqlite3.Connection, v: Vulnerability) -> None:
        db.execute(
            "INSERT INTO vulns(source, id, modified, published, summary, details, aliases,"
            " related, cvss, vendor_severity, refs) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (v.source, v.id, _ts(v.modified), _ts(v.published), v.summary, v.details,
             json.dumps(v.aliases), json.dumps(v.related), json.dumps(v.cvss_vectors),
             v.vendor_severity, json.dumps([r.model_dump() for r in v.references])))
        db.executemany(
            "INSERT INTO affected(source, vuln_id, ecosystem, package, data) VALUES (?,?,?,?,?)",
            [(v.source, v.id, a.ecosystem, a.package,
              a.model_dump_json(exclude_defaults=True, exclude={"ecosystem", "package"}))
             for a in v.affected])
        db.executemany("INSERT INTO aliases(alias, source, vuln_id) VALUES (?,?,?)",
                       [(al, v.source, v.id) for al in {*v.aliases, v.id}])

    # ------------------------------------------------------------------------------ queries

    def sources(self) -> list[SourceInfo]:
        return [SourceInfo(name=r[0], kind=SourceKind(r[1]), origin=r[2],
                           imported_at=_dt(r[3]), newest_record=_dt(r[4]), records=r[5])
                for r in self.db.execute(
                    "SELECT name, kind, origin, imported_at, newest_record, records"
                    " FROM sources ORDER BY name")]

    def affected_rows(self, ecosystems: Sequence[str],
                      packages: Iterable[str]) -> list[AffectedRow]:
        """Rows naming any of ``packages`` in any of ``ecosystems``.

        A package's rows are read and decoded once per database object and kept (the next
        host of a fleet reads none of them again; an import forgets them): the rows are
        shared, never to be changed. Equal JSON texts (most ranges are alike) are decoded
        once."""
        names = sorted(set(packages))
        out: list[AffectedRow] = []
        decoded: dict[str, Any] = {}

        def loads(text: str) -> Any:
            v = decoded.get(text)
            if v is None:
                v = decoded[text] = json.loads(text)
            return v

        for eco in ecosystems:
            missing = [n for n in names if (eco, n) not in self._rows]
            fetched: dict[str, list[AffectedRow]] = {n: [] for n in missing}
            for i in range(0, len(missing), 500):
                chunk = missing[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for src, vid, e, pkg, data, aliases in self.db.execute(
                        "SELECT a.source, a.vuln_id, a.ecosystem, a.package, a.data, v.aliases"
                        " FROM affected a JOIN vulns v ON v.source=a.source AND v.id=a.vuln_id"
                        f" WHERE a.ecosystem=? AND a.package IN ({marks})", (eco, *chunk)):
                    fetched[pkg].append(AffectedRow(src, vid, e, pkg, loads(data),
                                                    () if aliases == "[]" else
                                                    tuple(loads(aliases))))
            for n, rows in fetched.items():
                self._rows[(eco, n)] = rows
            for n in names:
                out.extend(self._rows[(eco, n)])
        return out

    def ecosystems(self, prefix: str) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT ecosystem FROM affected WHERE ecosystem=? OR ecosystem LIKE ?",
            (prefix, prefix + ":%"))]

    def vulnerability(self, source: str, vid: str) -> Vulnerability | None:
        r = self.db.execute("SELECT * FROM vulns WHERE source=? AND id=?",
                            (source, vid)).fetchone()
        if r is None:
            return None
        cols = [d[0] for d in self.db.execute("SELECT * FROM vulns LIMIT 0").description]
        row = dict(zip(cols, r, strict=True))
        aff = [Affected.model_validate({**json.loads(d), "ecosystem": e, "package": p})
               for e, p, d in self.db.execute(
                   "SELECT ecosystem, package, data FROM affected WHERE source=? AND vuln_id=?",
                   (source, vid))]
        return Vulnerability(
            id=row["id"], source=row["source"], modified=_dt(row["modified"]),
            published=_dt(row["published"]), summary=row["summary"], details=row["details"],
            aliases=tuple(json.loads(row["aliases"])), related=tuple(json.loads(row["related"])),
            cvss_vectors=tuple(json.loads(row["cvss"])),
            vendor_severity=row["vendor_severity"],
            references=tuple(Reference.model_validate(x) for x in json.loads(row["refs"])),
            affected=tuple(aff))

    def lookup(self, ident: str) -> list[Vulnerability]:
        """Every record whose id or alias is ``ident`` (case-insensitive for CVE ids)."""
        key = ident.strip()
        if key.lower().startswith("cve-"):
            key = key.upper()
        pairs = self.db.execute("SELECT DISTINCT source, vuln_id FROM aliases WHERE alias=?"
                                " ORDER BY source, vuln_id", (key,)).fetchall()
        out = [self.vulnerability(s, v) for s, v in pairs]
        return [v for v in out if v is not None]

    def records_meta(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str],
                                                                     dict[str, Any]]:
        """id, aliases, cvss vectors, vendor severity, references of the given records."""
        by_source: dict[str, set[str]] = {}
        for src, vid in pairs:
            by_source.setdefault(src, set()).add(vid)
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for src, ids in by_source.items():
            names = sorted(ids)
            for i in range(0, len(names), 500):
                chunk = names[i:i + 500]
                for r in self.db.execute(
                        "SELECT id, aliases, cvss, vendor_severity, refs, summary FROM vulns"
                        f" WHERE source=? AND id IN ({','.join('?' * len(chunk))})",
                        (src, *chunk)):
                    out[(src, r[0])] = {"aliases": json.loads(r[1]), "cvss": json.loads(r[2]),
                                        "vendor_severity": r[3], "refs": json.loads(r[4]),
                                        "summary": r[5]}
        return out

    def kev(self, cves: Iterable[str]) -> dict[str, KevEntry]:
        names = sorted(set(cves))
        out: dict[str, KevEntry] = {}
        for i in range(0, len(names), 500):
            chunk = names[i:i + 500]
            for r in self.db.execute(
                    "SELECT cve, date_added, name, ransomware, due_date FROM kev WHERE cve IN"
                    f" ({','.join('?' * len(chunk))})", chunk):
                out[r[0]] = KevEntry(cve=r[0], date_added=r[1], name=r[2], ransomware=r[3],
                                     due_date=r[4])
        return out

    def cvss_for(self, ids: Iterable[str]) -> dict[str, list[str]]:
        """CVSS vectors any source gives for each id (by id or alias): NVD's, through the
        Debian/OSV records, when the vendor's record has none."""
        names = sorted(set(ids))
        out: dict[str, list[str]] = {}
        for i in range(0, len(names), 500):
            chunk = names[i:i + 500]
            for alias, vec in self.db.execute(
                    "SELECT a.alias, v.cvss FROM aliases a JOIN vulns v ON v.source=a.source AND"
                    f" v.id=a.vuln_id WHERE a.alias IN ({','.join('?' * len(chunk))})"
                    " ORDER BY a.alias, a.source", chunk):
                have = out.setdefault(alias, [])
                for x in json.loads(vec):
                    if x not in have:
                        have.append(x)
        return out
