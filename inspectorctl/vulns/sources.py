"""Advisory sources: one ``AdvisorySource`` per format, each reading files, folders or zip
archives with limits on size, member count, compression ratio and nesting.

- OSV (osv.dev's per-ecosystem zips, a folder of ``*.json``/``*.yaml`` records, one file)
- the Debian security tracker's JSON (``/tracker/data/json``), which keeps the no-fix states
- Amazon Linux updateinfo advisories (ALAS, ALAS2, ALAS2022, ALAS2023), one JSON per advisory
- Alpine secdb (``v3.19/main.json``...)
- the CISA Known Exploited Vulnerabilities catalog
"""

from __future__ import annotations

import abc
import json
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from inspectorctl.models.common import trusted
from inspectorctl.vulns import versions
from inspectorctl.vulns.models import (
    AdvisoryInputError,
    Affected,
    Event,
    KevEntry,
    Range,
    RangeType,
    Reference,
    SourceKind,
    TrackerState,
    Vulnerability,
)

#: one record file (JSON/YAML) at most; the Debian tracker's whole JSON is ~70 MB
MAX_FILE_BYTES = 256 * 1024 * 1024
#: everything one import reads, uncompressed
MAX_TOTAL_BYTES = 4 * 1024 * 1024 * 1024
MAX_MEMBERS = 500_000
#: a member this much larger than its compressed size is refused (zip bombs); real
#: advisory JSON compresses ~5-20x
MAX_RATIO = 200
#: nesting depth of one record (OSV records are ~8 deep)
MAX_DEPTH = 32

_RECORD_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class RawFile:
    """One file read from a path or an archive: where it came from and its bytes."""

    where: str  # path, or "archive.zip:member"
    name: str  # path inside the archive or folder
    data: bytes
    mtime: datetime | None = None


class _Budget:
    def __init__(self) -> None:
        self.total = 0

    def take(self, n: int, where: str) -> None:
        self.total += n
        if self.total > MAX_TOTAL_BYTES:
            raise AdvisoryInputError(
                f"{where}: the import reads more than {MAX_TOTAL_BYTES // 2**20} MiB "
                "uncompressed; split it into several `vulns update` runs")


def _read_limited(f: Any, where: str) -> bytes:
    data: bytes = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise AdvisoryInputError(
            f"{where}: larger than {MAX_FILE_BYTES // 2**20} MiB; refusing to read it")
    return data


def iter_files(path: Path, suffixes: tuple[str, ...] = _RECORD_SUFFIXES) -> Iterator[RawFile]:
    """Every record file under ``path`` (a file, a folder, or a zip archive), sorted by name,
    read with the module's limits."""
    budget = _Budget()
    if not path.exists():
        raise AdvisoryInputError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()
                       and p.suffix.lower() in suffixes)
        if len(files) > MAX_MEMBERS:
            raise AdvisoryInputError(f"{path}: more than {MAX_MEMBERS} files")
        for p in files:
            yield _read_file(p, str(p.relative_to(path)), budget)
        return
    if zipfile.is_zipfile(path):
        yield from _iter_zip(path, suffixes, budget)
        return
    yield _read_file(path, path.name, budget)


def _read_file(p: Path, name: str, budget: _Budget) -> RawFile:
    try:
        with p.open("rb") as f:
            data = _read_limited(f, str(p))
        mtime = datetime.fromtimestamp(p.stat().st_mtime, UTC)
    except OSError as e:
        raise AdvisoryInputError(f"{p}: cannot read: {e.strerror or e}") from e
    budget.take(len(data), str(p))
    return RawFile(str(p), name, data, mtime)


