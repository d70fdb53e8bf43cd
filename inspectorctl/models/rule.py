"""Rulepacks, rules and the closed set of check kinds.

A check is data: a pydantic model discriminated by ``kind``. Its evaluation lives in
``inspectorctl/rules/checks.py`` (one function per kind, registered by kind name).
Values that users may tailor are written ``{var: NAME}`` and resolved from the pack's
variables (defaults) overridden by a template's tailoring values.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from inspectorctl.models.common import Frozen, Severity
from inspectorctl.models.snapshot import FACT_NAMES

RULE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,99}$")


class VarRef(Frozen):
    """A reference to a tailoring variable: ``{var: ssh_max_auth_tries}``.

    ``format`` renders the value into text, for remediation parameters that are whole lines:
    ``{var: pass_max_days, format: "PASS_MAX_DAYS\t{}"}``.
    """

    var: str
    format: str | None = None

    @field_validator("format")
    @classmethod
    def _one_slot(cls, v: str | None) -> str | None:
        if v is not None and (v.count("{}") != 1 or v.replace("{}", "").count("{")):
            raise ValueError(f"format must contain exactly one '{{}}' and no other braces: {v!r}")
        return v

    def render(self, values: Mapping[str, Any]) -> Any:
        value = values[self.var]
        return self.format.format(value) if self.format is not None else value


Scalar = str | int | float | bool
Value = Scalar | list[Scalar] | VarRef


class Op(enum.StrEnum):
    EQ = "eq"
    NE = "ne"
    IN = "in"  # found is one of value (a list)
    NOT_IN = "not_in"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    MATCHES = "matches"  # regex search on the found string
    NOT_MATCHES = "not_matches"
    #: comma/space separated lists (ciphers, MACs): every item of found is in value
    SUBSET = "subset"
    #: no item of found is in value
    DISJOINT = "disjoint"


#: the operators a package version is compared with (the manager's version order)
VERSION_OPS = (Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE)


class Comparison(Frozen):
    op: Op = Op.EQ
    value: Value


# --------------------------------------------------------------------------------------------
# Check kinds
# --------------------------------------------------------------------------------------------


class SshdOptionCheck(Frozen):
    """``sshd -T`` keyword compared with an expected value. NOT_APPLICABLE when sshd is absent."""

    kind: Literal["sshd_option"]
    option: str  # lower-case as sshd -T prints it
    expect: Comparison

    @field_validator("option")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()


class SysctlCheck(Frozen):
    """A kernel parameter, at runtime and/or as configured in sysctl.conf / sysctl.d."""

    kind: Literal["sysctl"]
    key: str
    expect: Comparison
    where: Literal["runtime", "configured", "both"] = "both"


class FilePermissionsCheck(Frozen):
    """Mode no more permissive than ``max_mode``; owner/group among the allowed names."""

    kind: Literal["file_permissions"]
    path: str
    max_mode: str | None = None  # octal string, e.g. "0640"
    owner: list[str] | None = None
    group: list[str] | None = None
    #: outcome when the path does not exist
    if_missing: Literal["pass", "fail", "not_applicable"] = "not_applicable"

    @field_validator("max_mode")
    @classmethod
    def _octal(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"0?[0-7]{3,4}", v):
            raise ValueError(f"max_mode must be an octal mode like '0640', got {v!r}")
        return v


class FileExistsCheck(Frozen):
    kind: Literal["file_exists"]
    path: str
    present: bool = True


class FileContentCheck(Frozen):
    """A regex (Python, per line) must match at least one line, or none."""

    kind: Literal["file_content"]
    path: str
    pattern: str
    present: bool = True
    if_missing: Literal["pass", "fail", "not_applicable"] = "fail"

    @field_validator("pattern")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"invalid regular expression {v!r}: {e}") from e
        return v


class PackageCheck(Frozen):
    """Package installed or absent, optionally at a version (manager's own version order)."""

    kind: Literal["package"]
    names: list[str] = Field(min_length=1)
    state: Literal["installed", "absent"]
    #: with state installed: every installed version must satisfy this (e.g. ge 1:9.2p1-2)
    version: Comparison | None = None
    #: with state installed: one of the names suffices (any) or all are needed (all)
    match: Literal["any", "all"] = "any"

    @model_validator(mode="after")
    def _version_order(self) -> PackageCheck:
        if self.version is not None and self.version.op not in VERSION_OPS:
            raise ValueError(
                f"a package version compares with {self.version.op.value!r}, which has no "
                f"meaning in a version order; valid: {', '.join(o.value for o in VERSION_OPS)}")
        return self


class ServiceCheck(Frozen):
    """Service unit state. ``absent_or_disabled`` passes when the unit does not exist."""

    kind: Literal["service"]
    names: list[str] = Field(min_length=1)
    state: Literal["enabled", "active", "enabled_and_active", "disabled", "inactive",
                   "absent_or_disabled"]


class KernelModuleCheck(Frozen):
    """A kernel module is not loaded and cannot be loaded (install /bin/false + blacklist)."""

    kind: Literal["kernel_module_disabled"]
    module: str


class MountCheck(Frozen):
    """A mount point is separate and/or carries options (nodev, nosuid, noexec...)."""

    kind: Literal["mount"]
    mountpoint: str
    options: list[str] = Field(default_factory=list)
    #: when the mount point is not a separate mount: fail (the rule is "is separate") or
    #: not_applicable (the rule only concerns options of a separate mount)
    if_not_mounted: Literal["fail", "not_applicable"] = "not_applicable"


class AccountCondition(enum.StrEnum):
    ONLY_ROOT_UID0 = "only_root_uid0"
    NO_EMPTY_PASSWORDS = "no_empty_passwords"
    SYSTEM_ACCOUNTS_NO_LOGIN = "system_accounts_no_login"
    NO_DUPLICATE_UIDS = "no_duplicate_uids"
    NO_DUPLICATE_GIDS = "no_duplicate_gids"
    NO_DUPLICATE_NAMES = "no_duplicate_names"
    PASSWD_GROUPS_EXIST = "passwd_groups_exist"
    SHADOW_CONSISTENT = "shadow_consistent"
    ROOT_GID_0 = "root_gid_0"
    #: interactive accounts with a password: shadow field compared (value: max/min/warn)
    PASSWORD_MAX_DAYS = "password_max_days"
    PASSWORD_MIN_DAYS = "password_min_days"
    PASSWORD_WARN_DAYS = "password_warn_days"
    INACTIVE_DAYS = "inactive_days"
    #: group ``shadow`` (Debian) has no members
    SHADOW_GROUP_EMPTY = "shadow_group_empty"


class AccountCheck(Frozen):
    kind: Literal["account"]
    condition: AccountCondition
    #: the limit for *_days conditions (a number or {var: ...})
    value: Value | None = None


class KeyValueCheck(Frozen):
    """A setting in a key/value fact: login.defs, pwquality.conf, faillock.conf, or a systemd
    daemon's configuration read as systemd does (``journald``, ``coredump``: the main file and
    its drop-ins, the last assignment winning)."""

    kind: Literal["setting"]
    source: Literal["login_defs", "pwquality", "faillock", "journald", "coredump"]
    key: str
    expect: Comparison
    if_unset: Literal["fail", "pass", "not_applicable"] = "fail"
    #: value to assume when unset (the program's compiled-in default), compared instead
    default: Scalar | None = None


class LimitCheck(Frozen):
    """A resource limit as pam_limits sets it at login (limits.conf(5): limits.conf, then
    limits.d/*.conf by name). ``expect`` must hold for the limit every user gets, the last ``*``
    entry of the type (or ``-``), and for every entry naming a user, group or uid range, since
    those override ``*`` for whom they name; a ``<domain> -`` line (no limits at all for them)
    never meets it. ``unlimited``, ``infinity`` and ``-1`` are no limit: above any number."""

    kind: Literal["limit"]
    item: str = Field(pattern=r"^[a-z]+$")
    type: Literal["hard", "soft"] = "hard"
    expect: Comparison
    #: when no ``*`` entry sets it: the kernel's default applies
    if_unset: Literal["fail", "pass", "not_applicable"] = "fail"


class RsyslogCheck(Frozen):
    """rsyslog's configuration with its includes: ``file_create_mode``, every log file it
    creates has at most ``max_mode``; ``no_remote_input``, no network input is loaded."""

    kind: Literal["rsyslog"]
    aspect: Literal["file_create_mode", "no_remote_input"]
    max_mode: str = Field("0640", pattern=r"^0?[0-7]{3}$")


class PamCheck(Frozen):
    """A PAM module is (or is not) used in the given /etc/pam.d services."""

    kind: Literal["pam_module"]
    services: list[str] = Field(min_length=1)
    type: str | None = None
    module: str
    present: bool = True
    #: arguments that must appear on the module's line (``remember=5`` or ``use_authtok``)
    args: list[str] = Field(default_factory=list)


class ListeningCheck(Frozen):
    """No socket listening on these ports / by these processes (beyond loopback if asked)."""

    kind: Literal["not_listening"]
    ports: list[int] = Field(default_factory=list)
    processes: list[str] = Field(default_factory=list)
    protos: tuple[Literal["tcp", "udp"], ...] = ("tcp", "udp")
    #: ignore sockets bound to loopback only
    ignore_loopback: bool = False

    @model_validator(mode="after")
    def _something(self) -> ListeningCheck:
        if not self.ports and not self.processes:
            raise ValueError("not_listening needs ports or processes")
        return self


class WalkCheck(Frozen):
    """A bounded filesystem walk finds nothing (outside allowed globs)."""

    kind: Literal["walk_empty"]
    #: see the probe's WALK_KINDS: world_writable (files), world_writable_dirs (without the
    #: sticky bit), unowned (no user or group), suid, sgid
    walk: Literal["world_writable", "world_writable_dirs", "unowned", "suid", "sgid"]
    allow: list[str] = Field(default_factory=list)  # fnmatch globs


class UpdatesCheck(Frozen):
    """No pending security updates in the package manager's current lists."""

    kind: Literal["no_security_updates"]
    max_list_age_days: int | None = 7


class CloudCheck(Frozen):
    """AWS instance settings visible from the host; NOT_APPLICABLE off AWS."""

    kind: Literal["aws_imds"]
    http_tokens: Literal["required"] | None = "required"
    max_hop_limit: int | None = None


class ExpressionCheck(Frozen):
    """A Jinja2 expression over the snapshot, in a sandbox; true means PASS.

    The snapshot's facts are the expression's names (``sshd``, ``packages`` ...) as plain
    data (dicts/lists), plus ``vars`` (tailoring values). ``evidence`` is an optional
    expression whose value is shown as what was found.
    """

    kind: Literal["expression"]
    expr: str
    evidence: str | None = None
    expected: str = "expression is true"
    #: an expression that, when true, makes the rule NOT_APPLICABLE
    not_applicable_if: str | None = None


Check = Annotated[
    SshdOptionCheck
    | SysctlCheck
    | FilePermissionsCheck
    | FileExistsCheck
    | FileContentCheck
    | PackageCheck
    | ServiceCheck
    | KernelModuleCheck
    | MountCheck
    | AccountCheck
    | KeyValueCheck
    | LimitCheck
    | RsyslogCheck
    | PamCheck
    | ListeningCheck
    | WalkCheck
    | UpdatesCheck
    | CloudCheck
    | ExpressionCheck,
    Field(discriminator="kind"),
]



def kind_name(model: type[Frozen]) -> str:
    """The check kind a check model parses (its ``kind`` literal)."""
    (name,) = get_args(model.model_fields["kind"].annotation)
    return str(name)


#: every check model, in the order error messages list the kinds: the ``Check`` union is the
#: one list (an evaluator registers with ``rules.checks.check_kind``)
CHECK_MODELS: tuple[type[Frozen], ...] = get_args(get_args(Check)[0])
CHECK_KINDS: tuple[str, ...] = tuple(kind_name(m) for m in CHECK_MODELS)


# --------------------------------------------------------------------------------------------
# Rules and packs
# --------------------------------------------------------------------------------------------


class CisRef(Frozen):
    benchmark: str  # e.g. "debian12", "ubuntu2204", "al2023", "rhel9"
    version: str  # benchmark version, e.g. "1.1.0"
    id: str  # recommendation number, e.g. "5.1.20"
    level: int = 1
    profile: Literal["server", "workstation"] = "server"


#: the shape of a ComplianceAsCode rule id (``sshd_disable_forwarding``,
#: ``kernel_module_usb-storage_disabled``): lower case, digits, ``_`` and ``-``. A control
#: file's ``name=value`` entries select variables, not rules, and do not match.
CAC_RULE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,127}$")


