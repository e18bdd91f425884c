"""AIPROD Sandbox: a local, stateful emulator of the AIPROD video-pipeline API.

The public API is what `__all__` names; everything else may change between versions. Names
are loaded on first use, so `aiprod-sandbox --help` and `--version` start instantly.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .app import create_app
    from .core.sandbox import Sandbox
    from .errors import ConfigError, SandboxError
    from .settings import Settings
    from .webhooks.signing import sign, verify

__all__ = [
    "ConfigError",
    "Sandbox",
    "SandboxError",
    "Settings",
    "__version__",
    "create_app",
    "sign",
    "verify",
]

_WHERE = {
    "ConfigError": ".errors",
    "Sandbox": ".core.sandbox",
    "SandboxError": ".errors",
    "Settings": ".settings",
    "create_app": ".app",
    "sign": ".webhooks.signing",
    "verify": ".webhooks.signing",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(import_module(_WHERE[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
