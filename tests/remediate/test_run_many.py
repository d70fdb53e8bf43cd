"""Several actions in one ansible-playbook run (AnsibleExecutor.run_many), with a real
ansible-runner on three inventory hosts that are this machine through the local connection:
the playbooks used here only write under tmp_path or fail on purpose, so nothing of the machine
changes. Each action is reported on its own, as separate runs would report it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from inspectorctl.collect.interface import Targets
from inspectorctl.remediate.ansible import AnsibleExecutor, combined_wrapper
from inspectorctl.remediate.interface import ExecRequest, ExecResult, ExecutorError, HostStatus
from tests.signals import current, sentinel_handlers

HOSTS = ["h1", "h2", "h3"]

WRITE = """\
- name: Write the items
  hosts: all
  gather_facts: false
  tasks:
    - name: Write
      ansible.builtin.copy:
        dest: "{{ items[0].dir }}/{{ inventory_hostname }}.json"
        content: "{{ items | to_json }}"
        mode: "0600"
"""

FAIL_ON = """\
- name: Fail on some hosts
  hosts: all
  gather_facts: false
  tasks:
    - name: Look
      ansible.builtin.debug:
        msg: looking
    - name: Fail where asked
      ansible.builtin.fail:
        msg: "asked to fail on {{ inventory_hostname }}"
      when: inventory_hostname in items[0].hosts
