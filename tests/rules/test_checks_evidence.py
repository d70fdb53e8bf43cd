"""Evidence and decisions of the check kinds that the third mutation run of ``rules/checks.py``
found unpinned (issue 10).

Evidence is what a person reads in the report to act on a finding (and what the store keeps),
so it is pinned exactly: what a rule expected, what it found, where it looked. A few of these
also flip a decision (a multi-line sshd list option, an install command that only ends in
/bin/true, an rsyslog mode with the other-execute bit, a not_applicable_if that is false).
"""

from __future__ import annotations

from typing import Any

import pytest

from inspectorctl.models.common import Status
from inspectorctl.models.finding import Evidence
from inspectorctl.models.rule import CHECK_KINDS
from inspectorctl.rules import checks
from inspectorctl.rules.checks import EvalContext, Outcome
from inspectorctl.rules.engine import evaluate_rule
from tests.rules.test_checks import (
    DEB_PAM,
    ROOT,
    acc_rule,
    accounts,
    acct,
    content,
    files,
    finfo,
    kmods,
    make_rule,
    mounts,
    pam_rule,
    pkgs,
    reason,
    run,
    snap,
    sshd_rule,
    sysctl_fact,
)


def ev(out: Outcome) -> tuple[Status, str, str, str | None]:
    assert out.evidence is not None, out
    e: Evidence = out.evidence
    return out.status, e.expected, e.found, e.source


# ------------------------------------------------------------------------------------ sshd

def test_sshd_evidence_names_the_operator_and_the_first_value() -> None:
    s = snap(sshd={"installed": True, "config": {"permitrootlogin": ["yes"],
                                                 "port": ["22", "2222"]}})
    assert ev(run(sshd_rule("permitrootlogin", "eq", "no"), s)) == (
        Status.FAIL, "permitrootlogin = no", "permitrootlogin yes", "sshd -T")
    # a repeated option: the first value sshd -T prints is the one compared and shown
    assert ev(run(sshd_rule("port", "eq", "2200"), s))[2] == "port 22"


def test_sshd_list_option_printed_on_several_lines_is_one_list() -> None:
    s = snap(sshd={"installed": True, "config": {
        "kexalgorithms": ["curve25519-sha256", "diffie-hellman-group1-sha1"]}})
    out = run(sshd_rule("kexalgorithms", "subset", ["curve25519-sha256"]), s)
    assert ev(out) == (Status.FAIL, "kexalgorithms only from curve25519-sha256",
                       "kexalgorithms curve25519-sha256,diffie-hellman-group1-sha1", "sshd -T")


# ---------------------------------------------------------------------------------- sysctl

def test_sysctl_evidence_names_both_sources() -> None:
    s = snap(sysctl=sysctl_fact({"net.ipv4.ip_forward": "0"},
                                {"net.ipv4.ip_forward": ["0"]}))
    out = run({"kind": "sysctl", "key": "net.ipv4.ip_forward", "expect": {"value": "0"}}, s)
    status, expected, found, source = ev(out)
    assert (status, expected, found) == (Status.PASS, "net.ipv4.ip_forward = 0",
                                         "runtime 0; configured 0")
    assert source is not None and source.startswith("/proc/sys, ")


# ------------------------------------------------------------------------------------ files

SHADOW = {"kind": "file_permissions", "path": "/etc/shadow", "max_mode": "0640",
          "owner": ["root"], "group": ["root", "shadow"]}


def test_file_permissions_evidence() -> None:
    out = run(SHADOW, snap(files=files(finfo("/etc/shadow", mode=0o644))))
    assert ev(out) == (Status.FAIL,
                       "/etc/shadow: mode 0640 or stricter, owner root, group root/shadow",
                       "/etc/shadow: mode 0644, owner root, group root", None)


def test_file_permissions_stat_errors_and_unknown_mode() -> None:
    gone = finfo("/etc/shadow", exists=False, error="permission denied")
    out = run(SHADOW, snap(files=files(gone)))
    assert (out.status, reason(out)) == (Status.ERROR,
                                         "cannot stat /etc/shadow: permission denied")
    # the mode is known although something else failed: decided, not an error
    partial = finfo("/etc/shadow", mode=0o600, error="cannot read ACL")
    assert run(SHADOW, snap(files=files(partial))).status is Status.PASS
    unseen = finfo("/etc/shadow", mode=None)
    out = run(SHADOW, snap(files=files(unseen)))
    assert (out.status, reason(out)) == (Status.ERROR, "the mode of /etc/shadow is not known")


