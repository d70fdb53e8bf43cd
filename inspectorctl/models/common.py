"""Shared model base and enums."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Immutable value object; unknown fields are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFORMATIONAL = "informational"

    @property
    def rank(self) -> int:
        """Higher is more severe (informational = 0, critical = 4)."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.INFORMATIONAL: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class Status(enum.StrEnum):
    """Outcome of one rule on one host."""

    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"
    NOT_APPLICABLE = "NOT_APPLICABLE"