"""


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "playbooks"
    for name, text in (("write_items", WRITE), ("fail_on", FAIL_ON)):
        (root / name).mkdir(parents=True)
        (root / name / "playbook.yml").write_text(text)
    (root / "roles").mkdir()
    inv = tmp_path / "inventory.yml"
    inv.write_text(json.dumps({"all": {"hosts": {h: {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        for h in HOSTS}}}))
    return {"root": root, "inv": inv, "tmp": tmp_path}


def req(world: dict[str, Path], playbook: str, items: list[dict[str, Any]],
        machine_ids: dict[str, str] | None = None) -> ExecRequest:
    return ExecRequest(playbook=playbook, hosts=HOSTS, items=items, run_id="a-1",
                       targets=Targets(inventory=world["inv"], forks=3),
                       playbooks_root=world["root"], machine_ids=machine_ids or {})


def out_dir(world: dict[str, Path], name: str) -> Path:
    d = world["tmp"] / name
    d.mkdir(exist_ok=True)
    return d


def states(r: ExecResult) -> dict[str, str]:
    return {h: o.status.value for h, o in r.hosts.items()}


def test_each_action_is_reported_on_its_own_and_a_failed_host_gets_no_later_action(
        world: dict[str, Path]) -> None:
    a, b = out_dir(world, "a"), out_dir(world, "b")
    results = AnsibleExecutor().run_many([
        req(world, "write_items", [{"dir": str(a)}]),
        req(world, "fail_on", [{"hosts": ["h2"]}]),
        req(world, "write_items", [{"dir": str(b)}]),
    ])
    assert [states(r) for r in results] == [
        dict.fromkeys(HOSTS, "changed"),
        {"h1": "ok", "h2": "failed", "h3": "ok"},
        {"h1": "changed", "h3": "changed"},
    ]
    assert [r.not_reached for r in results] == [[], [], ["h2"]]
    assert results[1].hosts["h2"].message == "task 'Fail where asked': asked to fail on h2"
    assert results[0].hosts["h1"].stats["changed"] == 1
    assert results[1].hosts["h1"].stats == {"ok": 1, "changed": 0, "failures": 0, "dark": 0,
                                            "skipped": 1, "rescued": 0, "ignored": 0}
    assert sorted(p.name for p in a.iterdir()) == ["h1.json", "h2.json", "h3.json"]
    assert sorted(p.name for p in b.iterdir()) == ["h1.json", "h3.json"]
    assert all(r.seconds > 0 for r in results)


def test_the_error_threshold_stops_every_later_action(world: dict[str, Path]) -> None:
    b = out_dir(world, "b")
    results = AnsibleExecutor().run_many([
        req(world, "fail_on", [{"hosts": ["h2"]}]),
        req(world, "write_items", [{"dir": str(b)}]),
        req(world, "write_items", [{"dir": str(b)}]),
    ], tolerate=0)
    assert states(results[0]) == {"h1": "ok", "h2": "failed", "h3": "ok"}
    assert [r.hosts for r in results[1:]] == [{}, {}]
    assert [r.not_reached for r in results[1:]] == [HOSTS, HOSTS]
    assert list(b.iterdir()) == []
    # one failure within the budget: the later actions run on the hosts that did not fail
    again = AnsibleExecutor().run_many([
        req(world, "fail_on", [{"hosts": ["h2"]}]),
        req(world, "write_items", [{"dir": str(b)}]),
    ], tolerate=1)
    assert states(again[1]) == {"h1": "changed", "h3": "changed"}


def test_a_host_that_is_another_machine_fails_every_action_and_gets_none(
        world: dict[str, Path]) -> None:
    mid = Path("/etc/machine-id").read_text().strip() if Path("/etc/machine-id").is_file() else ""
    if not mid:
        pytest.skip("this machine has no /etc/machine-id")
    a = out_dir(world, "a")
    ids = {"h1": mid, "h2": "0" * 32}
    results = AnsibleExecutor().run_many([
        req(world, "write_items", [{"dir": str(a)}], ids),
        req(world, "fail_on", [{"hosts": []}], ids),
    ])
    # the first action fails on h2 (as a run of its own would); the later ones never reach it
    assert states(results[0]) == {"h1": "changed", "h2": "failed", "h3": "changed"}
    assert results[0].hosts["h2"].message.startswith(
        f"task 'Refuse a host that is another machine': identity mismatch: the machine "
        f"reached as h2 has machine-id {mid}, but the plan's assessment recorded "
        f"{'0' * 32} for it")
    assert states(results[1]) == {"h1": "ok", "h3": "ok"}
    assert [r.not_reached for r in results] == [[], ["h2"]]
    assert sorted(p.name for p in a.iterdir()) == ["h1.json", "h3.json"]


def test_items_are_data_in_every_action(world: dict[str, Path]) -> None:
    a, b = out_dir(world, "a"), out_dir(world, "b")
    canary = world["tmp"] / "templated"
    hostile = f"{{{{ lookup('pipe', 'touch {canary}') }}}}"
    results = AnsibleExecutor().run_many([
        req(world, "write_items", [{"dir": str(a), "v": hostile}]),
        req(world, "write_items", [{"dir": str(b), "v": "second"}]),
    ])
    assert [states(r) for r in results] == [dict.fromkeys(HOSTS, "changed")] * 2
    assert json.loads((a / "h1.json").read_text()) == [{"dir": str(a), "v": hostile}]
    assert json.loads((b / "h3.json").read_text()) == [{"dir": str(b), "v": "second"}]
    assert not canary.exists()


def test_actions_run_together_share_hosts_and_mode(world: dict[str, Path]) -> None:
    one = req(world, "write_items", [{"dir": "/nonexistent"}])
    with pytest.raises(ExecutorError, match="must share hosts"):
        AnsibleExecutor().run_many([one, one.model_copy(update={"hosts": ["h1"]})])
    with pytest.raises(ExecutorError, match="must share hosts"):
        AnsibleExecutor().run_many([one, one.model_copy(update={"check": True})])
    with pytest.raises(ExecutorError, match="not a playbook name"):
        AnsibleExecutor().run_many([one, one.model_copy(update={"playbook": "../x"})])
    assert AnsibleExecutor().run_many([]) == []


def test_the_wrapper_marks_each_action_and_checks_the_threshold_after_the_first() -> None:
    text = combined_wrapper([Path("/p/a/playbook.yml"), Path("/p/b/playbook.yml")], 2)
    assert text.count("- name: inspectorctl action ") == 2
    assert "- name: inspectorctl action 0 of 2\n  hosts: all\n  gather_facts: false\n" \
           "  tasks: []\n" in text
    assert text.count("inspectorctl stops at the error threshold") == 1
    assert "> 2\n" in text
    assert 'import_playbook: "/p/b/playbook.yml"\n  vars:\n' \
           '    items: "{{ inspectorctl_items[1] }}"\n' in text
    assert "stops at the error threshold" not in combined_wrapper(
        [Path("/p/a/playbook.yml"), Path("/p/b/playbook.yml")], None)
    assert HostStatus.FAILED.value == "failed"


def test_a_run_leaves_the_process_signal_handlers_as_they_were(world: dict[str, Path]) -> None:
    """Ctrl-C and SIGTERM keep stopping inspectorctl after a playbook ran (ansible-runner,
    given no cancel callback, replaces both handlers for good)."""
    with sentinel_handlers() as mine:
        (r,) = AnsibleExecutor().run_many([req(world, "write_items",
                                               [{"dir": str(out_dir(world, "s"))}])])
        assert states(r) == dict.fromkeys(HOSTS, "changed")
        assert current() == mine
