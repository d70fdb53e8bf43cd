#!/usr/bin/python
# -*- coding: utf-8 -*-
"""cron and at restricted to listed users, in one module call per host.

Runs on the managed host: standard library and Ansible's module_utils only, Python 3.6+.
/etc/cron.allow and /etc/at.allow: created with "root" when missing (content kept otherwise),
then root:root 0640; /etc/cron.deny and /etc/at.deny: removed. As the tasks it replaces,
check mode shows the allow files it would create and the deny files it would remove, not the
owner or mode it would correct on an allow file that exists.
"""

from __future__ import absolute_import, division, print_function

import os

from ansible.module_utils.inspectorctl_files import (
    items_module,
    set_attrs,
    text_diff,
    write_file,
)

ALLOW = ("/etc/cron.allow", "/etc/at.allow")
DENY = ("/etc/cron.deny", "/etc/at.deny")


def main():
    module = items_module()
    items = module.params["items"]
    if not all(isinstance(it, dict) for it in items):
        module.fail_json(msg="items must be a list of {} (this remediation has no parameters)")
    check = module.check_mode
    changed, diffs = [], []
    for path in ALLOW:
        if not os.path.lexists(path):
            changed.append(path)
            diffs.append(text_diff(path, None, "root\n"))
            if not check:
                write_file(path, "root\n", mode=0o640)
        elif not check:
            c, diff = set_attrs(module, path, "0640", "root", "root")
            if c:
                changed.append(path)
                diffs.append(diff)
    for path in DENY:
        if os.path.lexists(path):
            changed.append(path)
            diffs.append({"before": {"path": path, "state": "file"},
                          "after": {"path": path, "state": "absent"}})
            if not check:
                try:
                    os.unlink(path)
                except OSError as e:
                    module.fail_json(msg="cannot remove %s: %s" % (path, e.strerror),
                                     changed=len(changed) > 1)
    result = dict(changed=bool(changed), changed_paths=changed)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