def test_file_exists_and_content_evidence() -> None:
    s = snap(files=files(finfo("/etc/cron.deny")))
    assert ev(run({"kind": "file_exists", "path": "/etc/cron.deny", "present": False}, s)) == (
        Status.FAIL, "/etc/cron.deny does not exist", "/etc/cron.deny exists", None)
    s = snap(files=files(finfo("/etc/cron.deny", exists=False)))
    assert ev(run({"kind": "file_exists", "path": "/etc/cron.deny", "present": False}, s)) == (
        Status.PASS, "/etc/cron.deny does not exist", "/etc/cron.deny does not exist", None)
    conf = "/etc/ssh/sshd_config"
    s = snap(files=files(content(conf, "^X", ["X 1", "X 2"])))
    assert ev(run({"kind": "file_content", "path": conf, "pattern": "^X", "present": False},
                  s)) == (Status.FAIL, f"{conf}: a line matching /^X/ absent",
                          "2 matching line(s): 'X 1'", conf)


def test_a_file_that_exists_but_cannot_be_read_is_error() -> None:
    conf = "/etc/ssh/sshd_config"
    s = snap(files=files(content(conf, "^X", [], error="Input/output error")))
    out = run({"kind": "file_content", "path": conf, "pattern": "^X"}, s)
    assert (out.status, reason(out)) == (Status.ERROR, f"cannot read {conf}: Input/output error")
    # not seen to exist because the probe could not look: an error, never "missing"
    s = snap(files=files(finfo(conf, exists=False, error="permission denied")))
    out = run({"kind": "file_content", "path": conf, "pattern": "^X", "if_missing": "pass"}, s)
    assert (out.status, reason(out)) == (Status.ERROR, f"cannot read {conf}: permission denied")


# --------------------------------------------------------------------------------- packages

@pytest.mark.parametrize(("names", "match", "expected"), [
    (["chrony", "ntp"], "any", "one of chrony, ntp"),
    (["chrony"], "any", "installed: chrony"),
    (["chrony", "ntp"], "all", "installed: chrony, ntp"),
])
def test_package_expected_says_any_or_all(names: list[str], match: str, expected: str) -> None:
    s = snap(packages=pkgs("dpkg", ("chrony", "4.3-2")))
    out = run({"kind": "package", "names": names, "match": match, "state": "installed"}, s)
    assert ev(out)[1:3] == (expected, "chrony 4.3-2")


def test_package_version_evidence() -> None:
    s = snap(packages=pkgs("dpkg", ("openssl", "3.0.11-1")))
    out = run({"kind": "package", "names": ["openssl"], "state": "installed",
               "version": {"op": "ge", "value": "3.0.15"}}, s)
    assert ev(out) == (Status.FAIL, "installed: openssl with version >= 3.0.15",
                       "openssl 3.0.11-1", "dpkg")


# ---------------------------------------------------------------------------- kernel module

CRAMFS = {"kind": "kernel_module_disabled", "module": "cramfs"}


def test_kernel_module_evidence() -> None:
    out = run(CRAMFS, snap(kernel_modules=kmods(loaded=["cramfs"])))
    assert ev(out)[2] == "cramfs: loaded, install not set, not blacklisted"
    out = run(CRAMFS, snap(kernel_modules=kmods(install={"cramfs": "/bin/false"},
                                                blacklisted=["cramfs"])))
    assert ev(out) == (Status.PASS,
                       "cramfs: not loaded, 'install cramfs /bin/false' and blacklisted",
                       "cramfs: not loaded, install /bin/false, blacklisted", "modprobe.d")


def test_an_install_command_that_only_ends_in_bin_true_does_not_block_the_module() -> None:
    cmd = "/sbin/modprobe --ignore-install cramfs; /bin/true"
    out = run(CRAMFS, snap(kernel_modules=kmods(install={"cramfs": cmd},
                                                blacklisted=["cramfs"])))
    assert out.status is Status.FAIL


# ------------------------------------------------------------------------------------ mount

def test_mount_expected_names_the_options() -> None:
    s = snap(mounts=mounts(("tmpfs", "/tmp", "rw,nosuid")))
    out = run({"kind": "mount", "mountpoint": "/tmp", "options": ["nosuid", "nodev"]}, s)
    assert ev(out)[:3] == (Status.FAIL, "/tmp is a separate mount with nosuid, nodev",
                           "/tmp (tmpfs) options rw,nosuid; missing nodev")
    out = run({"kind": "mount", "mountpoint": "/tmp"}, s)
    assert ev(out)[:2] == (Status.PASS, "/tmp is a separate mount")


# ---------------------------------------------------------------------------------- account

