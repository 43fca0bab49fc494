"""The eavesdrop view of one network, full screen: what a sniffer on the wire sees."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static

from iotsim_tui.profiles.model import Network
from iotsim_tui.tui.session import EAVESDROP_MAX_DEVICES
from iotsim_tui.tui.widgets.eavesdrop import EavesdropPane
from iotsim_tui.tui.widgets.keys_footer import KeysFooter
from iotsim_tui.wiretap import Eavesdrop


class EavesdropScreen(Screen[None]):
    """The eavesdrop pane for one network, full screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="eavesdrop.close", tooltip="Back to the main screen"),
    ]

    DEFAULT_CSS = """
    EavesdropScreen #eavesdrop-title { height: 1; padding: 0 1; background: $panel; }
    EavesdropScreen #eavesdrop-off { padding: 1 2; }
    """

    def __init__(
        self, network: Network, tap: Eavesdrop | None = None, *, devices: int | None = None
    ) -> None:
        super().__init__()
        self.network = network
        self.tap = tap
        self.devices = devices
        """How many devices the network has, said when eavesdropping is off for it."""

    def _title(self) -> str:
        broker = self.network.broker
        where = f"{broker.host}:{broker.effective_port}"
        relay = f" · relay {self.tap.endpoint[0]}:{self.tap.endpoint[1]}" if self.tap else ""
        return f"Eavesdrop · {self.network.name} · broker {where}{relay}"

    def retitle(self, network: Network) -> None:
        """Show `network` as it is now (its broker may have changed since this view was built;
        the relay, and what it captured, stay)."""
        self.network = network
        title = self.query_one("#eavesdrop-title", Static)
        if str(title.content) != self._title():
            title.update(self._title())

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="eavesdrop-title")
        if self.tap is None:
            yield Static(off_text(self.devices), id="eavesdrop-off")
        else:
            yield EavesdropPane(self.tap, network=self.network.name)
        yield KeysFooter()

    def action_close(self) -> None:
        self.dismiss(None)


def off_text(devices: int | None) -> str:
    """Why the eavesdrop view has nothing to show, and how to capture such a network anyway."""
    this_one = f" (this one has {devices})" if devices is not None else ""
    return (
        f"Eavesdropping is off for networks of more than {EAVESDROP_MAX_DEVICES} devices"
        f"{this_one}: in the app their devices connect straight to the broker, since a relay "
        "would double their connections. To capture such a network, run it headless: "
        "`iotsim-tui run PROFILE --eavesdrop --pcap FILE`."
    )
