"""``assess``, ``collect``, ``findings``, ``runs`` and ``rulepacks`` commands."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from inspectorctl import ignorefile
from inspectorctl import vuln_assess as va
from inspectorctl.assess import (
    AssessOptions,
    ResultsKept,
    options_from_template,
    run_assessment,
    save_snapshots,
    select,
)
from inspectorctl.aws.targets import SsmTargets
from inspectorctl.cli._common import (
    Verbosity,
    abort,
    console,
    err_console,
    guarded,
    info,
    quiet,
    verbose,
)
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
from inspectorctl.collect.interface import CollectionFailure, ProgressCallback, Targets
from inspectorctl.errors import InputError
from inspectorctl.models.common import Severity, Status
from inspectorctl.models.finding import FindingState, RuleResult
from inspectorctl.models.rule import FRAMEWORKS, Rule
from inspectorctl.paths import default_db_path
from inspectorctl.report.formats import ASSESS, FINDINGS, FindingsView, Report
from inspectorctl.report.listings import RUNS, Listing
from inspectorctl.report.summary import (
    add_fitting_columns,
    cell,
    framework_compliance,
    render_assessment,
    render_finding,
    render_findings,
)
from inspectorctl.rules.loader import (
    DEFAULT_PACKS,
    load_pack,
    load_packs,
    resolve_pack,
    shipped_pack_ids,
    validate_pack,
)
from inspectorctl.store.db import Store, now
from inspectorctl.textsafe import check_reason, normalise_identity
from inspectorctl.vulns.db import AdvisoryDB

DbOpt = Annotated[
    Path | None,
    typer.Option("--db", help="SQLite database [default: $INSPECTORCTL_DB or "
                 "$XDG_DATA_HOME/inspectorctl/findings.db]", show_default=False),
]


def format_option(names: Sequence[str]) -> Any:
    """``--format/-f`` taking one of ``names``; anything else is refused by the command
    (``require_format`` or its registry's ``check``) naming the formats it writes."""
    return typer.Option("--format", "-f", metavar="[" + "|".join(names) + "]",
                        help=f"Output format: {', '.join(names)}.", show_default=True)


#: the formats of the commands that show one object (a finding, a plan, a rulepack)
TABLE_JSON = ("table", "json")
FormatOpt = Annotated[str, format_option(TABLE_JSON)]
AssessFormatOpt = Annotated[str, format_option(ASSESS.names)]
FindingsFormatOpt = Annotated[str, format_option(FINDINGS.names)]
RunsFormatOpt = Annotated[str, format_option(RUNS.names)]


def require_format(fmt: str, command: str, *supported: str) -> None:
    """An output format this command cannot write is bad input (exit 2), never ignored."""
    if fmt not in supported:
        raise InputError(f"{command} does not write --format {fmt}; it supports: "
                         f"{', '.join(supported)}")


def with_newline(text: str) -> str:
    """A rendering ending in exactly its own line end (CSV's ``\\r\\n``, else ``\\n``)."""
    return text if text.endswith("\n") else text + "\n"


def emit(text: str) -> None:
    """Print a machine-readable rendering on stdout as it is."""
    typer.echo(with_newline(text), nl=False)


def open_store(db: Path | None) -> Store:
    return Store(db or default_db_path())


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(with_newline(text), encoding="utf-8", newline="")
        tmp.replace(path)
    except OSError as e:
        raise InputError(f"{path}: cannot write the report: {e}") from e


def _parse_tailoring(values: list[str]) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, val = v.partition("=")
        if not sep or not key:
            raise InputError(f"--set {v!r}: expected NAME=VALUE (e.g. --set pass_max_days=90)")
        out[key.strip()] = val.strip()
    return out


#: where ASFF findings say they are from when no --account-id or region is given
PLACEHOLDER_ACCOUNT = "000000000000"
PLACEHOLDER_REGION = "us-east-1"
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")

AccountIdOpt = Annotated[str | None, typer.Option(
    "--account-id", metavar="ACCOUNT",
    help="--format asff: the AWS account the findings belong to [default: 000000000000, "
    "with a note].", show_default=False)]


def asff_target(account_id: str | None, region: str | None) -> Any:
    """The account and region ASFF findings name (``--account-id``, ``--region``, else
    ``$AWS_REGION``/``$AWS_DEFAULT_REGION``); a placeholder is said on stderr."""
    from inspectorctl.report import asff

    if account_id is None:
        account_id = PLACEHOLDER_ACCOUNT
        err_console.print(f"note: --format asff: no --account-id, the findings name account "
                          f"{PLACEHOLDER_ACCOUNT} (Security Hub imports only the calling "
                          "account's; give --account-id to send them)", highlight=False)
    try:
        asff.check_account_id(account_id)
    except ValueError as e:
        raise InputError(f"--account-id: {e}") from e
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        region = PLACEHOLDER_REGION
        err_console.print(f"note: --format asff: no --region (nor $AWS_REGION), the findings "
                          f"name region {PLACEHOLDER_REGION}", highlight=False)
    if not _REGION.match(region):
        raise InputError(f"--region {region!r} is not an AWS region name (e.g. eu-west-1)")
    return asff.AsffTarget(account_id=account_id, region=region,
                           partition=asff.partition_of(region))


def asff_findings(store: Store, findings: Sequence[Any], run: Any, target: Any
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """The ASFF findings of ``findings`` as ``export securityhub`` would send them, and an
    error line for each it would not (it does not conform to Security Hub's model)."""
    from inspectorctl.report import asff
    from inspectorctl.report.exportable import items_of

    ready, refused = asff.prepare(items_of(store, findings, run), target)
    return ready, [f"error: {asff.finding_asff_id(i.finding.id)} ({i.finding.rule_id} on "
                   f"{i.finding.host}) left out of the ASFF output: {why}"
                   for i, why in refused]


@contextlib.contextmanager
def progress_bar(enabled: bool) -> Iterator[ProgressCallback | None]:
    """A progress bar of the collection on a terminal (not with ``-q``); with ``-v`` a line
    per host event instead (on any stderr), with the time since the command started."""
    if Verbosity.level >= 1:
        def say(host: str, event: str) -> None:
            verbose(f"collect: {host}: {event}")

        yield say
        return
    if not enabled or quiet() or not err_console.is_terminal:
        yield None
        return
    counts = {"ok": 0, "failed": 0, "unreachable": 0, "started": 0}
    # host names come from the inventory: text, never markup
    with Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False),
                  TimeElapsedColumn(), console=err_console, transient=True) as progress:
        task = progress.add_task("Collecting", total=None)

        def on_event(host: str, event: str) -> None:
            counts[event] = counts.get(event, 0) + 1
            done = counts["ok"] + counts["failed"] + counts["unreachable"]
            progress.update(task, description=(
                f"Collecting: {done}/{max(counts['started'], done)} host(s), "
                f"{counts['failed'] + counts['unreachable']} failed (last: {host} {event})"))

        yield on_event


