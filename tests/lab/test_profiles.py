"""Profile files: schema, composition, and errors that name the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspectorctl.lab import Lab, ProfileError, load_profile, load_profiles
from inspectorctl.lab.profiles import (
    ListenStep,
    PackageStep,
    SysctlStep,
    parse_profile,
    shipped_profiles,
)
from inspectorctl.models.common import Status


def test_shipped_profiles_load_and_are_named_after_their_files() -> None:
    assert list(shipped_profiles()) == ["baseline", "hardened", "weak"]
    assert [p.name for p in Lab.profiles()] == ["baseline", "hardened", "weak"]
    assert load_profile("baseline").profile.steps == ()


def test_weak_seeds_what_the_issue_lists() -> None:
    weak = load_profile("weak").profile
    kinds = {step.kind for step in weak.steps}
    assert {"file", "perms", "sysctl", "account", "package", "listen", "line"} <= kinds
    runtime = {s.key: s.value for s in weak.steps if isinstance(s, SysctlStep) and s.runtime}
    assert runtime["net.ipv4.ip_forward"] == "1"
    assert {s.name for s in weak.steps if isinstance(s, PackageStep)} >= {"telnetd", "rsh-server"}
    assert {s.port for s in weak.steps if isinstance(s, ListenStep)} >= {21, 23}
    assert all(e.status is Status.FAIL for e in weak.expected.values())


def test_hardened_states_a_reason_for_every_not_applicable() -> None:
    hardened = load_profile("hardened").profile
    na = {k: e for k, e in hardened.expected.items() if e.status is Status.NOT_APPLICABLE}
    assert "mount-var-tmp-noexec" in na
    assert all(e.reason for e in na.values())
    # a FAIL on the hardened host is only what a lab host cannot pass, always with the reason
    fails = {k: e for k, e in hardened.expected.items() if e.status is Status.FAIL}
    assert "ssh-permit-root-login" in fails
    assert all(e.reason for e in fails.values())


def test_profiles_compose_in_order_and_paths_work(tmp_path: Path) -> None:
    extra = tmp_path / "extra.yml"
    extra.write_text("name: extra\ndescription: more\nsteps:\n  - {kind: mkdir, path: /srv/x}\n")
    loaded = load_profiles(["weak", str(extra)])
    assert [lp.profile.name for lp in loaded] == ["weak", "extra"]
    assert loaded[1].source == extra and not loaded[1].shipped


def test_unknown_profile_lists_the_valid_ones() -> None:
    with pytest.raises(ProfileError) as err:
        load_profile("nope")
    assert str(err.value) == (
        "unknown profile 'nope'; valid profiles: baseline, hardened, weak "
        "(or a path to a .yml file)"
    )
    assert err.value.exit_code == 2


def _error(text: str) -> str:
    with pytest.raises(ProfileError) as err:
        parse_profile(text, Path("/p/mine.yml"))
    return str(err.value)


def test_unquoted_mode_is_refused_with_file_line_and_field() -> None:
    text = (
        "name: mine\n"
        "description: x\n"
        "steps:\n"
        "  - kind: mkdir\n"
        "    path: /srv/a\n"
        "  - kind: file\n"
        "    path: /srv/b\n"
        "    content: hi\n"
        "    mode: 0644\n"
    )
    assert _error(text) == (
        "profile /p/mine.yml line 9: steps[1].mode: write modes as quoted octal strings, "
        'e.g. "0644"'
    )


def test_unknown_field_and_unknown_kind_name_their_line() -> None:
    text = (
        "name: mine\ndescription: x\nsteps:\n"
        "  - kind: file\n    path: /a\n    content: ''\n    colour: red\n"
    )
    assert (
        _error(text)
        == "profile /p/mine.yml line 7: steps[0].colour: Extra inputs are not permitted"
    )
    text = "name: mine\ndescription: x\nsteps:\n  - kind: teleport\n    path: /a\n"
    message = _error(text)
    assert message.startswith("profile /p/mine.yml line 4: steps[0]: Input tag 'teleport'")


def test_runtime_kernel_sysctl_is_refused() -> None:
    text = (
        "name: mine\ndescription: x\nsteps:\n"
        "  - {kind: sysctl, key: kernel.randomize_va_space, value: '0'}\n"
    )
    message = _error(text)
    assert message.startswith("profile /p/mine.yml line 4: steps[0]: kernel.randomize_va_space: ")
    assert "only net.* can be set at runtime" in message


def test_invalid_yaml_names_the_line() -> None:
    assert _error("name: mine\ndescription: [x\n").startswith(
        "profile /p/mine.yml line 3: invalid YAML:"
    )


def test_missing_file_and_relative_paths(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"cannot read it"):
        load_profile(str(tmp_path / "absent.yml"))
    assert _error(
        "name: mine\ndescription: x\nsteps:\n  - {kind: remove, paths: [etc/x]}\n"
    ).startswith("profile /p/mine.yml line 4: steps[0].paths: ")


def test_the_same_profile_twice_is_refused() -> None:
    with pytest.raises(ProfileError, match="given more than once"):
        load_profiles(["weak", "weak"])