def test_shadow_group_evidence() -> None:
    groups = [{"name": "shadow", "gid": 42, "members": []}]
    out = run(acc_rule("shadow_group_empty"), snap(accounts=accounts(ROOT, groups=groups)))
    assert ev(out) == (Status.PASS, "group shadow has no members", "no members", "/etc/group")
    out = run(acc_rule("shadow_group_empty"),
              snap(accounts=accounts(ROOT, acct("eve", 1000, gid=42), groups=groups)))
    assert ev(out)[:3] == (Status.FAIL, "group shadow has no members", "members: eve")


def test_ageing_conditions_name_their_limit_and_need_a_value() -> None:
    s = snap(accounts=accounts(ROOT, acct("alice", 1000, max_days=400, min_days=0)))
    assert ev(run(acc_rule("password_max_days", 365), s))[:3] == (
        Status.FAIL, "max_days <= 365 for every account with a password",
        "violations: alice=400")
    assert ev(run(acc_rule("password_min_days", 1), s))[:3] == (
        Status.FAIL, "min_days >= 1 for every account with a password", "violations: alice=0")
    out = run(acc_rule("password_max_days"), s)
    assert (out.status, reason(out)) == (Status.ERROR,
                                         "rule condition password_max_days needs a value")


# ---------------------------------------------------------------------------------- rsyslog

def test_rsyslog_mode_with_only_the_other_execute_bit_is_loose() -> None:
    s = snap(rsyslog={"files": ["/etc/rsyslog.conf"], "file_create_modes": [
        {"value": "0641", "set_by": "$FileCreateMode", "file": "/etc/rsyslog.conf",
         "line": 3}]})
    assert run({"kind": "rsyslog", "aspect": "file_create_mode", "max_mode": "0640"},
               s).status is Status.FAIL


# -------------------------------------------------------------------------------------- PAM

def test_pam_expected_names_type_arguments_and_presence() -> None:
    s = snap(pam=DEB_PAM)
    out = run(pam_rule(["common-password"], "pam_pwhistory.so", type="password",
                       args=["remember>=5"]), s)
    assert ev(out)[:2] == (Status.PASS,
                           "pam_pwhistory.so (password) with remember>=5 used in common-password")
    out = run(pam_rule(["common-auth"], "pam_nologin.so", present=False), s)
    assert ev(out)[:3] == (Status.PASS, "pam_nologin.so not used in common-auth",
                           "common-auth: no pam_nologin.so")


# ------------------------------------------------------------------------------------- walk

@pytest.mark.parametrize(("n", "tail"), [(10, ""), (11, " and 1 more"), (12, " and 2 more")])
def test_walk_shows_ten_paths_and_counts_the_rest(n: int, tail: str) -> None:
    paths = [f"/srv/f{i:02d}" for i in range(n)]
    s = snap(walks={"world_writable": {"paths": paths, "scanned": 500, "roots": ["/"]}})
    out = run({"kind": "walk_empty", "walk": "world_writable"}, s)
    assert ev(out)[2] == f"{n} found: " + ", ".join(paths[:10]) + tail


# ---------------------------------------------------------------------------------- updates

@pytest.mark.parametrize(("age", "days"), [(820_800, "10"), (820_791, "9")])
def test_stale_package_lists_say_their_age_in_days(age: int, days: str) -> None:
    # 820800 s is 9.5 days exactly (rounds to the even 10); 820791 s is just under 9.5
    s = snap(updates={"manager": "apt", "lists_age_seconds": age})
    out = run({"kind": "no_security_updates", "max_list_age_days": 7}, s)
    assert reason(out).startswith(f"package lists are {days} days old (limit 7); ")


@pytest.mark.parametrize(("n", "tail"), [(10, ""), (11, "; and 1 more: p10")])
def test_pending_security_updates_list_ten_then_name_the_rest(n: int, tail: str) -> None:
    names = [f"p{i:02d}" for i in range(n)]
    s = snap(updates={"manager": "apt", "pending": {}, "security": names,
                      "lists_age_seconds": 60})
    out = run({"kind": "no_security_updates"}, s)
    assert ev(out)[2] == f"{n} pending: " + ", ".join(names[:10]) + tail


# ------------------------------------------------------------------------------------- IMDS

