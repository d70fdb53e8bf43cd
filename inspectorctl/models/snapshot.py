"""HostSnapshot: what one probe run saw on one host.

This module is the contract between the probe (``inspectorctl/probe/``, which runs on
the target host with only the standard library and emits JSON of exactly this shape) and the
evaluation engine. A fact the rules did not ask for is ``None``. A fact that was asked for but
could not be read is ``None`` too, and its name is in ``HostSnapshot.unknown`` with the reason.
Partial failures inside a fact (one unreadable file, one sysctl key that does not exist) are
recorded next to the value (``error`` fields), never silently dropped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from inspectorctl.models.common import Frozen

SNAPSHOT_SCHEMA_VERSION = 1

#: Every fact name a rule may declare. The probe's request names facts from this set.
FACT_NAMES: frozenset[str] = frozenset(
    {
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
    }
)


# --------------------------------------------------------------------------------------------
# What the probe is asked for
# --------------------------------------------------------------------------------------------


class FileRequest(Frozen):
    """One path the rules want to see. ``patterns`` are Python regexes matched per line."""

    path: str
    sha256: bool = False
    patterns: tuple[str, ...] = ()


class ProbeRequest(Frozen):
    """What one probe run gathers: only the facts the selected rules need."""

    facts: tuple[str, ...]
    files: tuple[FileRequest, ...] = ()
    #: sysctl keys (dotted, e.g. ``net.ipv4.ip_forward``) whose runtime value is read.
    sysctl_keys: tuple[str, ...] = ()
    #: kernel module names whose availability on the running kernel is checked.
    modules: tuple[str, ...] = ()
    #: bounded filesystem walks: ``world_writable``, ``unowned``, ``suid``.
    walks: tuple[str, ...] = ()
    #: walk limits: stop after this many matches / this many seconds (result marked truncated).
    walk_max_results: int = 1000
    walk_max_seconds: float = 20.0


# --------------------------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------------------------


class HostIdentity(Frozen):
    #: name the transport knows the host by (inventory hostname, instance id, "localhost").
    name: str
    hostname: str | None = None
    machine_id: str | None = None
    #: cloud or lab instance id (``i-...``), where one is known.
    instance_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    #: how it was reached: ``local``, ``ansible``, ``ssm``, ``snapshot``.
    transport: str = "local"
    #: OpenSSH ``SHA256:`` fingerprints of the host's keys (``/etc/ssh/ssh_host_*_key.pub``),
    #: sorted; computed on the controller, and only for a host reached over SSH
    ssh_host_keys: tuple[str, ...] = ()


class OsInfo(Frozen):
    id: str  # /etc/os-release ID: debian, ubuntu, rhel, amzn, almalinux, rocky, alpine...
    id_like: tuple[str, ...] = ()
    version_id: str | None = None
    pretty_name: str | None = None
    #: normalised family: debian, rhel, suse, alpine, arch, unknown
    family: str
    kernel: str  # uname -r
    arch: str  # uname -m
    #: e.g. "kvm", "xen", "amazon", "docker", "lxc", "none"; None when it cannot be told.
    virtualization: str | None = None
    container: bool = False
    #: is systemd PID 1 (service states come from systemctl only when it is)
    systemd_running: bool = False


class Package(Frozen):
    name: str
    #: source package (dpkg Source:, rpm SOURCERPM name); equals name when there is none.
    source: str
    #: full version as the manager orders it: dpkg ``[epoch:]upstream[-revision]``,
    #: rpm ``[epoch:]version-release``, apk ``version-rN``.
    version: str
    arch: str | None = None
    #: the source package's version when it differs from the binary's (dpkg ``Source: x
    #: (ver)``: binNMUs ``+bN``, metapackages); None = same as ``version``
    source_version: str | None = None


class PackagesFact(Frozen):
    manager: Literal["dpkg", "rpm", "apk"]
    items: tuple[Package, ...]


class Service(Frozen):
    name: str  # unit name without ``.service``
    #: unit file state: enabled, disabled, masked, static, alias, indirect, generated...
    unit_file_state: str | None = None
    enabled: bool | None = None
    active: bool | None = None
    #: where ``active`` came from: ``systemctl``, ``process`` (no systemd: matched a running
    #: process to the unit's ExecStart), or ``unknown``.
    active_source: str = "unknown"


class ServicesFact(Frozen):
    manager: Literal["systemd", "sysv", "openrc", "none"]
    items: dict[str, Service]


class SshdMatch(Frozen):
    """One ``Match`` block of sshd_config, as sshd applies it to a connection it selects."""

    #: the block's criteria as sshd prints them, e.g. ``Address 10.0.0.0/8``
    criteria: str
    #: the ``sshd -T -C`` connection the probe built for it (``user=root,addr=10.0.0.0``)
    connection: str | None = None
    #: ``sshd -T -C`` output for that connection: every keyword, as in ``SshdFact.config``
    config: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    #: why the block could not be evaluated (then ``config`` is empty)
    error: str | None = None
    #: why the block selects no connection at all, so sshd never applies it (a criterion
    #: with only negated patterns); then nothing was evaluated and nothing is needed
    inert: str | None = None


class SshdFact(Frozen):
    installed: bool
    #: ``sshd -T`` output: lower-case keyword -> every value given (most keywords have one).
    #: This is the global configuration: what a connection no Match block selects gets.
    config: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    error: str | None = None
    #: every Match block, in sshd_config order (Includes followed)
    matches: tuple[SshdMatch, ...] = ()


class FileLine(Frozen):
    """Where in a host's configuration files something is set."""

    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


