"""The remediation catalogue: playbooks and SSM documents shipped with inspectorctl."""

from __future__ import annotations

from pathlib import Path

from inspectorctl.paths import data_dir


def playbooks_root() -> Path:
    return data_dir("playbooks")


def available_playbooks() -> set[str]:
    """Playbook ids: directories of ``playbooks/`` holding a ``playbook.yml``."""
    root = playbooks_root()
    if not root.is_dir():
        return set()
    return {p.parent.name for p in root.glob("*/playbook.yml")}


def available_ssm_documents() -> set[str]:
    """SSM document names: files of ``ssm_documents/`` (``NAME.json`` or ``NAME.yml``)."""
    root = data_dir("ssm_documents")
    if not root.is_dir():
        return set()
    return {p.stem for p in root.iterdir() if p.suffix in (".json", ".yml", ".yaml")}
