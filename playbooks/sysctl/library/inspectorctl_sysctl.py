#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Kernel parameters, in one module call per host (what playbook.yml describes).

Runs on the managed host: standard library and Ansible's module_utils only, Python 3.6+.
items: [{key: net.ipv4.ip_forward, value: "0"}, ...]. Every item goes to
/etc/sysctl.d/60-inspectorctl.conf (forwarding first; what the file assigned already is kept
unless an item assigns it again); other assignments of the keys are commented out in
/etc/sysctl.conf and /etc/sysctl.d/*.conf, and a vendor file (/run, /usr/local/lib, /usr/lib,
/lib sysctl.d) that sorts after ours is first replaced by a copy of the same name in
/etc/sysctl.d. The runtime values that differ and that this host may write are set with one
``sysctl -w`` (forwarding first) and read back. Check mode writes nothing (and, as the
command it replaces, does not report the runtime values it would set).

plan_only: true: change nothing, return ``paths``: what a backup records (our file and the
files this would edit).
"""

from __future__ import absolute_import, division, print_function

import os
import re
import stat

from ansible.module_utils.inspectorctl_files import (
    is_regular,
    items_module,
    read_text,
    text_diff,
    write_file,
)

SYSCTL_FILE = "/etc/sysctl.d/60-inspectorctl.conf"
ETC_DIR = "/etc/sysctl.d"
VENDOR_DIRS = ("/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d",
               "/lib/sysctl.d")
KEY_RE = re.compile(r"^[a-z0-9_]+([.][A-Za-z0-9_-]+)+$")
FORWARD_RE = re.compile(r"^(net[.]ipv4[.]ip_forward|[^= ]*[.]forwarding)( ?=|$)")
FILE_LINE_RE = re.compile(r"^\s*([a-z0-9_][A-Za-z0-9_./-]*?)\s*=\s*(.*?)\s*$")
HEADER = "# Written by inspectorctl: kernel parameters of security rules (forwarding first)."
MARK = "# (disabled by inspectorctl) "


def wanted_values(items):
    """[(key, value)] in item order (a later item for a key wins); ValueError if bad."""
    if not isinstance(items, list) or not items:
        raise ValueError("no items")
    out = {}
    order = []
    for i, it in enumerate(items):
        if not isinstance(it, dict) or "key" not in it or "value" not in it:
            raise ValueError("item %d lacks key or value" % i)
        key = str(it["key"]).replace("/", ".")
        value = str(it["value"])
        if not KEY_RE.match(key):
            raise ValueError("item %d: %r is not a kernel parameter name" % (i, key))
        if "\n" in value:
            raise ValueError("item %d: the value has a newline" % i)
        if key not in out:
            order.append(key)
        out[key] = re.sub(r"\s+", " ", value).strip()
    return [(k, out[k]) for k in order]


def assign_re(keys):
    """A line assigning any of the keys, with dots or slashes, optionally '-' prefixed."""
    alt = "|".join(re.escape(k).replace(r"\.", "[./]") for k in keys)
    return re.compile(r"^([ \t]*-?[ \t]*(?:%s)[ \t]*=.*)$" % alt, re.M)


def conf_files(d):
    """Regular *.conf files of directory d, sorted."""
    try:
        names = sorted(os.listdir(d))
    except OSError:
        return []
    out = []
    for n in names:
        p = os.path.join(d, n)
        if n.endswith(".conf") and stat.S_ISREG(os.lstat(p).st_mode):
            out.append(p)
    return out


def assigning(paths, rx):
    return [p for p in paths if rx.search(read_text(p))]


def plan(keys):
    """(vendor copies {name: source}, files to edit) for these keys."""
    rx = assign_re(keys)
    etc = [p for p in assigning(conf_files(ETC_DIR), rx) if p != SYSCTL_FILE]
    vendor = []
    for d in VENDOR_DIRS:
        vendor.extend(assigning(conf_files(d), rx))
    shadow = {}
    for name in sorted(set(os.path.basename(p) for p in vendor)):
        if os.path.lexists(os.path.join(ETC_DIR, name)) or not name > "60-inspectorctl.conf":
            continue
        shadow[name] = [p for p in vendor if os.path.basename(p) == name][0]
    edit = sorted(etc) + (["/etc/sysctl.conf"] if is_regular("/etc/sysctl.conf") else [])
    edit += [os.path.join(ETC_DIR, n) for n in sorted(shadow)]
    return shadow, edit


def proc_path(key):
    return "/proc/sys/" + key.replace(".", "/")


def runtime(keys):
    """{key: value as sysctl prints it} of the keys this host may write."""
    out = {}
    for k in keys:
        p = proc_path(k)
        if os.path.isfile(p) and os.access(p, os.W_OK):
            try:
                text = read_text(p)
            except OSError:
                continue
            out[k] = re.sub(r"[ \t]+", " ", text.replace("\t", " ")).rstrip("\n")
    return out


def file_content(old, wanted):
    """Our file's text: what it assigns already, updated with the wanted values."""
    values = {}
    order = []
    for line in (old or "").splitlines():
        m = FILE_LINE_RE.match(line)
        if m:
            if m.group(1) not in values:
                order.append(m.group(1))
            values[m.group(1)] = m.group(2)
    for k, v in wanted:
        if k not in values:
            order.append(k)
        values[k] = v
    lines = ["%s = %s" % (k, values[k]) for k in order]
    fwd = [ln for ln in lines if FORWARD_RE.match(ln)]
    return "\n".join([HEADER] + fwd + [ln for ln in lines if not FORWARD_RE.match(ln)]) + "\n"


def main():
    module = items_module()
    try:
        wanted = wanted_values(module.params["items"])
    except ValueError as e:
        module.fail_json(msg="items must be a non-empty list of {key: a.b.c, value: VALUE}: %s"
                         % e)
    keys = [k for k, _ in wanted]
    shadow, edit = plan(keys)
    if module.params["plan_only"]:
        module.exit_json(changed=False, paths=[SYSCTL_FILE] + edit)
    check = module.check_mode
    changed, diffs = [], []
    if not check:
        for name in sorted(shadow):
            dest = os.path.join(ETC_DIR, name)
            write_file(dest, copy_from=shadow[name])
            changed.append(dest)
    else:
        changed.extend(os.path.join(ETC_DIR, n) for n in sorted(shadow))
    rx = assign_re(keys)
    for path in edit:
        if check and os.path.basename(path) in shadow and path.startswith(ETC_DIR + "/"):
            continue  # the copy does not exist yet in check mode
        before = read_text(path)
        after = rx.sub(lambda m: MARK + m.group(1), before)
        if after != before:
            if path not in changed:
                changed.append(path)
            diffs.append(text_diff(path, before, after))
            if not check:
                write_file(path, after, attrs_from=path)
    old = read_text(SYSCTL_FILE) if os.path.isfile(SYSCTL_FILE) else None
    content = file_content(old, wanted)
    attrs_ok = True
    if old is not None:
        st = os.stat(SYSCTL_FILE)
        attrs_ok = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o644)
    if old != content or not attrs_ok:
        changed.append(SYSCTL_FILE)
        if old != content:
            diffs.append(text_diff(SYSCTL_FILE, old, content))
        if not check:
            write_file(SYSCTL_FILE, content)
    rw = runtime(keys)
    differ = ["%s=%s" % (k, v) for k, v in wanted if k in rw and rw[k] != v]
    to_set = ([s for s in differ if FORWARD_RE.match(s)]
              + [s for s in differ if not FORWARD_RE.match(s)])
    if to_set and not check:
        rc, out, err = module.run_command(["sysctl", "-q", "-w"] + to_set)
        if rc != 0:
            module.fail_json(msg="sysctl -w failed: %s" % (err or out).strip(), changed=True)
        after = runtime(list(rw))
        lost = ["%s=%s" % (k, v) for k, v in wanted if k in rw and after.get(k) != v]
        if lost:
            module.fail_json(changed=True, msg="the kernel did not keep %s (read back: %s)" % (
                ", ".join(lost), ", ".join("%s=%s" % kv for kv in sorted(after.items()))))
    result = dict(changed=bool(changed or (to_set and not check)), changed_paths=changed,
                  set=[] if check else to_set, config_only=[k for k in keys if k not in rw])
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
