"""sshd Match blocks: finding them in sshd's debug output, building a connection each one
selects, and reading sshd's verdict on it."""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

#: stderr of a real ``sshd -T -ddd -C user=bob,host=x,addr=10.1.2.3`` (OpenSSH 9.2) on a
#: config with ``Match Address 10.0.0.0/8`` in an included file and ``Match User bob`` after it
DEBUG = """\
debug2: load_server_config: filename /tmp/sshtest/sshd_config
debug3: checking syntax for 'Match Address 10.0.0.0/8'
debug3: /tmp/sshtest/conf.d/20-b.conf:1 setting MaxAuthTries 3
debug3: checking syntax for 'Match User bob'
debug1: sshd version OpenSSH_9.2, OpenSSL 3.0.19 27 Jan 2026
debug2: parse_server_config_depth: config reprocess config len 131
debug3: checking match for 'Address 10.0.0.0/8' user bob host x addr 10.1.2.3 laddr (null) lport 0
debug1: connection from 10.1.2.3 matched 'Address 10.0.0.0/8' at line 1
debug3: match found
debug3: checking match for 'User bob' user bob host x addr 10.1.2.3 laddr (null) lport 0
debug3: match not found
"""

PASSWD = [{"name": "root", "uid": 0, "gid": 0}, {"name": "alice", "uid": 1000, "gid": 1000},
          {"name": "bob", "uid": 1001, "gid": 1001}]
GROUPS = [{"name": "root", "gid": 0, "members": []}, {"name": "alice", "gid": 1000, "members": []},
          {"name": "admins", "gid": 2000, "members": ["bob"]},
          {"name": "empty", "gid": 2001, "members": []}]


def test_blocks_in_the_order_sshd_reads_them(probe: ModuleType) -> None:
    assert probe.sshd_match_blocks(DEBUG) == ["Address 10.0.0.0/8", "User bob"]
    assert probe.sshd_match_blocks("debug1: sshd version OpenSSH_9.2\n") == []


def test_whether_sshd_selected_a_block(probe: ModuleType) -> None:
    assert probe.sshd_block_selected(DEBUG, "Address 10.0.0.0/8", 0) is True
    assert probe.sshd_block_selected(DEBUG, "User bob", 0) is False
    # a second block with the same criteria, or one sshd never evaluated: unknown
    assert probe.sshd_block_selected(DEBUG, "User bob", 1) is None
    assert probe.sshd_block_selected(DEBUG, "Host x", 0) is None


@pytest.mark.parametrize(("criteria", "spec"), [
    ("All", "user=root"),
    ("User bob", "user=bob"),
    ("user web*,!webadmin", "user=webx"),
    ("Address 10.0.0.0/8", "user=root,addr=10.0.0.0"),
    ("Address 192.168.1.*", "user=root,addr=192.168.1.1"),
    ("Address !10.0.0.0/8", "user=root,addr=192.0.2.1"),  # never asked: sshd_block_inert
    ("Address 2001:db8:1::/48", "user=root,addr=2001:db8:1::"),
    ("Host *.example.com LocalPort 2222", "user=root,host=x.example.com,lport=2222"),
    ("LocalAddress 10.1.1.1 RDomain blue", "user=root,laddr=10.1.1.1,rdomain=blue"),
    ("Group admins", "user=bob"),
    ("Group alice", "user=alice"),  # primary group
    ('User "bob" Group admins Address 172.16.0.0/12', "user=bob,addr=172.16.0.0"),
])
def test_connection_a_block_selects(probe: ModuleType, criteria: str, spec: str) -> None:
    assert probe.sshd_match_connection(criteria, PASSWD, GROUPS) == (spec, None)


