"""Items reach Ansible as data, never as templates: the extra-vars file the executor writes,
read by a real ansible-playbook (a localhost play that only prints: nothing is changed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from inspectorctl.remediate.ansible import unsafe_yaml

PLAY = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "value={{ item.value }} text={{ item.value is string }}"
      loop: "{{ items }}"
"""


def _run(tmp_path: Path, vars_text: str) -> str:
    (tmp_path / "vars.yml").write_text(vars_text)
    (tmp_path / "play.yml").write_text(PLAY)
    bin_dir = Path(sys.executable).parent  # the venv's ansible-playbook
    out = subprocess.run(
        [str(bin_dir / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         str(tmp_path / "play.yml"), "-e", f"@{tmp_path / 'vars.yml'}"],
        capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "ANSIBLE_NOCOLOR": "1",
             "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"), "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_a_template_in_an_item_is_never_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    value = "{{ lookup('pipe', 'touch " + str(marker) + "') }}"
    items = [{"option": "X11Forwarding", "value": "no"},
             {"option": "MaxAuthTries", "value": value}]
    text = unsafe_yaml({"items": items, "inspectorctl_machine_ids": {"h": "a" * 32}})
    assert yaml.safe_load(text.replace("!unsafe", "")) == {
        "items": items, "inspectorctl_machine_ids": {"h": "a" * 32}}
    out = _run(tmp_path, text)
    assert not marker.exists(), "Ansible evaluated a template in an item"
    assert '"msg": "value=no text=True"' in out  # a quoted 'no' stays text, never false
    assert "value={{ lookup('pipe', 'touch" in out
    # the same file without the tags: Ansible runs the lookup (what the tags prevent)
    _run(tmp_path, text.replace(" !unsafe", ""))
    assert marker.exists()
