"""``inspectorctl lab demo``: see the product work without touching this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inspectorctl.assess import AssessOptions, run_assessment
from inspectorctl.cli._common import console, guarded
from inspectorctl.cli.assess import DbOpt, open_store, progress_bar
from inspectorctl.cli.lab import _lab
from inspectorctl.collect.interface import Targets
from inspectorctl.lab.lab import default_state_dir
from inspectorctl.report.summary import render_assessment

#: the demo hosts: name prefix -> profile
DEMO_HOSTS = {"demo-weak": "weak", "demo-hardened": "hardened"}


@guarded
def demo(
    ctx: typer.Context,
    db: DbOpt = None,
    keep: Annotated[bool, typer.Option(
        "--keep/--down", help="Keep the demo hosts running afterwards (default) or take the "
        "whole lab down at the end.")] = True,
) -> None:
    """Bring up a weak and a hardened lab host, assess both over SSH, show the findings."""
    lab = _lab(ctx)
    existing = {h.name for h in lab.status()}
    for prefix, profile in DEMO_HOSTS.items():
        if f"{prefix}-1" in existing:
            console.print(f"using the running lab host {prefix}-1", highlight=False)
            continue
        console.print(f"starting lab host {prefix}-1 (profile {profile}) ...", highlight=False)
        lab.up(1, [profile], prefix)
    inventory: Path = lab.inventory_path
    hosts = ",".join(f"{p}-1" for p in DEMO_HOSTS)
    opts = AssessOptions(targets=Targets(inventory=inventory, limit=hosts), template="lab-demo")
    with open_store(db) as store, progress_bar(True) as cb:
        result = run_assessment(opts, store, cb, keep="problems")
    render_assessment(console, result.run, result.results, timings=result.timings,
                      host_counts=result.host_counts, max_failures=15)
    lab_cmd = "inspectorctl lab"
    if lab.state_dir != default_state_dir():
        lab_cmd += f" --state-dir {lab.state_dir}"
    steps = [
        "",
        "What next:",
        "  inspectorctl findings list --host demo-weak-1                    the weak host's "
        "findings",
        "  inspectorctl findings show ID                                    evidence, "
        "rationale, fix",
        "  inspectorctl plan --host demo-weak-1 --severity high -o plan.json  what would fix "
        "the worst",
        "  inspectorctl approve plan.json --by YOUR-NAME                    approve it ...",
        "  inspectorctl apply plan.json                                     ... apply it and "
        "re-assess",
        f"  {lab_cmd} exec demo-weak-1 -- sshd -T                        look inside a host",
        f"  {lab_cmd} down                                               take the lab away",
        "Lab hosts have no network: a plan of every finding also holds fixes that install "
        "packages, which fail there and stop the apply (--max-errors).",
    ]
    if not keep:
        lab.down()
        steps = ["", "The demo lab was taken down."]
    for line in steps:
        console.print(line, highlight=False, markup=False)
