"""Facts about the machine the tests run on, read the way the probe does not (for comparison)."""

from __future__ import annotations

import subprocess


def installed_package_count() -> int:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Abbrev}\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sum(1 for ln in out.splitlines() if len(ln) > 1 and ln[1] == "i")
