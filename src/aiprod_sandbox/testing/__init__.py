"""What partners import in their tests: the pytest plugin's server, account and receiver.

The product never imports this package. Names load on first use, so that pytest, which
imports the plugin at start-up, does not pay for the server until a test asks for it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .account import SandboxAccount
    from .receiver import ReceiverHandle, ReceiverServer
    from .server import ExternalSandbox, ThreadedSandbox

__all__ = [
    "ExternalSandbox",
    "ReceiverHandle",
    "ReceiverServer",
    "SandboxAccount",
    "ThreadedSandbox",
]

_WHERE = {
    "ExternalSandbox": ".server",
    "ReceiverHandle": ".receiver",
    "ReceiverServer": ".receiver",
    "SandboxAccount": ".account",
    "ThreadedSandbox": ".server",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(import_module(_WHERE[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
