#!/usr/bin/python
"""inspectorctl probe: gather the host facts the selected rules asked for, as one JSON document.

Runs on the *target* host with nothing but the standard library of python3 3.6 or newer, so this
file avoids everything newer (no ``from __future__ import annotations``, no dataclasses, no walrus,
no ``subprocess.run(capture_output=...)``, no builtin generics in annotations).

Two ways to run it
------------------
* Standalone: ``python3 probe.py [--root DIR] < request.json`` prints one JSON object that
  validates as ``inspectorctl.models.snapshot.HostSnapshot`` (its ``host`` block carries the
  host's own view, ``name`` = hostname; the transport overwrites ``name``/``transport``/ids).
  ``LocalCollector`` and the SSM document run it this way.

* As an Ansible module. This file is copied verbatim into ``library/inspectorctl_probe.py`` of the
  runner's private data dir. It contains Ansible's *JSON-args* marker (see ``_ANSIBLE_ARGS``), so
  Ansible classifies it as a "new"-style ``jsonargs`` module: the controller substitutes the task
  arguments (JSON) for the marker and, with ``ANSIBLE_PIPELINING=True``, pipes the source into
  the remote interpreter's stdin: one SSH exec, no AnsiballZ zip, no ``ansible.module_utils`` on
  the target, no temp file. The shebang ``#!/usr/bin/python`` lets Ansible apply
  ``ansible_python_interpreter`` (or discovery). The module takes ``request_b64`` (the
  ``ProbeRequest`` as base64 JSON: base64 keeps regex patterns away from Jinja templating) and
  returns ``{"changed": false, "snapshot": {...}}``. The transport reads that ``snapshot`` key from
  the ``runner_on_ok`` event's ``res`` as data. We deliberately do not return ``ansible_facts``:
  facts would be injected into hostvars (and, with a fact cache, written to disk) for nothing; the
  event stream already carries the module result, so no fact-cache plugin has to be configured.

Rules of the house
------------------
* Only requested facts are gathered. A requested fact that cannot be read is left out and listed
  in ``unknown`` with the reason; partial failures go into the per-item ``error``/``errors`` fields.
  Nothing is guessed.
* Never read out or emit password hashes or key material: accounts carry ``password`` as
  ``empty``/``locked``/``set`` only; line matching is refused on shadow-like files and any matched
  line that looks like a hash or a private key is withheld.
* No network, with one gated exception: the EC2 instance metadata service, only when the probe runs
  against the real root and DMI names the machine "Amazon EC2" (and ``INSPECTORCTL_PROBE_NO_IMDS``
  is unset). cloud-init's cached instance data is preferred for the instance id.
* Filesystem walks are bounded: one ``os.scandir`` pass for all requested kinds, local filesystems
  only, symlinks never followed, stopping at ``walk_max_results`` matches per kind or after
  ``walk_max_seconds`` (``truncated: true`` with the reason).
* Pending updates: apt simulates an upgrade from the host's security sources only when it can
  tell which they are and their lists were downloaded (``updates.scope`` = ``security``; a
  fraction of the full simulation's time), else from every source (``all``).
* ``root`` (``--root``; module arg ``root``) prefixes every file the probe reads, including
  ``/proc`` and ``/sys``, so the gatherers can be tested against a fake tree. The EC2 metadata
  service is never contacted with a root other than ``/``.

The parsers are pure functions (``parse_*``) so they can be tested without a host.
"""

import base64
import errno
import fnmatch
import glob
import grp
import hashlib
import json
import os
import pwd
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Set, Tuple

PROBE_VERSION = 1
SCHEMA_VERSION = 1

# Ansible substitutes the module arguments (JSON) for the marker below. Do not write the marker
# anywhere else in this file: Ansible replaces every occurrence.
# JSON never contains three quotes in a row and always ends in "}", so a raw triple-quoted
# string holds any argument JSON verbatim.
_ANSIBLE_ARGS = r"""<<INCLUDE_ANSIBLE_MODULE_JSON_ARGS>>"""
_ANSIBLE_MARKER = "<<INCLUDE_ANSIBLE_" + "MODULE_JSON_ARGS>>"

FACTS = (
    "os",
    "packages",
    "services",
    "sshd",
    "sysctl",
    "files",
    "walks",
    "mounts",
    "kernel_modules",
    "accounts",
    "login_defs",
    "pam",
    "systemd_conf",
    "limits",
    "rsyslog",
    "sockets",
    "updates",
    "cloud",
    "package_changelogs",
)

#: per changelog: at most this much is decompressed; at most this many files are read
CHANGELOG_MAX_BYTES = 4 * 1024 * 1024
CHANGELOG_MAX_FILES = 5000
_CVE_RE = re.compile(r"CVE-\d{4}-\d{4,7}")


def changelog_cves(read_gz: Callable[[str], bytes], names: Iterable[str]) -> Dict[str, List[str]]:
    """CVE ids each package's own Debian changelog names (``/usr/share/doc/<pkg>/
    changelog.Debian.gz``): the vulnerability matcher's guard against advisory data that
    predates the installed package. Packages naming none are left out."""
    out = {}  # type: Dict[str, List[str]]
    for n, name in enumerate(sorted(set(names))):
        if n >= CHANGELOG_MAX_FILES:
            break
        if "/" in name or name.startswith("."):
            continue
        try:
            text = read_gz("/usr/share/doc/%s/changelog.Debian.gz" % name)
        except (OSError, EOFError, ValueError):
            continue
        cves = sorted(set(_CVE_RE.findall(text.decode("utf-8", "replace"))))
        if cves:
            out[name] = cves
    return out

WALK_KINDS = ("world_writable", "world_writable_dirs", "unowned", "suid", "sgid")

# Filesystem types a walk never descends into: pseudo filesystems, read-only images and anything
# remote or user-space (network shares, FUSE). tmpfs/ramfs are walked: /tmp, /dev/shm and /run are
# exactly where world-writable directories without the sticky bit hide.
WALK_SKIP_FSTYPES = frozenset(
    {
        "proc",
        "sysfs",
        "devtmpfs",
        "devpts",
        "cgroup",
        "cgroup2",
        "securityfs",
        "debugfs",
        "tracefs",
        "pstore",
        "bpf",
        "mqueue",
        "hugetlbfs",
        "configfs",
        "fusectl",
        "autofs",
        "binfmt_misc",
        "efivarfs",
        "nsfs",
        "rpc_pipefs",
        "selinuxfs",
        "squashfs",
        "iso9660",
        "nfs",
        "nfs4",
        "nfsd",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "ceph",
        "glusterfs",
        "lustre",
        "9p",
        "virtiofs",
        "davfs",
        "sshfs",
        "fuse",
        "gpfs",
        "ocfs2",
        "gfs2",
    }
)

_NON_LOGIN_SHELLS = frozenset({"nologin", "false", "sync", "shutdown", "halt"})

# Files whose lines are never returned (they hold password hashes).
_NO_LINE_MATCH = frozenset(
    {
        "/etc/shadow",
        "/etc/shadow-",
        "/etc/gshadow",
        "/etc/gshadow-",
        "/etc/security/opasswd",
        "/etc/security/opasswd.old",
        "/etc/master.passwd",
    }
)
_ACCOUNT_FILES = frozenset({"/etc/passwd", "/etc/passwd-", "/etc/group", "/etc/group-"})
_SECRET_LINE_RE = re.compile(
    r"PRIVATE KEY|"  # PEM/OpenSSH private keys
    r"\$(?:1|2[abxy]?|5|6|7|y|gy|sha1|md5|argon2[a-z]*)\$[./A-Za-z0-9$,=+-]{8,}"  # crypt(3) hashes
)

_SUBPROCESS_ENV = {
    "LC_ALL": "C",
    "LANG": "C",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
}

APT_LISTS = "/var/lib/apt/lists"
#: ``apt-get`` options of a simulated upgrade that needs no lock and writes nothing
_APT_SIMULATE = [
    "-s",
    "-q",
    "-o",
    "Debug::NoLocking=1",
    "-o",
    "APT::Get::Show-User-Simulation-Note=false",
]
#: the files of sources.list.d apt reads
_APT_SOURCE_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.(?:list|sources)$")

_SCANDIR_FD = sys.version_info >= (3, 7) and os.scandir in getattr(os, "supports_fd", set())
_DIR_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)

_CHUNK = 1 << 20
_MAX_MATCH_BYTES = 16 << 20
_MAX_SHA256_BYTES = 512 << 20


# =============================================================================================
# Pure parsers
# =============================================================================================


def parse_os_release(text: str) -> Dict[str, str]:
    """``/etc/os-release``: KEY=value lines, values optionally quoted (shell-like)."""
    out = {}  # type: Dict[str, str]
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r'\\(["\\$`])', r"\1", value[1:-1])
        elif len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def os_family(os_id: str, id_like: Iterable[str]) -> str:
    ids = [os_id.lower()] + [i.lower() for i in id_like]
    for i in ids:
        if i in ("debian", "ubuntu", "raspbian", "linuxmint", "kali"):
            return "debian"
        if i in ("rhel", "fedora", "centos", "amzn", "almalinux", "rocky", "ol", "redhat"):
            return "rhel"
        if i in ("suse", "sles", "opensuse", "opensuse-leap", "opensuse-tumbleweed", "sled"):
            return "suse"
        if i == "alpine":
            return "alpine"
        if i in ("arch", "archlinux", "manjaro"):
            return "arch"
    return "unknown"


def deb822_paragraphs(text: str, comments: bool = False) -> List[Dict[str, str]]:
    """Paragraphs of a deb822 file (dpkg status, apt ``.sources``): ``Field: value`` lines,
    paragraphs separated by blank lines. A field's continuation lines (starting with a space or
    tab) are joined to its value with newlines. ``comments``: lines starting with ``#`` are
    comments (apt's sources), not fields."""
    paragraphs = []  # type: List[Dict[str, str]]
    for block in re.split(r"\n[ \t]*\n", text):
        fields = {}  # type: Dict[str, str]
        more = {}  # type: Dict[str, List[str]]
        last = None  # type: Optional[str]
        for line in block.splitlines():
            if not line or (comments and line[0] == "#"):
                continue
            if line[0] in " \t":
                if last is not None:
                    more.setdefault(last, []).append(line.strip())
                continue
            key, sep, value = line.partition(":")
            if not sep:
                last = None
                continue
            last = key.strip()
            fields[last] = value.strip()
            more.pop(last, None)
        for key, lines in more.items():
            fields[key] = "\n".join([fields[key], *lines])
        if fields:
            paragraphs.append(fields)
    return paragraphs


def parse_dpkg_status(text: str) -> List[Dict[str, Any]]:
    """``/var/lib/dpkg/status``: installed packages (current state ``installed``).

    ``Status: install ok installed`` and ``hold ok installed`` both count: a held package is
    installed. The version is taken as written (dpkg writes the epoch into it). ``Source:`` may
    carry its own version in parentheses (binNMUs ``+bN``, metapackages such as ``postgresql
    15+248``, source ``postgresql-common (248)``): that is ``source_version``; without it the
    source version is the binary's.
    """
    items = []  # type: List[Dict[str, Any]]
    for fields in deb822_paragraphs(text):
        status = fields.get("Status", "").split()
        if len(status) != 3 or status[2] != "installed":
            continue
        name = fields.get("Package")
        version = fields.get("Version")
        if not name or not version:
            continue
        source_field = fields.get("Source", "")
        source = source_field.split("(")[0].strip() or name
        source_version = version
        if "(" in source_field and source_field.rstrip().endswith(")"):
            inner = source_field[source_field.index("(") + 1:source_field.rindex(")")].strip()
            source_version = inner or version
        items.append(
            {
                "name": name,
                "source": source,
                "version": version,
                "arch": fields.get("Architecture") or None,
                "source_version": source_version,
            }
        )
    return items


