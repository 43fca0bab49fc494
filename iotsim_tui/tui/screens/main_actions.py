"""The main screen's actions that open dialogs: networks, devices, files, help, quit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.binding import Binding
from textual.screen import Screen

from iotsim_tui.engine.events import DeviceStatus
from iotsim_tui.engine.generators import device_topic
from iotsim_tui.errors import IotsimError
from iotsim_tui.profiles.model import Device, Network, Subscription, Telemetry
from iotsim_tui.tui import editing
from iotsim_tui.tui.messages import NetworksChanged
from iotsim_tui.tui.session import OpenNetwork, Session
from iotsim_tui.tui.widgets.device_log import DeviceLog
from iotsim_tui.tui.widgets.network_tree import NetworkTree, Place


def key_table(screen: Screen[Any]) -> list[tuple[str, str, str]]:
    """(key, what it does, where) for every binding of the screen and its panes."""
    rows: list[tuple[str, str, str]] = []
    for where, bindings in (
        ("everywhere", screen.BINDINGS),
        ("device log", DeviceLog.BINDINGS),
    ):
        for binding in bindings:
            if isinstance(binding, Binding):
                key = {"question_mark": "?", "slash": "/"}.get(binding.key, binding.key)
                rows.append((key, binding.tooltip or binding.description, where))
    rows.append(("tab / shift+tab", "Move between panes", "everywhere"))
    rows.append(("ctrl+p", "Command palette: every action by name", "everywhere"))
    return rows


class EditingActions(Screen[None]):
    """Actions of the main screen that edit networks and devices through dialogs."""

    session: Session
    place: Place | None

    @property
    def network(self) -> OpenNetwork | None:
        """The open network the selection is in (the main screen says which)."""
        raise NotImplementedError

    @property
    def device_id(self) -> str | None:
        """The selected device's id (the main screen says which)."""
        raise NotImplementedError

    def _changed_network(self, opened: OpenNetwork, network: Network, what: str) -> None:
        opened.apply(network)
        if opened.engine is not None:
            self.notify(
                f"{what}. {network.name} is running: the change applies when you stop and start "
                "it (S, S).",
                title="Applies on restart",
            )
        else:
            self.notify(what)
        self.post_message(NetworksChanged())

    def _need_network(self) -> OpenNetwork | None:
        opened = self.network
        if opened is None:
            self.notify("Open or create a network first (o or n).", severity="warning")
        return opened

    def _need_device(self) -> tuple[OpenNetwork, Device] | None:
        opened = self._need_network()
        if opened is None:
            return None
        if self.device_id is None:
            self.notify("Select a device in the tree first.", severity="warning")
            return None
        try:
            return opened, editing.own_device(opened.network, self.device_id)
        except IotsimError as error:
            self.notify(error.message, title=error.title, severity="warning")
            return None

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

    def _select_after(self, place: Place) -> None:
        def move() -> None:
            tree = self.query_one(NetworkTree)
            node = tree.node_of(place)
            if node is not None:
                tree.move_cursor(node)

        self.call_after_refresh(move)

    # -- networks ----------------------------------------------------------------------

    def action_new_network(self) -> None:
        from iotsim_tui.tui.screens.network_form import NewNetworkScreen

        def created(network: Network | None) -> None:
            if network is not None:
                opened = self.session.add(network, dirty=True)
                self.post_message(NetworksChanged())
                self._select_after(Place(opened.key))
                self.notify(f"{network.name} created: add devices with a, save with ctrl+s.")

        self.app.push_screen(NewNetworkScreen(), created)

    def action_settings(self) -> None:
        from iotsim_tui.tui.screens.network_form import NetworkSettingsScreen

        opened = self._need_network()
        if opened is None:
            return

        def edited(network: Network | None) -> None:
            if network is not None and network != opened.network:
                self._changed_network(opened, network, f"Settings of {network.name} changed")

        self.app.push_screen(
            NetworkSettingsScreen(opened.network, certs_dir=self.session.certs_dir), edited
        )

    def action_open(self) -> None:
        from iotsim_tui.tui.screens.files import OpenProfileScreen

        def chosen(path: Path | None) -> None:
            if path is None:
                return
            try:
                opened = self.session.open(path)
            except IotsimError as error:
                self.notify(error.message, title=error.title, severity="error", timeout=15)
                return
            self.post_message(NetworksChanged())
            self._select_after(Place(opened.key))
            self.notify(f"Opened {opened.network.name} from {path}.")

        self.app.push_screen(OpenProfileScreen(), chosen)

    def action_save(self) -> None:
        opened = self._need_network()
        if opened is None:
            return
        if opened.path is None:
            self.action_save_as()
            return
        self._save(opened, None)

    def action_save_as(self) -> None:
        from iotsim_tui.tui.screens.files import SaveAsScreen

        opened = self._need_network()
        if opened is None:
            return
        default = opened.path or Path("profiles") / f"{opened.network.name.lower()}.toml"

        def chosen(path: Path | None) -> None:
            if path is not None:
                self._save(opened, path)

        self.app.push_screen(SaveAsScreen(default), chosen)

    def _save(self, opened: OpenNetwork, path: Path | None) -> None:
        try:
            where = self.session.save(opened, path)
        except IotsimError as error:
            self.notify(error.message, title=error.title, severity="error", timeout=15)
            return
        self.notify(f"Saved {opened.network.name} to {where}.", title="Saved")
        self.post_message(NetworksChanged())

    # -- devices -----------------------------------------------------------------------

    def action_add_device(self) -> None:
        from iotsim_tui.tui.screens.device_form import DeviceScreen

        opened = self._need_network()
        if opened is None:
            return

        def added(device: Device | None) -> None:
            if device is None:
                return
            try:
                network = editing.put_device(opened.network, device)
            except IotsimError as error:
                self.notify(error.message, title=error.title, severity="error")
                return
            self._changed_network(opened, network, f"{device.id} added to {network.name}")
            self._select_after(Place(opened.key, device.id))

        self.app.push_screen(DeviceScreen(opened.network, None), added)

    def action_edit_device(self) -> None:
        from iotsim_tui.tui.screens.device_form import DeviceScreen

        found = self._need_device()
        if found is None:
            return
        opened, old = found

        def edited(device: Device | None) -> None:
            if device is None or device == old:
                return
            try:
                network = editing.put_device(opened.network, device, replacing=old.id)
            except IotsimError as error:
                self.notify(error.message, title=error.title, severity="error")
                return
            self._changed_network(opened, network, f"{device.id} changed")
            self._select_after(Place(opened.key, device.id))

        self.app.push_screen(DeviceScreen(opened.network, old), edited)

    def action_delete_device(self) -> None:
        from iotsim_tui.tui.screens.confirm import ConfirmScreen

        found = self._need_device()
        if found is None:
            return
        opened, device = found

        def confirmed(yes: bool | None) -> None:
            if yes:
                network = editing.remove_device(opened.network, device.id)
                self._changed_network(opened, network, f"{device.id} deleted")
                self._select_after(Place(opened.key))

        self.app.push_screen(
            ConfirmScreen(
                f"Delete {device.id} ({device.name}) from {opened.network.name}?", yes="Delete"
            ),
            confirmed,
        )

    def action_subscribe(self) -> None:
        from iotsim_tui.tui.screens.subscribe import SubscribeScreen

        found = self._need_device()
        if found is None:
            return
        opened, device = found

        def chosen(subscription: Subscription | None) -> None:
            if subscription is not None:
                self._subscribe(opened, device, subscription)

        self.app.push_screen(SubscribeScreen(device), chosen)

    def _subscribe(self, opened: OpenNetwork, device: Device, subscription: Subscription) -> None:
        """Save the subscription in the profile, and subscribe the device now if it runs."""
        changed = editing.add_subscription(device, subscription)
        opened.apply(editing.put_device(opened.network, changed, replacing=device.id))
        self.post_message(NetworksChanged())
        record = opened.records.get(device.id)
        if opened.engine is None or record is None or record.status is DeviceStatus.STOPPED:
            self.notify(
                f"{device.id} will subscribe to {subscription.topic} when it starts "
                "(saved in the profile).",
                title="Subscription added",
            )
            return
        topic_filter = device_topic(subscription.topic, device)
        self.notify(
            f"{device.id} subscribes to {topic_filter} now, and on every start.",
            title="Subscription added",
        )
        self.run_worker(
            opened.subscribe(device.id, topic_filter, qos=subscription.qos),
            name=f"subscribe {device.id}",
            group="control",
            exit_on_error=False,
        )

    def action_telemetry(self) -> None:
        from iotsim_tui.tui.screens.telemetry_list import TelemetryChoice, TelemetryListScreen

        found = self._need_device()
        if found is None:
            return
        opened, device = found
        if not device.telemetry:
            self._edit_telemetry(opened, device, None)
            return

        def chosen(choice: TelemetryChoice | None) -> None:
            if choice is None:
                return
            if choice.action == "delete" and choice.index is not None:
                self._delete_telemetry(opened, device, choice.index)
            else:
                self._edit_telemetry(opened, device, choice.index)

        self.app.push_screen(TelemetryListScreen(device), chosen)

    def _edit_telemetry(self, opened: OpenNetwork, device: Device, index: int | None) -> None:
        """Add a telemetry topic (`index` None) or edit the device's telemetry number `index`."""
        from iotsim_tui.tui.screens.telemetry import TelemetryScreen

        current = device.telemetry[index] if index is not None else None

        def edited(telemetry: Telemetry | None) -> None:
            if telemetry is None or telemetry == current:
                return
            changed = editing.put_telemetry(device, telemetry, replacing=index)
            network = editing.put_device(opened.network, changed, replacing=device.id)
            what = (
                f"{device.id} now publishes {telemetry.topic}"
                if current is None
                else f"Telemetry {telemetry.topic} of {device.id} changed"
            )
            self._changed_network(opened, network, what)

        self.app.push_screen(TelemetryScreen(device, current), edited)

    def _delete_telemetry(self, opened: OpenNetwork, device: Device, index: int) -> None:
        from iotsim_tui.tui.screens.confirm import ConfirmScreen

        topic = device.telemetry[index].topic

        def confirmed(yes: bool | None) -> None:
            if yes:
                changed = editing.remove_telemetry(device, index)
                network = editing.put_device(opened.network, changed, replacing=device.id)
                self._changed_network(opened, network, f"{device.id} no longer publishes {topic}")

        self.app.push_screen(
            ConfirmScreen(f"Delete the telemetry {topic} of {device.id}?", yes="Delete"),
            confirmed,
        )

    # -- other screens -----------------------------------------------------------------

    def action_broker_console(self) -> None:
        opened = self._need_network()
        if opened is None:
            return
        from iotsim_tui.tui.screens.console import BrokerConsoleScreen

        self.app.push_screen(BrokerConsoleScreen(opened))

    def action_eavesdrop(self) -> None:
        from iotsim_tui.tui.widgets.eavesdrop import EavesdropScreen

        opened = self._need_network()
        if opened is None:
            return

        async def show() -> None:
            tap = await opened.ensure_tap()
            await self.app.push_screen(EavesdropScreen(opened.network, tap))

        self.run_worker(show(), name="eavesdrop", group="eavesdrop", exit_on_error=False)

    def action_help(self) -> None:
        from iotsim_tui.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(key_table(self)))

    def action_quit(self) -> None:
        from iotsim_tui.tui.screens.confirm import ConfirmScreen

        unsaved = self.session.dirty
        if not unsaved:
            self.app.exit(0)
            return
        names = ", ".join(n.network.name for n in unsaved)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.app.exit(0)

        self.app.push_screen(
            ConfirmScreen(f"Quit without saving {names}?", yes="Quit without saving"), confirmed
        )
