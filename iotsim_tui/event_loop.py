"""Which event loop runs the bundled broker: uvloop when installed, else asyncio's.

uvloop (`pip install 'iotsim-tui[fast]'`) does the socket work of the event loop in C: per
message the broker spends less CPU in reading, writing and polling (docs/performance.md).
Without it, or with `IOTSIM_EVENT_LOOP=asyncio` in the environment, asyncio's own loop runs.
The simulation stays on asyncio's loop: its sockets are paho's, and uvloop did not make the
devices any cheaper when measured.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

ENV = "IOTSIM_EVENT_LOOP"
"""Set to `asyncio` to use asyncio's own loop even where uvloop is installed."""


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's `new_event_loop` when it is installed and not turned off; None otherwise."""
    if os.environ.get(ENV, "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def name() -> str:
    """The loop `run` uses, for logs: 'uvloop' or 'asyncio'."""
    return "asyncio" if loop_factory() is None else "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, on uvloop where `loop_factory` finds it."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
