"""apt's security-scoped simulation: the sources parsers (one-line and deb822), which entries are
security sources, when the probe may limit apt to them, and that doing so finds on this machine
what the full ``apt-get -s upgrade`` finds."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspectorctl.models.snapshot import HostSnapshot
from inspectorctl.probe.updates import APT_LISTS
from tests.collect import probes

FIXTURES = Path(__file__).parent / "apt_sources"


def fixture(probe: ModuleType, name: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The entries of a fixture's apt sources and the names of its /var/lib/apt/lists (read
    with the probe's own reader, which the stand-in apt tests replace)."""
    entries = probes.original(probe, "read_apt_sources")(str(FIXTURES / name))
    return entries, (FIXTURES / name / "lists.txt").read_text().split()


def entry(kind: str, uri: str, suite: str, components: list[str], *options: str) -> dict[str, Any]:
    return {
        "type": kind,
        "options": list(options),
        "uri": uri,
        "suite": suite,
        "components": components,
    }


# ---------------------------------------------------------------------------------------------
# parsers, on fixtures
# ---------------------------------------------------------------------------------------------

DEBIAN_KEY = "signed-by=/usr/share/keyrings/debian-archive-keyring.gpg"


def test_deb822_sources_of_debian12(probe: ModuleType) -> None:
    entries, _ = fixture(probe, "debian12")
    main = "http://deb.debian.org/debian"
    components = ["main", "non-free-firmware"]
    assert entries == [
        entry("deb", main, "bookworm", components, DEBIAN_KEY),
        entry("deb", main, "bookworm-updates", components, DEBIAN_KEY),
        entry("deb-src", main, "bookworm", components, DEBIAN_KEY),
        entry("deb-src", main, "bookworm-updates", components, DEBIAN_KEY),
        entry(
            "deb",
            "http://deb.debian.org/debian-security",
            "bookworm-security",
            components,
            "arch=amd64,i386",
            DEBIAN_KEY,
        ),
        # the disabled stanza is not there, nor the file apt does not read (*.list.disabled)
    ]


def test_one_line_sources_of_debian10_and_ubuntu(probe: ModuleType) -> None:
    entries, _ = fixture(probe, "debian10")
    security = "http://security.debian.org/debian-security"
    assert entries == [
        entry("deb", "http://deb.debian.org/debian", "buster", ["main", "contrib"]),
        entry("deb", "http://deb.debian.org/debian", "buster-updates", ["main", "contrib"]),
        entry("deb", security, "buster/updates", ["main", "contrib"]),
        entry("deb-src", security, "buster/updates", ["main", "contrib"]),
    ]
    entries, _ = fixture(probe, "ubuntu2204")
    archive = "http://archive.ubuntu.com/ubuntu/"
    assert entries == [
        entry("deb", archive, "jammy", ["main", "restricted"], "arch=amd64,i386"),
        entry("deb", archive, "jammy-updates", ["main", "restricted"], "arch=amd64,i386"),
        # sources.list.d in name order: ppa.sources, security.list; an embedded key is left out
        entry("deb", "https://ppa.launchpadcontent.net/example/tools/ubuntu/", "jammy", ["main"]),
        entry(
            "deb",
            "http://security.ubuntu.com/ubuntu/",
            "jammy-security",
            ["main", "restricted", "universe"],
            "arch=amd64",
            "signed-by=/usr/share/keyrings/ubuntu-archive-keyring.gpg",
        ),
    ]


def test_one_line_edge_cases(probe: ModuleType) -> None:
    text = (
        "deb http://x/ stable\n"  # no component for a suite that is not a path: apt refuses it
        "deb http://x/\n"
        "deb http://x/ ./\n"  # a flat repository needs none
        "deb [arch=arm64]http://y/ s-security c\n"
        "  deb  [  trusted=yes  ]  http://z/  s  a  b  # comment\n"
        "# deb http://w/ s c\n"
    )
    assert probe.parse_apt_one_line_sources(text) == [
        entry("deb", "http://x/", "./", []),
        entry("deb", "http://y/", "s-security", ["c"], "arch=arm64"),
        entry("deb", "http://z/", "s", ["a", "b"], "trusted=yes"),
    ]


