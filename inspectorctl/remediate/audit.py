"""The append-only audit log: approvals, refusals, applies, rollbacks.

Rows are only ever inserted: SQLite triggers raise on UPDATE and DELETE (see ``store/schema.py``).
Each row also carries ``digest = "h1:" + HMAC-SHA256(approval key, prev_digest + canonical
row)``: a row edited, inserted or deleted after dropping the triggers breaks the chain, and
without the key (``keys.py``) nobody can recompute it. A gap in the row numbers shows a deleted
row even when the rest of the chain is intact. Cutting rows off the end leaves an intact
chain, so the newest head (row number and digest, HMAC'd) is also written to the key's
companion file (``<key file>.head``) after every append: ``verify`` says the log was
truncated when that row is gone, rewritten when it differs. Rows written before the log was
keyed (plain sha256 digests, inspectorctl before 0.9) are verified as such and reported.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import hmac
import json
import os
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from inspectorctl.models.common import Frozen
from inspectorctl.models.plan import canonical_json, sha256_hex
from inspectorctl.remediate.keys import ApprovalError, approval_key, key_path
from inspectorctl.store import approvals as approval_rows
from inspectorctl.store import audit as audit_rows
from inspectorctl.store.db import Store

GENESIS = "0" * 64


class AuditEvent(enum.StrEnum):
    PLAN = "plan"
    APPROVE = "approve"
    REFUSE = "refuse"
    APPLY_START = "apply_start"
    APPLY_END = "apply_end"
    ROLLBACK_START = "rollback_start"
    ROLLBACK_END = "rollback_end"
    VERIFY = "verify"
    SUPPRESS = "suppress"
    UNSUPPRESS = "unsuppress"
    PRUNE = "prune"
    IGNORE = "ignore"


class AuditEntry(Frozen):
    seq: int
    at: datetime
    event: AuditEvent
    actor: str
    plan_id: str | None = None
    plan_digest: str | None = None
    run_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    prev_digest: str
    digest: str


KEYED = "h1:"


def _row_text(prev: str, at: str, event: str, actor: str, plan_id: str | None,
              plan_digest: str | None, run_id: str | None, detail: str) -> str:
    return prev + canonical_json([at, event, actor, plan_id, plan_digest, run_id, detail])


def _row_digest(prev: str, at: str, event: str, actor: str, plan_id: str | None,
                plan_digest: str | None, run_id: str | None, detail: str) -> str:
    """The unkeyed digest of rows written before the log was keyed."""
    return sha256_hex(_row_text(prev, at, event, actor, plan_id, plan_digest, run_id, detail))


def _keyed_digest(key: bytes, prev: str, at: str, event: str, actor: str,
                  plan_id: str | None, plan_digest: str | None, run_id: str | None,
                  detail: str) -> str:
    text = _row_text(prev, at, event, actor, plan_id, plan_digest, run_id, detail)
    return KEYED + hmac.new(b"inspectorctl-audit\x00" + key, text.encode(),
                            hashlib.sha256).hexdigest()


def chain_key(store: Store) -> bytes:
    """The key the chain is made with (created with the first entry). Call it outside a
    transaction, then pass it to ``append``."""
    return approval_key(store, create=True)


def append(
    db: sqlite3.Connection,
    event: AuditEvent,
    actor: str,
    at: datetime,
    *,
    key: bytes,
    plan_id: str | None = None,
    plan_digest: str | None = None,
    run_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append one entry inside the caller's transaction; call ``note_head`` after it
    commits."""
    last = audit_rows.head(db)
    prev = last[1] if last else GENESIS
    ts = at.isoformat()
    detail_s = canonical_json(dict(detail or {}))
    digest = _keyed_digest(key, prev, ts, event.value, actor, plan_id, plan_digest, run_id,
                           detail_s)
    audit_rows.append(db, at=ts, event=event.value, actor=actor, plan_id=plan_id,
                      plan_digest=plan_digest, run_id=run_id, detail=detail_s,
                      prev_digest=prev, digest=digest)


def record(store: Store, event: AuditEvent, actor: str, at: datetime, **kw: Any) -> None:
    """Append one entry in its own transaction, then note the new head."""
    key = chain_key(store)
    with store.transaction() as db:
        append(db, event, actor, at, key=key, **kw)
    note_head(store, key)


