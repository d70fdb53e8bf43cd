"""Shared model base and enums."""

from __future__ import annotations

import enum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

M = TypeVar("M", bound=BaseModel)


class Frozen(BaseModel):
    """Immutable value object; unknown fields are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def trusted(cls: type[M], values: dict[str, Any]) -> M:
    """Build a model from values the program itself made valid, without validation.

    For hot paths only (one result per rule per host): the same object ``model_construct``
    gives, at a fraction of its cost. ``values`` must name every field.
    """
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


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