def register(app: typer.Typer) -> typer.Typer:
    """Add these commands to ``app``; returns the ``findings`` group (others add to it)."""
    app.command()(assess)
    app.command()(collect)
    findings = typer.Typer(help="Stored findings.", no_args_is_help=True)
    findings.command("list")(findings_list)
    findings.command("show")(findings_show)
    findings.command("suppress")(findings_suppress)
    findings.command("unsuppress")(findings_unsuppress)
    findings.command("ignore")(findings_ignore)
    app.add_typer(findings, name="findings")
    runs = typer.Typer(help="Recorded runs.", no_args_is_help=True)
    runs.command("list")(runs_list)
    runs.command("prune")(runs_prune)
    app.add_typer(runs, name="runs")
    packs = typer.Typer(help="Rulepacks.", no_args_is_help=True)
    packs.command("list")(rulepacks_list)
    packs.command("show")(rulepacks_show)
    packs.command("validate")(rulepacks_validate)
    app.add_typer(packs, name="rulepacks")
    return findings


def _options(
    template: Path | None,
    packs: list[str] | None,
    rules: list[str] | None,
    exclude: list[str] | None,
    framework: str | None,
    tailoring: list[str] | None,
    inventory: Path | None,
    limit: str | None,
    become: bool | None,
    forks: int | None,
    transport: str | None,
    ssm: SsmTargets | None = None,
) -> AssessOptions:
    """The assessment's options: the command line over a template over the configuration
    (whose packs, inventory, become and forks apply only without a template)."""
    from inspectorctl.cli import config

    chosen = config.unless_template(template, pack=packs, inventory=inventory, become=become,
                                    forks=forks)
    packs, inventory, become, forks = (chosen["pack"], chosen["inventory"], chosen["become"],
                                       chosen["forks"])
    if framework is not None and framework not in FRAMEWORKS:
        raise InputError(f"unknown framework {framework!r}; valid: {', '.join(FRAMEWORKS)}")
    if inventory is not None and not inventory.is_file():
        raise InputError(f"{inventory}: no such inventory file")
    base = options_from_template(template) if template else AssessOptions()
    t = base.targets
    targets = Targets(
        inventory=inventory if inventory is not None else t.inventory,
        limit=limit if limit is not None else t.limit,
        become=become if become is not None else t.become,
        forks=forks if forks is not None else t.forks,
        ssm=ssm if ssm is not None else t.ssm,
    )
    if ssm is not None:
        if inventory is not None or limit is not None:
            raise InputError("--via ssm reaches managed instances: drop --inventory/--limit")
        transport = "ssm"
        targets = targets.model_copy(update={"inventory": None, "limit": None})
    return base.model_copy(update={
        "packs": tuple(packs) if packs else base.packs,
        "include": tuple(rules) if rules else base.include,
        "exclude": tuple(exclude) if exclude else base.exclude,
        "framework": framework or base.framework,
        "tailoring": {**(config.config_tailoring() if tailoring is not None else {}),
                      **base.tailoring, **_parse_tailoring(tailoring or [])},
        "targets": targets,
        "transport": transport or base.transport,
    })


PackOpt = Annotated[list[str] | None, typer.Option(
    "--pack", "-p", metavar="PACK",
    help=f"Rulepack id or file (repeatable) [default: {', '.join(DEFAULT_PACKS)}]")]
RuleOpt = Annotated[list[str] | None, typer.Option(
    "--rule", "-r", metavar="GLOB", help="Only rules whose id matches this glob (repeatable).")]
ExcludeOpt = Annotated[list[str] | None, typer.Option(
    "--exclude", metavar="GLOB", help="Skip rules whose id matches this glob (repeatable).")]
FrameworkOpt = Annotated[str | None, typer.Option(
    "--framework", help=f"Select rules mapped to a framework: {', '.join(FRAMEWORKS)}.")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", metavar="NAME=VALUE",
    help="Tailoring value NAME=VALUE (repeatable; PACK.NAME for one pack).")]
InventoryOpt = Annotated[Path | None, typer.Option(
    "--inventory", "-i", help="Ansible inventory [default: this machine].")]
LimitOpt = Annotated[str | None, typer.Option("--limit", "-l", help="Ansible host pattern.")]
BecomeOpt = Annotated[bool | None, typer.Option(
    "--become/--no-become", help="Run the probe with privilege escalation.",
    show_default=False)]
ForksOpt = Annotated[int | None, typer.Option("--forks", min=1, max=500,
                                              help="Parallel hosts [default: 20].")]
TransportOpt = Annotated[str | None, typer.Option(
    "--via", "--transport",
    help="ansible (default), ssm (AWS Systems Manager) or local (this machine).")]
TemplateOpt = Annotated[Path | None, typer.Option(
    "--template", "-t", help="Assessment template (YAML).")]