def _iter_zip(path: Path, suffixes: tuple[str, ...], budget: _Budget) -> Iterator[RawFile]:
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise AdvisoryInputError(f"{path}: not a readable zip archive: {e}") from e
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()
                 and i.filename.lower().endswith(suffixes)]
        if len(infos) > MAX_MEMBERS:
            raise AdvisoryInputError(f"{path}: more than {MAX_MEMBERS} members")
        infos.sort(key=lambda i: i.filename)
        for info in infos:
            where = f"{path}:{info.filename}"
            if info.file_size > MAX_FILE_BYTES:
                raise AdvisoryInputError(
                    f"{where}: declares {info.file_size} bytes, more than "
                    f"{MAX_FILE_BYTES // 2**20} MiB; refusing to unpack it")
            if info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(
                    info.compress_size, 1):
                raise AdvisoryInputError(
                    f"{where}: compressed more than {MAX_RATIO}:1 (a zip bomb?); refusing "
                    "to unpack it")
            try:
                with zf.open(info) as f:
                    # the declared size may lie: read at most the limit, whatever it says
                    data = _read_limited(f, where)
            except (OSError, zipfile.BadZipFile, EOFError, RuntimeError) as e:
                raise AdvisoryInputError(f"{where}: cannot unpack: {e}") from e
            if len(data) > MAX_RATIO * max(info.compress_size, 1) and len(data) > 1024 * 1024:
                raise AdvisoryInputError(f"{where}: compressed more than {MAX_RATIO}:1 "
                                         "(a zip bomb?); refusing to unpack it")
            budget.take(len(data), where)
            try:
                mtime: datetime | None = datetime(*info.date_time, tzinfo=UTC)
            except ValueError:
                mtime = None
            yield RawFile(where, info.filename, data, mtime)


def _depth(obj: Any, limit: int, level: int = 0) -> int:
    if level > limit:
        return level
    if isinstance(obj, dict):
        return max((_depth(v, limit, level + 1) for v in obj.values()), default=level)
    if isinstance(obj, list):
        return max((_depth(v, limit, level + 1) for v in obj), default=level)
    return level


def parse_document(raw: RawFile, *, check_depth: bool = False) -> Any:
    """JSON or YAML (by suffix); one clear error naming the file. Nesting is bounded by
    the parsers' recursion limit (a RecursionError becomes that error); ``check_depth``
    walks the result against ``MAX_DEPTH`` too, for formats read generically."""
    try:
        if raw.name.lower().endswith((".yaml", ".yml")):
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            doc = yaml.load(raw.data, Loader=loader)
        else:
            doc = json.loads(raw.data)
    except (ValueError, yaml.YAMLError) as e:
        raise AdvisoryInputError(f"{raw.where}: not valid JSON/YAML: {e}") from e
    except RecursionError as e:
        raise AdvisoryInputError(f"{raw.where}: nested too deeply") from e
    if check_depth and _depth(doc, MAX_DEPTH) > MAX_DEPTH:
        raise AdvisoryInputError(f"{raw.where}: nested deeper than {MAX_DEPTH} levels")
    return doc


def parse_time(value: Any, where: str, field: str) -> datetime:
    if isinstance(value, datetime):  # YAML reads unquoted timestamps as datetimes
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        raise AdvisoryInputError(f"{where}: {field}: missing or not a date")
    s = value.strip().replace("Z", "+00:00")
    if " " in s and "T" not in s:
        s = s.replace(" ", "T", 1)
    try:
        d = datetime.fromisoformat(s)
    except ValueError as e:
        raise AdvisoryInputError(f"{where}: {field}: not an ISO date: {value!r}") from e
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _str(value: Any, where: str, field: str, *, limit: int = 1 << 20) -> str:
    if not isinstance(value, str) or not value:
        raise AdvisoryInputError(f"{where}: {field}: missing or not a string")
    if len(value) > limit:
        raise AdvisoryInputError(f"{where}: {field}: longer than {limit} characters")
    return value


def _opt_str(value: Any, limit: int = 1 << 20) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


# ------------------------------------------------------------------------------- interface


class AdvisorySource(abc.ABC):
    """One advisory feed read from a path: yields normalised records."""

    kind: SourceKind

    def __init__(self, path: Path, name: str | None = None) -> None:
        self.path = path
        self.name = name or self.default_name(path)
        self.origin = str(path.resolve())
        self.withdrawn_ids = []
        self.unchanged_ids = []

    def default_name(self, path: Path) -> str:
        return str(self.kind)

    @abc.abstractmethod
    def records(self) -> Iterator[Vulnerability | KevEntry]:
        """Every record; withdrawn OSV records come back with ``withdrawn`` set (see
        ``withdrawn_ids``) so the database can drop them."""

    #: ids read as withdrawn during ``records()``
    withdrawn_ids: list[str]
    #: id -> modified (ISO, UTC) of the records the database already holds for this source,
    #: set by the database before ``records()``; a source may skip those unchanged and list
    #: them in ``unchanged_ids`` instead of yielding them
    known: Mapping[str, str] = {}
    unchanged_ids: list[str]


