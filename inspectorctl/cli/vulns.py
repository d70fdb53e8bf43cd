"""``vulns update|status|show|assess`` and ``sbom``."""

from __future__ import annotations

import json
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from inspectorctl import vuln_assess as va
from inspectorctl.cli._common import console, err_console, guarded, info
from inspectorctl.cli._ssm import (
    EndpointOpt,
    InstanceIdsOpt,
    MaxConcurrencyOpt,
    MaxErrorsOpt,
    OutputS3Opt,
    ProfileOpt,
    RegionOpt,
    S3EndpointOpt,
    TagTargetsOpt,
    ssm_targets,
)
from inspectorctl.collect.interface import Targets
from inspectorctl.errors import InputError
from inspectorctl.models.common import Severity, Status
from inspectorctl.models.rule import FRAMEWORKS
from inspectorctl.paths import default_db_path
from inspectorctl.report.formats import ASSESS, Report
from inspectorctl.store.db import Store
from inspectorctl.vulns.db import AdvisoryDB
from inspectorctl.vulns.match import VulnState
from inspectorctl.vulns.sources import open_source, source_kind

app = typer.Typer(help="Known vulnerabilities: advisory data, matching, findings.",
                  no_args_is_help=True)


class VulnFormat(StrEnum):
    table = "table"
    json = "json"
    junit = "junit"
    sarif = "sarif"


DbOpt = Annotated[Path | None, typer.Option(
    "--db", help="Findings database [default: $INSPECTORCTL_DB or "
    "$XDG_DATA_HOME/inspectorctl/findings.db]", show_default=False)]
VulnDbOpt = Annotated[Path | None, typer.Option(
    "--vuln-db", help="Advisory database [default: vulns.db beside the findings database].",
    show_default=False)]
MaxAgeOpt = Annotated[float, typer.Option(
    "--max-db-age", min=0, help="Days after which the advisory data counts as stale.")]

def _vuln_db_path(vuln_db: Path | None, db: Path | None) -> Path:
    return vuln_db or va.default_vuln_db(db or default_db_path())


def register(root: typer.Typer) -> None:
    app.command("update")(update)
    app.command("status")(status)
    app.command("show")(show)
    app.command("assess")(assess)
    root.add_typer(app, name="vulns")
    root.command("sbom")(sbom)


@guarded
def update(
    sources: Annotated[list[str], typer.Option(
        "--from", metavar="PATH", help="Advisory file, folder or zip archive (repeatable).")],
    fmt: Annotated[str | None, typer.Option(
        "--format", help="osv, debian-tracker, alas, alpine-secdb or kev [default: detected]"
    )] = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="Source name to keep the records under [default: from the format/"
        "file]; only with one --from.")] = None,
    vuln_db: VulnDbOpt = None,
    db: DbOpt = None,
) -> None:
    """Import advisory data (idempotent: records whose id and modified date are known are
    left alone; withdrawn records are dropped)."""
    if name is not None and len(sources) != 1:
        raise InputError("--name names one source: give exactly one --from with it")
    kind = source_kind(fmt) if fmt else None
    paths = []
    for s in sources:
        if s.startswith("file://"):
            paths.append(Path(s.removeprefix("file://")))
        elif "://" in s:
            raise InputError(f"{s}: downloading is not supported; fetch the file (osv.dev "
                             "publishes per-ecosystem zips) and pass its path")
        else:
            paths.append(Path(s))
    opened = [open_source(p, kind, name) for p in paths]  # every input is checked first
    with AdvisoryDB(_vuln_db_path(vuln_db, db)) as adb:
        for src in opened:
            st = adb.import_source(src)
            console.print(
                f"{st.source} ({st.kind.value}) from {st.origin}: {st.read} read, {st.added} "
                f"added, {st.updated} updated, {st.unchanged} unchanged, {st.withdrawn} "
                f"withdrawn, in {st.seconds:.1f} s", highlight=False, markup=False)


