"""The top of the main screen: network, broker, link security, bundled broker state."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from iotsim_tui.profiles.model import Network


def link_text(network: Network) -> Text:
    """A padlock and the TLS version offered, or an open lock and "plain"."""
    tls = network.broker.tls
    if not tls.enabled:
        return Text("🔓 plain", style="yellow")
    return Text(f"🔒 TLS {tls.min_version}+", style="green")


def verification_warning(network: Network) -> str:
    """Why this TLS link can be intercepted, or "" when every check is on."""
    tls = network.broker.tls
    if not tls.enabled:
        return ""
    off = [
        name
        for name, on in (
            ("certificate", tls.verify_certificate),
            ("host name", tls.verify_hostname),
        )
        if not on
    ]
    if not off:
        return ""
    return (
        f"⚠ TLS {' and '.join(off)} verification is OFF: anyone on the path can pose as the "
        "broker. Turn it back on in the network settings (c)."
    )


class NetworkHeader(Vertical):
    """Two lines: what the selected network talks to, and a warning when TLS checks are off."""

    DEFAULT_CSS = """
    NetworkHeader { height: auto; background: $panel; padding: 0 1; }
    NetworkHeader > #header-line { height: 1; }
    NetworkHeader > #header-warning { height: auto; color: $text-warning; display: none; }
    NetworkHeader > #header-warning.shown { display: block; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="header-line")
        yield Static("", id="header-warning")

    def show(self, network: Network | None, *, dirty: bool, broker_state: str) -> None:
        """Show `network`; `broker_state` is the bundled broker's, in a few words."""
        line = self.query_one("#header-line", Static)
        warning = self.query_one("#header-warning", Static)
        if network is None:
            line.update(Text("no network open: n for a new one, o to open a profile"))
            warning.set_class(False, "shown")
            return
        broker = network.broker
        text = Text.assemble(
            (network.name, "bold"),
            (" ● unsaved" if dirty else "", "bold yellow"),
            "  │  broker ",
            (f"{broker.host}:{broker.effective_port}", "bold"),
            f" MQTT {broker.protocol.value}  │  ",
            link_text(network),
            "  │  ",
            broker_state,
        )
        line.update(text)
        message = verification_warning(network)
        warning.update(message)
        warning.set_class(bool(message), "shown")