# -------------------------------------------------------------------------------------- OSV

_CVSS_TYPES = ("CVSS_V3", "CVSS_V4", "CVSS_V2")
_RANGE_TYPES = {t.value: t for t in RangeType}


def _events(raw: Any, where: str) -> tuple[Event, ...]:
    if not isinstance(raw, list):
        raise AdvisoryInputError(f"{where}: events: not a list")
    out = []
    for ev in raw:
        if not isinstance(ev, dict) or len(ev) != 1:
            raise AdvisoryInputError(f"{where}: events: each event has exactly one of "
                                     "introduced, fixed, last_affected, limit")
        ((k, v),) = ev.items()
        if k not in ("introduced", "fixed", "last_affected", "limit") or not isinstance(
                v, str) or not v or len(v) > 256:
            raise AdvisoryInputError(f"{where}: events: bad event {k!r}: {v!r}")
        # checked above: construct without validating again (31k records per import)
        ev_values: dict[str, Any] = {"introduced": None, "fixed": None, "last_affected": None,
                                     "limit": None}
        ev_values[k] = v
        out.append(trusted(Event, ev_values))
    return tuple(out)


def osv_record(doc: Any, where: str, source: str) -> Vulnerability | None:
    """One OSV record; ``None`` when it is withdrawn."""
    if not isinstance(doc, dict):
        raise AdvisoryInputError(f"{where}: an OSV record is a JSON object")
    vid = _str(doc.get("id"), where, "id", limit=200)
    if doc.get("withdrawn"):
        return None
    modified = parse_time(doc.get("modified"), where, "modified")
    affected = []
    for i, a in enumerate(doc.get("affected") or []):
        w = f"{where}: affected[{i}]"
        if not isinstance(a, dict):
            raise AdvisoryInputError(f"{w}: not an object")
        pkg = a.get("package") or {}
        eco, name = pkg.get("ecosystem"), pkg.get("name")
        if not isinstance(eco, str) or not isinstance(name, str) or not eco or not name:
            continue  # GIT-only entries name no package: nothing to match on a host
        ranges = []
        for r in a.get("ranges") or []:
            if not isinstance(r, dict):
                raise AdvisoryInputError(f"{w}: ranges: not an object")
            rtype = r.get("type")
            if rtype not in ("ECOSYSTEM", "SEMVER"):
                continue  # GIT ranges name commits, not package versions
            ranges.append(trusted(Range, {"type": _RANGE_TYPES[rtype],
                                          "events": _events(r.get("events"), w)}))
        vers = a.get("versions") or []
        if not isinstance(vers, list) or not all(isinstance(v, str) for v in vers):
            raise AdvisoryInputError(f"{w}: versions: not a list of strings")
        es = a.get("ecosystem_specific") or {}
        urgency = _opt_str(es.get("urgency"), 64) if isinstance(es, dict) else None
        state = TrackerState.RANGES
        if urgency == "unimportant":
            state = TrackerState.UNIMPORTANT
        elif urgency == "end-of-life":
            state = TrackerState.END_OF_LIFE
        affected.append(trusted(Affected, {
            "ecosystem": eco[:100], "package": name[:300], "ranges": tuple(ranges),
            "versions": tuple(vers), "state": state, "reason": None, "urgency": urgency}))
    vectors = tuple(s["score"] for s in doc.get("severity") or []
                    if isinstance(s, dict) and s.get("type") in _CVSS_TYPES
                    and isinstance(s.get("score"), str))
    refs = tuple(trusted(Reference, {"type": str(r.get("type") or "WEB")[:32],
                                     "url": r["url"][:2048]})
                 for r in doc.get("references") or []
                 if isinstance(r, dict) and isinstance(r.get("url"), str))
    dbs = doc.get("database_specific") or {}
    vendor = _opt_str(dbs.get("severity"), 32) if isinstance(dbs, dict) else None
    # every value is checked and typed above: 31k records per import are built without
    # validating them again
    return trusted(Vulnerability, {
        "id": vid, "source": source, "modified": modified,
        "published": parse_time(doc["published"], where, "published")
        if doc.get("published") else None,
        "aliases": tuple(a[:200] for a in doc.get("aliases") or [] if isinstance(a, str)),
        "related": tuple(a[:200] for a in doc.get("related") or [] if isinstance(a, str)),
        "summary": _opt_str(doc.get("summary"), 4096), "details": _opt_str(doc.get("details")),
        "cvss_vectors": tuple(v[:200] for v in vectors), "vendor_severity": vendor,
        "references": refs, "affected": tuple(affected)})


