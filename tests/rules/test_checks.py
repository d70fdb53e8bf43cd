"""Every check kind on small hand-built snapshots: PASS, FAIL, NOT_APPLICABLE and ERROR.

A rule never says PASS for something it could not see: every kind is also run on a snapshot
where its fact is unknown (ERROR naming the fact and the probe's reason).
"""

from __future__ import annotations

from typing import Any

import pytest

from inspectorctl.models.common import Status
from inspectorctl.models.rule import CHECK_KINDS, Rule
from inspectorctl.models.snapshot import FACT_NAMES, HostSnapshot
from inspectorctl.rules.checks import EvalContext, Outcome
from inspectorctl.rules.engine import evaluate_rule
from inspectorctl.rules.facts import facts_for

DEBIAN = {"id": "debian", "version_id": "12", "family": "debian", "kernel": "6.1.0-28-amd64",
          "arch": "x86_64"}
RHEL = {"id": "rhel", "version_id": "9.4", "family": "rhel", "kernel": "5.14.0", "arch": "x86_64"}


def snap(os: dict[str, Any] | None = None, **facts: Any) -> HostSnapshot:
    data: dict[str, Any] = {"host": {"name": "h1"}, "collected_at": "2026-01-01T00:00:00+00:00",
                            "os": DEBIAN if os is None else os, **facts}
    return HostSnapshot.model_validate(data)


def make_rule(spec: dict[str, Any], platform: dict[str, Any] | None = None,
              facts: list[str] | None = None) -> Rule:
    return Rule.model_validate({
        "id": "t-rule", "title": "t", "description": "d", "rationale": "r", "severity": "low",
        "check": spec, "platform": platform or {}, "facts": facts or [],
    })


def run(spec: dict[str, Any], s: HostSnapshot, variables: dict[str, Any] | None = None,
        platform: dict[str, Any] | None = None, facts: list[str] | None = None) -> Outcome:
    rule = make_rule(spec, platform, facts)
    return evaluate_rule(rule, s, EvalContext(variables=dict(variables or {})))


def status(out: Outcome) -> Status:
    return out.status


def found(out: Outcome) -> str:
    assert out.evidence is not None, out
    return out.evidence.found


def reason(out: Outcome) -> str:
    assert out.reason is not None, out
    return out.reason


# ============================================================================== sshd_option

SSHD_CONFIG: dict[str, list[str]] = {
    "permitrootlogin": ["no"], "maxauthtries": ["4"], "loglevel": ["INFO"],
    "ciphers": ["chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-ctr"],
}
SSHD = {"installed": True, "config": SSHD_CONFIG}


def sshd_rule(option: str, op: str, value: Any) -> dict[str, Any]:
    return {"kind": "sshd_option", "option": option, "expect": {"op": op, "value": value}}


def test_sshd_pass_and_fail() -> None:
    s = snap(sshd=SSHD)
    assert status(run(sshd_rule("PermitRootLogin", "eq", "no"), s)) is Status.PASS
    out = run(sshd_rule("permitrootlogin", "eq", "yes"), s)
    assert out.status is Status.FAIL
    assert found(out) == "permitrootlogin no"
    assert out.evidence is not None and out.evidence.source == "sshd -T"


def test_sshd_string_comparison_ignores_case() -> None:
    s = snap(sshd=SSHD)
    assert status(run(sshd_rule("loglevel", "in", ["info", "verbose"]), s)) is Status.PASS


def test_sshd_numbers_and_tailoring_variables() -> None:
    s = snap(sshd=SSHD)
    spec = sshd_rule("maxauthtries", "le", {"var": "tries"})
    assert status(run(spec, s, {"tries": 4})) is Status.PASS
    assert status(run(spec, s, {"tries": 3})) is Status.FAIL


def test_sshd_disjoint_and_subset_over_comma_lists() -> None:
    s = snap(sshd=SSHD)
    weak = ["3des-cbc", "aes128-cbc"]
    assert status(run(sshd_rule("ciphers", "disjoint", weak), s)) is Status.PASS
    out = run(sshd_rule("ciphers", "disjoint", ["aes128-ctr"]), s)
    assert out.status is Status.FAIL
    assert "aes128-ctr" in found(out)
    allowed = ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr"]
    assert status(run(sshd_rule("ciphers", "subset", allowed), s)) is Status.PASS
    assert status(run(sshd_rule("ciphers", "subset", allowed[:2]), s)) is Status.FAIL


def _with_matches(*matches: dict[str, Any]) -> dict[str, Any]:
    return {**SSHD, "matches": list(matches)}


def test_sshd_match_block_that_weakens_an_option_fails_naming_it() -> None:
    s = snap(sshd=_with_matches(
        {"criteria": "User bob", "connection": "user=bob",
         "config": {**SSHD_CONFIG, "maxauthtries": ["3"]}},
        {"criteria": "Address 10.0.0.0/8", "connection": "user=root,addr=10.0.0.0",
         "config": {**SSHD_CONFIG, "permitrootlogin": ["yes"]}}))
    out = run(sshd_rule("permitrootlogin", "eq", "no"), s)
    assert out.status is Status.FAIL and out.evidence is not None
    assert out.evidence.found == ("permitrootlogin no, but Match Address 10.0.0.0/8 "
                                  "(user=root,addr=10.0.0.0): permitrootlogin yes")
    assert out.evidence.source == "sshd -T -C"
    # an option no block weakens passes, and says the blocks were read too
    out = run(sshd_rule("maxauthtries", "le", 4), s)
    assert out.status is Status.PASS and out.evidence is not None
    assert out.evidence.found == "maxauthtries 4, also under 2 Match block(s)"


def test_sshd_match_block_that_never_applies_is_named_not_evaluated() -> None:
    inert = {"criteria": "Address !10.0.0.0/8", "inert": "only negated patterns"}
    s = snap(sshd=_with_matches(inert))
    out = run(sshd_rule("permitrootlogin", "eq", "no"), s)
    assert out.status is Status.PASS and out.evidence is not None
    assert out.evidence.found == ("permitrootlogin no; Match Address !10.0.0.0/8 never "
                                  "applies (only negated patterns)")
    # beside a block sshd does apply, only that one is counted and judged
    s = snap(sshd=_with_matches(
        {"criteria": "User bob", "connection": "user=bob",
         "config": {**SSHD_CONFIG, "maxauthtries": ["3"]}}, inert))
    out = run(sshd_rule("maxauthtries", "le", 3), s)
    assert out.status is Status.FAIL  # the global 4 still fails
    out = run(sshd_rule("maxauthtries", "le", 4), s)
    assert out.status is Status.PASS and out.evidence is not None
    assert out.evidence.found == ("maxauthtries 4, also under 1 Match block(s); Match Address "
                                  "!10.0.0.0/8 never applies (only negated patterns)")


def test_sshd_match_block_that_cannot_be_evaluated_is_error_not_pass() -> None:
    s = snap(sshd=_with_matches({"criteria": "Group nobody", "error": "no account is in it"}))
    out = run(sshd_rule("permitrootlogin", "eq", "no"), s)
    assert out.status is Status.ERROR
    assert out.reason == ("permitrootlogin no globally, but a Match block could not be "
                          "evaluated: Match Group nobody: no account is in it")
    # a global FAIL stays a FAIL whatever the blocks say
    assert status(run(sshd_rule("permitrootlogin", "eq", "yes"), s)) is Status.FAIL


def test_sshd_not_installed_is_not_applicable() -> None:
    out = run(sshd_rule("permitrootlogin", "eq", "no"), snap(sshd={"installed": False}))
    assert out.status is Status.NOT_APPLICABLE
    assert "not installed" in reason(out)


def test_sshd_unknown_option_is_not_applicable() -> None:
    out = run(sshd_rule("gssapiauthentication", "eq", "no"), snap(sshd=SSHD))
    assert out.status is Status.NOT_APPLICABLE
    assert "gssapiauthentication" in reason(out)


def test_sshd_t_failure_is_error() -> None:
    s = snap(sshd={"installed": True, "error": "Missing privilege separation directory"})
    out = run(sshd_rule("permitrootlogin", "eq", "no"), s)
    assert out.status is Status.ERROR
    assert "Missing privilege separation directory" in reason(out)


# =================================================================================== sysctl

