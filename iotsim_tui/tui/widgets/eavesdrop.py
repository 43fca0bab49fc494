"""The eavesdrop pane: what a sniffer on the wire sees of a network's devices.

A packet list (time, direction, protocol, summary), the detail of the highlighted packet
(fields, then hex and text), and a banner that says whether credentials and payloads are
visible or the traffic is encrypted. Like a sniffer, the list follows the newest packet until
the user moves the cursor or scrolls up; `f` follows again. The pane reads a running
`Eavesdrop` relay; `p` writes what it captured to a pcap file for Wireshark.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from iotsim_tui.errors import IotsimError
from iotsim_tui.tui.screens.files import CapturePathScreen, default_capture_path
from iotsim_tui.tui.widgets.packet_list import PacketList, header_line
from iotsim_tui.wiretap import Eavesdrop, WireItem, hexdump
from iotsim_tui.words import counted

MAX_ROWS = 5000
"""Packets listed at most; the oldest rows go first."""
DETAIL_BYTES = 1024
"""Bytes of a packet shown in the hex view."""

PLAIN_BANNER = "⚠ credentials and payloads visible: MQTT in clear, anyone on the path reads them"
TLS_BANNER = "🔒 encrypted: TLS, a sniffer sees the handshake and record sizes only"
WAITING_BANNER = "… waiting for traffic: start the network's devices"


def packet_detail(item: WireItem) -> Text:
    """The detail view of one packet: where it went, its fields, then its bytes."""
    text = Text()
    text.append(f"{item.protocol} · connection #{item.connection} · {item.direction.label}", "bold")
    text.append(f" · {counted(item.size, 'byte')}\n", style="dim")
    for found in item.fields:
        text.append(f"{found.name}: ", style="bold")
        text.append(found.value, style="bold red" if found.exposed else "")
        if found.exposed:
            text.append("  ⚠ exposed", style="reverse red")
        text.append("\n")
    if item.data:
        shown = item.data[:DETAIL_BYTES]
        text.append("\n")
        text.append("\n".join(hexdump(shown)), style="dim")
        if len(shown) < item.size:
            more = counted(item.size - len(shown), "more byte")
            text.append(f"\n… {more} not shown", style="dim")
    return text


class EavesdropPane(Vertical):
    """A sniffer's view of one eavesdrop relay: banner, packet list, packet detail."""

    DEFAULT_CSS = """
    EavesdropPane { height: 1fr; }
    EavesdropPane > .banner { height: auto; padding: 0 1; text-style: bold; }
    EavesdropPane > #eavesdrop-banner { background: $boost; }
    EavesdropPane > #eavesdrop-banner.plain { background: $error 40%; }
    EavesdropPane > #eavesdrop-banner.encrypted { background: $success 30%; }
    EavesdropPane > #eavesdrop-keylog { background: $warning 30%; }
    EavesdropPane > #eavesdrop-columns { height: 1; background: $panel; text-style: bold; }
    EavesdropPane > PacketList { height: 2fr; }
    EavesdropPane > VerticalScroll { height: 1fr; border-top: solid $primary 50%; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "p",
            "write_pcap",
            "Write pcap",
            id="eavesdrop.pcap",
            tooltip="Write what was captured to a pcap file for Wireshark",
        ),
        Binding(
            "f",
            "follow",
            "Follow newest",
            id="eavesdrop.follow",
            tooltip="Highlight the newest packet and keep following new ones",
        ),
    ]

    def __init__(self, tap: Eavesdrop, *, network: str = "network", id: str | None = None) -> None:
        super().__init__(id=id)
        self.tap = tap
        self.network = network
        self._latest: WireItem | None = None
        """The newest MQTT or TLS packet: the banner tells what its connection gives away."""
        self.following = True
        """The newest packet is highlighted as it arrives; off once the user looks elsewhere."""
        self._shown: int | None = None
        """The running number of the packet in the detail view."""

    def compose(self) -> ComposeResult:
        yield Static(WAITING_BANNER, id="eavesdrop-banner", classes="banner")
        if self.tap.key_log:
            yield Static(
                f"🔑 TLS key log on: {self.tap.key_log} — Wireshark can decrypt this capture",
                id="eavesdrop-keylog",
                classes="banner",
            )
        yield Static(header_line(), id="eavesdrop-columns")
        yield PacketList(max_rows=MAX_ROWS)
        with VerticalScroll():
            yield Static("Select a packet to see its fields and bytes.", id="eavesdrop-detail")

    def on_mount(self) -> None:
        self.watch(self.packets, "scroll_y", self._scrolled, init=False)
        self._follow()

    @property
    def packets(self) -> PacketList:
        """The packet list."""
        return self.query_one(PacketList)

    @property
    def items(self) -> list[WireItem]:
        """The packets listed right now, oldest first."""
        packets = self.packets
        first = packets.oldest or 0
        return [item for n in range(packets.row_count) if (item := packets.item(first + n))]

    @property
    def banner(self) -> str:
        """The banner's text."""
        return str(self.query_one("#eavesdrop-banner", Static).content)

    @property
    def highlighted(self) -> WireItem | None:
        """The packet under the cursor, whose detail is shown."""
        packets = self.packets
        return packets.item(packets.cursor)

    @work(exclusive=True, group="eavesdrop-feed")
    async def _follow(self) -> None:
        feed = self.tap.subscribe()
        try:
            async for item in feed:
                self.add([item, *feed.drain()])
        finally:
            self.tap.unsubscribe(feed)

    def add(self, items: list[WireItem]) -> None:
        """List new packets (dropping the oldest past MAX_ROWS) and update the banner.

        While following, the newest packet is highlighted and shown; otherwise the cursor
        stays on the packet the user chose and the view on the packets they were reading.
        """
        packets = next(self.query(PacketList).results(PacketList), None)
        banner = next(self.query("#eavesdrop-banner").results(Static), None)
        if packets is None or banner is None:
            return  # the pane is being taken down (its children go first); the feed delivers
        view = packets.scroll_y
        dropped = packets.append(items[-packets.max_rows :])
        for item in items:
            if item.protocol in ("MQTT", "TLS"):
                self._latest = item
        newest = packets.newest
        if self.following and newest is not None:
            packets.move_cursor(newest, scroll=False)
            packets.scroll_end(animate=False, immediate=True, x_axis=False)
        elif dropped:  # the rows above went: keep the same packets in view
            packets.scroll_to(y=max(view - dropped, 0), animate=False, immediate=True)
        self._show_detail()
        self._show_banner(banner)

    def highlight(self, number: int) -> None:
        """Highlight a packet by its running number and show its detail.

        Highlighting the newest packet follows new ones; any other stops following.
        """
        packets = self.packets
        packets.move_cursor(number)
        self.following = packets.cursor == packets.newest
        self._show_detail()

    def action_follow(self) -> None:
        """Highlight the newest packet and follow new ones again."""
        newest = self.packets.newest
        self.following = True
        if newest is not None:
            self.highlight(newest)

    def _show_detail(self) -> None:
        packets = self.packets
        item = packets.item(packets.cursor)
        # While the pane is taken down its children go first; the feed may still deliver.
        detail = next(self.query("#eavesdrop-detail").results(Static), None)
        if item is not None and detail is not None and packets.cursor != self._shown:
            self._shown = packets.cursor
            detail.update(packet_detail(item))

    def _show_banner(self, banner: Static) -> None:
        latest = self._latest
        if latest is None:
            return
        record = self.tap.store.get(latest.connection)
        port = record.server[1] if record is not None else self.tap.target[1]
        if latest.protocol == "MQTT":
            banner.update(f"{PLAIN_BANNER} (port {port})")
            banner.set_classes("banner plain")
        else:
            banner.update(f"{TLS_BANNER} (port {port})")
            banner.set_classes("banner encrypted")

    @on(PacketList.Highlighted)
    def _highlighted(self, event: PacketList.Highlighted) -> None:
        self.highlight(event.number)

    def _scrolled(self, before: float, after: float) -> None:
        if after < before and after < self.packets.max_scroll_y:
            self.following = False  # the user scrolled up to read older packets

    def action_write_pcap(self) -> None:
        def chosen(path: Path | None) -> None:
            if path is not None:
                self.write_pcap(path)

        self.app.push_screen(CapturePathScreen(default_capture_path(self.network)), callback=chosen)

    @work(exclusive=True, group="eavesdrop-pcap")
    async def write_pcap(self, path: Path) -> None:
        """Write the capture to `path` (off the event loop) and say how it went."""
        try:
            summary = await self.tap.save_pcap(path)
        except IotsimError as exc:
            self.notify(exc.message, title=exc.title, severity="error")
            return
        self.notify(
            f"{summary} written to {summary.path}. Open it in Wireshark.",
            title="Capture written",
        )
