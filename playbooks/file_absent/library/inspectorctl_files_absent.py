#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Files that must not exist, removed in one module call per host.

Runs on the managed host: standard library and Ansible's module_utils only, Python 3.6+.
items: [{path: /etc/hosts.equiv}, ...]. A path that does not exist is compliant; a path that
is a directory is refused (removing a tree is not a reversible remediation); anything else
(a file, a symbolic link, which is not followed) is removed.

plan_only: true: change nothing, return ``paths``: the paths that exist (what the backup
records). Otherwise remove them, honouring check mode, with one before/after ``diff`` each.
"""

from __future__ import absolute_import, division, print_function

import os
import stat

from ansible.module_utils.inspectorctl_files import items_module

USAGE = "items must be a non-empty list of {path: /absolute/path/of/a/file}"


def item_paths(items):
    """The items' paths, in order, without repeats; ValueError if bad."""
    if not isinstance(items, list) or not items:
        raise ValueError("no items")
    out = []
    for i, it in enumerate(items):
        path = it.get("path") if isinstance(it, dict) else None
        if not isinstance(path, str) or not path.startswith("/") or path.endswith("/"):
            raise ValueError("item %d: %r is not an absolute file path" % (i, path))
        if path not in out:
            out.append(path)
    return out


def kind(path):
    """'absent', 'directory', 'link' or 'file' (any other non-directory)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "absent"
    if stat.S_ISDIR(mode):
        return "directory"
    return "link" if stat.S_ISLNK(mode) else "file"


def main():
    module = items_module()
    try:
        paths = item_paths(module.params["items"])
    except ValueError as e:
        module.fail_json(msg="%s: %s" % (USAGE, e))
    kinds = dict((p, kind(p)) for p in paths)
    dirs = [p for p in paths if kinds[p] == "directory"]
    if dirs:
        module.fail_json(msg="%s is a directory; file_absent removes files only (remove it by "
                             "hand)" % ", ".join(dirs))
    present = [p for p in paths if kinds[p] != "absent"]
    if module.params["plan_only"]:
        module.exit_json(changed=False, paths=present)
    diffs = []
    for p in present:
        diffs.append({"before": {"path": p, "state": kinds[p]},
                      "after": {"path": p, "state": "absent"}})
        if not module.check_mode:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
            except OSError as e:
                module.fail_json(msg="cannot remove %s: %s" % (p, e.strerror),
                                 changed=p != present[0])
    result = dict(changed=bool(present), removed=present)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
