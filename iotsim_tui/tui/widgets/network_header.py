"""The top of the main screen: network, broker, link security, bundled broker state."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from iotsim_tui.profiles.model import Network


def tls_words(version: str) -> str:
    """A TLS version as people say it: "TLSv1.3" -> "TLS 1.3"."""
    return version.replace("TLSv", "TLS ", 1) if version.startswith("TLSv") else version


def link_text(network: Network, negotiated: str | None = None) -> Text:
    """A padlock and the TLS version in use (else the minimum offered), or "plain"."""
    tls = network.broker.tls
    if not tls.enabled:
        return Text("🔓 plain", style="yellow")
    if negotiated:
        return Text(f"🔒 {tls_words(negotiated)}", style="green")
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


def plain_open_warning(network: Network) -> str:
    """That the bundled broker keeps a plain port open beside TLS, or "" when it does not."""
    port = network.broker.plain_port_kept
    if port is None:
        return ""
    return (
        f"⚠ Port {port} stays open without TLS beside {network.broker.effective_port}: "
        "what is sent there can be read on the wire (network settings, c)."
    )


@dataclass(frozen=True, slots=True)
class HeaderState:
    """What the header shows of the selected network."""

    network: Network
    """The settings that run (the profile's own while the network is stopped)."""
    dirty: bool = False
    broker_state: str = ""
    """The bundled broker's state in a few words ("bundled broker running")."""
    tls_version: str | None = None
    """The TLS version a device of the network negotiated ("TLSv1.3"), if one is connected."""
    stale: bool = False
    """The network runs with older settings than the profile's: restart to apply."""


def header_line(state: HeaderState, width: int) -> Text:
    """The header's line, in the longest wording that fits `width` columns."""
    broker = state.network.broker
    where = f"{broker.host}:{broker.effective_port}"
    link = link_text(state.network, state.tls_version)
    restart = ("  │  ", ("restart to apply", "bold yellow")) if state.stale else ()
    full = Text.assemble(
        (state.network.name, "bold"),
        (" ● unsaved" if state.dirty else "", "bold yellow"),
        "  │  broker ",
        (where, "bold"),
        f" MQTT {broker.protocol.label}  │  ",
        link,
        "  │  ",
        state.broker_state,
        *restart,
    )
    if full.cell_len <= width:
        return full
    short_restart = (" │ ", ("restart to apply", "bold yellow")) if state.stale else ()
    tail = Text.assemble(
        " │ ",
        (where, "bold"),
        " │ ",
        link,
        " │ ",
        state.broker_state.replace("bundled broker", "broker"),
        *short_restart,
    )
    name = Text.assemble((state.network.name, "bold"), ("*" if state.dirty else "", "bold yellow"))
    room = width - tail.cell_len
    if name.cell_len > room:
        name.truncate(max(room, 4), overflow="ellipsis")
    return Text.assemble(name, tail)


class NetworkHeader(Vertical):
    """What the selected network talks to, and warnings: TLS checks off, plain port kept open."""

    DEFAULT_CSS = """
    NetworkHeader { height: auto; background: $panel; padding: 0 1; }
    NetworkHeader > #header-line { height: 1; }
    NetworkHeader > #header-warning { height: auto; color: $text-warning; display: none; }
    NetworkHeader > #header-warning.shown { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state: HeaderState | None = None
        self._shown: tuple[str, int] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="header-line")
        yield Static("", id="header-warning")

    def show(self, state: HeaderState | None) -> None:
        """Show a network's state (None: no network is open)."""
        self.state = state
        self._render_state()

    def _render_state(self) -> None:
        width = self.content_region.width or self.app.size.width - 2
        state = self.state
        line = self.query_one("#header-line", Static)
        warning = self.query_one("#header-warning", Static)
        if state is None:
            text = Text("no network open: n for a new one, o to open a profile")
            message = ""
        else:
            text = header_line(state, width)
            found = (verification_warning(state.network), plain_open_warning(state.network))
            message = "\n".join(warning for warning in found if warning)
        # The header is refreshed often; redraw only when what it says changes.
        if self._shown != (text.markup + message, width):
            self._shown = (text.markup + message, width)
            line.update(text)
            warning.update(message)
            warning.set_class(bool(message), "shown")

    def on_resize(self, _event: events.Resize) -> None:
        """Choose the wording again for the new width."""
        self._render_state()
