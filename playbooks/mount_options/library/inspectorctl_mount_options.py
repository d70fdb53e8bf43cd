#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Mount options of separate mounts, in one module call per host.

Runs on the managed host: standard library and Ansible's module_utils only, Python 3.6+.
items: [{mountpoint: /tmp, options: [nodev, nosuid, noexec]}, ...].

Per mount point (items for the same one are merged): its fstab entry (the last one that is not
a comment) gets the options, their opposites dropped (dev/nodev, suid/nosuid, exec/noexec,
rw/ro); a mount point mounted but not in fstab gets an entry built from the running mount
(source and type), appended. /etc/fstab ends up root:root 0644 (created so when missing). A
mount point that is not a separate mount is refused, before anything is changed: making it one
is a manual step. Where an option is missing at runtime the mount is remounted with it
(``mount -o remount,OPTS PATH``), when this process may mount (CAP_SYS_ADMIN); otherwise
``next_mount`` names the mount points that get the options at their next mount (as it does
with ``remount: false``).

plan_only: true: change nothing, return ``paths`` (what a backup records: /etc/fstab), after
the refusal above. Otherwise apply, honouring check mode, with a before/after ``diff`` of
fstab when it changes.
"""

from __future__ import absolute_import, division, print_function

import os
import re
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.inspectorctl_files import read_text, set_attrs, text_diff, write_file

OPTION_RE = re.compile(r"^[a-z0-9_=.-]+$")
OPPOSITES = {"nodev": "dev", "dev": "nodev", "nosuid": "suid", "suid": "nosuid",
             "noexec": "exec", "exec": "noexec", "ro": "rw", "rw": "ro"}
CAP_SYS_ADMIN = 21


def check_items(items):
    """{mount point: wanted options in order}, mount points in order; ValueError if bad."""
    if not isinstance(items, list) or not items:
        raise ValueError("no items")
    out = {}
    for i, it in enumerate(items):
        if not isinstance(it, dict) or "mountpoint" not in it or "options" not in it:
            raise ValueError("item %d lacks mountpoint or options" % i)
        point, options = it["mountpoint"], it["options"]
        if not isinstance(point, str) or not point.startswith("/") or "\n" in point:
            raise ValueError("item %d: %r is not an absolute path" % (i, point))
        if not isinstance(options, list) or not all(
                isinstance(o, str) and OPTION_RE.match(o) for o in options):
            raise ValueError("item %d: options must be a list of mount option names" % i)
        point = point if point == "/" else point.rstrip("/") or "/"
        wanted = out.setdefault(point, [])
        wanted.extend(o for o in options if o not in wanted)
    return out


def escape(path):
    """A path as fstab and /proc/mounts write it (octal escapes)."""
    return path.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011")


def last_entry(text, escaped, skip_comments):
    found = None
    for line in text.splitlines():
        if skip_comments and re.match(r"^\s*(#|$)", line):
            continue
        fields = line.split()
        if len(fields) >= 2 and fields[1] == escaped:
            found = fields
    return found


def unique(seq):
    out = []
    for x in seq:
        if x not in out:
            out.append(x)
    return out


def changes(wanted, mounts, fstab):
    """One change per mount point: path, escaped path, mounted, the fstab line, the options
    missing at runtime."""
    out = []
    for point in sorted(wanted):
        want = wanted[point]
        esc = escape(point)
        runtime = last_entry(mounts, esc, False)
        entry = last_entry(fstab, esc, True)
        base = (entry[3] if entry and len(entry) > 3 else "defaults").split(",")
        drop = [OPPOSITES[o] for o in want if o in OPPOSITES]
        opts = ",".join(unique([o for o in base if o not in drop] + want))
        src_fields = entry or runtime or ["", "", ""]
        src = src_fields[0]
        fstype = src_fields[2] if len(src_fields) > 2 else ""
        dump = (entry[4] if len(entry) > 4 else "0") if entry else "0"
        passno = (entry[5] if len(entry) > 5 else "0") if entry else "0"
        have = runtime[3].split(",") if runtime and len(runtime) > 3 else []
        out.append({
            "path": point, "escaped": esc, "mounted": runtime is not None,
            "line": " ".join([src, esc, fstype, opts, dump, passno]),
            "missing_at_runtime": unique([o for o in want if o not in have]),
        })
    return out


def new_fstab(text, todo):
    """fstab with each change's line: the last entry of its mount point replaced, or the line
    appended (lineinfile's rule)."""
    lines = text.splitlines()
    before = list(lines)
    for c in todo:
        rx = re.compile(r"^[ \t]*[^#\s]\S*[ \t]+%s[ \t]" % re.escape(c["escaped"]))
        idx = -1
        for i, cur in enumerate(lines):
            if rx.search(cur):
                idx = i
        if idx >= 0:
            lines[idx] = c["line"]
        elif c["line"] not in lines:
            lines.append(c["line"])
    if lines == before:
        return text
    return "\n".join(lines) + ("\n" if lines else "")


def may_mount(status_text):
    for line in status_text.splitlines():
        if line.startswith("CapEff:"):
            try:
                return (int(line.split(":", 1)[1].strip(), 16) >> CAP_SYS_ADMIN) & 1 == 1
            except ValueError:
                return False
    return False


def main():
    module = AnsibleModule(argument_spec=dict(
        items=dict(type="list", elements="raw", required=True),
        plan_only=dict(type="bool", default=False),
        fstab=dict(type="str", default="/etc/fstab"),
        mounts=dict(type="str", default="/proc/self/mounts"),
        remount=dict(type="bool", default=True),
    ), supports_check_mode=True)
    fstab_path, mounts_path = module.params["fstab"], module.params["mounts"]
    try:
        wanted = check_items(module.params["items"])
    except ValueError as e:
        module.fail_json(msg="items must be a non-empty list of {mountpoint: /path, options: "
                             "[nodev, nosuid, ...]}: %s" % e)
    try:
        mounts = read_text(mounts_path)
        exists = os.path.exists(fstab_path)
        old = read_text(fstab_path) if exists else None
        status = read_text("/proc/self/status")
    except OSError as e:
        module.fail_json(msg="cannot read %s: %s" % (e.filename, e.strerror))
    todo = changes(wanted, mounts, old or "")
    separate = [c["path"] for c in todo if not c["mounted"]]
    if separate:
        module.fail_json(msg="%s %s not a separate mount; making it one (a partition or a "
                             "tmpfs) is a manual step" % (", ".join(separate),
                                                           "is" if len(separate) == 1
                                                           else "are"))
    if module.params["plan_only"]:
        module.exit_json(changed=False, paths=[fstab_path])
    text = new_fstab(old or "", todo)
    changed = text != old
    result = dict(changed=changed, next_mount=[])
    if module._diff and changed:
        result["diff"] = [text_diff(fstab_path, old, text)]
    if changed and not module.check_mode:
        try:
            write_file(fstab_path, text, mode=0o644, attrs_from=fstab_path if exists else None)
        except OSError as e:
            module.fail_json(msg="cannot write %s: %s" % (fstab_path, e.strerror))
    if exists or not module.check_mode:
        attrs_changed, _ = set_attrs(module, fstab_path, "0644", "root", "root")
        result["changed"] = result["changed"] or attrs_changed
    remount = [c for c in todo if c["missing_at_runtime"]]
    # a mount table other than this host's own (the unit tests') is never remounted from
    live = module.params["remount"] and mounts_path == "/proc/self/mounts"
    if remount and not (live and may_mount(status)):
        result["next_mount"] = [c["path"] for c in remount]
    elif remount:
        result["changed"] = True
        if not module.check_mode:
            for c in remount:
                proc = subprocess.run(
                    ["mount", "-o", "remount," + ",".join(c["missing_at_runtime"]), c["path"]],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    universal_newlines=True, check=False)
                if proc.returncode != 0:
                    module.fail_json(msg="mount -o remount of %s failed: %s"
                                         % (c["path"], proc.stdout.strip()), changed=True)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
