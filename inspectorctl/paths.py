"""Where shipped data and user state live."""

from __future__ import annotations

import os
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """A shipped data folder (``rulepacks``, ``playbooks``, ``ssm_documents``).

    In an installed wheel they sit in ``inspectorctl/_data/``; in a checkout (editable install)
    they are the top-level folders next to the package.
    """
    installed = _PKG / "_data" / name
    if installed.is_dir():
        return installed
    return _PKG.parent / name


def playbook_ids(root: Path) -> set[str]:
    """Remediation ids under a playbooks folder: directories holding a ``playbook.yml``, except
    the internal ones (``_rollback``), which no rule may name."""
    if not root.is_dir():
        return set()
    return {
        p.name
        for p in root.iterdir()
        if p.is_dir() and (p / "playbook.yml").is_file() and not p.name.startswith("_")
    }


def ssm_document_names(root: Path) -> set[str]:
    """SSM document names under a folder: its files ``NAME.json`` or ``NAME.yml``."""
    if not root.is_dir():
        return set()
    return {p.stem for p in root.iterdir() if p.suffix in (".json", ".yml", ".yaml")}


def xdg_data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def default_db_path() -> Path:
    """``--db`` default: ``$INSPECTORCTL_DB``, else ``$XDG_DATA_HOME/inspectorctl/findings.db``."""
    env = os.environ.get("INSPECTORCTL_DB")
    if env:
        return Path(env)
    return xdg_data_home() / "inspectorctl" / "findings.db"