def test_deb822_options_and_enabled(probe: ModuleType) -> None:
    text = (
        "types: deb\n"
        "URIS: http://a/\n"
        "suites: s-security\n"
        "COMPONENTS: main\n"
        "Architectures-Add: arm64\n"
        "Languages: en de\n"
        "X-Repolib-Name: not an apt option\n"
        "Trusted: yes\n"
        "\n"
        "Types: deb\n"
        "URIs: http://b/\n"
        "Suites: s\n"
        "Components: main\n"
        "Enabled: false\n"
        "\n"
        "Types: deb\n"
        "URIs: http://c/\n"
        "Suites: s\n"  # no components for a suite that is not a path: refused
    )
    assert probe.parse_apt_deb822_sources(text) == [
        entry(
            "deb", "http://a/", "s-security", ["main"], "arch+=arm64", "lang=en,de", "trusted=yes"
        )
    ]


def test_kept_back_list(probe: ModuleType) -> None:
    text = (
        "Calculating upgrade...\n"
        "The following packages have been kept back:\n"
        "   linux-image-amd64 (6.1.129-1 => 6.1.140-1)\n"
        "   libfoo:i386 (1.0 => 1.0+deb12u1)\n"
        "The following packages will be upgraded:\n"
        "   openssl (3.0.15-1 => 3.0.17-1)\n"
        "2 upgraded, 0 newly installed, 0 to remove and 1 not upgraded.\n"
    )
    assert probe.parse_apt_kept_back(text) == {
        "linux-image-amd64": "6.1.140-1",
        "libfoo:i386": "1.0+deb12u1",
    }


def test_security_suites(probe: ModuleType) -> None:
    assert probe.is_apt_security_suite("http://deb.debian.org/debian-security", "bookworm-security")
    assert probe.is_apt_security_suite("http://security.ubuntu.com/ubuntu", "jammy-security")
    assert probe.is_apt_security_suite("http://security.debian.org/", "stretch/updates")
    assert probe.is_apt_security_suite("http://u:p@security.debian.org:80/x", "buster/updates")
    assert probe.is_apt_security_suite("http://deb.debian.org/debian-security/", "buster/updates")
    assert not probe.is_apt_security_suite("http://deb.debian.org/debian", "bookworm-updates")
    assert not probe.is_apt_security_suite("http://deb.debian.org/debian", "buster/updates")
    assert not probe.is_apt_security_suite("http://security.debian.org/", "bookworm")


def test_list_file_names(probe: ModuleType) -> None:
    prefix = probe.apt_list_prefix
    assert prefix("http://deb.debian.org/debian-security", "bookworm-security") == (
        "deb.debian.org_debian-security_dists_bookworm-security_"
    )
    assert prefix("http://security.debian.org/debian-security/", "buster/updates") == (
        "security.debian.org_debian-security_dists_buster_updates_"
    )
    # user info and scheme dropped, port kept, '_' and '~' quoted the way apt quotes them
    assert prefix("https://u:secret@mirror.example.com:8443/deb_repo~x", "s-security") == (
        "mirror.example.com:8443_deb%5frepo%7ex_dists_s-security_"
    )
    assert prefix("file:/srv/mirror", "bookworm-security") == "_srv_mirror_dists_bookworm-security_"
    assert prefix("http://x/repo", "./") == "x_repo_._"


@pytest.mark.skipif(not Path(APT_LISTS).is_dir(), reason="no /var/lib/apt/lists here")
def test_list_file_names_match_this_machines_apt(probe: ModuleType) -> None:
    names = os.listdir(probe.APT_LISTS)
    entries = [e for e in probe.read_apt_sources() if e["type"] == "deb"]
    fetched = [e for e in entries if any("InRelease" in n or "Release" in n for n in names)]
    if not fetched:
        pytest.skip("no apt source of this machine has been fetched")
    for e in fetched:
        start = probe.apt_list_prefix(e["uri"], e["suite"])
        assert any(n.startswith(start) for n in names), (e, start)


# ---------------------------------------------------------------------------------------------
# which sources, and when
# ---------------------------------------------------------------------------------------------


def test_security_sources_of_the_fixtures(probe: ModuleType) -> None:
    assert probe.apt_security_sources(*fixture(probe, "debian12")) == (
        "deb [arch=amd64,i386 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://deb.debian.org/debian-security bookworm-security main non-free-firmware\n",
        "1 security source(s)",
    )
    assert probe.apt_security_sources(*fixture(probe, "debian10")) == (
        "deb http://security.debian.org/debian-security buster/updates main contrib\n",
        "1 security source(s)",
    )
    assert probe.apt_security_sources(*fixture(probe, "ubuntu2204")) == (
        "deb [arch=amd64 signed-by=/usr/share/keyrings/ubuntu-archive-keyring.gpg] "
        "http://security.ubuntu.com/ubuntu/ jammy-security main restricted universe\n",
        "1 security source(s)",
    )
    assert probe.apt_security_sources(*fixture(probe, "thirdparty")) == (
        None,
        "no security source among the apt sources",
    )


