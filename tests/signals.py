"""The process's SIGINT and SIGTERM handlers around an ansible-runner call: they must be the
same after it (ansible-runner installs its own for good unless given a cancel callback)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def sentinel_handlers() -> Iterator[dict[int, Callable[..., Any]]]:
    """Install a distinct handler for each signal (so a replacement shows), yield them, and put
    the originals back."""
    saved = {s: signal.getsignal(s) for s in SIGNALS}

    def handler(signum: int, frame: object) -> None:
        raise AssertionError(f"signal {signum} was not expected in this test")

    mine: dict[int, Callable[..., Any]] = {}
    for s in SIGNALS:
        mine[s] = lambda n, f, h=handler: h(n, f)
        signal.signal(s, mine[s])
    try:
        yield mine
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def current() -> dict[int, object]:
    return {s: signal.getsignal(s) for s in SIGNALS}
