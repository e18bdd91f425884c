"""Names a package exports but imports only on first use (PEP 562's module `__getattr__`):
`aiprod-sandbox --version` and pytest's start-up do not pay for the server."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_names(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """The `__getattr__` of `package`: each name of `where` is imported from its module
    (relative to the package) the first time it is asked for, then kept."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(where[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