@guarded
def status(
    max_db_age: MaxAgeOpt = va.DEFAULT_MAX_AGE_DAYS,
    fmt: Annotated[VulnFormat, typer.Option("--format", "-f", help="table or json")
                   ] = VulnFormat.table,
    vuln_db: VulnDbOpt = None,
    db: DbOpt = None,
) -> None:
    """Advisory sources, how many records each holds, and how old their data is."""
    path = _vuln_db_path(vuln_db, db)
    with AdvisoryDB(path) as adb:
        srcs = adb.sources()
    st = va.staleness(srcs, max_db_age)
    if fmt is VulnFormat.json:
        typer.echo(json.dumps({"database": str(path),
                               "sources": [s.model_dump(mode="json") for s in srcs],
                               "advisory_data": st.model_dump(mode="json")}, indent=2))
        return
    if fmt is not VulnFormat.table:
        raise InputError("vulns status: --format table or json")
    console.print(f"Advisory database {path}", highlight=False, markup=False)
    if srcs:
        t = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
        for col in ("Source", "Kind", "Records", "Newest record", "Age (days)", "Imported",
                    "Origin"):
            t.add_column(col, no_wrap=True)
        ages = {a.name: a for a in st.sources}
        for s in srcs:
            a = ages[s.name]
            t.add_row(s.name, s.kind.value, str(s.records),
                      s.newest_record.strftime("%Y-%m-%d") if s.newest_record else "-",
                      "-" if a.age_days is None else f"{a.age_days:.0f}"
                      + (" STALE" if a.stale else ""),
                      s.imported_at.strftime("%Y-%m-%d %H:%M"), s.origin)
        console.print(t)
    console.print(st.message, highlight=False, markup=False)


@guarded
def show(
    ident: Annotated[str, typer.Argument(metavar="ID", help="CVE-..., DSA-..., ALAS-...")],
    fmt: Annotated[VulnFormat, typer.Option("--format", "-f", help="table or json")
                   ] = VulnFormat.table,
    vuln_db: VulnDbOpt = None,
    db: DbOpt = None,
) -> None:
    """One vulnerability as every imported source describes it."""
    from inspectorctl.vulns.score import score

    with AdvisoryDB(_vuln_db_path(vuln_db, db)) as adb:
        recs = adb.lookup(ident)
        kev = adb.kev([ident.upper()])
        nvd = adb.cvss_for([ident.upper()])
    if not recs and not kev:
        raise InputError(f"{ident}: not in the advisory database; see `inspectorctl vulns "
                         "status`")
    if fmt is VulnFormat.json:
        typer.echo(json.dumps({"records": [r.model_dump(mode="json") for r in recs],
                               "kev": {k: v.model_dump(mode="json") for k, v in kev.items()}},
                              indent=2))
        return
    for r in recs:
        s = score(r.cvss_vectors, r.source, nvd.get(ident.upper(), []), r.vendor_severity,
                  kev=bool(kev), sockets=None)
        lines = [f"{r.id}  ({r.source}, modified {r.modified:%Y-%m-%d})"]
        if r.aliases:
            lines.append(f"  aliases   {', '.join(r.aliases)}")
        if r.summary or r.details:
            lines.append(f"  summary   {(r.summary or r.details or '').strip().splitlines()[0]}")
        lines.append(f"  score     {s.base:g} {s.severity.value} ({s.base_source}"
                     + (f", {s.base_vector}" if s.base_vector else "") + ")")
        for a in r.affected:
            ev = "; ".join(", ".join(f"{k} {v}" for k, v in e.model_dump(
                exclude_none=True).items()) for rg in a.ranges for e in rg.events)
            extra = f" [{a.state.value}{': ' + a.reason if a.reason else ''}]" if (
                a.state.value != "ranges") else ""
            lines.append(f"  {a.ecosystem:<16} {a.package:<24} {ev}{extra}")
        console.print("\n".join(lines), highlight=False, markup=False)
    for k, v in kev.items():
        console.print(f"{k} is in CISA KEV since {v.date_added}: {v.name or ''} (known "
                      f"ransomware use: {v.ransomware or 'unknown'})", highlight=False,
                      markup=False)


