"""Implementations by name. Every module under ``impl`` is imported once and each Trainer subclass with a
``name`` registers itself, so adding an implementation means adding one module. Modules must not import
heavy frameworks at import time (Keras modules import TensorFlow only when a trainer is built)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

import impl
from impl.contract import Trainer
from impl.errors import ConfigError
from impl.workloads import WORKLOADS


@cache
def _discover() -> dict[str, type[Trainer]]:
    for module in pkgutil.walk_packages(impl.__path__, prefix="impl."):
        importlib.import_module(module.name)
    return dict(Trainer.registry)


def all_implementations() -> dict[str, type[Trainer]]:
    """Every registered implementation, available here or not: by workload (mlp first), then by name."""
    found = _discover()
    order = list(WORKLOADS)
    rank = {name: (order.index(cls.workload) if cls.workload in order else len(order), name)
            for name, cls in found.items()}
    return {name: found[name] for name in sorted(found, key=rank.__getitem__)}


def get_implementation(name: str, *, require_available: bool = True) -> type[Trainer]:
    """The class registered as ``name``; a one-line error for unknown or unavailable ones."""
    found = all_implementations()
    if name not in found:
        raise ConfigError(f"unknown implementation {name!r}; known: {', '.join(found)}")
    cls = found[name]
    if require_available:
        cls.require_available()
    return cls


def implementations_for(workload: str | None = None, *, available_only: bool = True) -> list[type[Trainer]]:
    return [cls for cls in all_implementations().values()
            if (workload is None or cls.workload == workload)
            and not (available_only and cls.unavailable_reason())]


def parse_names(text: str) -> list[str]:
    """Comma-separated implementation names, validated."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        get_implementation(name, require_available=False)
    return names


def add(classes: dict[str, type[Trainer]]) -> None:
    """Make implementations defined elsewhere known by these names (a benchmark's base revision, imported
    beside this one); ``all_implementations`` lists them from now on."""
    Trainer.registry.update(classes)
    _discover.cache_clear()