def sysctl_fact(runtime: dict[str, str], configured: dict[str, list[str]],
                **extra: Any) -> dict[str, Any]:
    return {
        "runtime": runtime,
        "configured": {k: [{"file": f"/etc/sysctl.d/{i}.conf", "line": 1, "value": v}
                           for i, v in enumerate(vals)] for k, vals in configured.items()},
        **extra,
    }


FWD = {"kind": "sysctl", "key": "net.ipv4.ip_forward", "expect": {"value": "0"}}


def test_sysctl_runtime_and_configured_must_both_match() -> None:
    ok = snap(sysctl=sysctl_fact({"net.ipv4.ip_forward": "0"}, {"net.ipv4.ip_forward": ["0"]}))
    out = run(FWD, ok)
    assert out.status is Status.PASS
    assert found(out) == "runtime 0; configured 0"
    runtime_bad = snap(sysctl=sysctl_fact({"net.ipv4.ip_forward": "1"},
                                          {"net.ipv4.ip_forward": ["0"]}))
    assert status(run(FWD, runtime_bad)) is Status.FAIL


def test_sysctl_last_configured_assignment_wins() -> None:
    s = snap(sysctl=sysctl_fact({"net.ipv4.ip_forward": "0"},
                                {"net.ipv4.ip_forward": ["0", "1"]}))
    out = run(FWD, s)
    assert out.status is Status.FAIL
    assert out.evidence is not None and out.evidence.source is not None
    assert "/etc/sysctl.d/1.conf:1" in out.evidence.source


def test_sysctl_not_configured_fails_where_both() -> None:
    s = snap(sysctl=sysctl_fact({"net.ipv4.ip_forward": "0"}, {}))
    out = run(FWD, s)
    assert out.status is Status.FAIL
    assert "not configured" in found(out)
    assert status(run({**FWD, "where": "runtime"}, s)) is Status.PASS


def test_sysctl_missing_key_is_not_applicable_and_unreadable_key_is_error() -> None:
    missing = snap(sysctl=sysctl_fact({}, {}, missing=["net.ipv4.ip_forward"]))
    assert status(run(FWD, missing)) is Status.NOT_APPLICABLE
    unreadable = snap(sysctl=sysctl_fact({}, {}, missing=["net.ipv4.ip_forward"],
                                         errors={"net.ipv4.ip_forward": "permission denied"}))
    out = run(FWD, unreadable)
    assert out.status is Status.ERROR
    assert "permission denied" in reason(out)


def test_sysctl_kernel_parameter_in_container_checks_configuration_only() -> None:
    spec = {"kind": "sysctl", "key": "kernel.randomize_va_space", "expect": {"value": "2"}}
    container = {**DEBIAN, "container": True}
    s = snap(os=container, sysctl=sysctl_fact({"kernel.randomize_va_space": "0"},
                                              {"kernel.randomize_va_space": ["2"]}))
    assert status(run(spec, s)) is Status.PASS  # runtime belongs to the container's host
    out = run({**spec, "where": "runtime"}, s)
    assert out.status is Status.NOT_APPLICABLE
    assert "container" in reason(out)


def test_sysctl_numeric_comparison_normalises_values() -> None:
    spec = {"kind": "sysctl", "key": "kernel.yama.ptrace_scope",
            "expect": {"op": "ge", "value": 1}}
    for value, want in (("1", Status.PASS), ("3", Status.PASS), ("0", Status.FAIL),
                        ("x", Status.FAIL)):
        s = snap(sysctl=sysctl_fact({"kernel.yama.ptrace_scope": value},
                                    {"kernel.yama.ptrace_scope": [value]}))
        assert status(run(spec, s)) is want, value


# ========================================================================= file_permissions

def finfo(path: str, mode: int | None = 0o644, owner: str | None = "root",
          group: str | None = "root", exists: bool = True, **extra: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"path": path, "exists": exists, **extra}
    if exists:
        info.update(type="file", mode=mode, owner=owner, group=group,
                    uid=0 if owner == "root" else 1000, gid=0 if group == "root" else 42)
    return info


SHADOW = {"kind": "file_permissions", "path": "/etc/shadow", "max_mode": "0640",
          "owner": ["root"], "group": ["root", "shadow"]}


def files(*infos: dict[str, Any]) -> dict[str, Any]:
    return {i["path"]: i for i in infos}


def test_file_permissions_pass_and_fail() -> None:
    s = snap(files=files(finfo("/etc/shadow", 0o640, group="shadow")))
    out = run(SHADOW, s)
    assert out.status is Status.PASS
    assert found(out) == "/etc/shadow: mode 0640, owner root, group shadow"
    for info in (finfo("/etc/shadow", 0o644, group="shadow"),  # world readable
                 finfo("/etc/shadow", 0o640, owner="bin", group="shadow"),
                 finfo("/etc/shadow", 0o640, group="adm"),
                 finfo("/etc/shadow", 0o4600, group="shadow")):  # setuid bit is extra
        assert status(run(SHADOW, snap(files=files(info)))) is Status.FAIL, info


def test_file_permissions_stricter_mode_passes() -> None:
    s = snap(files=files(finfo("/etc/shadow", 0o000)))
    assert status(run(SHADOW, s)) is Status.PASS


def test_file_permissions_missing_file_follows_if_missing() -> None:
    s = snap(files=files(finfo("/etc/shadow", exists=False)))
    assert status(run(SHADOW, s)) is Status.NOT_APPLICABLE
    assert status(run({**SHADOW, "if_missing": "fail"}, s)) is Status.FAIL
    assert status(run({**SHADOW, "if_missing": "pass"}, s)) is Status.PASS


def test_file_permissions_stat_failure_and_unseen_mode_are_errors() -> None:
    denied = {"path": "/etc/shadow", "exists": True, "error": "permission denied: not root"}
    out = run(SHADOW, snap(files=files(denied)))
    assert out.status is Status.ERROR
    assert "permission denied" in reason(out)
    no_mode = finfo("/etc/shadow", mode=None)
    assert status(run(SHADOW, snap(files=files(no_mode)))) is Status.ERROR
    no_owner = {**finfo("/etc/shadow", 0o600), "owner": None, "uid": None}
    assert status(run(SHADOW, snap(files=files(no_owner)))) is Status.ERROR


def test_file_permissions_falls_back_to_numeric_ids() -> None:
    info = {**finfo("/etc/shadow", 0o600), "owner": None, "uid": 0, "group": None, "gid": 0}
    out = run({**SHADOW, "group": ["0"], "owner": ["0"]}, snap(files=files(info)))
    assert out.status is Status.PASS


def test_file_not_probed_is_error() -> None:
    out = run(SHADOW, snap(files={}))
    assert out.status is Status.ERROR
    assert "not probed" in reason(out)


# ============================================================================== file_exists

def test_file_exists_both_ways() -> None:
    present = snap(files=files(finfo("/etc/cron.allow")))
    absent = snap(files=files(finfo("/etc/cron.allow", exists=False)))
    spec = {"kind": "file_exists", "path": "/etc/cron.allow"}
    assert status(run(spec, present)) is Status.PASS
    assert status(run(spec, absent)) is Status.FAIL
    spec_absent = {**spec, "present": False}
    assert status(run(spec_absent, present)) is Status.FAIL
    assert status(run(spec_absent, absent)) is Status.PASS


def test_file_exists_unknown_is_error_not_absent() -> None:
    info = {"path": "/root/.rhosts", "exists": False, "error": "permission denied"}
    out = run({"kind": "file_exists", "path": "/root/.rhosts", "present": False},
              snap(files=files(info)))
    assert out.status is Status.ERROR


# ============================================================================= file_content

PAT = r"^\s*Storage\s*=\s*persistent"
JOURNALD = {"kind": "file_content", "path": "/etc/systemd/journald.conf", "pattern": PAT}


def content(path: str, pattern: str, lines: list[str], **extra: Any) -> dict[str, Any]:
    return {**finfo(path), "matches": {pattern: lines}, **extra}


def test_file_content_present_and_absent() -> None:
    hit = snap(files=files(content("/etc/systemd/journald.conf", PAT, ["Storage=persistent"])))
    miss = snap(files=files(content("/etc/systemd/journald.conf", PAT, [])))
    out = run(JOURNALD, hit)
    assert out.status is Status.PASS
    assert "Storage=persistent" in found(out)
    assert status(run(JOURNALD, miss)) is Status.FAIL
    assert status(run({**JOURNALD, "present": False}, hit)) is Status.FAIL
    assert status(run({**JOURNALD, "present": False}, miss)) is Status.PASS