class Setting(FileLine):
    """A value assigned in a configuration file, and where."""

    value: str


class SysctlFact(Frozen):
    #: runtime value per requested key (whitespace-normalised); missing keys are in ``missing``.
    runtime: dict[str, str] = Field(default_factory=dict)
    missing: tuple[str, ...] = ()
    #: every assignment in sysctl.conf / sysctl.d (systemd-sysctl precedence order, so the last
    #: element is the effective configured value) per key, for every key found in those files.
    configured: dict[str, tuple[Setting, ...]] = Field(default_factory=dict)
    errors: dict[str, str] = Field(default_factory=dict)  # file or key -> reason


class FileInfo(Frozen):
    path: str
    exists: bool
    type: Literal["file", "dir", "link", "other"] | None = None
    mode: int | None = None  # permission bits incl. setuid/setgid/sticky (st_mode & 0o7777)
    uid: int | None = None
    gid: int | None = None
    owner: str | None = None
    group: str | None = None
    size: int | None = None
    sha256: str | None = None
    #: pattern -> matching lines (without newline), for the patterns the rules asked for.
    matches: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    error: str | None = None  # e.g. "permission denied: not root"


class WalkResult(Frozen):
    paths: tuple[str, ...]
    scanned: int
    truncated: bool = False
    reason: str | None = None  # why truncated or incomplete
    roots: tuple[str, ...] = ("/",)


class Mount(Frozen):
    device: str
    mountpoint: str
    fstype: str
    options: tuple[str, ...]


class FstabEntry(Frozen):
    device: str
    mountpoint: str
    fstype: str
    options: tuple[str, ...]


class MountsFact(Frozen):
    mounts: tuple[Mount, ...]
    fstab: tuple[FstabEntry, ...] = ()


class KernelModulesFact(Frozen):
    loaded: tuple[str, ...]
    #: ``blacklist NAME`` lines in modprobe.d
    blacklisted: tuple[str, ...] = ()
    #: ``install NAME CMD`` lines: module -> command (e.g. "/bin/false")
    install: dict[str, str] = Field(default_factory=dict)
    #: requested module -> whether a module file exists for the running kernel
    #: (None: /lib/modules/<kernel> is not visible, e.g. in a container)
    available: dict[str, bool | None] = Field(default_factory=dict)


