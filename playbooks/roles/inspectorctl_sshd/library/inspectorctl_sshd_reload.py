#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Validate the sshd configuration and make the running sshd read it, in one module call.

Runs on the managed host: standard library and Ansible's module_utils only, Python 3.6+.
``sshd -t`` first (a configuration sshd refuses is never loaded). With systemd running, the
sshd unit (``ssh`` on the Debian family, ``sshd`` elsewhere, from /etc/os-release) is reloaded,
or started when it is not active. Without systemd (containers, inspectorctl lab hosts) the
listening sshd gets SIGHUP: the pid from the pid file ``sshd -T`` names, or else the oldest
process whose command line is sshd itself; then the module waits (15 s at most) until the
address ``sshd -T`` listens on accepts connections again. Existing sessions are kept.
Always reports changed (the daemon re-read its configuration); check mode changes nothing.
"""

from __future__ import absolute_import, division, print_function

import os
import re
import signal
import socket
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

LISTENER_RE = r"^sshd: .*\[listener\]|^(/usr/s?bin/)?sshd( |$)"


def run(argv):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    return proc.returncode, proc.stdout.strip()


def debian_family(os_release="/etc/os-release"):
    """Whether /etc/os-release names a Debian-family system (ID or ID_LIKE)."""
    try:
        with open(os_release) as f:
            text = f.read()
    except OSError:
        return False
    words = []
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key in ("ID", "ID_LIKE"):
            words.extend(value.strip().strip("\"'").lower().split())
    return bool(set(words) & {"debian", "ubuntu"})


def effective(text):
    """(pid file, listen host, listen port) from ``sshd -T`` output (its defaults otherwise)."""
    first = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if value.strip():
            first.setdefault(key.lower(), value.strip())
    pidfile = first.get("pidfile", "/run/sshd.pid")
    listen = first.get("listenaddress", "0.0.0.0:22")
    host, _, port = listen.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return pidfile, host, int(port) if port.isdigit() else 22


def listener_pid(pidfile):
    try:
        with open(pidfile) as f:
            text = f.read().strip()
        if text.isdigit():
            return int(text)
    except OSError:
        pass
    rc, out = run(["pgrep", "-o", "-f", LISTENER_RE])
    return int(out) if rc == 0 and out.isdigit() else None


def wait_for(host, port, timeout=15.0):
    end = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            if time.monotonic() >= end:
                return False
            time.sleep(0.1)


def main():
    module = AnsibleModule(argument_spec=dict(
        sshd=dict(type="str", default="/usr/sbin/sshd"),
    ), supports_check_mode=True)
    sshd = module.params["sshd"]
    if not sshd.startswith("/"):
        module.fail_json(msg="sshd must be an absolute path, not %r" % sshd)
    if module.check_mode:
        module.exit_json(changed=True, msg="sshd would re-read its configuration")
    rc, out = run([sshd, "-t"])
    if rc != 0:
        module.fail_json(msg="sshd -t refuses the configuration: %s" % (out or rc))
    if os.path.isdir("/run/systemd/system"):
        unit = "ssh" if debian_family() else "sshd"
        active = run(["systemctl", "is-active", "--quiet", unit + ".service"])[0] == 0
        action = "reload" if active else "start"
        rc, out = run(["systemctl", action, unit + ".service"])
        if rc != 0:
            module.fail_json(msg="systemctl %s %s.service failed: %s" % (action, unit, out))
        module.exit_json(changed=True, msg="%s %s.service" % (action + "ed", unit))
    rc, out = run([sshd, "-T"])
    if rc != 0:
        module.fail_json(msg="sshd -T failed: %s" % out)
    pidfile, host, port = effective(out)
    pid = listener_pid(pidfile)
    if pid is None:
        module.fail_json(msg="no listening sshd found (no pid in %s, no process whose command "
                             "line is sshd)" % pidfile)
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as e:
        module.fail_json(msg="cannot send SIGHUP to sshd (pid %d): %s" % (pid, e.strerror))
    if not wait_for(host, port):
        module.fail_json(msg="sshd (pid %d) did not accept connections on %s port %d within "
                             "15 s of SIGHUP" % (pid, host, port), changed=True)
    module.exit_json(changed=True, msg="SIGHUP sent to sshd (pid %d)" % pid, pid=pid)


if __name__ == "__main__":
    main()