def test_file_content_missing_file() -> None:
    s = snap(files=files(finfo("/etc/systemd/journald.conf", exists=False)))
    assert status(run(JOURNALD, s)) is Status.FAIL  # default: a required line is missing
    assert status(run({**JOURNALD, "if_missing": "not_applicable"}, s)) is Status.NOT_APPLICABLE
    assert status(run({**JOURNALD, "present": False, "if_missing": "pass"}, s)) is Status.PASS


def test_file_content_unreadable_or_unprobed_pattern_is_error() -> None:
    unreadable = content("/etc/systemd/journald.conf", PAT, [], error="permission denied")
    out = run(JOURNALD, snap(files=files(unreadable)))
    assert out.status is Status.ERROR
    other = content("/etc/systemd/journald.conf", "^Compress", ["Compress=yes"])
    out = run(JOURNALD, snap(files=files(other)))
    assert out.status is Status.ERROR
    assert "not probed" in reason(out)


def test_file_content_invalid_regex_is_refused_by_the_model() -> None:
    with pytest.raises(ValueError, match="invalid regular expression"):
        make_rule({**JOURNALD, "pattern": "(unclosed"})


# ================================================================================== package

def pkgs(manager: str, *items: tuple[str, str]) -> dict[str, Any]:
    return {"manager": manager,
            "items": [{"name": n, "source": n, "version": v} for n, v in items]}


def test_package_installed_and_absent() -> None:
    s = snap(packages=pkgs("dpkg", ("auditd", "1:3.0.9-1"), ("telnetd", "0.17-44")))
    assert status(run({"kind": "package", "names": ["auditd"], "state": "installed"}, s)) \
        is Status.PASS
    out = run({"kind": "package", "names": ["telnetd"], "state": "absent"}, s)
    assert out.status is Status.FAIL
    assert found(out) == "telnetd 0.17-44"
    assert status(run({"kind": "package", "names": ["xinetd"], "state": "absent"}, s)) \
        is Status.PASS
    assert status(run({"kind": "package", "names": ["chrony"], "state": "installed"}, s)) \
        is Status.FAIL


def test_package_any_or_all() -> None:
    s = snap(packages=pkgs("dpkg", ("systemd-timesyncd", "252.38-1~deb12u1")))
    spec = {"kind": "package", "names": ["chrony", "systemd-timesyncd"], "state": "installed"}
    assert status(run(spec, s)) is Status.PASS
    assert status(run({**spec, "match": "all"}, s)) is Status.FAIL


@pytest.mark.parametrize(("manager", "installed", "op", "want", "expected"), [
    # dpkg order: the epoch wins over any upstream version; ~ sorts before everything
    ("dpkg", "1:9.2p1-2+deb12u6", "ge", "9.9p1-1", Status.PASS),
    ("dpkg", "9.2p1-2", "ge", "1:9.0", Status.FAIL),
    ("dpkg", "2.0~rc1-1", "lt", "2.0-1", Status.PASS),
    # PEP 440 would call 1.10 < 1.9 wrong the other way round for strings; dpkg compares digits
    ("dpkg", "1.10-1", "gt", "1.9-1", Status.PASS),
    # rpm: release compared only when both sides have one; 1.0^ sorts after 1.0
    ("rpm", "8.7p1-38.el9", "ge", "8.7p1", Status.PASS),
    ("rpm", "1.0^git1-1", "gt", "1.0-1", Status.PASS),
    ("rpm", "1.0~rc1-1", "lt", "1.0-1", Status.PASS),
])
def test_package_version_uses_the_managers_order(manager: str, installed: str, op: str,
                                                 want: str, expected: Status) -> None:
    s = snap(packages=pkgs(manager, ("openssh-server", installed)))
    spec = {"kind": "package", "names": ["openssh-server"], "state": "installed",
            "version": {"op": op, "value": want}}
    assert status(run(spec, s)) is expected


def test_package_invalid_version_is_error() -> None:
    s = snap(packages=pkgs("dpkg", ("openssh-server", "not-a-version")))
    spec = {"kind": "package", "names": ["openssh-server"], "state": "installed",
            "version": {"op": "ge", "value": "1.0"}}
    out = run(spec, s)
    assert out.status is Status.ERROR
    assert "invalid dpkg version" in reason(out)


# ================================================================================== service

def unit(name: str, state: str | None, enabled: bool | None, active: bool | None,
         source: str = "systemctl") -> dict[str, Any]:
    return {"name": name, "unit_file_state": state, "enabled": enabled, "active": active,
            "active_source": source}


def services(*units: dict[str, Any]) -> dict[str, Any]:
    return {"manager": "systemd", "items": {u["name"]: u for u in units}}


def test_service_enabled_and_active() -> None:
    s = snap(services=services(unit("auditd", "enabled", True, True),
                               unit("rsyslog", "enabled", True, False)))
    spec = {"kind": "service", "names": ["auditd"], "state": "enabled_and_active"}
    assert status(run(spec, s)) is Status.PASS
    out = run({**spec, "names": ["rsyslog"]}, s)
    assert out.status is Status.FAIL
    assert found(out) == "rsyslog: enabled, inactive"
    assert status(run({**spec, "names": ["auditd.service"]}, s)) is Status.PASS


def test_service_absent_or_disabled() -> None:
    s = snap(services=services(unit("avahi-daemon", "masked", False, False),
                               unit("cups", "enabled", True, True)))
    spec = {"kind": "service", "names": ["avahi-daemon"], "state": "absent_or_disabled"}
    assert status(run(spec, s)) is Status.PASS
    assert status(run({**spec, "names": ["snmpd"]}, s)) is Status.PASS  # no such unit
    assert status(run({**spec, "names": ["cups"]}, s)) is Status.FAIL
    # every named unit must be disabled
    assert status(run({**spec, "names": ["snmpd", "cups"]}, s)) is Status.FAIL


def test_service_unknown_state_is_error_unless_another_unit_decides() -> None:
    s = snap(services=services(unit("chrony", "enabled", True, None, source="unknown"),
                               unit("systemd-timesyncd", "enabled", True, True),
                               unit("cups", "enabled", True, True)))
    one = {"kind": "service", "names": ["chrony"], "state": "enabled_and_active"}
    out = run(one, s)
    assert out.status is Status.ERROR
    assert "chrony" in reason(out)
    # any of them suffices: timesyncd running decides PASS despite chrony's unknown state
    either = {**one, "names": ["chrony", "systemd-timesyncd"]}
    assert status(run(either, s)) is Status.PASS
    # all must be off: cups running decides FAIL; chrony unknown alone would be ERROR
    both_off = {"kind": "service", "names": ["chrony", "cups"], "state": "absent_or_disabled"}
    assert status(run(both_off, s)) is Status.FAIL
    assert status(run({**both_off, "names": ["chrony"]}, s)) is Status.ERROR


def test_service_missing_unit_fails_an_enabled_rule() -> None:
    s = snap(services=services())
    out = run({"kind": "service", "names": ["auditd"], "state": "enabled"}, s)
    assert out.status is Status.FAIL
    assert "no such unit" in found(out)


# ================================================================================ kernel module

def kmods(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"loaded": [], "blacklisted": [], "install": {}, "available": {}}
    return {**base, **fields}


CRAMFS = {"kind": "kernel_module_disabled", "module": "cramfs"}


def test_kernel_module_disabled_and_not_loaded_passes() -> None:
    s = snap(kernel_modules=kmods(blacklisted=["cramfs"], install={"cramfs": "/bin/false"},
                                  available={"cramfs": True}))
    assert status(run(CRAMFS, s)) is Status.PASS


@pytest.mark.parametrize("fields", [
    {"loaded": ["cramfs"], "blacklisted": ["cramfs"], "install": {"cramfs": "/bin/false"}},
    {"blacklisted": ["cramfs"]},  # loadable by its dependants: no install line
    {"install": {"cramfs": "/bin/true"}},  # not blacklisted
    {"install": {"cramfs": "/sbin/modprobe --ignore-install cramfs"},
     "blacklisted": ["cramfs"]},
])
def test_kernel_module_fails_when_loadable(fields: dict[str, Any]) -> None:
    s = snap(kernel_modules=kmods(available={"cramfs": True}, **fields))
    assert status(run(CRAMFS, s)) is Status.FAIL


