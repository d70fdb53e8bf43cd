#!/usr/bin/python
# -*- coding: utf-8 -*-
"""System accounts with a login shell get one that refuses logins, in one call per host.

Runs on the managed host: standard library and Ansible's module_utils only, Python 3.6+.
A system account: uid below UID_MIN of /etc/login.defs (1000 when unset or 0), except root,
sync, shutdown and halt; it has a login shell unless the last component of its shell is
nologin, false, sync, shutdown or halt (an empty shell is /bin/sh). The new shell is
/usr/sbin/nologin, else /sbin/nologin, else /bin/false; ``usermod -s`` sets it (the account's
name as one argument). items: [{}] (no parameters).

plan_only: true: change nothing, return ``accounts`` (what would change: /etc/passwd is backed
up when there is any). Otherwise change them, honouring check mode.
"""

from __future__ import absolute_import, division, print_function

import os
import re

from ansible.module_utils.inspectorctl_files import items_module, read_text

KEEP_ACCOUNTS = ("root", "sync", "shutdown", "halt")
NO_LOGIN_SHELLS = ("nologin", "false", "sync", "shutdown", "halt")
NOLOGIN = ("/usr/sbin/nologin", "/sbin/nologin")


def uid_min(defs_text):
    """UID_MIN of login.defs (the last valid one), 1000 when unset or 0."""
    found = 0
    for line in (defs_text or "").splitlines():
        f = re.split(r"[ \t]+", line)
        if f[0] == "UID_MIN" and len(f) > 1 and re.match(r"^[0-9]+$", f[1]):
            found = int(f[1])
    return found or 1000


def with_login_shell(passwd_text, minimum):
    """Names of the system accounts with a login shell, sorted, without repeats."""
    out = set()
    for line in passwd_text.splitlines():
        f = line.split(":")
        if len(f) < 3 or not re.match(r"^[0-9]+$", f[2]) or int(f[2]) >= minimum:
            continue
        shell = f[6] if len(f) > 6 else ""
        if f[0] in KEEP_ACCOUNTS or shell.rsplit("/", 1)[-1] in NO_LOGIN_SHELLS:
            continue
        out.add(f[0])
    return sorted(out)


def main():
    module = items_module()
    if not all(isinstance(it, dict) for it in module.params["items"]):
        module.fail_json(msg="items must be a list of {} (this remediation has no parameters)")
    defs = read_text("/etc/login.defs") if os.path.exists("/etc/login.defs") else ""
    accounts = with_login_shell(read_text("/etc/passwd"), uid_min(defs))
    if module.params["plan_only"]:
        module.exit_json(changed=False, accounts=accounts)
    shell = next((p for p in NOLOGIN if os.path.lexists(p)), "/bin/false")
    if not module.check_mode:
        for name in accounts:
            rc, out, err = module.run_command(["usermod", "-s", shell, "--", name])
            if rc != 0:
                module.fail_json(msg="usermod -s %s %s failed: %s"
                                 % (shell, name, (err or out).strip()),
                                 changed=name != accounts[0])
    module.exit_json(changed=bool(accounts), accounts=accounts, shell=shell)


if __name__ == "__main__":
    main()
