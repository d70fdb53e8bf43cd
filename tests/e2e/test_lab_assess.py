"""Issue 3 end to end: the shipped rules, assessed through Ansible over SSH on lab hosts."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from inspectorctl.assess import AssessmentResult, AssessOptions, run_assessment
from inspectorctl.collect.interface import Targets
from inspectorctl.lab import Lab
from inspectorctl.models.common import Status
from inspectorctl.models.finding import RuleResult
from inspectorctl.rules.loader import DEFAULT_PACKS, load_packs
from inspectorctl.store.db import Store

pytestmark = pytest.mark.lab

PROFILE_HOSTS = {"weak": "weak-1", "hardened": "hardened-1", "baseline": "baseline-1"}


@pytest.fixture(scope="module")
def assessed(lab: Lab, lab_inventory: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> AssessmentResult:
    """One assessment of the weak, hardened and baseline hosts with every shipped rule."""
    db = tmp_path_factory.mktemp("e2e") / "findings.db"
    opts = AssessOptions(targets=Targets(inventory=lab_inventory,
                                         limit=",".join(PROFILE_HOSTS.values())))
    with Store(db) as store:
        return run_assessment(opts, store)


def by_host(result: AssessmentResult, host: str) -> dict[str, RuleResult]:
    return {r.rule_id: r for r in result.results if r.host == host}


def test_every_host_was_assessed_over_ssh(assessed: AssessmentResult) -> None:
    assert assessed.failures == []
    assert {s.host.name for s in assessed.snapshots} == set(PROFILE_HOSTS.values())
    for snap in assessed.snapshots:
        assert snap.host.transport == "ansible"
        assert snap.host.instance_id and re.fullmatch(r"mi-[0-9a-f]{17}", snap.host.instance_id)
        assert snap.host.hostname == snap.host.name
        # a lab host is a container on any machine: it says so itself (not via /.dockerenv)
        assert snap.os is not None
        assert (snap.os.container, snap.os.virtualization) == (True, "inspectorctl-lab")
    rules = sum(len(p.rules) for p in load_packs(DEFAULT_PACKS))
    assert len(assessed.results) == rules * len(PROFILE_HOSTS)


def test_weak_profile_seeds_fail_and_hardened_passes(lab: Lab,
                                                     assessed: AssessmentResult) -> None:
    shipped = {r.id for p in load_packs(DEFAULT_PACKS) for r in p.rules}
    weak = Lab.load_profiles(["weak"])[0].profile
    hardened = Lab.load_profiles(["hardened"])[0].profile
    seeded = [rid for rid, exp in weak.expected.items() if exp.status is Status.FAIL]
    assert len(seeded) >= 40, "the weak profile should seed most of what a lab can seed"
    unknown = sorted(set(weak.expected) - shipped)
    assert not unknown, f"weak profile expects rules that are not shipped: {unknown}"
    on_weak = by_host(assessed, "weak-1")
    on_hardened = by_host(assessed, "hardened-1")
    wrong_weak = {rid: (on_weak[rid].status, on_weak[rid].evidence or on_weak[rid].reason)
                  for rid in seeded if on_weak[rid].status is not Status.FAIL}
    assert not wrong_weak, f"seeded by the weak profile but not FAIL on weak-1: {wrong_weak}"
    wrong_hardened = {}
    for rid in seeded:
        res = on_hardened[rid]
        if res.status is Status.PASS:
            continue
        if res.status is Status.NOT_APPLICABLE and res.reason:
            continue
        wrong_hardened[rid] = (res.status, res.evidence or res.reason)
    assert not wrong_hardened, f"seeded rules not PASS/N/A on hardened-1: {wrong_hardened}"
    # what the hardened profile promises about itself holds too
    for rid, exp in hardened.expected.items():
        assert on_hardened[rid].status is exp.status, (rid, on_hardened[rid])


def test_hardened_host_never_fails_or_errors_silently(assessed: AssessmentResult) -> None:
    on_hardened = by_host(assessed, "hardened-1")
    promised = Lab.load_profiles(["hardened"])[0].profile.expected
    # a FAIL is allowed only where the profile says, with a reason, that a lab cannot pass it
    # (e.g. security updates the machine itself is missing, which the lab inherits)
    bad = {rid: (r.status, r.evidence or r.reason) for rid, r in on_hardened.items()
           if r.status is Status.FAIL and not (
               rid in promised and promised[rid].status is Status.FAIL
               and promised[rid].reason)}
    assert not bad, f"FAIL on the hardened host: {bad}"
    assert all(r.reason for r in on_hardened.values()
               if r.status in (Status.NOT_APPLICABLE, Status.ERROR))


def test_weak_host_fails_more_than_baseline(assessed: AssessmentResult) -> None:
    def fails(host: str) -> int:
        return sum(1 for r in by_host(assessed, host).values() if r.status is Status.FAIL)

    assert fails("weak-1") > fails("baseline-1") > fails("hardened-1")


def test_host_stopped_mid_assessment_is_error_only_for_it(
        lab: Lab, tmp_path: Path) -> None:
    (victim,) = lab.up(1, ["baseline"], "stopme")
    stopped = threading.Event()

    def on_progress(host: str, event: str) -> None:
        # stop the victim as soon as the assessment is under way on any host
        if event == "started" and not stopped.is_set():
            stopped.set()
            lab.stop(victim.name)

    limit = f"{victim.name},baseline-1"
    opts = AssessOptions(targets=Targets(inventory=lab.inventory_path, limit=limit),
                         include=("ssh-*", "sysctl-*", "shadow-*"))
    try:
        with Store(tmp_path / "f.db") as store:
            res = run_assessment(opts, store, on_progress)
    finally:
        lab.start(victim.name)
    assert stopped.is_set()
    assert [f.host for f in res.failures] == [victim.name]
    victim_results = by_host(res, victim.name)
    assert victim_results and all(r.status is Status.ERROR for r in victim_results.values())
    assert all("could not be assessed" in (r.reason or "") for r in victim_results.values())
    other = by_host(res, "baseline-1")
    assert len(other) == len(victim_results)
    assert not any(r.status is Status.ERROR and "could not be assessed" in (r.reason or "")
                   for r in other.values())


def test_sshd_match_blocks_are_read_as_sshd_applies_them(lab: Lab, tmp_path: Path) -> None:
    """A hardened host whose sshd_config.d adds Match blocks: one weakens X11 forwarding for
    some addresses, one allows empty passwords on a second port (FAIL, naming the block); one
    selects a group with no account (the rules cannot be decided: ERROR with the reason,
    never a PASS); one has only negated addresses, so sshd never applies it (named in the
    evidence, not evaluated). With a LocalPort block, sshd -T prints nothing without a port:
    the global configuration is read for a port no block selects."""
    extra = tmp_path / "match.yml"
    extra.write_text(
        "name: sshd-match\n"
        "description: Match blocks in a drop-in\n"
        "steps:\n"
        "  - kind: file\n"
        "    path: /etc/ssh/sshd_config.d/50-match.conf\n"
        "    mode: '0600'\n"
        "    content: |\n"
        "      Match Address 192.0.2.0/24,!192.0.2.7\n"
        "          X11Forwarding yes\n"
        "      Match User deploy Address 198.51.100.*\n"
        "          MaxAuthTries 3\n"
        "      Match LocalPort 2222\n"
        "          PermitEmptyPasswords yes\n"
        "      Match Address !203.0.113.0/24\n"
        "          MaxAuthTries 6\n")
    (host,) = lab.up(1, ["hardened", str(extra)], "sshmatch")
    rules = ("ssh-x11-forwarding", "ssh-max-auth-tries", "ssh-permit-empty-passwords")
    opts = AssessOptions(targets=Targets(inventory=lab.inventory_path, limit=host.name),
                         include=rules)
    res = run_assessment(opts, None)
    got = by_host(res, host.name)
    found = {rid: (r.status, r.evidence.found if r.evidence is not None else None)
             for rid, r in got.items() if rid in rules}
    assert found == {
        "ssh-x11-forwarding": (Status.FAIL, (
            "x11forwarding no, but Match Address 192.0.2.0/24,!192.0.2.7 "
            "(user=root,addr=192.0.2.0,lport=22): x11forwarding yes")),
        "ssh-max-auth-tries": (Status.PASS, (
            "maxauthtries 4, also under 3 Match block(s); Match Address !203.0.113.0/24 "
            "never applies (only negated patterns)")),
        "ssh-permit-empty-passwords": (Status.FAIL, (
            "permitemptypasswords no, but Match LocalPort 2222 (user=root,lport=2222): "
            "permitemptypasswords yes")),
    }
    (snap,) = res.snapshots
    assert snap.sshd is not None
    assert [(m.criteria, m.connection, m.error) for m in snap.sshd.matches] == [
        ("Address 192.0.2.0/24,!192.0.2.7", "user=root,addr=192.0.2.0,lport=22", None),
        ("User deploy Address 198.51.100.*", "user=deploy,addr=198.51.100.1,lport=22", None),
        ("LocalPort 2222", "user=root,lport=2222", None),
        ("Address !203.0.113.0/24", None, None)]
    assert snap.sshd.matches[3].inert == (
        "the address list '!203.0.113.0/24' has only negated patterns: sshd never selects a "
        "connection with it, so the block never applies")
    assert snap.sshd.matches[1].config["maxauthtries"] == ("3",)
    # a block the probe cannot build a connection for leaves the rules undecided
    lab.exec(host.name, ["sh", "-c", "printf 'Match Group nobody-is-in-this\\n"
                         "    PasswordAuthentication yes\\n' "
                         "> /etc/ssh/sshd_config.d/60-group.conf"])
    res = run_assessment(opts, None)
    tries = by_host(res, host.name)["ssh-max-auth-tries"]
    assert tries.status is Status.ERROR
    assert tries.reason == (
        "maxauthtries 4 globally, but a Match block could not be evaluated: Match Group "
        "nobody-is-in-this: cannot build a connection this block selects: no account is in "
        "group nobody-is-in-this")


def test_journald_drop_in_overrides_the_main_file(lab: Lab, tmp_path: Path) -> None:
    """The hardened profile sets Storage=persistent in journald.conf; a drop-in that sets it
    back to volatile wins, as it does for systemd, and the evidence names it."""
    extra = tmp_path / "dropin.yml"
    extra.write_text(
        "name: journald-dropin\n"
        "description: a drop-in undoing the main file\n"
        "steps:\n"
        "  - kind: file\n"
        "    path: /etc/systemd/journald.conf.d/90-volatile.conf\n"
        "    content: |\n"
        "      [Journal]\n"
        "      Storage=volatile\n")
    (host,) = lab.up(1, ["hardened", str(extra)], "dropin")
    opts = AssessOptions(targets=Targets(inventory=lab.inventory_path, limit=host.name),
                         include=("journald-storage-persistent", "journald-compress"))
    got = by_host(run_assessment(opts, None), host.name)
    storage, compress = got["journald-storage-persistent"], got["journald-compress"]
    assert storage.status is Status.FAIL and storage.evidence is not None
    assert (storage.evidence.found, storage.evidence.source) == (
        "Storage volatile", "/etc/systemd/journald.conf.d/90-volatile.conf:2")
    assert compress.status is Status.PASS and compress.evidence is not None
    assert compress.evidence.source is not None
    assert compress.evidence.source.startswith("/etc/systemd/journald.conf:")


def test_core_limit_is_read_as_pam_limits_applies_it(lab: Lab, tmp_path: Path) -> None:
    """The hardened profile sets '* hard core 0' (limits.conf and limits.d/50-core.conf): PASS.
    A later limits.d file that lifts it for one group is what pam_limits applies to them: FAIL
    naming the file and line, and once that is gone, a later '*' entry that lifts it for all."""
    (host,) = lab.up(1, ["hardened"], "limits")
    opts = AssessOptions(targets=Targets(inventory=lab.inventory_path, limit=host.name),
                         include=("core-dumps-hard-limit",))

    def core() -> tuple[Status, str | None]:
        res = by_host(run_assessment(opts, None), host.name)["core-dumps-hard-limit"]
        return res.status, res.evidence.found if res.evidence is not None else None

    assert core() == (Status.PASS, "* hard core 0 at /etc/security/limits.d/50-core.conf:1")
    lab.exec(host.name, ["sh", "-c", "printf '@adm hard core unlimited\\n' "
                         "> /etc/security/limits.d/90-debug.conf"])
    assert core() == (Status.FAIL, "* hard core 0 at /etc/security/limits.d/50-core.conf:1, "
                      "but @adm hard core unlimited at /etc/security/limits.d/90-debug.conf:1")
    lab.exec(host.name, ["sh", "-c", "printf '# debugging\\n*  -  core  -1\\n' "
                         "> /etc/security/limits.d/90-debug.conf"])
    assert core() == (Status.FAIL, "* - core -1 at /etc/security/limits.d/90-debug.conf:2")
