"""The ``probe`` fixture: each test that uses it runs against the probe package's modules and
against the one file the transports ship (see ``tests/collect/probes.py``)."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.collect import probes


@pytest.fixture(scope="session", params=probes.FLAVOURS)
def probe(request: pytest.FixtureRequest) -> ModuleType:
    flavour: str = request.param
    return probes.load(flavour)
