"""A fake host tree for the probe's ``root`` prefix: etc/, var/lib/dpkg, proc/, sys/ ..."""

from __future__ import annotations

import os
from pathlib import Path

#: hashes that must never show up in probe output
SECRET_HASHES = (
    "$6$rounds=5000$saltsalt$Jq9QvQ3y2Hk1n0bS8vYb8x6fQ0nq6n1vU6eG7qk0yq8Y2gqk3YQ6m1QK8x1b2c3d4e5f"
    "6g7h8i9",
    "$y$j9T$F5Jx5fExrKuJdvCMsXkXa1$Pr6nY4mP8dV0tQyUeR2kBmZ7cL3sW9aH1gD5fJ2xN0",
    "abJnggxhB/yWI",  # an old DES crypt: no $ marker at all
)

OS_RELEASE = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
ID=debian
HOME_URL="https://www.debian.org/"
"""

PASSWD = """\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
toor:x:0:0:second root:/root:/bin/sh
sync:x:4:65534:sync:/bin:/bin/sync
svc:x:120:120:service with a shell:/srv:/bin/bash
alice:x:1000:1000:Alice:/home/alice:/bin/bash
nopass:x:1001:1001::/home/nopass:/bin/bash
oldstyle:{hash2}:1002:1002::/home/old:/bin/bash
orphan:x:1003:4242::/home/orphan:/bin/bash
"""

SHADOW = """\
root:{hash0}:19700:0:99999:7:::
daemon:*:19700:0:99999:7:::
toor:!{hash1}:19700::::::
sync:*:19700:0:99999:7:::
svc:!!:19700:0:99999:7:::
alice:{hash1}:19800:1:90:14:30::
nopass::19800:0:99999:7:::
ghost:*:19800:0:99999:7:::
"""

GROUP = """\
root:x:0:
daemon:x:1:
svc:x:120:
alice:x:1000:alice
nopass:x:1001:
oldstyle:x:1002:
sudo:x:27:alice,svc
nogroup:x:65534:
"""

LOGIN_DEFS = """\
# comment
MAIL_DIR        /var/mail
PASS_MAX_DAYS\t365
PASS_MIN_DAYS   1
UID_MIN                  1000
ENCRYPT_METHOD "SHA512"
"""

DPKG_STATUS = """\
Package: openssh-server
Status: install ok installed
Priority: optional
Architecture: amd64
Source: openssh (1:9.2p1-2+deb12u3)
Version: 1:9.2p1-2+deb12u3
Description: secure shell (SSH) server
 multi-line description
 .
 more

Package: libc6
Status: hold ok installed
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4

Package: removed-pkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
"""

SSHD_T = """\
port 22
addressfamily any
listenaddress [::]:22
listenaddress 0.0.0.0:22
permitrootlogin without-password
maxauthtries 6
ciphers chacha20-poly1305@openssh.com,aes128-ctr
subsystem sftp /usr/lib/openssh/sftp-server
hostkey /etc/ssh/ssh_host_rsa_key
hostkey /etc/ssh/ssh_host_ed25519_key
"""

SSH_UNIT = """\
[Unit]
Description=OpenBSD Secure Shell server

[Service]
EnvironmentFile=-/etc/default/ssh
ExecStartPre=/usr/sbin/sshd -t
ExecStart=/usr/sbin/sshd -D $SSHD_OPTS
ExecReload=/bin/kill -HUP $MAINPID
Type=notify

[Install]
WantedBy=multi-user.target
Alias=sshd.service
"""

CRON_UNIT = """\
[Service]
ExecStart=/usr/sbin/cron -f $EXTRA_OPTS

[Install]
WantedBy=multi-user.target
"""

ONESHOT_UNIT = """\
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo hi'
"""

PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5002 1 0000000000000000 100 0 0 10 0
   2: 0100007F:0016 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 5003 1 0000000000000000 20 4 30 10 -1
"""  # noqa: E501