class Account(Frozen):
    name: str
    uid: int
    gid: int
    home: str
    shell: str
    #: the shell is not nologin/false/sync/shutdown/halt
    login_shell: bool
    #: derived from /etc/shadow only: never the hash itself.
    password: Literal["empty", "locked", "set", "unknown"] = "unknown"
    last_change_days: int | None = None
    min_days: int | None = None
    max_days: int | None = None
    warn_days: int | None = None
    inactive_days: int | None = None


class Group(Frozen):
    name: str
    gid: int
    members: tuple[str, ...] = ()


class AccountsFact(Frozen):
    accounts: tuple[Account, ...]
    groups: tuple[Group, ...] = ()
    shadow_readable: bool = False
    #: UID_MIN from login.defs (1000 when unset): accounts below it are system accounts.
    uid_min: int = 1000
    #: accounts in /etc/shadow that are absent from /etc/passwd and the reverse
    shadow_only: tuple[str, ...] = ()
    passwd_only: tuple[str, ...] = ()
    #: group names referenced by gid in /etc/passwd that do not exist in /etc/group
    missing_groups: tuple[int, ...] = ()
    duplicate_uids: tuple[int, ...] = ()
    duplicate_gids: tuple[int, ...] = ()
    duplicate_names: tuple[str, ...] = ()


class PamLine(Frozen):
    type: str  # auth, account, password, session (leading "-" stripped)
    control: str
    module: str  # e.g. pam_unix.so
    args: tuple[str, ...] = ()
    line: int = 0


class PamFact(Frozen):
    #: /etc/pam.d/<service> -> parsed lines (``@include`` lines are kept as type "@include")
    services: dict[str, tuple[PamLine, ...]] = Field(default_factory=dict)
    #: /etc/security/pwquality.conf (+ pwquality.conf.d) settings
    pwquality: dict[str, str] = Field(default_factory=dict)
    #: /etc/security/faillock.conf settings
    faillock: dict[str, str] = Field(default_factory=dict)
    errors: dict[str, str] = Field(default_factory=dict)


class Socket(Frozen):
    proto: Literal["tcp", "tcp6", "udp", "udp6"]
    address: str
    port: int
    pid: int | None = None
    process: str | None = None
    #: the owning process's executable, and the package whose file list names it (dpkg)
    exe: str | None = None
    package: str | None = None


class UpdatesFact(Frozen):
    manager: str  # apt, dnf, yum, apk
    #: "all": every package source was considered; "security": only the host's security sources
    #: were (apt, when it can tell which they are), so ``pending`` holds security updates only.
    scope: Literal["all", "security"] = "all"
    #: pending updates: package -> candidate version; ``security`` lists those from a
    #: security origin/advisory.
    pending: dict[str, str] = Field(default_factory=dict)
    security: tuple[str, ...] = ()
    #: when the package lists were last refreshed (epoch seconds), if known
    lists_age_seconds: float | None = None
    error: str | None = None


class CloudFact(Frozen):
    provider: Literal["aws", "none", "unknown"]
    #: DMI sys_vendor / product_name / board_asset_tag (no network is used to find these)
    dmi_vendor: str | None = None
    dmi_product: str | None = None
    instance_id: str | None = None
    #: IMDS options as seen from the host (cloud-init instance-data, or IMDS itself only when
    #: the host is an EC2 instance): "required"/"optional" and the PUT response hop limit.
    imds_http_tokens: str | None = None
    imds_hop_limit: int | None = None
    source: str | None = None  # where the IMDS facts came from
    error: str | None = None


class SystemdConf(Frozen):
    """A systemd daemon's configuration (journald.conf, coredump.conf) as systemd reads it."""

    #: files read, in the order they apply: the main file, then drop-ins sorted by name
    files: tuple[str, ...] = ()
    #: the daemon's section: key -> the assignment that wins (the last one)
    values: dict[str, Setting] = Field(default_factory=dict)
    #: files that could not be read, with the reason
    errors: dict[str, str] = Field(default_factory=dict)