@guarded
def assess(
    inventory: Annotated[Path | None, typer.Option(
        "--inventory", "-i", help="Ansible inventory [default: this machine].")] = None,
    limit: Annotated[str | None, typer.Option("--limit", "-l", help="Ansible host pattern.")
                     ] = None,
    become: Annotated[bool, typer.Option("--become/--no-become",
                                         help="Run the probe with privilege escalation.")
                      ] = False,
    transport: Annotated[str, typer.Option(
        "--via", "--transport",
        help="ansible (default), ssm (AWS Systems Manager) or local (this machine).")
    ] = "ansible",
    instance_ids: InstanceIdsOpt = None,
    tag_targets: TagTargetsOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    endpoint_url: EndpointOpt = None,
    s3_endpoint_url: S3EndpointOpt = None,
    output_s3: OutputS3Opt = None,
    max_concurrency: MaxConcurrencyOpt = None,
    max_errors: MaxErrorsOpt = None,
    from_snapshots: Annotated[Path | None, typer.Option(
        "--from-snapshots", help="Match saved snapshots (from `collect --out`).")] = None,
    fmt: Annotated[VulnFormat, typer.Option("--format", "-f", help="Output format.")
                   ] = VulnFormat.table,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the json/junit/sarif report to this file.")] = None,
    fail_on: Annotated[Severity | None, typer.Option(
        "--fail-on", help="Exit 1 when any vulnerability is at or above this severity.")
    ] = None,
    framework: Annotated[str | None, typer.Option(
        "--framework", help=f"Show the requirements vulnerabilities bear on: "
        f"{', '.join(FRAMEWORKS)}.")] = None,
    max_db_age: MaxAgeOpt = va.DEFAULT_MAX_AGE_DAYS,
    require_fresh: Annotated[bool, typer.Option(
        "--require-fresh", help="Refuse (exit 2) when the advisory data is stale.")] = False,
    include_unimportant: Annotated[bool, typer.Option(
        "--include-unimportant", help="Report 'unimportant' vulnerabilities too.")] = False,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not record the run.")
                        ] = False,
    vuln_db: VulnDbOpt = None,
    db: DbOpt = None,
) -> None:
    """Match hosts' installed packages against the advisory data and record one finding
    per (host, package, vulnerability)."""
    if output is not None and fmt is VulnFormat.table:
        raise InputError("--output needs --format json, junit or sarif")
    if framework is not None and framework not in FRAMEWORKS:
        raise InputError(f"unknown framework {framework!r}; valid: {', '.join(FRAMEWORKS)}")
    if inventory is not None and not inventory.is_file():
        raise InputError(f"{inventory}: no such inventory file")
    ssm = ssm_targets(transport, instance_ids, tag_targets, profile, region, endpoint_url,
                      s3_endpoint_url, output_s3, max_concurrency, max_errors)
    if ssm is not None and (inventory is not None or limit is not None):
        raise InputError("--via ssm reaches managed instances: drop --inventory/--limit")
    if ssm is not None and ssm.output_s3 is None:
        raise InputError(va.SSM_NEEDS_S3)
    opts = va.VulnOptions(targets=Targets(inventory=inventory, limit=limit, become=become,
                                          ssm=ssm),
                          transport=transport, from_snapshots=from_snapshots,
                          max_age_days=max_db_age, require_fresh=require_fresh,
                          include_unimportant=include_unimportant)
    vpath = _vuln_db_path(vuln_db, db)
    if not vpath.exists():
        raise InputError(f"no advisory database at {vpath}: import data first with "
                         "`inspectorctl vulns update --from PATH`")
    with AdvisoryDB(vpath) as adb:
        store = None if no_store else Store(db or default_db_path())
        try:
            result = va.run_vuln_assessment(opts, adb, store)
        finally:
            if store is not None:
                store.close()
    if fmt is VulnFormat.table:
        _render(result, include_unimportant, framework)
    else:
        text = _machine(result, fmt, framework)
        if output is not None:
            tmp = output.with_name(output.name + ".tmp")
            try:
                tmp.write_text(text + "\n", encoding="utf-8")
                tmp.replace(output)
            except OSError as e:
                raise InputError(f"{output}: cannot write the report: {e}") from e
            info(f"wrote {output}")
        else:
            typer.echo(text)
    if result.staleness.stale:
        err_console.print(f"warning: {result.staleness.message}", highlight=False,
                          markup=False)
    if fail_on is not None and result.fails_at(fail_on):
        raise typer.Exit(1)


def _framework_rows(result: va.VulnAssessment, framework: str) -> list[dict[str, object]]:
    failing = [r for r in result.results if r.status is Status.FAIL]
    return [{"framework": framework, "requirement": req,
             "status": "FAIL" if failing else "PASS", "failed": len(failing),
             "hosts": len({r.host for r in failing})}
            for req in va.FRAMEWORK_REQUIREMENTS[framework]]


