"""Evaluation of each check kind: pure functions ``(check, snapshot, ctx) -> Outcome``.

A check never says PASS for something it could not see: a fact that was not collected is
ERROR with the probe's reason; a value the host does not have (sshd absent, kernel parameter
unknown to this kernel) is NOT_APPLICABLE with the reason.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from inspectorctl.models.common import Frozen, Status, trusted
from inspectorctl.models.finding import Evidence
from inspectorctl.models.rule import (
    CHECK_KINDS,
    AccountCheck,
    AccountCondition,
    CloudCheck,
    Comparison,
    ExpressionCheck,
    FileContentCheck,
    FileExistsCheck,
    FilePermissionsCheck,
    KernelModuleCheck,
    KeyValueCheck,
    LimitCheck,
    ListeningCheck,
    MountCheck,
    Op,
    PackageCheck,
    PamCheck,
    RsyslogCheck,
    ServiceCheck,
    SshdOptionCheck,
    SysctlCheck,
    UpdatesCheck,
    Value,
    VarRef,
    WalkCheck,
    kind_name,
)
from inspectorctl.models.snapshot import HostSnapshot, Package, PamLine
from inspectorctl.vulns.versions import VersionError, compare


class Outcome(NamedTuple):
    status: Status
    evidence: Evidence | None = None
    reason: str | None = None


CheckFn = Callable[[Any, HostSnapshot, "EvalContext"], Outcome]
C = TypeVar("C", bound=Frozen)


@dataclass(frozen=True)
class CheckKind:
    """One check kind, declared once with ``@check_kind`` on its evaluator: its rule model
    (whose ``kind`` literal names it), the facts it reads beyond ``os``, and how it evaluates.
    ``extra_facts`` adds facts that depend on the check's fields (after the rule's own)."""

    name: str
    model: type[Frozen]
    facts: tuple[str, ...]
    evaluate: CheckFn
    extra_facts: Callable[[Any], tuple[str, ...]] | None = None


#: the registry: check kind -> its declaration
KINDS: dict[str, CheckKind] = {}


def check_kind(
    model: type[C],
    facts: tuple[str, ...],
    extra_facts: Callable[[C], tuple[str, ...]] | None = None,
) -> Callable[
    [Callable[[C, HostSnapshot, EvalContext], Outcome]],
    Callable[[C, HostSnapshot, EvalContext], Outcome],
]:
    """Register the decorated function as the evaluator of ``model``'s kind."""
    name = kind_name(model)

    def register(
        fn: Callable[[C, HostSnapshot, EvalContext], Outcome],
    ) -> Callable[[C, HostSnapshot, EvalContext], Outcome]:
        if name in KINDS:
            raise TypeError(f"check kind {name!r} declared twice ({KINDS[name].evaluate.__name__}, "
                            f"{fn.__name__})")
        KINDS[name] = CheckKind(name, model, facts, fn, extra_facts)
        return fn

    return register


def _evidence(expected: str, found: str, source: str | None) -> Evidence:
    return trusted(Evidence, {"expected": str(expected), "found": str(found),
                              "source": None if source is None else str(source)})


def passed(expected: str, found: str, source: str | None = None) -> Outcome:
    return Outcome(Status.PASS, _evidence(expected, found, source))


def failed(expected: str, found: str, source: str | None = None) -> Outcome:
    return Outcome(Status.FAIL, _evidence(expected, found, source))


def verdict(ok: bool, expected: str, found: str, source: str | None = None) -> Outcome:
    return (passed if ok else failed)(expected, found, source)


def error(reason: str) -> Outcome:
    return Outcome(Status.ERROR, reason=reason)


def not_applicable(reason: str) -> Outcome:
    return Outcome(Status.NOT_APPLICABLE, reason=reason)


class CheckUndecidable(Exception):
    """Raised inside a check that cannot decide: the rule is ERROR with the message."""


class UnknownFact(CheckUndecidable):
    """Raised inside a check when a fact it needs was not collected."""


@dataclass
class EvalContext:
    """Per-(snapshot, pack) evaluation state: tailoring values and lazily built indexes."""

    variables: dict[str, Any]
    cache: dict[str, Any] = field(default_factory=dict)


def fact(snapshot: HostSnapshot, name: str) -> Any:
    value = getattr(snapshot, name)
    if value is None:
        reason = snapshot.unknown.get(name, "not collected")
        raise UnknownFact(f"fact '{name}' is unknown: {reason}")
    return value


# -------------------------------------------------------------------------------- comparisons


def resolve(value: Value, ctx: EvalContext) -> Any:
    if isinstance(value, VarRef):
        return value.render(ctx.variables)
    return value


def _num(x: Any) -> float | None:
    try:
        return float(str(x).strip())
    except ValueError:
        return None


def _items(x: Any) -> list[str]:
    if isinstance(x, (list, tuple)):
        return [str(i).strip().lower() for i in x]
    return [i for i in re.split(r"[,\s]+", str(x).strip().lower()) if i]


