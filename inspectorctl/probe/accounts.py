"""The ``accounts`` and ``login_defs`` facts: passwd, shadow (password state only, never a hash),
groups, login.defs."""

import os
from typing import Any, Dict, Iterable, List, Optional, Set

from .context import Fact, Gatherer
from .parsers import _password_state, parse_group, parse_passwd

_NON_LOGIN_SHELLS = frozenset({"nologin", "false", "sync", "shutdown", "halt"})


def parse_login_defs(text: str) -> Dict[str, str]:
    """``/etc/login.defs``: ``NAME value`` per line, ``#`` comments; the last setting wins
    (shadow-utils' getdef reads the whole file). A value in double quotes is unquoted."""
    out: Dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        value = parts[1].strip() if len(parts) > 1 else ""
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        out[parts[0]] = value
    return out


def _int_or_none(value: str) -> Optional[int]:
    try:
        return int(value)
    except ValueError:
        return None


def parse_shadow(text: str) -> Dict[str, Dict[str, Any]]:
    """/etc/shadow, reduced to derived facts: the hash field becomes ``empty``/``locked``/``set``
    and is never kept; ageing fields are integers (None when empty)."""
    out: Dict[str, Dict[str, Any]] = {}
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) < 2:
            continue
        while len(parts) < 9:
            parts.append("")
        out[parts[0]] = {
            "password": _password_state(parts[1]),
            "last_change_days": _int_or_none(parts[2]),
            "min_days": _int_or_none(parts[3]),
            "max_days": _int_or_none(parts[4]),
            "warn_days": _int_or_none(parts[5]),
            "inactive_days": _int_or_none(parts[6]),
        }
    return out


def fact_accounts(g: Gatherer) -> Dict[str, Any]:
    ctx = g.ctx
    passwd = parse_passwd(ctx.read("/etc/passwd"))
    shadow: Dict[str, Dict[str, Any]] = {}
    shadow_readable = False
    try:
        shadow = parse_shadow(ctx.read("/etc/shadow"))
        shadow_readable = True
    except OSError:
        pass
    try:
        groups = parse_group(ctx.read("/etc/group"))
    except OSError:
        groups = []
    uid_min = 1000
    try:
        defs = parse_login_defs(ctx.read("/etc/login.defs"))
        uid_min = int(defs.get("UID_MIN", "1000"))
    except (OSError, ValueError):
        pass
    accounts: List[Dict[str, Any]] = []
    for entry in passwd:
        shell = entry["shell"]
        account: Dict[str, Any] = {
            "name": entry["name"],
            "uid": entry["uid"],
            "gid": entry["gid"],
            "home": entry["home"],
            "shell": shell,
            "login_shell": os.path.basename(shell) not in _NON_LOGIN_SHELLS,
            "password": "unknown",
        }
        sh = shadow.get(entry["name"])
        if entry["password"] != "shadow":
            account["password"] = entry["password"]  # a hash (or nothing) in /etc/passwd
        elif sh is not None:
            account["password"] = sh["password"]
        if sh is not None:
            for key in (
                "last_change_days",
                "min_days",
                "max_days",
                "warn_days",
                "inactive_days",
            ):
                account[key] = sh[key]
        accounts.append(account)
    names = [a["name"] for a in passwd]
    gids = {g["gid"] for g in groups}
    return {
        "accounts": accounts,
        "groups": groups,
        "shadow_readable": shadow_readable,
        "uid_min": uid_min,
        "shadow_only": sorted(set(shadow) - set(names)) if shadow_readable else [],
        "passwd_only": sorted(set(names) - set(shadow)) if shadow_readable else [],
        "missing_groups": sorted({a["gid"] for a in passwd if a["gid"] not in gids})
        if groups
        else [],
        "duplicate_uids": _duplicates(a["uid"] for a in passwd),
        "duplicate_gids": _duplicates(g["gid"] for g in groups),
        "duplicate_names": _duplicates(names),
    }


def fact_login_defs(g: Gatherer) -> Dict[str, str]:
    return parse_login_defs(g.ctx.read("/etc/login.defs"))


def _duplicates(values: Iterable[Any]) -> List[Any]:
    seen: Set[Any] = set()
    dup: List[Any] = []
    for v in values:
        if v in seen and v not in dup:
            dup.append(v)
        seen.add(v)
    return sorted(dup)


ACCOUNTS_FACT = Fact("accounts", fact_accounts)
LOGIN_DEFS_FACT = Fact("login_defs", fact_login_defs)