class References(Frozen):
    cis: list[CisRef] = Field(default_factory=list)
    pci_dss: list[str] = Field(default_factory=list)  # PCI DSS 4.0 requirement numbers
    hipaa: list[str] = Field(default_factory=list)  # 45 CFR §164 sections, e.g. 164.312(b)
    nist_800_53: list[str] = Field(default_factory=list)
    #: ComplianceAsCode rule ids that check what this rule checks (one, or several where
    #: ComplianceAsCode splits the check, e.g. owner, group and mode of one file). A pack may
    #: write one id as a plain string.
    cac: list[str] = Field(default_factory=list)
    aws: list[str] = Field(default_factory=list)  # AWS doc / Security Hub control ids

    @field_validator("cac", mode="before")
    @classmethod
    def _cac_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("cac")
    @classmethod
    def _cac_ids(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not CAC_RULE_ID_RE.fullmatch(c)]
        if bad:
            raise ValueError(
                f"not a ComplianceAsCode rule id: {', '.join(repr(c) for c in bad)} (lower-case "
                "letters, digits, '_' and '-', e.g. sshd_disable_forwarding)")
        twice = sorted({c for c in v if v.count(c) > 1})
        if twice:
            raise ValueError(f"listed more than once: {', '.join(twice)}")
        return v

    def framework_ids(self, framework: str) -> list[str]:
        if framework == "pci-dss":
            return list(self.pci_dss)
        if framework == "hipaa":
            return list(self.hipaa)
        if framework == "nist-800-53":
            return list(self.nist_800_53)
        if framework == "cis":
            return [f"{c.benchmark} {c.id}" for c in self.cis]
        if framework == "aws":
            return list(self.aws)
        raise ValueError(framework)