def compare_value(found: Any, cmp: Comparison, ctx: EvalContext) -> bool:
    """Apply ``cmp`` to ``found``. Strings compare case-insensitively; numbers numerically."""
    want = resolve(cmp.value, ctx)
    op = cmp.op
    f = str(found).strip()
    if op in (Op.EQ, Op.NE):
        nf, nw = _num(f), _num(want)
        eq = (nf == nw) if nf is not None and nw is not None else f.lower() == str(want).lower()
        return eq if op is Op.EQ else not eq
    if op in (Op.IN, Op.NOT_IN):
        options = want if isinstance(want, list) else [want]
        inside = any(
            compare_value(f, Comparison(op=Op.EQ, value=o), ctx) for o in options
        )
        return inside if op is Op.IN else not inside
    if op in (Op.LT, Op.LE, Op.GT, Op.GE):
        nf, nw = _num(f), _num(want)
        if nf is None or nw is None:
            return False
        return {
            Op.LT: nf < nw, Op.LE: nf <= nw, Op.GT: nf > nw, Op.GE: nf >= nw
        }[op]
    if op in (Op.MATCHES, Op.NOT_MATCHES):
        try:
            hit = re.search(str(want), f) is not None
        except re.error as e:
            raise CheckUndecidable(f"invalid regular expression {want!r}: {e}") from e
        return hit if op is Op.MATCHES else not hit
    if op is Op.SUBSET:
        allowed = set(_items(want))
        return set(_items(f)) <= allowed
    if op is Op.DISJOINT:
        return not (set(_items(f)) & set(_items(want)))
    raise AssertionError(op)  # pragma: no cover - Op is closed


def describe(cmp: Comparison, ctx: EvalContext) -> str:
    want = resolve(cmp.value, ctx)
    if isinstance(want, list):
        want = ", ".join(str(w) for w in want)
    words = {
        Op.EQ: "=", Op.NE: "!=", Op.IN: "one of", Op.NOT_IN: "none of", Op.LT: "<",
        Op.LE: "<=", Op.GT: ">", Op.GE: ">=", Op.MATCHES: "matching", Op.NOT_MATCHES:
        "not matching", Op.SUBSET: "only from", Op.DISJOINT: "none of",
    }
    return f"{words[cmp.op]} {want}"


# ---------------------------------------------------------------------------------- the kinds

#: why instance-level cloud rules do not apply to a container whose cloud cannot be seen
CONTAINER_CLOUD_REASON = (
    "a container: instance-level cloud settings (SSM agent, IMDS, time sync source) belong to "
    "the machine that runs it; assess that machine"
)

#: the fact each ``setting`` source is read from
_SETTING_FACT = {"login_defs": "login_defs", "pwquality": "pam", "faillock": "pam",
                 "journald": "systemd_conf", "coredump": "systemd_conf"}


def _setting_facts(c: KeyValueCheck) -> tuple[str, ...]:
    return (_SETTING_FACT[c.source],)


def _account_extra_facts(c: AccountCheck) -> tuple[str, ...]:
    return ("login_defs",)  # UID_MIN: which accounts are human



