"""Decisions of the check kinds that mutation testing found untested (issue 10).

Each test pins one PASS/FAIL/ERROR decision that a mutant of ``rules/checks.py`` flipped
without any test noticing: service states, kernel parameters on ordinary hosts, the ``ne``
operator, package-version operators, PAM arguments and includes, loopback sockets, limits
entries and password ageing.
"""

from __future__ import annotations

from typing import Any

import pytest

from inspectorctl.models.common import Status
from inspectorctl.models.rule import Op
from inspectorctl.rules.checks import CheckUndecidable, _version_ok
from tests.rules.test_checks import (
    DEB_PAM,
    RHEL,
    ROOT,
    acc_rule,
    accounts,
    acct,
    found,
    lim,
    limits,
    make_rule,
    pam_rule,
    pkgs,
    pl,
    reason,
    run,
    services,
    snap,
    sshd_rule,
    status,
    sysctl_fact,
    unit,
)

# ================================================================================== service

#: (unit file state, enabled, active) of every combination a host can show
UNITS = services(
    unit("on-idle", "enabled", True, False),       # enabled but not running
    unit("off-running", "disabled", False, True),  # disabled but running (started by hand)
    unit("off-idle", "disabled", False, False),
    unit("on-running", "enabled", True, True),
    unit("unknown-idle", None, None, False),       # enabled state unknown, not running
    unit("unknown-running", None, None, True),
    unit("off-unknown", "disabled", False, None, source="unknown"),
)


@pytest.mark.parametrize(("name", "state", "want"), [
    # absent_or_disabled needs both: not enabled AND not running
    ("on-idle", "absent_or_disabled", Status.FAIL),
    ("off-running", "absent_or_disabled", Status.FAIL),
    ("off-idle", "absent_or_disabled", Status.PASS),
    ("on-running", "absent_or_disabled", Status.FAIL),
    # disabled reads only the enabled state, inactive only the activity
    ("off-running", "disabled", Status.PASS),
    ("on-idle", "disabled", Status.FAIL),
    ("on-idle", "inactive", Status.PASS),
    ("off-running", "inactive", Status.FAIL),
    ("on-idle", "enabled", Status.PASS),
    ("off-running", "enabled", Status.FAIL),
    ("off-running", "active", Status.PASS),
    ("on-idle", "active", Status.FAIL),
    ("on-idle", "enabled_and_active", Status.FAIL),
    ("off-running", "enabled_and_active", Status.FAIL),
    # an enabled state nobody could tell never passes ...
    ("unknown-idle", "absent_or_disabled", Status.ERROR),
    ("unknown-idle", "disabled", Status.ERROR),
    ("unknown-idle", "enabled", Status.ERROR),
    # ... but what is known decides when it can: a running unit is not absent_or_disabled,
    # an enabled one is not, whatever the part nobody could tell
    ("unknown-running", "absent_or_disabled", Status.FAIL),
    ("on-running", "inactive", Status.FAIL),
    ("off-unknown", "absent_or_disabled", Status.ERROR),
    ("off-unknown", "enabled_and_active", Status.FAIL),
    ("off-unknown", "disabled", Status.PASS),
])
def test_service_state_of_one_unit(name: str, state: str, want: Status) -> None:
    out = run({"kind": "service", "names": [name], "state": state}, snap(services=UNITS))
    assert out.status is want, out


def test_service_unknown_parts_are_named() -> None:
    out = run({"kind": "service", "names": ["unknown-idle"], "state": "absent_or_disabled"},
              snap(services=UNITS))
    assert reason(out) == "cannot tell whether unknown-idle is enabled"
    out = run({"kind": "service", "names": ["off-unknown"], "state": "absent_or_disabled"},
              snap(services=UNITS))
    assert reason(out) == "cannot tell whether off-unknown is running (unknown)"
    both = services(unit("x", None, None, None, source="unknown"))
    out = run({"kind": "service", "names": ["x"], "state": "enabled_and_active"},
              snap(services=both))
    assert reason(out) == ("cannot tell whether x is running (unknown); "
                           "cannot tell whether x is enabled")