def test_no_scoping_when_a_security_list_was_never_fetched(probe: ModuleType) -> None:
    entries, names = fixture(probe, "ubuntu2204")
    # the InRelease and a translation are there, but no Packages list
    names = [n for n in names if not n.endswith("_Packages") or "security" not in n]
    assert probe.apt_security_sources(entries, names) == (
        None,
        "no package list for http://security.ubuntu.com/ubuntu/ jammy-security in "
        "/var/lib/apt/lists",
    )
    entries, _ = fixture(probe, "debian12")
    assert probe.apt_security_sources(entries, [])[0] is None


# ---------------------------------------------------------------------------------------------
# property tests
# ---------------------------------------------------------------------------------------------

_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_path_part = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_~.-", min_size=1, max_size=8)
_uri = st.builds(
    lambda scheme, host, path, slash: f"{scheme}://{host}/{'/'.join(path)}{slash}",
    st.sampled_from(["http", "https"]),
    st.lists(_word, min_size=1, max_size=3).map(".".join),
    st.lists(_path_part, max_size=2),
    st.sampled_from(["", "/"]),
)
_suite = st.one_of(
    _word, _word.map(lambda w: w + "-security"), _word.map(lambda w: w + "/updates")
)
_components = st.lists(_word, min_size=1, max_size=3)
_option_value = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/._-", min_size=1, max_size=10),
    min_size=1,
    max_size=2,
)
_ws = st.sampled_from([" ", "  ", "\t"])


@st.composite
def one_line_entries(draw: st.DrawFn) -> dict[str, Any]:
    options = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["arch", "signed-by", "trusted", "lang+", "target-"]),
                _option_value,
            ),
            max_size=3,
        )
    )
    return entry(
        draw(st.sampled_from(["deb", "deb-src"])),
        draw(_uri),
        draw(_suite),
        draw(_components),
        *(f"{k}={','.join(v)}" for k, v in options),
    )


def render_one_line(e: dict[str, Any], data: st.DataObject) -> str:
    def ws() -> str:
        return data.draw(_ws)

    options = ""
    if e["options"]:
        inner = data.draw(st.sampled_from(["", " "]))
        options = f"[{inner}{' '.join(e['options'])}{inner}]{ws()}"
    words = [e["uri"], e["suite"], *e["components"]]
    comment = data.draw(st.sampled_from(["", " # a comment", "#x"]))
    return f"{data.draw(st.sampled_from(['', ' ']))}{e['type']}{ws()}{options}" + (
        ws().join(words) + comment
    )


@given(st.lists(one_line_entries(), max_size=6), st.data())
def test_one_line_round_trip(
    probe: ModuleType, entries: list[dict[str, Any]], data: st.DataObject
) -> None:
    lines = []
    for e in entries:
        lines.append(render_one_line(e, data))
        if data.draw(st.booleans()):
            lines.append(data.draw(st.sampled_from(["", "# deb http://x/ s c", "   "])))
    assert probe.parse_apt_one_line_sources("\n".join(lines)) == entries


@st.composite
def deb822_stanzas(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "types": draw(st.sets(st.sampled_from(["deb", "deb-src"]), min_size=1).map(sorted)),
        "uris": draw(st.lists(_uri, min_size=1, max_size=2)),
        "suites": draw(st.lists(_suite, min_size=1, max_size=2)),
        "components": draw(_components),
        "arch": draw(st.lists(_word, max_size=2)),
        "signed_by": draw(st.sampled_from([None, "/usr/share/keyrings/a.gpg", "embedded"])),
        "enabled": draw(st.sampled_from([None, "yes", "no"])),
    }