class OsvSource(AdvisorySource):
    kind = SourceKind.OSV

    def default_name(self, path: Path) -> str:
        return "osv:" + path.name.removesuffix(".zip")

    def records(self) -> Iterator[Vulnerability]:
        self.withdrawn_ids = []
        self.unchanged_ids = []
        for raw in iter_files(self.path):
            if raw.name.rsplit("/", 1)[-1].startswith(".") or raw.name.endswith(
                    ("/all.json", "ecosystems.json")):
                continue
            if self.known and self._unchanged(raw):
                continue
            doc = parse_document(raw)
            if isinstance(doc, dict) and "id" not in doc and "affected" not in doc:
                continue  # not a record (a folder's metadata file)
            v = osv_record(doc, raw.where, self.name)
            if v is None:
                self.withdrawn_ids.append(str(doc.get("id")))
                continue
            yield v


    def _unchanged(self, raw: RawFile) -> bool:
        """A record the database holds with the same id and modified date, told from the
        file's top-level keys without parsing it all (a re-import reads 31k records)."""
        if not raw.name.lower().endswith(".json") or b'"withdrawn"' in raw.data:
            return False
        mid, mmod = _TOP_ID.search(raw.data), _TOP_MODIFIED.search(raw.data)
        if mid is None or mmod is None:
            return False
        vid = mid.group(1).decode("utf-8", "replace")
        old = self.known.get(vid)
        if old is None:
            return False
        try:
            mod = parse_time(mmod.group(1).decode("ascii", "replace"), raw.where, "modified")
        except AdvisoryInputError:
            return False
        if mod.astimezone(UTC).isoformat() != old:
            return False
        self.unchanged_ids.append(vid)
        return True


#: the first ``"id"`` / ``"modified"`` of a record: a record is skipped only when both equal
#: the pair the database holds for that id, so a nested key that comes first can only make
#: the record be parsed in full, never skip a changed one
_TOP_ID = re.compile(rb'"id"\s*:\s*"([^"]{1,200})"')
_TOP_MODIFIED = re.compile(rb'"modified"\s*:\s*"([^"]{1,64})"')


# -------------------------------------------------------------------- Debian security tracker

#: codename -> OSV ecosystem (the tracker names releases by codename)
DEBIAN_RELEASES = {
    "jessie": "Debian:8", "stretch": "Debian:9", "buster": "Debian:10",
    "bullseye": "Debian:11", "bookworm": "Debian:12", "trixie": "Debian:13",
    "forky": "Debian:14",
}


def tracker_state(rel: dict[str, Any]) -> tuple[TrackerState, str | None, str | None]:
    """A tracker release entry -> (state, fixed version or None, reason)."""
    status = rel.get("status")
    urgency = rel.get("urgency") if isinstance(rel.get("urgency"), str) else None
    fixed = rel.get("fixed_version") if isinstance(rel.get("fixed_version"), str) else None
    nodsa = rel.get("nodsa") if isinstance(rel.get("nodsa"), str) else None
    nodsa_reason = rel.get("nodsa_reason") if isinstance(rel.get("nodsa_reason"), str) else ""
    if status == "resolved":
        if fixed == "0":
            return TrackerState.NOT_AFFECTED, None, None
        return TrackerState.RANGES, fixed, None
    if urgency and urgency.startswith("unimportant"):
        return TrackerState.UNIMPORTANT, None, "urgency unimportant"
    if urgency == "end-of-life":
        return TrackerState.END_OF_LIFE, None, "end-of-life in this release"
    if nodsa is not None or nodsa_reason:
        if nodsa_reason == "postponed":
            return TrackerState.POSTPONED, None, "postponed: " + (nodsa or "fix in a later update")
        if nodsa_reason == "ignored":
            return TrackerState.IGNORED, None, "ignored: " + (nodsa or "will not be fixed")
        return TrackerState.NO_DSA, None, "no-dsa: " + (nodsa or "minor issue")
    return TrackerState.UNFIXED, None, None