def test_imds_evidence_and_unknown_provider_reasons() -> None:
    s = snap(cloud={"provider": "aws", "imds_http_tokens": "optional", "imds_hop_limit": 2,
                    "source": "imds"})
    out = run({"kind": "aws_imds", "http_tokens": "required", "max_hop_limit": 1}, s)
    assert ev(out) == (Status.FAIL, "http-tokens required, hop limit <= 1",
                       "http-tokens optional, hop limit 2", "imds")
    out = run({"kind": "aws_imds", "http_tokens": "required"},
              snap(cloud={"provider": "unknown"}))
    assert reason(out) == ("cannot tell whether the host is an EC2 instance: the cloud "
                           "provider could not be determined")
    out = run({"kind": "aws_imds", "http_tokens": "required"},
              snap(cloud={"provider": "unknown", "error": "DMI not readable"}))
    assert reason(out) == "cannot tell whether the host is an EC2 instance: DMI not readable"


# ------------------------------------------------------------------------------- expression

SSHD = {"installed": True, "config": {"permitrootlogin": ["no"]}}


def test_expression_found_says_true_or_false() -> None:
    spec: dict[str, Any] = {"kind": "expression",
                            "expr": "sshd.config['permitrootlogin'][0] == 'no'"}
    assert ev(run(spec, snap(sshd=SSHD), facts=["sshd"]))[:3] == (
        Status.PASS, "expression is true", "expression is true")
    no = snap(sshd={"installed": True, "config": {"permitrootlogin": ["yes"]}})
    assert ev(run(spec, no, facts=["sshd"]))[:3] == (
        Status.FAIL, "expression is true", "expression is false")


def test_expression_with_a_false_not_applicable_if_is_decided() -> None:
    spec = {"kind": "expression", "expr": "sshd.config['permitrootlogin'][0] == 'no'",
            "not_applicable_if": "not sshd.installed"}
    assert run(spec, snap(sshd=SSHD), facts=["sshd"]).status is Status.PASS


def test_expression_evidence_may_read_a_fact_the_expression_does_not() -> None:
    spec = {"kind": "expression", "expr": "packages['items'] | length > 0",
            "evidence": "'root login ' ~ sshd.config['permitrootlogin'][0]"}
    s = snap(sshd=SSHD, packages=pkgs("dpkg", ("openssh-server", "1:9.2p1-2")))
    assert ev(run(spec, s, facts=["packages", "sshd"]))[:3] == (
        Status.PASS, "expression is true", "root login no")


def test_expression_names_no_selected_rule_declared_are_not_dumped() -> None:
    # the engine dumps only the facts the selected rules declared: an expression reading
    # another fact sees an undefined name (ERROR), never a value nobody asked to collect
    rule = make_rule({"kind": "expression", "expr": "sshd.config['permitrootlogin'][0] == 'no'"},
                     facts=["sshd"])
    ctx = EvalContext(variables={}, cache={"expr_facts": frozenset({"packages"})})
    out = evaluate_rule(rule, snap(sshd=SSHD), ctx)
    assert out.status is Status.ERROR
    ctx = EvalContext(variables={}, cache={"expr_facts": frozenset({"sshd"})})
    assert evaluate_rule(rule, snap(sshd=SSHD), ctx).status is Status.PASS


# ------------------------------------------------------------------------------ registration

def test_every_kind_has_one_evaluator_checked_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    table = checks._evaluators()
    assert set(table) == set(CHECK_KINDS)
    assert all(table[k] is checks.KINDS[k].evaluate for k in table)
    kinds = dict(checks.KINDS)
    gone = sorted(kinds)[0]
    del kinds[gone]
    kinds["no_such_kind"] = checks.KINDS[sorted(checks.KINDS)[1]]
    monkeypatch.setattr(checks, "KINDS", kinds)
    with pytest.raises(TypeError) as e:
        checks._evaluators()
    assert str(e.value) == (
        f"check kinds without an evaluator: ['{gone}']; evaluators of kinds the rule model "
        "does not know (add the model to models.rule.Check): ['no_such_kind']")
    kinds["no_such_kind"] = kinds.pop("no_such_kind")
    del kinds["no_such_kind"]
    with pytest.raises(TypeError, match=r"without an evaluator: \['.*'\]; .*: none$"):
        checks._evaluators()


def test_check_kind_registers_once_and_returns_the_function(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from inspectorctl.models.rule import FileExistsCheck, kind_name

    name = kind_name(FileExistsCheck)
    monkeypatch.setattr(checks, "KINDS", {})

    def fn(c: Any, s: Any, ctx: Any) -> Outcome:
        raise AssertionError

    assert checks.check_kind(FileExistsCheck, facts=("files",))(fn) is fn
    assert checks.KINDS[name].evaluate is fn
    with pytest.raises(TypeError, match=rf"check kind '{name}' declared twice \(fn, fn\)"):
        checks.check_kind(FileExistsCheck, facts=("files",))(fn)
