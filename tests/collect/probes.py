"""The probe in the two forms the tests run it in: the package's modules (``inspectorctl/probe/``)
and the one file the transports ship (``inspectorctl.probe.bundle``), each as one namespace.

The bundle is the shipped file executed as a module (not as ``__main__``, so it does not run).
The package form gathers every shipped module's names into one namespace, as the bundle has
them; patching a name there (``monkeypatch.setattr(probe, ...)``) patches it in every module that
holds it, which is where the functions look it up.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from inspectorctl.probe import bundle

FLAVOURS = ("package", "bundle")


def shipped_module_names() -> list[str]:
    return sorted(
        p.stem for p in bundle.PACKAGE_DIR.glob("*.py") if p.name not in bundle.CONTROLLER_ONLY
    )


class PackageProbe(ModuleType):
    """Every shipped module of ``inspectorctl.probe`` as one namespace."""

    def __init__(self) -> None:
        super().__init__("inspectorctl.probe (package form)")
        modules = [importlib.import_module(f"inspectorctl.probe.{n}") for n in
                   shipped_module_names()]
        object.__setattr__(self, "_modules", modules)
        originals: dict[str, Any] = {}
        for m in modules:
            for name, value in vars(m).items():
                if originals.setdefault(name, value) is not value and not name.startswith("__"):
                    raise AssertionError(f"{name!r} differs between the probe's modules")
        object.__setattr__(self, "_originals", originals)

    def __getattr__(self, name: str) -> Any:
        for m in self.__dict__["_modules"]:
            if name in vars(m):
                return vars(m)[name]
        raise AttributeError(f"no shipped probe module defines {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        holders = [m for m in self.__dict__["_modules"] if name in vars(m)]
        if not holders:
            raise AttributeError(f"no shipped probe module defines {name!r}")
        for m in holders:
            setattr(m, name, value)

    def __delattr__(self, name: str) -> None:
        """Restore ``name`` to what the modules defined. (``monkeypatch`` undoes a setattr on
        an object whose ``__dict__`` lacked the name by deleting it.)"""
        originals = self.__dict__["_originals"]
        if name not in originals:
            raise AttributeError(f"no shipped probe module defines {name!r}")
        for m in self.__dict__["_modules"]:
            if name in vars(m):
                setattr(m, name, originals[name])


def bundle_module() -> ModuleType:
    """The shipped probe file, executed as a fresh module."""
    module = ModuleType("inspectorctl_probe")
    source = bundle.shipped_probe().source
    exec(compile(source, "<inspectorctl_probe (bundle)>", "exec"), module.__dict__)
    module.__dict__["_originals"] = dict(module.__dict__)
    return module


def load(flavour: str) -> ModuleType:
    if flavour == "package":
        return PackageProbe()
    if flavour == "bundle":
        return bundle_module()
    raise ValueError(f"unknown probe flavour {flavour!r}; valid: {', '.join(FLAVOURS)}")


def original(probe: ModuleType, name: str) -> Any:
    """``name`` as the probe defined it, whatever a test has patched since."""
    return probe.__dict__["_originals"][name]