def test_service_every_unit_must_be_off_and_any_unit_suffices() -> None:
    s = snap(services=UNITS)
    off = {"kind": "service", "names": ["off-idle", "on-idle"], "state": "absent_or_disabled"}
    assert status(run(off, s)) is Status.FAIL
    assert status(run({**off, "names": ["off-idle", "no-such-unit"]}, s)) is Status.PASS
    # one unknown unit next to one that passes is still undecided for "all"
    assert status(run({**off, "names": ["off-idle", "unknown-idle"]}, s)) is Status.ERROR
    on = {"kind": "service", "names": ["unknown-idle", "on-running"], "state": "enabled"}
    assert status(run(on, s)) is Status.PASS
    assert status(run({**on, "names": ["unknown-idle", "off-idle"]}, s)) is Status.ERROR
    assert status(run({**on, "names": ["off-idle", "no-such-unit"]}, s)) is Status.FAIL
    assert found(run(off, s)) == "off-idle: disabled, inactive; on-idle: enabled, inactive"


# =================================================================================== sysctl

ASLR = {"kind": "sysctl", "key": "kernel.randomize_va_space", "expect": {"value": "2"}}


def test_sysctl_kernel_parameter_runtime_counts_on_an_ordinary_host() -> None:
    # kernel.* and fs.* are skipped at runtime only inside a container
    s = snap(sysctl=sysctl_fact({"kernel.randomize_va_space": "0"},
                                {"kernel.randomize_va_space": ["2"]}))
    out = run(ASLR, s)
    assert out.status is Status.FAIL
    assert found(out) == "runtime 0; configured 2"
    container = snap(os={**RHEL, "container": True},
                     sysctl=sysctl_fact({"net.ipv4.ip_forward": "1"},
                                        {"net.ipv4.ip_forward": ["0"]}))
    # net.* belongs to the container's own network namespace: its runtime value counts
    fwd = {"kind": "sysctl", "key": "net.ipv4.ip_forward", "expect": {"value": "0"}}
    assert status(run(fwd, container)) is Status.FAIL
    assert status(run({**fwd, "where": "runtime"}, container)) is Status.FAIL


def test_sysctl_configured_only_ignores_runtime() -> None:
    s = snap(sysctl=sysctl_fact({"kernel.randomize_va_space": "0"},
                                {"kernel.randomize_va_space": ["2"]}))
    out = run({**ASLR, "where": "configured"}, s)
    assert out.status is Status.PASS
    assert found(out) == "configured 2"


# ==================================================================================== ne

def test_ne_operator() -> None:
    s = snap(sshd={"installed": True, "config": {"permitrootlogin": ["no"],
                                                 "maxauthtries": ["4"]}})
    assert status(run(sshd_rule("permitrootlogin", "ne", "yes"), s)) is Status.PASS
    assert status(run(sshd_rule("permitrootlogin", "ne", "NO"), s)) is Status.FAIL
    # numbers compare as numbers: 4 is 4.0
    assert status(run(sshd_rule("maxauthtries", "ne", "4.0"), s)) is Status.FAIL
    assert status(run(sshd_rule("maxauthtries", "ne", 5), s)) is Status.PASS
    assert status(run(sshd_rule("permitrootlogin", "not_in", ["yes", "prohibit-password"]),
                      s)) is Status.PASS
    assert status(run(sshd_rule("permitrootlogin", "not_in", ["no"]), s)) is Status.FAIL


@pytest.mark.parametrize(("op", "want", "expected"), [
    ("lt", 4, Status.FAIL), ("lt", 5, Status.PASS), ("le", 4, Status.PASS),
    ("le", 3, Status.FAIL), ("gt", 4, Status.FAIL), ("gt", 3, Status.PASS),
    ("ge", 4, Status.PASS), ("ge", 5, Status.FAIL),
    ("matches", "^[0-4]$", Status.PASS), ("not_matches", "^[0-4]$", Status.FAIL),
])
def test_ordering_and_pattern_operators_at_their_boundaries(op: str, want: Any,
                                                            expected: Status) -> None:
    s = snap(sshd={"installed": True, "config": {"maxauthtries": ["4"]}})
    assert status(run(sshd_rule("maxauthtries", op, want), s)) is expected


# ================================================================================== package

