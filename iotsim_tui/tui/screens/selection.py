"""What every part of the main screen stands on: the session and what is selected in it.

The main screen is put together from parts, each a set of actions (`DeviceActions`,
`EditingActions`, `LabActions`, `NetworkRuns`) on this one base, side by side rather than
stacked on each other, so a part needs nothing from another and nothing from the screen but
what is here.
"""

from __future__ import annotations

from textual.screen import Screen

from iotsim_tui.profiles.model import Network
from iotsim_tui.tui.messages import NetworksChanged
from iotsim_tui.tui.session import OpenNetwork, Session
from iotsim_tui.tui.widgets.network_tree import NetworkTree, Place


class SelectionScreen(Screen[None]):
    """A screen over the open networks, with a network or device selected in its tree."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.place: Place | None = None
        """What the tree's cursor is on; None before the first selection."""

    @property
    def network(self) -> OpenNetwork | None:
        """The open network the selection is in (the first one before any selection)."""
        if self.place is None:
            return self.session.networks[0] if self.session.networks else None
        return self.session.find(self.place.network)

    @property
    def device_id(self) -> str | None:
        """The selected device's id, if a device is selected."""
        return self.place.device if self.place is not None else None

    def _need_network(self) -> OpenNetwork | None:
        opened = self.network
        if opened is None:
            self.notify("Open or create a network first (o or n).", severity="warning")
        return opened

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

    def _select_after(self, place: Place) -> None:
        def move() -> None:
            tree = self.query_one(NetworkTree)
            node = tree.node_of(place)
            if node is not None:
                tree.move_cursor(node)

        self.call_after_refresh(move)
