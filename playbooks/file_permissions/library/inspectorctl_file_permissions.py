#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Mode and ownership of every item's path(s), in one module call per host.

Runs on the managed host: standard library and Ansible's module_utils only, Python 3.6+.
items: [{path: /abs/path (a glob in the last component), mode: "0640" or "go-rwx",
owner: NAME (optional), group: NAME (optional)}]. The last component is matched as the find
module does (shell glob on the names of its directory, hidden names included, any file type);
a path that matches nothing is left alone. Links are not followed.

expand_only: true: change nothing, return ``paths``, the matched paths (what a backup records).
Otherwise set mode, owner and group where they differ, in path order (items for the same path
in their order), honouring check mode; ``diff`` has one before/after per changed path.
"""

from __future__ import absolute_import, division, print_function

import fnmatch
import os
import re

from ansible.module_utils.inspectorctl_files import items_module, set_attrs

MODE_RE = re.compile(
    r"^0?[0-7]{3,4}$|^[ugoa]*[-+=][rwxXst]*(,[ugoa]*[-+=][rwxXst]*)*$")
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$")


def check_items(items):
    """Problems of the items, as one message (empty: none)."""
    if not items:
        return "items must be a non-empty list"
    for i, it in enumerate(items):
        if not isinstance(it, dict):
            return "item %d is not a mapping" % i
        path, mode = it.get("path"), it.get("mode")
        if not isinstance(path, str) or not path.startswith("/"):
            return "item %d: path must be an absolute path, got %r" % (i, path)
        if not isinstance(mode, str) or not MODE_RE.match(mode):
            return ("item %d: mode must be a quoted octal or symbolic mode, got %r"
                    % (i, mode))
        for key in ("owner", "group"):
            v = it.get(key)
            if v is not None and (not isinstance(v, str) or not NAME_RE.match(v)):
                return "item %d: %s must be a user or group name, got %r" % (i, key, v)
    return ""


def expand(items):
    """(path, item) for every existing path an item matches, sorted by path (stable)."""
    out = []
    for it in items:
        d, pattern = os.path.split(it["path"])
        d = d or "/"
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            if fnmatch.fnmatch(name, pattern):
                out.append((os.path.join(d, name), it))
    out.sort(key=lambda t: t[0])
    return out


def main():
    module = items_module("expand_only")
    items = module.params["items"]
    problem = check_items(items)
    if problem:
        module.fail_json(
            msg="items must be a non-empty list of {path: /absolute/path, mode: \"0640\" (a "
                "quoted octal or symbolic mode), owner: NAME (optional), group: NAME "
                "(optional)}: " + problem)
    targets = expand(items)
    paths = sorted(set(p for p, _ in targets))
    if module.params["expand_only"]:
        module.exit_json(changed=False, paths=paths)
    changed_paths = []
    diffs = []
    for path, it in targets:
        changed, diff = set_attrs(module, path, it["mode"], it.get("owner"), it.get("group"))
        if changed:
            changed_paths.append(path)
            diffs.append(diff)
    result = dict(changed=bool(changed_paths), paths=paths, changed_paths=changed_paths)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