@pytest.mark.parametrize(("installed", "op", "want", "expected"), [
    ("1:2.0-1", "eq", "1:2.0-1", Status.PASS),
    ("1:2.0-1", "eq", "1:2.0-01", Status.PASS),  # dpkg: leading zeros do not count
    ("1:2.0-1", "eq", "2.0-1", Status.FAIL),     # the epoch counts
    ("1:2.0-1", "ne", "1:2.0-1", Status.FAIL),
    ("1:2.0-1", "ne", "1:2.0-2", Status.PASS),
    ("2.0-1", "le", "2.0-1", Status.PASS),
    ("2.0-1", "le", "2.0~rc1-1", Status.FAIL),
    ("2.0-2", "le", "2.0-10", Status.PASS),
    ("2.0-1", "gt", "2.0-1", Status.FAIL),
    ("2.0-1", "gt", "2.0~rc1-1", Status.PASS),
    ("2.0-1", "lt", "2.0-1", Status.FAIL),
    ("2.0-1", "ge", "2.0-1", Status.PASS),
])
def test_package_version_operators(installed: str, op: str, want: str,
                                   expected: Status) -> None:
    s = snap(packages=pkgs("dpkg", ("openssh-server", installed)))
    spec = {"kind": "package", "names": ["openssh-server"], "state": "installed",
            "version": {"op": op, "value": want}}
    assert status(run(spec, s)) is expected


def test_package_version_every_installed_version_must_satisfy() -> None:
    # two architectures of one package at different versions: the older one decides
    s = snap(packages=pkgs("dpkg", ("libssl3", "3.0.15-1"), ("libssl3", "3.0.11-1")))
    spec = {"kind": "package", "names": ["libssl3"], "state": "installed",
            "version": {"op": "ge", "value": "3.0.13"}}
    out = run(spec, s)
    assert out.status is Status.FAIL
    assert found(out) == "libssl3 3.0.15-1, libssl3 3.0.11-1"


@pytest.mark.parametrize("op", ["in", "not_in", "matches", "not_matches", "subset",
                                "disjoint"])
def test_package_version_with_an_operator_without_order_is_refused(op: str) -> None:
    with pytest.raises(ValueError, match=f"compares with '{op}'.*valid: eq, ne, lt, le, gt, ge"):
        make_rule({"kind": "package", "names": ["openssh-server"], "state": "installed",
                   "version": {"op": op, "value": "1.0"}})
    # and the check itself never decides on one, whatever reaches it
    with pytest.raises(CheckUndecidable, match="cannot be compared"):
        _version_ok("dpkg", "1.0", Op(op), "1.0")


# ===================================================================================== pam

def pam(**services_: list[dict[str, Any]]) -> dict[str, Any]:
    return {"services": services_, "pwquality": {}, "faillock": {}}


HISTORY = pam_rule(["common-password"], "pam_pwhistory.so", type="password")
FAILLOCK = pam_rule(["common-auth"], "pam_faillock.so", type="auth")


def test_pam_required_argument_missing_altogether_fails() -> None:
    s = snap(pam=pam(**{"common-password": [pl("password", "requisite", "pam_pwhistory.so",
                                               "use_authtok")]}))
    out = run({**HISTORY, "args": ["remember>=5"]}, s)
    assert out.status is Status.FAIL
    assert found(out) == "common-password: password requisite pam_pwhistory.so use_authtok"
    assert status(run({**HISTORY, "args": ["remember=5"]}, s)) is Status.FAIL
    assert status(run({**HISTORY, "args": ["remember<=5"]}, s)) is Status.FAIL
    # an argument whose name only starts like the wanted one is not it
    s = snap(pam=pam(**{"common-password": [pl("password", "requisite", "pam_pwhistory.so",
                                               "remember_me=24")]}))
    assert status(run({**HISTORY, "args": ["remember>=5"]}, s)) is Status.FAIL


def test_pam_every_required_argument_counts_not_only_the_first() -> None:
    s = snap(pam=DEB_PAM)  # pam_pwhistory.so remember=24 use_authtok
    assert status(run({**HISTORY, "args": ["use_authtok", "remember>=25"]}, s)) is Status.FAIL
    assert status(run({**HISTORY, "args": ["remember>=24", "enforce_for_root"]}, s)) \
        is Status.FAIL
    assert status(run({**HISTORY, "args": ["remember>=24", "use_authtok"]}, s)) is Status.PASS


@pytest.mark.parametrize(("arg", "want"), [
    ("deny<=5", Status.PASS), ("deny<=3", Status.PASS), ("deny<=2", Status.FAIL),
    ("deny>=3", Status.PASS), ("deny>=4", Status.FAIL), ("deny=3", Status.PASS),
    ("deny=03", Status.FAIL),  # '=' compares the text the module reads
    ("unlock_time>=900", Status.FAIL),  # not numeric: never meets a number
])
def test_pam_argument_comparisons(arg: str, want: Status) -> None:
    s = snap(pam=pam(**{"common-auth": [pl("auth", "required", "pam_faillock.so", "preauth",
                                           "deny=3", "unlock_time=never")]}))
    assert status(run({**FAILLOCK, "args": [arg]}, s)) is want


