"""A new network: its name and description (its broker settings come after, with c)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Input

from iotsim_tui.profiles.model import Network
from iotsim_tui.tui.screens import _checks
from iotsim_tui.tui.screens._form import FormDialog, field


class NewNetworkScreen(FormDialog[Network]):
    """Name and describe a new network; dismisses with a `Network` on the bundled broker."""

    AUTO_FOCUS = "#name"

    heading = "New network"
    intro = "A network is a set of devices and the broker they talk to; it is saved as one file."
    submit_label = "Create"

    def compose_fields(self) -> ComposeResult:
        """Name and description."""
        yield field("Name", Input(placeholder="e.g. NDE_FINANCE_NETWORK", id="name", compact=True))
        yield field(
            "Description",
            Input(
                placeholder="optional, e.g. Finance floor sensors", id="description", compact=True
            ),
        )

    def on_mount(self) -> None:
        """Check the name as it is typed."""
        self.live_checks["name"] = _checks.check_network_name

    def build(self, errors: dict[str, str]) -> Network | None:
        """The new, empty network."""
        return Network(
            name=self.query_one("#name", Input).value.strip(),
            description=self.query_one("#description", Input).value.strip(),
        )
