"""Transports: the registry, LocalCollector, and AnsibleCollector through real ansible-runner
against localhost (``ansible_connection=local``) and a loopback port nobody listens on."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from inspectorctl.collect import get_collector
from inspectorctl.collect._result import snapshot_from_probe, tags_from
from inspectorctl.collect.ansible import AnsibleCollector
from inspectorctl.collect.interface import (
    CollectError,
    CollectionFailure,
    InventoryError,
    Targets,
)
from inspectorctl.collect.local import LocalCollector
from inspectorctl.models.snapshot import HostSnapshot, ProbeRequest
from inspectorctl.probe.bundle import shipped_probe
from tests.collect import fakeroot
from tests.collect.machine import installed_package_count
from tests.signals import current, sentinel_handlers

REQUEST = ProbeRequest(
    facts=("os", "packages", "accounts", "sysctl", "login_defs"),
    sysctl_keys=("net.ipv4.ip_forward",),
)
PY = "/usr/bin/python3"


@pytest.fixture(autouse=True)
def _no_imds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSPECTORCTL_PROBE_NO_IMDS", "1")


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, host: str, event: str) -> None:
        self.seen.append((host, event))

    def of(self, host: str) -> list[str]:
        return [e for h, e in self.seen if h == host]


# ---------------------------------------------------------------------------------------------
# registry and helpers
# ---------------------------------------------------------------------------------------------


def test_registry() -> None:
    assert isinstance(get_collector("local"), LocalCollector)
    assert isinstance(get_collector("ansible"), AnsibleCollector)
    with pytest.raises(CollectError, match=r"unknown transport 'ssh'; valid: ansible, local"):
        get_collector("ssh")


def test_tags_from() -> None:
    assert tags_from({"env": "prod", "n": 3, "x": None}) == {"env": "prod", "n": "3", "x": ""}
    assert tags_from(["env=prod", "role"]) == {"env": "prod", "role": ""}
    assert tags_from("env=prod, team = sec") == {"env": "prod", "team": "sec"}
    assert tags_from(None) == {}


def test_snapshot_from_probe_failures() -> None:
    bad = snapshot_from_probe("{not json", name="h", transport="local")
    assert isinstance(bad, CollectionFailure) and "not JSON" in bad.reason
    wrong = snapshot_from_probe({"collected_at": "yesterday"}, name="h", transport="local")
    assert isinstance(wrong, CollectionFailure)
    assert "does not match the snapshot schema" in wrong.reason
    ok = snapshot_from_probe(
        {"collected_at": "2026-01-01T00:00:00+00:00", "host": {"name": "x", "instance_id": "i-1"}},
        name="web1",
        transport="ansible",
        hostvars={"inspectorctl_tags": {"env": "prod"}},
    )
    assert isinstance(ok, HostSnapshot)
    assert (ok.host.name, ok.host.transport, ok.host.instance_id, ok.host.tags) == (
        "web1",
        "ansible",
        "i-1",
        {"env": "prod"},
    )


# ---------------------------------------------------------------------------------------------
# local
# ---------------------------------------------------------------------------------------------


def test_local_collector_on_this_machine() -> None:
    events = Events()
    results = LocalCollector().collect(REQUEST, Targets(), events)
    assert len(results) == 1
    snap = results[0]
    assert isinstance(snap, HostSnapshot), snap
    assert snap.host.name == "localhost" and snap.host.transport == "local"
    assert snap.host.hostname == socket.gethostname()
    if Path("/var/lib/dpkg/status").exists():
        assert snap.packages is not None
        assert len(snap.packages.items) == installed_package_count()
    assert events.of("localhost") == ["started", "ok"]


def test_local_collector_fake_root(tmp_path: Path) -> None:
    root = fakeroot.build(tmp_path / "root")
    snap = LocalCollector(root=str(root)).collect(REQUEST, Targets())[0]
    assert isinstance(snap, HostSnapshot)
    assert snap.host.hostname == "fakehost" and snap.host.name == "localhost"


def test_local_collector_refuses_inventory(tmp_path: Path) -> None:
    with pytest.raises(CollectError, match="only this machine"):
        LocalCollector().collect(REQUEST, Targets(inventory=tmp_path / "inv.ini"))


def test_local_collector_runs_the_shipped_probe_and_leaves_no_copy(tmp_path: Path) -> None:
    """The local transport runs the shipped file from a private temp dir, removed afterwards."""
    seen = tmp_path / "seen"
    python = tmp_path / "python3"
    python.write_text(
        f"#!/bin/sh\necho \"$1\" > {seen}.path\ncp \"$1\" {seen}\n"
        f"stat -c %a \"$(dirname \"$1\")\" > {seen}.mode\nexit 3\n"
    )
    python.chmod(0o755)
    result = LocalCollector(python=str(python)).collect(REQUEST, Targets())[0]
    assert isinstance(result, CollectionFailure) and "probe exited with 3" in result.reason
    assert seen.read_bytes() == shipped_probe().source
    assert (tmp_path / "seen.mode").read_text().strip() == "700"
    assert not Path((tmp_path / "seen.path").read_text().strip()).parent.exists()


def test_local_collector_failure_is_a_result() -> None:
    events = Events()
    result = LocalCollector(python="/nonexistent/python3").collect(REQUEST, Targets(), events)[0]
    assert isinstance(result, CollectionFailure)
    assert result.host == "localhost" and "cannot run the probe" in result.reason
    assert events.of("localhost") == ["started", "failed"]


# ---------------------------------------------------------------------------------------------
# ansible (real ansible-runner, localhost and loopback only)
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def collector() -> Iterator[AnsibleCollector]:
    yield AnsibleCollector()


def test_ansible_localhost_default(collector: AnsibleCollector) -> None:
    events = Events()
    results = collector.collect(REQUEST, Targets(), events)
    assert len(results) == 1
    snap = results[0]
    assert isinstance(snap, HostSnapshot), snap
    assert snap.host.name == "localhost" and snap.host.transport == "ansible"
    assert snap.host.hostname == socket.gethostname()
    assert snap.os is not None and snap.os.kernel == os.uname().release
    assert snap.accounts is not None and any(a.uid == 0 for a in snap.accounts.accounts)
    if Path("/var/lib/dpkg/status").exists():
        assert snap.packages is not None and snap.packages.manager == "dpkg"
        assert len(snap.packages.items) == installed_package_count()
    assert snap.sysctl is not None
    assert snap.sysctl.runtime["net.ipv4.ip_forward"] in ("0", "1")
    assert snap.walks is None and snap.services is None  # not requested, not gathered
    assert events.of("localhost") == ["started", "ok"]
    assert collector.last_private_data_dir is not None
    assert not collector.last_private_data_dir.exists()  # cleaned up


def test_a_collection_leaves_the_process_signal_handlers_as_they_were(
        collector: AnsibleCollector, tmp_path: Path) -> None:
    """Ctrl-C and SIGTERM keep stopping inspectorctl after hosts were collected (the
    inventory check and the probe run are both ansible-runner calls)."""
    inv = write_inventory(tmp_path, f"local1 ansible_connection=local "
                                    f"ansible_python_interpreter={PY}\n")
    with sentinel_handlers() as mine:
        (snap,) = collector.collect(REQUEST, Targets(inventory=inv), Events())
        assert isinstance(snap, HostSnapshot), snap
        assert current() == mine


def write_inventory(tmp_path: Path, text: str, name: str = "inventory.ini") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


MIXED = f"""\
[lab]
local1 ansible_connection=local ansible_python_interpreter={PY} inspectorctl_instance_id=i-0abc123 inspectorctl_tags="{{'env': 'test', 'role': 'web'}}"
deadhost ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh ansible_ssh_common_args='-o ConnectTimeout=5'
"""  # noqa: E501


def test_ansible_unreachable_host_next_to_a_good_one(
    collector: AnsibleCollector, tmp_path: Path
) -> None:
    inv = write_inventory(tmp_path, MIXED)
    events = Events()
    results = {
        r.host if isinstance(r, CollectionFailure) else r.host.name: r
        for r in collector.collect(REQUEST, Targets(inventory=inv), events)
    }
    assert set(results) == {"local1", "deadhost"}
    good = results["local1"]
    assert isinstance(good, HostSnapshot)
    assert good.host.instance_id == "i-0abc123"
    assert good.host.tags == {"env": "test", "role": "web"}
    assert good.host.transport == "ansible"
    dead = results["deadhost"]
    assert isinstance(dead, CollectionFailure) and dead.unreachable is True
    assert "127.0.0.1" in dead.reason and "port 1" in dead.reason
    assert events.of("deadhost")[-1] == "unreachable" and events.of("local1")[-1] == "ok"


def test_ansible_limit(collector: AnsibleCollector, tmp_path: Path) -> None:
    inv = write_inventory(tmp_path, MIXED)
    results = collector.collect(REQUEST, Targets(inventory=inv, limit="local1"))
    assert [r.host.name for r in results if isinstance(r, HostSnapshot)] == ["local1"]
    assert len(results) == 1


def test_ansible_module_failure_is_a_failed_host(
    collector: AnsibleCollector, tmp_path: Path
) -> None:
    inv = write_inventory(
        tmp_path,
        "broken ansible_connection=local ansible_python_interpreter=/nonexistent/python3\n",
    )
    results = collector.collect(REQUEST, Targets(inventory=inv))
    assert len(results) == 1
    failure = results[0]
    assert isinstance(failure, CollectionFailure), failure
    assert failure.host == "broken" and failure.unreachable is False
    assert "/nonexistent/python3" in failure.reason


def test_ansible_keeps_artifacts_on_request(tmp_path: Path) -> None:
    collector = AnsibleCollector(keep_artifacts=True)
    collector.collect(ProbeRequest(facts=("os",)), Targets())
    pdd = collector.last_private_data_dir
    assert pdd is not None
    try:
        module = pdd / "project" / "library" / "inspectorctl_probe.py"
        assert module.read_bytes() == shipped_probe().source
        play = json.loads((pdd / "project" / "inspectorctl_collect.yml").read_text())
        assert play[0]["gather_facts"] is False
        # the handler returned True, so runner kept the events on disk too
        events = [
            json.loads(p.read_text())
            for p in (pdd / "artifacts" / "collect" / "job_events").glob("*.json")
        ]
        assert any(e.get("event") == "runner_on_ok" for e in events)
    finally:
        import shutil

        shutil.rmtree(pdd, ignore_errors=True)


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("bad.yml", "all:\n  hosts:\n    a: {x: 1\n    b:\n", r"bad\.yml:4:6: "),
        ("list.yaml", "- a\n- b\n", r"list\.yaml: an inventory must be a mapping"),
        ("bad.ini", "[web]\nhost1 ansible_port\n", r"bad\.ini: Expected key=value"),
        (
            "empty.ini",
            "# nothing here\n",
            r"empty\.ini: no hosts matched \(the inventory is empty\)",
        ),
    ],
)
def test_bad_inventory(
    collector: AnsibleCollector, tmp_path: Path, name: str, text: str, match: str
) -> None:
    inv = write_inventory(tmp_path, text, name)
    with pytest.raises(InventoryError, match=match):
        collector.collect(REQUEST, Targets(inventory=inv))


def test_inventory_missing_or_limit_matching_nothing(
    collector: AnsibleCollector, tmp_path: Path
) -> None:
    with pytest.raises(InventoryError, match=r"nope\.ini: no such inventory file"):
        collector.collect(REQUEST, Targets(inventory=tmp_path / "nope.ini"))
    inv = write_inventory(tmp_path, MIXED)
    with pytest.raises(InventoryError, match=r"no hosts matched the limit 'web\*'"):
        collector.collect(REQUEST, Targets(inventory=inv, limit="web*"))


def test_inventory_vault_tag_does_not_break_the_yaml_precheck(
    collector: AnsibleCollector, tmp_path: Path
) -> None:
    inv = write_inventory(
        tmp_path,
        "all:\n  hosts:\n    h1:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {PY}\n      note: !unsafe '{{{{ not templated }}}}'\n",
        "inv.yml",
    )
    hosts = collector.check_inventory(Targets(inventory=inv))
    assert hosts.hosts == ["h1"]