@guarded
def assess(
    template: TemplateOpt = None,
    pack: PackOpt = None,
    rule: RuleOpt = None,
    exclude: ExcludeOpt = None,
    framework: FrameworkOpt = None,
    set_: SetOpt = None,
    inventory: InventoryOpt = None,
    limit: LimitOpt = None,
    become: BecomeOpt = None,
    forks: ForksOpt = None,
    transport: TransportOpt = None,
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
        "--from-snapshots", help="Evaluate saved snapshots (from `collect --out`) offline.")
    ] = None,
    fmt: AssessFormatOpt = "table",
    fail_on: Annotated[Severity | None, typer.Option(
        "--fail-on", help="Exit 1 when any FAIL is at or above this severity, or a host could "
        "not be assessed.")] = None,
    allow_unreachable: Annotated[bool, typer.Option(
        "--allow-unreachable", help="With --fail-on: hosts that could not be assessed do not "
        "fail the run.")] = False,
    db: DbOpt = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not record the run.")
                        ] = False,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the report (any --format but table) to this file.")
    ] = None,
    ignore_file: IgnoreFileOpt = None,
    account_id: AccountIdOpt = None,
    vuln_db: MatchDbOpt = None,
    no_vulns: NoVulnsOpt = False,
    max_db_age: MaxDbAgeOpt = va.DEFAULT_MAX_AGE_DAYS,
    require_fresh: RequireFreshOpt = False,
    include_unimportant: Annotated[bool, typer.Option(
        "--include-unimportant", help="Report 'unimportant' vulnerabilities too.")] = False,
) -> None:
    """Assess hosts against rulepacks (and their installed packages against known
    vulnerabilities, when there is advisory data) and record the findings."""
    ASSESS.check(fmt)
    ignores = _load_ignores(ignore_file)
    if output is not None and fmt == "table":
        raise InputError("--output needs a --format other than table: "
                         + ", ".join(ASSESS.names[1:]))
    if fmt == "html" and output is None:
        raise InputError("--format html writes one file: give -o FILE (as `inspectorctl "
                         "report --html FILE` does)")
    if fmt in ("asff", "html") and no_store:
        raise InputError(f"--format {fmt} is made from the stored run: drop --no-store")
    if account_id is not None and fmt != "asff":
        raise InputError("--account-id is for --format asff")
    target = asff_target(account_id, region) if fmt == "asff" else None
    if fmt == "asff" and transport != "ssm":
        region = None  # --region named the findings' region, not an SSM one
    ssm = ssm_targets(transport, instance_ids, tag_targets, profile, region, endpoint_url,
                      s3_endpoint_url, output_s3, max_concurrency, max_errors)
    opts = _options(template, pack, rule, exclude, framework, set_ or [], inventory, limit, become,
                    forks, transport, ssm)
    if template is not None:
        _warn_schedule(template)
    if from_snapshots is not None:
        opts = opts.model_copy(update={"from_snapshots": from_snapshots})
    selection = select(opts)  # validate the selection before opening the store or hosts
    verbose(f"assess: {len(selection.rule_list)} rule(s) of {len(opts.packs)} pack(s), "
            + (f"snapshots from {opts.from_snapshots}" if opts.from_snapshots
               else f"via {opts.transport or 'ansible'}"))
    advisories, no_data = choose_advisories(ssm, no_vulns, vuln_db, db, require_fresh)
    step = staleness = None
    store = None
    asff_doc: list[dict[str, Any]] | None = None
    left_out: list[str] = []
    html_page: str | None = None
    try:
        if advisories is not None:
            staleness = va.check_staleness(advisories, max_db_age, require_fresh)
            step = va.VulnStep(advisories, include_unimportant)
        store = None if no_store else open_store(db)
        with progress_bar(fmt == "table") as cb:
            keep: ResultsKept = (
                "all" if (fmt != "table" or opts.framework) else "problems")
            result = run_assessment(opts, store, cb, keep=keep, vulns=step)
        if no_data is not None and not quiet():
            err_console.print(no_data, highlight=False, markup=False, soft_wrap=True)
        if ignores is not None and store is not None:
            _sync_ignores(store, ignores)
        if store is not None and fmt == "asff":
            asff_doc, left_out = asff_findings(store, store.findings(run_id=result.run.id),
                                               result.run, target)
        if store is not None and fmt == "html":
            from inspectorctl.report.html import render_html
            from inspectorctl.report.reportdata import collect_report

            html_page = render_html(collect_report(store, run_id=result.run.id, since=None,
                                                   now=now()))
    finally:
        if store is not None:
            store.close()
        if advisories is not None:
            advisories.close()
    if result.timings:
        verbose("timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items()))
    rows = (framework_compliance(result.results, result.selection.rule_list, opts.framework)
            if opts.framework else None)
    if rows is not None and staleness is not None and opts.framework is not None:
        rows = va.compliance_rows(result.results, opts.framework, rows)
    if fmt == "table":
        failed_hosts = {f.host for f in result.failures}
        render_assessment(console, result.run,
                          [r for r in result.results if r.pack != va.PACK
                           or (r.status is Status.ERROR and r.host not in failed_hosts)],
                          framework_rows=rows, framework=opts.framework,
                          timings=result.timings, host_counts=result.host_counts)
        if staleness is not None:
            render_vulns(console, result.run, result.vuln_findings, staleness,
                         include_unimportant)
    else:
        report = Report(result.run, result.results, result.selection.rule_list, rows,
                        result.timings, asff=asff_doc, html=html_page,
                        advisory_data=staleness, vulns=result.vuln_findings)
        text = ASSESS.render(fmt, report)
        if output is not None and fmt == "html":
            from inspectorctl.report.html import write_report

            write_report(output, text)  # atomic, 0600, as report --html
            info(f"wrote {output}")
        elif output is not None:
            _write_atomic(output, text)
            info(f"wrote {output}")
        else:
            emit(text)
    if staleness is not None and staleness.stale and fmt != "table":  # the table says it
        err_console.print(f"warning: {staleness.message}", highlight=False, markup=False,
                          soft_wrap=True)
    if fail_on is not None:
        reasons = fail_on_reasons(result.fails_at(fail_on), result.failures, fail_on,
                                  allow_unreachable)
        for line in reasons:
            err_console.print(line, highlight=False, markup=False, soft_wrap=True)
        if reasons:
            raise typer.Exit(1)
    for line in left_out:
        err_console.print(line, highlight=False, markup=False, soft_wrap=True)
    if left_out:
        raise typer.Exit(1)


MatchDbOpt = Annotated[Path | None, typer.Option(
    "--vuln-db", help="Advisory database to match installed packages against [default: "
    "vulns.db beside the findings database; when there is none, configuration only].",
    show_default=False)]
NoVulnsOpt = Annotated[bool, typer.Option(
    "--no-vulns", help="Do not match installed packages against advisory data.")]
MaxDbAgeOpt = Annotated[float, typer.Option(
    "--max-db-age", min=0, help="Days after which the advisory data counts as stale.")]
RequireFreshOpt = Annotated[bool, typer.Option(
    "--require-fresh", help="Refuse (exit 2) when the advisory data is stale.")]


def choose_advisories(ssm: SsmTargets | None, no_vulns: bool, vuln_db: Path | None,
                      db: Path | None, require_fresh: bool
                      ) -> tuple[AdvisoryDB | None, str | None]:
    """What an assessment matches installed packages against (``assess``, ``remediate``):
    the advisory database, or None with the note for stderr that says why not (None, None:
    ``--no-vulns``). Over SSM, matching needs ``--output-s3`` (a package list does not fit
    in SSM's inline output)."""
    if no_vulns and vuln_db is not None:
        raise InputError("--no-vulns and --vuln-db contradict each other: give one")
    if no_vulns:
        return None, None
    if ssm is not None and ssm.output_s3 is None:
        if vuln_db is not None or require_fresh:
            raise InputError(va.SSM_NEEDS_S3)
        # the default advisory database, where there is one, waits for --output-s3
        path = va.default_vuln_db(db or default_db_path())
        return None, (
            f"note: {va.SSM_NEEDS_S3}: configuration only (the advisory database {path} is "
            "not used; --no-vulns: no note)" if path.is_file()
            else _open_advisories(None, db, False)[1])
    return _open_advisories(vuln_db, db, require_fresh)


def _open_advisories(vuln_db: Path | None, db: Path | None, require_fresh: bool
                     ) -> tuple[AdvisoryDB | None, str | None]:
    """The advisory database to match against: ``--vuln-db`` (which must exist), else
    ``vulns.db`` beside the findings database when there is one; without one, the
    assessment is of configuration only, and the note that says so (for stderr)."""
    path = vuln_db or va.default_vuln_db(db or default_db_path())
    if not path.is_file():
        if vuln_db is not None or require_fresh:
            raise InputError(f"no advisory database at {path}: import data first with "
                             "`inspectorctl vulns update --from PATH`")
        return None, (f"note: no advisory database at {path}: configuration only; to match "
                      "installed packages against known vulnerabilities too, import advisory "
                      "data once: `inspectorctl vulns update --from FILE` (--no-vulns: no "
                      "note)")
    return AdvisoryDB(path), None


#: vulnerability findings listed by the table of ``assess`` before "and N more"
VULNS_SHOWN = 10


def render_vulns(out: Any, run: Any, findings: Sequence[va.VulnFinding],
                 staleness: va.Staleness, include_unimportant: bool) -> None:
    """The vulnerability part of ``assess``'s table: the data's age, the worst findings
    and the counts."""
    from rich.table import Table

    from inspectorctl.vulns.match import VulnState

    out.print(("Vulnerabilities: STALE DATA: " if staleness.stale else "Vulnerabilities: ")
              + staleness.message, highlight=False, markup=False, soft_wrap=True)
    shown = [f for f in findings if f.state is not VulnState.PROBABLY_FIXED
             and (include_unimportant or f.state is not VulnState.UNIMPORTANT)]
    shown.sort(key=lambda f: (-f.score.adjusted, f.host, f.package, f.vuln_id))
    if shown:
        t = Table(show_edge=False, pad_edge=False, box=None, header_style="bold",
                  padding=(0, 1, 0, 0))
        add_fitting_columns(t, ("Score", "Host", "Vulnerability", "Package", "Installed",
                                "Fixed in", "KEV"),
                            [(f"{f.score.adjusted:g}", f.host, f.vuln_id, f.package,
                              f.installed_version, f.fixed_version or "-",
                              "yes" if f.score.kev else "") for f in shown[:VULNS_SHOWN]],
                            fold=("Host", "Package"))
        for f in shown[:VULNS_SHOWN]:
            t.add_row(f"{f.score.adjusted:g}", cell(f.host), cell(f.vuln_id), cell(f.package),
                      cell(f.installed_version), cell(f.fixed_version or "-"),
                      "yes" if f.score.kev else "")
        out.print(t)
        if len(shown) > VULNS_SHOWN:
            out.print(f"... and {len(shown) - VULNS_SHOWN} more: inspectorctl findings list "
                      f"--run {run.id} --rule 'vuln:*'", highlight=False, markup=False)
    sev = [s for s in Severity if any(f.score.severity is s for f in shown)]
    fixable = sum(1 for f in shown if f.fixed_version)
    states = [f.state for f in findings]
    out.print(
        f"{len(shown)} vulnerabilit{'y' if len(shown) == 1 else 'ies'} on "
        f"{len({f.host for f in shown})} host(s)"
        + (" (" + ", ".join(f"{sum(1 for f in shown if f.score.severity is s)} {s.value}"
                            for s in sev) + ")" if sev else "")
        + f", {fixable} with a fixed version; {states.count(VulnState.PROBABLY_FIXED)} "
        f"probably fixed since the data was built; {states.count(VulnState.UNIMPORTANT)} "
        "unimportant" + ("" if include_unimportant else " (hidden)"),
        highlight=False, markup=False, soft_wrap=True)


#: finding ids listed by a --fail-on message before "and N more"
FAIL_ON_IDS = 20


def fail_on_reasons(tripped: list[RuleResult], failures: list[CollectionFailure],
                    threshold: Severity, allow_unreachable: bool) -> list[str]:
    """Why ``--fail-on`` fails the run (empty: it does not): the FAIL results at or above the
    threshold, with their finding ids, and the hosts that could not be assessed."""
    out = []
    if tripped:
        by_sev = {s: sum(1 for r in tripped if r.severity is s) for s in Severity}
        sev = ", ".join(f"{s.value} {n}" for s, n in by_sev.items() if n)
        rows = sorted(tripped, key=lambda r: (-r.severity.rank, r.host, r.rule_id))
        ids = [f"{r.finding_id} ({r.rule_id} on {r.host})" for r in rows[:FAIL_ON_IDS]]
        more = f" and {len(rows) - FAIL_ON_IDS} more" if len(rows) > FAIL_ON_IDS else ""
        out.append(f"--fail-on {threshold.value}: {len(rows)} FAIL result(s) at or above "
                   f"{threshold.value} ({sev}): {', '.join(ids)}{more}")
    if failures and not allow_unreachable:
        hosts = sorted(failures, key=lambda f: f.host)
        out.append(f"--fail-on {threshold.value}: {len(hosts)} host(s) could not be assessed: "
                   + "; ".join(f"{f.host} ({f.reason})" for f in hosts)
                   + " (--allow-unreachable to let them pass)")
    return out


def _warn_schedule(template: Path) -> None:
    """A template's ``schedule:`` is kept but nothing runs it yet: say so, every time."""
    from inspectorctl.models.template import AssessmentTemplate
    from inspectorctl.yamlfile import load_model

    tpl = load_model(template, AssessmentTemplate, "template")
    if tpl.schedule:
        err_console.print(
            f"warning: {template}: schedule {tpl.schedule!r} does nothing yet: inspectorctl "
            "has no scheduler; run this template from cron or a systemd timer",
            highlight=False, markup=False, soft_wrap=True)


@guarded
def collect(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the snapshots.")],
    template: TemplateOpt = None,
    pack: PackOpt = None,
    rule: RuleOpt = None,
    exclude: ExcludeOpt = None,
    framework: FrameworkOpt = None,
    inventory: InventoryOpt = None,
    limit: LimitOpt = None,
    become: BecomeOpt = None,
    forks: ForksOpt = None,
    transport: TransportOpt = None,
    instance_ids: InstanceIdsOpt = None,
    tag_targets: TagTargetsOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    endpoint_url: EndpointOpt = None,
    s3_endpoint_url: S3EndpointOpt = None,
    output_s3: OutputS3Opt = None,
    max_concurrency: MaxConcurrencyOpt = None,
    max_errors: MaxErrorsOpt = None,
) -> None:
    """Collect host snapshots (the facts the selected rules need) and save them as JSON."""
    from inspectorctl.assess import collect as do_collect

    ssm = ssm_targets(transport, instance_ids, tag_targets, profile, region, endpoint_url,
                      s3_endpoint_url, output_s3, max_concurrency, max_errors)
    opts = _options(template, pack, rule, exclude, framework, None, inventory, limit, become,
                    forks, transport, ssm)
    selection = select(opts)
    with progress_bar(True) as cb:
        results = do_collect(opts, selection, cb)
    written = save_snapshots(results, out)
    for p in written:
        console.print(f"saved {p}", highlight=False)
    failed = [r for r in results if isinstance(r, CollectionFailure)]
    for f in failed:
        err_console.print(f"error: {f.host}: {f.reason}", markup=False)
    if failed:
        raise typer.Exit(1)


@guarded
def findings_list(
    host: Annotated[list[str] | None, typer.Option(
        "--host", metavar="GLOB", help="Only hosts matching this glob (repeatable).")
    ] = None,
    rule: Annotated[list[str] | None, typer.Option(
        "--rule", "-r", metavar="GLOB",
        help="Only rules whose id matches this glob (repeatable).")] = None,
    severity: Annotated[Severity | None, typer.Option(
        "--severity", help="At or above this severity.")] = None,
    status: Annotated[list[Status] | None, typer.Option(
        "--status", metavar="[PASS|FAIL|ERROR|NOT_APPLICABLE]",
        help="Last result (repeatable).")] = None,
    state: Annotated[list[FindingState] | None, typer.Option(
        "--state", metavar="[active|closed|suppressed]",
        help="Lifecycle state (repeatable) [default: active].")] = None,
    framework: FrameworkOpt = None,
    run: Annotated[str | None, typer.Option("--run", help="Findings evaluated in this run.")
                   ] = None,
    all_states: Annotated[bool, typer.Option("--all", help="Every state.")] = False,
    fmt: FindingsFormatOpt = "table",
    account_id: AccountIdOpt = None,
    region: Annotated[str | None, typer.Option(
        "--region", help="--format asff: the AWS region the findings name [default: "
        "$AWS_REGION, else us-east-1 with a note].", show_default=False)] = None,
    db: DbOpt = None,
) -> None:
    """List findings (active ones by default)."""
    FINDINGS.check(fmt)
    if (account_id is not None or region is not None) and fmt != "asff":
        raise InputError("--account-id and --region are for --format asff")
    target = asff_target(account_id, region) if fmt == "asff" else None
    states = [] if all_states else (state or [FindingState.ACTIVE])
    with open_store(db) as store:
        run_record = store.run(run) if run is not None else None
        if run is not None and run_record is None:
            raise InputError(f"no run {run!r} in {store.path}; see `inspectorctl runs list`")
        if run_record is not None and run_record.pruned_at is not None:
            err_console.print(
                f"note: run {run} was pruned on {run_record.pruned_at:%Y-%m-%d}: only the "
                "findings whose newest result is from it are listed", highlight=False)
        rows = store.findings(hosts=host or [], rules=rule or [], min_severity=severity,
                              statuses=status or [], states=states, run_id=run)
        if framework:
            if framework not in FRAMEWORKS:
                raise InputError(f"unknown framework {framework!r}; valid: "
                                 f"{', '.join(FRAMEWORKS)}")
            mapped = _framework_rule_ids(framework)
            rows = [f for f in rows if f.rule_id in mapped]
        left_out: list[str] = []
        asff_doc = None
        if target is not None:
            asff_doc, left_out = asff_findings(store, rows, run_record or store.latest_run(),
                                               target)
    if fmt == "table":
        render_findings(console, rows)
        return
    rules = _shipped_rules({f.rule_id for f in rows}) if fmt == "sarif" else []
    emit(FINDINGS.render(fmt, FindingsView(rows, rules, asff=asff_doc)))
    for line in left_out:
        err_console.print(line, highlight=False, markup=False, soft_wrap=True)
    if left_out:
        raise typer.Exit(1)


def _shipped_rules(ids: set[str]) -> list[Rule]:
    """The shipped rules among ``ids`` (a user's pack's rules are not found: their findings
    are still listed, with their id)."""
    return [r for p in shipped_pack_ids().values() for r in load_pack(p).rules if r.id in ids]


def _framework_rule_ids(framework: str) -> set[str]:
    ids = set()
    for p in shipped_pack_ids().values():
        for r in load_pack(p).rules:
            if r.references.framework_ids(framework):
                ids.add(r.id)
    return ids


IgnoreFileOpt = Annotated[Path | None, typer.Option(
    "--ignore-file", help=f"Accepted risks to suppress [default: {ignorefile.DEFAULT_NAME} "
    "in the working directory, if there is one].", show_default=False)]


def _load_ignores(path: Path | None) -> ignorefile.Loaded | None:
    """The ignore file, checked (bad input exits 2 before anything runs); its expired entries
    are reported on stderr."""
    found = ignorefile.find(path, Path())  # relative: messages name it as the user would
    if found is None:
        return None
    loaded = ignorefile.load(found, now().date())
    for e in ignorefile.plan_sync(loaded, [], now()).expired:
        err_console.print(
            f"warning: {found}:{e.line}: ignore entry {e.index} ({e.entry.describe()}) expired "
            f"on {e.entry.expires}; it no longer suppresses anything: remove or renew it",
            highlight=False, markup=False)
    return loaded


def _login() -> str:
    try:
        return normalise_identity(getpass.getuser(), "login name")
    except (KeyError, OSError, InputError):
        return "unknown"


def _sync_ignores(store: Store, loaded: ignorefile.Loaded) -> ignorefile.SyncPlan:
    """Suppress what the ignore file matches and lift what it no longer does, audited."""
    from inspectorctl.remediate.audit import AuditEvent, append, chain_key, note_head

    at = now()
    key = chain_key(store)

    def audit(plan: ignorefile.SyncPlan) -> Callable[[sqlite3.Connection], None]:
        updated = set(plan.updated)
        detail = {"file": str(loaded.path.resolve()), "sha256": loaded.sha256,
                  "suppressed": [s.finding_id for s in plan.suppress
                                 if s.finding_id not in updated],
                  "updated": plan.updated, "lifted": plan.lift,
                  "expired_entries": [e.index for e in plan.expired]}
        return lambda tx: append(tx, AuditEvent.IGNORE, _login(), at, key=key, detail=detail)

    plan = ignorefile.apply(store, loaded, at, audit)
    if plan.changes:
        note_head(store, key)
        new = len(plan.suppress) - len(plan.updated)
        info(f"{loaded.path}: suppressed {new} finding(s), updated {len(plan.updated)}, "
             f"lifted {len(plan.lift)} (audited)")
    return plan


@guarded
def findings_ignore(
    ignore_file: IgnoreFileOpt = None,
    db: DbOpt = None,
) -> None:
    """Apply the ignore file to the stored findings now (assess does it after each run):
    suppress what its live entries match, lift what they no longer match, report expired
    entries. Every change is audited."""
    loaded = _load_ignores(ignore_file)
    if loaded is None:
        raise InputError(f"no {ignorefile.DEFAULT_NAME} here; give --ignore-file FILE")
    with open_store(db) as store:
        plan = _sync_ignores(store, loaded)
    if not plan.changes:
        console.print(f"{loaded.path}: nothing to change", highlight=False, markup=False)


@guarded
def findings_show(
    finding_id: Annotated[str, typer.Argument(metavar="ID", help="Finding id (f-...).")],
    fmt: FormatOpt = "table",
    db: DbOpt = None,
) -> None:
    """Show one finding with its evidence, rationale and fix."""
    require_format(fmt, "findings show", *TABLE_JSON)
    with open_store(db) as store:
        f = store.finding(finding_id)
        last = store.run(f.last_run) if f is not None else None
    if f is None:
        abort(f"no finding {finding_id!r}; see `inspectorctl findings list`", 2)
    if fmt == "json":
        typer.echo(f.model_dump_json(indent=2))
        return
    rule = None
    with contextlib.suppress(InputError):
        packs = shipped_pack_ids()
        if f.pack in packs:
            rule = next((r for r in load_pack(packs[f.pack]).rules if r.id == f.rule_id), None)
        elif last is not None:
            # a pack of the user's: the file the run that saw it last used
            for ref in last.packs:
                pack_obj = load_pack(resolve_pack(ref))
                if pack_obj.id == f.pack:
                    rule = next((r for r in pack_obj.rules if r.id == f.rule_id), None)
    render_finding(console, f, rule)


#: findings named by a filtered ``findings suppress`` before it asks (the rest are counted)
SUPPRESS_SHOWN = 20


def stdin_is_terminal() -> bool:
    """Whether a person can answer a confirmation (tests replace this)."""
    return sys.stdin.isatty()


@guarded
def findings_suppress(
    ids: Annotated[list[str] | None, typer.Argument(
        metavar="[ID...]", help="Finding ids (or select with the filters).",
        show_default=False)] = None,
    *,
    by: Annotated[str, typer.Option("--by", help="Who accepts the risk.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the finding).")],
    days: Annotated[int | None, typer.Option(
        "--days", min=1, max=3650,
        help="Expire after this many days (at most 3650) [default: until lifted].")] = None,
    rule: Annotated[list[str] | None, typer.Option(
        "--rule", "-r", metavar="GLOB",
        help="Active findings of rules matching this glob (repeatable).")] = None,
    host: Annotated[list[str] | None, typer.Option(
        "--host", metavar="GLOB", help="Active findings of hosts matching this glob "
        "(repeatable).")] = None,
    severity: Annotated[Severity | None, typer.Option(
        "--severity", help="Active findings at or above this severity.")] = None,
    status: Annotated[list[Status] | None, typer.Option(
        "--status", metavar="[PASS|FAIL|ERROR|NOT_APPLICABLE]",
        help="Active findings whose last result is this (repeatable).")] = None,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="With filters: suppress what they match without asking.")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Suppress findings (accepted risk): not listed as active, never planned for fixing.

    Name them by id, or select the active findings with --rule/--host globs, --severity and
    --status: the matches are counted and shown, and confirmed (--yes without a terminal)."""
    from datetime import timedelta

    from inspectorctl.remediate.audit import AuditEvent, append, chain_key, note_head
    from inspectorctl.store.db import now

    by = normalise_identity(by, "--by")
    reason = check_reason(reason, "--reason", required=True)
    filters = {"rule": list(rule or []), "host": list(host or []),
               "severity": severity.value if severity else None,
               "status": [s.value for s in status or []]}
    filtered = any(filters.values())
    if ids and filtered:
        raise InputError("give finding ids or filters (--rule, --host, --severity, --status), "
                         "not both")
    if not ids and not filtered:
        raise InputError("nothing selected: give finding ids or filters (--rule, --host, "
                         "--severity, --status)")
    at = now()
    until = at + timedelta(days=days) if days else None
    with open_store(db) as store:
        if filtered:
            matched = store.findings(hosts=host or [], rules=rule or [],
                                     min_severity=severity, statuses=status or [],
                                     states=[FindingState.ACTIVE])
            if not matched:
                console.print("No active finding matches; nothing suppressed.", highlight=False)
                return
            _confirm_suppress(matched, yes)
            chosen = [f.id for f in matched]
        else:
            chosen = list(ids or [])
        detail: dict[str, Any] = {"findings": chosen, "reason": reason,
                                  "until": until.isoformat() if until else None}
        if filtered:
            detail["filter"] = {k: v for k, v in filters.items() if v}
        key = chain_key(store)
        rows = store.suppress(
            chosen, by=by, reason=reason, until=until,
            audit=lambda tx: append(tx, AuditEvent.SUPPRESS, by, at, key=key, detail=detail))
        note_head(store, key)
    for f in rows:
        console.print(f"suppressed {f.id} ({f.rule_id} on {f.host})"
                      + (f" until {until:%Y-%m-%d}" if until else ""), highlight=False)


def _confirm_suppress(matched: Sequence[Any], yes: bool) -> None:
    """Show what a filtered suppress would change and have it confirmed: ``--yes``, or a
    person at a terminal; without either, exit 2 before anything changes."""
    if yes:
        return
    if not stdin_is_terminal():
        raise InputError(f"{len(matched)} active finding(s) match; no terminal to confirm "
                         "on: check them with `findings list` and the same filters, then "
                         "give --yes")
    err_console.print(f"{len(matched)} active finding(s) match:", highlight=False)
    for f in matched[:SUPPRESS_SHOWN]:
        err_console.print(f"  {f.id} {f.severity.value} {f.rule_id} on {f.host}",
                          highlight=False, markup=False)
    if len(matched) > SUPPRESS_SHOWN:
        err_console.print(f"  and {len(matched) - SUPPRESS_SHOWN} more", highlight=False)
    if not typer.confirm(f"Suppress these {len(matched)} finding(s)?", default=False,
                         err=True):
        err_console.print("nothing suppressed", highlight=False)
        raise typer.Exit(1)


@guarded
def findings_unsuppress(
    ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Finding ids.")],
    by: Annotated[str, typer.Option("--by", help="Who lifts the suppression.")],
    db: DbOpt = None,
) -> None:
    """Lift suppressions: findings that still fail are active again."""
    from inspectorctl.remediate.audit import AuditEvent, append, chain_key, note_head
    from inspectorctl.store.db import now

    by = normalise_identity(by, "--by")
    at = now()
    with open_store(db) as store:
        key = chain_key(store)
        rows = store.unsuppress(ids, audit=lambda tx: append(
            tx, AuditEvent.UNSUPPRESS, by, at, key=key, detail={"findings": list(ids)}))
        note_head(store, key)
    for f in rows:
        console.print(f"{f.id} is {f.state.value}", highlight=False)


@guarded
def runs_list(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many.")] = 20,
    fmt: RunsFormatOpt = "table",
    db: DbOpt = None,
) -> None:
    """List recorded runs, newest first: assessments (with their targets, limit and
    framework), applies and rollbacks."""
    RUNS.check(fmt)
    from rich.table import Table

    from inspectorctl.store import journal

    with open_store(db) as store:
        runs = store.runs(limit)
        applies = journal.apply_runs(store)[:limit]
        journal_hosts = {a.id: len({e.host for e in journal.entries(store, a.id)})
                         for a in applies}
    rows: list[tuple[datetime, dict[str, object], tuple[str, ...]]] = []
    for r in runs:
        c = r.counts
        kind = f"{r.kind} (pruned)" if r.pruned_at else r.kind
        fw = r.targets.get("framework")
        rows.append((r.started_at, {**r.model_dump(mode="json")}, (
            r.id, kind, r.started_at.strftime("%Y-%m-%d %H:%M"),
            _targets_text(r.targets) + (f" [{fw}]" if fw else ""), str(c.hosts),
            f"{c.passed}/{c.failed}/{c.errors}/{c.not_applicable}")))
    for a in applies:
        rows.append((a.started_at, {**a.model_dump(mode="json"), "hosts": journal_hosts[a.id]}, (
            a.id, a.kind, a.started_at.strftime("%Y-%m-%d %H:%M"),
            f"plan {a.plan_id}: {a.status}"
            + (f" (undoes {a.rollback_of})" if a.rollback_of else ""),
            str(journal_hosts[a.id]), "-")))
    rows.sort(key=lambda x: x[0], reverse=True)
    rows = rows[:limit]
    if fmt != "table":
        emit(RUNS.render(fmt, Listing("runs", "runs", [doc for _, doc, _ in rows])))
        return
    if not rows:
        console.print("No runs recorded.")
        return
    # one cell for the results (pass/fail/error/not applicable) and the framework with the
    # targets: the table fits 80 columns
    t = Table(show_edge=False, pad_edge=False, box=None, header_style="bold",
              padding=(0, 1, 0, 0))
    add_fitting_columns(t, ("Run", "Kind", "Started", "Targets", "Hosts", "P/F/E/NA"),
                        [cells for _, _, cells in rows], fold=("Targets",))
    for _, _, cells in rows:
        t.add_row(*(cell(c) for c in cells))  # values are data, never markup
    console.print(t)


def _targets_text(targets: dict[str, object]) -> str:
    """Where an assessment looked: inventory (or snapshots dir) and limit."""
    if "snapshots" in targets:
        where = f"snapshots {targets['snapshots']}"
    else:
        inv = str(targets.get("inventory") or "localhost")
        where = inv if inv == "localhost" else Path(inv).name
    if targets.get("limit"):
        where += f" --limit {targets['limit']}"
    return where


@guarded
def runs_prune(
    keep: Annotated[int, typer.Option(
        "--keep", min=1, help="Keep every result of this many newest runs.")],
    by: Annotated[str, typer.Option("--by", help="Who prunes (recorded in the audit log).")],
    vacuum: Annotated[bool, typer.Option(
        "--vacuum", help="Then compact the database file (rewrites it; needs free space).")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Remove the per-rule results of older runs, keeping each rule's newest result on each
    host. Runs, their counts and the findings stay."""
    from inspectorctl.remediate.audit import AuditEvent, append, chain_key, note_head
    from inspectorctl.store.db import PruneReport, now

    by = normalise_identity(by, "--by")
    at = now()

    with open_store(db) as store:
        key = chain_key(store)

        def audit(tx: sqlite3.Connection, report: PruneReport) -> None:
            append(tx, AuditEvent.PRUNE, by, at, key=key, detail={
                "keep": keep, "runs": list(report.runs), "removed": report.removed})

        report = store.prune(keep, at, audit=audit)
        note_head(store, key)
        if not report.runs:
            console.print(f"Nothing to prune: no run older than the newest {keep}.",
                          highlight=False)
            return
        console.print(
            f"Pruned {len(report.runs)} run(s): {report.removed} result row(s) removed, "
            f"{report.kept} kept (the newest result of a rule on a host). Findings are "
            "unchanged.", highlight=False)
        if vacuum:
            before = store.path.stat().st_size
            store.vacuum()
            console.print(f"Compacted {store.path}: {before / 1e6:.1f} MB -> "
                          f"{store.path.stat().st_size / 1e6:.1f} MB", highlight=False)


@guarded
def rulepacks_list(fmt: FormatOpt = "table") -> None:
    """List the shipped rulepacks."""
    require_format(fmt, "rulepacks list", *TABLE_JSON)
    from rich.table import Table

    packs = load_packs(sorted(shipped_pack_ids()))
    if fmt == "json":
        typer.echo(json.dumps([{"id": p.id, "version": p.version, "title": p.title,
                                "rules": len(p.rules)} for p in packs], indent=2))
        return
    t = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for col in ("Pack", "Version", "Rules", "Title"):
        t.add_column(col)
    for p in packs:
        t.add_row(cell(p.id), cell(p.version), str(len(p.rules)), cell(p.title))
    console.print(t)


@guarded
def rulepacks_show(
    pack: Annotated[str, typer.Argument(help="Pack id or file.")],
    fmt: FormatOpt = "table",
) -> None:
    """Show a rulepack's rules and variables."""
    require_format(fmt, "rulepacks show", *TABLE_JSON)
    from rich.table import Table

    (p,) = load_packs([pack])
    if fmt == "json":
        typer.echo(p.model_dump_json(indent=2))
        return
    console.print(f"{p.id} {p.version}: {p.title}", highlight=False, markup=False)
    console.print(p.description.strip(), highlight=False, markup=False)
    if p.variables:
        console.print("Variables:", highlight=False)
        for k, v in p.variables.items():
            console.print(f"  {k} = {v.default!r}  {v.description}", highlight=False,
                          markup=False)
    t = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for col in ("Rule", "Severity", "Check", "Fix", "Title"):
        t.add_column(col, overflow="fold")
    for r in p.rules:
        rem = r.remediation
        fix = "manual" if rem and rem.manual else (rem.playbook or rem.ssm_document or "-"
                                                   ) if rem else "-"
        t.add_row(cell(r.id), r.severity.value, r.check.kind, cell(fix), cell(r.title))
    console.print(t)


@guarded
def rulepacks_validate(
    files: Annotated[list[Path] | None, typer.Argument(
        metavar="FILE...", help="Rulepack files [default: the shipped packs].")] = None,
) -> None:
    """Validate rulepack files: schema, check kinds, facts, variables, remediations, ids."""
    paths = [str(f) for f in files] if files else sorted(shipped_pack_ids())
    # every error of every file at once, each with its file and line
    errors = [e for name in paths for e in validate_pack(resolve_pack(name))]
    if errors:
        for e in errors:
            err_console.print(f"error: {e}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(2)
    packs = load_packs(paths)
    for p in packs:
        console.print(f"ok: {p.source}: pack {p.id}, {len(p.rules)} rules", highlight=False,
                      markup=False)
