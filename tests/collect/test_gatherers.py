"""Each fact gatherer against a fake host tree (the probe's ``root`` prefix)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from inspectorctl.models.snapshot import FACT_NAMES, HostSnapshot
from inspectorctl.probe.bundle import shipped_probe
from tests.collect import fakeroot

ALL_FACTS = sorted(FACT_NAMES)


@pytest.fixture(autouse=True)
def _no_imds(probe: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """Belt and braces: the metadata service must never be contacted from tests."""

    def refuse(*args: Any) -> Any:
        raise AssertionError("IMDS contacted from a test")

    monkeypatch.setattr(probe, "_imds_request", refuse)
    monkeypatch.setenv("INSPECTORCTL_PROBE_NO_IMDS", "1")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return fakeroot.build(tmp_path / "root")


def run(probe: ModuleType, root: Path, **request: Any) -> dict[str, Any]:
    out: dict[str, Any] = probe.run_probe(request, root=str(root))
    HostSnapshot.model_validate(out)  # every result honours the contract
    return out


def test_os(probe: ModuleType, root: Path) -> None:
    snap = run(probe, root, facts=["os"])
    os_ = snap["os"]
    assert os_["id"] == "debian" and os_["family"] == "debian" and os_["version_id"] == "12"
    assert os_["kernel"] == os.uname().release
    assert os_["systemd_running"] is False
    assert snap["host"]["hostname"] == "fakehost"
    assert snap["host"]["machine_id"] == "0123456789abcdef0123456789abcdef"
    assert snap["requested"] == ["os"] and snap["unknown"] == {}
    assert "packages" not in snap  # only what was asked for


def test_packages(probe: ModuleType, root: Path) -> None:
    pk = run(probe, root, facts=["packages"])["packages"]
    assert pk["manager"] == "dpkg"
    assert [(p["name"], p["source"], p["version"]) for p in pk["items"]] == [
        ("openssh-server", "openssh", "1:9.2p1-2+deb12u3"),
        ("libc6", "glibc", "2.36-9+deb12u4"),
        ("bash", "bash", "5.2.15-2+b2"),
    ]


def test_services_without_systemd(probe: ModuleType, root: Path) -> None:
    sv = run(probe, root, facts=["services"])["services"]
    assert sv["manager"] == "systemd"
    items = sv["items"]
    ssh = items["ssh"]
    assert (ssh["unit_file_state"], ssh["enabled"], ssh["active"], ssh["active_source"]) == (
        "enabled",
        True,
        True,
        "process",
    )
    assert items["sshd"]["unit_file_state"] == "alias"
    assert items["sshd"]["enabled"] is True and items["sshd"]["active"] is True
    cron = items["cron"]
    assert (cron["unit_file_state"], cron["enabled"], cron["active"]) == ("disabled", False, False)
    # masked, but its process runs: the mask does not hide that
    rsync = items["rsync"]
    assert (rsync["unit_file_state"], rsync["enabled"], rsync["active"]) == ("masked", False, True)
    # a oneshot shell one-liner without a process: cannot tell, never a guess
    setup = items["setup"]
    assert (setup["unit_file_state"], setup["enabled"], setup["active"]) == ("static", False, None)
    assert setup["active_source"] == "unknown"


def test_sshd(probe: ModuleType, root: Path) -> None:
    sshd = run(probe, root, facts=["sshd"])["sshd"]
    assert sshd["installed"] is True and sshd["error"] is None
    assert sshd["config"]["permitrootlogin"] == ["without-password"]
    assert sshd["config"]["hostkey"] == [
        "/etc/ssh/ssh_host_rsa_key",
        "/etc/ssh/ssh_host_ed25519_key",
    ]


def test_sshd_failure_is_recorded(probe: ModuleType, root: Path) -> None:
    fakeroot.w(
        root,
        "usr/sbin/sshd",
        "#!/bin/sh\necho 'sshd: no hostkeys available -- exiting.' >&2\nexit 1\n",
        0o755,
    )
    sshd = run(probe, root, facts=["sshd"])["sshd"]
    assert sshd["installed"] is True and sshd["config"] == {}
    assert "no hostkeys available" in sshd["error"]
    (root / "usr/sbin/sshd").unlink()
    assert run(probe, root, facts=["sshd"])["sshd"] == {
        "installed": False, "config": {}, "error": None, "matches": []
    }


def test_sysctl(probe: ModuleType, root: Path) -> None:
    sc = run(
        probe,
        root,
        facts=["sysctl"],
        sysctl_keys=[
            "net.ipv4.ip_forward",
            "net/ipv4/tcp_rmem",
            "net.ipv4.conf.all.rp_filter",
            "fs.nope",
        ],
    )["sysctl"]
    assert sc["runtime"] == {
        "net.ipv4.ip_forward": "0",
        "net.ipv4.tcp_rmem": "4096 131072 6291456",
        "net.ipv4.conf.all.rp_filter": "2",
    }
    assert sc["missing"] == ["fs.nope"]
    conf = sc["configured"]
    # /etc/sysctl.d/50-default.conf masks /usr/lib/sysctl.d/50-default.conf; order by basename;
    # /etc/sysctl.conf last
    assert conf["net.ipv4.ip_forward"] == [
        {"file": "/usr/lib/sysctl.d/99-late.conf", "line": 1, "value": "0"},
        {"file": "/etc/sysctl.conf", "line": 2, "value": "0"},
    ]
    assert conf["kernel.sysrq"] == [
        {"file": "/etc/sysctl.d/50-default.conf", "line": 2, "value": "0"}
    ]
    assert conf["net.ipv4.conf.all.rp_filter"] == [
        {"file": "/run/sysctl.d/10-run.conf", "line": 1, "value": "1"}
    ]
    assert "not an assignment" in sc["errors"]["/run/sysctl.d/10-run.conf"]


def test_sysctl_conf_read_once_through_symlink(probe: ModuleType, root: Path) -> None:
    fakeroot.link(root, "etc/sysctl.d/99-sysctl.conf", "../sysctl.conf")
    conf = run(probe, root, facts=["sysctl"])["sysctl"]["configured"]
    assert [s["file"] for s in conf["net.ipv4.tcp_syncookies"]] == ["/etc/sysctl.d/99-sysctl.conf"]


def test_files(probe: ModuleType, root: Path) -> None:
    files = run(
        probe,
        root,
        facts=["files"],
        files=[
            {"path": "/etc/passwd", "sha256": True, "patterns": ["^root:", "^nomatch"]},
            {"path": "/etc/ssh/sshd_config", "patterns": [r"^\s*PermitRootLogin", "[invalid"]},
            {"path": "/etc/systemd/system/sshd.service", "sha256": True},
            {"path": "/etc/nothing"},
            {"path": "/srv/data"},
            {"path": "relative/path"},
        ],
    )["files"]
    pw = files["/etc/passwd"]
    data = (root / "etc/passwd").read_bytes()
    assert pw["exists"] and pw["type"] == "file" and pw["mode"] == 0o644
    assert pw["uid"] == os.getuid() and pw["size"] == len(data)
    assert pw["sha256"] == hashlib.sha256(data).hexdigest()
    assert pw["matches"] == {"^root:": ["root:x:0:0:root:/root:/bin/bash"], "^nomatch": []}
    cfg = files["/etc/ssh/sshd_config"]
    assert cfg["matches"] == {r"^\s*PermitRootLogin": ["PermitRootLogin no"]}
    assert "invalid pattern '[invalid'" in cfg["error"]
    # a link reports the target's metadata, resolved inside the root
    link = files["/etc/systemd/system/sshd.service"]
    unit = (root / "lib/systemd/system/ssh.service").read_bytes()
    assert link["type"] == "link" and link["size"] == len(unit)
    assert link["sha256"] == hashlib.sha256(unit).hexdigest()
    assert files["/etc/nothing"] == {"path": "/etc/nothing", "exists": False}
    assert files["/srv/data"]["type"] == "dir"
    assert files["relative/path"]["error"] == "not an absolute path"


def test_files_owner_names_come_from_the_roots_passwd(probe: ModuleType, root: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to chown")
    p = fakeroot.w(root, "srv/alice.txt", "x")
    os.chown(p, 1000, 27)
    files = run(probe, root, facts=["files"], files=[{"path": "/srv/alice.txt"}])["files"]
    info = files["/srv/alice.txt"]
    assert (info["owner"], info["group"]) == ("alice", "sudo")


def test_files_never_leak_hashes_or_keys(probe: ModuleType, root: Path) -> None:
    out = run(
        probe,
        root,
        facts=["files", "accounts"],
        files=[
            {"path": "/etc/shadow", "sha256": True, "patterns": ["root", "."]},
            {"path": "/etc/backup-of-shadow.txt", "patterns": ["root"]},
            {"path": "/etc/ssh/ssh_host_ed25519_key", "patterns": ["."]},
            {"path": "/etc/passwd", "patterns": ["."]},
        ],
    )
    text = json.dumps(out)
    for secret in fakeroot.SECRET_HASHES:
        assert secret not in text
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in text
    files = out["files"]
    assert "refused" in files["/etc/shadow"]["error"] and "matches" not in files["/etc/shadow"]
    assert files["/etc/shadow"]["sha256"]  # a digest of the file is not a hash of a password
    backup = files["/etc/backup-of-shadow.txt"]
    assert backup["matches"] == {"root": ["plain line root"]}
    assert "1 matching line(s) withheld" in backup["error"]
    assert "private key" in files["/etc/ssh/ssh_host_ed25519_key"]["error"]
    assert (
        "oldstyle:<withheld>:1002:1002::/home/old:/bin/bash" in files["/etc/passwd"]["matches"]["."]
    )


def test_walks(probe: ModuleType, root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    fakeroot.w(outside, "evil-suid", "x", 0o4755)
    fakeroot.link(root, "srv/link-out", str(outside))  # never followed
    fakeroot.link(root, "srv/link-ww", "/srv/data/ww.txt")  # links are not world-writable files
    walks = run(
        probe,
        root,
        facts=["walks"],
        walks=["world_writable", "world_writable_dirs", "suid", "sgid", "unowned", "nonsense"],
    )["walks"]
    assert walks["world_writable"]["paths"] == ["/srv/data/ww.txt"]  # not under proc/ nor nfs
    assert walks["world_writable_dirs"]["paths"] == ["/srv/data/wwdir"]  # tmp-like is sticky
    assert walks["suid"]["paths"] == ["/usr/bin/su-like"]
    assert walks["sgid"]["paths"] == ["/usr/bin/sg-like"]
    assert walks["world_writable"]["truncated"] is False
    assert walks["world_writable"]["scanned"] > 50
    assert (
        walks["nonsense"]["truncated"] is True
        and "unknown walk kind" in walks["nonsense"]["reason"]
    )


def test_walk_unowned(probe: ModuleType, root: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to chown")
    p = fakeroot.w(root, "srv/nobody-owns-me", "x")
    os.chown(p, 4242, 4343)
    q = fakeroot.w(root, "srv/known", "x")
    os.chown(q, 1000, 1000)
    walks = run(probe, root, facts=["walks"], walks=["unowned"])["walks"]
    assert walks["unowned"]["paths"] == ["/srv/nobody-owns-me"]


def test_walk_bounds(probe: ModuleType, root: Path) -> None:
    for i in range(5):
        fakeroot.w(root, f"srv/many/ww{i}", "x", 0o666)
    walks = run(probe, root, facts=["walks"], walks=["world_writable", "suid"], walk_max_results=3)[
        "walks"
    ]
    ww = walks["world_writable"]
    assert len(ww["paths"]) == 3 and ww["truncated"] is True
    assert "walk_max_results=3" in ww["reason"]
    assert walks["suid"]["truncated"] is False  # the walk went on for the other kind
    timed = run(probe, root, facts=["walks"], walks=["suid"], walk_max_seconds=0)["walks"]["suid"]
    assert timed["truncated"] is True and "time limit" in timed["reason"]


def test_mounts(probe: ModuleType, root: Path) -> None:
    m = run(probe, root, facts=["mounts"])["mounts"]
    assert [x["mountpoint"] for x in m["mounts"]] == [
        "/",
        "/proc",
        "/tmp",
        "/mnt/nfs",
        "/mnt/with space",
    ]
    assert m["mounts"][2]["options"] == ["rw", "nosuid", "nodev", "noexec"]
    assert [f["mountpoint"] for f in m["fstab"]] == ["/", "/tmp"]


def test_kernel_modules(probe: ModuleType, root: Path) -> None:
    km = run(
        probe, root, facts=["kernel_modules"], modules=["cramfs", "usb-storage", "squashfs", "ext4"]
    )["kernel_modules"]
    assert km["loaded"] == ["ext4", "usb_storage"]
    assert km["blacklisted"] == ["cramfs", "usb_storage"]
    assert km["install"] == {"cramfs": "/bin/false", "usb_storage": "/bin/true"}
    assert km["available"] == {"cramfs": True, "usb-storage": True, "squashfs": False, "ext4": True}


def test_kernel_modules_without_lib_modules(probe: ModuleType, root: Path) -> None:
    import shutil

    shutil.rmtree(root / "lib/modules")
    km = run(probe, root, facts=["kernel_modules"], modules=["cramfs"])["kernel_modules"]
    assert km["available"] == {"cramfs": None}


def test_accounts(probe: ModuleType, root: Path) -> None:
    acc = run(probe, root, facts=["accounts"])["accounts"]
    by = {a["name"]: a for a in acc["accounts"]}
    assert acc["shadow_readable"] is True and acc["uid_min"] == 1000
    assert [a["name"] for a in acc["accounts"] if a["uid"] == 0] == ["root", "toor"]
    assert by["nopass"]["password"] == "empty"
    assert by["root"]["password"] == "set"
    assert by["toor"]["password"] == "locked"
    assert by["oldstyle"]["password"] == "set"  # hash in /etc/passwd itself
    assert by["orphan"]["password"] == "unknown"  # no shadow line
    assert by["daemon"]["login_shell"] is False and by["sync"]["login_shell"] is False
    assert by["svc"]["login_shell"] is True and by["svc"]["uid"] < acc["uid_min"]
    assert by["alice"]["max_days"] == 90
    assert acc["shadow_only"] == ["ghost"]
    assert acc["passwd_only"] == ["oldstyle", "orphan"]
    assert acc["missing_groups"] == [4242]
    assert acc["duplicate_uids"] == [0]
    assert {"name": "sudo", "gid": 27, "members": ["alice", "svc"]} in acc["groups"]


def test_login_defs_and_pam(probe: ModuleType, root: Path) -> None:
    snap = run(probe, root, facts=["login_defs", "pam"])
    assert snap["login_defs"]["PASS_MAX_DAYS"] == "365"
    pam = snap["pam"]
    assert sorted(pam["services"]) == ["common-auth", "sshd"]
    assert pam["services"]["sshd"][0]["module"] == "common-auth"
    assert pam["pwquality"] == {"minlen": "16", "enforce_for_root": ""}
    assert pam["faillock"] == {"deny": "4", "unlock_time": "600"}
    assert pam["errors"] == {}


def test_sockets(probe: ModuleType, root: Path) -> None:
    socks = run(probe, root, facts=["sockets"])["sockets"]
    assert socks == [
        {"proto": "tcp", "address": "0.0.0.0", "port": 22, "pid": 100, "process": "sshd"},
        {"proto": "tcp", "address": "127.0.0.1", "port": 8080, "pid": None, "process": None},
        {"proto": "tcp6", "address": "::", "port": 22, "pid": 100, "process": "sshd"},
        {"proto": "tcp6", "address": "::1", "port": 631, "pid": None, "process": None},
        {"proto": "udp", "address": "0.0.0.0", "port": 68, "pid": None, "process": None},
    ]


def test_updates_only_for_the_real_root(probe: ModuleType, root: Path) -> None:
    snap = run(probe, root, facts=["updates"])
    assert "updates" not in snap
    assert "real root" in snap["unknown"]["updates"]


def test_cloud_from_dmi_and_cloud_init_without_network(probe: ModuleType, root: Path) -> None:
    assert run(probe, root, facts=["cloud"])["cloud"]["provider"] == "unknown"  # no DMI at all
    fakeroot.w(root, "sys/class/dmi/id/sys_vendor", "Amazon EC2\n")
    fakeroot.w(root, "sys/class/dmi/id/product_name", "t3.micro\n")
    fakeroot.w(root, "sys/class/dmi/id/board_asset_tag", "i-0123456789abcdef0\n")
    cloud = run(probe, root, facts=["cloud"])["cloud"]
    assert cloud["provider"] == "aws" and cloud["instance_id"] == "i-0123456789abcdef0"
    assert cloud["source"] == "dmi"
    assert "not contacted" in cloud["error"]  # a fake root never reaches IMDS
    fakeroot.w(
        root,
        "run/cloud-init/instance-data.json",
        json.dumps({"v1": {"cloud_name": "aws", "instance_id": "i-0fedcba9876543210"}}),
    )
    snap = run(probe, root, facts=["cloud"])
    assert snap["cloud"]["instance_id"] == "i-0fedcba9876543210"
    assert snap["cloud"]["source"] == "cloud-init"
    assert snap["host"]["instance_id"] == "i-0fedcba9876543210"
    fakeroot.w(root, "sys/class/dmi/id/sys_vendor", "QEMU\n")
    (root / "run/cloud-init/instance-data.json").unlink()
    (root / "sys/class/dmi/id/board_asset_tag").unlink()
    assert run(probe, root, facts=["cloud"])["cloud"]["provider"] == "none"


def test_imds_gate_and_token_check(probe: ModuleType, root: Path) -> None:
    fakeroot.w(root, "sys/class/dmi/id/sys_vendor", "Amazon EC2\n")
    calls: list[tuple[str, str, dict[str, str]]] = []

    def fake_imds(method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        calls.append((method, path, headers))
        if method == "PUT":
            return 200, "TOKEN"
        return (200, "i-0aaaabbbbccccdddd") if headers else (401, "")

    ctx = probe.ProbeContext(str(root))
    assert ctx.allow_imds is False
    probe.gather_cloud(ctx, imds=fake_imds)
    assert calls == []  # gated off for a fake root
    ctx.allow_imds = True  # what the real root on an EC2 instance gets
    cloud = probe.gather_cloud(ctx, imds=fake_imds)
    assert cloud["imds_http_tokens"] == "required" and cloud["instance_id"] == "i-0aaaabbbbccccdddd"
    assert [c[0] for c in calls] == ["PUT", "GET", "GET"]
    fakeroot.w(root, "sys/class/dmi/id/sys_vendor", "Dell Inc.\n")
    calls.clear()
    assert probe.gather_cloud(ctx, imds=fake_imds)["provider"] == "none"
    assert calls == []  # only DMI "Amazon EC2" opens the gate


def test_imds_never_contacted_on_this_machine(probe: ModuleType) -> None:
    dmi = probe._read_dmi(probe.ProbeContext("/"))
    if probe.is_ec2_dmi(dmi):
        pytest.skip("this machine is an EC2 instance")
    cloud = probe.gather_cloud(probe.ProbeContext("/"))  # _imds_request raises if called
    assert cloud["provider"] in ("unknown", "none")


def test_every_requested_fact_is_set_or_unknown(probe: ModuleType, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    snap = probe.run_probe({"facts": [*ALL_FACTS, "bogus"]}, root=str(empty))
    for fact in [*ALL_FACTS, "bogus"]:
        assert (fact in snap) != (fact in snap["unknown"]), fact
    assert "not a fact this probe gathers" in snap["unknown"]["bogus"]
    assert snap["unknown"]["accounts"] == "not found: /etc/passwd"
    assert snap["unknown"]["os"].startswith("neither /etc/os-release")
    snap.pop("bogus", None)
    HostSnapshot.model_validate({**snap, "requested": ALL_FACTS})


def test_permission_denied_is_reported_as_not_root(tmp_path: Path) -> None:
    """Run the shipped probe as ``nobody`` against a fake root: shadow is unreadable, so the
    reason says so and nothing is guessed."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to nobody")
    import subprocess
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="inspectorctl-probe-nobody-"))
    try:
        base.chmod(0o755)
        r = fakeroot.build(base / "root")
        program = base / "inspectorctl_probe.py"
        program.write_bytes(shipped_probe().source)
        program.chmod(0o644)
        for d, _, _ in os.walk(r):
            os.chmod(d, os.stat(d).st_mode | 0o755)
        request = {
            "facts": ["accounts", "files"],
            "files": [{"path": "/etc/shadow", "sha256": True}],
        }
        proc = subprocess.run(
            ["/usr/bin/python3", str(program), "--root", str(r)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            user="nobody",
            group="nogroup",
            extra_groups=[],
            check=True,
            env={"PATH": "/usr/bin:/bin", "INSPECTORCTL_PROBE_NO_IMDS": "1"},
        )
        snap = json.loads(proc.stdout)
        assert snap["probe_uid"] != 0
        assert snap["accounts"]["shadow_readable"] is False
        assert {a["password"] for a in snap["accounts"]["accounts"] if a["name"] != "oldstyle"} == {
            "unknown"
        }
        assert snap["files"]["/etc/shadow"]["error"] == "permission denied: /etc/shadow (not root)"
        assert snap["files"]["/etc/shadow"]["mode"] == 0o640
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def test_systemd_conf_reads_drop_ins_as_systemd_does(probe: ModuleType, root: Path) -> None:
    fakeroot.w(root, "etc/systemd/journald.conf",
               "[Journal]\n#Storage=auto\nStorage=persistent\nCompress=no\n")
    # the packaged drop-in is masked by the admin's file of the same name in /etc
    fakeroot.w(root, "usr/lib/systemd/journald.conf.d/20-vendor.conf",
               "[Journal]\nStorage=volatile\n")
    fakeroot.w(root, "etc/systemd/journald.conf.d/20-vendor.conf", "[Journal]\nCompress=yes\n")
    # sorted by name across directories: 10 (from /usr/lib) applies before 20, 90 after
    fakeroot.w(root, "usr/lib/systemd/journald.conf.d/10-early.conf",
               "[Journal]\nStorage=none\n")
    fakeroot.w(root, "run/systemd/journald.conf.d/90-late.conf",
               "# runtime override\n[Journal]\nStorage=\\\n  volatile\n[Other]\nCompress=no\n")
    fakeroot.w(root, "etc/systemd/journald.conf.d/README", "[Journal]\nStorage=auto\n")
    conf = run(probe, root, facts=["systemd_conf"])["systemd_conf"]
    assert conf["journald"] == {
        "files": ["/etc/systemd/journald.conf",
                  "/usr/lib/systemd/journald.conf.d/10-early.conf",
                  "/etc/systemd/journald.conf.d/20-vendor.conf",
                  "/run/systemd/journald.conf.d/90-late.conf"],
        "values": {
            "Storage": {"value": "volatile", "file": "/run/systemd/journald.conf.d/90-late.conf",
                        "line": 3},
            "Compress": {"value": "yes", "file": "/etc/systemd/journald.conf.d/20-vendor.conf",
                         "line": 2},
        },
        "errors": {},
    }
    # no coredump.conf anywhere: nothing read, nothing set
    assert conf["coredump"] == {"files": [], "values": {}, "errors": {}}


def test_limits_in_pam_limits_order(probe: ModuleType, root: Path) -> None:
    fakeroot.w(root, "etc/security/limits.conf",
               "# <domain> <type> <item> <value>\n*  hard  core  0\n@dev - nofile 4096 # x\n")
    # limits.d: *.conf only, sorted by name (C order: upper case first)
    fakeroot.w(root, "etc/security/limits.d/90-late.conf", "*\tHARD\tCore\tUnlimited\n")
    fakeroot.w(root, "etc/security/limits.d/10-early.conf", "bob -\n")
    fakeroot.w(root, "etc/security/limits.d/Z.conf", "root hard core 0\n")
    fakeroot.w(root, "etc/security/limits.d/README", "* hard core 1\n")
    fakeroot.w(root, "etc/security/limits.d/50.conf.dpkg-old", "* hard core 2\n")
    got = run(probe, root, facts=["limits"])["limits"]
    d = "/etc/security/limits.d/"
    assert got["files"] == ["/etc/security/limits.conf", d + "10-early.conf",
                            d + "90-late.conf", d + "Z.conf"]
    assert [(e["domain"], e["type"], e["item"], e["value"], e["file"], e["line"])
            for e in got["entries"]] == [
        ("*", "hard", "core", "0", "/etc/security/limits.conf", 2),
        ("@dev", "-", "nofile", "4096", "/etc/security/limits.conf", 3),
        ("bob", "-", "", "", d + "10-early.conf", 1),
        ("*", "hard", "core", "unlimited", d + "90-late.conf", 1),
        ("root", "hard", "core", "0", d + "Z.conf", 1)]
    assert got["errors"] == {}


def test_limits_without_any_file(probe: ModuleType, root: Path) -> None:
    limits = run(probe, root, facts=["limits"])["limits"]
    assert limits == {"files": [], "entries": [], "errors": {}}


def test_rsyslog_includes_followed_where_they_stand(probe: ModuleType, root: Path) -> None:
    fakeroot.w(root, "etc/rsyslog.conf",
               "$FileCreateMode 0640\n$IncludeConfig /etc/rsyslog.d/*.conf\n"
               "include(file=\"/etc/rsyslog.extra/\")\n*.* /var/log/syslog\n")
    fakeroot.w(root, "etc/rsyslog.d/20-net.conf",
               'module(load="imtcp")\ninput(type="imtcp" port="514")\n$UDPServerRun 514\n')
    fakeroot.w(root, "etc/rsyslog.d/10-mode.conf", "$FileCreateMode 0644\n"
               "$IncludeConfig /etc/rsyslog.d/10-mode.conf\n")  # includes itself: read once
    fakeroot.w(root, "etc/rsyslog.d/README", "$ModLoad imudp\n")  # not a *.conf
    fakeroot.w(root, "etc/rsyslog.extra/a", 'action(type="omfile" file="/var/log/a")\n'
               'action(type="omfile" file="/var/log/b" fileCreateMode="0600")\n')
    got = run(probe, root, facts=["rsyslog"])["rsyslog"]
    assert got["files"] == ["/etc/rsyslog.conf", "/etc/rsyslog.d/10-mode.conf",
                            "/etc/rsyslog.d/20-net.conf", "/etc/rsyslog.extra/a"]
    assert got["errors"] == {}
    assert [(m["set_by"], m["value"], m["file"], m["line"])
            for m in got["file_create_modes"]] == [
        ("$FileCreateMode", "0640", "/etc/rsyslog.conf", 1),
        ("$FileCreateMode", "0644", "/etc/rsyslog.d/10-mode.conf", 1),
        ("action(omfile)", "0600", "/etc/rsyslog.extra/a", 2)]
    assert got["default_mode_actions"] == [{"file": "/etc/rsyslog.extra/a", "line": 1}]
    assert [(i["how"], i["module"], i["line"]) for i in got["remote_inputs"]] == [
        ("module()", "imtcp", 1), ("input()", "imtcp", 2), ("$UDPServerRun", "imudp", 3)]


def test_rsyslog_not_installed(probe: ModuleType, root: Path) -> None:
    assert run(probe, root, facts=["rsyslog"])["rsyslog"]["files"] == []


def test_systemd_conf_main_file_falls_back_to_usr_lib(probe: ModuleType, root: Path) -> None:
    fakeroot.w(root, "usr/lib/systemd/coredump.conf", "[Coredump]\nStorage=none\n")
    conf = run(probe, root, facts=["systemd_conf"])["systemd_conf"]["coredump"]
    assert conf["files"] == ["/usr/lib/systemd/coredump.conf"]
    assert conf["values"]["Storage"]["value"] == "none"
