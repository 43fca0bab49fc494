"""The broker console's table of connected clients."""

from __future__ import annotations

from textual.widgets import DataTable

from iotsim_tui.engine.console import ClientsFeed, FeedUnavailable
from iotsim_tui.tui.widgets.marks import since

WAITING = "waiting for the broker's clients feed…"


COLUMNS = (
    ("client id", 24),
    ("address", 21),
    ("link", 8),
    ("MQTT", 5),
    ("since", 6),
    ("subscriptions", 40),
)


class ClientsTable(DataTable[str]):
    """Connected clients: id, address, link (TLS version or plain), protocol, since, topics."""

    DEFAULT_CSS = """
    ClientsTable { height: 1fr; }
    """

    def __init__(self, *, own_id: str = "", id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        for label, width in COLUMNS:
            self.add_column(label, width=width)
        self.own_id = own_id
        self.note = WAITING
        """A line about the feed itself, shown above the table."""

    def show(self, update: ClientsFeed | FeedUnavailable, now: float) -> None:
        """Show one update of the feed (or that there is none)."""
        self.clear()
        if isinstance(update, FeedUnavailable):
            self.note = f"clients feed not available: {update.reason}"
            return
        for client in update.clients:
            name = f"{client.id} (this console)" if client.id == self.own_id else client.id
            topics = ", ".join(f"{s.filter} q{s.qos}" for s in client.subscriptions) or "—"
            self.add_row(
                name,
                client.address,
                client.link,
                client.protocol,
                since(client.connected_since, now),
                topics,
                key=client.id,
            )
        more = " (list cut short by the broker)" if update.truncated else ""
        self.note = (
            f"{update.connected} connected · {update.subscriptions} subscriptions · "
            f"{update.messages_received} received · {update.messages_sent} sent{more}"
        )