# ------------------------------------------------------------------------------ the head file


def head_path(store: Store) -> Path:
    return Path(str(key_path(store)) + ".head")


def _head_mac(key: bytes, seq: int, digest: str) -> str:
    return hmac.new(b"inspectorctl-audit-head\x00" + key, f"{seq}:{digest}".encode(),
                    hashlib.sha256).hexdigest()


def _read_head(store: Store) -> dict[str, Any] | None:
    try:
        text = head_path(store).read_text(encoding="utf-8")[:4096]
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def note_head(store: Store, key: bytes) -> None:
    """Write the newest row's number and digest (HMAC'd) to the head file, unless it already
    names a later row. Best effort: a head file that cannot be written is reported by
    ``verify``, the append itself stands."""
    last = audit_rows.head(store)
    if last is None:
        return
    seq, digest = last
    old = _read_head(store)
    if old is not None and isinstance(old.get("seq"), int) and old["seq"] >= seq:
        return
    path = head_path(store)
    body = json.dumps({"seq": seq, "digest": digest, "mac": _head_mac(key, seq, digest)})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body + "\n")
        os.replace(tmp, path)
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)


def entries(
    store: Store,
    *,
    plan_digest: str | None = None,
    run_id: str | None = None,
    limit: int | None = None,
) -> list[AuditEntry]:
    rows = audit_rows.rows(store, plan_digest=plan_digest, run_id=run_id)
    if limit is not None:
        rows = rows[-limit:]
    return [
        AuditEntry(seq=r["seq"], at=datetime.fromisoformat(r["at"]), event=AuditEvent(r["event"]),
                   actor=r["actor"], plan_id=r["plan_id"], plan_digest=r["plan_digest"],
                   run_id=r["run_id"], detail=json.loads(r["detail"]),
                   prev_digest=r["prev_digest"], digest=r["digest"])
        for r in rows
    ]


class ProblemKind(enum.StrEnum):
    EDITED = "edited"
    DELETED = "deleted"
    INSERTED = "inserted"
    TRUNCATED = "truncated"
    UNKEYED = "unkeyed"
    UNVERIFIABLE = "unverifiable"


class ChainProblem(Frozen):
    kind: ProblemKind
    seq: int | None
    message: str