def test_kernel_module_absent_from_kernel_passes() -> None:
    s = snap(kernel_modules=kmods(available={"cramfs": False}))
    out = run(CRAMFS, s)
    assert out.status is Status.PASS
    assert "no module" in found(out)


def test_kernel_module_names_with_dash_or_underscore_are_the_same() -> None:
    s = snap(kernel_modules=kmods(loaded=["usb_storage"], blacklisted=["usb_storage"],
                                  install={"usb_storage": "/bin/false"},
                                  available={"usb-storage": True}))
    out = run({"kind": "kernel_module_disabled", "module": "usb-storage"}, s)
    assert out.status is Status.FAIL
    assert "loaded" in found(out)
    s2 = snap(kernel_modules=kmods(blacklisted=["usb_storage"],
                                   install={"usb-storage": "/bin/false"},
                                   available={"usb-storage": True}))
    assert status(run({"kind": "kernel_module_disabled", "module": "usb-storage"}, s2)) \
        is Status.PASS


def test_kernel_module_in_container_checks_configuration_only() -> None:
    container = {**DEBIAN, "container": True}
    s = snap(os=container, kernel_modules=kmods(loaded=["cramfs"], blacklisted=["cramfs"],
                                                install={"cramfs": "/bin/false"}))
    out = run(CRAMFS, s)
    assert out.status is Status.PASS
    assert "container" in found(out)


# ==================================================================================== mount

def mounts(*entries: tuple[str, str, str]) -> dict[str, Any]:
    return {"mounts": [{"device": d, "mountpoint": m, "fstype": "tmpfs",
                        "options": o.split(",")} for d, m, o in entries]}


def test_mount_options() -> None:
    s = snap(mounts=mounts(("tmpfs", "/tmp", "rw,nosuid,nodev,noexec")))
    spec = {"kind": "mount", "mountpoint": "/tmp", "options": ["nodev", "noexec"]}
    assert status(run(spec, s)) is Status.PASS
    weak = snap(mounts=mounts(("tmpfs", "/tmp", "rw,nosuid")))
    out = run(spec, weak)
    assert out.status is Status.FAIL
    assert "missing nodev, noexec" in found(out)


def test_mount_not_separate() -> None:
    s = snap(mounts=mounts(("/dev/sda1", "/", "rw")))
    out = run({"kind": "mount", "mountpoint": "/tmp", "options": ["nodev"]}, s)
    assert out.status is Status.NOT_APPLICABLE
    separate = {"kind": "mount", "mountpoint": "/tmp", "if_not_mounted": "fail"}
    assert status(run(separate, s)) is Status.FAIL


def test_mount_last_mount_on_a_mountpoint_is_the_visible_one() -> None:
    s = snap(mounts=mounts(("tmpfs", "/tmp", "rw,nodev"), ("tmpfs", "/tmp", "rw")))
    assert status(run({"kind": "mount", "mountpoint": "/tmp", "options": ["nodev"]}, s)) \
        is Status.FAIL


# ================================================================================== account

def acct(name: str, uid: int, gid: int | None = None, shell: str = "/bin/bash",
         password: str = "set", **aging: Any) -> dict[str, Any]:
    login = not shell.endswith(("nologin", "false"))
    return {"name": name, "uid": uid, "gid": uid if gid is None else gid, "home": f"/h/{name}",
            "shell": shell, "login_shell": login, "password": password, **aging}


def accounts(*entries: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"accounts": list(entries), "shadow_readable": True, **fields}


ROOT = acct("root", 0, password="locked", max_days=99999)


def acc_rule(condition: str, value: Any = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"kind": "account", "condition": condition}
    if value is not None:
        spec["value"] = value
    return spec


def test_account_only_root_uid0_and_root_gid() -> None:
    good = snap(accounts=accounts(ROOT, acct("alice", 1000)))
    bad = snap(accounts=accounts(ROOT, acct("toor", 0, gid=1)))
    assert status(run(acc_rule("only_root_uid0"), good)) is Status.PASS
    out = run(acc_rule("only_root_uid0"), bad)
    assert out.status is Status.FAIL
    assert "toor" in found(out)
    assert status(run(acc_rule("root_gid_0"), good)) is Status.PASS
    wrong_gid = snap(accounts=accounts(acct("root", 0, gid=10)))
    assert status(run(acc_rule("root_gid_0"), wrong_gid)) is Status.FAIL


def test_account_empty_passwords_need_shadow() -> None:
    bad = snap(accounts=accounts(ROOT, acct("guest", 1001, password="empty")))
    out = run(acc_rule("no_empty_passwords"), bad)
    assert out.status is Status.FAIL
    assert "guest" in found(out)
    assert status(run(acc_rule("no_empty_passwords"),
                      snap(accounts=accounts(ROOT)))) is Status.PASS
    unreadable = snap(accounts={"accounts": [ROOT], "shadow_readable": False})
    out = run(acc_rule("no_empty_passwords"), unreadable)
    assert out.status is Status.ERROR
    assert "/etc/shadow is not readable" in reason(out)


def test_account_system_accounts_no_login() -> None:
    ok = snap(accounts=accounts(ROOT, acct("daemon", 1, shell="/usr/sbin/nologin"),
                                acct("backup", 34, password="locked")))
    bad = snap(accounts=accounts(ROOT, acct("www-data", 33, password="set")))
    assert status(run(acc_rule("system_accounts_no_login"), ok)) is Status.PASS
    out = run(acc_rule("system_accounts_no_login"), bad)
    assert out.status is Status.FAIL
    assert "www-data" in found(out)


@pytest.mark.parametrize(("condition", "field"), [
    ("no_duplicate_uids", {"duplicate_uids": [1000]}),
    ("no_duplicate_gids", {"duplicate_gids": [100]}),
    ("no_duplicate_names", {"duplicate_names": ["bob"]}),
    ("passwd_groups_exist", {"missing_groups": [4242]}),
    ("shadow_consistent", {"shadow_only": ["ghost"]}),
])
def test_account_database_consistency(condition: str, field: dict[str, Any]) -> None:
    assert status(run(acc_rule(condition), snap(accounts=accounts(ROOT)))) is Status.PASS
    out = run(acc_rule(condition), snap(accounts=accounts(ROOT, **field)))
    assert out.status is Status.FAIL
    assert str(next(iter(field.values()))[0]) in found(out)


def test_account_shadow_group() -> None:
    shadow = {"name": "shadow", "gid": 42, "members": []}
    ok = snap(accounts=accounts(ROOT, groups=[shadow]))
    member = snap(accounts=accounts(ROOT, groups=[{**shadow, "members": ["eve"]}]))
    primary = snap(accounts=accounts(ROOT, acct("mallory", 1002, gid=42), groups=[shadow]))
    assert status(run(acc_rule("shadow_group_empty"), ok)) is Status.PASS
    assert status(run(acc_rule("shadow_group_empty"), member)) is Status.FAIL
    assert status(run(acc_rule("shadow_group_empty"), primary)) is Status.FAIL
    none = snap(accounts=accounts(ROOT))
    assert status(run(acc_rule("shadow_group_empty"), none)) is Status.NOT_APPLICABLE


def test_account_password_ageing_with_variables() -> None:
    s = snap(accounts=accounts(ROOT, acct("alice", 1000, max_days=365, min_days=1,
                                          warn_days=7, inactive_days=30),
                               acct("bob", 1001, max_days=99999, min_days=0, warn_days=7)))
    out = run(acc_rule("password_max_days", {"var": "max"}), s, {"max": 365})
    assert out.status is Status.FAIL
    assert found(out) == "violations: bob=99999"
    assert status(run(acc_rule("password_max_days", 100000), s)) is Status.PASS
    assert status(run(acc_rule("password_min_days", 1), s)) is Status.FAIL
    assert status(run(acc_rule("password_warn_days", 7), s)) is Status.PASS
    # bob has no INACTIVE: never disabled after expiry
    out = run(acc_rule("inactive_days", 45), s)
    assert out.status is Status.FAIL
    assert "bob=unset" in found(out)


def test_account_ageing_without_passwords_passes_with_that_evidence() -> None:
    out = run(acc_rule("password_max_days", 365), snap(accounts=accounts(ROOT)))
    assert out.status is Status.PASS
    assert found(out) == "no account has a password set"


