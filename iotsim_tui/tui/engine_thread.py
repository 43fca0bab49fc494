"""A network's simulation in a thread of its own, so its work never holds up the screen.

The engine schedules telemetry for a thousand devices in a few long callbacks; on the app's
own event loop each would freeze input for as long. Here the simulation runs on a second
asyncio loop in a daemon thread; the app's loop receives its event batches through a queue
and sends it calls (start, stop, publish, subscribe) with `call`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Collection, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from iotsim_tui.engine.events import Event

if TYPE_CHECKING:
    from iotsim_tui.engine import DeviceView, Simulation
    from iotsim_tui.profiles.model import Network

T = TypeVar("T")

JOIN_SECONDS = 10.0
"""How long the app waits for the engine's thread to end once its simulation is done."""
VIEW_SECONDS = 0.2
"""How often the watched device's view (subscriptions, counts) is sent to the app."""


class EngineThread:
    """One simulation on an event loop in its own thread; use from the app's loop."""

    def __init__(self, network: Network, endpoint: tuple[str, int] | None) -> None:
        self.network = network
        self.endpoint = endpoint
        self.watched: str | None = None
        """The device whose view the app wants (the selected one)."""
        self.view: DeviceView | None = None
        """The watched device's latest view, replaced from the engine thread."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"engine {network.name}", daemon=True
        )
        self._simulation: Simulation | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        """Set on the engine's loop once devices are started (or the simulation failed)."""

    async def run(
        self, device_ids: Collection[str] | None, on_batch: Callable[[list[Event]], None]
    ) -> None:
        """Run the simulation, start devices, and feed its batches to `on_batch` until cancelled.

        On cancellation the simulation is left the orderly way (every device disconnects)
        before this returns.
        """
        app_loop = asyncio.get_running_loop()
        batches: asyncio.Queue[list[Event] | None] = asyncio.Queue()
        finished = app_loop.create_future()

        def deliver(batch: list[Event] | None) -> None:
            app_loop.call_soon_threadsafe(batches.put_nowait, batch)

        async def simulate() -> None:
            from iotsim_tui.engine import Simulation

            try:
                async with Simulation(self.network, endpoint=self.endpoint) as simulation:
                    self._simulation = simulation
                    await simulation.start(device_ids)
                    self._ready.set()
                    await self._forward(simulation, deliver)
            finally:
                self._simulation = None
                self._ready.set()
                deliver(None)

        def done(task: asyncio.Task[None]) -> None:
            error = None if task.cancelled() else task.exception()
            app_loop.call_soon_threadsafe(_settle, finished, error)

        def begin() -> None:
            self._task = self._loop.create_task(simulate())
            self._task.add_done_callback(done)

        self._thread.start()
        self._loop.call_soon_threadsafe(begin)
        try:
            while (batch := await batches.get()) is not None:
                on_batch(batch)
        finally:
            self._loop.call_soon_threadsafe(self._cancel)
            try:
                await asyncio.shield(finished)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                await asyncio.to_thread(self._thread.join, JOIN_SECONDS)
                if not self._thread.is_alive():
                    self._loop.close()
        # The simulation ended by itself: say why (a failure is an exception here).
        await finished

    async def _forward(
        self, simulation: Simulation, deliver: Callable[[list[Event] | None], None]
    ) -> None:
        views = asyncio.create_task(self._follow_watched(simulation))
        try:
            async for batch in simulation.events():
                deliver(batch)
        finally:
            views.cancel()

    async def _follow_watched(self, simulation: Simulation) -> None:
        """Keep `view` up to date, also when no events arrive (a SUBACK makes none)."""
        while True:
            watched = self.watched
            try:
                self.view = simulation.device(watched) if watched is not None else None
            except KeyError:
                self.view = None
            await asyncio.sleep(VIEW_SECONDS)

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def call(self, work: Callable[[Simulation], Awaitable[T]]) -> T:
        """Run `work(simulation)` on the engine's loop and return its result here."""

        async def on_engine() -> T:
            await self._ready.wait()
            if self._simulation is None:
                raise RuntimeError("the simulation is not running")
            return await work(self._simulation)

        coroutine: Coroutine[Any, Any, T] = on_engine()
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))


def _settle(finished: asyncio.Future[None], error: BaseException | None) -> None:
    if finished.done():
        return
    if error is None:
        finished.set_result(None)
    else:
        finished.set_exception(error)
