"""Scores: base from the vendor's vector, NVD's, the vendor's word; adjustments with reasons;
Inspector's bands."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspectorctl.models.common import Severity
from inspectorctl.models.snapshot import Socket
from inspectorctl.vulns.score import band, score

NET = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
LOCAL = "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"  # 7.8


def sock(address: str, package: str | None) -> Socket:
    return Socket(proto="tcp", address=address, port=22, pid=1, process="x",
                  exe="/usr/sbin/x", package=package)


@pytest.mark.parametrize("value, sev", [
    (0.0, Severity.INFORMATIONAL), (0.1, Severity.LOW), (3.9, Severity.LOW),
    (4.0, Severity.MEDIUM), (6.9, Severity.MEDIUM), (7.0, Severity.HIGH), (8.9, Severity.HIGH),
    (9.0, Severity.CRITICAL), (10.0, Severity.CRITICAL)])
def test_bands_are_inspectors(value: float, sev: Severity) -> None:
    assert band(value) is sev


def test_base_vendor_then_nvd_then_vendor_word_then_untriaged() -> None:
    s = score([NET], "osv:Debian", [LOCAL], None, kev=False, sockets=None)
    assert (s.base, s.base_vector, s.base_source) == (9.8, NET, "vendor record osv:Debian")
    s = score(["CVSS:3.1/garbage"], "alas", [LOCAL], "important", kev=False, sockets=None)
    assert (s.base, s.base_source) == (7.8, "NVD (through another record of the same CVE)")
    s = score([], "alas", [], "Important", kev=False, sockets=None)
    assert (s.base, s.severity, s.base_source) == (
        7.5, Severity.HIGH, "vendor severity important (no CVSS vector)")
    s = score([], "alas", [], None, kev=False, sockets=None)
    assert (s.base, s.severity) == (5.0, Severity.MEDIUM)
    assert s.base_source.startswith("untriaged")


def test_network_vector_lowered_only_when_the_package_listens_on_nothing_exposed() -> None:
    lowered = "network-unreachable"
    # the host's sockets are unknown: nothing is assumed
    assert score([NET], "s", [], None, kev=False, sockets=None).adjustments == ()
    # only loopback listeners on the host
    s = score([NET], "s", [], None, kev=False, sockets=[sock("127.0.0.1", "exim4")],
              packages=["curl"])
    assert [a.name for a in s.adjustments] == [lowered]
    assert s.adjusted < s.base and s.adjusted_vector == NET + "/MAV:L"
    assert "no socket on the host listens beyond loopback" in s.adjustments[0].reason
    # exposed sockets that belong to other packages
    s = score([NET], "s", [], None, kev=False, sockets=[sock("0.0.0.0", "openssh-server")],
              packages=["curl", "libcurl4"])
    assert s.adjustments[0].reason == (
        "attack vector is the network, but the sockets listening beyond loopback belong to "
        "openssh-server, none to curl, libcurl4: scored as local (MAV:L)")
    # the package itself listens, or an owner is unknown: kept
    for owner in ("openssh-server", None):
        s = score([NET], "s", [], None, kev=False, sockets=[sock("::", owner)],
                  packages=["openssh-server"])
        assert s.adjustments == () and s.adjusted == 9.8
    # a local vector is never "lowered"
    assert score([LOCAL], "s", [], None, kev=False, sockets=[]).adjustments == ()


def test_kev_raises_to_the_top_of_the_band() -> None:
    s = score([LOCAL], "s", [], None, kev=True, sockets=None)
    assert (s.base, s.adjusted, s.severity, s.kev) == (7.8, 8.9, Severity.HIGH, True)
    assert s.adjustments[0].reason.startswith("in CISA's Known Exploited Vulnerabilities")
    s = score([NET], "s", [], None, kev=True, sockets=None)
    assert s.adjusted == 10.0


def test_probe_names_the_package_owning_a_listening_executable(tmp_path: Path) -> None:
    from inspectorctl.probe.context import ProbeContext
    from inspectorctl.probe.sockets import dpkg_file_owners

    info = tmp_path / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    (info / "openssh-server.list").write_text("/.\n/usr\n/usr/sbin\n/usr/sbin/sshd\n")
    (info / "netcat-openbsd:amd64.list").write_text("/bin/nc.openbsd\n")
    (info / "curl.list").write_text("/usr/bin/curl\n")
    ctx = ProbeContext(str(tmp_path))
    got = dpkg_file_owners(ctx, {"/usr/sbin/sshd", "/usr/bin/nc.openbsd", "/opt/x"})
    assert got == {"/usr/sbin/sshd": "openssh-server", "/usr/bin/nc.openbsd": "netcat-openbsd"}