def test_account_ageing_needs_a_limit() -> None:
    out = run(acc_rule("password_max_days"), snap(accounts=accounts(ROOT)))
    assert out.status is Status.ERROR
    # a tailoring value given on the command line arrives as text
    spec = acc_rule("password_max_days", {"var": "max"})
    s = snap(accounts=accounts(ROOT, acct("bob", 1001, max_days=400)))
    assert status(run(spec, s, {"max": "365"})) is Status.FAIL
    out = run(spec, s, {"max": "a year"})
    assert out.status is Status.ERROR
    assert "needs a number" in reason(out)


# ================================================================================== setting

def test_setting_login_defs() -> None:
    s = snap(login_defs={"PASS_MAX_DAYS": "99999", "UMASK": "027"})
    spec = {"kind": "setting", "source": "login_defs", "key": "PASS_MAX_DAYS",
            "expect": {"op": "le", "value": {"var": "max"}}}
    out = run(spec, s, {"max": 365})
    assert out.status is Status.FAIL
    assert found(out) == "PASS_MAX_DAYS 99999"
    assert status(run(spec, s, {"max": 99999})) is Status.PASS
    umask = {"kind": "setting", "source": "login_defs", "key": "UMASK",
             "expect": {"op": "matches", "value": "^0*[0-7]?[2367]7$"}}
    for value, want in (("027", Status.PASS), ("0077", Status.PASS), ("077", Status.PASS),
                        ("022", Status.FAIL), ("0057", Status.FAIL), ("007", Status.FAIL)):
        assert status(run(umask, snap(login_defs={"UMASK": value}))) is want, value


def test_setting_with_an_invalid_tailored_pattern_is_error() -> None:
    umask = {"kind": "setting", "source": "login_defs", "key": "UMASK",
             "expect": {"op": "matches", "value": {"var": "pattern"}}}
    out = run(umask, snap(login_defs={"UMASK": "027"}), {"pattern": "[0-7"})
    assert out.status is Status.ERROR
    assert "invalid regular expression '[0-7'" in reason(out)


def test_setting_unset_uses_default_or_if_unset() -> None:
    s = snap(login_defs={})
    spec = {"kind": "setting", "source": "login_defs", "key": "PASS_WARN_AGE",
            "expect": {"op": "ge", "value": 7}}
    assert status(run(spec, s)) is Status.FAIL
    out = run({**spec, "default": 7}, s)
    assert out.status is Status.PASS
    assert "default 7" in found(out)
    assert status(run({**spec, "if_unset": "not_applicable"}, s)) is Status.NOT_APPLICABLE
    assert status(run({**spec, "if_unset": "pass"}, s)) is Status.PASS


def test_setting_pwquality_and_faillock() -> None:
    s = snap(pam={"services": {}, "pwquality": {"minlen": "14"}, "faillock": {"deny": "10"}})
    minlen = {"kind": "setting", "source": "pwquality", "key": "minlen",
              "expect": {"op": "ge", "value": 14}}
    deny = {"kind": "setting", "source": "faillock", "key": "deny",
            "expect": {"op": "le", "value": 5}}
    assert status(run(minlen, s)) is Status.PASS
    out = run(deny, s)
    assert out.status is Status.FAIL
    assert out.evidence is not None and out.evidence.source == "/etc/security/faillock.conf"


def test_setting_systemd_conf_names_the_assignment_that_wins() -> None:
    files = ["/etc/systemd/journald.conf", "/etc/systemd/journald.conf.d/90-ram.conf"]
    s = snap(systemd_conf={"journald": {"files": files, "values": {
        "Storage": {"value": "volatile", "file": files[1], "line": 2}}}})
    storage = {"kind": "setting", "source": "journald", "key": "Storage",
               "expect": {"op": "eq", "value": "persistent"}}
    out = run(storage, s)
    assert out.status is Status.FAIL and out.evidence is not None
    assert (out.evidence.found, out.evidence.source) == (
        "Storage volatile", "/etc/systemd/journald.conf.d/90-ram.conf:2")
    # unset: FAIL saying where it looked (or the compiled-in default when the rule gives one)
    compress = {"kind": "setting", "source": "journald", "key": "Compress",
                "expect": {"op": "eq", "value": "yes"}}
    out = run(compress, s)
    assert out.status is Status.FAIL and out.evidence is not None
    assert (out.evidence.found, out.evidence.source) == ("Compress is not set", ", ".join(files))
    assert status(run({**compress, "default": "yes"}, s)) is Status.PASS


def test_setting_systemd_conf_unreadable_file_is_error_and_missing_source_unknown() -> None:
    s = snap(systemd_conf={"journald": {"files": ["/etc/systemd/journald.conf"],
                                        "errors": {"/etc/systemd/journald.conf": "EACCES"}}})
    spec = {"kind": "setting", "source": "journald", "key": "Storage",
            "expect": {"op": "eq", "value": "persistent"}}
    out = run(spec, s)
    assert out.status is Status.ERROR
    assert reason(out) == "cannot read /etc/systemd/journald.conf: EACCES"
    out = run({**spec, "source": "coredump"}, s)
    assert out.status is Status.ERROR and "coredump.conf was not probed" in reason(out)


# ==================================================================================== limit

CORE0 = {"kind": "limit", "item": "core", "type": "hard", "expect": {"op": "eq", "value": 0}}
LIMITS_CONF = "/etc/security/limits.conf"


def lim(domain: str, type_: str, item: str, value: str, file: str = LIMITS_CONF,
        line: int = 1) -> dict[str, Any]:
    return {"domain": domain, "type": type_, "item": item, "value": value, "file": file,
            "line": line}


def limits(*entries: dict[str, Any], errors: dict[str, str] | None = None) -> HostSnapshot:
    files = list(dict.fromkeys(e["file"] for e in entries)) or [LIMITS_CONF]
    return snap(limits={"files": files, "entries": list(entries), "errors": errors or {}})


def test_limit_the_last_wildcard_entry_wins_and_is_named() -> None:
    dropin = "/etc/security/limits.d/90-dev.conf"
    out = run(CORE0, limits(lim("*", "hard", "core", "0", line=61),
                            lim("*", "soft", "core", "unlimited", dropin, 1)))
    assert out.status is Status.PASS and out.evidence is not None
    assert out.evidence.found == "* hard core 0 at /etc/security/limits.conf:61"
    assert out.evidence.source == f"{LIMITS_CONF}, {dropin}"
    # a drop-in read later lifts it for everyone: that is what pam_limits applies
    out = run(CORE0, limits(lim("*", "hard", "core", "0", line=61),
                            lim("*", "-", "core", "unlimited", dropin, 3)))
    assert out.status is Status.FAIL and out.evidence is not None
    assert out.evidence.found == f"* - core unlimited at {dropin}:3"


def test_limit_entries_naming_someone_override_the_wildcard() -> None:
    dropin = "/etc/security/limits.d/50-core.conf"
    out = run(CORE0, limits(lim("@dev", "hard", "core", "1024", line=4),
                            lim("1000:", "-", "", "", line=5),
                            lim("*", "hard", "core", "0", dropin, 1)))
    assert out.status is Status.FAIL and out.evidence is not None
    assert out.evidence.found == (
        f"* hard core 0 at {dropin}:1, but @dev hard core 1024 at {LIMITS_CONF}:4; "
        f"1000: gets no limits at {LIMITS_CONF}:5")
    # entries that are as strict, or for other items or the soft limit, change nothing
    out = run(CORE0, limits(lim("root", "hard", "core", "0"), lim("@dev", "soft", "core", "9"),
                            lim("@dev", "hard", "nofile", "9"), lim("*", "hard", "core", "0")))
    assert out.status is Status.PASS


def test_limit_unset_unreadable_and_no_limit_values() -> None:
    out = run(CORE0, limits())
    assert out.status is Status.FAIL and out.evidence is not None
    assert out.evidence.found == "no '* hard core' entry (the kernel's default applies)"
    assert status(run({**CORE0, "if_unset": "pass"}, limits())) is Status.PASS
    out = run(CORE0, limits(errors={"/etc/security/limits.d/x.conf": "permission denied"}))
    assert out.status is Status.ERROR
    assert reason(out) == "cannot read /etc/security/limits.d/x.conf: permission denied"
    # unlimited, infinity and -1 are above any number
    nofile = {"kind": "limit", "item": "nofile", "expect": {"op": "ge", "value": 1024}}
    for value, want in (("unlimited", Status.PASS), ("-1", Status.PASS), ("512", Status.FAIL)):
        assert status(run(nofile, limits(lim("*", "hard", "nofile", value)))) is want
    small = {**nofile, "expect": {"op": "le", "value": 4096}}
    assert status(run(small, limits(lim("*", "hard", "nofile", "infinity")))) is Status.FAIL


