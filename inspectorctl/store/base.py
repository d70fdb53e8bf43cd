"""The store's connection: opening, pragmas, migrations (``schema.py``), transactions and
error translation. Every repository module of ``inspectorctl.store`` takes a ``Database`` (or,
inside a transaction, the ``sqlite3.Connection`` it yields); ``db.Store`` is the facade
callers open.

One connection per database; WAL; foreign keys on; versioned migrations (``PRAGMA
user_version``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, Self

from inspectorctl.errors import InspectorctlError
from inspectorctl.store.schema import MIGRATIONS


class StoreError(InspectorctlError):
    """The database cannot be opened, is corrupt, locked, or from a newer inspectorctl."""


#: writes the audit entry of a state change, inside the change's own transaction
AuditWrite = Callable[[sqlite3.Connection], None]


class Queryable(Protocol):
    """What a repository function reads with: a ``Database`` (errors become ``StoreError``)
    or the connection a transaction yields."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...


def now() -> datetime:
    return datetime.now(UTC)


def ts(d: datetime | None) -> str | None:
    return d.isoformat() if d is not None else None


def dt(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


def chunks(seq: Sequence[str], n: int) -> list[Sequence[str]]:
    """``seq`` in slices of ``n`` (SQLite's bound-parameter limit); one empty slice for none."""
    return [seq[i:i + n] for i in range(0, len(seq), n)] or [[]]


def marks(values: Sequence[object]) -> str:
    """``?,?,?``: one placeholder per value."""
    return ",".join("?" * len(values))


class Database:
    def __init__(self, path: Path, *, timeout: float = 5.0) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # findings and their evidence describe the fleet's weaknesses: a new database is
            # readable by its owner only (SQLite gives its -wal and -shm files the same mode)
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            self.db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open the database {path}: {e}") from e
        self.db.row_factory = sqlite3.Row
        try:
            self.db.execute("PRAGMA foreign_keys = ON")
            mode = self.db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                self.db.execute("PRAGMA journal_mode = DELETE")
            self.db.execute("PRAGMA synchronous = NORMAL")
            # a run is one transaction of ~220 rows per host: with SQLite's default 2 MB page
            # cache the indexes' pages spill to the WAL and are read back again and again
            self.db.execute("PRAGMA cache_size = -65536")  # KiB: 64 MiB at most, as needed
            self._migrate()
        except sqlite3.DatabaseError as e:
            self.db.close()
            raise StoreError(self._explain(e)) from e

    def _explain(self, e: sqlite3.Error) -> str:
        msg = str(e)
        if "locked" in msg or "busy" in msg:
            return (f"the database {self.path} is locked by another inspectorctl process; "
                    "wait for it to finish or use another --db")
        if "disk is full" in msg or "disk I/O" in msg:
            return (f"cannot write the database {self.path}: {msg} (is its disk full, or a "
                    "file size limit (ulimit -f) set?)")
        if "not a database" in msg or "malformed" in msg or "corrupt" in msg:
            return (f"the database {self.path} is corrupt or not an inspectorctl database "
                    f"({msg}); move it aside or use another --db")
        return f"database error in {self.path}: {msg}"

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the database {self.path} has schema version {version}, newer than this "
                f"inspectorctl knows ({len(MIGRATIONS)}); upgrade inspectorctl"
            )
        for n in range(version, len(MIGRATIONS)):
            with self.transaction():
                MIGRATIONS[n](self.db)
                self.db.execute(f"PRAGMA user_version = {n + 1}")

    def vacuum(self) -> None:
        """Compact the file (after pruning); the WAL is checkpointed into it first."""
        try:
            self.db.execute("VACUUM")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError as e:
            raise StoreError(self._explain(e)) from e

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise StoreError(self._explain(e)) from e
        try:
            yield self.db
        except BaseException:
            self._rollback()
            raise
        else:
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                raise StoreError(self._explain(e)) from e

    def _rollback(self) -> None:
        """Roll back, if SQLite has not already (it does itself after an I/O error such as a
        full disk): the error that stopped the transaction is the one to report."""
        if self.db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Run a query; reading its rows raises ``StoreError`` too (a corrupt page is only
        found when the row on it is read)."""
        try:
            return Rows(self, self.db.execute(sql, params))
        except sqlite3.DatabaseError as e:
            raise StoreError(self._explain(e)) from e


class Rows:
    """A query's rows, read with every database error turned into a ``StoreError``."""

    def __init__(self, store: Database, cursor: sqlite3.Cursor) -> None:
        self._store = store
        self._cursor = cursor

    def fetchone(self) -> Any:
        try:
            return self._cursor.fetchone()
        except sqlite3.DatabaseError as e:
            raise StoreError(self._store._explain(e)) from e

    def fetchall(self) -> list[Any]:
        try:
            return self._cursor.fetchall()
        except sqlite3.DatabaseError as e:
            raise StoreError(self._store._explain(e)) from e

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


