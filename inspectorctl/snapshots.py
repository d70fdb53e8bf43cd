"""Saved host snapshots (``collect --out``): the files of a directory, read one at a time
with a size limit; a bad file is an ``InputError`` naming it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from inspectorctl.errors import InputError
from inspectorctl.models.snapshot import HostSnapshot
from inspectorctl.yamlfile import read_text_limited


def iter_snapshots(directory: Path) -> Iterator[HostSnapshot]:
    """Saved snapshots (``*.json``), one at a time; a bad file is an InputError naming it."""
    files = snapshot_files(directory)
    for f in files:
        yield read_snapshot(f)


def snapshot_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory of saved snapshots")
    files = sorted(directory.glob("*.json"))
    if not files:
        raise InputError(f"{directory}: no snapshot files (*.json) in it; create them with "
                         "`inspectorctl collect --out DIR`")
    return files


#: a snapshot of a host with every fact family is ~1 MB
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024


def read_snapshot(f: Path) -> HostSnapshot:
    """One saved snapshot; a bad file is an InputError naming it."""
    text = read_text_limited(f, MAX_SNAPSHOT_BYTES, "snapshot file")  # no FIFO, no 10 GB
    try:
        return HostSnapshot.model_validate_json(text)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{f}: not a valid snapshot: {loc}: {err['msg']}") from e
