"""The lab's state dir: where everything the lab knows lives (see ``lab.py``'s docstring for its
layout), read and written atomically, under one lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from inspectorctl.lab.errors import LabError, UnknownHostError
from inspectorctl.lab.models import HostRecord, LabRecord

ENV_STATE_DIR = "INSPECTORCTL_LAB_DIR"
DEFAULT_STATE_DIR = Path("/var/lib/inspectorctl/lab")
DEFAULT_NETNS_PREFIX = "ictl-"
#: cp/ + 10 characters + the 17 that ssh appends must fit a Unix socket path (107 bytes)
MAX_STATE_DIR_LENGTH = 75


def default_state_dir() -> Path:
    """``$INSPECTORCTL_LAB_DIR``, else ``/var/lib/inspectorctl/lab``."""
    env = os.environ.get(ENV_STATE_DIR)
    return Path(env) if env else DEFAULT_STATE_DIR


def now() -> datetime:
    return datetime.now(UTC)


def natural(name: str) -> tuple[str | int, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def write_atomic(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, raw)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class LabState:
    """The files of the lab in ``state_dir``: its record, its hosts' records, its SSH key,
    known_hosts and inventory paths, and the lock every change holds."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        #: the parents of the state dir the lab created (removed by ``down`` if left empty)
        self.created_parents: list[str] = []

    @property
    def hosts_dir(self) -> Path:
        return self.state_dir / "hosts"

    @property
    def private_key_path(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def inventory_path(self) -> Path:
        """The inventory file, rewritten by every ``up``/``start``/``stop``."""
        return self.state_dir / "inventory.yml"

    @property
    def control_dir(self) -> Path:
        return self.state_dir / "cp"

    @property
    def lab_file(self) -> Path:
        return self.state_dir / "lab.json"

    def load_lab(self) -> LabRecord | None:
        try:
            return LabRecord.model_validate_json(self.lab_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            raise LabError(
                f"{self.lab_file} is unreadable ({exc}); `lab down` removes it"
            ) from exc

    def save_lab(self, record: LabRecord) -> None:
        write_atomic(self.lab_file, record.model_dump_json(indent=2) + "\n", 0o600)

    def records(self) -> dict[str, HostRecord]:
        records: dict[str, HostRecord] = {}
        if not self.hosts_dir.is_dir():
            return records
        for path in self.hosts_dir.glob("*/host.json"):
            try:
                record = HostRecord.model_validate_json(path.read_text())
            except (OSError, ValidationError):
                continue
            records[record.name] = record
        return records

    def record(self, name: str) -> HostRecord:
        records = self.records()
        if name not in records:
            raise self.unknown(name, records)
        return records[name]

    def unknown(self, name: str, records: dict[str, HostRecord] | None = None) -> UnknownHostError:
        names = sorted(records if records is not None else self.records(), key=natural)
        if not names:
            return UnknownHostError(f"unknown host {name!r}: the lab has no hosts")
        return UnknownHostError(f"unknown host {name!r}; hosts: {', '.join(names)}")

    def save_record(self, record: HostRecord) -> None:
        write_atomic(
            self.hosts_dir / record.name / "host.json",
            record.model_dump_json(indent=2) + "\n",
            0o600,
        )

    def write_known_hosts(self) -> None:
        records = sorted(self.records().values(), key=lambda r: natural(r.name))
        known = "".join(f"{r.name} {r.host_key}\n" for r in records)
        write_atomic(self.known_hosts_path, known, 0o644)

    @contextlib.contextmanager
    def locked(self, create: bool = False) -> Iterator[None]:
        if not self.state_dir.exists():
            if not create:
                yield
                return
            missing = [p for p in (self.state_dir, *self.state_dir.parents) if not p.exists()]
            self.state_dir.mkdir(parents=True, mode=0o700)
            self.created_parents = [str(p) for p in missing[1:]]
        fd = os.open(self.state_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
