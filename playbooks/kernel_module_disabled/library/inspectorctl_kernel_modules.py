#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Kernel modules that must not load, in one module call per host.

Runs on the managed host: standard library and Ansible's module_utils only, Python 3.6+.
items: [{module: cramfs}, ...]. For each module: /etc/modprobe.d/60-inspectorctl-MODULE.conf
with "install MODULE /bin/false" and "blacklist MODULE" (0644 root:root); other "install
MODULE" lines in /etc/modprobe.d/*.conf are commented out (modprobe uses the first install
command it reads); a loaded module is unloaded (``modprobe --remove``), except in a container
or where /proc/sys/kernel is read-only (the kernel is not this host's to manage).

plan_only: true: change nothing, return ``paths``: what a backup records (/etc/modprobe.d,
the files this writes, the files with other install commands). Otherwise apply, honouring
check mode, with one before/after ``diff`` per file changed.
"""

from __future__ import absolute_import, division, print_function

import os
import re

from ansible.module_utils.facts.virtual.linux import LinuxVirtual
from ansible.module_utils.inspectorctl_files import (
    is_regular,
    items_module,
    read_text,
    set_attrs,
    text_diff,
    write_file,
)

MODPROBE_D = "/etc/modprobe.d"
NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")
CONTAINER_TYPES = ("docker", "podman", "lxc", "container", "containerd", "systemd-nspawn",
                   "openvz", "wsl")
MARK = "# (disabled by inspectorctl) "


def module_names(items):
    """The items' module names ('-' read as '_'), sorted and unique; ValueError if bad."""
    if not isinstance(items, list) or not items:
        raise ValueError("no items")
    names = set()
    for it in items:
        name = it.get("module") if isinstance(it, dict) else None
        if not isinstance(name, str) or not NAME_RE.match(name.replace("-", "_")):
            raise ValueError("bad module name %r" % (name,))
        names.add(name.replace("-", "_"))
    return sorted(names)


def own_file(name):
    return "%s/60-inspectorctl-%s.conf" % (MODPROBE_D, name)


def own_content(name):
    return ("# Written by inspectorctl: %s must not be loaded.\ninstall %s /bin/false\n"
            "blacklist %s\n" % (name, name, name))


def install_re(names):
    alt = "|".join(n.replace("_", "[-_]") for n in names)
    return re.compile(r"^([ \t]*install[ \t]+(?:%s)[ \t].*)$" % alt, re.M)


def conflicts(names):
    """Files of /etc/modprobe.d (*.conf, regular) with another install command for a name."""
    rx = install_re(names)
    out = []
    try:
        entries = sorted(os.listdir(MODPROBE_D))
    except OSError:
        return out
    for e in entries:
        path = os.path.join(MODPROBE_D, e)
        if not e.endswith(".conf") or not is_regular(path):
            continue
        if rx.search(read_text(path)):
            out.append(path)
    return out


def manages_kernel(module):
    """Whether unloading is this host's business: /proc/sys/kernel writable, not a
    container."""
    if not os.access("/proc/sys/kernel/modprobe", os.W_OK):
        return False
    facts = LinuxVirtual(module).get_virtual_facts()
    return not (facts.get("virtualization_role") == "guest"
                and facts.get("virtualization_type") in CONTAINER_TYPES)


def main():
    module = items_module()
    try:
        names = module_names(module.params["items"])
    except ValueError as e:
        module.fail_json(msg="items must be a non-empty list of {module: NAME}: %s" % e)
    others = [p for p in conflicts(names)
              if not os.path.basename(p).startswith("60-inspectorctl-")]
    if module.params["plan_only"]:
        module.exit_json(changed=False, paths=[MODPROBE_D] + [own_file(n) for n in names]
                         + conflicts(names))
    check = module.check_mode
    diffs = []
    changed = []
    # /etc/modprobe.d: a directory, 0755 root:root
    if not os.path.isdir(MODPROBE_D):
        changed.append(MODPROBE_D)
        diffs.append({"before": {"path": MODPROBE_D, "state": "absent"},
                      "after": {"path": MODPROBE_D, "state": "directory"}})
        if not check:
            os.mkdir(MODPROBE_D, 0o755)
    if os.path.isdir(MODPROBE_D):
        c, diff = set_attrs(module, MODPROBE_D, "0755", "root", "root")
        if c and MODPROBE_D not in changed:
            changed.append(MODPROBE_D)
            diffs.append(diff)
    rx = install_re(names)
    for path in sorted(others):
        before = read_text(path)
        after = rx.sub(lambda m: MARK + m.group(1), before)
        if after != before:
            changed.append(path)
            diffs.append(text_diff(path, before, after))
            if not check:
                write_file(path, after, attrs_from=path)
    for name in names:
        path = own_file(name)
        want = own_content(name)
        before = read_text(path) if os.path.isfile(path) else None
        if before != want:
            changed.append(path)
            diffs.append(text_diff(path, before, want))
            if not check:
                write_file(path, want)
        else:
            c, diff = set_attrs(module, path, "0644", "root", "root")
            if c:
                changed.append(path)
                diffs.append(diff)
    unloaded = []
    if manages_kernel(module):
        loaded = set(line.split(" ", 1)[0] for line in read_text("/proc/modules").splitlines())
        for name in names:
            if name not in loaded:
                continue
            unloaded.append(name)
            if not check:
                rc, out, err = module.run_command(["modprobe", "--remove", "--", name])
                if rc != 0:
                    module.fail_json(msg="modprobe --remove %s failed: %s"
                                     % (name, (err or out).strip()), changed=True)
    result = dict(changed=bool(changed or unloaded), changed_paths=changed, unloaded=unloaded)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
