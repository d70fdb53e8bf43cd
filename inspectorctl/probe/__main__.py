"""Entry points: standalone (``python3 probe.py [--root DIR] < request.json``) and Ansible
``jsonargs`` module mode (see ``_ANSIBLE_ARGS``)."""

import base64
import json
import sys
from typing import List, Optional

from .run import run_probe

# Ansible substitutes the module arguments (JSON) for the marker below. Do not write the marker
# anywhere else in this file: Ansible replaces every occurrence.
# JSON never contains three quotes in a row and always ends in "}", so a raw triple-quoted
# string holds any argument JSON verbatim.
_ANSIBLE_ARGS = r"""<<INCLUDE_ANSIBLE_MODULE_JSON_ARGS>>"""


_ANSIBLE_MARKER = "<<INCLUDE_ANSIBLE_" + "MODULE_JSON_ARGS>>"


def _ansible_main(raw_args: str) -> int:
    """Module entry point: arguments were substituted into ``_ANSIBLE_ARGS`` by Ansible."""
    try:
        args = json.loads(raw_args)
        request = json.loads(base64.b64decode(args["request_b64"]).decode("utf-8"))
        root = args.get("root") or "/"
    except (ValueError, KeyError, TypeError) as e:
        print(json.dumps({"failed": True, "msg": "inspectorctl probe: bad arguments: %s" % e}))
        return 1
    try:
        snapshot = run_probe(request, root)
    except Exception as e:
        import traceback

        print(
            json.dumps(
                {
                    "failed": True,
                    "msg": "inspectorctl probe crashed: %s: %s" % (type(e).__name__, e),
                    "exception": traceback.format_exc(),
                }
            )
        )
        return 1
    print(json.dumps({"changed": False, "snapshot": snapshot}))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    if _ANSIBLE_ARGS != _ANSIBLE_MARKER:
        return _ansible_main(_ANSIBLE_ARGS)
    args = list(sys.argv[1:] if argv is None else argv)
    root = "/"
    if args[:1] == ["--root"] and len(args) >= 2:
        root = args[1]
        args = args[2:]
    if args:
        sys.stderr.write("usage: python3 probe.py [--root DIR] < request.json\n")
        return 2
    if sys.version_info < (3, 6):
        sys.stderr.write("inspectorctl probe needs python 3.6 or newer\n")
        return 2
    try:
        request = json.loads(sys.stdin.read() or "{}")
    except ValueError as e:
        sys.stderr.write("inspectorctl probe: request is not JSON: %s\n" % e)
        return 2
    if not isinstance(request, dict):
        sys.stderr.write("inspectorctl probe: request must be a JSON object\n")
        return 2
    sys.stdout.write(json.dumps(run_probe(request, root)))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
