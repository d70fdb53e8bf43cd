#!/usr/bin/python
# -*- coding: utf-8 -*-
"""sshd options that win over every other setting, in one module call per host.

Runs on the managed host: standard library and Ansible's module_utils only, Python 3.6+.
items: [{option: PermitRootLogin, value: "no"}, ...].

The options (with those a managed block of an earlier run already sets: a later value of the
same option, compared without case, replaces the earlier one) go into a managed block
(``# BEGIN/END inspectorctl managed settings``, options sorted by name) at the top of the main
configuration, before its Include of the drop-ins and before any Match block, so each is the
first value sshd obtains; a block already there is replaced where it stands. Every other line
setting a managed option is commented out (``# (disabled by inspectorctl) LINE``): in the main
file above and below the block, and in the drop-ins (``DIR/*.conf`` that are regular files).
The main file is written only when ``sshd -t -f`` accepts its new text (read with the drop-ins
as changed); when it does not, the drop-ins get their old text back and nothing is changed.
This is what the playbook did with blockinfile and replace, in one round trip.

plan_only: true: change nothing, return ``paths`` (the main file and the drop-ins this run
would edit: what a backup records). Otherwise apply, honouring check mode, with one
before/after ``diff`` per file changed; ``changed_paths`` names them.
"""

from __future__ import absolute_import, division, print_function

import os
import re
import stat
import subprocess
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.inspectorctl_files import read_text, text_diff, write_file

BEGIN = "# BEGIN inspectorctl managed settings"
END = "# END inspectorctl managed settings"
DISABLED = "# (disabled by inspectorctl) "
OPTION_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def check_items(items):
    """[(option, value)] in order; ValueError with the reason if bad."""
    if not isinstance(items, list) or not items:
        raise ValueError("no items")
    out = []
    for i, it in enumerate(items):
        if not isinstance(it, dict) or "option" not in it or "value" not in it:
            raise ValueError("item %d lacks option or value" % i)
        option, value = it["option"], it["value"]
        if not isinstance(option, str) or not OPTION_RE.match(option):
            raise ValueError("item %d: %r is not an sshd option name" % (i, option))
        if isinstance(value, bool):
            value = "yes" if value else "no"
        value = str(value)
        if "\n" in value or "\r" in value:
            raise ValueError("item %d: the value has a newline" % i)
        out.append((option, value.strip()))
    return out


def block_span(lines):
    """(begin, end) indices of the managed block's marker lines, or None (blockinfile's rule:
    the last line equal to each marker; either order)."""
    n0 = n1 = None
    for i, line in enumerate(lines):
        if line.rstrip("\r\n") == BEGIN:
            n0 = i
        if line.rstrip("\r\n") == END:
            n1 = i
    if n0 is None or n1 is None:
        return None
    return (n0, n1) if n0 < n1 else (n1, n0)


def managed_lines(main_text, items):
    """{option in lower case: its line}: the block's lines, then the items (a later value of
    an option replaces the earlier one)."""
    lines = main_text.splitlines(True)
    span = block_span(lines)
    managed = {}
    existing = []
    if span is not None and lines[span[0]].rstrip("\r\n") == BEGIN:
        existing = [ln.strip() for ln in lines[span[0] + 1:span[1]]]
    for line in existing:
        if line and not line.startswith("#"):
            managed[line.split()[0].lower()] = line
    for option, value in items:
        managed[option.lower()] = ("%s %s" % (option, value)).strip()
    return managed


def option_re(managed):
    """One line setting any managed option (group 1: the whole line), case-insensitive."""
    names = "|".join(re.escape(k) for k in managed)
    return re.compile(r"(?i)^([ \t]*(?:%s)(?:[ \t]+|[ \t]*=).*)$" % names, re.MULTILINE)


def disable(text, rx):
    return rx.sub(lambda m: DISABLED + m.group(1), text)