class DebianTrackerSource(AdvisorySource):
    kind = SourceKind.DEBIAN_TRACKER

    def records(self) -> Iterator[Vulnerability]:
        self.withdrawn_ids = []
        files = list(iter_files(self.path, (".json",)))
        if len(files) != 1:
            raise AdvisoryInputError(f"{self.path}: the tracker's JSON is one file; found "
                                     f"{len(files)}")
        raw = files[0]
        doc = parse_document(raw, check_depth=False)
        if not isinstance(doc, dict):
            raise AdvisoryInputError(f"{raw.where}: the tracker's JSON is an object of "
                                     "source packages")
        modified = raw.mtime or datetime.now(UTC)
        by_cve: dict[str, list[Affected]] = {}
        descr: dict[str, str] = {}
        for pkg, cves in doc.items():
            if not isinstance(cves, dict):
                raise AdvisoryInputError(f"{raw.where}: {pkg}: not an object of CVEs")
            for cve, entry in cves.items():
                if not isinstance(entry, dict) or not isinstance(entry.get("releases"), dict):
                    raise AdvisoryInputError(f"{raw.where}: {pkg}: {cve}: no releases object")
                if isinstance(entry.get("description"), str):
                    descr.setdefault(cve, entry["description"][:4096])
                for codename, rel in entry["releases"].items():
                    eco = DEBIAN_RELEASES.get(codename)
                    if eco is None or not isinstance(rel, dict):
                        continue  # sid and unknown codenames: no host release maps to them
                    state, fixed, reason = tracker_state(rel)
                    ranges: tuple[Range, ...] = ()
                    if state is TrackerState.RANGES:
                        if fixed is None:
                            raise AdvisoryInputError(f"{raw.where}: {pkg}: {cve}: {codename}: "
                                                     "resolved without a fixed_version")
                        try:
                            versions.parse_dpkg(fixed)
                        except versions.VersionError as e:
                            raise AdvisoryInputError(
                                f"{raw.where}: {pkg}: {cve}: {codename}: {e}") from e
                        ranges = (Range(type=RangeType.ECOSYSTEM, events=(
                            Event(introduced="0"), Event(fixed=fixed))),)
                    elif state not in (TrackerState.NOT_AFFECTED,):
                        ranges = (Range(type=RangeType.ECOSYSTEM, events=(
                            Event(introduced="0"),)),)
                    by_cve.setdefault(cve, []).append(Affected(
                        ecosystem=eco, package=pkg, ranges=ranges, state=state, reason=reason,
                        urgency=rel.get("urgency") if isinstance(rel.get("urgency"), str)
                        else None))
        for cve in sorted(by_cve):
            yield Vulnerability(id=cve, source=self.name, modified=modified,
                                summary=descr.get(cve), affected=tuple(by_cve[cve]),
                                references=(Reference(
                                    type="ADVISORY",
                                    url=f"https://security-tracker.debian.org/tracker/{cve}"),))


# ------------------------------------------------------------------------------ Amazon ALAS

#: ALAS-2024-1, ALAS2-..., ALAS2023-..., and the extras' ALAS2GRAPHICSMAGICK1.3-2023-001,
#: ALAS2NITRO-ENCLAVES-2021-001, ALAS2HTTPD_MODULES-2023-001, ALAS2023LIVEPATCH-2023-015
_ALAS_ID = re.compile(r"^ALAS(2023|2022|2)?(?:[A-Z][A-Za-z0-9._-]*?)?-\d{4}-\d+$")


def alas_ecosystem(advisory_id: str) -> str | None:
    m = _ALAS_ID.match(advisory_id)
    if not m:
        return None
    return "Amazon Linux:" + (m.group(1) or "1")


