"""``inspectorctl lab``: the local practice fleet."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from inspectorctl.cli._common import err_console, guarded
from inspectorctl.lab import Lab, LabHost
from inspectorctl.lab.lab import ENV_STATE_DIR
from inspectorctl.lab.profiles import load_profile, shipped_profiles

app = typer.Typer(
    help="A local practice fleet of isolated Linux hosts over real SSH.",
    no_args_is_help=True,
)


@dataclass(frozen=True)
class _Options:
    state_dir: Path | None
    netns_prefix: str | None


def _lab(ctx: typer.Context) -> Lab:
    options = ctx.obj if isinstance(ctx.obj, _Options) else _Options(None, None)
    return Lab(options.state_dir, netns_prefix=options.netns_prefix)


@app.callback()
def _main(
    ctx: typer.Context,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            envvar=ENV_STATE_DIR,
            help="Where the lab keeps its state [default: /var/lib/inspectorctl/lab].",
            show_default=False,
        ),
    ] = None,
    netns_prefix: Annotated[
        str | None,
        typer.Option(
            "--netns-prefix",
            envvar="INSPECTORCTL_LAB_NETNS_PREFIX",
            help="Prefix of the lab's network namespaces, fixed when the lab is created "
            "[default: ictl-].",
            show_default=False,
        ),
    ] = None,
) -> None:
    ctx.obj = _Options(state_dir, netns_prefix)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _hosts_table(hosts: list[LabHost]) -> str:
    rows = [["NAME", "STATE", "PROFILES", "INSTANCE ID", "MACHINE ID", "NETNS"]]
    for h in hosts:
        rows.append(
            [h.name, h.state.value, ",".join(h.profiles), h.instance_id, h.machine_id, h.netns]
        )
    return _table(rows)


@app.command()
@guarded
def up(
    ctx: typer.Context,
    hosts: Annotated[int, typer.Option("--hosts", "-n", help="How many hosts to add.")] = 1,
    profile: Annotated[
        list[str] | None,
        typer.Option(
            "--profile",
            "-p",
            metavar="PROFILE",
            help="A shipped profile name or a path to a profile file; repeat to compose "
            "(applied in order) [default: baseline].",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="Name prefix: hosts are PREFIX-1..N [default: the first profile]."
        ),
    ] = None,
) -> None:
    """Add hosts to the lab; returns when every new host answers SSH."""
    lab = _lab(ctx)
    added = lab.up(hosts, profile or ["baseline"], name)
    typer.echo(_hosts_table(added))
    typer.echo(f"inventory: {lab.inventory_path}")


@app.command()
@guarded
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Hosts of the lab: state, profiles and identity."""
    lab = _lab(ctx)
    hosts = lab.status()
    orphans = lab.orphan_namespaces()
    if orphans:
        err_console.print(
            f"warning: network namespaces of a lab without state: {', '.join(orphans)}; "
            "`inspectorctl lab down` removes them",
            markup=False,
        )
    if as_json:
        typer.echo(json.dumps([h.model_dump(mode="json") for h in hosts], indent=2))
    elif not hosts:
        typer.echo(f"no lab hosts in {lab.state_dir}")
    else:
        typer.echo(_hosts_table(hosts))


@app.command()
@guarded
def inventory(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write it to this file.")
    ] = None,
) -> None:
    """The lab's Ansible inventory (stdout unless -o)."""
    lab = _lab(ctx)
    if output is None:
        typer.echo(lab.inventory_yaml(), nl=False)
    else:
        lab.write_inventory(output)
        typer.echo(f"inventory written to {output}")


@app.command(
    "exec",
    context_settings={"allow_interspersed_args": False},
)
@guarded
def exec_(
    ctx: typer.Context,
    host: Annotated[str, typer.Argument(help="Host name.")],
    command: Annotated[list[str], typer.Argument(
        metavar="COMMAND...", help="Command and arguments (after --).")],
) -> None:
    """Run a command as root inside a host; its exit code is passed through."""
    if command and command[0] == "--":
        command = command[1:]
    result = _lab(ctx).exec(host, command, timeout=None, capture=False)
    raise typer.Exit(result.returncode)


@app.command()
@guarded
def stop(ctx: typer.Context, host: Annotated[str, typer.Argument(help="Host name.")]) -> None:
    """Kill a host's processes: it becomes unreachable, its files stay."""
    _lab(ctx).stop(host)
    typer.echo(f"{host} stopped")


@app.command()
@guarded
def start(ctx: typer.Context, host: Annotated[str, typer.Argument(help="Host name.")]) -> None:
    """Boot a stopped (or broken) host again with its files as they were."""
    started = _lab(ctx).start(host)
    typer.echo(f"{host} running (pid {started.pid})")


@app.command()
@guarded
def down(ctx: typer.Context) -> None:
    """Remove every host, namespace, mount, process and file of the lab (idempotent)."""
    report = _lab(ctx).down()
    if not report.hosts and not report.orphan_namespaces and not report.processes_killed:
        typer.echo("no lab to remove")
        return
    typer.echo(f"removed {len(report.hosts)} host{'s' if len(report.hosts) != 1 else ''}")
    if report.orphan_namespaces:
        typer.echo("cleaned what a crashed lab left: " + ", ".join(report.orphan_namespaces))


@app.command()
@guarded
def profiles() -> None:
    """Shipped profiles (any profile file of your own works too: --profile ./mine.yml)."""
    rows = [["NAME", "STEPS", "DESCRIPTION"]]
    for name in shipped_profiles():
        profile = load_profile(name).profile
        description = " ".join(profile.description.split())
        rows.append([profile.name, str(len(profile.steps)), description])
    typer.echo(_table(rows))
