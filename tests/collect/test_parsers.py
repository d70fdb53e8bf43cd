"""The probe's pure parsers: property tests (round trips, invariants) and real-looking fixtures."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.collect import fakeroot
from tests.collect.machine import installed_package_count

# ---------------------------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------------------------

_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=12)
# a value on one line: printable, no newline, no surrounding whitespace
_value = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool)
)
_ws = st.sampled_from([" ", "  ", "\t", " \t "])


# ---------------------------------------------------------------------------------------------
# sshd -T
# ---------------------------------------------------------------------------------------------


@given(
    st.dictionaries(
        _word.filter(lambda k: k[0].isalpha()), st.lists(_value, min_size=1, max_size=3)
    ),
    st.data(),
)
def test_sshd_t_round_trip(
    probe: ModuleType, config: dict[str, list[str]], data: st.DataObject
) -> None:
    lines = []
    for key, values in config.items():
        for v in values:
            shown = data.draw(st.sampled_from([key, key.upper(), key.capitalize()]))
            lines.append(f"{shown}{data.draw(_ws)}{v}")
    assert probe.parse_sshd_t("\n".join(lines) + "\n\n") == config


def test_sshd_t_real_output(probe: ModuleType) -> None:
    cfg = probe.parse_sshd_t(fakeroot.SSHD_T)
    assert cfg["port"] == ["22"]
    assert cfg["listenaddress"] == ["[::]:22", "0.0.0.0:22"]
    assert cfg["subsystem"] == ["sftp /usr/lib/openssh/sftp-server"]
    assert cfg["permitrootlogin"] == ["without-password"]
    assert probe.parse_sshd_t("") == {}


# ---------------------------------------------------------------------------------------------
# sysctl.d
# ---------------------------------------------------------------------------------------------

_sysctl_key = st.lists(_word, min_size=2, max_size=5).map(".".join)
_sysctl_value = st.lists(
    st.text(alphabet="0123456789abcdef-:/,", min_size=1, max_size=8), min_size=1, max_size=3
)


@given(st.lists(st.tuples(_sysctl_key, _sysctl_value), max_size=12), st.data())
def test_sysctl_conf_round_trip(
    probe: ModuleType,
    assignments: list[tuple[str, list[str]]], data: st.DataObject
) -> None:
    lines: list[str] = []
    expected = []
    for key, words in assignments:
        for _ in range(data.draw(st.integers(0, 2))):
            lines.append(
                data.draw(st.sampled_from(["", "# comment = 1", "; also = comment", "   "]))
            )
        shown_key = key.replace(".", "/") if data.draw(st.booleans()) else key
        dash = "-" if data.draw(st.booleans()) else ""
        sep = data.draw(st.sampled_from(["=", " = ", "\t=\t", "= "]))
        value = data.draw(_ws).join(words)
        lines.append(f"{dash}{shown_key}{sep}{value}")
        expected.append(
            (key, {"file": "/etc/sysctl.d/x.conf", "line": len(lines), "value": " ".join(words)})
        )
    parsed, bad = probe.parse_sysctl_conf("\n".join(lines), "/etc/sysctl.d/x.conf")
    assert parsed == expected
    assert bad == []


def test_sysctl_conf_examples(probe: ModuleType) -> None:
    text = "# c\n; c\nnet.ipv4.ip_forward = 0\n-net/ipv4/conf/all/rp_filter=1\nnot an assignment\n"
    parsed, bad = probe.parse_sysctl_conf(text, "f.conf")
    assert parsed == [
        ("net.ipv4.ip_forward", {"file": "f.conf", "line": 3, "value": "0"}),
        ("net.ipv4.conf.all.rp_filter", {"file": "f.conf", "line": 4, "value": "1"}),
    ]
    assert bad == ["f.conf:5: not an assignment"]
    assert probe.normalise_sysctl_value("4096\t16384  4194304\n") == "4096 16384 4194304"


# ---------------------------------------------------------------------------------------------
# login.defs
# ---------------------------------------------------------------------------------------------

_defs_key = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=16)


@given(
    st.lists(st.tuples(_defs_key, _value.filter(lambda v: not v.startswith('"'))), max_size=10),
    st.data(),
)
def test_login_defs_round_trip(
    probe: ModuleType, items: list[tuple[str, str]], data: st.DataObject
) -> None:
    lines = ["# /etc/login.defs - Configuration control definitions", ""]
    expected: dict[str, str] = {}
    for key, value in items:
        shown = f'"{value}"' if data.draw(st.booleans()) else value
        lines.append(f"{key}{data.draw(_ws)}{shown}")
        if data.draw(st.booleans()):
            lines.append("#" + key + " commented out")
        expected[key] = value  # the last setting wins
    assert probe.parse_login_defs("\n".join(lines)) == expected


def test_login_defs_example(probe: ModuleType) -> None:
    defs = probe.parse_login_defs(fakeroot.LOGIN_DEFS)
    assert defs == {
        "MAIL_DIR": "/var/mail",
        "PASS_MAX_DAYS": "365",
        "PASS_MIN_DAYS": "1",
        "UID_MIN": "1000",
        "ENCRYPT_METHOD": "SHA512",
    }


# ---------------------------------------------------------------------------------------------
# /proc/mounts and fstab
# ---------------------------------------------------------------------------------------------

_mount_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
    min_size=1,
    max_size=20,
)
_option = st.text(alphabet="abcdefghijklmnopqrstuvwxyz=0123456789_", min_size=1, max_size=10)


@given(
    st.lists(
        st.tuples(
            _mount_text,
            _mount_text,
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.", min_size=1, max_size=8),
            st.lists(_option, min_size=1, max_size=4),
        ),
        max_size=8,
    )
)
def test_proc_mounts_round_trip(
    probe: ModuleType, entries: list[tuple[str, str, str, list[str]]]
) -> None:
    text = "".join(
        f"{probe.escape_mount_field(dev)} {probe.escape_mount_field(mnt)} {fstype} "
        f"{','.join(opts)} 0 0\n"
        for dev, mnt, fstype, opts in entries
    )
    parsed = probe.parse_proc_mounts(text)
    assert parsed == [
        {"device": dev, "mountpoint": mnt, "fstype": fstype, "options": opts}
        for dev, mnt, fstype, opts in entries
    ]


@given(_mount_text)
def test_mount_escape_is_inverse(probe: ModuleType, text: str) -> None:
    escaped = probe.escape_mount_field(text)
    assert not any(ch in escaped for ch in " \t\n")
    assert probe.unescape_mount_field(escaped) == text


def test_proc_mounts_example(probe: ModuleType) -> None:
    mounts = probe.parse_proc_mounts(fakeroot.PROC_MOUNTS)
    assert mounts[0] == {
        "device": "/dev/vda1",
        "mountpoint": "/",
        "fstype": "ext4",
        "options": ["rw", "relatime"],
    }
    assert mounts[4]["mountpoint"] == "/mnt/with space"
    assert probe.parse_fstab(fakeroot.FSTAB) == [
        {
            "device": "UUID=1234",
            "mountpoint": "/",
            "fstype": "ext4",
            "options": ["errors=remount-ro"],
        },
        {
            "device": "tmpfs",
            "mountpoint": "/tmp",
            "fstype": "tmpfs",
            "options": ["defaults", "nosuid", "nodev", "noexec"],
        },
    ]


def test_proc_mounts_of_this_machine(probe: ModuleType) -> None:
    text = Path("/proc/self/mounts").read_text()
    mounts = probe.parse_proc_mounts(text)
    assert len(mounts) == len([ln for ln in text.splitlines() if ln.strip()])
    assert any(m["mountpoint"] == "/" for m in mounts)


# ---------------------------------------------------------------------------------------------
# /proc/net
# ---------------------------------------------------------------------------------------------


def _kernel_hex(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    raw = addr.packed
    return "".join(raw[i : i + 4][::-1].hex().upper() for i in range(0, len(raw), 4))


@given(
    st.lists(
        st.tuples(
            st.ip_addresses(), st.integers(0, 65535), st.integers(1, 11), st.integers(0, 2**31)
        ),
        max_size=10,
    )
)
def test_proc_net_round_trip(
    probe: ModuleType,
    rows: list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int, int, int]],
) -> None:
    for version, proto in ((4, "tcp"), (6, "tcp6")):
        picked = [r for r in rows if r[0].version == version]
        zero = ipaddress.ip_address("0.0.0.0" if version == 4 else "::")
        lines = [
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
            "   uid  timeout inode"
        ]
        for i, (addr, port, state, inode) in enumerate(picked):
            lines.append(
                f"{i:4}: {_kernel_hex(addr)}:{port:04X} {_kernel_hex(zero)}:0000 {state:02X} "
                f"00000000:00000000 00:00000000 00000000  1000        0 {inode} 1 0 100 0 0 10 0"
            )
        parsed = probe.parse_proc_net("\n".join(lines), proto)
        # compare addresses as addresses: "::ffff:0.0.0.0" and "::ffff:0:0" are the same
        got = [
            (ipaddress.ip_address(p["address"]), p["port"], p["state"], p["inode"], p["uid"])
            for p in parsed
        ]
        assert got == [(a, port, state, inode, 1000) for a, port, state, inode in picked]


def test_proc_net_examples(probe: ModuleType) -> None:
    tcp = probe.parse_proc_net(fakeroot.PROC_NET_TCP, "tcp")
    assert [(e["address"], e["port"]) for e in tcp if probe.is_listening(e)] == [
        ("0.0.0.0", 22),
        ("127.0.0.1", 8080),
    ]
    tcp6 = probe.parse_proc_net(fakeroot.PROC_NET_TCP6, "tcp6")
    assert [(e["address"], e["port"]) for e in tcp6] == [("::", 22), ("::1", 631)]
    udp = probe.parse_proc_net(fakeroot.PROC_NET_UDP, "udp")
    assert [(e["address"], e["port"]) for e in udp if probe.is_listening(e)] == [("0.0.0.0", 68)]


# ---------------------------------------------------------------------------------------------
# packages
# ---------------------------------------------------------------------------------------------

_pkg_name = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789+-.", min_size=2, max_size=20
).filter(lambda s: s[0].isalnum())
_version = st.text(alphabet="0123456789.+~-:abc", min_size=1, max_size=15).filter(
    lambda s: s[0].isdigit()
)


@given(
    st.lists(
        st.tuples(
            _pkg_name,
            st.one_of(st.none(), _pkg_name),
            _version,
            st.sampled_from(
                [
                    "install ok installed",
                    "hold ok installed",
                    "deinstall ok config-files",
                    "install ok half-configured",
                    "purge ok not-installed",
                ]
            ),
            st.sampled_from(["amd64", "all", "arm64"]),
        ),
        max_size=10,
    )
)
def test_dpkg_status_round_trip(
    probe: ModuleType, pkgs: list[tuple[str, str | None, str, str, str]]
) -> None:
    stanzas = []
    for name, source, version, status, arch in pkgs:
        lines = [
            f"Package: {name}",
            f"Status: {status}",
            "Priority: optional",
            f"Architecture: {arch}",
        ]
        if source:
            lines.append(f"Source: {source} ({version})")
        lines += [f"Version: {version}", "Description: x", " long", " ."]
        stanzas.append("\n".join(lines))
    parsed = probe.parse_dpkg_status("\n\n".join(stanzas) + "\n")
    assert parsed == [
        {"name": n, "source": s or n, "version": v, "arch": a}
        for n, s, v, status, a in pkgs
        if status.endswith(" installed")
    ]


def test_dpkg_status_example(probe: ModuleType) -> None:
    items = probe.parse_dpkg_status(fakeroot.DPKG_STATUS)
    assert items == [
        {
            "name": "openssh-server",
            "source": "openssh",
            "version": "1:9.2p1-2+deb12u3",
            "arch": "amd64",
        },
        {"name": "libc6", "source": "glibc", "version": "2.36-9+deb12u4", "arch": "amd64"},
        {"name": "bash", "source": "bash", "version": "5.2.15-2+b2", "arch": "amd64"},
    ]


@pytest.mark.skipif(not Path("/var/lib/dpkg/status").exists(), reason="not a dpkg system")
def test_dpkg_status_of_this_machine_matches_dpkg_query(probe: ModuleType) -> None:
    items = probe.parse_dpkg_status(Path("/var/lib/dpkg/status").read_text())
    assert len(items) == installed_package_count()


def test_rpm_qa(probe: ModuleType) -> None:
    text = (
        "openssl-libs\t1\t3.0.7\t27.el9\tx86_64\topenssl-3.0.7-27.el9.src.rpm\n"
        "bash\t(none)\t5.1.8\t9.el9\tx86_64\tbash-5.1.8-9.el9.src.rpm\n"
        "gpg-pubkey\t(none)\tfd431d51\t4ae0493b\t(none)\t(none)\n"
        "garbage line\n"
    )
    assert probe.parse_rpm_qa(text) == [
        {
            "name": "openssl-libs",
            "source": "openssl",
            "version": "1:3.0.7-27.el9",
            "arch": "x86_64",
        },
        {"name": "bash", "source": "bash", "version": "5.1.8-9.el9", "arch": "x86_64"},
        {
            "name": "gpg-pubkey",
            "source": "gpg-pubkey",
            "version": "fd431d51-4ae0493b",
            "arch": None,
        },
    ]


def test_apk_installed(probe: ModuleType) -> None:
    text = (
        "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\no:musl\nT:the musl c library\n\n"
        "P:libcrypto3\nV:3.1.4-r5\nA:x86_64\no:openssl\n\n"
    )
    assert probe.parse_apk_installed(text) == [
        {"name": "musl", "source": "musl", "version": "1.2.4-r2", "arch": "x86_64"},
        {"name": "libcrypto3", "source": "openssl", "version": "3.1.4-r5", "arch": "x86_64"},
    ]


# ---------------------------------------------------------------------------------------------
# updates
# ---------------------------------------------------------------------------------------------

APT_SIM = """\
Reading package lists...
Building dependency tree...
The following packages will be upgraded:
  base-files bash libgcrypt20 liblzma5
