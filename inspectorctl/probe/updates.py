"""The ``updates`` fact: pending (security) updates from apt, dnf/yum or apk, computed without
writing anything on the host."""

import os
import re
import shutil
import time
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .context import _SUBPROCESS_ENV, Fact, Gatherer, _Background, _listdir_abs
from .parsers import deb822_paragraphs

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


_APT_INST = re.compile(r"^Inst (\S+) (?:\[([^\]]*)\] )?\((\S+) (.*)\)")


def parse_apt_simulation(text: str) -> Tuple[Dict[str, str], List[str]]:
    """``apt-get -s upgrade``: ``Inst NAME [OLD] (NEW ORIGIN, ORIGIN [ARCH])`` lines. Returns
    pending ``{name: new version}`` and the names with an origin from a ``-security`` suite."""
    pending: Dict[str, str] = {}
    security: List[str] = []
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
    kept: Dict[str, str] = {}
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
    entries: List[Dict[str, Any]] = []
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
    entries: List[Dict[str, Any]] = []
    for raw_fields in deb822_paragraphs(text, comments=True):
        fields = dict((k.lower(), v) for k, v in raw_fields.items())
        if not _deb822_bool(fields.get("enabled", "yes")):
            continue
        suites = fields.get("suites", "").split()
        components = fields.get("components", "").split()
        options: List[str] = []
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
    out: List[str] = []
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
    lines: List[str] = []
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
    pending: Dict[str, str] = {}
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
    names: List[str] = []
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
    pending: Dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[1] != "<":
            continue
        m = re.match(r"^(.+)-[^-]+-r\d+$", parts[0])
        if m:
            pending[m.group(1)] = parts[2]
    return pending


def start_updates(g: Gatherer) -> None:
    if g.ctx.root != "/":
        return
    path = _SUBPROCESS_ENV["PATH"]
    apt = shutil.which("apt-get", path=path)
    if apt and os.path.exists("/var/lib/dpkg/status"):
        g.apt_full = [apt, *_APT_SIMULATE, "upgrade"]
        sources, _why = apt_security_sources(read_apt_sources(), _listdir_abs(APT_LISTS))
        fd = _memfd(sources) if sources is not None else None
        if fd is None:
            g.bg["apt"] = _Background(g.apt_full, 180)
            return
        # apt reads the security sources from an in-memory file (it needs a regular file,
        # so not a pipe) and builds its cache in memory: with other sources than the host's,
        # it would otherwise rewrite /var/cache/apt/*.bin. Nothing is written on the host.
        g.apt_scope = "security"
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
        g.bg["apt"] = _Background(argv, 180, pass_fds=(fd,))
        return
    for tool in ("dnf", "yum"):
        exe = shutil.which(tool, path=path)
        if exe:
            g.bg["dnf_pending"] = _Background([exe, "-q", "-C", "check-update"], 180)
            g.bg["dnf_security"] = _Background(
                [exe, "-q", "-C", "updateinfo", "list", "--security"], 180
            )
            g.updater = tool
            return
    apk = shutil.which("apk", path=path)
    if apk:
        g.bg["apk"] = _Background([apk, "version", "-l", "<"], 120)


def fact_updates(g: Gatherer) -> Dict[str, Any]:
    if g.ctx.root != "/":
        raise LookupError("pending updates are only computed for the real root")
    if "apt" in g.bg:
        job = g.bg["apt"].wait()
        scope = g.apt_scope
        if scope == "security" and (job.error or job.returncode != 0):
            # an apt that refuses these options (or has no /dev/fd): the full simulation
            job = _Background(g.apt_full, 180).wait()
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
    if "dnf_pending" in g.bg:
        tool = g.updater or "dnf"
        pending_job = g.bg["dnf_pending"].wait()
        sec_job = g.bg["dnf_security"].wait()
        cache = "/var/cache/dnf" if tool == "dnf" else "/var/cache/yum"
        age = _newest_age([cache], cache)
        error = None
        dnf_pending: Dict[str, str] = {}
        dnf_security: List[str] = []
        if pending_job.error or pending_job.returncode not in (0, 100):
            error = pending_job.failure()
        else:
            dnf_pending = parse_dnf_check_update(pending_job.stdout)
        if sec_job.error or sec_job.returncode != 0:
            error = error or sec_job.failure()
        else:
            dnf_security = parse_dnf_updateinfo(sec_job.stdout)
        return _updates(tool, dnf_pending, dnf_security, age, error)
    if "apk" in g.bg:
        job = g.bg["apk"].wait()
        age = _newest_age(["/var/cache/apk", "/etc/apk/cache"], "/var/cache/apk")
        if job.error or job.returncode != 0:
            return _updates("apk", {}, [], age, job.failure())
        # apk has no security metadata: ``security`` stays empty
        return _updates("apk", parse_apk_version(job.stdout), [], age, None)
    raise LookupError("no supported package updater (apt-get, dnf, yum, apk)")


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


def read_apt_sources(etc_apt: str = "/etc/apt") -> List[Dict[str, Any]]:
    """The entries of the host's apt sources: ``sources.list`` and the files of
    ``sources.list.d`` apt reads (``*.list`` one-line, ``*.sources`` deb822; names of letters,
    digits, ``_``, ``.`` and ``-`` only). An unreadable file is skipped."""
    paths = [etc_apt + "/sources.list"]
    parts = etc_apt + "/sources.list.d"
    paths += [parts + "/" + n for n in sorted(_listdir_abs(parts)) if _APT_SOURCE_NAME.match(n)]
    entries: List[Dict[str, Any]] = []
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
        fd: int = create("inspectorctl-apt-sources")
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


def _newest_age(paths: List[str], directory: str) -> Optional[float]:
    """Seconds since the newest mtime among ``paths`` and the files directly in ``directory``."""
    newest: Optional[float] = None
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


UPDATES_FACT = Fact(
    "updates", fact_updates, start=start_updates, jobs=("apt", "dnf_pending", "dnf_security", "apk")
)
