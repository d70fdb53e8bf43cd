"""Running shell snippets inside lab hosts, for the lab tests."""

from __future__ import annotations

from inspectorctl.lab import Lab


def sh(lab: Lab, host: str, script: str) -> str:
    """Stdout of ``script`` run by /bin/sh as root inside ``host``; it must exit 0."""
    result = lab.exec(host, ["/bin/sh", "-c", script])
    assert result.returncode == 0, result.stderr
    return result.stdout