# ================================================================================== rsyslog

RS_MODE = {"kind": "rsyslog", "aspect": "file_create_mode", "max_mode": "0640"}
RS_INPUT = {"kind": "rsyslog", "aspect": "no_remote_input"}
RS_CONF, RS_D = "/etc/rsyslog.conf", "/etc/rsyslog.d/50-extra.conf"


def rsyslog(**fact: Any) -> HostSnapshot:
    return snap(rsyslog={"files": [RS_CONF, RS_D], **fact})


def mode(value: str, set_by: str = "$FileCreateMode", file: str = RS_CONF,
         line: int = 12) -> dict[str, Any]:
    return {"value": value, "set_by": set_by, "file": file, "line": line}


def test_rsyslog_every_file_mode_setting_counts_drop_ins_included() -> None:
    out = run(RS_MODE, rsyslog(file_create_modes=[mode("0640")]))
    assert out.status is Status.PASS and out.evidence is not None
    assert out.evidence.found == "$FileCreateMode 0640 at /etc/rsyslog.conf:12"
    assert out.evidence.source == f"{RS_CONF}, {RS_D}"
    # a drop-in that loosens it, and an action with its own mode, are named
    out = run(RS_MODE, rsyslog(file_create_modes=[
        mode("0640"), mode("0644", file=RS_D, line=3),
        mode("0666", "action(omfile)", RS_D, 7), mode("0600", "action(omfile)", RS_D, 8)]))
    assert out.status is Status.FAIL and out.evidence is not None
    assert out.evidence.found == (
        f"$FileCreateMode 0644 at {RS_D}:3; action(omfile) 0666 at {RS_D}:7")


def test_rsyslog_unset_mode_and_actions_on_the_omfile_default() -> None:
    out = run(RS_MODE, rsyslog())
    assert out.status is Status.FAIL and out.evidence is not None
    assert out.evidence.found == "$FileCreateMode is not set (rsyslog's default 0644)"
    # action() statements ignore $FileCreateMode: they need the module's default
    actions = [{"file": RS_D, "line": 2}]
    out = run(RS_MODE, rsyslog(file_create_modes=[mode("0640")], default_mode_actions=actions))
    assert out.status is Status.FAIL and out.evidence is not None
    assert out.evidence.found == (
        f"action(omfile) at {RS_D}:2 takes omfile's default 0644 ($FileCreateMode applies to "
        "legacy actions only)")
    module = mode("0600", "module(builtin:omfile)", RS_CONF, 1)
    out = run(RS_MODE, rsyslog(file_create_modes=[module], default_mode_actions=actions))
    assert out.status is Status.PASS
    assert status(run(RS_MODE, rsyslog(file_create_modes=[mode("0x1")]))) is Status.FAIL


def test_rsyslog_remote_input_unreadable_and_absent() -> None:
    inputs = [{"module": "imtcp", "how": "module()", "file": RS_D, "line": 1},
              {"module": "imtcp", "how": "input()", "file": RS_D, "line": 2}]
    out = run(RS_INPUT, rsyslog(remote_inputs=inputs))
    assert out.status is Status.FAIL and out.evidence is not None
    assert out.evidence.found == f"module() imtcp at {RS_D}:1; input() imtcp at {RS_D}:2"
    assert status(run(RS_INPUT, rsyslog())) is Status.PASS
    out = run(RS_INPUT, rsyslog(errors={RS_D: "permission denied"}))
    assert out.status is Status.ERROR
    assert reason(out) == f"cannot read {RS_D}: permission denied"
    out = run(RS_MODE, snap(rsyslog={}))
    assert out.status is Status.NOT_APPLICABLE
    assert reason(out) == "/etc/rsyslog.conf does not exist"


# =============================================================================== pam_module

def pl(type_: str, control: str, module: str, *args: str) -> dict[str, Any]:
    return {"type": type_, "control": control, "module": module, "args": list(args)}


DEB_PAM = {"services": {
    "common-auth": [pl("auth", "required", "pam_faillock.so", "preauth"),
                    pl("auth", "[success=1 default=ignore]", "pam_unix.so", "nullok")],
    "common-password": [pl("password", "requisite", "pam_pwhistory.so", "remember=24",
                           "use_authtok"),
                        pl("password", "[success=1 default=ignore]", "pam_unix.so")],
    "sshd": [pl("@include", "", "common-auth")],
}, "pwquality": {}, "faillock": {}}
RH_PAM = {"services": {
    "system-auth": [pl("auth", "required", "pam_env.so"),
                    pl("auth", "required", "pam_faillock.so", "preauth"),
                    pl("password", "requisite", "pam_pwquality.so")],
    "password-auth": [pl("auth", "required", "pam_faillock.so", "preauth")],
    "sshd": [pl("auth", "substack", "password-auth"),
             pl("password", "include", "password-auth")],
}, "pwquality": {}, "faillock": {}}


def pam_rule(services: list[str], module: str, **kw: Any) -> dict[str, Any]:
    return {"kind": "pam_module", "services": services, "module": module, **kw}


def test_pam_module_present_directly_and_through_debian_include() -> None:
    s = snap(pam=DEB_PAM)
    assert status(run(pam_rule(["common-auth"], "pam_faillock.so", type="auth"), s)) \
        is Status.PASS
    assert status(run(pam_rule(["sshd"], "pam_faillock.so", type="auth"), s)) is Status.PASS
    out = run(pam_rule(["common-password"], "pam_pwquality.so", type="password"), s)
    assert out.status is Status.FAIL
    assert "no pam_pwquality.so" in found(out)


def test_pam_module_through_red_hat_include_keeps_the_type() -> None:
    s = snap(os=RHEL, pam=RH_PAM)
    # "auth substack password-auth" brings password-auth's auth lines
    assert status(run(pam_rule(["sshd"], "pam_faillock.so", type="auth"), s)) is Status.PASS
    # "password include password-auth" brings only password lines: none has pam_faillock
    assert status(run(pam_rule(["sshd"], "pam_faillock.so", type="password"), s)) \
        is Status.FAIL


def test_pam_module_arguments() -> None:
    s = snap(pam=DEB_PAM)
    base = pam_rule(["common-password"], "pam_pwhistory.so", type="password")
    assert status(run({**base, "args": ["remember>=24", "use_authtok"]}, s)) is Status.PASS
    assert status(run({**base, "args": ["remember>=25"]}, s)) is Status.FAIL
    assert status(run({**base, "args": ["remember=24"]}, s)) is Status.PASS
    assert status(run({**base, "args": ["enforce_for_root"]}, s)) is Status.FAIL


def test_pam_module_must_be_absent() -> None:
    s = snap(pam=DEB_PAM)
    spec = pam_rule(["common-auth"], "pam_rootok.so", present=False)
    assert status(run(spec, s)) is Status.PASS
    assert status(run({**spec, "module": "pam_unix.so"}, s)) is Status.FAIL


def test_pam_service_missing_or_unreadable() -> None:
    s = snap(pam=DEB_PAM)
    out = run(pam_rule(["system-auth"], "pam_faillock.so"), s)
    assert out.status is Status.NOT_APPLICABLE
    unreadable = {**DEB_PAM, "errors": {"system-auth": "permission denied"}}
    out = run(pam_rule(["system-auth"], "pam_faillock.so"), snap(pam=unreadable))
    assert out.status is Status.ERROR


# ============================================================================ not_listening

SOCKETS = [
    {"proto": "tcp", "address": "0.0.0.0", "port": 22, "process": "sshd"},
    {"proto": "tcp6", "address": "::1", "port": 25, "process": "exim4"},
    {"proto": "udp", "address": "0.0.0.0", "port": 111, "process": "rpcbind"},
]


def test_not_listening() -> None:
    s = snap(sockets=SOCKETS)
    assert status(run({"kind": "not_listening", "ports": [23]}, s)) is Status.PASS
    out = run({"kind": "not_listening", "ports": [111]}, s)
    assert out.status is Status.FAIL
    assert "udp 0.0.0.0:111 (rpcbind)" in found(out)
    assert status(run({"kind": "not_listening", "ports": [111], "protos": ["tcp"]}, s)) \
        is Status.PASS
    assert status(run({"kind": "not_listening", "processes": ["sshd"]}, s)) is Status.FAIL