def _render(result: va.VulnAssessment, include_unimportant: bool,
            framework: str | None) -> None:
    st = result.staleness
    console.print(("STALE DATA: " if st.stale else "") + st.message, highlight=False,
                  markup=False)
    shown = [f for f in result.findings
             if f.state is not VulnState.PROBABLY_FIXED
             and (include_unimportant or f.state is not VulnState.UNIMPORTANT)]
    shown.sort(key=lambda f: (f.host, -f.score.adjusted, f.package, f.vuln_id))
    if shown:
        t = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
        for col in ("Host", "Vulnerability", "Package", "Installed", "Fixed in", "State",
                    "Fix", "Score", "Severity", "KEV"):
            t.add_column(col, no_wrap=True)
        for f in shown:
            t.add_row(f.host, f.vuln_id, f.package, f.installed_version,
                      f.fixed_version or "-", f.state.value, f.fix_available.value,
                      f"{f.score.adjusted:g}" + (f" ({f.score.base:g})"
                                                 if f.score.adjusted != f.score.base else ""),
                      f.score.severity.value, "yes" if f.score.kev else "")
        console.print(t)
    by_state = Counter(f.state.value for f in result.findings)
    by_sev = Counter(f.score.severity.value for f in shown)
    probably = by_state.get(VulnState.PROBABLY_FIXED.value, 0)
    console.print(
        f"Run {result.run.id}: {result.run.counts.hosts} host(s), {len(shown)} "
        f"vulnerabilit{'y' if len(shown) == 1 else 'ies'} shown ("
        + ", ".join(f"{by_sev[s.value]} {s.value}" for s in Severity if by_sev[s.value])
        + f"); {probably} probably fixed since the data was built; "
        f"{by_state.get(VulnState.UNIMPORTANT.value, 0)} unimportant"
        + ("" if include_unimportant else " (hidden)")
        + f"; new {result.run.counts.new}, closed {result.run.counts.closed}",
        highlight=False, markup=False)
    for r in result.results:
        if r.status is Status.ERROR:
            console.print(f"error: {r.host}: {r.reason}", highlight=False, markup=False)
    if framework:
        for row in _framework_rows(result, framework):
            console.print(f"{row['framework']} {row['requirement']}: {row['status']} "
                          f"({row['failed']} vulnerabilities on {row['hosts']} host(s))",
                          highlight=False, markup=False)


def _machine(result: va.VulnAssessment, fmt: VulnFormat, framework: str | None) -> str:
    if fmt is VulnFormat.json:
        doc = json.loads(va.report_json(result))
        if framework:
            doc["compliance"] = _framework_rows(result, framework)
        return json.dumps(doc, indent=2)
    report = Report(result.run, result.results, [], None, result.timings,
                    advisory_data=result.staleness, vulns=result.findings)
    return ASSESS.render(fmt.value, report)


@guarded
def sbom(
    host: Annotated[str | None, typer.Argument(help="Host (its newest vulnerability run).")
                    ] = None,
    run: Annotated[str | None, typer.Option("--run", help="A vulnerability run's id.")] = None,
    vex: Annotated[bool, typer.Option("--vex", help="Include the vulnerabilities found, with "
                                      "their states (VEX).")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")
                      ] = None,
    db: DbOpt = None,
) -> None:
    """CycloneDX 1.6 JSON SBOM of a host's packages, as the vulnerability run recorded them."""
    from inspectorctl.vulns.sbom import build

    if host is None and run is None:
        raise InputError("give a HOST or --run ID")
    with Store(db or default_db_path()) as store:
        if host is None:
            assert run is not None
            hosts = va.run_hosts(store, run)
            if len(hosts) != 1:
                raise InputError(f"run {run} covers {len(hosts)} host(s) "
                                 f"({', '.join(hosts) or 'none with packages'}); name one: "
                                 "`inspectorctl sbom HOST --run ID`")
            host = hosts[0]
        rid, inv, findings = va.stored_inventory(store, run, host)
    text = build(inv, findings, vex=vex, run_id=rid)
    if output is None:
        typer.echo(text)
        return
    tmp = output.with_name(output.name + ".tmp")
    try:
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(output)
    except OSError as e:
        raise InputError(f"{output}: cannot write the SBOM: {e}") from e
    info(f"wrote {output}")
