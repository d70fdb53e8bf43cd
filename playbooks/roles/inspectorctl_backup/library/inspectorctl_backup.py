#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Record what a run is about to change, in one module call (one round trip per host).

Runs on the managed host: standard library and Ansible's module_utils only, Python 3.6+.
Layout under <root>/<run_id>/ (what the _rollback playbook reads):
  files/<sha1 of the path>   the content of a regular file as it was first seen in the run
  manifest/<sha1>.json       {"records": [...]}: one record per path, one manifest per call
                             that had new paths to record (named by the sha1 of its paths)
A path already recorded by an earlier call of the same run is not recorded again (the first
state is kept). Bookkeeping, not a change of the host's configuration: always changed=false.
Check mode writes nothing.
"""

from __future__ import absolute_import, division, print_function

import grp
import hashlib
import json
import os
import pwd
import re
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.inspectorctl_files import write_file

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
ON_RESTORE = ("", "sshd_reload", "sysctl_reload", "systemd_reload")


def sha1(text):
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def recorded_paths(manifest_dir):
    """Paths the run's manifests record already."""
    done = set()
    if not os.path.isdir(manifest_dir):
        return done
    for name in sorted(os.listdir(manifest_dir)):
        full = os.path.join(manifest_dir, name)
        if not name.endswith(".json") or not os.path.isfile(full):
            continue
        with open(full, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
        for rec in data.get("records", []):
            done.add(rec["path"])
    return done


def describe(path, content, on_restore, playbook):
    """The record of a path as it is now (not following a last-component link)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is None:
        kind = "absent"
    elif stat.S_ISREG(st.st_mode):
        kind = "file"
    elif stat.S_ISLNK(st.st_mode):
        kind = "link"
    elif stat.S_ISDIR(st.st_mode):
        kind = "directory"
    else:
        kind = "other"
    rec = {
        "path": path,
        "existed": st is not None,
        "type": kind,
        "content": bool(content and kind == "file"),
        "mode": None,
        "uid": None,
        "gid": None,
        "owner": None,
        "group": None,
        "link_target": None,
        "on_restore": on_restore,
        "playbook": playbook,
    }
    if st is not None:
        rec["mode"] = "%04o" % stat.S_IMODE(st.st_mode)
        rec["uid"] = st.st_uid
        rec["gid"] = st.st_gid
        try:
            rec["owner"] = pwd.getpwuid(st.st_uid).pw_name
        except KeyError:
            rec["owner"] = None
        try:
            rec["group"] = grp.getgrgid(st.st_gid).gr_name
        except KeyError:
            rec["group"] = None
        if kind == "link":
            rec["link_target"] = os.readlink(path)
    return rec


def make_dirs(path):
    """Create path and its missing parents, each 0700 root:root."""
    missing = []
    cur = path
    while not os.path.isdir(cur):
        missing.append(cur)
        cur = os.path.dirname(cur)
    for d in reversed(missing):
        os.mkdir(d, 0o700)
        os.chown(d, 0, 0)
        os.chmod(d, 0o700)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="str", required=True),
            run_id=dict(type="str", required=True),
            paths=dict(type="list", elements="str", required=True),
            content=dict(type="bool", default=True),
            on_restore=dict(type="str", default=""),
            playbook=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not RUN_ID_RE.match(p["run_id"]):
        module.fail_json(msg="inspectorctl_run_id (letters, digits, '.', '_', '-') is required "
                         "and the paths to back up must be absolute; got run id %s"
                         % p["run_id"])
    bad = [x for x in p["paths"] if not x.startswith("/")]
    if bad or not p["root"].startswith("/"):
        module.fail_json(msg="the paths to back up must be absolute; got %s"
                         % ", ".join(bad or [p["root"]]))
    if p["on_restore"] not in ON_RESTORE:
        module.fail_json(msg="on_restore must be one of %s; got %s"
                         % (", ".join(repr(x) for x in ON_RESTORE), p["on_restore"]))
    run_dir = os.path.join(p["root"], p["run_id"])
    manifest_dir = os.path.join(run_dir, "manifest")
    try:
        done = recorded_paths(manifest_dir)
    except (OSError, ValueError, KeyError, TypeError) as e:
        module.fail_json(msg="cannot read the run's backup manifests in %s: %s"
                         % (manifest_dir, e))
    todo = []
    for path in p["paths"]:
        if path not in done and path not in todo:
            todo.append(path)
    if not todo or module.check_mode:
        # check mode changes nothing, so there is nothing to back up
        module.exit_json(changed=False, recorded=[], already=sorted(done))
    try:
        records = [describe(x, p["content"], p["on_restore"], p["playbook"]) for x in todo]
        files_dir = os.path.join(run_dir, "files")
        make_dirs(files_dir)
        make_dirs(manifest_dir)
        for rec in records:
            if rec["content"]:
                write_file(os.path.join(files_dir, sha1(rec["path"])), copy_from=rec["path"],
                           mode=0o600)
        name = sha1(",".join(sorted(r["path"] for r in records)))
        text = json.dumps({"records": records}, indent=4, sort_keys=True) + "\n"
        write_file(os.path.join(manifest_dir, name + ".json"), text, mode=0o600)
    except OSError as e:
        module.fail_json(msg="cannot back up %s: %s" % (", ".join(todo), e))
    module.exit_json(changed=False, recorded=todo, already=sorted(done))


if __name__ == "__main__":
    main()
