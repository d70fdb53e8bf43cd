"""Issue 13 end to end: assessment through SSM Run Command on lab hosts, against the lab's
SSM-compatible endpoint (boto3 unchanged, real wire protocol, an agent that runs our documents
as root inside the hosts), compared with the same hosts assessed through Ansible over SSH."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from inspectorctl.assess import AssessmentResult, AssessOptions, run_assessment
from inspectorctl.aws.deploy import DeployAction, deploy
from inspectorctl.aws.documents import shipped_documents
from inspectorctl.aws.session import AwsConfig, SessionFactory
from inspectorctl.aws.targets import S3Location, SsmTargets
from inspectorctl.collect.interface import CollectionFailure, Targets
from inspectorctl.collect.ssm import SsmCollector
from inspectorctl.lab import Lab
from inspectorctl.lab.ssm import EndpointInfo
from inspectorctl.models.common import Status
from inspectorctl.models.snapshot import FileRequest, HostSnapshot, ProbeRequest
from inspectorctl.store.db import Store

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