PROC_NET_TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5004 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5005 1 0000000000000000 100 0 0 10 0
"""  # noqa: E501

PROC_NET_UDP = """\
   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5006 2 0000000000000000 0
  101: 0100007F:A1B2 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 5007 2 0000000000000000 0
"""  # noqa: E501

PROC_MOUNTS = """\
/dev/vda1 / ext4 rw,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /tmp tmpfs rw,nosuid,nodev,noexec 0 0
server:/export /mnt/nfs nfs4 rw,relatime,vers=4.2 0 0
/dev/vdb1 /mnt/with\\040space ext4 rw 0 0
"""

FSTAB = """\
# <file system> <mount point> <type> <options> <dump> <pass>
UUID=1234 / ext4 errors=remount-ro 0 1
tmpfs /tmp tmpfs defaults,nosuid,nodev,noexec 0 0
"""

PAM_SSHD = """\
# PAM configuration for the Secure Shell service
@include common-auth
account    required     pam_nologin.so
-session   optional     pam_systemd.so
session [success=ok ignore=ignore module_unknown=ignore default=bad] pam_selinux.so close
password   requisite    /lib/x86_64-linux-gnu/security/pam_pwquality.so retry=3 \\
    minlen=14
"""

PAM_COMMON_AUTH = """\
auth\t[success=1 default=ignore]\tpam_unix.so nullok
auth\trequisite\t\t\tpam_deny.so
auth\trequired\t\t\tpam_permit.so
auth required pam_faillock.so preauth audit deny=5 unlock_time=900 # trailing comment
"""

MODPROBE = """\
# CIS
install cramfs /bin/false
blacklist cramfs
install usb-storage /bin/true
blacklist usb_storage
"""


def w(root: Path, rel: str, text: str, mode: int | None = None) -> Path:
    p = root / rel.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    if mode is not None:
        p.chmod(mode)
    return p


def link(root: Path, rel: str, target: str) -> Path:
    p = root / rel.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, p)
    return p


def build(root: Path) -> Path:
    """Populate ``root`` with a small Debian-like host."""
    h0, h1, h2 = SECRET_HASHES
    w(root, "etc/os-release", OS_RELEASE)
    w(root, "etc/hostname", "fakehost\n")
    w(root, "etc/machine-id", "0123456789abcdef0123456789abcdef\n")
    w(root, "etc/passwd", PASSWD.format(hash2=h2), 0o644)
    w(root, "etc/shadow", SHADOW.format(hash0=h0, hash1=h1), 0o640)
    w(root, "etc/group", GROUP, 0o644)
    w(root, "etc/login.defs", LOGIN_DEFS)
    w(root, "etc/backup-of-shadow.txt", f"root:{h0}:19700:0:99999:7:::\nplain line root\n")
    w(
        root,
        "etc/ssh/ssh_host_ed25519_key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----\n",
        0o600,
    )
    w(root, "etc/ssh/sshd_config", "PermitRootLogin no\n#Port 22\nPasswordAuthentication no\n")
    w(root, "var/lib/dpkg/status", DPKG_STATUS)
    # sysctl: /usr/lib file masked by same basename in /etc; /run; sysctl.conf last
    w(root, "usr/lib/sysctl.d/50-default.conf", "net.ipv4.ip_forward = 1\nkernel.sysrq=16\n")
    w(root, "etc/sysctl.d/50-default.conf", "# overrides the vendor file\nkernel.sysrq = 0\n")
    w(root, "run/sysctl.d/10-run.conf", "-net/ipv4/conf/all/rp_filter=1\nbogus line\n")
    w(root, "usr/lib/sysctl.d/99-late.conf", "net.ipv4.ip_forward = 0\n")
    w(root, "etc/sysctl.d/README", "not a conf file = ignored\n")
    w(root, "etc/sysctl.conf", "net.ipv4.tcp_syncookies=1\nnet.ipv4.ip_forward=0\n")
    w(root, "proc/sys/net/ipv4/ip_forward", "0\n")
    w(root, "proc/sys/net/ipv4/tcp_rmem", "4096\t131072\t6291456\n")
    w(root, "proc/sys/net/ipv4/conf/all/rp_filter", "2\n")
    # mounts, modules
    w(root, "proc/self/mounts", PROC_MOUNTS)
    w(root, "etc/fstab", FSTAB)
    w(root, "proc/modules", "ext4 1015808 1 - Live 0x0\nusb_storage 81920 0 - Live 0x0\n")
    w(root, "etc/modprobe.d/cis.conf", MODPROBE)
    kver = os.uname().release
    w(
        root,
        f"lib/modules/{kver}/modules.dep",
        "kernel/fs/cramfs/cramfs.ko.xz:\nkernel/drivers/usb/storage/usb-storage.ko.zst:\n",
    )
    w(root, f"lib/modules/{kver}/modules.builtin", "kernel/fs/ext4/ext4.ko\n")
    # pam
    w(root, "etc/pam.d/sshd", PAM_SSHD)
    w(root, "etc/pam.d/common-auth", PAM_COMMON_AUTH)
    w(root, "etc/security/pwquality.conf", "minlen = 14\n# dcredit = -1\nenforce_for_root\n")
    w(root, "etc/security/pwquality.conf.d/50-local.conf", "minlen=16\n")
    w(root, "etc/security/faillock.conf", "deny = 4\nunlock_time = 600\n")
    # services: ssh enabled + alias, cron disabled, a masked unit, a static oneshot
    w(root, "lib/systemd/system/ssh.service", SSH_UNIT)
    w(root, "lib/systemd/system/cron.service", CRON_UNIT)
    w(root, "lib/systemd/system/rsync.service", "[Service]\nExecStart=/usr/bin/rsync --daemon\n")
    w(root, "lib/systemd/system/setup.service", ONESHOT_UNIT)
    link(
        root,
        "etc/systemd/system/multi-user.target.wants/ssh.service",
        "/lib/systemd/system/ssh.service",
    )
    link(root, "etc/systemd/system/sshd.service", "/lib/systemd/system/ssh.service")
    link(root, "etc/systemd/system/rsync.service", "/dev/null")
    # processes: sshd (pid 100) owns sockets 5001/5004; rsync (pid 200) runs despite the mask
    w(root, "proc/100/cmdline", "/usr/sbin/sshd\0-D\0")
    w(root, "proc/100/comm", "sshd\n")
    link(root, "proc/100/exe", "/usr/sbin/sshd")
    link(root, "proc/100/fd/3", "socket:[5001]")
    link(root, "proc/100/fd/4", "socket:[5004]")
    link(root, "proc/100/fd/5", "/dev/null")
    w(root, "proc/200/cmdline", "rsync\0--daemon\0")
    w(root, "proc/200/comm", "rsync\n")
    link(root, "proc/200/exe", "/usr/bin/rsync")
    w(root, "proc/net/tcp", PROC_NET_TCP)
    w(root, "proc/net/tcp6", PROC_NET_TCP6)
    w(root, "proc/net/udp", PROC_NET_UDP)
    w(root, "proc/net/udp6", "  sl  local_address remote_address st\n")
    # a fake sshd: the probe runs <root>/usr/sbin/sshd -T
    w(root, "usr/sbin/sshd", "#!/bin/sh\ncat <<'EOF'\n" + SSHD_T + "EOF\n", 0o755)
    # walk material
    w(root, "srv/data/ww.txt", "x", 0o666)
    (root / "srv/data/wwdir").mkdir(parents=True)
    (root / "srv/data/wwdir").chmod(0o777)
    (root / "srv/data/tmp-like").mkdir(parents=True)
    (root / "srv/data/tmp-like").chmod(0o1777)
    w(root, "usr/bin/su-like", "#!/bin/sh\n", 0o4755)
    w(root, "usr/bin/sg-like", "#!/bin/sh\n", 0o2755)
    w(root, "proc/hidden-ww", "x", 0o666)  # under a pruned proc mount
    w(root, "mnt/nfs/remote-ww", "x", 0o666)  # under a pruned nfs mount
    return root