def test_pam_a_repeated_argument_counts_with_its_last_value() -> None:
    # pam_pwhistory, pam_faillock and pam_pwquality read argv in order: the last one wins
    s = snap(pam=pam(**{"common-password": [pl("password", "requisite", "pam_pwhistory.so",
                                               "remember=24", "remember=0")]}))
    assert status(run({**HISTORY, "args": ["remember>=5"]}, s)) is Status.FAIL
    s = snap(pam=pam(**{"common-password": [pl("password", "requisite", "pam_pwhistory.so",
                                               "remember=0", "remember=24")]}))
    assert status(run({**HISTORY, "args": ["remember>=5"]}, s)) is Status.PASS


def test_pam_include_cycle_is_error_naming_the_cycle() -> None:
    s = snap(pam=pam(**{
        "common-auth": [pl("@include", "", "common-account")],
        "common-account": [pl("auth", "required", "pam_env.so"),
                           pl("@include", "", "common-auth")],
    }))
    out = run(FAILLOCK, s)
    assert out.status is Status.ERROR
    assert reason(out) == ("PAM include cycle: common-auth -> common-account -> common-auth "
                           "(libpam refuses this stack)")
    # a Red Hat style include of the service itself, and the module asked to be absent
    s = snap(os=RHEL, pam=pam(**{"system-auth": [pl("auth", "include", "system-auth")]}))
    out = run(pam_rule(["system-auth"], "pam_rootok.so", present=False), s)
    assert out.status is Status.ERROR
    assert "system-auth -> system-auth" in reason(out)


def test_pam_includes_deeper_than_libpam_allows_are_error() -> None:
    chain = {f"f{i}": [pl("@include", "", f"f{i + 1}")] for i in range(20)}
    chain["f20"] = [pl("auth", "required", "pam_faillock.so")]
    out = run(pam_rule(["f0"], "pam_faillock.so"), snap(pam=pam(**chain)))
    assert out.status is Status.ERROR
    assert reason(out).startswith("PAM includes nest deeper than 16 levels: f0 -> f1 -> ")
    # 15 includes deep is fine
    chain = {f"f{i}": [pl("@include", "", f"f{i + 1}")] for i in range(15)}
    chain["f15"] = [pl("auth", "required", "pam_faillock.so")]
    assert status(run(pam_rule(["f0"], "pam_faillock.so"), snap(pam=pam(**chain)))) \
        is Status.PASS


def test_pam_unreadable_included_file_is_error() -> None:
    data = pam(**{"sshd": [pl("@include", "", "common-auth")]})
    data["errors"] = {"common-auth": "permission denied"}
    out = run(pam_rule(["sshd"], "pam_faillock.so", present=False), snap(pam=data))
    assert out.status is Status.ERROR
    assert reason(out) == ("cannot read /etc/pam.d/common-auth (included by sshd): "
                           "permission denied")


def test_pam_every_service_must_have_it() -> None:
    s = snap(pam=pam(**{"common-auth": [pl("auth", "required", "pam_faillock.so")],
                        "sshd": [pl("auth", "required", "pam_unix.so")]}))
    out = run(pam_rule(["common-auth", "sshd"], "pam_faillock.so"), s)
    assert out.status is Status.FAIL
    assert found(out) == ("common-auth: auth required pam_faillock.so | sshd: no "
                          "pam_faillock.so")
    # a module named by its full path is the same module
    s = snap(pam=pam(sshd=[pl("auth", "required", "/lib/security/pam_faillock.so")]))
    assert status(run(pam_rule(["sshd"], "pam_faillock.so"), s)) is Status.PASS
    assert status(run(pam_rule(["sshd"], "pam_faillock.so", type="account"), s)) \
        is Status.FAIL


# =================================================================================== sockets

