"""What partners import in their tests: the pytest plugin's server, account and receiver.

The product never imports this package.
"""

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