class AlasSource(AdvisorySource):
    kind = SourceKind.ALAS

    def records(self) -> Iterator[Vulnerability]:
        self.withdrawn_ids = []
        for raw in iter_files(self.path, (".json",)):
            doc = parse_document(raw)
            if not isinstance(doc, dict):
                raise AdvisoryInputError(f"{raw.where}: an advisory is a JSON object")
            aid = _str(doc.get("ID"), raw.where, "ID", limit=100)
            eco = alas_ecosystem(aid)
            if eco is None:
                raise AdvisoryInputError(f"{raw.where}: ID {aid!r} is not an ALAS id "
                                         "(ALAS-, ALAS2-, ALAS2022-, ALAS2023-YYYY-N)")
            issued = (doc.get("Issued") or {}).get("Date")
            updated = (doc.get("Updated") or {}).get("Date") or issued
            modified = parse_time(updated, raw.where, "Updated.Date")
            refs = (doc.get("References") or {}).get("Reference") or []
            if isinstance(refs, dict):
                refs = [refs]
            cves = tuple(sorted({r["ID"] for r in refs if isinstance(r, dict)
                                 and isinstance(r.get("ID"), str)
                                 and r["ID"].startswith("CVE-")}))
            coll = (doc.get("Pkglist") or {}).get("Collection") or {}
            pkgs = coll.get("Package") or [] if isinstance(coll, dict) else []
            if isinstance(pkgs, dict):
                pkgs = [pkgs]
            fixed: dict[str, str] = {}
            for p in pkgs:
                if not isinstance(p, dict):
                    continue
                name = _str(p.get("Name"), raw.where, "Pkglist.Package.Name", limit=300)
                ver = _str(p.get("Version"), raw.where, "Pkglist.Package.Version", limit=200)
                rel = _str(p.get("Release"), raw.where, "Pkglist.Package.Release", limit=200)
                epoch = p.get("Epoch") or "0"
                evr = f"{epoch}:{ver}-{rel}"
                if name not in fixed or versions.compare_rpm(evr, fixed[name]) > 0:
                    fixed[name] = evr
            affected = tuple(
                Affected(ecosystem=eco, package=n, ranges=(Range(
                    type=RangeType.ECOSYSTEM,
                    events=(Event(introduced="0"), Event(fixed=v))),))
                for n, v in sorted(fixed.items()))
            yield Vulnerability(
                id=aid, source=self.name, modified=modified,
                published=parse_time(issued, raw.where, "Issued.Date") if issued else None,
                aliases=cves, summary=_opt_str(doc.get("Title"), 4096),
                details=_opt_str(doc.get("Description")),
                vendor_severity=_opt_str(doc.get("Severity"), 32),
                references=tuple(Reference(type="ADVISORY", url=r["Href"][:2048])
                                 for r in refs if isinstance(r, dict)
                                 and isinstance(r.get("Href"), str)),
                affected=affected)


# ----------------------------------------------------------------------------- Alpine secdb


class AlpineSecdbSource(AdvisorySource):
    kind = SourceKind.ALPINE_SECDB

    def records(self) -> Iterator[Vulnerability]:
        self.withdrawn_ids = []
        by_cve: dict[str, list[Affected]] = {}
        newest: datetime | None = None
        for raw in iter_files(self.path, (".json",)):
            doc = parse_document(raw)
            if not isinstance(doc, dict) or not isinstance(doc.get("packages"), list):
                raise AdvisoryInputError(f"{raw.where}: a secdb file has a packages list")
            dv = _str(doc.get("distroversion"), raw.where, "distroversion", limit=20)
            eco = "Alpine:" + (dv if dv.startswith("v") or dv == "edge" else "v" + dv)
            if raw.mtime and (newest is None or raw.mtime > newest):
                newest = raw.mtime
            for i, entry in enumerate(doc["packages"]):
                pkg = entry.get("pkg") if isinstance(entry, dict) else None
                if not isinstance(pkg, dict):
                    raise AdvisoryInputError(f"{raw.where}: packages[{i}]: no pkg object")
                name = _str(pkg.get("name"), raw.where, f"packages[{i}].pkg.name", limit=300)
                secfixes = pkg.get("secfixes") or {}
                if not isinstance(secfixes, dict):
                    raise AdvisoryInputError(f"{raw.where}: {name}: secfixes is not an object")
                for fixed, ids in secfixes.items():
                    for ident in ids or []:
                        if not isinstance(ident, str):
                            continue
                        # entries read "CVE-2021-1234" or "CVE-2021-1234 GHSA-..."
                        cve = ident.split()[0] if ident.split() else ""
                        if not cve.startswith(("CVE-", "GHSA-", "XSA-", "ALPINE-")):
                            continue
                        if str(fixed) == "0":
                            aff = Affected(ecosystem=eco, package=name,
                                           state=TrackerState.NOT_AFFECTED)
                        else:
                            aff = Affected(ecosystem=eco, package=name, ranges=(Range(
                                type=RangeType.ECOSYSTEM,
                                events=(Event(introduced="0"), Event(fixed=str(fixed)))),))
                        by_cve.setdefault(cve, []).append(aff)
        modified = newest or datetime.now(UTC)
        for cve in sorted(by_cve):
            yield Vulnerability(id=cve, source=self.name, modified=modified,
                                affected=tuple(by_cve[cve]))


