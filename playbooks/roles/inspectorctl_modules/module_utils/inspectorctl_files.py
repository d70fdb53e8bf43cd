# -*- coding: utf-8 -*-
"""Helpers of inspectorctl's playbook modules (``library/*.py`` of the playbooks and of
the inspectorctl_backup role), imported as ``ansible.module_utils.inspectorctl_files``.

Runs on the managed host: standard library only, Python 3.6+. Text is read and written as
UTF-8 with surrogate escapes, so bytes that are not UTF-8 survive a rewrite unchanged.
"""

from __future__ import absolute_import, division, print_function

import os
import shutil
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule


def items_module(plan_option="plan_only"):
    """The AnsibleModule of a playbook's own module: ``items``, a list the module checks
    itself, and ``plan_option``, a bool that asks for the plan only (change nothing, say what
    the backup records); check mode supported."""
    spec = {"items": dict(type="list", elements="raw", required=True),
            plan_option: dict(type="bool", default=False)}
    return AnsibleModule(argument_spec=spec, supports_check_mode=True)


def read_text(path):
    """The content of path as text (bytes that are not UTF-8 kept as surrogates)."""
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "surrogateescape")


def is_regular(path):
    """Whether path is a regular file (a link to one is not)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def write_file(path, text=None, copy_from=None, mode=0o644, attrs_from=None):
    """Replace path atomically (a temporary file in its directory, renamed over it) with
    ``text`` or the content of ``copy_from``: owned by root with ``mode``, or with the owner
    and mode of ``attrs_from`` (an existing file: its own attributes kept)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".inspectorctl-")
    try:
        with os.fdopen(fd, "wb") as out:
            if copy_from is not None:
                with open(copy_from, "rb") as src:
                    shutil.copyfileobj(src, out)
            else:
                out.write(text.encode("utf-8", "surrogateescape"))
        if attrs_from is not None:
            st = os.stat(attrs_from)
            os.chown(tmp, st.st_uid, st.st_gid)
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
        else:
            os.chown(tmp, 0, 0)
            os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def set_attrs(module, path, mode, owner=None, group=None):
    """Owner, group and mode of path where they differ, in the file module's order (a chown
    may clear set-id bits the mode then sets); honours check mode. (changed, before/after
    diff)."""
    diff = {"before": {"path": path}, "after": {"path": path}}
    changed = module.set_owner_if_different(path, owner, False, diff, expand=False)
    changed = module.set_group_if_different(path, group, changed, diff, expand=False)
    changed = module.set_mode_if_different(path, mode, changed, diff, expand=False)
    return changed, diff


def text_diff(path, before, after):
    """A before/after diff of a file's text (``before`` None: the file is created)."""
    return {"before": before or "", "after": after, "after_header": path,
            "before_header": path if before is not None else "/dev/null"}