Inst base-files [12.4+deb12u11] (12.4+deb12u15 Debian:12.15/oldstable [amd64])
Inst libgcrypt20 [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])
Inst liblzma5 [5.4.1-1] (5.4.1-1+deb12u2 Debian-Security:12/oldstable-security [amd64]) []
Inst openssl [3.0.2-0ubuntu1.10] (3.0.2-0ubuntu1.12 Ubuntu:22.04/jammy-updates, Ubuntu:22.04/jammy-security [amd64])
Conf base-files (12.4+deb12u15 Debian:12.15/oldstable [amd64])
"""  # noqa: E501


def test_apt_simulation(probe: ModuleType) -> None:
    pending, security = probe.parse_apt_simulation(APT_SIM)
    assert pending == {
        "base-files": "12.4+deb12u15",
        "libgcrypt20": "1.10.1-3+deb12u1",
        "liblzma5": "5.4.1-1+deb12u2",
        "openssl": "3.0.2-0ubuntu1.12",
    }
    assert security == ["libgcrypt20", "liblzma5", "openssl"]


def test_dnf_outputs(probe: ModuleType) -> None:
    check = (
        "\nopenssl.x86_64     1:3.0.7-18.el9     baseos\n"
        "kernel.x86_64      5.14.0-362.el9     baseos\n"
        "Obsoleting Packages\nfoo.x86_64 1-1 baseos\n"
    )
    assert probe.parse_dnf_check_update(check) == {
        "openssl": "1:3.0.7-18.el9",
        "kernel": "5.14.0-362.el9",
    }
    info = (
        "RHSA-2023:1234 Important/Sec. openssl-libs-1:3.0.7-18.el9.x86_64\n"
        "RHBA-2023:9999 bugfix kernel-5.14.0-362.el9.x86_64\n"
        "ALAS-2023-111 Medium/Sec. openssl-libs-1:3.0.7-19.el9.x86_64\n"
    )
    assert probe.parse_dnf_updateinfo(info) == ["openssl-libs"]
    assert probe.parse_apk_version("Installed:  Available:\nmusl-1.2.4-r1 < 1.2.4-r2\n") == {
        "musl": "1.2.4-r2"
    }


# ---------------------------------------------------------------------------------------------
# PAM, accounts, modprobe, systemd units
# ---------------------------------------------------------------------------------------------


def test_pam_examples(probe: ModuleType) -> None:
    lines = probe.parse_pam(fakeroot.PAM_SSHD)
    assert lines[0] == {
        "type": "@include",
        "control": "",
        "module": "common-auth",
        "args": [],
        "line": 2,
    }
    assert lines[2]["type"] == "session" and lines[2]["module"] == "pam_systemd.so"
    assert lines[3]["control"] == "[success=ok ignore=ignore module_unknown=ignore default=bad]"
    assert lines[3]["args"] == ["close"]
    assert lines[4] == {
        "type": "password",
        "control": "requisite",
        "module": "pam_pwquality.so",
        "args": ["retry=3", "minlen=14"],
        "line": 6,
    }
    auth = probe.parse_pam(fakeroot.PAM_COMMON_AUTH)
    assert [ln["module"] for ln in auth] == [
        "pam_unix.so",
        "pam_deny.so",
        "pam_permit.so",
        "pam_faillock.so",
    ]
    assert auth[3]["args"] == ["preauth", "audit", "deny=5", "unlock_time=900"]


@given(st.text(max_size=300))
def test_pam_never_crashes_and_keeps_modules(probe: ModuleType, text: str) -> None:
    for line in probe.parse_pam(text):
        assert line["module"]
        assert line["type"] == "@include" or line["control"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["auth", "account", "password", "session"]),
            st.sampled_from(
                ["required", "requisite", "sufficient", "optional", "[success=1 default=ignore]"]
            ),
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8),
            st.lists(
                st.text(alphabet="abcdefghijklmnopqrstuvwxyz=0123456789", min_size=1, max_size=6),
                max_size=3,
            ),
        ),
        max_size=8,
    )
)
def test_pam_round_trip(probe: ModuleType, rows: list[tuple[str, str, str, list[str]]]) -> None:
    text = "\n".join(f"{t}\t{c}  pam_{m}.so {' '.join(a)}" for t, c, m, a in rows)
    parsed = probe.parse_pam(text)
    assert [(p["type"], p["control"], p["module"], p["args"]) for p in parsed] == [
        (t, c, f"pam_{m}.so", a) for t, c, m, a in rows
    ]


def test_keyvalue_conf(probe: ModuleType) -> None:
    assert probe.parse_keyvalue_conf("minlen = 14\n# x = 1\nenforce_for_root\n") == {
        "minlen": "14",
        "enforce_for_root": "",
    }


def test_shadow_never_keeps_the_hash(probe: ModuleType) -> None:
    text = fakeroot.SHADOW.format(hash0=fakeroot.SECRET_HASHES[0], hash1=fakeroot.SECRET_HASHES[1])
    parsed = probe.parse_shadow(text)
    assert parsed["root"]["password"] == "set"
    assert parsed["daemon"]["password"] == "locked"
    assert parsed["toor"]["password"] == "locked"
    assert parsed["svc"]["password"] == "locked"
    assert parsed["nopass"]["password"] == "empty"
    assert parsed["alice"]["max_days"] == 90 and parsed["alice"]["inactive_days"] == 30
    assert parsed["toor"]["max_days"] is None
    for h in fakeroot.SECRET_HASHES:
        assert h not in repr(parsed)


def test_passwd_and_group(probe: ModuleType) -> None:
    entries = probe.parse_passwd(fakeroot.PASSWD.format(hash2=fakeroot.SECRET_HASHES[2]))
    by_name = {e["name"]: e for e in entries}
    assert by_name["root"]["password"] == "shadow"
    assert by_name["oldstyle"]["password"] == "set"
    assert fakeroot.SECRET_HASHES[2] not in repr(entries)
    groups = probe.parse_group(fakeroot.GROUP)
    assert {"name": "sudo", "gid": 27, "members": ["alice", "svc"]} in groups
    assert (
        probe.mask_account_line("old:abJnggxhB/yWI:1:1::/:/bin/sh")
        == "old:<withheld>:1:1::/:/bin/sh"
    )
    assert probe.mask_account_line("root:x:0:0:root:/root:/bin/bash").startswith("root:x:")


def test_modprobe_conf(probe: ModuleType) -> None:
    blacklist, install = probe.parse_modprobe_conf(fakeroot.MODPROBE)
    assert blacklist == ["cramfs", "usb_storage"]
    assert install == [("cramfs", "/bin/false"), ("usb_storage", "/bin/true")]


def test_unit_files_and_exec_start(probe: ModuleType) -> None:
    unit = probe.parse_unit_file(fakeroot.SSH_UNIT)
    assert unit["Service"]["ExecStart"] == ["/usr/sbin/sshd -D $SSHD_OPTS"]
    assert unit["Install"]["Alias"] == ["sshd.service"]
    assert probe.exec_start_binary("-/usr/sbin/sshd -D") == "/usr/sbin/sshd"
    assert probe.exec_start_binary("@/usr/bin/foo foo-name") == "/usr/bin/foo"
    assert probe.exec_start_binary("/usr/bin/env nginx -g x") == "nginx"
    assert probe.exec_start_binary("/bin/sh -c 'exec foo'") is None
    assert probe.exec_start_binary("/usr/bin/python3 /opt/app.py") is None
    assert probe.parse_systemctl_unit_files(
        "ssh.service enabled enabled\ncron.service masked enabled\nfoo.socket enabled -\n"
    ) == {"ssh": "enabled", "cron": "masked"}
    assert probe.parse_systemctl_units(
        "ssh.service loaded active running OpenBSD Secure Shell server\n"
        "cron.service loaded inactive dead Regular background program processing daemon\n"
    ) == {"ssh": "active", "cron": "inactive"}


def test_os_release_and_family(probe: ModuleType) -> None:
    rel = probe.parse_os_release(
        'NAME="Amazon Linux"\nVERSION_ID="2023"\nID="amzn"\nID_LIKE="fedora"\n'
        'PRETTY_NAME=\'Amazon Linux 2023\'\nX="a \\"q\\""\n'
    )
    assert rel["ID"] == "amzn" and rel["VERSION_ID"] == "2023"
    assert rel["PRETTY_NAME"] == "Amazon Linux 2023"
    assert rel["X"] == 'a "q"'
    assert probe.os_family("amzn", ["fedora"]) == "rhel"
    assert probe.os_family("ubuntu", ["debian"]) == "debian"
    assert probe.os_family("opensuse-leap", ["suse", "opensuse"]) == "suse"
    assert probe.os_family("alpine", []) == "alpine"
    assert probe.os_family("gentoo", []) == "unknown"


def test_secret_line_detection(probe: ModuleType) -> None:
    for h in fakeroot.SECRET_HASHES[:2]:
        assert probe.crypt_like(f"root:{h}:1:::")
    assert probe.crypt_like("-----BEGIN RSA PRIVATE KEY-----")
    assert not probe.crypt_like("PermitRootLogin no")
    assert not probe.crypt_like("PATH=$PATH:/usr/bin")


@settings(max_examples=50)
@given(st.text(max_size=400))
def test_parsers_never_crash(probe: ModuleType, text: str) -> None:
    probe.parse_sshd_t(text)
    probe.parse_sysctl_conf(text, "f")
    probe.parse_login_defs(text)
    probe.parse_proc_mounts(text)
    probe.parse_fstab(text)
    probe.parse_dpkg_status(text)
    probe.parse_apk_installed(text)
    probe.parse_passwd(text)
    probe.parse_shadow(text)
    probe.parse_group(text)
    probe.parse_modprobe_conf(text)
    probe.parse_apt_simulation(text)
    probe.parse_unit_file(text)
    probe.parse_keyvalue_conf(text)
    probe.parse_proc_net(text, "tcp")
    probe.parse_limits_conf(text)
    probe.parse_rsyslog_conf(text)


_KEY = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij", min_size=1, max_size=10)
_VALUE = st.text(alphabet="abcdefghij0123456789-_/ ", max_size=12).map(str.strip)


@given(st.lists(st.tuples(st.sampled_from(["Journal", "Other"]), _KEY, _VALUE,
                          st.sampled_from(["", " ", "  "])), max_size=30))
def test_systemd_conf_last_assignment_of_the_section_wins(
        probe: ModuleType,
        items: list[tuple[str, str, str, str]]) -> None:
    lines, expected = ["# generated"], {}
    for number, (section, key, value, pad) in enumerate(items):
        lines.append(f"[{section}]")
        lines.append(f"{key}{pad}={pad}{value}")
        if section == "Journal":
            if value:
                expected[key] = (value, 3 * number + 3)  # 3 lines per item, after line 1
            else:
                expected.pop(key, None)  # an empty value resets the key
        lines.append("; a comment" if number % 2 else "")
    assert probe.parse_systemd_conf("\n".join(lines), "Journal") == expected


_DOMAIN = st.sampled_from(["*", "root", "@adm", "%staff", "1000:", "@100:200", "bob"])
_LTYPE = st.sampled_from(["hard", "soft", "-", "HARD", "Soft"])
_ITEM = st.sampled_from(["core", "nofile", "CORE", "maxlogins"])
_LVALUE = st.sampled_from(["0", "1024", "unlimited", "Infinity", "-1"])
_BLANK = st.sampled_from([" ", "\t", "  \t "])


@given(st.lists(st.one_of(
    st.tuples(_DOMAIN, _LTYPE, _ITEM, _LVALUE, _BLANK, st.booleans()),
    st.tuples(_DOMAIN, st.just("-"), st.just(""), st.just(""), _BLANK, st.booleans()),
    st.sampled_from(["", "# * hard core 0", "   ", "bob hard core", "*"])), max_size=25))
def test_limits_conf_entries_as_pam_limits_reads_them(probe: ModuleType, lines: list[Any]) -> None:
    """Four fields (more are ignored, after a comment too) make an entry; "<domain> -" lifts
    all limits; anything else is skipped. Type, item and value are case-insensitive."""
    text, expected = [], []
    for number, line in enumerate(lines, 1):
        if isinstance(line, str):
            text.append(line)
            continue
        domain, ltype, item, value, gap, extra = line
        if not item:  # a no-limits line
            text.append(f"{gap}{domain}{gap}-")
            expected.append((domain, "-", "", "", number))
            continue
        tail = f"{gap}ignored # {domain} hard core 0" if extra else ""
        text.append(gap.join([domain, ltype, item, value]) + tail)
        expected.append((domain, ltype.lower(), item.lower(), value.lower(), number))
    assert probe.parse_limits_conf("\n".join(text)) == expected


RSYSLOG = """\
# $FileCreateMode 0666 in a comment
$FileCreateMode 0640 # trailing comment
$IncludeConfig /etc/rsyslog.d/*.conf
module(load="imtcp") # network
/* a block comment
$FileCreateMode 0666
module(load="imudp") */
module(load="builtin:omfile"
       fileCreateMode="0600" dirCreateMode=0700)