# ------------------------------------------------------------------------------------ KEV


class KevSource(AdvisorySource):
    kind = SourceKind.KEV

    def default_name(self, path: Path) -> str:
        return "cisa-kev"

    def records(self) -> Iterator[KevEntry]:
        self.withdrawn_ids = []
        files = list(iter_files(self.path, (".json",)))
        for raw in files:
            doc = parse_document(raw)
            if not isinstance(doc, dict) or not isinstance(doc.get("vulnerabilities"), list):
                raise AdvisoryInputError(f"{raw.where}: the KEV catalog has a "
                                         "vulnerabilities list")
            for i, v in enumerate(doc["vulnerabilities"]):
                if not isinstance(v, dict):
                    raise AdvisoryInputError(f"{raw.where}: vulnerabilities[{i}]: not an object")
                yield KevEntry(
                    cve=_str(v.get("cveID"), raw.where, f"vulnerabilities[{i}].cveID", limit=40),
                    date_added=_str(v.get("dateAdded"), raw.where,
                                    f"vulnerabilities[{i}].dateAdded", limit=40),
                    name=_opt_str(v.get("vulnerabilityName"), 512),
                    ransomware=_opt_str(v.get("knownRansomwareCampaignUse"), 32),
                    due_date=_opt_str(v.get("dueDate"), 40))


# ------------------------------------------------------------------------------- registry

SOURCES: dict[SourceKind, type[AdvisorySource]] = {
    SourceKind.OSV: OsvSource,
    SourceKind.DEBIAN_TRACKER: DebianTrackerSource,
    SourceKind.ALAS: AlasSource,
    SourceKind.ALPINE_SECDB: AlpineSecdbSource,
    SourceKind.KEV: KevSource,
}


def source_kind(name: str) -> SourceKind:
    try:
        return SourceKind(name)
    except ValueError as e:
        raise AdvisoryInputError(f"unknown advisory format {name!r}; valid: "
                                 f"{', '.join(k.value for k in SourceKind)}") from e


def detect(path: Path) -> SourceKind:
    """Which format ``path`` holds, from its first record file."""
    first = next(iter(iter_files(path)), None)
    if first is None:
        raise AdvisoryInputError(f"{path}: no advisory files (*.json, *.yaml) in it")
    doc = parse_document(first, check_depth=False)
    if isinstance(doc, dict):
        if "vulnerabilities" in doc and "catalogVersion" in doc:
            return SourceKind.KEV
        if "distroversion" in doc and "packages" in doc:
            return SourceKind.ALPINE_SECDB
        if "Pkglist" in doc and "ID" in doc:
            return SourceKind.ALAS
        if "id" in doc and ("affected" in doc or "modified" in doc):
            return SourceKind.OSV
        sample = next(iter(doc.values()), None)
        if isinstance(sample, dict) and any(
                isinstance(e, dict) and "releases" in e for e in sample.values()):
            return SourceKind.DEBIAN_TRACKER
    raise AdvisoryInputError(
        f"{first.where}: cannot tell the advisory format; name it with --format "
        f"({', '.join(k.value for k in SourceKind)})")


def open_source(path: Path, kind: SourceKind | None = None,
                name: str | None = None) -> AdvisorySource:
    return SOURCES[kind or detect(path)](path, name)