@pytest.mark.parametrize(("criteria", "reason"), [
    ("Group empty", "no account is in group empty"),
    ("Group admins User alice", "no account is in group admins and matches user alice"),
    ("User root,!root", "no user is selected by 'root,!root'"),
    ("Address 10.0.0.0/8,!10.0.0.0/9", "no address is selected by '10.0.0.0/8,!10.0.0.0/9'"),
    ("LocalPort any", "no port is selected by 'any'"),
    ("User", "criterion 'user' has no value"),
    ("Invalid-User", "criterion 'invalid-user' has no value"),
    ("Tag x", "criterion 'tag' is not one the probe can build a connection for"),
])
def test_blocks_the_probe_cannot_build_a_connection_for(
    probe: ModuleType, criteria: str, reason: str
) -> None:
    assert probe.sshd_match_connection(criteria, PASSWD, GROUPS) == (None, reason)


@pytest.mark.parametrize(("criteria", "inert"), [
    ("Address !10.0.0.0/8", "address '!10.0.0.0/8'"),
    ("User !root,!admin", "user '!root,!admin'"),
    ("User bob Host !*.example.com", "host '!*.example.com'"),
    ("LocalPort !22", "localport '!22'"),
    ("User root,!admin", None),
    ("Address 10.0.0.0/8,!10.9.0.0/16", None),
    ("All", None),
    ("Group admins", None),
])
def test_a_block_with_only_negations_never_applies(
    probe: ModuleType, criteria: str, inert: str | None
) -> None:
    why = probe.sshd_block_inert(criteria)
    if inert is None:
        assert why is None
    else:
        word, patterns = inert.split(" ", 1)
        assert why == (f"the {word} list {patterns} has only negated patterns: sshd never "
                       "selects a connection with it, so the block never applies")


_word = st.text(alphabet="abcdefghij-", min_size=1, max_size=8)
_pattern = st.lists(st.sampled_from("abc*?"), min_size=1, max_size=6).map("".join)


@given(users=st.lists(_pattern, min_size=1, max_size=3), hosts=st.lists(_pattern, min_size=1,
       max_size=3), net=st.tuples(st.integers(0, 2**32 - 1), st.integers(8, 32)),
       port=st.integers(1, 65535))
def test_the_connection_built_matches_every_criterion(
    probe: ModuleType, users: list[str], hosts: list[str], net: tuple[int, int], port: int
) -> None:
    cidr = ipaddress.ip_network((net[0], net[1]), strict=False)
    criteria = (f"User {','.join(users)} Host {','.join(hosts)} Address {cidr} "
                f"LocalPort {port}")
    spec, why = probe.sshd_match_connection(criteria, PASSWD, GROUPS)
    assert why is None and spec is not None
    fields = dict(kv.split("=", 1) for kv in spec.split(","))
    assert any(fnmatch.fnmatchcase(fields["user"], u) for u in users)
    assert any(fnmatch.fnmatchcase(fields["host"], h) for h in hosts)
    assert ipaddress.ip_address(fields["addr"]) in cidr
    assert fields["lport"] == str(port)


@given(allowed=_word, refused=st.lists(_word, max_size=3))
def test_a_name_is_never_one_the_block_negates(
    probe: ModuleType, allowed: str, refused: list[str]
) -> None:
    patterns = [allowed, *(f"!{r}" for r in refused)]
    spec, why = probe.sshd_match_connection(f"User {','.join(patterns)}", PASSWD, GROUPS)
    if allowed in refused:
        assert spec is None and why
    else:
        assert spec == f"user={allowed}"


SSHD = shutil.which("sshd", path="/usr/sbin:/usr/local/sbin:/sbin")