@given(st.lists(deb822_stanzas(), max_size=4), st.data())
def test_deb822_round_trip(
    probe: ModuleType, stanzas: list[dict[str, Any]], data: st.DataObject
) -> None:
    def field(name: str) -> str:
        return data.draw(st.sampled_from([name, name.lower(), name.upper()]))

    blocks, expected = [], []
    for s in stanzas:
        lines = [
            f"{field('Types')}: {' '.join(s['types'])}",
            f"{field('URIs')}: {' '.join(s['uris'])}",
            f"{field('Suites')}: {' '.join(s['suites'])}",
            f"{field('Components')}: {' '.join(s['components'])}",
        ]
        options = []
        if s["arch"]:
            lines.append(f"{field('Architectures')}: {' '.join(s['arch'])}")
            options.append("arch=" + ",".join(s["arch"]))
        if s["signed_by"] == "embedded":  # one field of several lines
            lines.append("Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBG")
        elif s["signed_by"]:
            lines.append(f"Signed-By: {s['signed_by']}")
            options.append(f"signed-by={s['signed_by']}")
        if s["enabled"]:
            lines.append(f"Enabled: {s['enabled']}")
        if data.draw(st.booleans()):
            lines.insert(data.draw(st.integers(0, len(lines))), "# a comment")
        data.draw(st.randoms()).shuffle(lines)
        blocks.append("\n".join(lines))
        if s["enabled"] == "no":
            continue
        expected += [
            entry(kind, uri, suite, s["components"], *options)
            for kind in s["types"]
            for uri in s["uris"]
            for suite in s["suites"]
        ]
    assert probe.parse_apt_deb822_sources("\n\n".join(blocks) + "\n") == expected


@given(st.lists(one_line_entries(), max_size=8), st.data())
def test_security_sources_read_back_as_the_security_entries(
    probe: ModuleType,
    entries: list[dict[str, Any]], data: st.DataObject
) -> None:
    names = [
        probe.apt_list_prefix(e["uri"], e["suite"]) + f"{c}_binary-amd64_Packages"
        for e in entries
        for c in e["components"]
    ]
    sources, _ = probe.apt_security_sources(entries, names)
    wanted: list[dict[str, Any]] = []
    for e in entries:
        if (
            e["type"] == "deb"
            and probe.is_apt_security_suite(e["uri"], e["suite"])
            and e not in wanted
        ):
            wanted.append(e)
    if not wanted:
        assert sources is None
        return
    assert sources is not None
    assert probe.parse_apt_one_line_sources(sources) == wanted
    # without the lists of one of them, apt is not limited to them
    dropped = data.draw(st.sampled_from(wanted))
    start = probe.apt_list_prefix(dropped["uri"], dropped["suite"])
    left = [n for n in names if not n.startswith(start)]
    assert probe.apt_security_sources(entries, left)[0] is None


@settings(max_examples=50)
@given(st.text(max_size=400))
def test_sources_parsers_never_crash(probe: ModuleType, text: str) -> None:
    entries = probe.parse_apt_one_line_sources(text) + probe.parse_apt_deb822_sources(text)
    probe.apt_security_sources(entries, [])
    probe.parse_apt_kept_back(text)


# ---------------------------------------------------------------------------------------------
# the gatherer, with a stand-in apt-get
# ---------------------------------------------------------------------------------------------

FAKE_APT = """#!/bin/sh
# a stand-in for apt-get: records its arguments and the sources list it was given
out='{out}'
printf '%s\\n' "$@" > "$out/argv"
for arg in "$@"; do
  case "$arg" in Dir::Etc::SourceList=*) src="${{arg#Dir::Etc::SourceList=}}" ;; esac
done
if [ -n "$src" ]; then
  while IFS= read -r line; do printf '%s\\n' "$line"; done < "$src" > "$out/sources"
  if [ -e "$out/refuse" ]; then echo "E: Dir::Etc::SourceList: not supported" >&2; exit 100; fi
  echo "The following packages have been kept back:"
  echo "   linux-image-amd64 (6.1.129-1 => 6.1.140-1)"
  echo "Inst openssl [3.0.15-1] (3.0.17-1 Debian-Security:12/stable-security [amd64])"
else
  echo "Inst openssl [3.0.15-1] (3.0.17-1 Debian-Security:12/stable-security [amd64])"
  echo "Inst vim [2:9.0-1] (2:9.0-2 Debian:12.11/stable [amd64])"
fi
"""


