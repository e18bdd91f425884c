"""pyinstrument, for `bench/plugin.py --profile`: a profiler, and a loop profiled on the
calling thread and on the server's event-loop thread at once."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `--role cold` would load it before its timed import
    import asyncio


def profiler() -> Any:
    try:
        from pyinstrument import Profiler  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        sys.exit("--profile needs pyinstrument: .venv/bin/pip install pyinstrument")
    return Profiler(interval=0.0002, async_mode="disabled")


def profile_loop(
    loop: asyncio.AbstractEventLoop, label: str, action: Callable[[], Any], runs: int
) -> None:
    """Profile `action` x runs on this thread and, at once, on the server's event-loop thread
    `loop` (where the in-process transport runs the app)."""
    import asyncio

    client_profiler = profiler()
    server_profiler = profiler()
    asyncio.run_coroutine_threadsafe(_call(server_profiler.start), loop).result(5)
    client_profiler.start()
    for _ in range(runs):
        action()
    client_profiler.stop()
    asyncio.run_coroutine_threadsafe(_call(server_profiler.stop), loop).result(5)
    for side, profiler_ in (
        ("calling thread", client_profiler),
        ("server thread", server_profiler),
    ):
        print(f"\n===== profile: {label} × {runs}, {side} =====")
        print(profiler_.output_text(unicode=True, color=False, show_all=False))


async def _call(function: Callable[[], Any]) -> None:
    function()