def test_not_listening_looks_past_a_loopback_socket() -> None:
    s = snap(sockets=[
        {"proto": "tcp", "address": "127.0.0.1", "port": 25, "process": "exim4"},
        {"proto": "tcp6", "address": "::ffff:127.0.0.1", "port": 25, "process": "exim4"},
        {"proto": "tcp6", "address": "::", "port": 25, "process": "exim4"},
    ])
    out = run({"kind": "not_listening", "ports": [25], "ignore_loopback": True}, s)
    assert out.status is Status.FAIL
    assert found(out) == "tcp6 :::25 (exim4)"
    # a socket of a protocol the rule does not ask about does not stop the search either
    s = snap(sockets=[
        {"proto": "udp", "address": "0.0.0.0", "port": 25, "process": None},
        {"proto": "tcp", "address": "10.0.0.1", "port": 25, "process": None},
    ])
    out = run({"kind": "not_listening", "ports": [25], "protos": ["tcp"]}, s)
    assert found(out) == "tcp 10.0.0.1:25 (unknown process)"
    # 127.x is loopback, 128.x and a ::1-prefixed address are not
    s = snap(sockets=[{"proto": "tcp", "address": "127.8.9.1", "port": 25, "process": "a"},
                      {"proto": "tcp", "address": "128.0.0.1", "port": 26, "process": "b"},
                      {"proto": "tcp6", "address": "::10", "port": 27, "process": "c"}])
    out = run({"kind": "not_listening", "ports": [25, 26, 27], "ignore_loopback": True}, s)
    assert found(out) == "tcp 128.0.0.1:26 (b); tcp6 ::10:27 (c)"


# ==================================================================================== limits

CORE0 = {"kind": "limit", "item": "core", "type": "hard", "expect": {"op": "eq", "value": 0}}


def test_limit_entries_for_named_users_are_not_the_wildcard() -> None:
    # only root is limited: everyone else gets the kernel's default
    out = run(CORE0, limits(lim("root", "hard", "core", "0"), lim("@adm", "-", "core", "0")))
    assert out.status is Status.FAIL
    assert found(out) == "no '* hard core' entry (the kernel's default applies)"
    # a named entry read last does not stand in for '*'
    out = run(CORE0, limits(lim("*", "hard", "core", "unlimited"),
                            lim("root", "hard", "core", "0", line=2)))
    assert out.status is Status.FAIL
    assert found(out) == "* hard core unlimited at /etc/security/limits.conf:1"
    # a weaker named entry and no '*' entry at all
    out = run(CORE0, limits(lim("bob", "hard", "core", "100")))
    assert out.status is Status.FAIL
    assert found(out) == ("no '* hard core' entry; bob hard core 100 at "
                          "/etc/security/limits.conf:1")
    # a soft limit is not the hard one
    out = run(CORE0, limits(lim("*", "soft", "core", "0")))
    assert out.status is Status.FAIL
    assert status(run(CORE0, limits(lim("*", "-", "core", "0")))) is Status.PASS


# =================================================================================== account

def ageing(field: str, value: int) -> dict[str, Any]:
    return {field: value}


@pytest.mark.parametrize(("condition", "field", "limit"), [
    ("password_max_days", "max_days", 365),
    ("password_min_days", "min_days", 1),
    ("password_warn_days", "warn_days", 7),
    ("inactive_days", "inactive_days", 30),
])
def test_account_days_of_minus_one_never_comply(condition: str, field: str,
                                                limit: int) -> None:
    # -1 in /etc/shadow turns the feature off (chage -M -1): no expiry, no warning ...
    s = snap(accounts=accounts(ROOT, acct("alice", 1000, **ageing(field, -1))))
    out = run(acc_rule(condition, limit), s)
    assert out.status is Status.FAIL
    assert found(out) == "violations: alice=-1"
    at_limit = snap(accounts=accounts(ROOT, acct("alice", 1000, **ageing(field, limit))))
    assert status(run(acc_rule(condition, limit), at_limit)) is Status.PASS
    zero = snap(accounts=accounts(ROOT, acct("alice", 1000, **ageing(field, 0))))
    want = Status.PASS if condition in ("password_max_days", "inactive_days") else Status.FAIL
    assert status(run(acc_rule(condition, limit), zero)) is want


def test_account_locked_and_empty_passwords_are_not_aged() -> None:
    s = snap(accounts=accounts(ROOT, acct("svc", 1001, password="locked", max_days=99999),
                               acct("alice", 1000, max_days=90)))
    out = run(acc_rule("password_max_days", 365), s)
    assert out.status is Status.PASS
    assert found(out) == "1 account(s) comply"


def test_account_missing_root_is_fail_not_a_crash() -> None:
    s = snap(accounts=accounts(acct("alice", 1000)))
    out = run(acc_rule("root_gid_0"), s)
    assert out.status is Status.FAIL
    assert found(out) == "no root account"
    assert status(run(acc_rule("only_root_uid0"), s)) is Status.PASS


# ====================================================== second round (from the mutation run)