def test_not_listening_can_ignore_loopback() -> None:
    s = snap(sockets=SOCKETS)
    assert status(run({"kind": "not_listening", "ports": [25]}, s)) is Status.FAIL
    assert status(run({"kind": "not_listening", "ports": [25], "ignore_loopback": True}, s)) \
        is Status.PASS


def test_not_listening_needs_ports_or_processes() -> None:
    with pytest.raises(ValueError, match="needs ports or processes"):
        make_rule({"kind": "not_listening"})


# ============================================================================== walk_empty

def test_walk_empty() -> None:
    s = snap(walks={"world_writable": {"paths": ["/srv/app/cache.db", "/var/www/x"],
                                       "scanned": 5000}})
    spec = {"kind": "walk_empty", "walk": "world_writable"}
    out = run(spec, s)
    assert out.status is Status.FAIL
    assert found(out).startswith("2 found: /srv/app/cache.db")
    assert status(run({**spec, "allow": ["/srv/app/*", "/var/www/*"]}, s)) is Status.PASS
    clean = snap(walks={"world_writable": {"paths": [], "scanned": 5000}})
    out = run(spec, clean)
    assert out.status is Status.PASS
    assert found(out) == "none among 5000 entries"


def test_walk_stopped_early_is_error_never_pass() -> None:
    s = snap(walks={"unowned": {"paths": [], "scanned": 100, "truncated": True,
                                "reason": "time limit 20s"}})
    out = run({"kind": "walk_empty", "walk": "unowned"}, s)
    assert out.status is Status.ERROR
    assert "time limit 20s" in reason(out)


def test_walk_stopped_early_after_finding_something_is_fail() -> None:
    s = snap(walks={"unowned": {"paths": ["/srv/orphan.dat", "/tmp/x"], "scanned": 100,
                                "truncated": True, "reason": "time limit 20s"}})
    spec = {"kind": "walk_empty", "walk": "unowned"}
    out = run(spec, s)
    assert out.status is Status.FAIL
    assert found(out).startswith("at least 2 found (the unowned walk stopped early")
    # allowed paths do not count: with nothing else found the walk still cannot pass
    assert status(run({**spec, "allow": ["/srv/*", "/tmp/*"]}, s)) is Status.ERROR


def test_walk_not_run_is_error() -> None:
    out = run({"kind": "walk_empty", "walk": "suid"}, snap(walks={}))
    assert out.status is Status.ERROR


# ===================================================================== no_security_updates

def test_security_updates() -> None:
    spec = {"kind": "no_security_updates", "max_list_age_days": 7}
    clean = snap(updates={"manager": "apt", "pending": {"vim": "2:9.0-1"}, "security": [],
                          "lists_age_seconds": 3600})
    out = run(spec, clean)
    assert out.status is Status.PASS
    assert "1 other updates pending" in found(out)
    pending = snap(updates={"manager": "apt", "pending": {"openssl": "3.0.15-1~deb12u1"},
                            "security": ["openssl"], "lists_age_seconds": 3600})
    out = run(spec, pending)
    assert out.status is Status.FAIL
    assert "openssl 3.0.15-1~deb12u1" in found(out)
    # only security sources were simulated: nothing is said about other updates
    scoped = snap(updates={"manager": "apt", "scope": "security", "lists_age_seconds": 3600})
    out = run(spec, scoped)
    assert out.status is Status.PASS
    assert found(out) == "none (only security sources were checked)"


def test_security_updates_stale_lists_or_failure_are_errors() -> None:
    spec = {"kind": "no_security_updates", "max_list_age_days": 7}
    stale = snap(updates={"manager": "apt", "lists_age_seconds": 30 * 86400})
    out = run(spec, stale)
    assert out.status is Status.ERROR
    assert "30 days old" in reason(out)
    assert status(run({**spec, "max_list_age_days": None}, stale)) is Status.PASS
    failed = snap(updates={"manager": "dnf", "error": "dnf exited 1: no repositories"})
    assert status(run(spec, failed)) is Status.ERROR


# ================================================================================== aws_imds

def cloud(provider: str, **fields: Any) -> dict[str, Any]:
    return {"provider": provider, **fields}


def test_imds_off_aws_is_not_applicable_and_unknown_provider_is_error() -> None:
    spec = {"kind": "aws_imds", "http_tokens": "required"}
    out = run(spec, snap(cloud=cloud("none", dmi_vendor="QEMU")))
    assert out.status is Status.NOT_APPLICABLE
    assert "QEMU" in reason(out)
    out = run(spec, snap(cloud=cloud("unknown")))
    assert out.status is Status.ERROR
    out = run(spec, snap(os={**DEBIAN, "container": True}, cloud=cloud("unknown")))
    assert out.status is Status.NOT_APPLICABLE


def test_imds_tokens_and_hop_limit() -> None:
    spec = {"kind": "aws_imds", "http_tokens": "required"}
    v2 = snap(cloud=cloud("aws", imds_http_tokens="required", imds_hop_limit=1,
                          source="imds"))
    v1 = snap(cloud=cloud("aws", imds_http_tokens="optional", source="imds"))
    assert status(run(spec, v2)) is Status.PASS
    assert status(run(spec, v1)) is Status.FAIL
    hop = {"kind": "aws_imds", "http_tokens": None, "max_hop_limit": 1}
    assert status(run(hop, v2)) is Status.PASS
    two = snap(cloud=cloud("aws", imds_http_tokens="required", imds_hop_limit=2))
    assert status(run(hop, two)) is Status.FAIL


def test_imds_settings_not_visible_are_errors() -> None:
    unseen = snap(cloud=cloud("aws"))
    out = run({"kind": "aws_imds", "http_tokens": "required"}, unseen)
    assert out.status is Status.ERROR
    assert "http-tokens" in reason(out)
    out = run({"kind": "aws_imds", "http_tokens": None, "max_hop_limit": 1}, unseen)
    assert out.status is Status.ERROR
    assert "hop limit" in reason(out)
    err = snap(cloud=cloud("aws", error="instance metadata service: timed out"))
    out = run({"kind": "aws_imds"}, err)
    assert out.status is Status.ERROR
    assert "timed out" in reason(out)


# ================================================================================ expression

def test_expression_pass_fail_and_evidence() -> None:
    s = snap(sshd=SSHD)
    spec = {"kind": "expression", "expr": "sshd.config['maxauthtries'][0] | int <= vars.n",
            "evidence": "'MaxAuthTries ' ~ sshd.config['maxauthtries'][0]",
            "expected": "MaxAuthTries <= n"}
    out = run(spec, s, {"n": 4}, facts=["sshd"])
    assert out.status is Status.PASS
    assert found(out) == "MaxAuthTries 4"
    assert out.evidence is not None and out.evidence.expected == "MaxAuthTries <= n"
    assert status(run(spec, s, {"n": 3}, facts=["sshd"])) is Status.FAIL


def test_expression_not_applicable_if() -> None:
    spec = {"kind": "expression", "expr": "sshd.config['permitrootlogin'][0] == 'no'",
            "not_applicable_if": "not sshd.installed"}
    out = run(spec, snap(sshd={"installed": False}), facts=["sshd"])
    assert out.status is Status.NOT_APPLICABLE


def test_expression_fail_helper_reports_error_with_its_reason() -> None:
    spec = {"kind": "expression",
            "expr": "(sshd.error is none or fail('sshd -T failed: ' ~ sshd.error)) and true"}
    out = run(spec, snap(sshd={"installed": True, "error": "exit 255"}), facts=["sshd"])
    assert out.status is Status.ERROR
    assert reason(out) == "sshd -T failed: exit 255"
    assert status(run(spec, snap(sshd=SSHD), facts=["sshd"])) is Status.PASS


def test_expression_over_packages_uses_the_items_key() -> None:
    s = snap(packages=pkgs("rpm", ("amazon-ssm-agent", "3.3.0-1.amzn2023")))
    spec = {"kind": "expression",
            "expr": "packages['items'] | selectattr('name', 'equalto', 'amazon-ssm-agent')"
                    " | list | length > 0"}
    assert status(run(spec, s, facts=["packages"])) is Status.PASS


