"""``export securityhub`` and ``export ocsf``: findings to AWS Security Hub and to SIEMs."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from inspectorctl.cli._common import console, err_console, guarded, info
from inspectorctl.cli._ssm import aws_config
from inspectorctl.errors import InputError
from inspectorctl.paths import default_db_path
from inspectorctl.store.db import Store

app = typer.Typer(help="Send findings to AWS Security Hub, or write them for a SIEM.",
                  no_args_is_help=True)

DbOpt = Annotated[Path | None, typer.Option(
    "--db", help="SQLite database [default: $INSPECTORCTL_DB or "
    "$XDG_DATA_HOME/inspectorctl/findings.db]", show_default=False)]
RunOpt = Annotated[str | None, typer.Option(
    "--run", metavar="ID",
    help="The findings this run evaluated, as they stand now [default: the newest run].",
    show_default=False)]


def register(root: typer.Typer) -> None:
    app.command("securityhub")(securityhub)
    app.command("ocsf")(ocsf)
    root.add_typer(app, name="export")


@guarded
def securityhub(
    run: RunOpt = None,
    region: Annotated[str | None, typer.Option(
        "--region", help="AWS region [default: the profile's].", show_default=False)] = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="AWS profile.", show_default=False)] = None,
    endpoint_url: Annotated[str | None, typer.Option(
        "--endpoint-url", metavar="URL",
        help="Security Hub (and STS) endpoint, e.g. a test double.",
        show_default=False)] = None,
    account_id: Annotated[str | None, typer.Option(
        "--account-id", metavar="ACCOUNT",
        help="The calling account, which the findings belong to (Security Hub accepts no "
        "other) [default: from STS].", show_default=False)] = None,
    db: DbOpt = None,
) -> None:
    """Import a run's findings into AWS Security Hub (BatchImportFindings), as the account's
    own custom integration (product/ACCOUNT/default). Exit 1 names every finding Security
    Hub refused."""
    from inspectorctl.aws.securityhub import ImportReport, PartialImport, import_findings
    from inspectorctl.aws.session import SessionFactory
    from inspectorctl.report import asff
    from inspectorctl.report.exportable import load

    if account_id is not None:
        try:
            asff.check_account_id(account_id)
        except ValueError as e:
            raise InputError(f"--account-id: {e}") from e
    factory = SessionFactory(aws_config(profile, region, endpoint_url))
    with Store(db or default_db_path()) as store:
        data = load(store, run)
    if not data.items:
        console.print(f"Run {data.run.id} has no findings to import.", highlight=False)
        return
    client = factory.client("securityhub")
    reg = str(client.meta.region_name)
    if account_id is None:
        account_id = _caller_account(factory)
    target = asff.AsffTarget(account_id=account_id, region=reg,
                             partition=asff.partition_of(reg))
    names = {asff.finding_asff_id(i.finding.id): f"{i.finding.rule_id} on {i.finding.host}"
             for i in data.items}
    findings, refused = asff.prepare(data.items, target)
    local = [f"{asff.finding_asff_id(i.finding.id)} ({i.finding.rule_id} on {i.finding.host}): "
             f"{why}" for i, why in refused]
    try:
        report = import_findings(client, findings) if findings else ImportReport()
    except PartialImport as e:
        _print_failures(e.report, names, local)
        raise
    console.print(
        f"Imported {len(report.imported)} of {len(data.items)} finding(s) of run "
        f"{data.run.id} into Security Hub ({target.product_arn}) in {report.calls} call(s)"
        + (f", {report.retried} sent again after a transient refusal" if report.retried
           else "") + ".", highlight=False)
    if _print_failures(report, names, local):
        raise typer.Exit(1)


def _print_failures(report: Any, names: dict[str, str], local: list[str]) -> bool:
    lines = [f"error: {x}" for x in local]
    for ff in report.failed:
        lines.append(f"error: {ff.id} ({names.get(ff.id, '?')}): refused by Security Hub: "
                     f"{ff.code}: {ff.message}" + (f" (still refused after {ff.attempts} "
                                                    "attempts)" if ff.transient else ""))
    lines += [f"error: {a}" for a in report.anomalies]
    for line in lines:
        err_console.print(line, highlight=False, soft_wrap=True)
    if lines:
        err_console.print(f"{len(report.failed) + len(local)} finding(s) not imported",
                          highlight=False)
    return bool(lines)


def _caller_account(factory: Any) -> str:
    """The caller's account id (STS GetCallerIdentity)."""
    import botocore.exceptions

    from inspectorctl.aws.session import AwsError, describe_client_error

    try:
        ident = factory.client("sts").get_caller_identity()
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        raise AwsError(f"cannot tell the account id from STS ({describe_client_error(e)}); pass "
                       "--account-id") from e
    return str(ident["Account"])


@guarded
def ocsf(
    run: RunOpt = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the JSON lines to this file [default: stdout].",
        show_default=False)] = None,
    db: DbOpt = None,
) -> None:
    """Write a run's findings as OCSF 1.3.0 JSON lines: Compliance Finding (2003) for
    configuration findings, Vulnerability Finding (2002) for vulnerabilities."""
    from inspectorctl.report.exportable import load
    from inspectorctl.report.ocsf import export_lines

    with Store(db or default_db_path()) as store:
        data = load(store, run)
    text = "".join(line + "\n" for line in export_lines(data.items, data.run))
    if output is None:
        sys.stdout.write(text)
        return
    tmp = output.with_name(output.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        tmp.replace(output)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{output}: cannot write: {e.strerror or e}") from e
    info(f"wrote {len(data.items)} event(s) of run {data.run.id} to {output}")
