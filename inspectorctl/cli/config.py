"""The configuration file in the CLI: options' defaults, and ``config show``.

The root command reads the configuration (:func:`inspectorctl.config.load`) before any command
runs and turns its values into the commands' option defaults through Click's ``default_map``:
a value given on the command line wins, then ``INSPECTORCTL_*``, then the file, then the
built-in default. Tailoring is merged instead (file or variable, then a template's, then
``--set``), and a ``--template`` decides the selection and the targets it describes: the
configured packs, inventory, become and forks apply only without one.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from typer._click.core import Command, Context, ParameterSource
from typer._click.globals import get_current_context
from typer.core import TyperGroup

from inspectorctl import config as cfgmod
from inspectorctl.cli._common import console, guarded
from inspectorctl.errors import InputError
from inspectorctl.paths import xdg_data_home
from inspectorctl.report.jsondoc import dumps, envelope
from inspectorctl.rules.loader import DEFAULT_PACKS

META_KEY = "inspectorctl.config"

#: top-level commands whose selection and targets the configuration sets: option -> commands
SCOPED: dict[str, tuple[str, frozenset[str]]] = {
    "inventory": ("inventory", frozenset({"assess", "collect", "remediate"})),
    "packs": ("pack", frozenset({"assess", "collect", "remediate"})),
    "become": ("become", frozenset({"assess", "collect", "remediate"})),
    "forks": ("forks", frozenset({"assess", "collect"})),
    "fail_on": ("fail_on", frozenset({"assess"})),
}
#: keys that apply to every command with that option
EVERYWHERE: dict[str, str] = {"db": "db", "ignore_file": "ignore_file"}

#: options a --template decides when given (the configured value does not apply)
TEMPLATE_DECIDES = ("pack", "inventory", "become", "forks")


def _format_names(param: Any) -> tuple[str, ...]:
    """The formats a ``--format`` option takes (its enum's values, or its ``[a|b]`` metavar;
    Typer keeps Click of its own: ``typer._click``)."""
    described = getattr(param, "type_descriptor", None)
    annotation = getattr(described, "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return tuple(str(m.value) for m in annotation)
    metavar = getattr(param, "metavar", None) or ""
    if metavar.startswith("[") and metavar.endswith("]"):
        return tuple(metavar[1:-1].split("|"))
    return ()


def _as_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "value"):  # an enum: its value, as on the command line
        return value.value
    return value


def command_defaults(cmd_path: tuple[str, ...], command: Command,
                     cfg: cfgmod.Config) -> dict[str, Any]:
    """The option defaults the configuration gives one command."""
    out: dict[str, Any] = {}
    names = {p.name for p in command.params}
    for key, option in EVERYWHERE.items():
        if option in names and cfg.get(key) is not None:
            out[option] = _as_default(cfg.get(key))
    for key, (option, commands) in SCOPED.items():
        if (len(cmd_path) == 1 and cmd_path[0] in commands and option in names
                and cfg.get(key) is not None):
            out[option] = _as_default(cfg.get(key))
    fmt = cfg.get("format")
    if fmt is not None:
        for p in command.params:
            if p.name == "fmt" and fmt in _format_names(p):
                out["fmt"] = fmt
    return out


def default_map(ctx: Context, group: Command, cfg: cfgmod.Config,
                cmd_path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Click's ``default_map`` for every command under ``group``."""
    out: dict[str, Any] = command_defaults(cmd_path, group, cfg) if cmd_path else {}
    if isinstance(group, TyperGroup):
        for name in group.list_commands(ctx):
            sub = group.get_command(ctx, name)
            if sub is None:  # pragma: no cover - listed commands exist
                continue
            sub_map = default_map(ctx, sub, cfg, (*cmd_path, name))
            if sub_map:
                out[name] = sub_map
    return out


def install(ctx: Context, explicit: Path | None) -> cfgmod.Config:
    """Read the configuration (InputError when it is bad) and make it the defaults."""
    cfg = cfgmod.load(explicit)
    ctx.meta[META_KEY] = cfg
    ctx.default_map = default_map(ctx, ctx.command, cfg)
    return cfg


def current() -> cfgmod.Config | None:
    ctx = get_current_context(silent=True)
    if ctx is None:
        return None
    found = ctx.meta.get(META_KEY)
    return found if isinstance(found, cfgmod.Config) else None


def config_tailoring() -> dict[str, str]:
    cfg = current()
    value = cfg.get("tailoring") if cfg is not None else None
    return dict(value) if value else {}


def from_configuration(option: str) -> bool:
    """Whether the running command's ``option`` got its value from the configuration."""
    ctx = get_current_context(silent=True)
    return ctx is not None and ctx.get_parameter_source(option) is ParameterSource.DEFAULT_MAP


def unless_template(template: Path | None, **values: Any) -> dict[str, Any]:
    """``values`` with those the configuration gave set to None when a template is used: the
    template says which packs and targets, the command line may still override it."""
    if template is None:
        return values
    return {k: (None if from_configuration(k) else v) for k, v in values.items()}


# ----------------------------------------------------------------------------- config show

def builtin_defaults() -> dict[str, Any]:
    from inspectorctl.ignorefile import DEFAULT_NAME

    return {
        "inventory": None,
        "db": str(xdg_data_home() / "inspectorctl" / "findings.db"),
        "packs": list(DEFAULT_PACKS),
        "tailoring": {},
        "format": "table",
        "fail_on": None,
        "become": False,
        "forks": 20,
        "ignore_file": f"{DEFAULT_NAME} (in the working directory, if there is one)",
    }


FILE_SOURCES = {"flag": "--config", "env": f"${cfgmod.ENV_FILE}",
                "cwd": "working directory", "user": "user config dir", "none": "none found"}


def shown(cfg: cfgmod.Config) -> cfgmod.ShownConfig:
    defaults = builtin_defaults()
    rows = []
    for key in cfgmod.KEYS:
        v = cfg.values.get(key.name)
        value = _as_default(v.value) if v is not None else defaults[key.name]
        rows.append(cfgmod.ShownValue(key=key.name, value=value,
                                      source=v.source if v is not None else "default",
                                      env=key.env, help=key.help))
    return cfgmod.ShownConfig(file=str(cfg.path) if cfg.path is not None else None,
                              file_source=cfg.path_source, values=rows)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    return json.dumps(value)


app = typer.Typer(help="The configuration file (inspectorctl.toml).", no_args_is_help=True)


@app.command("show")
@guarded
def config_show(
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="[table|json]",
                                     help="Output format: table, json.")] = "table",
) -> None:
    """Print every effective setting and where it came from (flag, env, file:LINE, default)."""
    if fmt not in ("table", "json"):
        raise InputError(f"config show does not write --format {fmt}; it supports: table, json")
    cfg = current()
    if cfg is None:  # pragma: no cover - the root command always installs it
        cfg = cfgmod.load()
    doc = shown(cfg)
    if fmt == "json":
        typer.echo(dumps(envelope("config", doc.model_dump(mode="json"))))
        return
    where = f"{doc.file} ({FILE_SOURCES[doc.file_source]})" if doc.file else "none found"
    console.print(f"Configuration file: {where}", highlight=False)
    table = Table("Key", "Value", "Source", "Variable", box=None, highlight=False)
    for row in doc.values:
        table.add_row(row.key, _cell(row.value), row.source, row.env)
    console.print(table)
