"""Starting and stopping the main screen's networks and devices, each network's simulation
run as a worker, and the bundled brokers they need."""

from __future__ import annotations

import contextlib

from textual import work
from textual.worker import Worker, WorkerCancelled, get_current_worker

from iotsim_tui.engine.events import DeviceStatus
from iotsim_tui.errors import IotsimError
from iotsim_tui.runner.digest import Digest, History
from iotsim_tui.tui.messages import (
    BrokerExited,
    BrokerStateChanged,
    DeviceHistoryArrived,
    NetworkEventsArrived,
    NetworkStopped,
)
from iotsim_tui.tui.screens.selection import SelectionScreen
from iotsim_tui.tui.session import OpenNetwork, Session


class NetworkRuns(SelectionScreen):
    """Start/stop keys of the main screen: one simulation worker per running network."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self._runs: dict[str, Worker[None]] = {}
        """Network key -> the worker running its simulation."""

    def refuse_client_id_clash(self, opened: OpenNetwork, device_ids: list[str] | None) -> bool:
        """True, said in a notification, when a device to start (None: all) would use a
        client id that a running network already uses on the same broker."""
        from iotsim_tui.tui.client_ids import clash_message, clashes

        found = clashes(opened, device_ids, self.session.networks)
        if found:
            self.notify(
                clash_message(opened, found, self.session.networks),
                title="Client id already in use",
                severity="error",
                timeout=20,
            )
        return bool(found)

    def action_toggle_device(self) -> None:
        opened, device_id = self.network, self.device_id
        if opened is None:
            self.notify("Open or create a network first (o or n).", severity="warning")
            return
        if device_id is None:
            self.action_toggle_network()
            return
        if opened.records[device_id].status is DeviceStatus.STOPPED:
            self.start(opened, [device_id])
        else:
            self.stop(opened, [device_id])

    def action_toggle_network(self) -> None:
        opened = self.network
        if opened is None:
            self.notify("Open or create a network first (o or n).", severity="warning")
        elif opened.active:
            self.stop(opened, None)
        else:
            self.start(opened, None)

    @work(group="control", exit_on_error=False)
    async def start(self, opened: OpenNetwork, device_ids: list[str] | None) -> None:
        """Start devices (None: all), starting the bundled broker and simulation as needed."""
        if self.refuse_client_id_clash(opened, device_ids):
            return
        try:
            broker = await self.session.ensure_broker(opened.network)
        except IotsimError as error:
            self.post_message(BrokerStateChanged())
            self.notify(
                f"{error.message}.",
                title=error.title,
                severity="error",
                timeout=15,
            )
            return
        if broker is not None:
            self._watch_broker(opened, broker)
        notice = self.session.brokers.take_notice(opened.network)
        if notice is not None:
            self.notify(f"{notice}.", title="Another broker", severity="warning", timeout=15)
        self.post_message(BrokerStateChanged())
        run = self._runs.get(opened.key)
        if run is not None and opened.stale and not opened.active:
            await _cancel(run)
            run = None
        if run is None or opened.engine is None:
            self._runs[opened.key] = self.run_worker(
                self._run(opened, device_ids),
                name=f"network {opened.network.name}",
                group="simulation",
                exit_on_error=False,
            )
            return
        if opened.stale:
            self.notify(
                f"{opened.network.name} runs with its old settings: stop and start it (S, S) "
                "to apply your changes.",
                title="Changes apply on restart",
            )
        try:
            await opened.start(device_ids)
        except KeyError as error:
            self.notify(
                f"{error.args[0]}: stop and start the network (S, S) to start it.",
                severity="warning",
            )

    async def _run(self, opened: OpenNetwork, device_ids: list[str] | None) -> None:
        def on_news(news: Digest | History) -> None:
            if isinstance(news, History):
                added = opened.take_history(news)
                if added != []:
                    self.post_message(DeviceHistoryArrived(opened.key, news.device_id, added))
                return
            changed = opened.take_digest(news)
            if changed or news.events:
                self.post_message(NetworkEventsArrived(opened.key, list(news.events), changed))

        app = self.app

        def quitting() -> bool:
            return app.return_code is not None

        reason = None
        try:
            await opened.run(device_ids, on_news, quitting=quitting)
        except IotsimError as error:
            reason = error
        finally:
            # Only this run: a restart may have registered the next one already.
            if self._runs.get(opened.key) is get_current_worker():
                del self._runs[opened.key]
            self.post_message(NetworkStopped(opened.key, reason))

    @work(group="control", exit_on_error=False)
    async def stop(self, opened: OpenNetwork, device_ids: list[str] | None) -> None:
        """Stop devices (None: all, which also ends the simulation)."""
        if device_ids is None:
            run = self._runs.pop(opened.key, None)
            if run is not None:
                await _cancel(run)
            return
        if opened.engine is not None:
            await opened.stop(device_ids)

    def _watch_broker(self, opened: OpenNetwork, broker: object) -> None:
        where = (opened.network.broker.host, opened.network.broker.effective_port)
        # By process: after a restart the old broker's watch may still be ending.
        name = f"broker watch {where[0]}:{where[1]} ({getattr(broker, 'pid', None)})"
        if any(w.name == name and not w.is_finished for w in self.workers):
            return
        wait_exited = getattr(broker, "wait_exited", None)
        if wait_exited is None:
            return

        async def watch() -> None:
            code: int = await wait_exited()
            if self.session.brokers.get(where) is broker:
                self.post_message(BrokerExited(where[0], where[1], code))

        self.run_worker(watch(), name=name, group="brokers", exit_on_error=False)


async def _cancel(run: Worker[None]) -> None:
    """Cancel a network's run and wait until its devices are stopped."""
    run.cancel()
    with contextlib.suppress(WorkerCancelled):  # what wait() says of a cancelled worker
        await run.wait()