def test_sshd_a_weakening_block_after_an_unevaluable_one_still_fails() -> None:
    config = {"permitrootlogin": ["no"]}
    s = snap(sshd={"installed": True, "config": config, "matches": [
        {"criteria": "Group nobody-here", "error": "no account in group nobody-here"},
        {"criteria": "Address 10.0.0.0/8", "connection": "addr=10.0.0.0",
         "config": {"permitrootlogin": ["yes"]}}]})
    out = run(sshd_rule("permitrootlogin", "eq", "no"), s)
    assert out.status is Status.FAIL
    assert "Match Address 10.0.0.0/8" in found(out)


def test_sysctl_a_key_the_probe_did_not_list_is_not_applicable() -> None:
    s = snap(sysctl=sysctl_fact({}, {}))  # neither read nor listed as missing
    out = run({"kind": "sysctl", "key": "net.ipv4.ip_forward", "expect": {"value": "0"}}, s)
    assert out.status is Status.NOT_APPLICABLE
    assert reason(out) == "this kernel has no parameter net.ipv4.ip_forward"


def test_file_permissions_every_mode_bit_counts_and_owner_only_rules_work() -> None:
    from tests.rules.test_checks import files, finfo

    spec = {"kind": "file_permissions", "path": "/etc/cron.d", "max_mode": "0640"}
    out = run(spec, snap(files=files(finfo("/etc/cron.d", 0o641))))  # others may execute
    assert out.status is Status.FAIL
    owner_only = {"kind": "file_permissions", "path": "/etc/cron.d", "owner": ["root"]}
    assert status(run(owner_only, snap(files=files(finfo("/etc/cron.d", None))))) \
        is Status.PASS
    assert status(run(owner_only, snap(files=files(finfo("/etc/cron.d", 0o777,
                                                         owner="bin"))))) is Status.FAIL


def test_kernel_module_in_a_container_needs_both_install_and_blacklist() -> None:
    from tests.rules.test_checks import kmods

    container = {**RHEL, "container": True}
    spec = {"kind": "kernel_module_disabled", "module": "cramfs"}
    only_install = kmods(install={"cramfs": "/bin/false"})
    assert status(run(spec, snap(os=container, kernel_modules=only_install))) is Status.FAIL
    only_blacklist = kmods(blacklisted=["cramfs"])
    assert status(run(spec, snap(os=container, kernel_modules=only_blacklist))) is Status.FAIL
    both = kmods(install={"cramfs": "/bin/false"}, blacklisted=["cramfs"], loaded=["cramfs"])
    assert status(run(spec, snap(os=container, kernel_modules=both))) is Status.PASS


def test_system_accounts_stop_below_uid_min() -> None:
    s = snap(accounts=accounts(ROOT, acct("first-user", 1000)))  # UID_MIN is 1000
    assert status(run(acc_rule("system_accounts_no_login"), s)) is Status.PASS
    s = snap(accounts=accounts(ROOT, acct("svc", 999)))
    assert status(run(acc_rule("system_accounts_no_login"), s)) is Status.FAIL


def test_pam_include_of_a_missing_file_is_not_an_error_and_includes_keep_their_type() -> None:
    s = snap(pam=pam(sshd=[pl("@include", "", "common-gone"),
                           pl("auth", "required", "pam_unix.so")]))
    out = run(pam_rule(["sshd"], "pam_faillock.so"), s)
    assert out.status is Status.FAIL  # libpam skips nothing here: the module is not used
    # "password include X" brings only X's password lines, also for a rule of any type
    s = snap(os=RHEL, pam=pam(**{"password-auth": [pl("auth", "required", "pam_faillock.so")],
                                 "sshd": [pl("password", "include", "password-auth")]}))
    assert status(run(pam_rule(["sshd"], "pam_faillock.so"), s)) is Status.FAIL


def test_pam_argument_values_may_contain_equals_signs() -> None:
    s = snap(pam=pam(**{"common-auth": [pl("auth", "required", "pam_faillock.so",
                                           "dir=/run/a=b")]}))
    assert status(run({**FAILLOCK, "args": ["dir=/run/a=b"]}, s)) is Status.PASS


def test_package_lists_exactly_as_old_as_allowed_are_fine() -> None:
    spec = {"kind": "no_security_updates", "max_list_age_days": 7}
    at_limit = snap(updates={"manager": "apt", "lists_age_seconds": 7 * 86400})
    assert status(run(spec, at_limit)) is Status.PASS
    over = snap(updates={"manager": "apt", "lists_age_seconds": 7 * 86400 + 1})
    out = run(spec, over)
    assert out.status is Status.ERROR
    assert reason(out).startswith("package lists are 7 days old (limit 7); ")
