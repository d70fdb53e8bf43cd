"""Collection: one probe, several transports behind the ``Collector`` interface.

``get_collector(name)`` resolves a transport by name; an unknown name raises ``CollectError``
listing the valid ones. Transports are imported lazily (ansible-runner is only loaded when the
ansible transport is used).
"""

from __future__ import annotations

from collections.abc import Callable

from inspectorctl.collect.interface import CollectError, Collector


def _local() -> Collector:
    from inspectorctl.collect.local import LocalCollector

    return LocalCollector()


def _ansible() -> Collector:
    from inspectorctl.collect.ansible import AnsibleCollector

    return AnsibleCollector()


def _ssm() -> Collector:
    from inspectorctl.collect.ssm import SsmCollector

    return SsmCollector()


#: transport name -> factory
COLLECTORS: dict[str, Callable[[], Collector]] = {
    "local": _local,
    "ansible": _ansible,
    "ssm": _ssm,
}


def get_collector(name: str) -> Collector:
    """The collector for transport ``name`` ("local", "ansible", "ssm")."""
    try:
        factory = COLLECTORS[name]
    except KeyError:
        raise CollectError(
            f"unknown transport {name!r}; valid: {', '.join(sorted(COLLECTORS))}"
        ) from None
    return factory()


__all__ = ["COLLECTORS", "get_collector"]