FRAMEWORKS: tuple[str, ...] = ("cis", "pci-dss", "hipaa", "nist-800-53", "aws")


class Platform(Frozen):
    """Where a rule applies. Empty lists mean any."""

    families: list[str] = Field(default_factory=list)  # debian, rhel, ...
    os_ids: list[str] = Field(default_factory=list)  # debian, ubuntu, amzn, rhel, ...
    #: the rule applies only when one of these packages is installed (e.g. openssh-server)
    packages_any: list[str] = Field(default_factory=list)
    #: not applicable inside containers (kernel-level settings owned by the container host)
    not_in_container: bool = False
    #: applies only where systemd is the running init (PID 1): a unit only systemd starts, such
    #: as systemd-journald, cannot run anywhere else
    systemd_running: bool = False
    #: the rule applies only on these cloud providers (``aws``), read from the ``cloud`` fact;
    #: a host whose provider cannot be told is ERROR, never silently not applicable
    cloud: list[Literal["aws"]] = Field(default_factory=list)


class RemediationNames(Frozen):
    """The remediations a rule may name: playbook ids and SSM document names. The rulepack
    loader is given them (by default the shipped ones, ``paths.shipped_remediation_names``)."""

    playbooks: frozenset[str] = frozenset()
    ssm_documents: frozenset[str] = frozenset()