@pytest.mark.skipif(SSHD is None or os.geteuid() != 0, reason="needs root and openssh-server")
def test_real_sshd_selects_the_connections_built(probe: ModuleType, tmp_path: Path) -> None:
    """Against the machine's own sshd binary (a config of our own, private /run): every block
    the probe can build a connection for is selected by sshd for that connection."""
    conf = tmp_path / "sshd_config"
    (tmp_path / "d").mkdir()
    (tmp_path / "d/10.conf").write_text("Match Address 10.0.0.0/8,!10.9.0.0/16\n"
                                        "    PermitRootLogin yes\n")
    conf.write_text(f"PermitRootLogin no\nInclude {tmp_path}/d/*.conf\nX11Forwarding no\n"
                    "Match User deploy Host *.example.com\n    X11Forwarding yes\n"
                    "Match Group root Address 192.0.2.0/24\n    MaxAuthTries 2\n")
    script = ('mount -t tmpfs -o size=64k tmpfs /run && mkdir -m 0755 /run/sshd && '
              'exec "$@"')

    def sshd_t(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "--",
                               "/bin/sh", "-c", script, "sh", str(SSHD), "-T", "-ddd", "-f",
                               str(conf), *args], capture_output=True, text=True, check=True)

    blocks = probe.sshd_match_blocks(sshd_t().stderr)
    assert blocks == ["Address 10.0.0.0/8,!10.9.0.0/16", "User deploy Host *.example.com",
                      "Group root Address 192.0.2.0/24"]
    passwd = probe.parse_passwd(Path("/etc/passwd").read_text())
    groups = probe.parse_group(Path("/etc/group").read_text())
    wanted = {0: ("permitrootlogin", "yes"), 1: ("x11forwarding", "yes"),
              2: ("maxauthtries", "2")}
    for i, criteria in enumerate(blocks):
        spec, why = probe.sshd_match_connection(criteria, passwd, groups)
        assert spec is not None, why
        run = sshd_t("-C", spec)
        assert probe.sshd_block_selected(run.stderr, criteria, 0) is True, (criteria, spec)
        key, value = wanted[i]
        assert probe.parse_sshd_t(run.stdout)[key] == [value]
    # the global configuration is what no block changes
    assert probe.parse_sshd_t(sshd_t().stdout)["permitrootlogin"] == ["no"]


@pytest.mark.skipif(SSHD is None or os.geteuid() != 0, reason="needs root and openssh-server")
def test_real_sshd_never_applies_a_block_with_only_negations(
    probe: ModuleType, tmp_path: Path
) -> None:
    """What sshd_block_inert claims, asked of the machine's sshd: a block whose address list
    holds only negations is selected neither for an address it negates nor for any other."""
    conf = tmp_path / "sshd_config"
    conf.write_text("PermitRootLogin no\nMatch Address !10.0.0.0/8\n    PermitRootLogin yes\n"
                    "Match User !root\n    MaxAuthTries 2\n")
    script = ('mount -t tmpfs -o size=64k tmpfs /run && mkdir -m 0755 /run/sshd && '
              'exec "$@"')
    blocks = ["Address !10.0.0.0/8", "User !root"]
    assert all(probe.sshd_block_inert(b) for b in blocks)
    for spec in ("user=root,addr=10.1.2.3", "user=root,addr=192.0.2.1",
                 "user=nobody,addr=2001:db8::1", "user=bob,addr=127.0.0.1"):
        run = subprocess.run(["unshare", "--mount", "--propagation", "private", "--",
                              "/bin/sh", "-c", script, "sh", str(SSHD), "-T", "-ddd", "-f",
                              str(conf), "-C", spec], capture_output=True, text=True,
                             check=True)
        assert probe.sshd_match_blocks(run.stderr) == blocks
        for criteria in blocks:
            assert probe.sshd_block_selected(run.stderr, criteria, 0) is False, (criteria, spec)
        config = probe.parse_sshd_t(run.stdout)
        assert (config["permitrootlogin"], config["maxauthtries"]) == (["no"], ["6"])


@pytest.mark.parametrize(("blocks", "port"), [
    (["User bob", "Address 10.0.0.0/8"], None),  # no LocalPort block: sshd needs no port
    (["LocalPort 2222"], "22"),
    (["LocalPort 22,2222", "User bob LocalPort 65535"], "65534"),
    (["LocalPort !22"], "22"),
    (["LocalPort *"], None),
])
def test_a_port_no_localport_block_selects(
    probe: ModuleType, blocks: list[str], port: str | None
) -> None:
    assert probe.sshd_unselected_port(blocks) == port
