"""The main screen's actions that open dialogs: networks, files, quit (devices: see
`device_actions`)."""

from __future__ import annotations

from pathlib import Path

from iotsim_tui.errors import IotsimError, ProfileError
from iotsim_tui.profiles.limits import read_profile_text
from iotsim_tui.profiles.model import Network
from iotsim_tui.tui.messages import NetworksChanged
from iotsim_tui.tui.screens._kept import keep_dialog, kept_dialog
from iotsim_tui.tui.screens.selection import SelectionScreen
from iotsim_tui.tui.session import OpenNetwork
from iotsim_tui.tui.widgets.network_tree import Place
from iotsim_tui.words import counted


def comment_lines(path: Path) -> int:
    """How many lines of the file at `path` are TOML comments (0 when it cannot be read)."""
    try:
        text = read_profile_text(path)  # never a FIFO's endless wait or /dev/zero's flood
    except ProfileError:
        return 0
    return sum(1 for line in text.splitlines() if line.lstrip().startswith("#"))


class EditingActions(SelectionScreen):
    """Actions of the main screen that edit networks and devices through dialogs."""

    # -- networks ----------------------------------------------------------------------

    def action_new_network(self) -> None:
        from iotsim_tui.tui.screens.new_network import NewNetworkScreen

        def created(network: Network | None) -> None:
            if network is not None:
                opened = self.session.add(network, dirty=True)
                self.post_message(NetworksChanged())
                self._select_after(Place(opened.key))
                self.notify(f"{network.name} created: add devices with a, save with ctrl+s.")

        self.app.push_screen(NewNetworkScreen(), created)

    def _watch_broker(self, opened: OpenNetwork, broker: object) -> None:
        """Report when this broker process ends (`NetworkRuns` does it)."""
        raise NotImplementedError

    def action_settings(self) -> None:
        from iotsim_tui.broker.launch import data_folder
        from iotsim_tui.tui.screens.network_form import NetworkSettingsScreen

        opened = self._need_network()
        if opened is None:
            return

        def edited(network: Network | None) -> None:
            if network is not None and network != opened.network:
                self._changed_network(opened, network, f"Settings of {network.name} changed")

        async def forget_state() -> None:
            broker = await self.session.forget_broker_state(opened.network)
            if broker is not None:
                self._watch_broker(opened, broker)

        bundled = self.session.brokers.serves(opened.network)
        broker_data = data_folder(opened.network.name) if bundled else None
        certs_dir = self.session.certs_dir
        dialog = kept_dialog(self.app, NetworkSettingsScreen)
        if dialog is None:
            dialog = NetworkSettingsScreen(
                opened.network,
                certs_dir=certs_dir,
                broker_data=broker_data,
                forget_state=forget_state,
            )
            keep_dialog(self.app, dialog)
        else:
            dialog.refill(
                opened.network,
                certs_dir=certs_dir,
                broker_data=broker_data,
                forget_state=forget_state,
            )
        self.app.push_screen(dialog, edited)

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
        """Save, asking first when the file to overwrite has comments (saving drops them)."""
        from iotsim_tui.tui.screens.confirm import ConfirmScreen

        target = path or opened.path
        comments = comment_lines(target) if target is not None else 0
        if not comments:
            self._write(opened, path)
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._write(opened, path)

        lines = counted(comments, "comment line")
        self.app.push_screen(
            ConfirmScreen(
                f"{target} has {lines}. Saving writes the network anew and does not keep "
                "comments. Save anyway?",
                yes="Save without comments",
            ),
            confirmed,
        )

    def _write(self, opened: OpenNetwork, path: Path | None) -> None:
        try:
            where = self.session.save(opened, path)
        except IotsimError as error:
            self.notify(error.message, title=error.title, severity="error", timeout=15)
            return
        self.notify(f"Saved {opened.network.name} to {where}.", title="Saved")
        self.post_message(NetworksChanged())

    # -- other screens -----------------------------------------------------------------

    def action_broker_console(self) -> None:
        opened = self._need_network()
        if opened is None:
            return
        from iotsim_tui.tui.screens.console import BrokerConsoleScreen

        self.app.push_screen(BrokerConsoleScreen(opened))

    def action_eavesdrop(self) -> None:
        from iotsim_tui.tui.screens.eavesdrop import EavesdropScreen

        opened = self._need_network()
        if opened is None:
            return

        async def show() -> None:
            tap = await opened.ensure_tap()
            network = opened.reach(opened.network)
            # One view per relay, kept (it goes on listing packets while closed): the next
            # open only shows it.
            view = kept_dialog(self.app, EavesdropScreen, opened.key)
            if view is not None and view.tap is not tap:  # another relay: that view goes
                self.app.uninstall_screen(view)
                await view.remove()
                view = None
            if view is None:
                view = EavesdropScreen(network, tap, devices=len(opened.records))
                if tap is not None:
                    keep_dialog(self.app, view, opened.key)
            else:
                view.retitle(network)
            self.app.push_screen(view)

        self.run_worker(show(), name="eavesdrop", group="eavesdrop", exit_on_error=False)
