"""Signed approvals: an approver signs what they approve with their own SSH key.

The HMAC of approval records proves only that someone with the shared key file wrote them.
A signed approval does not depend on that secret: ``approve --sign-with KEY`` runs
``ssh-keygen -Y sign -n inspectorctl-approval@v1`` over a statement of exactly what is approved
(plan id, plan digest, approver, actions, expiry), and the gate checks the signature with
``ssh-keygen -Y verify`` against an allowed-signers file (the format git and OpenSSH use:
``alice@example.org ssh-ed25519 AAAA...``): the signer must be listed there under the
approver's name. A policy with ``require_signed: true`` counts only such approvals.
"""

from __future__ import annotations

import base64
import binascii
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from inspectorctl.errors import InputError, InspectorctlError
from inspectorctl.models.common import Frozen
from inspectorctl.textsafe import one_line
from inspectorctl.yamlfile import read_text_limited

NAMESPACE = "inspectorctl-approval@v1"
#: an allowed-signers file is a short list of people
MAX_SIGNERS_BYTES = 1024 * 1024
_TIMEOUT = 30

KEY_TYPES = frozenset((
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-ed25519-cert-v01@openssh.com", "ssh-rsa-cert-v01@openssh.com",
))
_OPTION = re.compile(r'^[A-Za-z-]+(="[^"\n]*")?$')


class SigningError(InspectorctlError):
    """ssh-keygen is missing, or could not sign."""


class AllowedSignersError(InputError):
    """An allowed-signers file is malformed."""


class AllowedSigner(Frozen):
    line: int
    principals: tuple[str, ...]
    options: tuple[str, ...]
    key_type: str
    key: str


def statement(plan_id: str, plan_digest: str, approver: str, action_ids: Sequence[str],
              expires_at: datetime) -> bytes:
    """What the approver signs: exactly what the approval grants."""
    return (f"inspectorctl approval v1\nplan {plan_id}\ndigest {plan_digest}\n"
            f"approver {approver}\nactions {','.join(sorted(action_ids))}\n"
            f"expires {expires_at.isoformat()}\n").encode()


def _split_options(rest: str) -> tuple[str, str]:
    """The options field (may hold quoted spaces) and what follows it."""
    in_quote = False
    for i, ch in enumerate(rest):
        if ch == '"':
            in_quote = not in_quote
        elif ch in " \t" and not in_quote:
            return rest[:i], rest[i:].strip()
    if in_quote:
        raise ValueError("an option's quote is not closed")
    return rest, ""


def parse_allowed_signers(path: Path) -> list[AllowedSigner]:
    """Read and check an allowed-signers file (``principals [options] keytype key
    [comment]`` per line, ``#`` comments), so a mistake is one error naming its line rather
    than a signature silently failing to verify."""
    text = read_text_limited(path, MAX_SIGNERS_BYTES, "allowed-signers file")
    out: list[AllowedSigner] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            out.append(_parse_line(n, line))
        except ValueError as e:
            raise AllowedSignersError(f"{path}:{n}: {e} (expected 'NAME [OPTIONS] KEYTYPE "
                                      "KEY', e.g. 'alice ssh-ed25519 AAAAC3...')") from e
    if not out:
        raise AllowedSignersError(f"{path}: lists no signer")
    return out


def _parse_line(n: int, line: str) -> AllowedSigner:
    if any(ord(c) < 0x20 and c != "\t" for c in line) or "\x7f" in line:
        raise ValueError("control characters in the line")
    principals_s, _, rest = line.partition(" ")
    rest = rest.strip()
    if not principals_s or not rest:
        raise ValueError("too few fields")
    principals = tuple(p for p in principals_s.split(",") if p)
    if not principals or len(principals) != principals_s.count(",") + 1:
        raise ValueError(f"bad principal list {one_line(principals_s)!r}")
    first, _, after = rest.partition(" ")
    options: tuple[str, ...] = ()
    if first not in KEY_TYPES:
        opts, rest = _split_options(rest)
        options = tuple(opts.split(","))
        for o in options:
            if not _OPTION.match(o):
                raise ValueError(f"bad option {one_line(o)!r}")
        first, _, after = rest.partition(" ")
    if first not in KEY_TYPES:
        raise ValueError(f"unknown key type {one_line(first)!r}")
    key = after.strip().split(" ", 1)[0] if after.strip() else ""
    if not key:
        raise ValueError("the key is missing")
    try:
        blob = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError("the key is not base64") from e
    want = first.encode()
    if len(blob) < 4 + len(want) or blob[4:4 + len(want)] != want:
        raise ValueError(f"the key is not a {first} key")
    return AllowedSigner(line=n, principals=principals, options=options, key_type=first,
                         key=key)


def _ssh_keygen() -> str:
    exe = shutil.which("ssh-keygen")
    if exe is None:
        raise SigningError("ssh-keygen not found: install openssh-client to sign or verify "
                           "approvals")
    return exe


def sign(private_key: Path, message: bytes) -> str:
    """The armored SSH signature of ``message`` in our namespace."""
    if not private_key.is_file():
        raise InputError(f"--sign-with {private_key}: no such key file")
    try:
        proc = subprocess.run(
            [_ssh_keygen(), "-Y", "sign", "-q", "-f", str(private_key), "-n", NAMESPACE],
            input=message, capture_output=True, timeout=_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as e:
        raise SigningError(f"ssh-keygen did not sign within {_TIMEOUT} s (a passphrase "
                           "prompt? load the key into ssh-agent)") from e
    if proc.returncode != 0 or b"BEGIN SSH SIGNATURE" not in proc.stdout:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise SigningError(f"ssh-keygen could not sign with {private_key}: "
                           f"{one_line(err[-1] if err else 'no signature')}")
    return proc.stdout.decode()


def verify(allowed_signers: Path, principal: str, message: bytes, signature: str) -> str | None:
    """None when ``signature`` is ``principal``'s (per the allowed-signers file) over
    ``message`` in our namespace; else why not."""
    if not signature:
        return "not signed"
    parse_allowed_signers(allowed_signers)
    with tempfile.TemporaryDirectory(prefix="inspectorctl-verify-") as tmp:
        sig = Path(tmp) / "approval.sig"
        sig.write_text(signature)
        try:
            proc = subprocess.run(
                [_ssh_keygen(), "-Y", "verify", "-f", str(allowed_signers), "-I", principal,
                 "-n", NAMESPACE, "-s", str(sig)],
                input=message, capture_output=True, timeout=_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            return f"ssh-keygen did not verify within {_TIMEOUT} s"
    if proc.returncode == 0:
        return None
    err = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
    return (f"signature does not verify as {principal!r} in {allowed_signers}: "
            f"{one_line(err[-1] if err else 'rejected')}")