class RemediationRef(Frozen):
    """How a failing rule is fixed. ``manual`` is text for a person, never an action."""

    playbook: str | None = None
    ssm_document: str | None = None
    params: dict[str, Value] = Field(default_factory=dict)
    manual: str | None = None

    @model_validator(mode="after")
    def _one(self) -> RemediationRef:
        if not (self.playbook or self.ssm_document or self.manual):
            raise ValueError("remediation needs a playbook, an ssm_document or manual text")
        if self.manual and (self.playbook or self.ssm_document):
            raise ValueError("a manual remediation cannot also name a playbook or document")
        return self


class Rule(Frozen):
    id: str
    title: str
    description: str
    rationale: str
    severity: Severity
    references: References = Field(default_factory=References)
    platform: Platform = Field(default_factory=Platform)
    #: facts the check reads; derived from the check kind when omitted (``expression`` must
    #: declare them)
    facts: list[str] = Field(default_factory=list)
    check: Check
    remediation: RemediationRef | None = None
    #: filled by the loader: which pack and file the rule came from
    pack: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not RULE_ID_RE.match(v):
            raise ValueError(
                f"rule id {v!r} must be 3-100 characters of a-z, 0-9, '.', '_', '-'"
            )
        return v

    @field_validator("facts")
    @classmethod
    def _facts(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - FACT_NAMES)
        if unknown:
            raise ValueError(
                f"unknown fact name(s) {', '.join(unknown)}; valid: {', '.join(sorted(FACT_NAMES))}"
            )
        return v


class Variable(Frozen):
    default: Scalar | list[Scalar]
    description: str = ""


class RulePack(Frozen):
    id: str
    version: str
    title: str
    description: str
    variables: dict[str, Variable] = Field(default_factory=dict)
    rules: list[Rule]
    #: file it was loaded from (filled by the loader)
    source: str = ""

    def defaults(self) -> dict[str, Any]:
        return {k: v.default for k, v in self.variables.items()}
