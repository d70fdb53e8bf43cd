"""The approval key: a 32-byte secret in a file beside the database (or where
``$INSPECTORCTL_APPROVAL_KEY_FILE`` says). It keys the HMAC of every approval record and of
every audit log entry; the database keeps only its id.

The file is created 0600 with the first approval or audit entry. A key path that is not a
regular file (a FIFO, a device, a directory) is refused without blocking on it; a key file that
its group or others can read is reported (``key_file_warnings``) and refused in strict mode:
whoever can read it and write the database can forge approvals and rewrite the audit log.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat
from pathlib import Path

from inspectorctl.errors import InspectorctlError
from inspectorctl.store import meta
from inspectorctl.store.db import Store

KEY_ENV = "INSPECTORCTL_APPROVAL_KEY_FILE"
#: a key file larger than this is not a key file
_MAX_KEY_BYTES = 4096


class ApprovalError(InspectorctlError):
    """Approvals cannot be recorded or verified (key missing, store unusable...)."""


#: the setting (``store/meta.py``) that holds the id of the key approvals were made with
_KEY_ID = "approval_key_id"


def key_path(store: Store) -> Path:
    env = os.environ.get(KEY_ENV)
    return Path(env) if env else Path(str(store.path) + ".key")


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"inspectorctl-approval-key\x00" + key).hexdigest()[:16]


def stored_key_id(store: Store) -> str | None:
    return meta.get(store, _KEY_ID)


def _read_key(path: Path) -> bytes | None:
    """The key file's bytes; None when it does not exist. Never blocks: opened O_NONBLOCK and
    refused unless it is a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ApprovalError(f"cannot read the approval key file {path}: "
                            f"{e.strerror or e}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ApprovalError(
                f"approval key file {path} is not a regular file (a FIFO, device or "
                f"directory); point {KEY_ENV} at the key file itself")
        if st.st_size > _MAX_KEY_BYTES:
            raise ApprovalError(f"approval key file {path} is {st.st_size} bytes: not a key "
                                "file (a key is 32 bytes)")
        try:
            return os.read(fd, _MAX_KEY_BYTES + 1)
        except OSError as e:
            raise ApprovalError(f"cannot read the approval key file {path}: "
                                f"{e.strerror or e}") from e
    finally:
        os.close(fd)


def key_file_warnings(store: Store) -> list[str]:
    """What is unsafe about the key file's permissions (empty: nothing, or no key yet)."""
    path = key_path(store)
    try:
        st = path.stat()
    except OSError:
        return []
    if not stat.S_ISREG(st.st_mode):
        return []  # approval_key refuses it
    out = []
    if st.st_mode & 0o044:
        who = " and ".join(w for bit, w in ((0o040, "its group"), (0o004, "everyone"))
                           if st.st_mode & bit)
        out.append(f"approval key file {path} is readable by {who} (mode "
                   f"{stat.S_IMODE(st.st_mode):04o}): anyone who can read it and write the "
                   f"database can forge approvals; chmod 600 {path}")
    if st.st_mode & 0o022:
        out.append(f"approval key file {path} is writable by others than its owner (mode "
                   f"{stat.S_IMODE(st.st_mode):04o}); chmod 600 {path}")
    return out


def check_key_file(store: Store, *, strict: bool) -> list[str]:
    """The key file's warnings; in strict mode a warning is an error."""
    warnings = key_file_warnings(store)
    if strict and warnings:
        raise ApprovalError(f"{warnings[0]} (refused: --strict)")
    return warnings


def approval_key(store: Store, *, create: bool) -> bytes:
    """The signing key; created (0600) when ``create`` and there is none yet.

    Must be called outside a transaction (creating the key records its id in the store)."""
    path = key_path(store)
    known = stored_key_id(store)
    key = _read_key(path)
    if key is None:
        if known is not None or not create:
            raise ApprovalError(
                f"approval key file {path} is missing, so the approvals and the audit log in "
                f"{store.path} cannot be verified; restore it (or set {KEY_ENV} to where it "
                "is)")
        key = secrets.token_bytes(32)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # FileExistsError too: a dangling symlink or a file is in the way
            raise ApprovalError(f"cannot create the approval key file {path}: "
                                f"{e.strerror or e}") from e
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(key)
        except FileExistsError:
            # another process created it first: use that one
            key = _read_key(path) or b""
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ApprovalError(f"approval key file {path} is a dangling symlink") from e
            raise ApprovalError(f"cannot create the approval key file {path}: "
                                f"{e.strerror or e}") from e
    if len(key) < 32:
        raise ApprovalError(f"approval key file {path} is too short (needs 32 bytes or more)")
    if known is not None and known != key_id(key):
        raise ApprovalError(
            f"approval key file {path} is not the key the approvals in {store.path} were "
            f"signed with; restore the right key file (or set {KEY_ENV} to where it is)")
    if known is None and create:
        meta.set_once(store, _KEY_ID, key_id(key))
    return key
