"""Assessment templates: a saved, reviewable description of an assessment."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from inspectorctl.models.common import Frozen


class TemplateTargets(Frozen):
    inventory: str | None = None  # relative paths are relative to the template file
    limit: str | None = None
    become: bool = False
    transport: Literal["ansible", "local"] = "ansible"
    forks: int = Field(default=20, ge=1, le=500)


class RuleFilter(Frozen):
    include: list[str] = Field(default_factory=list)  # rule id globs
    exclude: list[str] = Field(default_factory=list)


class AssessmentTemplate(Frozen):
    name: str
    description: str = ""
    targets: TemplateTargets = Field(default_factory=TemplateTargets)
    packs: list[str] = Field(default_factory=lambda: ["cis-linux", "aws-best-practices"])
    rules: RuleFilter = Field(default_factory=RuleFilter)
    framework: str | None = None
    tailoring: dict[str, Any] = Field(default_factory=dict)
    #: cron-like schedule kept for the scheduler (SSM State Manager / systemd timers)
    schedule: str | None = None
    #: filled by the loader
    source: str = ""

    def inventory_path(self) -> Path | None:
        if not self.targets.inventory:
            return None
        p = Path(self.targets.inventory).expanduser()
        if not p.is_absolute() and self.source:
            p = Path(self.source).parent / p
        return p
