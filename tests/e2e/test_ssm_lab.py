"""Issue 13 end to end: assessment through SSM Run Command on lab hosts, against the lab's
SSM-compatible endpoint (boto3 unchanged, real wire protocol, an agent that runs our documents
as root inside the hosts), compared with the same hosts assessed through Ansible over SSH."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from inspectorctl.assess import AssessmentResult, AssessOptions, run_assessment
from inspectorctl.aws.deploy import DeployAction, deploy, pinned
from inspectorctl.aws.documents import DocumentName, load_document, shipped_documents
from inspectorctl.aws.session import AwsConfig, SessionFactory
from inspectorctl.aws.targets import S3Location, SsmTargets
from inspectorctl.collect.interface import CollectionFailure, Targets
from inspectorctl.collect.ssm import SsmCollector
from inspectorctl.lab import Lab
from inspectorctl.lab.ssm import EndpointInfo
from inspectorctl.models.common import Status
from inspectorctl.models.plan import JournalState, SsmPin
from inspectorctl.models.snapshot import FileRequest, HostSnapshot, ProbeRequest
from inspectorctl.remediate.approval import ApprovalRefused, approve_by
from inspectorctl.remediate.interface import ExecRequest, HostStatus
from inspectorctl.remediate.plans import PlanOptions, make_plan
from inspectorctl.remediate.rollout import RolloutOptions, apply_plan
from inspectorctl.remediate.ssm import SsmExecutor
from inspectorctl.remediate.verify import targets_for, verify_apply
from inspectorctl.store.db import Store, now

pytestmark = pytest.mark.lab

HOSTS = ("weak-1", "hardened-1")
BUCKET = "inspectorctl-e2e"
WALK_SECONDS = 120.0


@pytest.fixture(scope="module")
def factory(ssm_endpoint: EndpointInfo) -> SessionFactory:
    """The session factory pointed at the lab (its own credentials, nothing from the env)."""
    session = boto3.Session(aws_access_key_id="lab", aws_secret_access_key="lab",
                            region_name=ssm_endpoint.region)
    config = AwsConfig(region=ssm_endpoint.region, endpoint_url=ssm_endpoint.url,
                       s3_endpoint_url=ssm_endpoint.s3_url)
    f = SessionFactory(config, session)
    for doc in shipped_documents():
        first = deploy(f.client("ssm"), doc)
        assert first.action in (DeployAction.CREATED, DeployAction.UNCHANGED)
        again = deploy(f.client("ssm"), doc)  # idempotent by content
        assert (again.action, again.version) == (DeployAction.UNCHANGED, first.version)
    s3 = f.client("s3")
    if BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        where = ({} if ssm_endpoint.region == "us-east-1" else
                 {"CreateBucketConfiguration": {"LocationConstraint": ssm_endpoint.region}})
        s3.create_bucket(Bucket=BUCKET, **where)
    return f


def ssm_targets(lab: Lab, factory: SessionFactory, hosts: tuple[str, ...] = HOSTS,
                s3: S3Location | None = None) -> Targets:
    ids = tuple(lab.host(h).instance_id for h in hosts)
    return Targets(ssm=SsmTargets(instance_ids=ids, aws=factory.config, output_s3=s3))


def collector(factory: SessionFactory) -> SsmCollector:
    return SsmCollector(factory, poll_initial=0.5, poll_max=2.0)


@pytest.fixture(scope="module")
def both(lab: Lab, lab_inventory: Path, factory: SessionFactory,
         tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: Any
         ) -> tuple[AssessmentResult, AssessmentResult]:
    """The weak and hardened hosts assessed with every shipped rule, via Ansible and via SSM
    (output through S3)."""
    from inspectorctl import collect as collect_mod

    db = tmp_path_factory.mktemp("ssm-e2e") / "findings.db"
    with Store(db) as store:
        # walks get time enough to finish on a busy machine through both transports (a walk
        # cut by its time limit is an ERROR, which would compare load, not transports)
        via_ansible = run_assessment(AssessOptions(walk_max_seconds=WALK_SECONDS, targets=Targets(
            inventory=lab_inventory, limit=",".join(HOSTS))), store)
        monkeypatch_module.setitem(collect_mod.COLLECTORS, "ssm", lambda: collector(factory))
        via_ssm = run_assessment(AssessOptions(
            transport="ssm", walk_max_seconds=WALK_SECONDS, targets=ssm_targets(lab, factory,
                                                 s3=S3Location(bucket=BUCKET, prefix="e2e"))),
            store)
    return via_ansible, via_ssm


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_assess_via_ssm_gives_the_same_status_as_ansible_for_every_rule(
        lab: Lab, both: tuple[AssessmentResult, AssessmentResult]) -> None:
    via_ansible, via_ssm = both
    assert via_ssm.failures == [] and via_ansible.failures == []
    for name in HOSTS:
        iid = lab.host(name).instance_id
        snap = next(s for s in via_ssm.snapshots if s.host.name == iid)
        assert snap.host.transport == "ssm" and snap.host.instance_id == iid
        assert snap.probe_uid == 0  # the agent runs documents as root
        ansible = {r.rule_id: r.status for r in via_ansible.results if r.host == name}
        ssm = {r.rule_id: r.status for r in via_ssm.results if r.host == iid}
        assert ansible and set(ansible) == set(ssm)
        differ = {rid: (ansible[rid], ssm[rid]) for rid in ansible if ansible[rid] != ssm[rid]}
        assert not differ, f"{name}: statuses differ (ansible, ssm): {differ}"
    on_weak = {r.status for r in via_ssm.results if r.host == lab.host("weak-1").instance_id}
    assert Status.FAIL in on_weak and Status.PASS in on_weak


def test_vulnerabilities_via_ssm_are_those_via_ansible(lab: Lab, lab_inventory: Path,
                                                       factory: SessionFactory,
                                                       tmp_path: Path) -> None:
    """The packages come back through the one SSM collect step and match as over SSH: `vulns
    assess --via ssm` and `assess --via ssm` (rules and vulnerabilities in one run)."""
    from inspectorctl import collect as collect_mod
    from inspectorctl.vuln_assess import VulnOptions, VulnStep, run_vuln_assessment
    from inspectorctl.vulns.db import AdvisoryDB
    from inspectorctl.vulns.sources import open_source
    from tests.vulns import records as R

    def found(fs: Any) -> set[tuple[str, str, str, str]]:
        return {(f.vuln_id, f.package, f.state.value, f.installed_version) for f in fs}

    mp = pytest.MonkeyPatch()
    mp.setitem(collect_mod.COLLECTORS, "ssm", lambda: collector(factory))
    try:
        with AdvisoryDB(tmp_path / "vulns.db") as adb, Store(tmp_path / "f.db") as store:
            adb.import_source(open_source(R.osv_zip(tmp_path / "Debian.zip", R.OSV_RECORDS)))
            ansible = run_vuln_assessment(VulnOptions(
                targets=Targets(inventory=lab_inventory, limit="weak-1"), max_age_days=36500),
                adb, store)
            # the package list is more than SSM's 24,000 inline characters: output to S3
            targets = ssm_targets(lab, factory, ("weak-1",),
                                  s3=S3Location(bucket=BUCKET, prefix="e2e-vulns"))
            ssm = run_vuln_assessment(VulnOptions(transport="ssm", targets=targets,
                                                  max_age_days=36500), adb, store)
            both = run_assessment(AssessOptions(transport="ssm", include=("ssh-*",),
                                                targets=targets), store, vulns=VulnStep(adb))
    finally:
        mp.undo()
    assert ansible.failures == ssm.failures == both.failures == []
    assert found(ansible.findings)  # the shadow CVE with no fix, at least
    assert found(ssm.findings) == found(ansible.findings)
    assert found(both.vuln_findings) == found(ansible.findings)
    iid = lab.host("weak-1").instance_id
    assert {f.host for f in ssm.findings} == {iid}
    assert {r.pack for r in both.results} >= {"cis-linux", "vulns"}


def test_finding_ids_are_stable_across_ssm_runs(lab: Lab, factory: SessionFactory,
                                                tmp_path: Path) -> None:
    from inspectorctl import collect as collect_mod

    mp = pytest.MonkeyPatch()
    mp.setitem(collect_mod.COLLECTORS, "ssm", lambda: collector(factory))
    try:
        opts = AssessOptions(transport="ssm", include=("ssh-*",),
                             targets=ssm_targets(lab, factory, ("weak-1",)))
        with Store(tmp_path / "f.db") as store:
            run_assessment(opts, store)
            first = {(f.rule_id, f.host): f.id for f in store.findings()}
            run_assessment(opts, store)
            second = {(f.rule_id, f.host): f.id for f in store.findings()}
    finally:
        mp.undo()
    assert first and first == second


BIG = ProbeRequest(facts=("os", "files"), files=tuple(
    FileRequest(path=f"/usr/share/common-licenses/{name}", patterns=(".",))
    for name in ("GPL-3", "GPL-2", "LGPL-3", "LGPL-2.1", "Apache-2.0", "Artistic", "GFDL-1.3",
                 "MPL-2.0")))


def test_output_beyond_24000_characters_is_an_error_naming_output_s3_and_s3_reads_it(
        lab: Lab, factory: SessionFactory) -> None:
    t = ssm_targets(lab, factory, ("baseline-1",))
    [cut] = collector(factory).collect(BIG, t)
    assert isinstance(cut, CollectionFailure), "this request's output should exceed 24,000"
    assert "output is truncated" in cut.reason and "--output-s3" in cut.reason
    s3 = S3Location(bucket=BUCKET, prefix="big")
    c = collector(factory)
    [whole] = c.collect(BIG, ssm_targets(lab, factory, ("baseline-1",), s3=s3))
    assert isinstance(whole, HostSnapshot), getattr(whole, "reason", "")
    assert whole.files is not None
    gpl = whole.files["/usr/share/common-licenses/GPL-3"]
    assert len(gpl.matches["."]) > 500
    assert c.last_run is not None and c.last_run.calls.get("GetObject") == 1


def test_a_stopped_host_is_an_error_naming_connection_lost(lab: Lab,
                                                         factory: SessionFactory) -> None:
    [host] = lab.up(1, ["baseline"], "ssmc")
    try:
        lab.stop(host.name)
        [res] = collector(factory).collect(ProbeRequest(facts=("os",)),
                                           ssm_targets(lab, factory, (host.name,)))
        assert isinstance(res, CollectionFailure) and res.unreachable
        assert "ConnectionLost, not Online" in res.reason
    finally:
        lab.start(host.name)  # other tests list the session's instances


def test_a_corrupt_or_truncated_output_is_an_error_for_that_host(
        lab: Lab, factory: SessionFactory, tmp_path: Path) -> None:
    """The instance's python3 is wrapped (in that host's overlay) so what the agent hands back
    is altered on the way out: one payload character changed, or the output cut. Neither is
    parsed: the host gets ERROR results naming the reason, the healthy host beside it in the
    same command is assessed."""
    from inspectorctl import collect as collect_mod

    [host] = lab.up(1, ["baseline"], "ssmx")
    real = lab.exec(host.name, ["readlink", "-f", "/usr/bin/python3"]).stdout.strip()
    assert real.startswith("/usr/bin/python3."), real

    def wrap(filter_cmd: str) -> None:
        script = f'#!/bin/sh\n{real} "$@" | {filter_cmd}\n'
        done = lab.exec(host.name, ["sh", "-c",
                                    "rm -f /usr/bin/python3 && cat > /usr/bin/python3 && "
                                    "chmod 755 /usr/bin/python3"], input=script)
        assert done.returncode == 0, done.stderr

    request = ProbeRequest(facts=("os",))
    s3 = S3Location(bucket=BUCKET, prefix="corrupt")
    try:
        wrap("sed '2s/a/b/'")
        [res] = collector(factory).collect(request, ssm_targets(lab, factory, (host.name,)))
        assert isinstance(res, CollectionFailure) and not res.unreachable
        assert res.reason.startswith("output is corrupt: the payload's sha256 differs from "
                                     "the frame's header"), res.reason
        [res] = collector(factory).collect(request, ssm_targets(lab, factory, (host.name,),
                                                                s3=s3))
        assert isinstance(res, CollectionFailure)
        assert res.reason == ("output is corrupt: the payload's sha256 differs from the "
                              "frame's header")

        wrap("head -c 300")
        mp = pytest.MonkeyPatch()
        mp.setitem(collect_mod.COLLECTORS, "ssm", lambda: collector(factory))
        try:
            with Store(tmp_path / "f.db") as store:
                result = run_assessment(AssessOptions(
                    transport="ssm", include=("etc-passwd-permissions",),
                    targets=ssm_targets(lab, factory, (host.name, "baseline-1"))), store)
        finally:
            mp.undo()
        healthy = lab.host("baseline-1").instance_id
        assert result.host_counts[healthy][Status.PASS] == 1
        [bad] = [r for r in result.results if r.host == host.instance_id]
        assert bad.status is Status.ERROR
        assert bad.reason is not None and "output is truncated: " in bad.reason, bad.reason
    finally:
        lab.exec(host.name, ["sh", "-c", f"rm -f /usr/bin/python3 && "
                                         f"ln -s {real.rsplit('/', 1)[1]} /usr/bin/python3"])


APPLY_RULES = ("etc-passwd-permissions", "etc-group-permissions")
#: pure-Python ansible-core and what it imports, copied from this interpreter's site-packages
ANSIBLE_PACKAGES = ("ansible", "jinja2", "markupsafe", "yaml", "resolvelib", "packaging")
#: their metadata (ansible-core checks its requirements' versions)
ANSIBLE_DISTS = ("ansible_core", "jinja2", "markupsafe", "pyyaml", "resolvelib", "packaging")


def give_ansible_core(lab: Lab, host: str) -> None:
    """Put ansible-core in the host's /usr/local (its own overlay), as a machine image would
    have it: the host's python3 runs it through /usr/local/bin/ansible-playbook."""
    import base64
    import io
    import tarfile

    import ansible

    site = Path(ansible.__file__).resolve().parent.parent
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in ANSIBLE_PACKAGES:
            tar.add(site / name, arcname=name,
                    filter=lambda t: None if "__pycache__" in t.name else t)
        for dist in ANSIBLE_DISTS:
            for info in site.glob(f"{dist}-*.dist-info"):
                tar.add(info, arcname=info.name)
    wrapper = ("#!/usr/bin/python3\nimport sys\nfrom ansible.cli.playbook import main\n"
               "sys.exit(main())\n")
    script = "\n".join([
        "set -e",
        "d=$(/usr/bin/python3 -c 'import sys; print(\"/usr/local/lib/python%d.%d/dist-packages\""
        " % sys.version_info[:2])')",
        'mkdir -p "$d"',
        'base64 -d | tar -xz -C "$d"',
        f"printf '%s' '{wrapper}' > /usr/local/bin/ansible-playbook",
        "chmod 755 /usr/local/bin/ansible-playbook",
        "ansible-playbook --version",
    ])
    done = lab.exec(host, ["sh", "-c", script], input=base64.b64encode(buf.getvalue()).decode(),
                    timeout=300)
    assert done.returncode == 0, done.stderr