@pytest.fixture
def fake_apt(probe: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """apt-get on the probe's PATH is the stand-in; the host's sources are the debian12
    fixture, its lists dir a scratch folder holding the fixture's list names."""
    if not Path("/var/lib/dpkg/status").exists():
        pytest.skip("the probe asks apt only where dpkg is installed")
    bin_dir, lists = tmp_path / "bin", tmp_path / "lists"
    bin_dir.mkdir()
    lists.mkdir()
    apt = bin_dir / "apt-get"
    apt.write_text(FAKE_APT.format(out=tmp_path))
    apt.chmod(0o755)
    monkeypatch.setitem(probe._SUBPROCESS_ENV, "PATH", str(bin_dir))
    entries, names = fixture(probe, "debian12")
    monkeypatch.setattr(probe, "read_apt_sources", lambda: entries)
    for name in names:
        (lists / name).write_text("")
    monkeypatch.setattr(probe, "APT_LISTS", str(lists))
    monkeypatch.setenv("INSPECTORCTL_PROBE_NO_IMDS", "1")
    return tmp_path


def updates(probe: ModuleType) -> dict[str, Any]:
    out = probe.run_probe({"facts": ["updates"]}, root="/")
    HostSnapshot.model_validate(out)
    assert "updates" not in out["unknown"], out["unknown"]
    result: dict[str, Any] = out["updates"]
    return result


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="no os.memfd_create")
def test_apt_is_limited_to_the_security_sources(probe: ModuleType, fake_apt: Path) -> None:
    before = open_fds()
    got = updates(probe)
    assert open_fds() <= before, "the in-memory sources list was not closed"
    assert got["scope"] == "security" and got["error"] is None
    # kept back (it needs something from elsewhere) is pending all the same
    assert got["pending"] == {"openssl": "3.0.17-1", "linux-image-amd64": "6.1.140-1"}
    assert sorted(got["security"]) == ["linux-image-amd64", "openssl"]
    expected = probe.apt_security_sources(*fixture(probe, "debian12"))[0]
    assert (fake_apt / "sources").read_text() == expected
    argv = (fake_apt / "argv").read_text().split("\n")
    assert "Dir::Etc::SourceParts=-" in argv and "-V" in argv and argv[-2] == "upgrade"
    # apt's binary caches stay in memory: built from other sources, they would be rewritten
    assert {"Dir::Cache::pkgcache=", "Dir::Cache::srcpkgcache="} <= set(argv)


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="no os.memfd_create")
def test_an_apt_refusing_the_options_gets_the_full_simulation(
    probe: ModuleType, fake_apt: Path
) -> None:
    (fake_apt / "refuse").write_text("")
    got = updates(probe)
    assert (fake_apt / "sources").exists(), "the scoped simulation was tried first"
    assert got["scope"] == "all" and got["error"] is None
    assert got["pending"] == {"openssl": "3.0.17-1", "vim": "2:9.0-2"}
    assert got["security"] == ["openssl"]


def test_full_simulation_without_memfd_or_lists(
    probe: ModuleType,
    fake_apt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in os.listdir(probe.APT_LISTS):
        if "security" in name:
            os.unlink(os.path.join(probe.APT_LISTS, name))
    got = updates(probe)
    assert got["scope"] == "all" and got["security"] == ["openssl"]
    assert not (fake_apt / "sources").exists()
    assert "Dir::Etc::SourceParts=-" not in (fake_apt / "argv").read_text()
    if hasattr(os, "memfd_create"):  # and with the lists but on a Python without memfd_create
        for name in fixture(probe, "debian12")[1]:
            (Path(probe.APT_LISTS) / name).write_text("")
        monkeypatch.delattr(os, "memfd_create")
        assert updates(probe)["scope"] == "all"
        assert not (fake_apt / "sources").exists()


# ---------------------------------------------------------------------------------------------
# on this machine, with the real apt
# ---------------------------------------------------------------------------------------------


def test_security_scope_finds_what_the_full_simulation_finds(probe: ModuleType) -> None:
    apt = shutil.which("apt-get")
    if apt is None or not Path("/var/lib/dpkg/status").exists():
        pytest.skip("no apt-get here")
    if not hasattr(os, "memfd_create"):
        pytest.skip("no os.memfd_create")
    sources, why = probe.apt_security_sources(
        probe.read_apt_sources(), os.listdir(probe.APT_LISTS)
    )
    if sources is None:
        pytest.skip(f"apt cannot be limited to security sources here: {why}")
    scoped = updates(probe)
    assert scoped["scope"] == "security" and scoped["error"] is None
    full = subprocess.run(
        [apt, *probe._APT_SIMULATE, "-V", "upgrade"],
        capture_output=True,
        text=True,
        env=probe._SUBPROCESS_ENV,
        timeout=300,
        check=True,
    )
    pending, security = probe.parse_apt_simulation(full.stdout)
    kept_back = probe.parse_apt_kept_back(full.stdout)
    # every security update the full simulation finds, at the same version ...
    assert set(security) <= set(scoped["security"])
    assert {n: scoped["pending"][n] for n in security} == {n: pending[n] for n in security}
    # ... and nothing else but what the full simulation keeps back or takes from another
    # origin (a point release that supersedes the security version): pending either way
    assert set(scoped["security"]) - set(security) <= set(pending) | set(kept_back)