# ================================================================================= platform

SIMPLE = {"kind": "file_exists", "path": "/etc/cron.allow"}
CRON_ALLOW = files(finfo("/etc/cron.allow"))


def test_platform_family_and_os_id() -> None:
    s = snap(files=CRON_ALLOW)
    out = run(SIMPLE, s, platform={"families": ["rhel"]})
    assert out.status is Status.NOT_APPLICABLE
    assert reason(out) == "applies to rhel family; host is debian 12"
    assert status(run(SIMPLE, s, platform={"families": ["debian"]})) is Status.PASS
    out = run(SIMPLE, s, platform={"os_ids": ["ubuntu"]})
    assert out.status is Status.NOT_APPLICABLE


def test_platform_packages_any() -> None:
    s = snap(files=CRON_ALLOW, packages=pkgs("dpkg", ("cron", "3.0pl1-162")))
    assert status(run(SIMPLE, s, platform={"packages_any": ["cron", "cronie"]})) is Status.PASS
    out = run(SIMPLE, s, platform={"packages_any": ["at"]})
    assert out.status is Status.NOT_APPLICABLE
    assert reason(out) == "none of at is installed"
    unknown = snap(files=CRON_ALLOW, unknown={"packages": "dpkg status unreadable"})
    out = run(SIMPLE, unknown, platform={"packages_any": ["at"]})
    assert out.status is Status.ERROR
    assert "dpkg status unreadable" in reason(out)


def test_platform_not_in_container() -> None:
    s = snap(os={**DEBIAN, "container": True}, files=CRON_ALLOW)
    out = run(SIMPLE, s, platform={"not_in_container": True})
    assert out.status is Status.NOT_APPLICABLE


def test_platform_systemd_running() -> None:
    rule = {"systemd_running": True}
    s = snap(os={**DEBIAN, "systemd_running": True}, files=CRON_ALLOW)
    assert status(run(SIMPLE, s, platform=rule)) is Status.PASS
    out = run(SIMPLE, snap(os={**DEBIAN, "systemd_running": False}, files=CRON_ALLOW),
              platform=rule)
    assert out.status is Status.NOT_APPLICABLE
    assert reason(out) == ("systemd is not the running init (PID 1) on this host: the units "
                           "only systemd starts cannot run here")


def test_platform_cloud() -> None:
    aws = snap(files=CRON_ALLOW, cloud=cloud("aws"))
    assert status(run(SIMPLE, aws, platform={"cloud": ["aws"]})) is Status.PASS
    out = run(SIMPLE, snap(files=CRON_ALLOW, cloud=cloud("none", dmi_vendor="Dell Inc.")),
              platform={"cloud": ["aws"]})
    assert out.status is Status.NOT_APPLICABLE
    assert "Dell Inc." in reason(out)
    out = run(SIMPLE, snap(files=CRON_ALLOW, cloud=cloud("unknown")),
              platform={"cloud": ["aws"]})
    assert out.status is Status.ERROR  # cannot tell: never silently not applicable
    # a container's instance-level cloud settings belong to the machine that runs it
    out = run(SIMPLE, snap(os={**DEBIAN, "container": True}, files=CRON_ALLOW,
                           cloud=cloud("unknown")), platform={"cloud": ["aws"]})
    assert out.status is Status.NOT_APPLICABLE
    assert "container" in reason(out)
    out = run(SIMPLE, snap(files=CRON_ALLOW, unknown={"cloud": "dmi unreadable"}),
              platform={"cloud": ["aws"]})
    assert out.status is Status.ERROR
    assert "dmi unreadable" in reason(out)
    assert "cloud" in facts_for(make_rule(SIMPLE, platform={"cloud": ["aws"]}))


def test_platform_needs_the_os() -> None:
    s = HostSnapshot.model_validate({"host": {"name": "h"}, "collected_at": "2026-01-01T00:00:00Z",
                                     "files": CRON_ALLOW, "unknown": {"os": "os-release missing"}})
    out = run(SIMPLE, s, platform={"families": ["debian"]})
    assert out.status is Status.ERROR
    assert "os-release missing" in reason(out)


# ======================================================================= unknown facts: ERROR

#: one check per kind, for the "fact could not be collected" path
ONE_PER_KIND: dict[str, tuple[dict[str, Any], list[str]]] = {
    "sshd_option": (sshd_rule("permitrootlogin", "eq", "no"), []),
    "sysctl": (FWD, []),
    "file_permissions": (SHADOW, []),
    "file_exists": (SIMPLE, []),
    "file_content": (JOURNALD, []),
    "package": ({"kind": "package", "names": ["auditd"], "state": "installed"}, []),
    "service": ({"kind": "service", "names": ["auditd"], "state": "enabled"}, []),
    "kernel_module_disabled": (CRAMFS, []),
    "mount": ({"kind": "mount", "mountpoint": "/tmp", "options": ["nodev"]}, []),
    "account": (acc_rule("only_root_uid0"), []),
    "setting": ({"kind": "setting", "source": "pwquality", "key": "minlen",
                 "expect": {"op": "ge", "value": 14}}, []),
    "pam_module": (pam_rule(["common-auth"], "pam_faillock.so"), []),
    "limit": (CORE0, []),
    "rsyslog": (RS_INPUT, []),
    "not_listening": ({"kind": "not_listening", "ports": [23]}, []),
    "walk_empty": ({"kind": "walk_empty", "walk": "world_writable"}, []),
    "no_security_updates": ({"kind": "no_security_updates"}, []),
    "aws_imds": ({"kind": "aws_imds"}, []),
    "expression": ({"kind": "expression", "expr": "sockets | length == 0"}, ["sockets"]),
}


def test_every_check_kind_is_covered() -> None:
    assert set(ONE_PER_KIND) == set(CHECK_KINDS)


@pytest.mark.parametrize("kind", sorted(ONE_PER_KIND))
def test_unknown_fact_is_error_with_the_probes_reason(kind: str) -> None:
    spec, declared = ONE_PER_KIND[kind]
    rule = make_rule(spec, facts=declared)
    needed = [f for f in facts_for(rule) if f != "os"]
    assert needed, kind
    s = snap(unknown={f: "permission denied (probe ran as uid 1000)" for f in needed})
    out = evaluate_rule(rule, s, EvalContext(variables={}))
    assert out.status is Status.ERROR, (kind, out)
    assert "permission denied (probe ran as uid 1000)" in reason(out)


@pytest.mark.parametrize("kind", sorted(ONE_PER_KIND))
def test_fact_not_collected_at_all_is_error(kind: str) -> None:
    spec, declared = ONE_PER_KIND[kind]
    out = run(spec, snap(), facts=declared)
    assert out.status is Status.ERROR, (kind, out)
    assert "not collected" in reason(out) or "not probed" in reason(out)


def test_expression_never_passes_on_a_missing_fact() -> None:
    # "sockets is none" would be true on a snapshot without sockets: the engine refuses first
    out = run({"kind": "expression", "expr": "sockets is none"}, snap(), facts=["sockets"])
    assert out.status is Status.ERROR
    assert reason(out) == "fact 'sockets' is unknown: not collected"


def test_each_check_kind_is_declared_once_with_its_model_facts_and_evaluator() -> None:
    from inspectorctl.models.rule import CHECK_MODELS, kind_name
    from inspectorctl.rules.checks import CHECKS, KINDS, check_kind
    from inspectorctl.rules.facts import facts_for

    assert list(KINDS) != [] and set(KINDS) == set(CHECK_KINDS)
    assert list(CHECKS) == list(CHECK_KINDS)  # in the order error messages list them
    for model in CHECK_MODELS:
        kind = KINDS[kind_name(model)]
        assert kind.model is model and CHECKS[kind.name] is kind.evaluate
        assert set(kind.facts) <= FACT_NAMES
    # a second declaration of a kind is refused
    with pytest.raises(TypeError, match="check kind 'sysctl' declared twice"):
        check_kind(KINDS["sysctl"].model, facts=("sysctl",))(KINDS["sysctl"].evaluate)
    # the facts a rule reads come from its kind's declaration
    assert facts_for(make_rule(ONE_PER_KIND["setting"][0])) == ("os", "pam")
    assert facts_for(make_rule(acc_rule("only_root_uid0"),
                               platform={"cloud": ["aws"]})) == (
        "os", "accounts", "login_defs", "cloud")