def test_plan_approve_apply_via_ssm_fixes_and_refusals_change_nothing(
        lab: Lab, factory: SessionFactory, tmp_path: Path) -> None:
    """A weak host of its own: refusals (unapproved, tampered, stale, changed document) run
    nothing; an instance without ansible-core fails the action with that reason and is
    unchanged; once it has ansible-core (as an image would give it), the approved plan fixes
    what it planned; a wrong machine-id is then refused on the instance."""
    from inspectorctl import collect as collect_mod

    [host] = lab.up(1, ["weak"], "ssma")
    mp = pytest.MonkeyPatch()
    mp.setitem(collect_mod.COLLECTORS, "ssm", lambda: collector(factory))
    ssm = factory.client("ssm")
    doc = load_document(DocumentName.APPLY_PLAYBOOK.value)
    try:
        with Store(tmp_path / "f.db") as store:
            opts = AssessOptions(transport="ssm", include=APPLY_RULES,
                                 targets=ssm_targets(lab, factory, (host.name,)))
            before = run_assessment(opts, store)
            assert {r.rule_id: r.status for r in before.results} == dict.fromkeys(
                APPLY_RULES, Status.FAIL)
            pin = SsmPin(document=doc.name, document_version=pinned(ssm, doc),
                         document_sha256=doc.sha256)
            plan = make_plan(store, PlanOptions(run_id=before.run.id, rules=APPLY_RULES,
                                                ssm_pin=pin), now())
            assert plan.actions and plan.source.ssm == pin
            targets = targets_for(plan, None, SsmTargets(
                aws=factory.config, output_s3=S3Location(bucket=BUCKET, prefix="apply")))
            ex = SsmExecutor(factory, poll_initial=0.5, poll_max=2.0)

            with pytest.raises(ApprovalRefused):  # nobody approved it
                apply_plan(plan, store, ex, targets, RolloutOptions(), actor="bob")
            tampered = plan.model_copy(update={"actions": [plan.actions[0].model_copy(
                update={"items": [{"path": "/etc/passwd", "mode": "0777"}]})]})
            with pytest.raises(ApprovalRefused):  # the digest no longer matches
                apply_plan(tampered, store, ex, targets, RolloutOptions(), actor="bob")
            assert ex.last_run is None, "a refused plan sent nothing"

            approve_by(store, plan, "alice", now())
            # stale: a planned finding suppressed after approval refuses the whole plan
            fid = plan.actions[0].findings[0].id
            store.suppress([fid], by="carol", reason="accepted", until=None)
            with pytest.raises(ApprovalRefused, match=f"plan {plan.plan_id} is stale: .*"
                               "suppressed"):
                apply_plan(plan, store, ex, targets, RolloutOptions(), actor="alice")
            assert ex.last_run is None, "a stale plan sent nothing"
            store.unsuppress([fid])
            # the instance has no ansible-core: the action fails with that reason
            report = apply_plan(plan, store, ex, targets, RolloutOptions(), actor="alice")
            assert not report.complete
            [entry] = report.entries
            assert entry.state is JournalState.FAILED
            assert "ansible-core is not installed on this instance" in entry.message
            unchanged = run_assessment(opts, store)
            assert {r.status for r in unchanged.results} == {Status.FAIL}

            # a changed document (another version made default) is refused before sending
            changed = ssm.update_document(Content=doc.content + "# changed\n", Name=doc.name,
                                          DocumentVersion="$LATEST", DocumentFormat="YAML")
            other = changed["DocumentDescription"]["DocumentVersion"]
            moved = targets.model_copy(update={"ssm": targets.ssm.model_copy(update={
                "document_version": other})}) if targets.ssm else targets
            calls: dict[str, int] = dict(ex.last_run.calls) if ex.last_run else {}
            again = apply_plan(plan, store, ex, moved, RolloutOptions(), actor="alice")
            assert [e.state for e in again.entries] == [JournalState.FAILED]
            assert "changed since the plan was approved" in again.entries[0].message
            assert ex.last_run is not None and "SendCommand" not in ex.last_run.calls
            assert calls.get("SendCommand") == 1

            # the instance gets ansible-core the way an image would (not from inspectorctl)
            give_ansible_core(lab, host.name)
            report = apply_plan(plan, store, ex, targets, RolloutOptions(), actor="alice")
            assert report.complete, [(e.host, e.state, e.message) for e in report.entries]
            assert [e.state for e in report.entries] == [JournalState.CHANGED]
            vr = verify_apply(plan, report.entries, store, targets, apply_run_id=report.run_id,
                              actor="alice", now=now())
            assert vr.all_fixed, vr.items

            # the instance id now names another machine: the instance refuses, nothing runs
            action = plan.actions[0]
            wrong = ExecRequest(playbook=action.playbook, hosts=[host.instance_id],
                                items=[{"path": "/etc/hostname", "mode": "0666"}],
                                run_id=report.run_id, targets=targets,
                                machine_ids={host.instance_id: "0" * 32})
            refused = ex.run(wrong).hosts[host.instance_id]
            assert refused.status is HostStatus.FAILED
            assert (f"identity mismatch: instance {host.instance_id} has machine-id "
                    f"{host.machine_id}, but the plan's assessment recorded {'0' * 32}"
                    in refused.message), refused.message
            mode = lab.exec(host.name, ["stat", "-c", "%a", "/etc/hostname"]).stdout.strip()
            assert mode == "644"
    finally:
        mp.undo()


