"""What partners import in their tests: the pytest plugin's server, account and receiver.

The product never imports this package. Names load on first use, so that pytest, which
imports the plugin at start-up, does not pay for the server until a test asks for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

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


__getattr__ = lazy_names(__name__, _WHERE)
