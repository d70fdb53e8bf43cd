"""``python -m inspectorctl.lab.ssm serve ...``: the endpoint process (see ``control``)."""

from __future__ import annotations

import sys

from inspectorctl.lab.ssm.control import serve

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "serve":
        sys.stderr.write("usage: python -m inspectorctl.lab.ssm serve --state-dir DIR ...\n")
        sys.exit(2)
    sys.exit(serve(sys.argv[2:]))