def test_a_host_stopped_mid_rollout_stops_at_the_threshold_and_resume_completes(
        lab: Lab, factory: SessionFactory, tmp_path: Path) -> None:
    """Canary first, then the batch: the batch's host is stopped, so its invocation is never
    delivered (Delivery Timed Out after SSM's minimum of 30 s), the rollout stops at the error
    threshold, and ``--resume`` once it is back finishes the plan."""
    from inspectorctl import collect as collect_mod

    hosts = lab.up(2, ["weak"], "ssmr")
    for h in hosts:
        give_ansible_core(lab, h.name)
    mp = pytest.MonkeyPatch()
    mp.setitem(collect_mod.COLLECTORS, "ssm", lambda: collector(factory))
    doc = load_document(DocumentName.APPLY_PLAYBOOK.value)
    try:
        with Store(tmp_path / "f.db") as store:
            opts = AssessOptions(transport="ssm", include=APPLY_RULES,
                                 targets=ssm_targets(lab, factory, tuple(h.name for h in hosts)))
            before = run_assessment(opts, store)
            pin = SsmPin(document=doc.name,
                         document_version=pinned(factory.client("ssm"), doc),
                         document_sha256=doc.sha256)
            plan = make_plan(store, PlanOptions(run_id=before.run.id, rules=APPLY_RULES,
                                                ssm_pin=pin), now())
            approve_by(store, plan, "alice", now())
            targets = targets_for(plan, None, SsmTargets(
                aws=factory.config, output_s3=S3Location(bucket=BUCKET, prefix="resume"),
                delivery_timeout=30))
            assert targets.ssm is not None
            canary, later = sorted(targets.ssm.instance_ids)
            stopped = next(h for h in hosts if h.instance_id == later)
            lab.stop(stopped.name)
            ex = SsmExecutor(factory, poll_initial=0.5, poll_max=2.0)
            first = apply_plan(plan, store, ex, targets, RolloutOptions(canary=1), actor="alice")
            assert first.stopped and not first.complete
            states = {e.host: e.state for e in first.entries}
            assert states[canary] is JournalState.CHANGED
            assert states[later] is JournalState.UNREACHABLE
            lab.start(stopped.name)
            second = apply_plan(plan, store, ex, targets, RolloutOptions(canary=1, resume=True),
                                actor="alice")
            assert second.complete, [(e.host, e.state, e.message) for e in second.entries]
            assert second.run_id == first.run_id
            vr = verify_apply(plan, second.entries, store, targets,
                              apply_run_id=second.run_id, actor="alice", now=now())
            assert vr.all_fixed, vr.items
    finally:
        mp.undo()


