"""The ``sshd`` fact: the effective configuration ``sshd -T`` reports, and each ``Match`` block
as sshd itself applies it to a connection the probe builds to select the block."""

import fnmatch
import re
import shlex
from typing import Any, Dict, List, Optional, Tuple

from .context import Fact, Gatherer, _Background, _which


def parse_sshd_t(text: str) -> Dict[str, List[str]]:
    """``sshd -T`` output: ``keyword value`` per line; keywords lower-cased; a keyword given on
    several lines (``hostkey``, ``listenaddress``, ``port``, ``subsystem``...) keeps every value in
    order."""
    config: Dict[str, List[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        parts = line.split(None, 1)
        key = parts[0].lower()
        value = parts[1].strip() if len(parts) > 1 else ""
        config.setdefault(key, []).append(value)
    return config


#: Match blocks the probe evaluates with ``sshd -T -C`` (one sshd run each)
MAX_SSHD_MATCH_BLOCKS = 16


_SSHD_SYNTAX = re.compile(r"checking syntax for 'Match (.*)'\s*$")


_SSHD_CHECKING = re.compile(r"checking match for '(.*)' user \S+ host ")


_SSHD_NEEDS_LPORT = "'lport' not in connection test specification"


_SSHD_VERDICT = re.compile(r"(?:^|\s)match (found|not found)\s*$")


def sshd_match_blocks(debug: str) -> List[str]:
    """The criteria of every ``Match`` block (``Address 10.0.0.0/8``), in the order sshd reads
    them, from the stderr of ``sshd -T -ddd`` (it checks each block's syntax when it loads)."""
    return [m.group(1).strip() for m in map(_SSHD_SYNTAX.search, debug.splitlines()) if m]


def sshd_block_selected(debug: str, criteria: str, occurrence: int) -> Optional[bool]:
    """Whether the ``occurrence``-th (0-based) block with these criteria selected the
    connection of an ``sshd -T -C ... -ddd`` run, from its stderr; None when sshd did not
    evaluate that block (e.g. inside an Include of a Match block that did not apply)."""
    seen = -1
    pending = False
    for line in debug.splitlines():
        m = _SSHD_CHECKING.search(line)
        if m:
            pending = False
            if m.group(1).strip() == criteria:
                seen += 1
                pending = seen == occurrence
            continue
        v = _SSHD_VERDICT.search(line)
        if v and pending:
            return v.group(1) == "found"
    return None


def _first_positive(patterns: List[str]) -> Optional[str]:
    for pattern in patterns:
        if pattern and not pattern.startswith("!"):
            return pattern
    return None


def _negated(patterns: List[str]) -> List[str]:
    return [p[1:] for p in patterns if p.startswith("!")]


def _address_for(patterns: List[str]) -> Optional[str]:
    """An address the pattern list selects: a CIDR's network address, wildcards filled."""
    import ipaddress

    positive = _first_positive(patterns)
    if positive is None:
        candidates = ["192.0.2.1", "2001:db8::1"]  # documentation addresses
    elif "/" in positive:
        try:
            candidates = [str(ipaddress.ip_network(positive, strict=False).network_address)]
        except ValueError:
            return None
    else:
        candidates = [positive.replace("*", "1").replace("?", "1")]
    for candidate in candidates:
        refused = False
        for neg in _negated(patterns):
            try:
                if "/" in neg:
                    inside = ipaddress.ip_address(candidate) in ipaddress.ip_network(
                        neg, strict=False)
                else:
                    inside = fnmatch.fnmatchcase(candidate, neg)
            except ValueError:
                inside = fnmatch.fnmatchcase(candidate, neg)
            refused = refused or inside
        if not refused:
            return candidate
    return None


def _name_for(patterns: List[str]) -> Optional[str]:
    """A name the pattern list selects (wildcards filled), not one of its negations."""
    positive = _first_positive(patterns)
    candidate = "inspectorctl-probe" if positive is None else (
        positive.replace("*", "x").replace("?", "x"))
    if any(fnmatch.fnmatchcase(candidate, neg) for neg in _negated(patterns)):
        return None
    return candidate


def _sshd_criteria(criteria: str) -> List[Tuple[str, Optional[List[str]]]]:
    """``Match`` criteria as (lower-case keyword, pattern list or None for a bare keyword)."""
    try:
        words = shlex.split(criteria)
    except ValueError:
        words = criteria.split()
    pairs: List[Tuple[str, Optional[List[str]]]] = []
    i = 0
    while i < len(words):
        word = words[i].lower()
        if word == "all" or i + 1 >= len(words):
            pairs.append((word, None))
            i += 1
        else:
            pairs.append((word, words[i + 1].split(",")))
            i += 2
    return pairs


def _selects(patterns: List[str], value: str) -> bool:
    """sshd's pattern-list match: a matching negation refuses, else any positive match."""
    positive = False
    for pattern in patterns:
        if pattern.startswith("!"):
            if fnmatch.fnmatchcase(value, pattern[1:]):
                return False
        elif fnmatch.fnmatchcase(value, pattern):
            positive = True
    return positive


def sshd_block_inert(criteria: str) -> Optional[str]:
    """Why a ``Match`` block selects no connection at all, or None. sshd selects a connection
    only on a positive match (OpenSSH's match_pattern_list: a negation can refuse, never
    select), so a criterion whose list holds nothing but negations never matches and the
    block never applies, e.g. ``Match Address !10.0.0.0/8``."""
    for word, patterns in _sshd_criteria(criteria):
        if patterns and _first_positive(patterns) is None and any(
                p.startswith("!") for p in patterns):
            return ("the %s list '%s' has only negated patterns: sshd never selects a "
                    "connection with it, so the block never applies" % (word, ",".join(patterns)))
    return None


def sshd_unselected_port(blocks: List[str]) -> Optional[str]:
    """A local port no ``Match LocalPort`` block selects, or None when there is no such block
    (or every candidate is selected). sshd -T refuses to print anything for a config with
    ``Match LocalPort`` unless the connection names a port: with this one, it prints what a
    connection no LocalPort block selects gets."""
    lists = [patterns for criteria in blocks for word, patterns in _sshd_criteria(criteria)
             if word == "localport" and patterns]
    if not lists:
        return None
    for candidate in ("22", "65535", "65534", "1", "2"):
        if not any(_selects(patterns, candidate) for patterns in lists):
            return candidate
    return None


def sshd_match_connection(
    criteria: str, passwd: List[Dict[str, Any]], groups: List[Dict[str, Any]]
) -> Tuple[Optional[str], Optional[str]]:
    """An ``sshd -T -C`` connection spec (``user=...,addr=...``) that a Match block's criteria
    select, or ``(None, reason)``. Wildcards are filled, a CIDR gives its network address, a
    Group needs an account in it."""
    spec: List[Tuple[str, str]] = []
    user_patterns: Optional[List[str]] = None
    group_patterns: Optional[List[str]] = None
    for word, patterns in _sshd_criteria(criteria):
        if word == "all":
            continue
        if patterns is None:
            return None, "criterion %r has no value" % word
        if word == "user":
            user_patterns = patterns
        elif word == "group":
            group_patterns = patterns
        elif word in ("host", "rdomain"):
            name = _name_for(patterns)
            if name is None:
                return None, "no %s is selected by %r" % (word, ",".join(patterns))
            spec.append((word, name))
        elif word in ("address", "localaddress"):
            address = _address_for(patterns)
            if address is None:
                return None, "no address is selected by %r" % ",".join(patterns)
            spec.append(("addr" if word == "address" else "laddr", address))
        elif word == "localport":
            port = _first_positive(patterns)
            if port is None or not port.isdigit():
                return None, "no port is selected by %r" % ",".join(patterns)
            spec.append(("lport", port))
        else:
            return None, "criterion %r is not one the probe can build a connection for" % word
    user: Optional[str] = None
    if group_patterns is not None:
        wanted = [g for g in group_patterns if g and not g.startswith("!")]
        members: List[str] = []
        for g in groups:
            if any(fnmatch.fnmatchcase(g["name"], w) for w in wanted):
                members.extend(g["members"])
                members.extend(a["name"] for a in passwd if a["gid"] == g["gid"])
        if user_patterns is not None:
            members = [m for m in members if _selects(user_patterns, m)]
        if not members:
            return None, "no account is in group %s%s" % (",".join(group_patterns), (
                " and matches user %s" % ",".join(user_patterns)) if user_patterns else "")
        user = members[0]
    elif user_patterns is not None:
        user = _name_for(user_patterns)
        if user is None:
            return None, "no user is selected by %r" % ",".join(user_patterns)
    # a block that says nothing of the user is read for root, the account that matters most
    spec.insert(0, ("user", "root" if user is None else user))
    return ",".join("%s=%s" % kv for kv in spec), None


def _without_debug(job: "_Background") -> str:
    """Why a ``-ddd`` run failed, without its ``debugN:`` lines."""
    return job.failure(skip=r"debug\d: ")


def fact_sshd(g: Gatherer) -> Dict[str, Any]:
    """``sshd -T`` (started in the background): the global effective configuration, i.e.
    what applies to a connection no ``Match`` block selects. Each Match block (sshd names
    them in its debug output) is then read as sshd itself applies it: the probe builds a
    connection the block selects and runs ``sshd -T -C CONNECTION``, checking in sshd's
    debug output that the block did select it; a block it cannot evaluate says why. When
    ``sshd -T`` fails (not root, no host keys, missing /run/sshd) its message is the error
    and ``config`` stays empty: nothing is derived from sshd_config by guesswork."""
    job = g.bg.get("sshd")
    if job is None:
        return {"installed": False, "config": {}, "error": None, "matches": []}
    sshd = job.argv[0]
    job.wait()
    debug = g.bg["sshd_debug"].wait()
    private_run = False
    if job.returncode not in (None, 0) and "privilege separation directory" in job.stderr:
        retry = _sshd_with_private_run(g, job.argv)
        if retry is not None and "privilege separation directory" not in retry.stderr:
            job, private_run = retry, True
            debug = _sshd_with_private_run(g, debug.argv) or debug
    base: Optional[str] = None
    if job.returncode not in (None, 0) and _SSHD_NEEDS_LPORT in job.stderr:
        # a config with Match LocalPort: sshd -T needs a port, one no such block selects
        port = sshd_unselected_port(sshd_match_blocks(debug.stderr))
        if port is not None:
            base = "lport=" + port
            job = _sshd_run(g, [sshd, "-T", "-C", base], private_run)
            debug = _sshd_run(g, [sshd, "-T", "-ddd", "-C", base], private_run)
    if job.error or job.returncode != 0:
        reason = job.failure()
        if g.ctx.euid != 0:
            reason += " (not root)"
        return {"installed": True, "config": {}, "error": reason, "matches": []}
    matches: List[Dict[str, Any]] = []
    if debug.error or debug.returncode != 0:
        matches.append({"criteria": "(unknown)", "connection": None, "config": {},
                        "error": "sshd -T -ddd failed, so its Match blocks are unknown: "
                        + _without_debug(debug)})
    else:
        matches = _sshd_matches(g, sshd, debug.stderr, private_run, base)
    return {
        "installed": True,
        "config": parse_sshd_t(job.stdout),
        "error": None,
        "matches": matches,
    }


def _sshd_run(g: Gatherer, argv: List[str], private_run: bool) -> "_Background":
    run = _sshd_with_private_run(g, argv) if private_run else None
    return run if run is not None else _Background(argv, 20).wait()


def _sshd_matches(
    g: Gatherer, sshd: str, debug: str, private_run: bool, base: Optional[str]
) -> List[Dict[str, Any]]:
    matches: List[Dict[str, Any]] = []
    occurrences: Dict[str, int] = {}
    for n, criteria in enumerate(sshd_match_blocks(debug)):
        occurrence = occurrences.get(criteria, 0)
        occurrences[criteria] = occurrence + 1
        entry: Dict[str, Any] = {"criteria": criteria, "connection": None, "config": {},
                 "error": None, "inert": None}
        matches.append(entry)
        inert = sshd_block_inert(criteria)
        if inert is not None:
            entry["inert"] = inert
            continue
        if n >= MAX_SSHD_MATCH_BLOCKS:
            entry["error"] = "not evaluated: more than %d Match blocks" % (
                MAX_SSHD_MATCH_BLOCKS)
            continue
        spec, why = sshd_match_connection(criteria, g.ctx.passwd(), g.ctx.groups())
        if spec is None:
            entry["error"] = "cannot build a connection this block selects: %s" % why
            continue
        if base is not None and "lport=" not in spec:
            spec += "," + base
        entry["connection"] = spec
        # twice: with -ddd to see that sshd selected the block, without for the values
        # (-ddd shows LogLevel DEBUG3)
        runs = [_sshd_run(g, [sshd, "-T", "-ddd", "-C", spec], private_run),
                _sshd_run(g, [sshd, "-T", "-C", spec], private_run)]
        failed = next((r for r in runs if r.error or r.returncode != 0), None)
        if failed is not None:
            entry["error"] = "sshd -T -C %s failed: %s" % (spec, _without_debug(failed))
            continue
        if not sshd_block_selected(runs[0].stderr, criteria, occurrence):
            entry["error"] = ("sshd did not select this block for the connection the "
                              "probe built (%s)" % spec)
            continue
        entry["config"] = parse_sshd_t(runs[1].stdout)
    return matches


def _sshd_with_private_run(g: Gatherer, argv: List[str]) -> Optional["_Background"]:
    """``sshd -T`` refuses to run without /run/sshd, which exists only while sshd runs
    (socket-activated or stopped sshd). The probe never creates it on the host: as root it
    runs ``argv`` in a private mount namespace with an empty tmpfs on /run holding
    /run/sshd; the namespace and the tmpfs vanish with the process. None when it cannot
    (not root, not the real root, no unshare)."""
    ctx = g.ctx
    unshare = _which(ctx, ("/usr/bin/unshare", "/bin/unshare"))
    if ctx.euid != 0 or ctx.root != "/" or unshare is None:
        return None
    script = ('mount -t tmpfs -o size=64k,mode=0755 inspectorctl-probe /run && '
              'mkdir -m 0755 /run/sshd && exec "$@"')
    return _Background([unshare, "--mount", "--propagation", "private", "--",
                        "/bin/sh", "-c", script, "sh", *argv], 20).wait()


def start_sshd(g: Gatherer) -> None:
    sshd = _which(g.ctx, ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"))
    if sshd:
        g.bg["sshd"] = _Background([sshd, "-T"], 20)
        # the same with -ddd: sshd logs each Match block it loads (``fact_sshd``);
        # a separate run, since -ddd also changes the LogLevel that -T prints
        g.bg["sshd_debug"] = _Background([sshd, "-T", "-ddd"], 20)


SSHD_FACT = Fact("sshd", fact_sshd, start=start_sshd, jobs=("sshd", "sshd_debug"))
