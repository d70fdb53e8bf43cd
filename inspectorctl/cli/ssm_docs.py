"""``ssm-docs validate`` and ``ssm-docs deploy``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inspectorctl.aws.deploy import deploy
from inspectorctl.aws.documents import (
    DocumentError,
    collect_budget,
    load_document,
    shipped_documents,
    validate,
)
from inspectorctl.aws.session import SessionFactory
from inspectorctl.cli._common import console, guarded
from inspectorctl.cli._ssm import EndpointOpt, ProfileOpt, RegionOpt, aws_config

app = typer.Typer(help="The SSM documents inspectorctl runs (InspectorCtl-*).",
                  no_args_is_help=True)


@app.command("validate")
@guarded
def validate_cmd(
    files: Annotated[list[Path] | None, typer.Argument(
        help="Document files [default: the shipped ones].", show_default=False)] = None,
) -> None:
    """Check documents: schema 2.2, parameters and their patterns, references, size."""
    docs = ([load_document(p.stem, p) for p in files] if files else shipped_documents())
    for p in files or []:
        if not p.is_file():
            raise DocumentError(f"{p}: no such document file")
    for doc in docs:
        validate(doc)
        size = len(doc.content.encode("utf-8"))
        console.print(f"ok {doc.name}: {size} bytes, sha256 {doc.sha256}", highlight=False)
    if not files:
        doc_bytes, req_bytes = collect_budget()
        console.print(f"collect budget: document {doc_bytes} + largest request {req_bytes} = "
                      f"{doc_bytes + req_bytes} of 60000 bytes", highlight=False)


@app.command("deploy")
@guarded
def deploy_cmd(
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Create or update the shipped documents (idempotent by content sha256, tagged)."""
    docs = shipped_documents()
    for doc in docs:
        validate(doc)
    ssm = SessionFactory(aws_config(profile, region, endpoint_url)).client("ssm")
    for doc in docs:
        d = deploy(ssm, doc)
        console.print(f"{d.action.value} {d.name} version {d.version} (sha256 {d.sha256})",
                      highlight=False)
