"""Name -> definition, one registry per kind (component, trait, workflow step).

A definition registers itself with a decorator in its own module; adding a trait touches
one file. A duplicate name fails at import time.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable, Optional

from pydantic import BaseModel


@dataclass(frozen=True)
class Definition:
    """A component, trait or step type: its properties schema and what it does."""

    kind: str
    name: str
    properties: type[BaseModel]
    build: Callable[..., Any]
    description: str
    check: Optional[Callable[..., Any]] = None


class Registry:
    """The definitions of one kind, by name."""

    def __init__(self, kind: str):
        self.kind = kind
        self._defs: dict[str, Definition] = {}

    def define(self, name: str, properties: type[BaseModel], check: Optional[Callable] = None) -> Callable:
        """Decorator: register ``fn`` as the definition ``name`` with ``properties``.

        ``check(spec, app, component)`` yields the problems that need the whole file.
        """

        def register(fn: Callable) -> Callable:
            if name in self._defs:
                raise RuntimeError(f"{self.kind} type '{name}' is defined twice")
            doc = (fn.__doc__ or "").strip().splitlines()
            self._defs[name] = Definition(self.kind, name, properties, fn, doc[0] if doc else "", check)
            return fn

        return register

    def get(self, name: str) -> Optional[Definition]:
        return self._defs.get(name)

    def names(self) -> list[str]:
        return sorted(self._defs)


COMPONENTS = Registry("component")
TRAITS = Registry("trait")
STEPS = Registry("workflow step")

_loaded = False


def load_definitions() -> None:
    """Import every module of oam.components, oam.traits and oam.workflow once."""
    global _loaded
    if _loaded:
        return
    for package in ("oam.components", "oam.traits", "oam.workflow"):
        pkg = importlib.import_module(package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{package}.{info.name}")
    _loaded = True
