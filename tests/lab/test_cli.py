"""``inspectorctl lab`` on bad input: one clear message, exit 2, nothing created."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from inspectorctl.cli.main import app
from inspectorctl.lab import Lab


def lab_cli(state_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["lab", "--state-dir", str(state_dir), *args])


def test_unknown_profile_lists_the_valid_ones(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = lab_cli(state, "up", "--hosts", "2", "--profile", "weak", "--profile", "nope")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: unknown profile 'nope'; valid profiles: baseline, hardened, weak "
        "(or a path to a .yml file)\n"
    )
    assert not state.exists()


def test_bad_profile_file_names_file_line_and_field(tmp_path: Path) -> None:
    profile = tmp_path / "mine.yml"
    profile.write_text(
        "name: mine\ndescription: x\nsteps:\n"
        "  - kind: perms\n    paths: [/etc/shadow]\n    mode: 640\n"
    )
    result = lab_cli(tmp_path / "state", "up", "-p", str(profile))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: profile {profile} line 6: steps[0].mode: write modes as quoted octal "
        'strings, e.g. "0644"\n'
    )
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["up", "--hosts", "0"], "--hosts must be between 1 and 64"),
        (
            ["up", "--name", "Bad_Name"],
            "name prefix 'Bad_Name': lowercase letters, digits and '-', starting with a "
            "letter or digit, at most 57 characters",
        ),
    ],
)
def test_bad_values(tmp_path: Path, args: list[str], message: str) -> None:
    result = lab_cli(tmp_path / "state", *args)
    assert (result.exit_code, result.stderr) == (2, f"error: {message}\n")


def test_bad_netns_prefix(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["lab", "--state-dir", str(tmp_path), "--netns-prefix", "Bad", "status"]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "error: netns prefix 'Bad': 2-16 lowercase letters or digits, starting with a "
        "letter, then '-' (e.g. 'ictl-')\n"
    )


@pytest.mark.parametrize(
    "command", [["exec", "ghost", "--", "true"], ["stop", "ghost"], ["start", "ghost"]]
)
def test_unknown_host_in_an_empty_lab(tmp_path: Path, command: list[str]) -> None:
    result = lab_cli(tmp_path, *command)
    assert (result.exit_code, result.stderr) == (
        2,
        "error: unknown host 'ghost': the lab has no hosts\n",
    )


def test_empty_lab_status_and_inventory(tmp_path: Path) -> None:
    result = lab_cli(tmp_path, "status")
    assert (result.exit_code, result.stdout) == (0, f"no lab hosts in {tmp_path}\n")
    result = lab_cli(tmp_path, "inventory")
    assert result.exit_code == 0
    assert result.stdout.endswith("all:\n  children:\n    lab:\n      hosts: {}\n")


def test_profiles_lists_the_shipped_ones(tmp_path: Path) -> None:
    result = lab_cli(tmp_path, "profiles")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STEPS", "DESCRIPTION"]
    assert [line.split()[0] for line in lines[1:]] == ["baseline", "hardened", "weak"]
    assert lines[1].split()[1] == "0"


@pytest.mark.lab
@pytest.mark.parametrize(
    "command", [["exec", "ghost", "--", "true"], ["stop", "ghost"], ["start", "ghost"]]
)
def test_unknown_host_lists_the_hosts(lab: Lab, command: list[str]) -> None:
    names = ", ".join(h.name for h in lab.status())
    result = lab_cli(lab.state_dir, *command)
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: unknown host 'ghost'; hosts: {names}\n",
    )


def test_down_of_no_lab(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("down needs root")
    result = CliRunner().invoke(
        app, ["lab", "--state-dir", str(tmp_path / "none"), "--netns-prefix", "ictlnone-", "down"]
    )
    assert (result.exit_code, result.stdout) == (0, "no lab to remove\n")