def _rpm_source_name(sourcerpm: str) -> Optional[str]:
    if not sourcerpm or sourcerpm == "(none)":
        return None
    base = sourcerpm
    for suffix in (".src.rpm", ".nosrc.rpm"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    parts = base.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else None


def parse_rpm_qa(text: str) -> List[Dict[str, Any]]:
    """Output of ``rpm -qa --qf '%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t
    %{SOURCERPM}\\n'``. The version is ``[epoch:]version-release``."""
    items = []  # type: List[Dict[str, Any]]
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 6:
            continue
        name, epoch, version, release, arch, sourcerpm = parts
        if not name:
            continue
        evr = version + "-" + release if release and release != "(none)" else version
        if epoch and epoch != "(none)":
            evr = epoch + ":" + evr
        items.append(
            {
                "name": name,
                "source": _rpm_source_name(sourcerpm) or name,
                "version": evr,
                "arch": arch if arch and arch != "(none)" else None,
            }
        )
    return items


def parse_apk_installed(text: str) -> List[Dict[str, Any]]:
    """``/lib/apk/db/installed``: blocks of ``X:value`` lines (P name, V version, A arch,
    o origin = source package)."""
    items = []  # type: List[Dict[str, Any]]
    for block in re.split(r"\n\s*\n", text):
        fields = {}  # type: Dict[str, str]
        for line in block.splitlines():
            if len(line) >= 2 and line[1] == ":" and line[0] not in fields:
                fields[line[0]] = line[2:]
        if "P" in fields and "V" in fields:
            items.append(
                {
                    "name": fields["P"],
                    "source": fields.get("o") or fields["P"],
                    "version": fields["V"],
                    "arch": fields.get("A") or None,
                }
            )
    return items


def parse_sshd_t(text: str) -> Dict[str, List[str]]:
    """``sshd -T`` output: ``keyword value`` per line; keywords lower-cased; a keyword given on
    several lines (``hostkey``, ``listenaddress``, ``port``, ``subsystem``...) keeps every value in
    order."""
    config = {}  # type: Dict[str, List[str]]
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
    pairs = []  # type: List[Tuple[str, Optional[List[str]]]]
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
    spec = []  # type: List[Tuple[str, str]]
    user_patterns = None  # type: Optional[List[str]]
    group_patterns = None  # type: Optional[List[str]]
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
    user = None  # type: Optional[str]
    if group_patterns is not None:
        wanted = [g for g in group_patterns if g and not g.startswith("!")]
        members = []  # type: List[str]
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


#: systemd daemons whose configuration the probe reads: name -> the section their keys live in
SYSTEMD_CONFS = {"journald": "Journal", "coredump": "Coredump"}
#: where systemd looks for ``NAME.conf`` and ``NAME.conf.d/*.conf``, most important first
SYSTEMD_CONF_DIRS = ("/etc/systemd", "/run/systemd", "/usr/local/lib/systemd", "/usr/lib/systemd")


def parse_systemd_conf(text: str, section: str) -> Dict[str, Tuple[str, int]]:
    """Assignments of ``section`` in a systemd configuration file (systemd.syntax(7)): ``[Section]``
    headers, ``Key=Value`` lines, ``#``/``;`` comments, a trailing backslash continues a line.
    The last assignment of a key wins; an empty value resets it (the key is dropped).
    Returns ``{key: (value, line number)}``."""
    values = {}  # type: Dict[str, Tuple[str, int]]
    current = None  # type: Optional[str]
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if pending:
            line = pending + " " + raw.strip()
        else:
            line = raw.strip()
            start = number
        if line.endswith("\\") and not line.startswith(("#", ";")):
            pending = line[:-1].rstrip()
            continue
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            continue
        key, sep, value = line.partition("=")
        if not sep or current != section:
            continue
        key, value = key.strip(), value.strip()
        if value:
            values[key] = (value, start)
        else:
            values.pop(key, None)
    return values


def systemd_conf_files(ctx: "ProbeContext", name: str) -> List[str]:
    """The files systemd reads for ``NAME.conf``, in the order they apply: the main file (the
    first of SYSTEMD_CONF_DIRS that has one), then every ``NAME.conf.d/*.conf`` sorted by file
    name, a name in a more important directory masking the same name in the others."""
    files = []  # type: List[str]
    for directory in SYSTEMD_CONF_DIRS:
        main = "%s/%s.conf" % (directory, name)
        if os.path.isfile(ctx.path(main)):
            files.append(main)
            break
    dropins = {}  # type: Dict[str, str]
    for directory in SYSTEMD_CONF_DIRS:
        folder = "%s/%s.conf.d" % (directory, name)
        for entry in _listdir(ctx, folder):
            if entry.endswith(".conf") and entry not in dropins:
                dropins[entry] = folder + "/" + entry
    return files + [dropins[n] for n in sorted(dropins)]


#: pam_limits' files (limits.conf(5)): the main file, then ``limits.d/*.conf`` in name order
LIMITS_CONF = "/etc/security/limits.conf"
LIMITS_D = "/etc/security/limits.d"


def parse_limits_conf(text: str) -> List[Tuple[str, str, str, str, int]]:
    """The entries of a limits.conf(5) file as pam_limits reads them: ``#`` starts a comment,
    the first four blank-separated fields are ``<domain> <type> <item> <value>`` (more are
    ignored; type, item and value are case-insensitive), and a two-field ``<domain> -`` line
    means "no limits" for that domain (returned with item and value ``""``). Any other line is
    skipped, as pam_limits skips it. Returns (domain, type, item, value, line number)."""
    entries = []  # type: List[Tuple[str, str, str, str, int]]
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split("#", 1)[0].split()
        if len(fields) >= 4:
            domain, kind, item, value = fields[:4]
            entries.append((domain, kind.lower(), item.lower(), value.lower(), number))
        elif len(fields) == 2 and fields[1].startswith("-"):
            entries.append((fields[0], "-", "", "", number))
    return entries


def limits_files(ctx: "ProbeContext") -> List[str]:
    """limits.conf, then the ``*.conf`` files of limits.d sorted by name: pam_limits' order."""
    files = [LIMITS_CONF] if os.path.isfile(ctx.path(LIMITS_CONF)) else []
    return files + [LIMITS_D + "/" + n for n in sorted(_listdir(ctx, LIMITS_D))
                    if n.endswith(".conf") and not n.startswith(".")]


RSYSLOG_CONF = "/etc/rsyslog.conf"
#: input modules that listen on the network
RSYSLOG_REMOTE_INPUTS = ("imtcp", "imudp", "imptcp", "imrelp", "imgssapi")
#: legacy directives that start a network listener: lower-case name -> (name, module)
_RSYSLOG_LEGACY_LISTENERS = {
    "$inputtcpserverrun": ("$InputTCPServerRun", "imtcp"),
    "$udpserverrun": ("$UDPServerRun", "imudp"),
    "$inputptcpserverrun": ("$InputPTCPServerRun", "imptcp"),
    "$inputrelpserverrun": ("$InputRELPServerRun", "imrelp"),
}
_RSYSLOG_LEGACY_LINE = re.compile(r"([ \t]*\$[^#\n]*)[^\n]*")
_RSYSLOG_LEGACY = re.compile(r"^\s*\$(\w+)[ \t]*(.*?)\s*$")
_RSYSLOG_STATEMENT = re.compile(r"\b(module|input|action|include)\s*\(", re.I)
_RSYSLOG_PARAM = re.compile(
    r"([A-Za-z][\w.]*)\s*=\s*(?:\"((?:[^\"\\\\]|\\\\.)*)\"|([^\s\"()]+))")


def strip_rsyslog_comments(text: str) -> str:
    """``text`` with rsyslog comments blanked out (``#`` to the end of the line and ``/* */``
    blocks, outside double quotes), line numbers kept. A legacy ``$Directive`` line is one
    token to rsyslog: only a ``#`` ends it (``$IncludeConfig /etc/rsyslog.d/*.conf``)."""
    out = []  # type: List[str]
    i, n = 0, len(text)
    quoted = block = False
    while i < n:
        ch = text[i]
        if not (block or quoted) and (i == 0 or text[i - 1] == "\n"):
            m = _RSYSLOG_LEGACY_LINE.match(text, i)
            if m:
                out.append(m.group(1) + " " * (m.end() - m.end(1)))
                i = m.end()
                continue
        if block:
            if text.startswith("*/", i):
                block = False
                out.append("  ")
                i += 2
                continue
            out.append("\n" if ch == "\n" else " ")
        elif quoted:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif ch == '"' or ch == "\n":
                quoted = False
        elif ch == '"':
            quoted = True
            out.append(ch)
        elif ch == "#":
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
            continue
        elif text.startswith("/*", i):
            block = True
            out.append("  ")
            i += 2
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def parse_rsyslog_conf(text: str) -> List[Tuple[str, str, Dict[str, str], int]]:
    """The statements of an rsyslog configuration that matter to the probe, in order:
    ``("legacy", "$Directive", {"value": ...}, line)`` for legacy directives and
    ``("module"|"input"|"action"|"include", "", {param: value}, line)`` for RainerScript
    statements (parameter names lower-cased; a statement may span lines)."""
    clean = strip_rsyslog_comments(text)
    found = []  # type: List[Tuple[int, str, str, Dict[str, str], int]]
    for number, line in enumerate(clean.split("\n"), 1):
        m = _RSYSLOG_LEGACY.match(line)
        if m:
            found.append((0, "legacy", "$" + m.group(1).lower(), {"value": m.group(2)}, number))
    offset = 0
    for m in _RSYSLOG_STATEMENT.finditer(clean):
        if m.start() < offset:
            continue
        # the statement's parameters: up to the closing parenthesis outside quotes
        j, quoted = m.end(), False
        while j < len(clean) and (quoted or clean[j] != ")"):
            if clean[j] == "\\" and quoted:
                j += 1
            elif clean[j] == '"':
                quoted = not quoted
            j += 1
        params = {k.lower(): quoted_value or bare
                  for k, quoted_value, bare in _RSYSLOG_PARAM.findall(clean[m.end():j])}
        lineno = clean.count("\n", 0, m.start()) + 1
        found.append((m.start(), m.group(1).lower(), "", params, lineno))
        offset = j
    # legacy directives by line; statements by position (both in file order)
    found.sort(key=lambda t: (t[4], t[0]))
    return [(kind, name, params, line) for _, kind, name, params, line in found]


def _rsyslog_include(ctx: "ProbeContext", pattern: str) -> List[str]:
    """The host paths an include names: a glob, or every file of a directory, sorted."""
    if pattern.endswith("/"):
        return [pattern + n for n in sorted(_listdir(ctx, pattern))
                if os.path.isfile(ctx.path(pattern + n))]
    return sorted(ctx.host_path(p) for p in glob.glob(ctx.path(pattern))
                  if os.path.isfile(p))


def normalise_sysctl_key(key: str) -> str:
    """``net/ipv4/ip_forward`` and ``net.ipv4.ip_forward`` are the same key (sysctl.d(5))."""
    key = key.strip()
    if "/" in key:
        key = key.replace("/", ".")
    return key


def normalise_sysctl_value(value: str) -> str:
    return " ".join(value.split())


def parse_sysctl_conf(
    text: str, filename: str
) -> Tuple[List[Tuple[str, Dict[str, Any]]], List[str]]:
    """One sysctl.d(5) file: ``key = value`` assignments in file order.

    Comments start with ``#`` or ``;``; a leading ``-`` on the key (ignore failures) is dropped;
    keys are normalised to the dotted form. Returns ``[(key, {file, line, value})]`` and a list
    of complaints for lines that are not assignments.
    """
    out = []  # type: List[Tuple[str, Dict[str, Any]]]
    bad = []  # type: List[str]
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if key.startswith("-"):
            key = key[1:].strip()
        if not sep or not key:
            bad.append("%s:%d: not an assignment" % (filename, number))
            continue
        out.append(
            (
                normalise_sysctl_key(key),
                {"file": filename, "line": number, "value": normalise_sysctl_value(value)},
            )
        )
    return out, bad


def parse_login_defs(text: str) -> Dict[str, str]:
    """``/etc/login.defs``: ``NAME value`` per line, ``#`` comments; the last setting wins
    (shadow-utils' getdef reads the whole file). A value in double quotes is unquoted."""
    out = {}  # type: Dict[str, str]
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


_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def unescape_mount_field(field: str) -> str:
    """The kernel escapes space, tab, newline and backslash in /proc/mounts as ``\\ooo``."""
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def escape_mount_field(field: str) -> str:
    """Inverse of :func:`unescape_mount_field` (what the kernel does in ``mangle()``)."""
    out = []
    for ch in field:
        if ch in " \t\n\\":
            out.append("\\%03o" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def parse_proc_mounts(text: str) -> List[Dict[str, Any]]:
    """``/proc/self/mounts`` (fstab(5) format): device, mountpoint, fstype, options."""
    mounts = []  # type: List[Dict[str, Any]]
    for line in text.split("\n"):
        # the kernel separates fields by one space and escapes only space, tab, newline and
        # backslash: str.split() would also split on other (Unicode) whitespace in a path
        parts = [p for p in line.split(" ") if p]
        # no comments here (unlike fstab): a device may well be named "#..."
        if len(parts) < 4:
            continue
        mounts.append(
            {
                "device": unescape_mount_field(parts[0]),
                "mountpoint": unescape_mount_field(parts[1]),
                "fstype": unescape_mount_field(parts[2]),
                "options": [unescape_mount_field(o) for o in parts[3].split(",") if o],
            }
        )
    return mounts


def parse_fstab(text: str) -> List[Dict[str, Any]]:
    """``/etc/fstab``: same field layout as /proc/mounts, with comments."""
    out = []  # type: List[Dict[str, Any]]
    for line in text.split("\n"):
        stripped = line.strip(" \t\r")
        if not stripped or stripped.startswith("#"):
            continue
        parts = [p for p in re.split(r"[ \t]+", stripped) if p]
        if len(parts) < 3:
            continue
        options = parts[3] if len(parts) > 3 else "defaults"
        out.append(
            {
                "device": unescape_mount_field(parts[0]),
                "mountpoint": unescape_mount_field(parts[1]),
                "fstype": unescape_mount_field(parts[2]),
                "options": [unescape_mount_field(o) for o in options.split(",") if o],
            }
        )
    return out


def _pam_tokens(line: str) -> List[str]:
    """Split a PAM line on whitespace, keeping ``[...]`` groups (``\\]`` escapes) as one token."""
    tokens = []  # type: List[str]
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            break
        if line[i] == "#":
            break  # a comment starts at a token boundary
        start = i
        if line[i] == "[":
            i += 1
            while i < n and line[i] != "]":
                i += 2 if line[i] == "\\" and i + 1 < n else 1
            i += 1
            while i < n and line[i] not in " \t":
                i += 1
        else:
            while i < n and line[i] not in " \t":
                if line[i] == "[":
                    i += 1
                    while i < n and line[i] != "]":
                        i += 2 if line[i] == "\\" and i + 1 < n else 1
                i += 1
        tokens.append(line[start:i])
    return tokens


def parse_pam(text: str) -> List[Dict[str, Any]]:
    """One /etc/pam.d file: ``[-]type control module [args...]`` lines (backslash continues a
    line). ``@include NAME`` is kept as type ``@include`` with module NAME. The module is reduced
    to its basename (``/lib/security/pam_unix.so`` -> ``pam_unix.so``)."""
    out = []  # type: List[Dict[str, Any]]
    pending = ""
    pending_line = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            pending_line = number
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        line = pending + raw
        pending = ""
        tokens = _pam_tokens(line)
        if not tokens:
            continue
        if tokens[0] == "@include":
            if len(tokens) >= 2:
                out.append(
                    {
                        "type": "@include",
                        "control": "",
                        "module": tokens[1],
                        "args": [],
                        "line": pending_line,
                    }
                )
            continue
        if len(tokens) < 3:
            continue
        ptype = tokens[0].lstrip("-").lower()
        out.append(
            {
                "type": ptype,
                "control": tokens[1],
                "module": os.path.basename(tokens[2]) if ptype else tokens[2],
                "args": tokens[3:],
                "line": pending_line,
            }
        )
    return out


def parse_keyvalue_conf(text: str) -> Dict[str, str]:
    """pwquality.conf / faillock.conf: ``key = value`` lines; a bare ``key`` is a flag (``""``)."""
    out = {}  # type: Dict[str, str]
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        out[key.strip()] = value.strip() if sep else ""
    return out


def _hex_ip(hexaddr: str) -> str:
    raw = bytes.fromhex(hexaddr)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    if len(raw) == 16:
        swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        return socket.inet_ntop(socket.AF_INET6, swapped)
    raise ValueError("bad address length: %r" % hexaddr)


def parse_proc_net(text: str, proto: str) -> List[Dict[str, Any]]:
    """``/proc/net/{tcp,tcp6,udp,udp6}``: one dict per socket (address, port, remote_address,
    remote_port, state (int), uid, inode). Use :func:`is_listening` to keep listeners."""
    out = []  # type: List[Dict[str, Any]]
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 10:
            continue
        try:
            local, remote = parts[1], parts[2]
            laddr, _, lport = local.partition(":")
            raddr, _, rport = remote.partition(":")
            out.append(
                {
                    "proto": proto,
                    "address": _hex_ip(laddr),
                    "port": int(lport, 16),
                    "remote_address": _hex_ip(raddr),
                    "remote_port": int(rport, 16),
                    "state": int(parts[3], 16),
                    "uid": int(parts[7]),
                    "inode": int(parts[9]),
                }
            )
        except ValueError:
            continue
    return out


_TCP_LISTEN = 0x0A
_TCP_CLOSE = 0x07


def is_listening(entry: Dict[str, Any]) -> bool:
    """TCP: state LISTEN. UDP: bound and unconnected (state CLOSE, no remote peer)."""
    if entry["proto"].startswith("tcp"):
        return bool(entry["state"] == _TCP_LISTEN)
    return bool(
        entry["state"] == _TCP_CLOSE
        and entry["remote_port"] == 0
        and entry["remote_address"] in ("0.0.0.0", "::")
    )


def parse_passwd(text: str) -> List[Dict[str, Any]]:
    """/etc/passwd entries. The password field is reduced to what it says (``x`` = shadowed)."""
    out = []  # type: List[Dict[str, Any]]
    for line in text.split("\n"):
        if not line or line.startswith(("#", "+", "-")):
            continue
        parts = line.split(":")
        if len(parts) < 7:
            continue
        try:
            uid, gid = int(parts[2]), int(parts[3])
        except ValueError:
            continue
        out.append(
            {
                "name": parts[0],
                "password": "shadow" if parts[1] == "x" else _password_state(parts[1]),
                "uid": uid,
                "gid": gid,
                "home": parts[5],
                "shell": parts[6],
            }
        )
    return out


def _password_state(field: str) -> str:
    if field == "":
        return "empty"
    if field[0] in "!*":
        return "locked"
    return "set"


def _int_or_none(value: str) -> Optional[int]:
    try:
        return int(value)
    except ValueError:
        return None


def parse_shadow(text: str) -> Dict[str, Dict[str, Any]]:
    """/etc/shadow, reduced to derived facts: the hash field becomes ``empty``/``locked``/``set``
    and is never kept; ageing fields are integers (None when empty)."""
    out = {}  # type: Dict[str, Dict[str, Any]]
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


def parse_group(text: str) -> List[Dict[str, Any]]:
    out = []  # type: List[Dict[str, Any]]
    for line in text.split("\n"):
        if not line or line.startswith(("#", "+", "-")):
            continue
        parts = line.split(":")
        if len(parts) < 4:
            continue
        try:
            gid = int(parts[2])
        except ValueError:
            continue
        members = [m for m in parts[3].split(",") if m]
        out.append({"name": parts[0], "gid": gid, "members": members})
    return out


def parse_modprobe_conf(text: str) -> Tuple[List[str], List[Tuple[str, str]]]:
    """modprobe.d(5): ``blacklist NAME`` and ``install NAME COMMAND...`` lines (backslash
    continuation). Module names are normalised (``-`` -> ``_``)."""
    blacklist = []  # type: List[str]
    install = []  # type: List[Tuple[str, str]]
    pending = ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        line = (pending + raw).strip()
        pending = ""
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if parts[0] == "blacklist" and len(parts) >= 2:
            blacklist.append(parts[1].replace("-", "_"))
        elif parts[0] == "install" and len(parts) >= 3:
            install.append((parts[1].replace("-", "_"), parts[2].strip()))
    return blacklist, install


_APT_INST = re.compile(r"^Inst (\S+) (?:\[([^\]]*)\] )?\((\S+) (.*)\)")


def parse_apt_simulation(text: str) -> Tuple[Dict[str, str], List[str]]:
    """``apt-get -s upgrade``: ``Inst NAME [OLD] (NEW ORIGIN, ORIGIN [ARCH])`` lines. Returns
    pending ``{name: new version}`` and the names with an origin from a ``-security`` suite."""
    pending = {}  # type: Dict[str, str]
    security = []  # type: List[str]
    for line in text.splitlines():
        m = _APT_INST.match(line)
        if not m:
            continue
        name, _old, new, rest = m.groups()
        pending[name] = new
        origins = re.sub(r"\s*\[[^\]]*\]\s*$", "", rest)
        if (
            any(re.search(r"[-/]security\b", o.strip(), re.IGNORECASE) for o in origins.split(","))
            and name not in security
        ):
            security.append(name)
    return pending, security


_APT_KEPT_BACK_ITEM = re.compile(r"^(\S+) \((\S+) => (\S+)\)$")


def parse_apt_kept_back(text: str) -> Dict[str, str]:
    """The "kept back" list of ``apt-get -s -V upgrade``: ``NAME (OLD => NEW)`` lines indented
    under ``The following packages have been kept back:``. Returns ``{name: new version}``."""
    kept = {}  # type: Dict[str, str]
    inside = False
    for line in text.splitlines():
        if not line.startswith((" ", "\t")):
            inside = line.strip() == "The following packages have been kept back:"
            continue
        m = _APT_KEPT_BACK_ITEM.match(line.strip()) if inside else None
        if m:
            kept[m.group(1)] = m.group(3)
    return kept


_APT_ONE_LINE = re.compile(r"^(\S+)\s+(?:\[([^\]]*)\]\s*)?(\S+)\s+(\S+)((?:\s+\S+)*)\s*$")

#: deb822 fields of apt's ``.sources`` that are one-line options: deb822 name -> option name
_APT_DEB822_OPTIONS = {
    "architectures": "arch",
    "languages": "lang",
    "targets": "target",
    "pdiffs": "pdiffs",
    "by-hash": "by-hash",
    "trusted": "trusted",
    "signed-by": "signed-by",
    "allow-insecure": "allow-insecure",
    "allow-weak": "allow-weak",
    "allow-downgrade-to-insecure": "allow-downgrade-to-insecure",
    "check-valid-until": "check-valid-until",
    "valid-until-min": "valid-until-min",
    "valid-until-max": "valid-until-max",
    "check-date": "check-date",
    "date-max-future": "date-max-future",
    "inrelease-path": "inrelease-path",
    "snapshot": "snapshot",
}
#: the options that also come as ``-Add``/``-Remove`` fields (``arch+=``/``arch-=``)
_APT_DEB822_LISTS = ("architectures", "languages", "targets")


def _apt_entry(
    kind: str, options: List[str], uri: str, suite: str, components: List[str]
) -> Dict[str, Any]:
    return {
        "type": kind,
        "options": options,
        "uri": uri,
        "suite": suite,
        "components": components,
    }


def parse_apt_one_line_sources(text: str) -> List[Dict[str, Any]]:
    """One-line apt sources (``sources.list``, ``sources.list.d/*.list``):
    ``TYPE [OPTION...] URI SUITE [COMPONENT...]``, ``#`` starting a comment anywhere on a line.

    Options are kept as written (``arch=amd64``, ``signed-by=/usr/share/keyrings/x.gpg``). A line
    apt would refuse (too few words, no component for a suite that is not a path) is skipped."""
    entries = []  # type: List[Dict[str, Any]]
    for raw in text.splitlines():
        m = _APT_ONE_LINE.match(raw.split("#", 1)[0].strip())
        if not m:
            continue
        kind, options, uri, suite, rest = m.groups()
        components = rest.split()
        if not components and not suite.endswith("/"):
            continue
        entries.append(_apt_entry(kind, (options or "").split(), uri, suite, components))
    return entries


def _deb822_bool(value: str) -> bool:
    return value.strip().lower() not in ("no", "false", "without", "off", "disable", "0")


def parse_apt_deb822_sources(text: str) -> List[Dict[str, Any]]:
    """apt ``.sources`` files (deb822): one entry per type, URI and suite of each stanza that is
    not ``Enabled: no``, with the same fields as :func:`parse_apt_one_line_sources`.

    Fields that are options in the one-line format become ``key=value`` options (lists joined
    with commas; ``Architectures-Add`` becomes ``arch+=``). A ``Signed-By`` that embeds the key
    itself (several lines) has no one-line form and is left out: it only matters when lists are
    downloaded, not when apt reads them."""
    entries = []  # type: List[Dict[str, Any]]
    for raw_fields in deb822_paragraphs(text, comments=True):
        fields = dict((k.lower(), v) for k, v in raw_fields.items())
        if not _deb822_bool(fields.get("enabled", "yes")):
            continue
        suites = fields.get("suites", "").split()
        components = fields.get("components", "").split()
        options = []  # type: List[str]
        for key in sorted(fields):
            base, op = key, "="
            for suffix, sign in (("-add", "+="), ("-remove", "-=")):
                if key.endswith(suffix) and key[: -len(suffix)] in _APT_DEB822_LISTS:
                    base, op = key[: -len(suffix)], sign
            name = _APT_DEB822_OPTIONS.get(base)
            value = fields[key]
            if name is None or "\n" in value or not value:
                continue
            options.append(name + op + ",".join(value.replace(",", " ").split()))
        for kind in fields.get("types", "").split():
            for uri in fields.get("uris", "").split():
                for suite in suites:
                    if components or suite.endswith("/"):
                        entries.append(_apt_entry(kind, options, uri, suite, components))
    return entries


def is_apt_security_suite(uri: str, suite: str) -> bool:
    """A security suite: ``*-security`` (Debian 11+, Ubuntu), or the old Debian ``CODENAME/updates``
    on security.debian.org or a ``debian-security`` archive."""
    if suite.endswith("-security"):
        return True
    if not suite.endswith("/updates"):
        return False
    host = uri.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    return host.lower() == "security.debian.org" or uri.rstrip("/").endswith("/debian-security")


def apt_list_prefix(uri: str, suite: str) -> str:
    """The start of the names apt gives a suite's files in ``/var/lib/apt/lists`` (apt's
    ``URItoFileName`` of ``URI/dists/SUITE/``): scheme and user info dropped, some characters
    %-quoted, ``/`` turned into ``_``. Then come ``InRelease``,
    ``COMPONENT_binary-ARCH_Packages`` and so on."""
    full = uri if uri.endswith("/") else uri + "/"
    full += suite if suite.endswith("/") else "dists/" + suite + "/"
    if "://" in full:
        full = full.split("://", 1)[1]
        host, slash, path = full.partition("/")
        full = host.rsplit("@", 1)[-1] + slash + path
    elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", full):
        full = full.split(":", 1)[1]
    return _apt_quote(full).replace("/", "_")


def _apt_quote(text: str) -> str:
    bad = '\\|{}[]<>"^~_=!@#$%&*'
    out = []  # type: List[str]
    for ch in text:
        code = ord(ch)
        if ch in bad or code <= 0x20 or code >= 0x7F:
            out.extend("%%%02x" % b for b in ch.encode("utf-8"))
        else:
            out.append(ch)
    return "".join(out)


def apt_security_sources(
    entries: List[Dict[str, Any]], list_names: Iterable[str]
) -> Tuple[Optional[str], str]:
    """The ``deb`` entries of a security suite, as a one-line sources list for
    ``Dir::Etc::SourceList``, and why; ``(None, reason)`` when apt cannot be limited to them.

    Each entry is written back with its URI, suite, components and options exactly, so apt
    reads the same files of ``/var/lib/apt/lists``. Every selected suite must have a
    ``Packages`` list there (downloaded at least once): a missing list would silently mean
    "no security updates"."""
    names = list(list_names)
    lines = []  # type: List[str]
    for entry in entries:
        if entry["type"] != "deb" or not is_apt_security_suite(entry["uri"], entry["suite"]):
            continue
        prefix = apt_list_prefix(entry["uri"], entry["suite"])
        packages = [
            prefix + _apt_quote(c).replace("/", "_") + "_binary-" for c in entry["components"]
        ] or [prefix]
        if not any(n.startswith(pkg) and "Packages" in n for pkg in packages for n in names):
            return None, "no package list for %s %s in /var/lib/apt/lists" % (
                entry["uri"],
                entry["suite"],
            )
        options = " [%s]" % " ".join(entry["options"]) if entry["options"] else ""
        words = [entry["uri"], entry["suite"], *entry["components"]]
        line = "deb%s %s" % (options, " ".join(words))
        if line not in lines:
            lines.append(line)
    if not lines:
        return None, "no security source among the apt sources"
    return "".join(line + "\n" for line in lines), "%d security source(s)" % len(lines)


def _strip_nevra(nevra: str) -> str:
    """``openssl-libs-1:3.0.7-18.el9.x86_64`` -> ``openssl-libs``."""
    base = nevra
    if "." in base:
        base = base.rsplit(".", 1)[0]
    parts = base.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else base


def parse_dnf_check_update(text: str) -> Dict[str, str]:
    """``dnf -q -C check-update``: ``name.arch  version  repo`` lines (until 'Obsoleting')."""
    pending = {}  # type: Dict[str, str]
    for line in text.splitlines():
        if line.startswith(("Obsoleting", "Security:")):
            break
        parts = line.split()
        if len(parts) != 3 or "." not in parts[0]:
            continue
        name = parts[0].rsplit(".", 1)[0]
        pending[name] = parts[1]
    return pending


def parse_dnf_updateinfo(text: str) -> List[str]:
    """``dnf -q -C updateinfo list --security``: ``ADVISORY SEVERITY/Sec. NEVRA`` lines."""
    names = []  # type: List[str]
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or "Sec" not in parts[1]:
            continue
        name = _strip_nevra(parts[-1])
        if name not in names:
            names.append(name)
    return names


def parse_apk_version(text: str) -> Dict[str, str]:
    """``apk version -l '<'``: ``name-1.2-r0 < 1.2-r1`` lines."""
    pending = {}  # type: Dict[str, str]
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[1] != "<":
            continue
        m = re.match(r"^(.+)-[^-]+-r\d+$", parts[0])
        if m:
            pending[m.group(1)] = parts[2]
    return pending


def parse_unit_file(text: str) -> Dict[str, Dict[str, List[str]]]:
    """A systemd unit (or drop-in): section -> key -> values in order (empty value kept: it
    resets list settings such as ExecStart)."""
    sections = {}  # type: Dict[str, Dict[str, List[str]]]
    current = None  # type: Optional[Dict[str, List[str]]]
    pending = ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        line = (pending + raw).strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if current is None or "=" not in line:
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def parse_systemctl_unit_files(text: str) -> Dict[str, str]:
    """``systemctl list-unit-files --type=service --no-legend``: ``UNIT STATE [PRESET]``."""
    out = {}  # type: Dict[str, str]
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(".service"):
            out[parts[0][: -len(".service")]] = parts[1]
    return out


def parse_systemctl_units(text: str) -> Dict[str, str]:
    """``systemctl list-units --type=service --all --no-legend --plain``:
    ``UNIT LOAD ACTIVE SUB DESCRIPTION`` -> unit -> ACTIVE state."""
    out = {}  # type: Dict[str, str]
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] in ("●", "*"):
            parts = parts[1:]
        if len(parts) >= 4 and parts[0].endswith(".service"):
            out[parts[0][: -len(".service")]] = parts[2]
    return out


def exec_start_binary(exec_start: str) -> Optional[str]:
    """The program an ``ExecStart=`` line runs, or None when it cannot be told (a shell or an
    interpreter running a script given inline)."""
    value = exec_start.strip()
    while value and value[0] in "-@:+!":
        value = value[1:]
    parts = value.split()
    if not parts:
        return None
    prog = parts[0]
    if os.path.basename(prog) == "env":
        rest = [p for p in parts[1:] if "=" not in p and not p.startswith("-")]
        prog = rest[0] if rest else ""
    base = os.path.basename(prog)
    if not prog or base in ("sh", "bash", "dash", "zsh", "busybox", "true", "false"):
        return None
    if re.match(r"^(python[0-9.]*|perl|ruby|node|java)$", base):
        return None
    return prog


def mask_account_line(line: str) -> str:
    """An /etc/passwd or /etc/group line with a password field that is not a placeholder
    (``x``, ``*``, ``!``, empty) gets that field replaced: old DES hashes match no pattern."""
    parts = line.split(":")
    if len(parts) >= 3 and parts[1] not in ("x", "*", "!", "!!", ""):
        parts[1] = "<withheld>"
        return ":".join(parts)
    return line


def crypt_like(line: str) -> bool:
    """Does a line look like it holds a password hash or a private key?"""
    return bool(_SECRET_LINE_RE.search(line))


# =============================================================================================
# Context and helpers
# =============================================================================================


class ProbeContext:
    """Where to read from, who we are, and caches shared by the gatherers."""

    def __init__(self, root: str = "/", allow_imds: Optional[bool] = None) -> None:
        self.root = os.path.abspath(root)
        self.euid = os.geteuid()
        if allow_imds is None:
            allow_imds = self.root == "/" and not os.environ.get("INSPECTORCTL_PROBE_NO_IMDS")
        self.allow_imds = bool(allow_imds) and self.root == "/"
        self._passwd = None  # type: Optional[List[Dict[str, Any]]]
        self._groups = None  # type: Optional[List[Dict[str, Any]]]
        self._procs = None  # type: Optional[List[Dict[str, Any]]]
        self._mounts = None  # type: Optional[List[Dict[str, Any]]]
        self._uid_names = {}  # type: Dict[int, Optional[str]]
        self._gid_names = {}  # type: Dict[int, Optional[str]]

    def path(self, p: str) -> str:
        """A host path (``/etc/passwd``) as seen through the root prefix."""
        if self.root == "/":
            return p
        return os.path.join(self.root, p.lstrip("/"))

    def host_path(self, p: str) -> str:
        """Inverse of :meth:`path`."""
        if self.root == "/":
            return p
        rel = os.path.relpath(p, self.root)
        return "/" if rel == "." else "/" + rel

    def read(self, p: str, limit: Optional[int] = None) -> str:
        with open(self.path(p), "rb") as fh:
            data = fh.read() if limit is None else fh.read(limit)
        return data.decode("utf-8", "replace")

    def reason(self, exc: BaseException, what: str) -> str:
        if isinstance(exc, OSError):
            if exc.errno in (errno.EACCES, errno.EPERM):
                return "permission denied: %s%s" % (what, "" if self.euid == 0 else " (not root)")
            if exc.errno == errno.ENOENT:
                return "not found: %s" % what
            return "%s: %s" % (what, exc.strerror or exc)
        return "%s: %s: %s" % (what, type(exc).__name__, exc)

    # -- accounts used by several facts --------------------------------------------------------

    def passwd(self) -> List[Dict[str, Any]]:
        if self._passwd is None:
            try:
                self._passwd = parse_passwd(self.read("/etc/passwd"))
            except OSError:
                self._passwd = []
        return self._passwd

    def groups(self) -> List[Dict[str, Any]]:
        if self._groups is None:
            try:
                self._groups = parse_group(self.read("/etc/group"))
            except OSError:
                self._groups = []
        return self._groups

    def user_name(self, uid: int) -> Optional[str]:
        if uid not in self._uid_names:
            name = None  # type: Optional[str]
            for entry in self.passwd():
                if entry["uid"] == uid:
                    name = entry["name"]
                    break
            if name is None and self.root == "/":
                try:
                    name = pwd.getpwuid(uid).pw_name  # NSS (LDAP, sssd...) on the real root
                except KeyError:
                    name = None
            self._uid_names[uid] = name
        return self._uid_names[uid]

    def group_name(self, gid: int) -> Optional[str]:
        if gid not in self._gid_names:
            name = None  # type: Optional[str]
            for entry in self.groups():
                if entry["gid"] == gid:
                    name = entry["name"]
                    break
            if name is None and self.root == "/":
                try:
                    name = grp.getgrgid(gid).gr_name
                except KeyError:
                    name = None
            self._gid_names[gid] = name
        return self._gid_names[gid]

    # -- processes -----------------------------------------------------------------------------

    def processes(self) -> List[Dict[str, Any]]:
        """Every visible process: pid, exe (readlink, root only for others), argv0, comm."""
        if self._procs is None:
            procs = []  # type: List[Dict[str, Any]]
            proc = self.path("/proc")
            try:
                names = os.listdir(proc)
            except OSError:
                names = []
            for name in names:
                if not name.isdigit():
                    continue
                base = os.path.join(proc, name)
                entry = {"pid": int(name), "exe": None, "argv0": None, "comm": None}  # type: Dict[str, Any]
                try:
                    exe = os.readlink(os.path.join(base, "exe"))
                    if exe.endswith(" (deleted)"):
                        exe = exe[: -len(" (deleted)")]
                    entry["exe"] = exe
                except OSError:
                    pass
                try:
                    with open(os.path.join(base, "cmdline"), "rb") as fh:
                        argv = fh.read().split(b"\0")
                    if argv and argv[0]:
                        entry["argv0"] = argv[0].decode("utf-8", "replace")
                except OSError:
                    pass
                try:
                    with open(os.path.join(base, "comm"), "rb") as fh:
                        entry["comm"] = fh.read().decode("utf-8", "replace").strip()
                except OSError:
                    pass
                if entry["exe"] or entry["argv0"] or entry["comm"]:
                    procs.append(entry)
            self._procs = procs
        return self._procs

    def mounts(self) -> List[Dict[str, Any]]:
        if self._mounts is None:
            text = None
            for candidate in ("/proc/self/mounts", "/proc/mounts"):
                try:
                    text = self.read(candidate)
                    break
                except OSError:
                    continue
            if text is None:
                raise OSError(errno.ENOENT, "no /proc/self/mounts")
            self._mounts = parse_proc_mounts(text)
        return self._mounts


def _which(ctx: ProbeContext, names: Iterable[str]) -> Optional[str]:
    """First existing executable among candidate absolute paths (under the root prefix)."""
    for name in names:
        p = ctx.path(name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


class _Background(object):
    """A subprocess run in a thread, so slow commands (apt, sshd -T) overlap with the rest."""

    def __init__(self, argv: List[str], timeout: float, pass_fds: Tuple[int, ...] = ()) -> None:
        """``pass_fds``: descriptors the command inherits; closed here once it has ended."""
        self.argv = argv
        self.timeout = timeout
        self.pass_fds = pass_fds
        self.returncode = None  # type: Optional[int]
        self.stdout = ""
        self.stderr = ""
        self.error = None  # type: Optional[str]
        self._thread = threading.Thread(target=self._run)
        self._thread.daemon = True
        self._thread.start()

    def _run(self) -> None:
        try:
            proc = subprocess.run(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                universal_newlines=True,
                timeout=self.timeout,
                env=_SUBPROCESS_ENV,
                pass_fds=self.pass_fds,
            )
            self.returncode = proc.returncode
            self.stdout = proc.stdout
            self.stderr = proc.stderr
        except subprocess.TimeoutExpired:
            self.error = "%s timed out after %ss" % (os.path.basename(self.argv[0]), self.timeout)
        except OSError as e:
            self.error = "cannot run %s: %s" % (self.argv[0], e.strerror or e)
        finally:
            for fd in self.pass_fds:
                os.close(fd)

    def wait(self) -> "_Background":
        self._thread.join()
        return self

    def failure(self, skip: Optional[str] = None) -> str:
        """A one-line reason for a non-zero exit, from stderr (or stdout); lines matching the
        regex ``skip`` are left out."""
        if self.error:
            return self.error
        text = (self.stderr or self.stdout or "").strip()
        lines = [ln.strip() for ln in text.splitlines()
                 if ln.strip() and not (skip and re.match(skip, ln.strip()))]
        detail = "; ".join(lines[-3:]) if lines else "no output"
        return "%s exited %s: %s" % (os.path.basename(self.argv[0]), self.returncode, detail)


def _without_debug(job: "_Background") -> str:
    """Why a ``-ddd`` run failed, without its ``debugN:`` lines."""
    return job.failure(skip=r"debug\d: ")


# =============================================================================================
# Gatherers (one per fact)
# =============================================================================================


def _read_dmi(ctx: ProbeContext) -> Dict[str, str]:
    out = {}  # type: Dict[str, str]
    for field in (
        "sys_vendor",
        "product_name",
        "board_vendor",
        "board_asset_tag",
        "bios_vendor",
        "bios_version",
        "product_version",
    ):
        try:
            out[field] = ctx.read("/sys/class/dmi/id/" + field).strip()
        except OSError:
            continue
    return out


def _container_kind(ctx: ProbeContext) -> Optional[str]:
    try:
        kind = ctx.read("/run/systemd/container").strip()
        if kind:
            return kind
    except OSError:
        pass
    try:
        env = ctx.read("/proc/1/environ").split("\0")
        for item in env:
            if item.startswith("container="):
                return item.split("=", 1)[1] or "container"
    except OSError:
        pass
    if os.path.exists(ctx.path("/.dockerenv")):
        return "docker"
    if os.path.exists(ctx.path("/run/.containerenv")):
        return "podman"
    try:
        cgroup = ctx.read("/proc/1/cgroup")
        for marker, kind in (
            ("docker", "docker"),
            ("kubepods", "kubernetes"),
            ("lxc", "lxc"),
            ("libpod", "podman"),
            ("containerd", "containerd"),
        ):
            if marker in cgroup:
                return kind
    except OSError:
        pass
    return None


def _vm_kind(ctx: ProbeContext, dmi: Dict[str, str]) -> Optional[str]:
    vendor = " ".join(
        dmi.get(k, "")
        for k in ("sys_vendor", "product_name", "board_vendor", "bios_vendor", "bios_version")
    ).lower()
    for marker, kind in (
        ("amazon ec2", "amazon"),
        ("amazon", "amazon"),
        ("qemu", "qemu"),
        ("kvm", "kvm"),
        ("vmware", "vmware"),
        ("virtualbox", "oracle"),
        ("innotek", "oracle"),
        ("microsoft corporation", "microsoft"),
        ("xen", "xen"),
        ("google", "google"),
        ("openstack", "kvm"),
        ("bochs", "bochs"),
        ("parallels", "parallels"),
    ):
        if marker in vendor:
            return kind
    try:
        if ctx.read("/sys/hypervisor/type").strip() == "xen":
            return "xen"
    except OSError:
        pass
    try:
        cpuinfo = ctx.read("/proc/cpuinfo", limit=1 << 16)
    except OSError:
        return None
    flags = re.search(r"^flags\s*:(.*)$", cpuinfo, re.MULTILINE)
    if flags is None:
        return None  # not x86: no hypervisor flag to look at
    if "hypervisor" in flags.group(1).split():
        return None  # virtualised, but DMI does not say by what
    return "none"


def gather_os(ctx: ProbeContext) -> Dict[str, Any]:
    text = None
    for candidate in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            text = ctx.read(candidate)
            break
        except OSError:
            continue
    if text is None:
        raise OSError(errno.ENOENT, "neither /etc/os-release nor /usr/lib/os-release")
    rel = parse_os_release(text)
    os_id = rel.get("ID", "linux") or "linux"
    id_like = tuple(rel.get("ID_LIKE", "").split())
    uname = os.uname()
    container = _container_kind(ctx)
    dmi = _read_dmi(ctx)
    virt = container if container else _vm_kind(ctx, dmi)
    return {
        "id": os_id,
        "id_like": list(id_like),
        "version_id": rel.get("VERSION_ID"),
        "pretty_name": rel.get("PRETTY_NAME"),
        "family": os_family(os_id, id_like),
        "kernel": uname.release,
        "arch": uname.machine,
        "virtualization": virt,
        "container": container is not None,
        "systemd_running": _systemd_running(ctx),
    }


def _systemd_running(ctx: ProbeContext) -> bool:
    if not os.path.isdir(ctx.path("/run/systemd/system")):
        return False
    try:
        return ctx.read("/proc/1/comm").strip() == "systemd"
    except OSError:
        return False


class Gatherer(object):
    """Runs the gatherers of one request; slow subprocesses are started first, in background."""

    def __init__(self, ctx: ProbeContext, request: Dict[str, Any]) -> None:
        self.ctx = ctx
        self.request = request
        self.facts = list(request.get("facts") or [])
        self.bg = {}  # type: Dict[str, _Background]
        self.updater = None  # type: Optional[str]
        #: apt: the full simulation, and whether the one running considers only security sources
        self.apt_full = []  # type: List[str]
        self.apt_scope = "all"

    # -- background starters -------------------------------------------------------------------

    def start_background(self) -> None:
        ctx = self.ctx
        if "sshd" in self.facts:
            sshd = _which(ctx, ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"))
            if sshd:
                self.bg["sshd"] = _Background([sshd, "-T"], 20)
                # the same with -ddd: sshd logs each Match block it loads (``Gatherer.sshd``);
                # a separate run, since -ddd also changes the LogLevel that -T prints
                self.bg["sshd_debug"] = _Background([sshd, "-T", "-ddd"], 20)
        if "packages" in self.facts and not os.path.exists(ctx.path("/var/lib/dpkg/status")):
            rpm = shutil.which("rpm", path=_SUBPROCESS_ENV["PATH"])
            if rpm and _rpm_db_present(ctx):
                argv = [rpm]
                if ctx.root != "/":
                    argv += ["--root", ctx.root]
                argv += [
                    "-qa",
                    "--qf",
                    "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n",
                ]
                self.bg["rpm"] = _Background(argv, 120)
        if "services" in self.facts and ctx.root == "/" and _systemd_running(ctx):
            systemctl = shutil.which("systemctl", path=_SUBPROCESS_ENV["PATH"])
            if systemctl:
                self.bg["unit_files"] = _Background(
                    [systemctl, "list-unit-files", "--type=service", "--no-legend", "--no-pager"],
                    30,
                )
                self.bg["units"] = _Background(
                    [
                        systemctl,
                        "list-units",
                        "--type=service",
                        "--all",
                        "--no-legend",
                        "--no-pager",
                        "--plain",
                    ],
                    30,
                )
        if "updates" in self.facts and ctx.root == "/":
            self._start_updates()

    def waiting_facts(self) -> Set[str]:
        """Facts whose gatherer waits for a background command."""
        owners = {
            "sshd": "sshd",
            "sshd_debug": "sshd",
            "rpm": "packages",
            "unit_files": "services",
            "units": "services",
            "apt": "updates",
            "dnf_pending": "updates",
            "dnf_security": "updates",
            "apk": "updates",
        }
        return {owners[k] for k in self.bg if k in owners}

    def _start_updates(self) -> None:
        path = _SUBPROCESS_ENV["PATH"]
        apt = shutil.which("apt-get", path=path)
        if apt and os.path.exists("/var/lib/dpkg/status"):
            self.apt_full = [apt, *_APT_SIMULATE, "upgrade"]
            sources, _why = apt_security_sources(read_apt_sources(), _listdir_abs(APT_LISTS))
            fd = _memfd(sources) if sources is not None else None
            if fd is None:
                self.bg["apt"] = _Background(self.apt_full, 180)
                return
            # apt reads the security sources from an in-memory file (it needs a regular file,
            # so not a pipe) and builds its cache in memory: with other sources than the host's,
            # it would otherwise rewrite /var/cache/apt/*.bin. Nothing is written on the host.
            self.apt_scope = "security"
            argv = [
                apt,
                *_APT_SIMULATE,
                "-V",
                "-o",
                "Dir::Etc::SourceList=/dev/fd/%d" % fd,
                "-o",
                "Dir::Etc::SourceParts=-",
                "-o",
                "Dir::Cache::pkgcache=",
                "-o",
                "Dir::Cache::srcpkgcache=",
                "upgrade",
            ]
            self.bg["apt"] = _Background(argv, 180, pass_fds=(fd,))
            return
        for tool in ("dnf", "yum"):
            exe = shutil.which(tool, path=path)
            if exe:
                self.bg["dnf_pending"] = _Background([exe, "-q", "-C", "check-update"], 180)
                self.bg["dnf_security"] = _Background(
                    [exe, "-q", "-C", "updateinfo", "list", "--security"], 180
                )
                self.updater = tool
                return
        apk = shutil.which("apk", path=path)
        if apk:
            self.bg["apk"] = _Background([apk, "version", "-l", "<"], 120)

    # -- facts ---------------------------------------------------------------------------------

    def os_info(self) -> Dict[str, Any]:
        return gather_os(self.ctx)

    def packages(self) -> Dict[str, Any]:
        ctx = self.ctx
        if os.path.exists(ctx.path("/var/lib/dpkg/status")):
            items = parse_dpkg_status(ctx.read("/var/lib/dpkg/status"))
            return {"manager": "dpkg", "items": items}
        if "rpm" in self.bg:
            job = self.bg["rpm"].wait()
            if job.error or job.returncode != 0:
                raise RuntimeError(job.failure())
            return {"manager": "rpm", "items": parse_rpm_qa(job.stdout)}
        if os.path.exists(ctx.path("/lib/apk/db/installed")):
            items = parse_apk_installed(ctx.read("/lib/apk/db/installed"))
            return {"manager": "apk", "items": items}
        raise LookupError("no package database found (dpkg status, rpm, apk)")

    def package_changelogs(self) -> Dict[str, List[str]]:
        ctx = self.ctx
        if not os.path.exists(ctx.path("/var/lib/dpkg/status")):
            raise LookupError("changelog CVE mentions are read from Debian changelogs (dpkg) only")
        items = parse_dpkg_status(ctx.read("/var/lib/dpkg/status"))

        def read_gz(path):
            # type: (str) -> bytes
            import gzip

            real = ctx.path(path)
            with gzip.open(real, "rb") as fh:
                return fh.read(CHANGELOG_MAX_BYTES)

        return changelog_cves(read_gz, (i["name"].split(":")[0] for i in items))

    def sshd(self) -> Dict[str, Any]:
        """``sshd -T`` (started in the background): the global effective configuration, i.e.
        what applies to a connection no ``Match`` block selects. Each Match block (sshd names
        them in its debug output) is then read as sshd itself applies it: the probe builds a
        connection the block selects and runs ``sshd -T -C CONNECTION``, checking in sshd's
        debug output that the block did select it; a block it cannot evaluate says why. When
        ``sshd -T`` fails (not root, no host keys, missing /run/sshd) its message is the error
        and ``config`` stays empty: nothing is derived from sshd_config by guesswork."""
        job = self.bg.get("sshd")
        if job is None:
            return {"installed": False, "config": {}, "error": None, "matches": []}
        sshd = job.argv[0]
        job.wait()
        debug = self.bg["sshd_debug"].wait()
        private_run = False
        if job.returncode not in (None, 0) and "privilege separation directory" in job.stderr:
            retry = self._sshd_with_private_run(job.argv)
            if retry is not None and "privilege separation directory" not in retry.stderr:
                job, private_run = retry, True
                debug = self._sshd_with_private_run(debug.argv) or debug
        base = None  # type: Optional[str]
        if job.returncode not in (None, 0) and _SSHD_NEEDS_LPORT in job.stderr:
            # a config with Match LocalPort: sshd -T needs a port, one no such block selects
            port = sshd_unselected_port(sshd_match_blocks(debug.stderr))
            if port is not None:
                base = "lport=" + port
                job = self._sshd_run([sshd, "-T", "-C", base], private_run)
                debug = self._sshd_run([sshd, "-T", "-ddd", "-C", base], private_run)
        if job.error or job.returncode != 0:
            reason = job.failure()
            if self.ctx.euid != 0:
                reason += " (not root)"
            return {"installed": True, "config": {}, "error": reason, "matches": []}
        matches = []  # type: List[Dict[str, Any]]
        if debug.error or debug.returncode != 0:
            matches.append({"criteria": "(unknown)", "connection": None, "config": {},
                            "error": "sshd -T -ddd failed, so its Match blocks are unknown: "
                            + _without_debug(debug)})
        else:
            matches = self._sshd_matches(sshd, debug.stderr, private_run, base)
        return {
            "installed": True,
            "config": parse_sshd_t(job.stdout),
            "error": None,
            "matches": matches,
        }

    def _sshd_run(self, argv: List[str], private_run: bool) -> "_Background":
        run = self._sshd_with_private_run(argv) if private_run else None
        return run if run is not None else _Background(argv, 20).wait()

    def _sshd_matches(
        self, sshd: str, debug: str, private_run: bool, base: Optional[str]
    ) -> List[Dict[str, Any]]:
        matches = []  # type: List[Dict[str, Any]]
        occurrences = {}  # type: Dict[str, int]
        for n, criteria in enumerate(sshd_match_blocks(debug)):
            occurrence = occurrences.get(criteria, 0)
            occurrences[criteria] = occurrence + 1
            entry = {"criteria": criteria, "connection": None, "config": {},
                     "error": None, "inert": None}  # type: Dict[str, Any]
            matches.append(entry)
            inert = sshd_block_inert(criteria)
            if inert is not None:
                entry["inert"] = inert
                continue
            if n >= MAX_SSHD_MATCH_BLOCKS:
                entry["error"] = "not evaluated: more than %d Match blocks" % (
                    MAX_SSHD_MATCH_BLOCKS)
                continue
            spec, why = sshd_match_connection(criteria, self.ctx.passwd(), self.ctx.groups())
            if spec is None:
                entry["error"] = "cannot build a connection this block selects: %s" % why
                continue
            if base is not None and "lport=" not in spec:
                spec += "," + base
            entry["connection"] = spec
            # twice: with -ddd to see that sshd selected the block, without for the values
            # (-ddd shows LogLevel DEBUG3)
            runs = [self._sshd_run([sshd, "-T", "-ddd", "-C", spec], private_run),
                    self._sshd_run([sshd, "-T", "-C", spec], private_run)]
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

    def _sshd_with_private_run(self, argv: List[str]) -> Optional["_Background"]:
        """``sshd -T`` refuses to run without /run/sshd, which exists only while sshd runs
        (socket-activated or stopped sshd). The probe never creates it on the host: as root it
        runs ``argv`` in a private mount namespace with an empty tmpfs on /run holding
        /run/sshd; the namespace and the tmpfs vanish with the process. None when it cannot
        (not root, not the real root, no unshare)."""
        ctx = self.ctx
        unshare = _which(ctx, ("/usr/bin/unshare", "/bin/unshare"))
        if ctx.euid != 0 or ctx.root != "/" or unshare is None:
            return None
        script = ('mount -t tmpfs -o size=64k,mode=0755 inspectorctl-probe /run && '
                  'mkdir -m 0755 /run/sshd && exec "$@"')
        return _Background([unshare, "--mount", "--propagation", "private", "--",
                            "/bin/sh", "-c", script, "sh", *argv], 20).wait()

    def sysctl(self) -> Dict[str, Any]:
        ctx = self.ctx
        runtime = {}  # type: Dict[str, str]
        missing = []  # type: List[str]
        errors = {}  # type: Dict[str, str]
        for key in self.request.get("sysctl_keys") or []:
            key = normalise_sysctl_key(key)
            path = "/proc/sys/" + key.replace(".", "/")
            try:
                runtime[key] = normalise_sysctl_value(ctx.read(path))
            except OSError as e:
                if e.errno == errno.ENOENT:
                    missing.append(key)
                else:
                    errors[key] = ctx.reason(e, path)
        configured = {}  # type: Dict[str, List[Dict[str, Any]]]
        for host_file in sysctl_files(ctx):
            try:
                text = ctx.read(host_file)
            except OSError as e:
                errors[host_file] = ctx.reason(e, host_file)
                continue
            assignments, bad = parse_sysctl_conf(text, host_file)
            for complaint in bad:
                errors.setdefault(host_file, complaint)
            for key, setting in assignments:
                configured.setdefault(key, []).append(setting)
        return {"runtime": runtime, "missing": missing, "configured": configured, "errors": errors}

    def files(self) -> Dict[str, Any]:
        out = {}  # type: Dict[str, Any]
        for req in self.request.get("files") or []:
            path = req.get("path", "")
            out[path] = file_info(
                self.ctx, path, bool(req.get("sha256")), list(req.get("patterns") or [])
            )
        return out

    def walks(self) -> Dict[str, Any]:
        return walk(
            self.ctx,
            list(self.request.get("walks") or []),
            int(self.request.get("walk_max_results", 1000)),
            float(self.request.get("walk_max_seconds", 20.0)),
        )

    def mounts(self) -> Dict[str, Any]:
        mounts = self.ctx.mounts()
        try:
            fstab = parse_fstab(self.ctx.read("/etc/fstab"))
        except OSError:
            fstab = []
        return {"mounts": mounts, "fstab": fstab}

    def kernel_modules(self) -> Dict[str, Any]:
        ctx = self.ctx
        try:
            text = ctx.read("/proc/modules")
            loaded = sorted({line.split()[0] for line in text.splitlines() if line.split()})
        except OSError as e:
            if e.errno != errno.ENOENT or not os.path.isdir(ctx.path("/proc/sys")):
                raise
            loaded = []  # a kernel built without module support has no /proc/modules
        blacklisted = []  # type: List[str]
        install = {}  # type: Dict[str, str]
        for host_file in conf_d_files(ctx, "modprobe.d", ".conf"):
            try:
                bl, inst = parse_modprobe_conf(ctx.read(host_file))
            except OSError:
                continue
            for name in bl:
                if name not in blacklisted:
                    blacklisted.append(name)
            for name, command in inst:
                install.setdefault(name, command)  # modprobe uses the first install command
        # keyed by the name as requested; looked up normalised ("usb-storage" = "usb_storage")
        available = {}  # type: Dict[str, Optional[bool]]
        wanted = list(self.request.get("modules") or [])
        if wanted:
            known = _module_files(ctx)
            for name in wanted:
                available[name] = None if known is None else name.replace("-", "_") in known
        return {
            "loaded": loaded,
            "blacklisted": blacklisted,
            "install": install,
            "available": available,
        }

    def accounts(self) -> Dict[str, Any]:
        ctx = self.ctx
        passwd = parse_passwd(ctx.read("/etc/passwd"))
        shadow = {}  # type: Dict[str, Dict[str, Any]]
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
        accounts = []  # type: List[Dict[str, Any]]
        for entry in passwd:
            shell = entry["shell"]
            account = {
                "name": entry["name"],
                "uid": entry["uid"],
                "gid": entry["gid"],
                "home": entry["home"],
                "shell": shell,
                "login_shell": os.path.basename(shell) not in _NON_LOGIN_SHELLS,
                "password": "unknown",
            }  # type: Dict[str, Any]
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

    def login_defs(self) -> Dict[str, str]:
        return parse_login_defs(self.ctx.read("/etc/login.defs"))

    def systemd_conf(self) -> Dict[str, Any]:
        """journald.conf and coredump.conf as systemd reads them: main file, then drop-ins;
        for each key the last assignment (value, file, line). An unreadable file is an error:
        it could hold the assignment that wins."""
        ctx = self.ctx
        out = {}  # type: Dict[str, Any]
        for name, section in sorted(SYSTEMD_CONFS.items()):
            files = systemd_conf_files(ctx, name)
            values = {}  # type: Dict[str, Dict[str, Any]]
            errors = {}  # type: Dict[str, str]
            for host_file, text in _read_each(ctx, files, errors):
                for key, (value, line) in parse_systemd_conf(text, section).items():
                    values[key] = {"value": value, "file": host_file, "line": line}
            out[name] = {"files": files, "values": values, "errors": errors}
        return out

    def limits(self) -> Dict[str, Any]:
        """Every entry of pam_limits' files, in the order pam_limits reads them. An unreadable
        file is an error: it could hold the entry that decides."""
        ctx = self.ctx
        files = limits_files(ctx)
        entries = []  # type: List[Dict[str, Any]]
        errors = {}  # type: Dict[str, str]
        for host_file, text in _read_each(ctx, files, errors):
            for domain, kind, item, value, line in parse_limits_conf(text):
                entries.append({"domain": domain, "type": kind, "item": item, "value": value,
                                "file": host_file, "line": line})
        return {"files": files, "entries": entries, "errors": errors}

    def rsyslog(self) -> Dict[str, Any]:
        """rsyslog.conf with its includes ($IncludeConfig, include(file=...)) followed where
        they stand: where log files' modes are set, omfile actions that take the default, and
        network inputs. An unreadable file is an error: it could hold what decides."""
        ctx = self.ctx
        files = []  # type: List[str]
        errors = {}  # type: Dict[str, str]
        modes = []  # type: List[Dict[str, Any]]
        default_actions = []  # type: List[Dict[str, Any]]
        inputs = []  # type: List[Dict[str, Any]]

        def visit(host_file: str, depth: int) -> None:
            if host_file in files or depth > 8:
                return
            files.append(host_file)
            for _, text in _read_each(ctx, [host_file], errors):
                for kind, name, params, line in parse_rsyslog_conf(text):
                    at = {"file": host_file, "line": line}
                    value = params.get("value", "").split()
                    if kind == "legacy" and name == "$includeconfig" and value:
                        for inc in _rsyslog_include(ctx, value[0]):
                            visit(inc, depth + 1)
                    elif kind == "include" and params.get("file"):
                        for inc in _rsyslog_include(ctx, params["file"]):
                            visit(inc, depth + 1)
                    elif kind == "legacy" and name == "$filecreatemode" and value:
                        modes.append(dict(at, value=value[0], set_by="$FileCreateMode"))
                    elif kind == "legacy" and name == "$modload" and value and (
                            value[0] in RSYSLOG_REMOTE_INPUTS):
                        inputs.append(dict(at, module=value[0], how="$ModLoad"))
                    elif kind == "legacy" and name in _RSYSLOG_LEGACY_LISTENERS:
                        directive, module = _RSYSLOG_LEGACY_LISTENERS[name]
                        inputs.append(dict(at, module=module, how=directive))
                    elif kind in ("module", "input"):
                        module = params.get("load" if kind == "module" else "type", "")
                        if module in RSYSLOG_REMOTE_INPUTS:
                            inputs.append(dict(at, module=module, how="%s()" % kind))
                        if kind == "module" and module == "builtin:omfile" and (
                                "filecreatemode" in params):
                            modes.append(dict(at, value=params["filecreatemode"],
                                              set_by="module(builtin:omfile)"))
                    elif kind == "action" and params.get("type", "").lower() == "omfile":
                        if "filecreatemode" in params:
                            modes.append(dict(at, value=params["filecreatemode"],
                                              set_by="action(omfile)"))
                        else:
                            default_actions.append(at)

        if os.path.isfile(ctx.path(RSYSLOG_CONF)):
            visit(RSYSLOG_CONF, 0)
        return {"files": files, "errors": errors, "file_create_modes": modes,
                "default_mode_actions": default_actions, "remote_inputs": inputs}

    def pam(self) -> Dict[str, Any]:
        ctx = self.ctx
        services = {}  # type: Dict[str, List[Dict[str, Any]]]
        errors = {}  # type: Dict[str, str]
        seen = set()  # type: Set[str]
        found_dir = False
        for directory in ("/etc/pam.d", "/usr/lib/pam.d", "/lib/pam.d"):
            try:
                names = sorted(os.listdir(ctx.path(directory)))
            except OSError:
                continue
            found_dir = True
            for name in names:
                if (
                    name in seen
                    or name.startswith(".")
                    or name.endswith(("~", ".dpkg-old", ".dpkg-dist", ".rpmnew", ".rpmsave"))
                ):
                    continue
                host_file = directory + "/" + name
                if not os.path.isfile(ctx.path(host_file)):
                    continue
                seen.add(name)
                try:
                    services[name] = parse_pam(ctx.read(host_file))
                except OSError as e:
                    errors[name] = ctx.reason(e, host_file)
        if not found_dir:
            raise OSError(errno.ENOENT, "no /etc/pam.d")
        pwquality = {}  # type: Dict[str, str]
        dropins = sorted(
            "/etc/security/pwquality.conf.d/" + n
            for n in _listdir(ctx, "/etc/security/pwquality.conf.d")
            if n.endswith(".conf")
        )
        for host_file in ["/etc/security/pwquality.conf", *dropins]:
            try:
                pwquality.update(parse_keyvalue_conf(ctx.read(host_file)))
            except OSError as e:
                if e.errno != errno.ENOENT:
                    errors[host_file] = ctx.reason(e, host_file)
        faillock = {}  # type: Dict[str, str]
        try:
            faillock = parse_keyvalue_conf(ctx.read("/etc/security/faillock.conf"))
        except OSError as e:
            if e.errno != errno.ENOENT:
                errors["/etc/security/faillock.conf"] = ctx.reason(e, "faillock.conf")
        return {
            "services": services,
            "pwquality": pwquality,
            "faillock": faillock,
            "errors": errors,
        }

    def sockets(self) -> List[Dict[str, Any]]:
        ctx = self.ctx
        entries = []  # type: List[Dict[str, Any]]
        readable = 0
        for proto in ("tcp", "tcp6", "udp", "udp6"):
            try:
                text = ctx.read("/proc/net/" + proto)
            except OSError:
                continue
            readable += 1
            entries.extend(e for e in parse_proc_net(text, proto) if is_listening(e))
        if not readable:
            raise OSError(errno.ENOENT, "/proc/net/{tcp,tcp6,udp,udp6} not readable")
        owners = _socket_owners(ctx, {e["inode"] for e in entries}) if entries else {}
        out = []  # type: List[Dict[str, Any]]
        seen = set()  # type: Set[Tuple[Any, ...]]
        for e in entries:
            key = (e["proto"], e["address"], e["port"], e["inode"])
            if key in seen:
                continue
            seen.add(key)
            pid, comm, exe = owners.get(e["inode"], (None, None, None))
            out.append(
                {
                    "proto": e["proto"],
                    "address": e["address"],
                    "port": e["port"],
                    "pid": pid,
                    "process": comm,
                    "exe": exe,
                }
            )
        exes = {s["exe"] for s in out if s["exe"]}
        owner_pkgs = dpkg_file_owners(ctx, exes) if exes else {}
        for s in out:
            s["package"] = owner_pkgs.get(s["exe"]) if s["exe"] else None
        out.sort(key=lambda s: (s["proto"], s["port"], s["address"]))
        return out

    def services(self) -> Dict[str, Any]:
        ctx = self.ctx
        if "unit_files" in self.bg:
            files_job = self.bg["unit_files"].wait()
            units_job = self.bg["units"].wait()
            if files_job.error or files_job.returncode != 0:
                raise RuntimeError(files_job.failure())
            states = parse_systemctl_unit_files(files_job.stdout)
            active = {}  # type: Dict[str, str]
            if not (units_job.error or units_job.returncode != 0):
                active = parse_systemctl_units(units_job.stdout)
            items = {}  # type: Dict[str, Any]
            for name in sorted(set(states) | set(active)):
                state = states.get(name)
                items[name] = {
                    "name": name,
                    "unit_file_state": state,
                    "enabled": _enabled_from_state(state),
                    "active": (active[name] in ("active", "reloading"))
                    if name in active
                    else (False if units_job.returncode == 0 else None),
                    "active_source": "systemctl" if units_job.returncode == 0 else "unknown",
                }
            return {"manager": "systemd", "items": items}
        if any(os.path.isdir(ctx.path(d)) for d in _UNIT_DIRS):
            return {"manager": "systemd", "items": services_from_unit_files(ctx)}
        if os.path.isdir(ctx.path("/etc/runlevels")):
            return {"manager": "openrc", "items": services_openrc(ctx)}
        if os.path.isdir(ctx.path("/etc/init.d")):
            return {"manager": "sysv", "items": services_sysv(ctx)}
        return {"manager": "none", "items": {}}

    def updates(self) -> Dict[str, Any]:
        if self.ctx.root != "/":
            raise LookupError("pending updates are only computed for the real root")
        if "apt" in self.bg:
            job = self.bg["apt"].wait()
            scope = self.apt_scope
            if scope == "security" and (job.error or job.returncode != 0):
                # an apt that refuses these options (or has no /dev/fd): the full simulation
                job = _Background(self.apt_full, 180).wait()
                scope = "all"
            age = _newest_age(["/var/lib/apt/periodic/update-success-stamp", APT_LISTS], APT_LISTS)
            if job.error or job.returncode != 0:
                return _updates("apt", {}, [], age, job.failure(), scope)
            pending, security = parse_apt_simulation(job.stdout)
            if scope == "security":
                # every candidate comes from a security source; one that `upgrade` keeps back
                # (it needs a package from elsewhere, or a new one) is pending all the same
                for name, version in parse_apt_kept_back(job.stdout).items():
                    pending.setdefault(name, version)
                security = list(pending)
            return _updates("apt", pending, security, age, None, scope)
        if "dnf_pending" in self.bg:
            tool = self.updater or "dnf"
            pending_job = self.bg["dnf_pending"].wait()
            sec_job = self.bg["dnf_security"].wait()
            cache = "/var/cache/dnf" if tool == "dnf" else "/var/cache/yum"
            age = _newest_age([cache], cache)
            error = None
            dnf_pending = {}  # type: Dict[str, str]
            dnf_security = []  # type: List[str]
            if pending_job.error or pending_job.returncode not in (0, 100):
                error = pending_job.failure()
            else:
                dnf_pending = parse_dnf_check_update(pending_job.stdout)
            if sec_job.error or sec_job.returncode != 0:
                error = error or sec_job.failure()
            else:
                dnf_security = parse_dnf_updateinfo(sec_job.stdout)
            return _updates(tool, dnf_pending, dnf_security, age, error)
        if "apk" in self.bg:
            job = self.bg["apk"].wait()
            age = _newest_age(["/var/cache/apk", "/etc/apk/cache"], "/var/cache/apk")
            if job.error or job.returncode != 0:
                return _updates("apk", {}, [], age, job.failure())
            # apk has no security metadata: ``security`` stays empty
            return _updates("apk", parse_apk_version(job.stdout), [], age, None)
        raise LookupError("no supported package updater (apt-get, dnf, yum, apk)")

    def cloud(self) -> Dict[str, Any]:
        return gather_cloud(self.ctx)


def _updates(
    manager: str,
    pending: Dict[str, str],
    security: List[str],
    age: Optional[float],
    error: Optional[str],
    scope: str = "all",
) -> Dict[str, Any]:
    """``scope``: "all" when every source was considered, "security" when only security sources
    were (``pending`` then holds security updates only)."""
    return {
        "manager": manager,
        "scope": scope,
        "pending": pending,
        "security": security,
        "lists_age_seconds": age,
        "error": error,
    }


def _duplicates(values: Iterable[Any]) -> List[Any]:
    seen = set()  # type: Set[Any]
    dup = []  # type: List[Any]
    for v in values:
        if v in seen and v not in dup:
            dup.append(v)
        seen.add(v)
    return sorted(dup)


def _read_each(
    ctx: ProbeContext, files: List[str], errors: Dict[str, str]
) -> Iterator[Tuple[str, str]]:
    """(host path, text) of each file that can be read; the others go to ``errors`` with the
    reason (for settings files, where an unreadable one could hold what decides)."""
    for host_file in files:
        try:
            text = ctx.read(host_file)
        except OSError as e:
            errors[host_file] = ctx.reason(e, host_file)
            continue
        yield host_file, text


def _listdir(ctx: ProbeContext, directory: str) -> List[str]:
    try:
        return os.listdir(ctx.path(directory))
    except OSError:
        return []


def _listdir_abs(directory: str) -> List[str]:
    try:
        return os.listdir(directory)
    except OSError:
        return []


def read_apt_sources(etc_apt: str = "/etc/apt") -> List[Dict[str, Any]]:
    """The entries of the host's apt sources: ``sources.list`` and the files of
    ``sources.list.d`` apt reads (``*.list`` one-line, ``*.sources`` deb822; names of letters,
    digits, ``_``, ``.`` and ``-`` only). An unreadable file is skipped."""
    paths = [etc_apt + "/sources.list"]
    parts = etc_apt + "/sources.list.d"
    paths += [parts + "/" + n for n in sorted(_listdir_abs(parts)) if _APT_SOURCE_NAME.match(n)]
    entries = []  # type: List[Dict[str, Any]]
    for path in paths:
        try:
            with open(path, "rb") as fh:
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        if path.endswith(".sources"):
            entries += parse_apt_deb822_sources(text)
        else:
            entries += parse_apt_one_line_sources(text)
    return entries


def _memfd(text: str) -> Optional[int]:
    """An anonymous in-memory file holding ``text``, or None where Python (< 3.8) or the kernel
    has no ``memfd_create``. Close-on-exec: only a command given it in ``pass_fds`` gets it."""
    create = getattr(os, "memfd_create", None)
    if create is None:
        return None
    try:
        fd = create("inspectorctl-apt-sources")  # type: int
    except OSError:
        return None
    data = text.encode("utf-8")
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        os.close(fd)
        return None
    return fd


def _rpm_db_present(ctx: ProbeContext) -> bool:
    return any(os.path.isdir(ctx.path(p)) for p in ("/var/lib/rpm", "/usr/lib/sysimage/rpm"))


def _newest_age(paths: List[str], directory: str) -> Optional[float]:
    """Seconds since the newest mtime among ``paths`` and the files directly in ``directory``."""
    newest = None  # type: Optional[float]
    candidates = list(paths)
    candidates += [os.path.join(directory, n) for n in _listdir_abs(directory)]
    for p in candidates:
        try:
            mtime = os.stat(p).st_mtime
        except OSError:
            continue
        if newest is None or mtime > newest:
            newest = mtime
    if newest is None:
        return None
    return max(0.0, round(time.time() - newest, 1))


_CONF_DIRS = ("/etc", "/run", "/usr/local/lib", "/usr/lib", "/lib")


def conf_d_files(ctx: ProbeContext, subdir: str, suffix: str) -> List[str]:
    """systemd-style drop-in precedence: files from /etc/X, /run/X, /usr/local/lib/X,
    /usr/lib/X, /lib/X; a basename in an earlier dir masks the same basename later; result sorted
    by basename. Directories that are the same (merged /usr: /lib -> /usr/lib) count once."""
    chosen = {}  # type: Dict[str, str]
    seen_dirs = set()  # type: Set[str]
    for base in _CONF_DIRS:
        directory = base + "/" + subdir
        real = os.path.realpath(ctx.path(directory))
        if real in seen_dirs:
            continue
        seen_dirs.add(real)
        for name in _listdir(ctx, directory):
            if name.endswith(suffix) and name not in chosen:
                chosen[name] = directory + "/" + name
    return [chosen[n] for n in sorted(chosen)]


def sysctl_files(ctx: ProbeContext) -> List[str]:
    """sysctl.d files in systemd-sysctl order, then /etc/sysctl.conf (as ``sysctl --system``),
    unless /etc/sysctl.conf was already read through a symlink (Debian's 99-sysctl.conf)."""
    files = conf_d_files(ctx, "sysctl.d", ".conf")
    reals = {os.path.realpath(ctx.path(f)) for f in files}
    conf = ctx.path("/etc/sysctl.conf")
    if os.path.exists(conf) and os.path.realpath(conf) not in reals:
        files.append("/etc/sysctl.conf")
    # a masked basename (symlink to /dev/null) is simply empty: reading it yields nothing
    return files


def _module_files(ctx: ProbeContext) -> Optional[Set[str]]:
    """Module names available for the running kernel (modules.dep + modules.builtin), or None
    when /lib/modules/<release> is not visible."""
    base = "/lib/modules/" + os.uname().release
    if not os.path.isdir(ctx.path(base)):
        return None
    names = set()  # type: Set[str]
    found = False
    for index in ("modules.dep", "modules.builtin"):
        try:
            text = ctx.read(base + "/" + index)
        except OSError:
            continue
        found = True
        for line in text.splitlines():
            path = line.split(":", 1)[0].strip()
            if not path:
                continue
            name = os.path.basename(path)
            name = re.sub(r"\.ko(\.(xz|gz|zst))?$", "", name)
            names.add(name.replace("-", "_"))
    return names if found else None


def dpkg_file_owners(ctx: ProbeContext, paths: Set[str]) -> Dict[str, str]:
    """path -> the dpkg package whose file list names it (``/var/lib/dpkg/info/*.list``); a
    merged-/usr path is also looked up without its ``/usr`` (``/usr/bin/x`` listed as
    ``/bin/x``). Paths no package lists are left out; no dpkg database gives {}."""
    want = {}  # type: Dict[str, str]
    for p in paths:
        want[p] = p
        if p.startswith("/usr/"):
            want.setdefault(p[4:], p)
    info = ctx.path("/var/lib/dpkg/info")
    try:
        names = sorted(n for n in os.listdir(info) if n.endswith(".list"))
    except OSError:
        return {}
    out = {}  # type: Dict[str, str]
    for n in names:
        try:
            with open(os.path.join(info, n), "rb") as fh:
                lines = fh.read().decode("utf-8", "replace").splitlines()
        except OSError:
            continue
        for line in lines:
            original = want.get(line)
            if original is not None and original not in out:
                out[original] = n[: -len(".list")].split(":")[0]
        if len(out) == len(paths):
            break
    return out


def _socket_owners(
    ctx: ProbeContext, inodes: Set[int]
) -> Dict[int, Tuple[int, Optional[str], Optional[str]]]:
    owners = {}  # type: Dict[int, Tuple[int, Optional[str], Optional[str]]]
    proc = ctx.path("/proc")
    for entry in ctx.processes():
        fd_dir = os.path.join(proc, str(entry["pid"]), "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                try:
                    inode = int(target[8:-1])
                except ValueError:
                    continue
                if inode in inodes and inode not in owners:
                    owners[inode] = (entry["pid"], entry["comm"], entry["exe"])
    return owners


# -- services without systemd as PID 1 ---------------------------------------------------------

_UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)


def _enabled_from_state(state: Optional[str]) -> Optional[bool]:
    """enabled/enabled-runtime: True. disabled, masked, static (no [Install] section: it cannot
    be enabled) and indirect: False. generated, transient, alias (resolved to its target later)
    and unknown states: None."""
    if state in ("enabled", "enabled-runtime"):
        return True
    if state in ("disabled", "masked", "masked-runtime", "static", "indirect"):
        return False
    return None


def services_from_unit_files(ctx: ProbeContext) -> Dict[str, Any]:
    """Service states from unit files when systemd is not PID 1 (containers, lab hosts).

    ``enabled``: a symlink in /etc/systemd/system/*.wants or *.requires (or the /run
    equivalents: enabled-runtime); masked: the unit resolves to /dev/null. ``active``: a running
    process whose executable is the unit's ExecStart program; None when that cannot be told
    (shell one-liners, oneshot units without a process).
    """
    # name.service -> host paths of every occurrence, highest precedence first
    occurrences = {}  # type: Dict[str, List[str]]
    seen_dirs = set()  # type: Set[str]
    for directory in _UNIT_DIRS:
        real = os.path.realpath(ctx.path(directory))
        if real in seen_dirs:
            continue
        seen_dirs.add(real)
        for name in _listdir(ctx, directory):
            if name.endswith(".service"):
                occurrences.setdefault(name, []).append(directory + "/" + name)
    units = {n: paths[0] for n, paths in occurrences.items()}
    wants = {}  # type: Dict[str, str]
    for directory, how in (
        ("/etc/systemd/system", "enabled"),
        ("/run/systemd/system", "enabled-runtime"),
    ):
        for sub in _listdir(ctx, directory):
            if not sub.endswith((".wants", ".requires")):
                continue
            for name in _listdir(ctx, directory + "/" + sub):
                if name.endswith(".service"):
                    wants.setdefault(name, how)
                    if "@" in name:  # an instance enables its template
                        wants.setdefault(name.split("@", 1)[0] + "@.service", how)
    running = ctx.processes()
    items = {}  # type: Dict[str, Any]
    for unit_name in sorted(units):
        host_path = units[unit_name]
        real_path = ctx.path(host_path)
        name = unit_name[: -len(".service")]
        state = None  # type: Optional[str]
        target = None
        if os.path.islink(real_path):
            try:
                target = os.readlink(real_path)
            except OSError:
                target = None
        masked = target == "/dev/null" or os.path.realpath(real_path) == "/dev/null"
        sections = {}  # type: Dict[str, Dict[str, List[str]]]
        for candidate in occurrences[unit_name]:
            # a masked unit: its ExecStart comes from the vendor file the mask hides
            if os.path.realpath(ctx.path(candidate)) == "/dev/null":
                continue
            sections = _read_unit(ctx, candidate)
            break
        exec_start = []  # type: List[str]
        for value in sections.get("Service", {}).get("ExecStart", []):
            exec_start = [*exec_start, value] if value else []
        for dropin in _dropins(ctx, unit_name):
            try:
                extra = parse_unit_file(ctx.read(dropin))
            except OSError:
                continue
            for value in extra.get("Service", {}).get("ExecStart", []):
                exec_start = [*exec_start, value] if value else []
        is_alias = (
            target is not None
            and os.path.basename(target) != unit_name
            and os.path.basename(target).endswith(".service")
        )
        install = sections.get("Install", {})
        if masked:
            state = "masked-runtime" if host_path.startswith("/run/") else "masked"
        elif is_alias:
            state = "alias"
        elif unit_name in wants:
            state = wants[unit_name]
        elif not install:
            state = "static"
        elif not any(install.get(k) for k in ("WantedBy", "RequiredBy", "Alias", "UpheldBy")):
            state = "indirect"
        else:
            state = "disabled"
            for alias in " ".join(install.get("Alias", [])).split():
                if alias in wants:
                    state = wants[alias]
        service_type = (sections.get("Service", {}).get("Type") or ["simple"])[-1]
        active = None  # type: Optional[bool]
        if "@" not in unit_name:
            binaries = [b for b in (exec_start_binary(v) for v in exec_start) if b]
            active = _process_active(running, binaries)
            if not active and (not binaries or service_type == "oneshot"):
                active = None
        items[name] = {
            "name": name,
            "unit_file_state": state,
            "enabled": _enabled_from_state(state),
            "active": active,
            "active_source": "process" if active is not None else "unknown",
        }
    # an alias follows its target
    for name, item in items.items():
        if item["unit_file_state"] == "alias":
            try:
                target_name = os.path.basename(os.readlink(ctx.path(units[name + ".service"])))
            except OSError:
                continue
            target_item = items.get(target_name[: -len(".service")])
            if target_item is not None:
                item["enabled"] = target_item["enabled"]
                item["active"] = target_item["active"]
                item["active_source"] = target_item["active_source"]
    return items


def _read_unit(ctx: ProbeContext, host_path: str) -> Dict[str, Dict[str, List[str]]]:
    try:
        return parse_unit_file(ctx.read(host_path))
    except OSError:
        return {}


def _dropins(ctx: ProbeContext, unit_name: str) -> List[str]:
    chosen = {}  # type: Dict[str, str]
    for directory in _UNIT_DIRS:
        d = directory + "/" + unit_name + ".d"
        for name in _listdir(ctx, d):
            if name.endswith(".conf") and name not in chosen:
                chosen[name] = d + "/" + name
    return [chosen[n] for n in sorted(chosen)]


def _process_active(running: List[Dict[str, Any]], binaries: List[str]) -> Optional[bool]:
    if not binaries:
        return False
    wanted_paths = set()  # type: Set[str]
    wanted_names = set()  # type: Set[str]
    for b in binaries:
        if b.startswith("/"):
            wanted_paths.add(b)
            wanted_paths.add(os.path.realpath(b))
            # merged /usr: /sbin/x and /usr/sbin/x are one file
            if b.startswith(("/bin/", "/sbin/", "/lib/")):
                wanted_paths.add("/usr" + b)
            elif b.startswith(("/usr/bin/", "/usr/sbin/", "/usr/lib/")):
                wanted_paths.add(b[4:])
        else:
            wanted_names.add(os.path.basename(b))
    for proc in running:
        exe = proc.get("exe")
        argv0 = proc.get("argv0") or ""
        if exe and exe in wanted_paths:
            return True
        if argv0 and (
            argv0 in wanted_paths or (argv0.split()[0] if argv0.split() else "") in wanted_paths
        ):
            return True
        if wanted_names and (
            (exe and os.path.basename(exe) in wanted_names)
            or os.path.basename(argv0) in wanted_names
        ):
            return True
    return False


def services_openrc(ctx: ProbeContext) -> Dict[str, Any]:
    items = {}  # type: Dict[str, Any]
    enabled = set()  # type: Set[str]
    for level in _listdir(ctx, "/etc/runlevels"):
        enabled.update(_listdir(ctx, "/etc/runlevels/" + level))
    started = set(_listdir(ctx, "/run/openrc/started"))
    have_state = os.path.isdir(ctx.path("/run/openrc"))
    for name in sorted(_listdir(ctx, "/etc/init.d")):
        if name.startswith(".") or name in ("functions.sh",):
            continue
        items[name] = {
            "name": name,
            "unit_file_state": "enabled" if name in enabled else "disabled",
            "enabled": name in enabled,
            "active": (name in started) if have_state else None,
            "active_source": "openrc" if have_state else "unknown",
        }
    return items


def services_sysv(ctx: ProbeContext) -> Dict[str, Any]:
    items = {}  # type: Dict[str, Any]
    enabled = set()  # type: Set[str]
    for level in ("2", "3", "4", "5"):
        for link in _listdir(ctx, "/etc/rc%s.d" % level):
            if link.startswith("S") and len(link) > 3:
                enabled.add(link[3:])
    for name in sorted(_listdir(ctx, "/etc/init.d")):
        if name.startswith(".") or name in ("README", "skeleton", "rc", "rcS", "functions"):
            continue
        items[name] = {
            "name": name,
            "unit_file_state": "enabled" if name in enabled else "disabled",
            "enabled": name in enabled,
            "active": None,
            "active_source": "unknown",
        }
    return items


# -- files -------------------------------------------------------------------------------------


def file_info(
    ctx: ProbeContext, path: str, want_sha256: bool, patterns: List[str]
) -> Dict[str, Any]:
    """Metadata of one path. A symlink is reported as type ``link`` with the metadata, digest and
    lines of what it points to (a link's own mode is always 0777 on Linux)."""
    info = {"path": path, "exists": False}  # type: Dict[str, Any]
    if not path.startswith("/"):
        info["error"] = "not an absolute path"
        return info
    real = ctx.path(path)
    try:
        lst = os.lstat(real)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return info
        info["error"] = ctx.reason(e, path)
        return info
    info["exists"] = True
    st = lst
    if stat.S_ISLNK(lst.st_mode):
        info["type"] = "link"
        try:
            st = os.stat(real) if ctx.root == "/" else os.stat(_resolve_in_root(ctx, path))
        except OSError as e:
            info["error"] = "dangling symlink" if e.errno == errno.ENOENT else ctx.reason(e, path)
            return info
    elif stat.S_ISREG(lst.st_mode):
        info["type"] = "file"
    elif stat.S_ISDIR(lst.st_mode):
        info["type"] = "dir"
    else:
        info["type"] = "other"
    info["mode"] = stat.S_IMODE(st.st_mode)
    info["uid"] = st.st_uid
    info["gid"] = st.st_gid
    info["owner"] = ctx.user_name(st.st_uid)
    info["group"] = ctx.group_name(st.st_gid)
    info["size"] = st.st_size
    if not stat.S_ISREG(st.st_mode) or not (want_sha256 or patterns):
        return info
    target = real if ctx.root == "/" or info["type"] != "link" else _resolve_in_root(ctx, path)
    errors = []  # type: List[str]
    if want_sha256:
        if st.st_size > _MAX_SHA256_BYTES:
            errors.append("sha256 skipped: larger than %d bytes" % _MAX_SHA256_BYTES)
        else:
            try:
                digest = hashlib.sha256()
                with open(target, "rb") as fh:
                    for chunk in iter(lambda: fh.read(_CHUNK), b""):
                        digest.update(chunk)
                info["sha256"] = digest.hexdigest()
            except OSError as e:
                errors.append(ctx.reason(e, path))
    if patterns:
        matches = _match_lines(ctx, path, target, st.st_size, patterns, errors)
        if matches is not None:
            info["matches"] = matches
    if errors:
        info["error"] = "; ".join(errors)
    return info


def _resolve_in_root(ctx: ProbeContext, path: str) -> str:
    """Resolve symlinks of a host path inside the root prefix (absolute targets stay inside)."""
    current = ctx.path(path)
    for _ in range(40):
        if not os.path.islink(current):
            return current
        target = os.readlink(current)
        if target.startswith("/"):
            current = ctx.path(target)
        else:
            current = os.path.normpath(os.path.join(os.path.dirname(current), target))
    raise OSError(errno.ELOOP, "too many levels of symbolic links", path)


def _match_lines(
    ctx: ProbeContext, path: str, target: str, size: int, patterns: List[str], errors: List[str]
) -> Optional[Dict[str, List[str]]]:
    canonical = os.path.normpath(path)
    if canonical in _NO_LINE_MATCH or os.path.basename(canonical).startswith(("shadow", "gshadow")):
        errors.append("line matching refused: %s holds password hashes" % path)
        return None
    if size > _MAX_MATCH_BYTES:
        errors.append("line matching skipped: larger than %d bytes" % _MAX_MATCH_BYTES)
        return None
    compiled = []  # type: List[Tuple[str, Any]]
    for p in patterns:
        try:
            compiled.append((p, re.compile(p)))
        except re.error as e:
            errors.append("invalid pattern %r: %s" % (p, e))
    try:
        with open(target, "rb") as fh:
            text = fh.read(_MAX_MATCH_BYTES).decode("utf-8", "replace")
    except OSError as e:
        errors.append(ctx.reason(e, path))
        return None
    if "PRIVATE KEY-----" in text:
        errors.append("line matching refused: %s holds a private key" % path)
        return None
    account_db = canonical in _ACCOUNT_FILES
    matches = {p: [] for p, _ in compiled}  # type: Dict[str, List[str]]
    withheld = 0
    for line in text.splitlines():
        if account_db:
            line = mask_account_line(line)
        for p, rx in compiled:
            if rx.search(line):
                if crypt_like(line):
                    withheld += 1
                    continue
                matches[p].append(line)
    if withheld:
        errors.append(
            "%d matching line(s) withheld: they look like a hash or a private key" % withheld
        )
    return matches


# -- walks -------------------------------------------------------------------------------------


def walk(
    ctx: ProbeContext, kinds: List[str], max_results: int, max_seconds: float
) -> Dict[str, Any]:
    """One bounded ``os.scandir`` pass over local filesystems for every requested kind.

    Kinds: ``world_writable`` (regular files writable by others), ``world_writable_dirs``
    (directories writable by others without the sticky bit), ``unowned`` (any entry whose uid
    or gid has no passwd/group entry), ``suid`` / ``sgid`` (regular files with setuid / setgid).
    Mountpoints of pseudo, image, network and FUSE filesystems (``WALK_SKIP_FSTYPES``, and any
    ``fuse.*``) are pruned; symlinks are never followed; each kind stops at ``max_results``;
    the pass stops after ``max_seconds``.
    """
    results = {}  # type: Dict[str, Dict[str, Any]]
    wanted = []  # type: List[str]
    for kind in kinds:
        if kind in results:
            continue
        if kind not in WALK_KINDS:
            results[kind] = {
                "paths": [],
                "scanned": 0,
                "truncated": True,
                "reason": "unknown walk kind; known: %s" % ", ".join(WALK_KINDS),
                "roots": ["/"],
            }
            continue
        results[kind] = {
            "paths": [],
            "scanned": 0,
            "truncated": False,
            "reason": None,
            "roots": ["/"],
        }
        wanted.append(kind)
    if not wanted:
        return results
    prune = set()  # type: Set[str]
    mount_note = None
    try:
        for m in ctx.mounts():
            fstype = m["fstype"]
            if (fstype in WALK_SKIP_FSTYPES or fstype.startswith("fuse.")) and m[
                "mountpoint"
            ] != "/":
                prune.add(ctx.path(m["mountpoint"]))
    except OSError as e:
        mount_note = "mount table unreadable (%s): nothing pruned" % ctx.reason(e, "mounts")
        for p in ("/proc", "/sys", "/dev"):
            prune.add(ctx.path(p))
    uids = {p["uid"] for p in ctx.passwd()}
    gids = {g["gid"] for g in ctx.groups()}
    known_uid = {}  # type: Dict[int, bool]
    known_gid = {}  # type: Dict[int, bool]

    def uid_ok(uid: int) -> bool:
        if uid in uids:
            return True
        if uid not in known_uid:
            known_uid[uid] = ctx.user_name(uid) is not None
        return known_uid[uid]

    def gid_ok(gid: int) -> bool:
        if gid in gids:
            return True
        if gid not in known_gid:
            known_gid[gid] = ctx.group_name(gid) is not None
        return known_gid[gid]

    want_ww = "world_writable" in wanted
    want_wwd = "world_writable_dirs" in wanted
    want_unowned = "unowned" in wanted
    want_suid = "suid" in wanted
    want_sgid = "sgid" in wanted
    found = {k: results[k]["paths"] for k in wanted}  # type: Dict[str, List[str]]
    full = set()  # type: Set[str]
    deadline = time.monotonic() + max_seconds
    scanned = 0
    denied = 0
    timed_out = False
    root = ctx.root
    host = ctx.host_path
    file_bits = (
        (0o002 if want_ww else 0) | (0o4000 if want_suid else 0) | (0o2000 if want_sgid else 0)
    )

    def add(kind: str, path: str) -> None:
        lst = found[kind]
        if len(lst) < max_results:
            lst.append(host(path))
        else:
            full.add(kind)

    stack = [root]
    while stack and not timed_out:
        if time.monotonic() > deadline:
            timed_out = True
            break
        directory = stack.pop()
        prefix = directory if directory.endswith("/") else directory + "/"
        fd = -1
        try:
            if _SCANDIR_FD:
                # scandir over a directory fd: entry.stat() is fstatat(fd, name), ~20 % cheaper
                # than resolving the whole path again for every entry (needs python 3.7)
                fd = os.open(directory, _DIR_FLAGS)
                it = os.scandir(fd)
            else:
                it = os.scandir(directory)
        except OSError as e:
            if fd >= 0:
                os.close(fd)
            if e.errno in (errno.EACCES, errno.EPERM):
                denied += 1
            continue
        try:
            with it:
                for entry in it:
                    scanned += 1
                    if not scanned & 0x3FF and time.monotonic() > deadline:
                        timed_out = True
                        break
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    mode = st.st_mode
                    fmt = mode & 0o170000
                    if fmt == 0o040000:  # directory
                        path = prefix + entry.name
                        if path not in prune:
                            stack.append(path)
                        if want_wwd and mode & 0o1002 == 0o002:
                            add("world_writable_dirs", path)
                    elif fmt == 0o100000 and mode & file_bits:  # regular file of interest
                        path = prefix + entry.name
                        if want_ww and mode & 0o002:
                            add("world_writable", path)
                        if want_suid and mode & 0o4000:
                            add("suid", path)
                        if want_sgid and mode & 0o2000:
                            add("sgid", path)
                    if (
                        want_unowned
                        and (st.st_uid not in uids or st.st_gid not in gids)
                        and not (uid_ok(st.st_uid) and gid_ok(st.st_gid))
                    ):
                        add("unowned", prefix + entry.name)
        finally:
            if fd >= 0:
                os.close(fd)
        if len(full) == len(wanted):
            break
    notes = []  # type: List[str]
    if mount_note:
        notes.append(mount_note)
    for kind in wanted:
        res = results[kind]
        res["scanned"] = scanned
        res["paths"].sort()
        reasons = list(notes)
        if kind in full:
            reasons.append("stopped at walk_max_results=%d matches" % max_results)
        elif timed_out:
            reasons.append("time limit of %ss reached after %d entries" % (max_seconds, scanned))
        if denied:
            reasons.append(
                "%d director%s unreadable (permission denied%s)"
                % (denied, "y" if denied == 1 else "ies", "" if ctx.euid == 0 else ", not root")
            )
        if reasons:
            res["truncated"] = True
            res["reason"] = "; ".join(reasons)
    return results


# -- cloud -------------------------------------------------------------------------------------


def _imds_request(method: str, path: str, headers: Dict[str, str]) -> Tuple[int, str]:
    """One request to the EC2 instance metadata service (link-local, 1 s timeout)."""
    import http.client

    conn = http.client.HTTPConnection("169.254.169.254", 80, timeout=1.0)
    try:
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read(4096).decode("utf-8", "replace")
    finally:
        conn.close()


def is_ec2_dmi(dmi: Dict[str, str]) -> bool:
    """The only gate for contacting IMDS: DMI names the machine an Amazon EC2 instance."""
    return dmi.get("sys_vendor") == "Amazon EC2" or dmi.get("board_vendor") == "Amazon EC2"


def gather_cloud(
    ctx: ProbeContext,
    imds: Optional[Callable[[str, str, Dict[str, str]], Tuple[int, str]]] = None,
) -> Dict[str, Any]:
    dmi = _read_dmi(ctx)
    out = {
        "provider": "unknown",
        "dmi_vendor": dmi.get("sys_vendor"),
        "dmi_product": dmi.get("product_name"),
        "instance_id": None,
        "imds_http_tokens": None,
        "imds_hop_limit": None,
        "source": None,
        "error": None,
    }  # type: Dict[str, Any]
    ec2 = is_ec2_dmi(dmi)
    if ec2 or "amazon" in dmi.get("bios_version", "").lower():
        out["provider"] = "aws"
    elif dmi:
        out["provider"] = "none"
    tag = dmi.get("board_asset_tag", "")
    if out["provider"] == "aws" and re.match(r"^i-[0-9a-f]{8,17}$", tag):
        out["instance_id"] = tag
        out["source"] = "dmi"
    try:
        data = json.loads(ctx.read("/run/cloud-init/instance-data.json"))
        v1 = data.get("v1", {}) if isinstance(data, dict) else {}
        if isinstance(v1, dict):
            if v1.get("cloud_name") == "aws" or v1.get("platform") == "ec2":
                out["provider"] = "aws"
            if v1.get("instance_id") and out["provider"] == "aws":
                out["instance_id"] = str(v1["instance_id"])
                out["source"] = "cloud-init"
    except (OSError, ValueError):
        pass
    if ec2 and ctx.allow_imds:
        call = imds or _imds_request
        try:
            status, token = call(
                "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
            )
            if status != 200:
                raise OSError("token request answered HTTP %d" % status)
            status, body = call(
                "GET", "/latest/meta-data/instance-id", {"X-aws-ec2-metadata-token": token}
            )
            if status == 200 and not out["instance_id"]:
                out["instance_id"] = body.strip()
            status, _ = call("GET", "/latest/meta-data/instance-id", {})
            out["imds_http_tokens"] = (
                "required" if status == 401 else ("optional" if status == 200 else None)
            )
            out["source"] = "imds" if out["source"] is None else out["source"] + "+imds"
        except (OSError, ValueError) as e:
            out["error"] = "instance metadata service: %s" % e
    elif ec2:
        out["error"] = "instance metadata service not contacted (disabled for this run)"
    return out


# =============================================================================================
# Driver
# =============================================================================================


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def run_probe(
    request: Dict[str, Any], root: str = "/", ctx: Optional[ProbeContext] = None
) -> Dict[str, Any]:
    """Gather what ``request`` (a ProbeRequest as a dict) asks for; return a HostSnapshot dict."""
    started = time.monotonic()
    collected_at = _now_iso()
    ctx = ctx or ProbeContext(root)
    facts = []  # type: List[str]
    for fact in request.get("facts") or []:
        if fact not in facts:
            facts.append(fact)
    gatherer = Gatherer(ctx, dict(request, facts=facts))
    snapshot = {
        "schema_version": SCHEMA_VERSION,
        "collected_at": collected_at,
        "probe_uid": ctx.euid,
        "requested": facts,
        "unknown": {},
    }  # type: Dict[str, Any]
    unknown = snapshot["unknown"]  # type: Dict[str, str]
    timings = {}  # type: Dict[str, float]
    gatherer.start_background()
    # Facts that wait for a background command come last, after the walk, so the walk (CPU in
    # this process) overlaps with apt/dnf/sshd/systemctl/rpm (CPU in theirs).
    waiting = gatherer.waiting_facts()
    order = (
        [f for f in facts if f != "walks" and f not in waiting]
        + [f for f in facts if f == "walks"]
        + [f for f in facts if f in waiting]
    )
    for fact in order:
        t0 = time.monotonic()
        if fact not in FACTS:
            unknown[fact] = "not a fact this probe gathers (known: %s)" % ", ".join(FACTS)
            continue
        # the "os" fact's method is os_info: a method named os would shadow the module
        fn = getattr(gatherer, "os_info" if fact == "os" else fact)  # type: Callable[[], Any]
        try:
            snapshot[fact] = fn()
        except OSError as e:
            if e.filename:
                unknown[fact] = ctx.reason(e, ctx.host_path(str(e.filename)))
            else:
                unknown[fact] = str(e.strerror or e)
        except Exception as e:  # a gatherer bug must not cost the other facts
            unknown[fact] = "%s: %s" % (type(e).__name__, e)
        timings[fact] = round(time.monotonic() - t0, 4)
    snapshot["host"] = _identity(ctx, snapshot.get("cloud"))
    snapshot["probe_seconds"] = round(time.monotonic() - started, 4)
    snapshot["fact_seconds"] = timings
    return snapshot


def _identity(ctx: ProbeContext, cloud: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    hostname = None  # type: Optional[str]
    if ctx.root == "/":
        hostname = socket.gethostname()
    else:
        try:
            hostname = ctx.read("/etc/hostname").strip() or None
        except OSError:
            hostname = None
    machine_id = None  # type: Optional[str]
    for candidate in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            machine_id = ctx.read(candidate).strip() or None
        except OSError:
            continue
        if machine_id:
            break
    out = {
        "name": hostname or "localhost",
        "hostname": hostname,
        "machine_id": machine_id,
        "transport": "local",
    }  # type: Dict[str, Any]
    if cloud and cloud.get("instance_id"):
        out["instance_id"] = cloud["instance_id"]
    return out


def _ansible_main(raw_args: str) -> int:
    """Module entry point: arguments were substituted into ``_ANSIBLE_ARGS`` by Ansible."""
    try:
        args = json.loads(raw_args)
        request = json.loads(base64.b64decode(args["request_b64"]).decode("utf-8"))
        root = args.get("root") or "/"
    except (ValueError, KeyError, TypeError) as e:
        print(json.dumps({"failed": True, "msg": "inspectorctl probe: bad arguments: %s" % e}))
        return 1
    try:
        snapshot = run_probe(request, root)
    except Exception as e:
        import traceback

        print(
            json.dumps(
                {
                    "failed": True,
                    "msg": "inspectorctl probe crashed: %s: %s" % (type(e).__name__, e),
                    "exception": traceback.format_exc(),
                }
            )
        )
        return 1
    print(json.dumps({"changed": False, "snapshot": snapshot}))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    if _ANSIBLE_ARGS != _ANSIBLE_MARKER:
        return _ansible_main(_ANSIBLE_ARGS)
    args = list(sys.argv[1:] if argv is None else argv)
    root = "/"
    if args[:1] == ["--root"] and len(args) >= 2:
        root = args[1]
        args = args[2:]
    if args:
        sys.stderr.write("usage: python3 probe.py [--root DIR] < request.json\n")
        return 2
    if sys.version_info < (3, 6):
        sys.stderr.write("inspectorctl probe needs python 3.6 or newer\n")
        return 2
    try:
        request = json.loads(sys.stdin.read() or "{}")
    except ValueError as e:
        sys.stderr.write("inspectorctl probe: request is not JSON: %s\n" % e)
        return 2
    if not isinstance(request, dict):
        sys.stderr.write("inspectorctl probe: request must be a JSON object\n")
        return 2
    sys.stdout.write(json.dumps(run_probe(request, root)))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