def new_main(text, managed, rx):
    """The main file's text: the block in place (or at the top), the managed options above
    and below it commented out."""
    lines = text.splitlines(True)
    span = block_span(lines)
    block = [BEGIN + "\n"] + [managed[k] + "\n" for k in sorted(managed)] + [END + "\n"]
    if span is None:
        before, after = "", "".join(lines)
    else:
        before, after = "".join(lines[:span[0]]), "".join(lines[span[1] + 1:])
        if before and not before.endswith("\n"):
            before += "\n"
    return disable(before, rx) + "".join(block) + disable(after, rx)


def dropins(directory, rx):
    """The drop-ins (regular ``*.conf`` files, not hidden) with a line setting a managed
    option, sorted: {path: text}."""
    out = {}
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return out
    for name in names:
        if name.startswith(".") or not name.endswith(".conf"):
            continue
        path = os.path.join(directory, name)
        if not stat.S_ISREG(os.lstat(path).st_mode):
            continue
        text = read_text(path)
        if any(rx.match(line) for line in text.splitlines()):
            out[path] = text
    return out


def validate(sshd, path, text):
    """None when ``sshd -t -f`` accepts ``text`` as the main configuration, else its error."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".inspectorctl-sshd-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(text.encode("utf-8", "surrogateescape"))
        proc = subprocess.run([sshd, "-t", "-f", tmp], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    finally:
        os.unlink(tmp)
    if proc.returncode == 0:
        return None
    return (proc.stdout.strip() or "exit code %d" % proc.returncode).replace(tmp, path)


def main():
    module = AnsibleModule(argument_spec=dict(
        items=dict(type="list", elements="raw", required=True),
        plan_only=dict(type="bool", default=False),
        main=dict(type="str", default="/etc/ssh/sshd_config"),
        dropin_dir=dict(type="str", default="/etc/ssh/sshd_config.d"),
        sshd=dict(type="str", default="/usr/sbin/sshd"),
    ), supports_check_mode=True)
    main_path, dropin_dir, sshd = (module.params["main"], module.params["dropin_dir"],
                                   module.params["sshd"])
    for name, value in (("main", main_path), ("dropin_dir", dropin_dir), ("sshd", sshd)):
        if not value.startswith("/"):
            module.fail_json(msg="%s must be an absolute path, not %r" % (name, value))
    try:
        items = check_items(module.params["items"])
    except ValueError as e:
        module.fail_json(msg="items must be a non-empty list of {option: NAME, value: VALUE} "
                             "(one line values): %s" % e)
    real_main = os.path.realpath(main_path)
    if not os.path.isfile(real_main):
        module.fail_json(msg="%s does not exist or is not a file: is sshd installed?"
                             % main_path)
    try:
        old_main = read_text(real_main)
        managed = managed_lines(old_main, items)
        rx = option_re(managed)
        old_dropins = dropins(dropin_dir, rx)
    except OSError as e:
        module.fail_json(msg="cannot read %s: %s" % (e.filename, e.strerror))
    if module.params["plan_only"]:
        module.exit_json(changed=False, paths=[main_path] + sorted(old_dropins))
    new_dropins = dict((p, disable(t, rx)) for p, t in old_dropins.items())
    main_text = new_main(old_main, managed, rx)
    changed = [p for p in sorted(new_dropins) if new_dropins[p] != old_dropins[p]]
    diffs = [text_diff(p, old_dropins[p], new_dropins[p]) for p in changed]
    if main_text != old_main:
        diffs.append(text_diff(main_path, old_main, main_text))
    result = dict(changed=bool(diffs), changed_paths=changed + (
        [main_path] if main_text != old_main else []))
    if module._diff:
        result["diff"] = diffs
    if module.check_mode or not diffs:
        module.exit_json(**result)
    written = []
    try:
        for p in changed:
            write_file(p, new_dropins[p], attrs_from=p)
            written.append(p)
        if main_text != old_main:
            problem = validate(sshd, real_main, main_text)
            if problem is not None:
                for p in written:
                    write_file(p, old_dropins[p], attrs_from=p)
                module.fail_json(msg="sshd refuses the new configuration, nothing was changed: "
                                     "%s" % problem)
            write_file(real_main, main_text, attrs_from=real_main)
    except OSError as e:
        module.fail_json(msg="cannot write %s: %s" % (e.filename, e.strerror),
                         changed=bool(written), changed_paths=written)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