def test_the_cli_via_ssm_previews_applies_rolls_back_and_remediates(
        lab: Lab, factory: SessionFactory, ssm_endpoint: EndpointInfo, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What a user types, end to end through SSM on a weak host of its own (with ansible-core,
    as its image would have it): plan --preview, approve, apply, rollback (a plan of its own,
    pinning the document deployed when it is approved), and unattended remediate."""
    from typer.testing import CliRunner

    from inspectorctl.cli.main import app

    [host] = lab.up(1, ["weak"], "ssmr")
    give_ansible_core(lab, host.name)
    iid = host.instance_id
    monkeypatch.setenv("INSPECTORCTL_DB", str(tmp_path / "f.db"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "lab")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "lab")
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("NO_COLOR", "1")
    aws = ["--via", "ssm", "--region", ssm_endpoint.region, "--endpoint-url", ssm_endpoint.url,
           "--s3-endpoint-url", ssm_endpoint.s3_url, "--output-s3", f"s3://{BUCKET}/cli"]
    rules = ["-r", "etc-passwd-permissions", "-r", "sysctl-net-ipv4-conf-all-accept-redirects"]
    runner = CliRunner()

    def ok(args: list[str], code: int = 0) -> str:
        res = runner.invoke(app, args)
        assert res.exit_code == code, (args, res.output, res.stderr if res.stderr_bytes else "")
        return res.output

    def mode() -> str:
        return lab.exec(host.name, ["stat", "-c", "%a", "/etc/passwd"]).stdout.strip()

    ok(["assess", *aws[:-2], "--instance-ids", iid, *rules], code=0)
    plan_file = tmp_path / "plan.json"
    out = ok(["plan", *aws, *rules, "--preview", "-o", str(plan_file)])
    assert "--- preview a-" in out and f"(file_permissions) on {iid}: changed" in out
    assert "+net.ipv4.conf.all.accept_redirects = 0" in out
    assert "-mode: 0664\n+mode: 0644\n path: /etc/passwd\n" in out  # a looped task's diff
    assert mode() == "664", "a preview changes nothing"

    ok(["apply", str(plan_file), *aws, "--by", "alice"], code=3)  # nobody approved it
    assert mode() == "664"
    ok(["approve", str(plan_file), "--by", "alice"])
    out = ok(["apply", str(plan_file), *aws, "--by", "alice"])
    assert "file_permissions (a-" in out and f"on {iid}: changed" in out
    assert "fixed 2, still failing 0, regressed 0, not verified 0" in out
    assert mode() == "644"
    [apply_run] = [w for w in out.split() if w.startswith("a-2")]

    out = ok(["rollback", apply_run, *aws, "--by", "alice"])
    assert "_rollback (a-" in out and f"on {iid}: changed" in out
    assert "failing again 2 (reopened 2), not failing 0" in out
    assert mode() == "664"

    policy = tmp_path / "policy.yml"
    policy.write_text("rules:\n  - name: permissions and sysctl\n    auto_approve: true\n"
                      "    max_severity: medium\n    rules: ['sysctl-*', '*-permissions']\n"
                      "default_approvers: 1\n")
    out = ok(["remediate", "--policy", str(policy), *aws, "--instance-ids", iid, *rules,
              "-o", str(tmp_path / "pending.json")])
    assert "fixed 2, still failing 0, regressed 0, not verified 0" in out
    assert mode() == "644"
