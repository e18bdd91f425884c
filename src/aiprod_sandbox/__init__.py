"""AIPROD Sandbox: a local, stateful emulator of the AIPROD video-pipeline API.

The public API is what `__all__` names; everything else may change between versions.
"""

from ._version import __version__
from .app import create_app
from .core.sandbox import Sandbox
from .errors import ConfigError, SandboxError
from .settings import Settings

__all__ = ["ConfigError", "Sandbox", "SandboxError", "Settings", "__version__", "create_app"]