class ChainReport(Frozen):
    entries: int
    head_seq: int | None = None
    head_digest: str | None = None
    #: rows written before the log was keyed (verified unkeyed)
    legacy: int = 0
    head_file: str = ""
    problems: list[ChainProblem] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(store: Store) -> ChainReport:
    """Check every row of the log: the keyed chain, the row numbers, and the head file.

    Each problem names the row: ``edited`` (its digest does not match its content),
    ``deleted`` (a gap in the row numbers, or a row whose predecessor is not the row before
    it), ``inserted`` (a row not made with the key), ``truncated`` (the head file names a row
    that is gone), ``unverifiable`` (the key is missing).
    """
    rows = audit_rows.rows(store)
    problems: list[ChainProblem] = []
    notes: list[str] = []
    key: bytes | None = None
    keyed_rows = any(str(r["digest"]).startswith(KEYED) for r in rows)
    hp = head_path(store)
    if rows or hp.exists():
        try:
            key = approval_key(store, create=False)
        except ApprovalError as e:
            if keyed_rows or hp.exists():
                problems.append(ChainProblem(kind=ProblemKind.UNVERIFIABLE, seq=None,
                                             message=str(e)))
    prev, prev_seq, legacy, seen_keyed = GENESIS, 0, 0, False
    for r in rows:
        seq = int(r["seq"])
        if seq != prev_seq + 1:
            gone = (f"entry {prev_seq + 1}" if seq == prev_seq + 2
                    else f"entries {prev_seq + 1}-{seq - 1}")
            problems.append(ChainProblem(kind=ProblemKind.DELETED, seq=seq, message=(
                f"{gone} {'is' if seq == prev_seq + 2 else 'are'} missing before entry {seq}: "
                "deleted from the database")))
        elif r["prev_digest"] != prev:
            problems.append(ChainProblem(kind=ProblemKind.DELETED, seq=seq, message=(
                f"entry {seq} does not follow entry {prev_seq}: an entry between them was "
                "deleted or the rows were renumbered")))
        args = (r["prev_digest"], r["at"], r["event"], r["actor"], r["plan_id"],
                r["plan_digest"], r["run_id"], r["detail"])
        digest = str(r["digest"])
        if digest.startswith(KEYED):
            seen_keyed = True
            if key is not None and not hmac.compare_digest(digest, _keyed_digest(key, *args)):
                problems.append(ChainProblem(kind=ProblemKind.EDITED, seq=seq, message=(
                    f"entry {seq} ({r['event']} by {r['actor']!r}) does not match its keyed "
                    "digest: it was edited, or inserted by someone without the key")))
        elif seen_keyed:
            problems.append(ChainProblem(kind=ProblemKind.INSERTED, seq=seq, message=(
                f"entry {seq} has an unkeyed digest after keyed entries: it was written or "
                "rewritten outside inspectorctl")))
        elif digest != _row_digest(*args):
            problems.append(ChainProblem(kind=ProblemKind.EDITED, seq=seq, message=(
                f"entry {seq} was altered after it was written")))
        else:
            legacy += 1
        prev, prev_seq = digest, seq
    head = _read_head(store)
    if key is not None and rows and head is None:
        notes.append(f"no head file {hp}: a truncation of the log's end cannot be seen "
                     "until the next entry writes it")
    if key is not None and head is not None:
        hseq, hdig = head.get("seq"), head.get("digest")
        if (not isinstance(hseq, int) or not isinstance(hdig, str)
                or not hmac.compare_digest(str(head.get("mac", "")),
                                           _head_mac(key, hseq, hdig))):
            problems.append(ChainProblem(kind=ProblemKind.UNVERIFIABLE, seq=None, message=(
                f"the head file {hp} fails its check: it was edited outside inspectorctl")))
        else:
            by_seq = {int(r["seq"]): str(r["digest"]) for r in rows}
            last = max(by_seq, default=0)
            if hseq > last:
                problems.append(ChainProblem(kind=ProblemKind.TRUNCATED, seq=hseq, message=(
                    f"the log ends at entry {last} but entry {hseq} was written (head file "
                    f"{hp}): entries {last + 1}-{hseq} were cut off the end")))
            elif hseq in by_seq and by_seq[hseq] != hdig:
                problems.append(ChainProblem(kind=ProblemKind.EDITED, seq=hseq, message=(
                    f"entry {hseq} differs from the entry the head file {hp} recorded: the "
                    "log was rewritten from there")))
    # every approval (HMAC'd with the same key) names the log's last entry when it was made
    by_seq_all = {int(r["seq"]): str(r["digest"]) for r in rows}
    last_seq = max(by_seq_all, default=0)
    newest = approval_rows.newest_audit_head(store) if key is not None else None
    if newest is not None:
        a_seq, a_head = newest
        hseq_s, _, hdig = a_head.partition(":")
        aseq = int(hseq_s) if hseq_s.isdigit() else None
        if aseq is not None and aseq > last_seq:
            problems.append(ChainProblem(kind=ProblemKind.TRUNCATED, seq=aseq, message=(
                f"the log ends at entry {last_seq} but approval record {a_seq} was "
                f"made after entry {aseq}: entries {last_seq + 1}-{aseq} or more were cut "
                "off the end")))
        elif aseq is not None and by_seq_all.get(aseq) != hdig:
            problems.append(ChainProblem(kind=ProblemKind.EDITED, seq=aseq, message=(
                f"entry {aseq} differs from the entry approval record {a_seq} "
                "recorded: the log was rewritten from there")))
    if legacy:
        notes.append(f"entries 1-{legacy} predate the keyed chain (plain sha256): someone who "
                     "can write the database could have rewritten them")
    last_row = rows[-1] if rows else None
    return ChainReport(entries=len(rows),
                       head_seq=int(last_row["seq"]) if last_row is not None else None,
                       head_digest=str(last_row["digest"]) if last_row is not None else None,
                       legacy=legacy, head_file=str(hp), problems=problems, notes=notes)


def verify_chain(store: Store) -> str | None:
    """None when the log is intact, else a sentence naming the first problem."""
    report = verify(store)
    return report.problems[0].message if report.problems else None
