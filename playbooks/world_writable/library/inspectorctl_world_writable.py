#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Write permission for others removed from files, in one module call per host.

Runs on the managed host: standard library and Ansible's module_utils only, Python 3.6+.
paths: the files the playbook's walk found (absolute paths). Each is opened as a path (O_PATH,
without following a symlink) and, when it is still a regular file writable by others, loses
that bit (o-w) on that inode: a path that became a link, a directory or something else since the
walk, or that is gone, is left alone and named in ``skipped``. Check mode and ``--diff``
(the mode before and after, per file) are supported; ``changed_paths`` names the files.
"""

from __future__ import absolute_import, division, print_function

import os
import stat

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(
        paths=dict(type="list", elements="str", required=True),
    ), supports_check_mode=True)
    paths = module.params["paths"]
    bad = [p for p in paths if not p.startswith("/") or "\0" in p]
    if bad:
        module.fail_json(msg="paths must be absolute file paths: %r" % bad[:3])
    changed, skipped, diffs = [], [], []
    for path in paths:
        try:
            # O_PATH: nothing is opened for reading (a device swapped in since the walk is
            # not touched); the mode is changed through /proc/self/fd, on this very inode
            fd = os.open(path, os.O_PATH | os.O_NOFOLLOW)
        except OSError as e:
            skipped.append("%s: %s" % (path, e.strerror))
            continue
        try:
            st = os.fstat(fd)
            mode = stat.S_IMODE(st.st_mode)
            if not stat.S_ISREG(st.st_mode):
                skipped.append("%s: not a regular file" % path)
                continue
            if not mode & stat.S_IWOTH:
                continue
            new = mode & ~stat.S_IWOTH
            if not module.check_mode:
                os.chmod("/proc/self/fd/%d" % fd, new)
            changed.append(path)
            diffs.append({"before": {"path": path, "mode": "%04o" % mode},
                          "after": {"path": path, "mode": "%04o" % new}})
        except OSError as e:
            module.fail_json(msg="cannot change the mode of %s: %s" % (path, e.strerror),
                             changed=bool(changed), changed_paths=changed)
        finally:
            os.close(fd)
    result = dict(changed=bool(changed), changed_paths=changed, skipped=skipped)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
