"""Advisory records as every importer normalises them, and match results."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import Field

from inspectorctl.errors import InputError, InspectorctlError
from inspectorctl.models.common import Frozen


class VulnError(InspectorctlError):
    """Base of the advisory database's errors (cannot open, corrupt, newer schema)."""


class AdvisoryInputError(InputError):
    """Advisory data that cannot be imported: what, where, and why."""


class SourceKind(enum.StrEnum):
    OSV = "osv"
    DEBIAN_TRACKER = "debian-tracker"
    ALAS = "alas"
    ALPINE_SECDB = "alpine-secdb"
    KEV = "kev"


class TrackerState(enum.StrEnum):
    """What the distribution says about a package, before it is compared with a version.

    ``RANGES`` means "look at the ranges"; the others are the Debian tracker's distinct
    no-fix states, kept apart (OSV folds them all into ``introduced 0`` with no fix)."""

    RANGES = "ranges"
    UNFIXED = "unfixed"  # <unfixed>: no fix yet
    POSTPONED = "postponed"  # no-dsa, postponed: a fix will come in a later update
    NO_DSA = "no-dsa"  # minor issue, no security advisory planned
    IGNORED = "ignored"  # no-dsa, ignored: will not be fixed in this release
    END_OF_LIFE = "end-of-life"  # the release no longer supports this package
    UNIMPORTANT = "unimportant"
    NOT_AFFECTED = "not-affected"


class RangeType(enum.StrEnum):
    ECOSYSTEM = "ECOSYSTEM"
    SEMVER = "SEMVER"


class Event(Frozen):
    introduced: str | None = None
    fixed: str | None = None
    last_affected: str | None = None
    limit: str | None = None


class Range(Frozen):
    type: RangeType
    events: tuple[Event, ...]


class Affected(Frozen):
    """One package of one ecosystem named by a vulnerability record."""

    ecosystem: str  # "Debian:12", "Alpine:v3.19", "Amazon Linux:2", "PyPI"...
    package: str
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    state: TrackerState = TrackerState.RANGES
    #: the tracker's reason (no-dsa text), or the urgency when that is what carries meaning
    reason: str | None = None
    urgency: str | None = None


class Reference(Frozen):
    type: str
    url: str


class Vulnerability(Frozen):
    """One vulnerability record as a source publishes it (OSV-shaped)."""

    id: str
    source: str  # the source name it was imported under
    modified: datetime
    published: datetime | None = None
    aliases: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    summary: str | None = None
    details: str | None = None
    #: CVSS vectors as the record gives them ("CVSS:3.1/AV:N/...")
    cvss_vectors: tuple[str, ...] = ()
    #: the vendor's own severity word ("important", "medium"...) when there is one
    vendor_severity: str | None = None
    references: tuple[Reference, ...] = ()
    affected: tuple[Affected, ...] = ()


class KevEntry(Frozen):
    cve: str
    date_added: str
    name: str | None = None
    ransomware: str | None = None
    due_date: str | None = None


class SourceInfo(Frozen):
    name: str
    kind: SourceKind
    origin: str
    imported_at: datetime
    #: the newest record's modified/issued date, i.e. how current the data itself is
    newest_record: datetime | None = None
    records: int = 0


class ImportStats(Frozen):
    source: str
    kind: SourceKind
    origin: str
    read: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    skipped: dict[str, int] = Field(default_factory=dict)
    seconds: float = 0.0
