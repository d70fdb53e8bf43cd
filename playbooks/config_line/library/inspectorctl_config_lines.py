#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Setting lines in configuration files, in one module call per host.

Runs on the managed host: standard library and Ansible's module_utils only, Python 3.6+.
items: [{path: /etc/login.defs, regexp: '^\\s*PASS_MAX_DAYS\\s', line: 'PASS_MAX_DAYS 365'}].
Items for the same file are applied in their order, each to the lines the previous left: the
last line in which ``regexp`` (a Python regular expression) is found is replaced by ``line``,
the other matching lines are removed, and ``line`` is appended when nothing matches and it is
not there yet. A missing file is created 0644 root:root; an existing file keeps its mode and
owner; a path that exists and is not a regular file (a link, a directory) is refused. A file
whose text does not change is not written.

plan_only: true: change nothing, return ``paths`` (the files, what a backup records).
Otherwise apply, honouring check mode, with one before/after ``diff`` per file changed.
"""

from __future__ import absolute_import, division, print_function

import os
import re
import stat

from ansible.module_utils.inspectorctl_files import items_module, read_text, text_diff, write_file


def check_items(items):
    """(paths in first-seen order, compiled items); ValueError with the reason if bad."""
    if not isinstance(items, list) or not items:
        raise ValueError("no items")
    paths, out = [], []
    for i, it in enumerate(items):
        if not isinstance(it, dict) or not all(k in it for k in ("path", "regexp", "line")):
            raise ValueError("item %d lacks path, regexp or line" % i)
        path, line = it["path"], it["line"]
        if not isinstance(path, str) or not path.startswith("/") or path.endswith("/"):
            raise ValueError("item %d: %r is not an absolute file path" % (i, path))
        if not isinstance(line, str):
            line = str(line)
        if "\n" in line:
            raise ValueError("item %d: the line has a newline" % i)
        try:
            rx = re.compile(str(it["regexp"]))
        except re.error as e:
            raise ValueError("item %d: regexp %r: %s" % (i, it["regexp"], e)) from None
        if path not in paths:
            paths.append(path)
        out.append((path, rx, line))
    return paths, out


def new_text(old, items):
    """The file's text after the items (``old`` None: the file does not exist)."""
    lines = (old or "").splitlines()
    for rx, line in items:
        idx = -1
        for i, cur in enumerate(lines):
            if rx.search(cur):
                idx = i
        if idx < 0:
            if line not in lines:
                lines.append(line)
        else:
            lines = [line if i == idx else cur for i, cur in enumerate(lines)
                     if i == idx or not rx.search(cur)]
    return "\n".join(lines) + ("\n" if lines else "")


def read(path):
    """The file's text, or None when it does not exist; ValueError when it is no file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError("%s exists and is not a regular file" % path)
    return read_text(path)


def main():
    module = items_module()
    try:
        paths, items = check_items(module.params["items"])
        old = dict((p, read(p)) for p in paths)
    except ValueError as e:
        module.fail_json(msg="items must be a non-empty list of {path: /absolute/file, "
                             "regexp: REGEX, line: ONE LINE}: %s" % e)
    except OSError as e:
        module.fail_json(msg="cannot read %s: %s" % (e.filename, e.strerror))
    if module.params["plan_only"]:
        module.exit_json(changed=False, paths=paths)
    changed, diffs = [], []
    for path in paths:
        text = new_text(old[path], [(rx, line) for p, rx, line in items if p == path])
        if old[path] is not None and text == old[path]:
            continue
        changed.append(path)
        diffs.append(text_diff(path, old[path], text))
        if not module.check_mode:
            try:
                write_file(path, text, attrs_from=path if old[path] is not None else None)
            except OSError as e:
                module.fail_json(msg="cannot write %s: %s" % (path, e.strerror),
                                 changed=bool(changed[:-1]))
    result = dict(changed=bool(changed), changed_paths=changed)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
