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
from inspectorctl.lab.ssm import EndpointInfo, read_endpoint, start_endpoint, stop_endpoint

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
    ssm: Annotated[
        bool,
        typer.Option("--ssm", help="Also serve the lab's SSM endpoint (see `lab ssm start`)."),
    ] = False,
) -> None:
    """Add hosts to the lab; returns when every new host answers SSH."""
    lab = _lab(ctx)
    added = lab.up(hosts, profile or ["baseline"], name)
    typer.echo(_hosts_table(added))
    typer.echo(f"inventory: {lab.inventory_path}")
    if ssm:
        info, _ = start_endpoint(lab.state_dir)
        typer.echo(_endpoint_text(info))


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
    command: Annotated[list[str], typer.Argument(help="Command and arguments (after --).")],
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


# --- lab ssm ---------------------------------------------------------------------------------

ssm_app = typer.Typer(
    help="The lab's SSM endpoint: lab hosts as SSM managed instances, reached with boto3 or "
    "the AWS CLI through --endpoint-url (see README: The lab speaks SSM).",
    no_args_is_help=True,
)
app.add_typer(ssm_app, name="ssm")


def _endpoint_text(info: EndpointInfo) -> str:
    lines = [
        f"SSM endpoint: {info.url} (region {info.region}, pid {info.pid})",
        f"S3 endpoint:  {info.s3_url}",
    ]
    if info.simulate:
        lines.append(f"instances:    {info.simulate} simulated")
    lines.append("environment for boto3 and the AWS CLI (any credentials are accepted):")
    lines += [f"  export {k}={v}" for k, v in info.env().items()]
    return "\n".join(lines)


@ssm_app.command("start")
@guarded
def ssm_start(
    ctx: typer.Context,
    simulate: Annotated[
        int,
        typer.Option(
            "--simulate",
            help="Serve N simulated instances (canned output, no hosts) instead of the lab's "
            "hosts.",
            show_default=False,
        ),
    ] = 0,
    simulate_output: Annotated[
        Path | None,
        typer.Option(
            "--simulate-output",
            help="File whose text every simulated runShellScript step prints (e.g. a probe "
            "snapshot).",
        ),
    ] = None,
    simulate_delay: Annotated[
        float,
        typer.Option("--simulate-delay", help="Seconds a simulated step takes."),
    ] = 1.0,
) -> None:
    """Serve the SSM endpoint and its S3 storage on 127.0.0.1 (free ports)."""
    lab = _lab(ctx)
    info, started = start_endpoint(
        lab.state_dir,
        simulate=simulate,
        simulate_output=simulate_output,
        simulate_delay=simulate_delay,
    )
    if not started:
        typer.echo("already running")
    typer.echo(_endpoint_text(info))
    if not simulate and not lab.status():
        typer.echo(
            "no lab hosts yet: `inspectorctl lab up` adds some, and they are managed instances "
            "at once"
        )


@ssm_app.command("stop")
@guarded
def ssm_stop(ctx: typer.Context) -> None:
    """Stop the SSM endpoint (its commands, documents and S3 objects are gone with it)."""
    info = stop_endpoint(_lab(ctx).state_dir)
    typer.echo("SSM endpoint not running" if info is None else f"stopped {info.url}")


@ssm_app.command("status")
@guarded
def ssm_status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Where the SSM endpoint listens, and the environment that points boto3 at it."""
    info = read_endpoint(_lab(ctx).state_dir)
    if info is None:
        if as_json:
            typer.echo(json.dumps({"running": False}))
        else:
            typer.echo("SSM endpoint not running (start it with `inspectorctl lab ssm start`)")
        raise typer.Exit(3)
    if as_json:
        typer.echo(json.dumps({"running": True, "url": info.url, "s3_url": info.s3_url,
                               "region": info.region, "pid": info.pid,
                               "simulate": info.simulate, "env": info.env()}, indent=2))
    else:
        typer.echo(_endpoint_text(info))
