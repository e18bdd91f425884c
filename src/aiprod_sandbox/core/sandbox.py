"""The sandbox's domain root: settings, catalogue, accounts, server ids and links, no HTTP.

`create_app` builds one `Sandbox` and hangs the HTTP surface on it; the pytest plugin and the
tests can drive it directly. Two sandboxes in one process share nothing.
"""

from __future__ import annotations

from collections import deque

from ..settings import Settings
from .accounts import Accounts
from .catalog import Catalog, load_catalog
from .clock import WallTime, system_time
from .ids import IdSource
from .links import Links


class Sandbox:
    def __init__(
        self,
        settings: Settings,
        *,
        catalog: Catalog | None = None,
        wall: WallTime = system_time,
    ) -> None:
        self.settings = settings
        self.catalog = catalog if catalog is not None else load_catalog(settings.fixtures)
        self.wall = wall
        self.accounts = Accounts(settings, self.catalog, wall)
        self.ids = IdSource(settings.seed, "server")
        self.links = Links(f"aiprod-sandbox-links:{settings.seed}", settings.link_ttl_seconds)
        self.unexpected_errors: deque[BaseException] = deque(maxlen=100)

    def record_error(self, exc: BaseException) -> None:
        """Keep an unexpected exception (the pytest plugin re-raises it in the test)."""
        self.unexpected_errors.append(exc)