@check_kind(SshdOptionCheck, facts=("sshd", "packages"))
def check_sshd(c: SshdOptionCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    """The global value and, for every Match block sshd can apply, the value a connection it
    selects gets: PASS only when all of them meet the expectation."""
    sshd = fact(s, "sshd")
    if not sshd.installed:
        return not_applicable("sshd (openssh-server) is not installed")
    if sshd.error:
        return error(f"sshd -T failed: {sshd.error}")
    values = sshd.config.get(c.option)
    if values is None:
        return not_applicable(f"this sshd does not know the option '{c.option}'")
    expected = f"{c.option} {describe(c.expect, ctx)}"

    def shown(vals: tuple[str, ...]) -> str:
        # list keywords (Ciphers, MACs ...) compare as one comma-separated list
        return ",".join(vals) if c.expect.op in (Op.SUBSET, Op.DISJOINT) else vals[0]

    found = shown(values)
    if not compare_value(found, c.expect, ctx):
        return failed(expected, f"{c.option} {found}", "sshd -T")
    weaker, unknown = [], []
    live = [m for m in sshd.matches if not m.inert]  # blocks sshd can apply
    for m in live:
        if m.error:
            unknown.append(f"Match {m.criteria}: {m.error}")
            continue
        value = shown(m.config.get(c.option, values))
        if not compare_value(value, c.expect, ctx):
            weaker.append(f"Match {m.criteria} ({m.connection}): {c.option} {value}")
    if weaker:
        return failed(expected, f"{c.option} {found}, but " + "; ".join(weaker),
                      "sshd -T -C")
    if unknown:
        return error(f"{c.option} {found} globally, but a Match block could not be "
                     f"evaluated: {'; '.join(unknown)}")
    # a block sshd never applies is named: it is harmless here but likely a mistake
    never = "".join(f"; Match {m.criteria} never applies (only negated patterns)"
                    for m in sshd.matches if m.inert)
    if live:
        return passed(expected, f"{c.option} {found}, also under {len(live)} Match "
                      f"block(s){never}", "sshd -T, sshd -T -C")
    return passed(expected, f"{c.option} {found}{never}", "sshd -T")


def _container_kernel_param(s: HostSnapshot, key: str) -> bool:
    return bool(s.os is not None and s.os.container and not key.startswith("net."))


@check_kind(SysctlCheck, facts=("sysctl",))
def check_sysctl(c: SysctlCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    sysctl = fact(s, "sysctl")
    expected = f"{c.key} {describe(c.expect, ctx)}"
    parts: list[str] = []
    ok = True
    sources: list[str] = []
    where = c.where
    if where != "configured" and _container_kernel_param(s, c.key):
        if where == "runtime":
            return not_applicable(
                f"{c.key} is a kernel-wide parameter owned by the container's host"
            )
        where = "configured"
    if where in ("runtime", "both"):
        if c.key in sysctl.missing or c.key not in sysctl.runtime:
            err = sysctl.errors.get(c.key)
            if err:
                return error(f"cannot read {c.key}: {err}")
            return not_applicable(f"this kernel has no parameter {c.key}")
        value = sysctl.runtime[c.key]
        ok = ok and compare_value(value, c.expect, ctx)
        parts.append(f"runtime {value}")
        sources.append("/proc/sys")
    if where in ("configured", "both"):
        settings = sysctl.configured.get(c.key, ())
        if settings:
            last = settings[-1]
            ok = ok and compare_value(last.value, c.expect, ctx)
            parts.append(f"configured {last.value}")
            sources.append(last.where)
        else:
            ok = False
            parts.append("not configured in sysctl.conf or sysctl.d")
    return verdict(ok, expected, "; ".join(parts), ", ".join(sources) or None)


def _file(s: HostSnapshot, path: str) -> Any:
    files = fact(s, "files")
    info = files.get(path)
    if info is None:
        raise UnknownFact(f"file {path} was not probed")
    return info


def _missing(mode: str, path: str, expected: str) -> Outcome:
    if mode == "pass":
        return passed(expected, f"{path} does not exist")
    if mode == "fail":
        return failed(expected, f"{path} does not exist")
    return not_applicable(f"{path} does not exist")


@check_kind(FilePermissionsCheck, facts=("files",))
def check_file_permissions(c: FilePermissionsCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    info = _file(s, c.path)
    wants = []
    if c.max_mode:
        wants.append(f"mode {c.max_mode} or stricter")
    if c.owner:
        wants.append(f"owner {'/'.join(c.owner)}")
    if c.group:
        wants.append(f"group {'/'.join(c.group)}")
    expected = f"{c.path}: " + ", ".join(wants)
    if info.error and info.mode is None:
        return error(f"cannot stat {c.path}: {info.error}")
    if not info.exists:
        return _missing(c.if_missing, c.path, expected)
    if c.max_mode and info.mode is None:
        return error(f"the mode of {c.path} is not known" + (f": {info.error}" if info.error
                                                             else ""))
    owner = info.owner if info.owner is not None else (
        str(info.uid) if info.uid is not None else None)
    group = info.group if info.group is not None else (
        str(info.gid) if info.gid is not None else None)
    if (c.owner and owner is None) or (c.group and group is None):
        return error(f"the owner or group of {c.path} is not known")
    ok = True
    if c.max_mode and info.mode is not None:
        ok = ok and (info.mode & ~int(c.max_mode, 8) & 0o7777) == 0
    if c.owner:
        ok = ok and owner in c.owner
    if c.group:
        ok = ok and group in c.group
    mode_s = f"{info.mode:04o}" if info.mode is not None else "?"
    return verdict(ok, expected, f"{c.path}: mode {mode_s}, owner {owner}, group {group}")


@check_kind(FileExistsCheck, facts=("files",))
def check_file_exists(c: FileExistsCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    info = _file(s, c.path)
    if info.error and not info.exists:
        return error(f"cannot stat {c.path}: {info.error}")
    expected = f"{c.path} {'exists' if c.present else 'does not exist'}"
    found = f"{c.path} {'exists' if info.exists else 'does not exist'}"
    return verdict(info.exists == c.present, expected, found)


@check_kind(FileContentCheck, facts=("files",))
def check_file_content(c: FileContentCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    info = _file(s, c.path)
    expected = f"{c.path}: a line matching /{c.pattern}/ {'present' if c.present else 'absent'}"
    if not info.exists:
        if info.error:
            return error(f"cannot read {c.path}: {info.error}")
        return _missing(c.if_missing, c.path, expected)
    if info.error:
        return error(f"cannot read {c.path}: {info.error}")
    if c.pattern not in info.matches:
        raise UnknownFact(f"pattern /{c.pattern}/ was not probed in {c.path}")
    lines = info.matches[c.pattern]
    found = f"{len(lines)} matching line(s)" + (f": {lines[0]!r}" if lines else "")
    return verdict(bool(lines) == c.present, expected, found, c.path)


def _package_index(s: HostSnapshot, ctx: EvalContext) -> dict[str, list[Package]]:
    index: dict[str, list[Package]] | None = ctx.cache.get("packages")
    if index is None:
        index = {}
        for p in fact(s, "packages").items:
            index.setdefault(p.name, []).append(p)
        ctx.cache["packages"] = index
    return index


@check_kind(PackageCheck, facts=("packages",))
def check_package(c: PackageCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    manager = fact(s, "packages").manager
    index = _package_index(s, ctx)
    present = {n: index[n] for n in c.names if n in index}
    found = ", ".join(f"{p.name} {p.version}" for ps in present.values() for p in ps) or (
        "none installed")
    if c.state == "absent":
        return verdict(not present, f"not installed: {', '.join(c.names)}", found, manager)
    how = "one of" if c.match == "any" and len(c.names) > 1 else "installed:"
    expected = f"{how} {', '.join(c.names)}"
    ok = bool(present) if c.match == "any" else len(present) == len(c.names)
    if ok and c.version is not None:
        want = str(resolve(c.version.value, ctx))
        expected += f" with version {describe(c.version, ctx)}"
        try:
            ok = all(
                _version_ok(manager, p.version, c.version.op, want)
                for ps in present.values() for p in ps
            )
        except VersionError as e:
            return error(str(e))
    return verdict(ok, expected, found, manager)


def _version_ok(manager: str, found: str, op: Op, want: str) -> bool:
    r = compare(manager, found, want)
    return {
        Op.EQ: r == 0, Op.NE: r != 0, Op.LT: r < 0, Op.LE: r <= 0, Op.GT: r > 0, Op.GE: r >= 0,
    }.get(op, False)


@check_kind(ServiceCheck, facts=("services",))
def check_service(c: ServiceCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    """Every unit must be in the state (disabled, inactive, absent_or_disabled) or one unit
    suffices (enabled, active, enabled_and_active). A unit whose state cannot be told is
    ERROR unless another unit already decides the outcome."""
    services = fact(s, "services")
    want_all = c.state in ("disabled", "inactive", "absent_or_disabled")
    needs_active = c.state in ("active", "enabled_and_active", "inactive", "absent_or_disabled")
    needs_enabled = c.state in ("enabled", "enabled_and_active", "disabled",
                                "absent_or_disabled")
    found_parts: list[str] = []
    results: list[bool] = []
    unknown: list[str] = []
    for name in c.names:
        svc = services.items.get(name.removesuffix(".service"))
        if svc is None:
            found_parts.append(f"{name}: no such unit")
            results.append(want_all)
            continue
        enabled, active = svc.enabled, svc.active
        found_parts.append(
            f"{name}: {svc.unit_file_state or 'unknown'}, "
            f"{'active' if active else 'inactive' if active is False else 'activity unknown'}"
        )
        if needs_active and active is None:
            unknown.append(f"cannot tell whether {name} is running ({svc.active_source})")
            continue
        if needs_enabled and enabled is None:
            unknown.append(f"cannot tell whether {name} is enabled")
            continue
        results.append({
            "enabled": bool(enabled),
            "active": bool(active),
            "enabled_and_active": bool(enabled and active),
            "disabled": not enabled,
            "inactive": not active,
            "absent_or_disabled": not enabled and not active,
        }[c.state])
    decided = (not all(results)) if want_all else any(results)
    if unknown and not decided:
        return error("; ".join(unknown))
    ok = all(results) if want_all else any(results)
    label = c.state.replace("_", " ")
    return verdict(ok, f"{', '.join(c.names)}: {label}", "; ".join(found_parts), services.manager)


@check_kind(KernelModuleCheck, facts=("kernel_modules",))
def check_kernel_module(c: KernelModuleCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    km = fact(s, "kernel_modules")
    mod = c.module.replace("-", "_")
    names = {c.module, mod, c.module.replace("_", "-")}
    install = next((km.install[n] for n in names if n in km.install), None)
    blocked_install = install is not None and install.split()[0] in ("/bin/false", "/bin/true",
                                                                      "/usr/bin/false",
                                                                      "/usr/bin/true")
    blacklisted = bool(names & set(km.blacklisted))
    loaded = bool(names & {m.replace("-", "_") for m in km.loaded})
    available = km.available.get(c.module)
    in_container = bool(s.os is not None and s.os.container)
    expected = f"{c.module}: not loaded, 'install {c.module} /bin/false' and blacklisted"
    found = (f"{c.module}: {'loaded' if loaded else 'not loaded'}, install "
             f"{install or 'not set'}, {'blacklisted' if blacklisted else 'not blacklisted'}")
    if available is False and not loaded:
        return passed(expected, f"{c.module}: no module for the running kernel")
    if in_container:
        found += " (loaded state is the container host's; configuration checked)"
        return verdict(blocked_install and blacklisted, expected, found, "modprobe.d")
    return verdict(not loaded and blocked_install and blacklisted, expected, found, "modprobe.d")


@check_kind(MountCheck, facts=("mounts",))
def check_mount(c: MountCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    mounts = fact(s, "mounts")
    entry = None
    for m in mounts.mounts:
        if m.mountpoint == c.mountpoint:
            entry = m  # the last one wins: it is the one visible
    expected = f"{c.mountpoint} is a separate mount" + (
        f" with {', '.join(c.options)}" if c.options else "")
    if entry is None:
        if c.if_not_mounted == "fail":
            return failed(expected, f"{c.mountpoint} is not a separate mount")
        return not_applicable(f"{c.mountpoint} is not a separate mount")
    missing = [o for o in c.options if o not in entry.options]
    found = f"{c.mountpoint} ({entry.fstype}) options {','.join(entry.options)}"
    if missing:
        found += f"; missing {', '.join(missing)}"
    return verdict(not missing, expected, found, "/proc/self/mounts")


@check_kind(AccountCheck, facts=("accounts",), extra_facts=_account_extra_facts)
def check_account(c: AccountCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    acc = fact(s, "accounts")
    cond = c.condition
    if cond is AccountCondition.ONLY_ROOT_UID0:
        bad = [a.name for a in acc.accounts if a.uid == 0 and a.name != "root"]
        return verdict(not bad, "only root has UID 0",
                       f"other UID 0 accounts: {', '.join(bad)}" if bad else "only root",
                       "/etc/passwd")
    if cond is AccountCondition.ROOT_GID_0:
        root = next((a for a in acc.accounts if a.name == "root"), None)
        if root is None:
            return failed("root's primary group is GID 0", "no root account")
        return verdict(root.gid == 0, "root's primary group is GID 0", f"GID {root.gid}",
                       "/etc/passwd")
    if cond in (AccountCondition.NO_DUPLICATE_UIDS, AccountCondition.NO_DUPLICATE_GIDS,
                AccountCondition.NO_DUPLICATE_NAMES):
        dup = {
            AccountCondition.NO_DUPLICATE_UIDS: acc.duplicate_uids,
            AccountCondition.NO_DUPLICATE_GIDS: acc.duplicate_gids,
            AccountCondition.NO_DUPLICATE_NAMES: acc.duplicate_names,
        }[cond]
        what = cond.value.removeprefix("no_duplicate_")
        return verdict(not dup, f"no duplicate {what}",
                       f"duplicates: {', '.join(map(str, dup))}" if dup else "none")
    if cond is AccountCondition.PASSWD_GROUPS_EXIST:
        return verdict(not acc.missing_groups, "every GID in /etc/passwd exists in /etc/group",
                       f"missing GIDs: {', '.join(map(str, acc.missing_groups))}"
                       if acc.missing_groups else "all exist")
    if cond is AccountCondition.SHADOW_GROUP_EMPTY:
        g = next((g for g in acc.groups if g.name == "shadow"), None)
        if g is None:
            return not_applicable("there is no 'shadow' group")
        users = list(g.members) + [a.name for a in acc.accounts if a.gid == g.gid]
        return verdict(not users, "group shadow has no members",
                       f"members: {', '.join(users)}" if users else "no members", "/etc/group")
    if not acc.shadow_readable:
        return error("/etc/shadow is not readable (run the probe as root, e.g. --become)")
    if cond is AccountCondition.NO_EMPTY_PASSWORDS:
        bad = [a.name for a in acc.accounts if a.password == "empty"]
        return verdict(not bad, "no account has an empty password",
                       f"empty passwords: {', '.join(bad)}" if bad else "none", "/etc/shadow")
    if cond is AccountCondition.SHADOW_CONSISTENT:
        bad = [*acc.shadow_only, *acc.passwd_only]
        return verdict(not bad, "/etc/passwd and /etc/shadow list the same accounts",
                       f"only in one of them: {', '.join(bad)}" if bad else "consistent")
    if cond is AccountCondition.SYSTEM_ACCOUNTS_NO_LOGIN:
        exempt = {"root", "sync", "shutdown", "halt"}
        bad = [a.name for a in acc.accounts
               if a.uid < acc.uid_min and a.name not in exempt and a.login_shell
               and a.password != "locked"]
        return verdict(not bad, "system accounts have no login shell or are locked",
                       f"login shells: {', '.join(bad)}" if bad else "none", "/etc/passwd")
    # *_days conditions over interactive accounts with a password
    attr, op = {
        AccountCondition.PASSWORD_MAX_DAYS: ("max_days", "le"),
        AccountCondition.PASSWORD_MIN_DAYS: ("min_days", "ge"),
        AccountCondition.PASSWORD_WARN_DAYS: ("warn_days", "ge"),
        AccountCondition.INACTIVE_DAYS: ("inactive_days", "le"),
    }[cond]
    if c.value is None:
        return error(f"rule condition {cond.value} needs a value")
    raw = resolve(c.value, ctx)
    try:
        limit = float(raw)
    except (TypeError, ValueError):
        return error(f"rule condition {cond.value} needs a number, got {raw!r}")
    bad = []
    checked = 0
    for a in acc.accounts:
        if a.password != "set":
            continue
        checked += 1
        v = getattr(a, attr)
        if v is None or v < 0 or (v > limit if op == "le" else v < limit):
            bad.append(f"{a.name}={v if v is not None else 'unset'}")
    sign = "<=" if op == "le" else ">="
    expected = f"{attr} {sign} {limit:g} for every account with a password"
    if checked == 0:
        return passed(expected, "no account has a password set", "/etc/shadow")
    return verdict(not bad, expected, f"violations: {', '.join(bad)}" if bad else
                   f"{checked} account(s) comply", "/etc/shadow")


@check_kind(KeyValueCheck, facts=(), extra_facts=_setting_facts)
def check_setting(c: KeyValueCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    if c.source in ("journald", "coredump"):
        return _systemd_setting(c, s, ctx)
    if c.source == "login_defs":
        values: dict[str, str] = fact(s, "login_defs")
        src = "/etc/login.defs"
    else:
        pam = fact(s, "pam")
        values = pam.pwquality if c.source == "pwquality" else pam.faillock
        src = f"/etc/security/{c.source}.conf"
    return _setting_verdict(c, ctx, values.get(c.key), src, src)


def _setting_verdict(c: KeyValueCheck, ctx: EvalContext, value: str | None, where: str,
                     src: str) -> Outcome:
    expected = f"{c.key} {describe(c.expect, ctx)}"
    if value is not None:
        return verdict(compare_value(value, c.expect, ctx), expected, f"{c.key} {value}", where)
    if c.default is not None:
        return verdict(compare_value(c.default, c.expect, ctx), expected,
                       f"{c.key} unset (default {c.default})", src)
    return _unset(c.if_unset, expected, f"{c.key} is not set", src,
                  f"{c.key} is not set in {src}")


def _unset(mode: str, expected: str, found: str, src: str, why: str) -> Outcome:
    """What a rule says when nothing sets what it checks, as its ``if_unset`` asks."""
    if mode == "not_applicable":
        return not_applicable(why)
    return (passed if mode == "pass" else failed)(expected, found, src)


def _unreadable(errors: dict[str, str]) -> Outcome | None:
    """ERROR naming an unreadable settings file: it could hold what decides."""
    if not errors:
        return None
    path, why = min(errors.items())
    return error(f"cannot read {path}: {why}")


def _systemd_setting(c: KeyValueCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    conf = fact(s, "systemd_conf").get(c.source)
    if conf is None:
        raise UnknownFact(f"{c.source}.conf was not probed")
    if (unreadable := _unreadable(conf.errors)) is not None:
        return unreadable
    src = ", ".join(conf.files) or f"/etc/systemd/{c.source}.conf (absent)"
    setting = conf.values.get(c.key)
    if setting is None:
        return _setting_verdict(c, ctx, None, src, src)
    return _setting_verdict(c, ctx, setting.value, setting.where, src)


_NO_LIMIT = ("unlimited", "infinity", "-1")


def _limit_meets(value: str, cmp: Comparison, ctx: EvalContext) -> bool:
    """``value`` (a limits.conf value) against ``cmp``; no limit is above every number."""
    if value in _NO_LIMIT and cmp.op in (Op.LT, Op.LE, Op.GT, Op.GE):
        return cmp.op in (Op.GT, Op.GE)
    return compare_value("unlimited" if value in _NO_LIMIT else value, cmp, ctx)


@check_kind(LimitCheck, facts=("limits",))
def check_limit(c: LimitCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    limits = fact(s, "limits")
    if (unreadable := _unreadable(limits.errors)) is not None:
        return unreadable
    src = ", ".join(limits.files) or "/etc/security/limits.conf (absent)"
    expected = f"* {c.type} {c.item} {describe(c.expect, ctx)}"
    entries = [e for e in limits.entries
               if (e.item == c.item and e.type in (c.type, "-")) or e.item == ""]
    everyone = [e for e in entries if e.domain == "*" and e.item]
    # entries naming someone override '*' for them (pam_limits: user, group and uid-range
    # entries take precedence over the wildcard whatever their order)
    weaker = [f"{e.domain} {'gets no limits' if not e.item else f'{e.type} {e.item} {e.value}'}"
              f" at {e.where}"
              for e in entries if e.domain != "*"
              and (not e.item or not _limit_meets(e.value, c.expect, ctx))]
    if everyone:
        last = everyone[-1]  # the same domain: the entry read last wins
        found = f"* {last.type} {last.item} {last.value} at {last.where}"
        if not _limit_meets(last.value, c.expect, ctx):
            return failed(expected, found, src)
        if weaker:
            return failed(expected, f"{found}, but " + "; ".join(weaker), src)
        return passed(expected, found, src)
    if weaker:
        return failed(expected, f"no '* {c.type} {c.item}' entry; " + "; ".join(weaker), src)
    return _unset(c.if_unset, expected,
                  f"no '* {c.type} {c.item}' entry (the kernel's default applies)", src,
                  f"no '* {c.type} {c.item}' entry in {src}")


RSYSLOG_DEFAULT_MODE = "0644"  # omfile's compiled-in fileCreateMode


@check_kind(RsyslogCheck, facts=("rsyslog",))
def check_rsyslog(c: RsyslogCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    conf = fact(s, "rsyslog")
    if not conf.files:
        return not_applicable("/etc/rsyslog.conf does not exist")
    if (unreadable := _unreadable(conf.errors)) is not None:
        return unreadable
    src = ", ".join(conf.files)
    if c.aspect == "no_remote_input":
        expected = "no network input (imtcp, imudp, imptcp, imrelp, imgssapi)"
        if conf.remote_inputs:
            return failed(expected, "; ".join(f"{i.how} {i.module} at {i.where}"
                                              for i in conf.remote_inputs), src)
        return passed(expected, "no network input loaded", src)
    allowed = int(c.max_mode, 8)
    expected = f"log files created with mode {c.max_mode} or stricter"

    def loose(value: str) -> bool:
        try:
            return int(value, 8) & ~allowed & 0o7777 != 0
        except ValueError:
            return True  # rsyslog refuses it; nothing says what mode files get

    weak = [f"{m.set_by} {m.value} at {m.where}" for m in conf.file_create_modes
            if loose(m.value)]
    module = [m for m in conf.file_create_modes if m.set_by == "module(builtin:omfile)"]
    legacy = [m for m in conf.file_create_modes if m.set_by == "$FileCreateMode"]
    if conf.default_mode_actions and not module:
        weak += [f"action(omfile) at {a.where} takes omfile's default "
                 f"{RSYSLOG_DEFAULT_MODE} ($FileCreateMode applies to legacy actions only)"
                 for a in conf.default_mode_actions]
    if weak:
        return failed(expected, "; ".join(weak), src)
    if not (legacy or module):
        return failed(expected, f"$FileCreateMode is not set (rsyslog's default "
                      f"{RSYSLOG_DEFAULT_MODE})", src)
    return passed(expected, "; ".join(f"{m.set_by} {m.value} at {m.where}"
                                      for m in conf.file_create_modes), src)


def _pam_lines(pam: Any, service: str, depth: int = 0) -> list[PamLine]:
    """The lines of a PAM service with its includes expanded.

    Debian writes ``@include common-auth`` (every type of the included file); Red Hat writes
    ``auth include system-auth`` / ``auth substack system-auth`` (only that type's lines).
    """
    lines: list[PamLine] = []
    for line in pam.services.get(service, ()):
        if line.type in ("@include", "include", "substack"):
            if depth < 8:
                lines.extend(_pam_lines(pam, line.module, depth + 1))
        elif line.control in ("include", "substack"):
            if depth < 8:
                lines.extend(ln for ln in _pam_lines(pam, line.module, depth + 1)
                             if ln.type == line.type)
        else:
            lines.append(line)
    return lines


@check_kind(PamCheck, facts=("pam",))
def check_pam(c: PamCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    pam = fact(s, "pam")
    expected = (f"{c.module}{' (' + c.type + ')' if c.type else ''}"
                f"{' with ' + ' '.join(c.args) if c.args else ''} "
                f"{'used' if c.present else 'not used'} in {', '.join(c.services)}")
    found_parts = []
    results = []
    for svc in c.services:
        if svc not in pam.services:
            err = pam.errors.get(svc)
            if err:
                return error(f"cannot read /etc/pam.d/{svc}: {err}")
            return not_applicable(f"/etc/pam.d/{svc} does not exist")
        lines = [ln for ln in _pam_lines(pam, svc)
                 if ln.module.rsplit("/", 1)[-1] == c.module and (not c.type or ln.type == c.type)]
        with_args = [ln for ln in lines if _pam_args_ok(ln.args, c.args)]
        found_parts.append(f"{svc}: " + (
            "; ".join(f"{ln.type} {ln.control} {ln.module} {' '.join(ln.args)}".strip()
                      for ln in lines) or f"no {c.module}"))
        results.append(bool(with_args) if c.present else not lines)
    return verdict(all(results), expected, " | ".join(found_parts), "/etc/pam.d")


def _pam_args_ok(have: tuple[str, ...], want: list[str]) -> bool:
    for w in want:
        m = re.fullmatch(r"([\w-]+)(>=|<=|=)(\S+)", w)
        if not m:
            if w not in have:
                return False
            continue
        key, op, val = m.groups()
        got = next((h.split("=", 1)[1] for h in have if h.startswith(key + "=")), None)
        if got is None:
            return False
        a, b = _num(got), _num(val)
        if op == "=":
            if got != val:
                return False
        elif a is None or b is None or (a < b if op == ">=" else a > b):
            return False
    return True


_LOOPBACK = re.compile(r"^(127\.|::1$|::ffff:127\.)")


@check_kind(ListeningCheck, facts=("sockets",))
def check_listening(c: ListeningCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    sockets = fact(s, "sockets")
    bad = []
    for sk in sockets:
        if sk.proto.rstrip("6") not in c.protos:
            continue
        if c.ignore_loopback and _LOOPBACK.match(sk.address):
            continue
        if sk.port in c.ports or (sk.process and sk.process in c.processes):
            bad.append(f"{sk.proto} {sk.address}:{sk.port} ({sk.process or 'unknown process'})")
    what = ", ".join([*(str(p) for p in c.ports), *c.processes])
    return verdict(not bad, f"nothing listening on {what}",
                   "; ".join(bad) if bad else "nothing", "/proc/net")


@check_kind(WalkCheck, facts=("walks",))
def check_walk(c: WalkCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    walks = fact(s, "walks")
    w = walks.get(c.walk)
    if w is None:
        raise UnknownFact(f"walk '{c.walk}' was not run")
    bad = [p for p in w.paths if not any(fnmatch.fnmatch(p, g) for g in c.allow)]
    label = c.walk.replace("_", "-")
    expected = f"no {label} files on local filesystems"
    shown = ", ".join(bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
    if w.truncated:
        stopped = f"the {c.walk} walk stopped early ({w.reason or 'limit reached'})"
        if bad:
            # what was found is certain: FAIL, saying the list may be incomplete
            return failed(expected, f"at least {len(bad)} found ({stopped}): {shown}",
                          ", ".join(w.roots))
        return error(f"{stopped} after {w.scanned} entries; cannot tell that nothing matches")
    return verdict(not bad, expected,
                   f"{len(bad)} found: {shown}" if bad else
                   f"none among {w.scanned} entries", ", ".join(w.roots))


@check_kind(UpdatesCheck, facts=("updates",))
def check_updates(c: UpdatesCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    up = fact(s, "updates")
    if up.error:
        return error(f"cannot list pending updates: {up.error}")
    if (c.max_list_age_days is not None and up.lists_age_seconds is not None
            and up.lists_age_seconds > c.max_list_age_days * 86400):
        days = up.lists_age_seconds / 86400
        return error(f"package lists are {days:.0f} days old (limit {c.max_list_age_days}); "
                     "refresh them (apt-get update / dnf makecache) before checking")
    sec = list(up.security)
    shown = ", ".join(f"{p} {up.pending.get(p, '')}".strip() for p in sec[:10])
    others = ("only security sources were checked" if up.scope == "security"
              else f"{len(up.pending)} other updates pending")
    return verdict(not sec, "no pending security updates",
                   f"{len(sec)} pending: {shown}" if sec else f"none ({others})", up.manager)


@check_kind(CloudCheck, facts=("cloud",))
def check_imds(c: CloudCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    cloud = fact(s, "cloud")
    if cloud.provider == "unknown" and s.os is not None and s.os.container:
        return not_applicable(CONTAINER_CLOUD_REASON)
    if cloud.provider == "unknown":
        return error("cannot tell whether the host is an EC2 instance: "
                     f"{cloud.error or 'the cloud provider could not be determined'}")
    if cloud.provider != "aws":
        return not_applicable(
            f"not an EC2 instance (DMI vendor: {cloud.dmi_vendor or 'unknown'})")
    if cloud.error:
        return error(f"IMDS settings not visible: {cloud.error}")
    parts, ok = [], True
    expected = []
    if c.http_tokens:
        if cloud.imds_http_tokens is None:
            return error("IMDS http-tokens setting is not visible from the host")
        ok = ok and cloud.imds_http_tokens == c.http_tokens
        parts.append(f"http-tokens {cloud.imds_http_tokens}")
        expected.append(f"http-tokens {c.http_tokens}")
    if c.max_hop_limit is not None:
        if cloud.imds_hop_limit is None:
            return error("IMDS hop limit is not visible from the host")
        ok = ok and cloud.imds_hop_limit <= c.max_hop_limit
        parts.append(f"hop limit {cloud.imds_hop_limit}")
        expected.append(f"hop limit <= {c.max_hop_limit}")
    return verdict(ok, ", ".join(expected), ", ".join(parts), cloud.source)


@check_kind(ExpressionCheck, facts=())
def check_expression(c: ExpressionCheck, s: HostSnapshot, ctx: EvalContext) -> Outcome:
    from inspectorctl.rules.expression import (
        evaluate_expression,
        expression_names,
        snapshot_context,
    )

    # facts as plain data, dumped once per host and only when an expression reads them;
    # only the facts the selected expressions declared (all of them when not known)
    names: dict[str, Any] = ctx.cache.setdefault("expr_ctx", {})
    looked_up: set[str] = ctx.cache.setdefault("expr_names", set())
    used = expression_names(c.expr)
    for extra in (c.not_applicable_if, c.evidence):
        if extra:
            used = used | expression_names(extra)
    missing = used - looked_up
    if missing:
        declared = ctx.cache.get("expr_facts")
        names.update(snapshot_context(s, missing if declared is None else missing & declared))
        looked_up |= missing
    scope = {**names, "vars": ctx.variables}
    if c.not_applicable_if and evaluate_expression(c.not_applicable_if, scope):
        return not_applicable(f"not applicable: {c.not_applicable_if}")
    ok = bool(evaluate_expression(c.expr, scope))
    found = "expression is true" if ok else "expression is false"
    if c.evidence:
        found = str(evaluate_expression(c.evidence, scope))
    return verdict(ok, c.expected, found)


def _evaluators() -> dict[str, CheckFn]:
    """Every kind the rule model knows has its evaluator (a kind without one fails here, at
    import, not on the first host)."""
    missing = [k for k in CHECK_KINDS if k not in KINDS]
    unknown = [k for k in KINDS if k not in CHECK_KINDS]
    if missing or unknown:
        raise TypeError(
            f"check kinds without an evaluator: {missing or 'none'}; evaluators of kinds the "
            f"rule model does not know (add the model to models.rule.Check): {unknown or 'none'}"
        )
    return {k: KINDS[k].evaluate for k in CHECK_KINDS}


#: check kind -> evaluation function (derived from ``KINDS``)
CHECKS: dict[str, CheckFn] = _evaluators()