class LimitEntry(FileLine):
    """One line of pam_limits' files (limits.conf(5))."""

    domain: str  # a user, @group, %group, uid/gid range, or *
    type: str  # soft, hard or - (both); "-" with item "" is a "<domain> -" (no limits) line
    item: str  # core, nofile, ... (lower case); "" on a no-limits line
    value: str  # a number, unlimited, infinity or -1 (lower case)


class LimitsFact(Frozen):
    """pam_limits' configuration in the order it reads it: /etc/security/limits.conf, then
    limits.d/*.conf sorted by name."""

    files: tuple[str, ...] = ()
    entries: tuple[LimitEntry, ...] = ()
    #: files that could not be read, with the reason
    errors: dict[str, str] = Field(default_factory=dict)


class RsyslogMode(FileLine):
    value: str  # octal, as written
    #: ``$FileCreateMode`` (legacy actions after it), ``module(builtin:omfile)`` (the default of
    #: action() statements) or ``action(omfile)`` (that action)
    set_by: str


class RsyslogInput(FileLine):
    module: str  # imtcp, imudp, ...
    how: str  # $ModLoad, module(), input(), $InputTCPServerRun ...


class RsyslogFact(Frozen):
    """rsyslog.conf with its includes followed where they stand."""

    #: files read, in the order rsyslog reads them
    files: tuple[str, ...] = ()
    errors: dict[str, str] = Field(default_factory=dict)
    file_create_modes: tuple[RsyslogMode, ...] = ()
    #: action(type="omfile") statements without FileCreateMode: they get the omfile module's
    #: fileCreateMode, else 0644 ($FileCreateMode applies to legacy actions only)
    default_mode_actions: tuple[FileLine, ...] = ()
    remote_inputs: tuple[RsyslogInput, ...] = ()


class HostSnapshot(Frozen):
    schema_version: int = SNAPSHOT_SCHEMA_VERSION
    host: HostIdentity
    collected_at: datetime
    #: wall seconds the probe itself took on the host
    probe_seconds: float = 0.0
    #: wall seconds per gathered fact (a fact that waits on a background command includes the
    #: wait), so slow facts can be spotted; additive, may be empty
    fact_seconds: dict[str, float] = Field(default_factory=dict)
    #: user the probe ran as (root sees shadow, sshd -T, ...)
    probe_uid: int | None = None
    #: facts that were requested: a requested fact is either set below or listed in unknown.
    requested: tuple[str, ...] = ()
    unknown: dict[str, str] = Field(default_factory=dict)

    os: OsInfo | None = None
    packages: PackagesFact | None = None
    services: ServicesFact | None = None
    sshd: SshdFact | None = None
    sysctl: SysctlFact | None = None
    files: dict[str, FileInfo] | None = None
    walks: dict[str, WalkResult] | None = None
    mounts: MountsFact | None = None
    kernel_modules: KernelModulesFact | None = None
    accounts: AccountsFact | None = None
    login_defs: dict[str, str] | None = None
    pam: PamFact | None = None
    #: ``journald`` and ``coredump`` (see SystemdConf)
    systemd_conf: dict[str, SystemdConf] | None = None
    limits: LimitsFact | None = None
    rsyslog: RsyslogFact | None = None
    sockets: tuple[Socket, ...] | None = None
    #: package name -> CVE ids its own changelog names (``/usr/share/doc/<pkg>/
    #: changelog.Debian.gz``), for the vulnerability matcher's stale-data guard
    package_changelogs: dict[str, tuple[str, ...]] | None = None
    updates: UpdatesFact | None = None
    cloud: CloudFact | None = None


class CollectionFailure(Frozen):
    """A host that could not be probed: every rule on it becomes ERROR with this reason."""

    host: str
    reason: str
    unreachable: bool = False


#: what a transport returns for one host, and what evaluation takes
HostResult = HostSnapshot | CollectionFailure