action(type="omfile" file="/var/log/a#b" template="x(y)") action(type="omfwd" target="z")
*.* /var/log/syslog
  $ModLoad imudp
"""


def test_rsyslog_statements_legacy_and_rainerscript(probe: ModuleType) -> None:
    assert probe.parse_rsyslog_conf(RSYSLOG) == [
        ("legacy", "$filecreatemode", {"value": "0640"}, 2),
        ("legacy", "$includeconfig", {"value": "/etc/rsyslog.d/*.conf"}, 3),
        ("module", "", {"load": "imtcp"}, 4),
        ("module", "", {"load": "builtin:omfile", "filecreatemode": "0600",
                        "dircreatemode": "0700"}, 8),
        ("action", "", {"type": "omfile", "file": "/var/log/a#b", "template": "x(y)"}, 10),
        ("action", "", {"type": "omfwd", "target": "z"}, 10),
        ("legacy", "$modload", {"value": "imudp"}, 12),
    ]


_RS_PIECE = st.one_of(
    st.tuples(st.just("legacy"), st.sampled_from(["FileCreateMode 0640", "ModLoad imtcp",
                                                  "IncludeConfig /etc/rsyslog.d/*.conf"])),
    st.tuples(st.just("module"), st.sampled_from(["imudp", "builtin:omfile", "a#b", "c/*d"])),
    st.tuples(st.just("comment"), st.sampled_from(["# $FileCreateMode 0666",
                                                   "/* module(load=\"imtcp\")\n$X 1 */",
                                                   "   "])),
)


@given(st.lists(st.tuples(_RS_PIECE, st.booleans()), max_size=12))
def test_rsyslog_statements_found_where_they_stand(probe: ModuleType, pieces: list[Any]) -> None:
    """Legacy directives and module() statements (split over lines or not, with '#' and '/*'
    inside quotes) are found with their lines; nothing inside a comment is."""
    text: list[str] = []
    expected = []
    for (kind, body), split in pieces:
        line = len(text) + 1
        if kind == "legacy":
            name, value = body.split(" ", 1)
            text.append(f"${name} {value}")
            expected.append(("legacy", f"${name.lower()}", {"value": value}, line))
        elif kind == "module":
            sep = "\n   " if split else " "
            text.extend(f'module(load="{body}"{sep}x="1") # done'.split("\n"))
            expected.append(("module", "", {"load": body, "x": "1"}, line))
        else:
            text.extend(body.split("\n"))
    joined = "\n".join(text) + "\n"
    assert probe.parse_rsyslog_conf(joined) == expected
    stripped = probe.strip_rsyslog_comments(joined)
    assert len(stripped) == len(joined) and stripped.count("\n") == joined.count("\n")
