"""AIPROD Sandbox: a local, stateful emulator of the AIPROD video-pipeline API.

The public API is what `__all__` names; everything else may change between versions. Names
are loaded on first use, so `aiprod-sandbox --help` and `--version` start instantly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_names
from ._version import __version__

if TYPE_CHECKING:
    from .app import create_app
    from .core.sandbox import Sandbox
    from .errors import ConfigError, SandboxError
    from .settings import Settings
    from .webhook_http.signing import sign, verify

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
    "sign": ".webhook_http.signing",
    "verify": ".webhook_http.signing",
}


__getattr__ = lazy_names(__name__, _WHERE)
