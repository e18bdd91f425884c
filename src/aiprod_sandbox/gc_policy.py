"""Keep the garbage collector's pauses short in a long-running `serve` process.

Python's full collection walks every tracked object, and a sandbox keeps up to 100,000 jobs
(about ten tracked objects each) per account: at that size one full collection stops every
request for ~100 ms. The policy here is the one large Python services use:

- objects that survived a full collection are long-lived: they are frozen (`gc.freeze()`),
  so later collections do not walk them again;
- the middle generation is collected after 100 young collections instead of 10. What a
  sandbox makes, it mostly keeps (every job), so a middle collection walks nearly all it
  made since the last one: ten times rarer, it takes ten times longer and costs the same in
  all, but stalls a tenth as many requests (under load, each pause delays the requests in
  flight, however long it is);
- frozen objects are still freed by reference counting (a forgotten job is), but a frozen
  *cycle* is not, and a forgotten account is one. So when the sandbox lets accounts go, and
  at the latest every `thaw_every` seconds, everything is thawed (`gc.unfreeze()`): the next
  full collection walks the whole heap once, frees those cycles and freezes the rest again.

At start-up `paused` keeps the collector out of the loading of a data directory. Only `serve`
installs these: it owns its process. The pytest plugin's in-thread sandbox
leaves the test process's collector alone.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from typing import Any

THRESHOLDS = (700, 100, 10)  # Python's defaults are (700, 10, 10)


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No collections while the block makes objects it keeps (a data directory's accounts at
    start-up: 100,000 jobs load in half the time), then what it made is frozen: long-lived."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.freeze()


class Collector:
    """Freezes the survivors of full collections; thaws when memory was let go."""

    def __init__(
        self,
        released: Callable[[], int],
        *,
        thaw_after: float = 10.0,
        thaw_every: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`released` counts what the app has let go (forgotten accounts). A thaw follows a
        release once `thaw_after` seconds have passed since the last thaw (so a stream of
        evictions costs one full walk per `thaw_after`, not one each), and every
        `thaw_every` seconds regardless, for any other cycle that died while frozen."""
        self._released = released
        self._thaw_after = thaw_after
        self._thaw_every = thaw_every
        self._clock = clock
        self._seen = released()
        self._thawed_at = clock()
        self._thresholds = gc.get_threshold()
        self.thaws = 0

    def install(self) -> None:
        """Collect and freeze what start-up built (modules, models, fixtures), then freeze
        after every full collection from now on."""
        self._thresholds = gc.get_threshold()
        gc.set_threshold(*THRESHOLDS)
        gc.collect()
        gc.freeze()
        gc.callbacks.append(self._after_collection)

    def uninstall(self) -> None:
        """Back to Python's own collector (when `serve` returns inside a larger process)."""
        if self._after_collection in gc.callbacks:
            gc.callbacks.remove(self._after_collection)
            gc.set_threshold(*self._thresholds)
        gc.unfreeze()

    def _after_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info.get("generation") == 2:
            gc.freeze()

    def tick(self) -> bool:
        """Called often (the server's 0.1 s tick); thaws when due. True when it thawed."""
        now = self._clock()
        released = self._released()
        since = now - self._thawed_at
        due = since >= self._thaw_every or (released != self._seen and since >= self._thaw_after)
        if not due:
            return False
        self._seen = released
        self._thawed_at = now
        if gc.get_freeze_count():
            gc.unfreeze()
            self.thaws += 1
            return True
        return False
