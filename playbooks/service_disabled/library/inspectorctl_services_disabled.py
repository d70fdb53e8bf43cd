#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Stop, disable and mask services, in one module call per host.

Runs on the managed host: standard library and Ansible's module_utils only, Python 3.6+.
items: [{name: avahi-daemon}, ...] ('.service' optional). A unit found in none of the unit
directories is already compliant and left alone. With systemd running, an active unit is
stopped; a unit is disabled where ``systemctl is-enabled`` says enabled (as the
systemd_service module reads it) and masked unless it is a unit file written by hand in
/etc/systemd/system (the mask is a symlink of that name). Without systemd (containers, lab
hosts) systemctl edits the links offline, and the processes running the units' ExecStart
programs are stopped with SIGTERM (``pkill -f``; not in check mode).

plan_only: true: change nothing, return ``present`` (the units found) and ``paths`` (what a
backup records: the units' links in /etc/systemd/system and the mask links it may create).
"""

from __future__ import absolute_import, division, print_function

import glob
import os
import re

from ansible.module_utils.inspectorctl_files import items_module

UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/usr/lib/systemd/system", "/lib/systemd/system")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:_.@-]*$")
PROTECTED = ("ssh", "sshd")
EXEC_RE = re.compile(r"^[ \t]*ExecStart[ \t]*=[ \t]*[-@:+!]*([^ \t\n]+)", re.M)
NOT_ENABLED = ("enabled-runtime", "indirect", "alias")


def unit_names(items):
    """The items' unit names without '.service', sorted and unique; ValueError if bad."""
    if not isinstance(items, list) or not items:
        raise ValueError("no items")
    names = set()
    for it in items:
        name = it.get("name") if isinstance(it, dict) else None
        if not isinstance(name, str):
            raise ValueError("an item without a name")
        if name.endswith(".service"):
            name = name[:-len(".service")]
        if not NAME_RE.match(name):
            raise ValueError("bad service name %r" % (name,))
        if name in PROTECTED:
            raise ValueError("ssh/sshd cannot be disabled by this remediation")
        names.add(name)
    return sorted(names)


def found_units(names):
    """name -> the paths of NAME.service in the unit directories, in precedence order."""
    out = {}
    for d in UNIT_DIRS:
        for name in names:
            p = os.path.join(d, name + ".service")
            if os.path.lexists(p):
                out.setdefault(name, []).append(p)
    return out


def unit_links(present):
    """Symbolic links named like a present unit anywhere under /etc/systemd/system."""
    wanted = set(n + ".service" for n in present)
    out = []
    for d, dirs, files in os.walk("/etc/systemd/system"):
        for e in dirs + files:
            p = os.path.join(d, e)
            if e in wanted and os.path.islink(p):
                out.append(p)
    return sorted(out)


def hand_written(name):
    p = "/etc/systemd/system/%s.service" % name
    return os.path.isfile(p) and not os.path.islink(p)


def sysv_enabled(name):
    return (os.path.exists("/etc/init.d/" + name)
            and bool(glob.glob("/etc/rc?.d/S??" + glob.escape(name))))


class Units(object):
    def __init__(self, module):
        self.module = module
        self.systemctl = module.get_bin_path("systemctl", required=True)

    def run(self, *args):
        return self.module.run_command([self.systemctl] + list(args))

    def change(self, action, unit):
        rc, out, err = self.run(action, unit)
        if rc != 0:
            self.module.fail_json(msg="Unable to %s service %s: %s"
                                  % (action, unit, (out + err).strip()))

    def active(self, unit):
        rc, out, _err = self.run("show", unit, "--property=ActiveState")
        return rc == 0 and out.strip() in ("ActiveState=active", "ActiveState=activating")

    def enabled(self, name):
        rc, out, _err = self.run("is-enabled", name + ".service", "-l")
        if rc == 0:
            return out.strip() not in NOT_ENABLED
        return rc == 1 and not out.strip().endswith("disabled") and sysv_enabled(name)

    def masked(self, unit):
        _rc, out, _err = self.run("is-enabled", unit)
        return out.strip() == "masked"


def programs(found, present):
    """The absolute ExecStart programs of the present units' (regular) unit files."""
    progs = set()
    for name in present:
        regular = [p for p in found.get(name, []) if os.path.isfile(p) and not os.path.islink(p)]
        if not regular:
            continue
        with open(regular[0], "rb") as f:
            text = f.read().decode("utf-8", "replace")
        progs.update(p for p in EXEC_RE.findall(text) if p.startswith("/"))
    return sorted(progs)


def main():
    module = items_module()
    try:
        names = unit_names(module.params["items"])
    except ValueError as e:
        module.fail_json(msg="items must be a non-empty list of {name: SERVICE}; ssh/sshd "
                             "cannot be disabled by this remediation: %s" % e)
    found = found_units(names)
    present = [n for n in names if n in found]
    if module.params["plan_only"]:
        module.exit_json(changed=False, present=present, paths=unit_links(present) + [
            "/etc/systemd/system/%s.service" % n for n in present])
    check = module.check_mode
    systemd = os.path.exists("/run/systemd/system")
    units = Units(module)
    stopped, disabled, masked, killed = [], [], [], []
    for name in present:
        unit = name + ".service"
        if systemd and units.active(unit):
            stopped.append(name)
            if not check:
                units.change("stop", unit)
        if units.enabled(name):
            disabled.append(name)
            if not check:
                units.change("disable", unit)
    for name in present:
        unit = name + ".service"
        if not hand_written(name) and not units.masked(unit):
            masked.append(name)
            if not check:
                units.change("mask", unit)
    if not systemd and not check:
        for prog in programs(found, present):
            rc, out, err = module.run_command(["pkill", "-TERM", "-f",
                                               "^%s( |$)" % re.escape(prog)])
            if rc > 1:
                module.fail_json(msg="pkill of %s failed: %s" % (prog, (err or out).strip()))
            if rc == 0:
                killed.append(prog)
    module.exit_json(changed=bool(stopped or disabled or masked or killed), present=present,
                     stopped=stopped, disabled=disabled, masked=masked, killed=killed)


if __name__ == "__main__":
    main()
