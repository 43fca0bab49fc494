"""The broker console's table of connected clients."""

from __future__ import annotations

import re
import time

from rich.text import Text
from textual import events
from textual.widgets import DataTable

from iotsim_tui.engine.console import ClientsFeed, ConnectedClient, FeedUnavailable
from iotsim_tui.tui.widgets.marks import since
from iotsim_tui.words import counted

WAITING = "waiting for the broker's clients feed…"
OWN_ROW = "▸ this console"
"""How the console's own MQTT client is listed (it is connected too, reading the feed)."""
MESSAGES_ROW = "▸ console: #"
"""How the console's reader of every message is listed."""

PADDING = 2
"""Cells of padding the table puts around each column."""
COLUMNS: tuple[tuple[str, int, int], ...] = (
    # (label, width, narrowest terminal that shows it): the rest goes to "subscriptions".
    ("client id", 16, 0),
    ("address", 15, 0),
    ("link", 7, 0),
    ("since", 5, 0),
    ("user", 10, 100),
    ("MQTT", 5, 100),
)
SUBSCRIPTIONS_MIN = 16
_RUNS = re.compile(r"\d+|\D+")


def fitted_columns(width: int) -> list[tuple[str, int]]:
    """The columns shown in a table `width` columns wide, subscriptions taking what is left."""
    columns = [(label, cells) for label, cells, narrowest in COLUMNS if width >= narrowest]
    used = sum(cells + PADDING for _, cells in columns) + PADDING
    return [*columns, ("subscriptions", max(width - used, SUBSCRIPTIONS_MIN))]


def _in_order(client_id: str) -> list[tuple[int, int | str]]:
    """A sort key that puts TS2 before TS10: runs of digits compare as numbers."""
    return [(1, int(part)) if part.isdigit() else (0, part) for part in _RUNS.findall(client_id)]


def feed_note(update: ClientsFeed) -> str:
    """The line above the table: clients, subscriptions, and what the message counts are."""
    more = " (list cut short by the broker)" if update.truncated else ""
    # The broker sends the feed when clients come, go or subscribe: counts are of that moment.
    when = time.localtime(update.updated)
    return (
        f"{counted(update.connected, 'client')} · "
        f"{counted(update.subscriptions, 'subscription')}{more} · "
        f"since the broker started: {counted(update.messages_received, 'message')} published "
        f"to it, {counted(update.messages_sent, 'message')} delivered by it, "
        f"as of {time.strftime('%H:%M:%S', when)}"
    )


class ClientsTable(DataTable[str | Text]):
    """Connected clients: id, address, link (TLS version or plain), since, user, topics."""

    DEFAULT_CSS = """
    ClientsTable { height: 1fr; }
    """

    def __init__(self, *, own_id: str = "", id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.own_id = own_id
        self.messages_id = ""
        """The id of the console's client that reads every message (`#`)."""
        self.note = WAITING
        """A line about the feed itself, shown above the table."""
        self._update: ClientsFeed | None = None
        self._now = 0.0
        self._columns: list[tuple[str, int]] = []
        self._labels: list[str] = []
        self._set_columns(fitted_columns(100))

    def _set_columns(self, columns: list[tuple[str, int]]) -> None:
        self._columns = columns
        self._labels = [label for label, _ in columns]
        self.clear(columns=True)
        for label, cells in columns:
            self.add_column(label, width=cells, key=label)

    def show(self, update: ClientsFeed | FeedUnavailable, now: float) -> None:
        """Show one update of the feed (or that there is none)."""
        self.clear()
        if isinstance(update, FeedUnavailable):
            self._update = None
            self.note = f"clients feed not available: {update.reason}"
            return
        self._update, self._now = update, now
        # The console's own client last: the devices are what the user came to see.
        ordered = sorted(
            update.clients,
            key=lambda client: (
                client.id in (self.own_id, self.messages_id),
                _in_order(client.id),
            ),
        )
        for client in ordered:
            cells = self._cells(client, now)
            self.add_row(*(cells[label] for label in self._labels), key=client.id)
        self.note = feed_note(update)

    def _cells(self, client: ConnectedClient, now: float) -> dict[str, str | Text]:
        own = client.id == self.own_id
        topics = ", ".join(f"{s.filter} q{s.qos}" for s in client.subscriptions) or "—"
        room = self._columns[-1][1]
        if len(topics) > room:  # say that more follows
            topics = topics[: room - 1] + "…"
        return {
            "client id": (
                Text(OWN_ROW if own else MESSAGES_ROW, style="italic")
                if own or client.id == self.messages_id
                else _client_id(client.id)
            ),
            "address": client.address,
            "link": client.link,
            "since": since(client.connected_since, now),
            "user": client.username or "—",
            "MQTT": client.protocol,
            "subscriptions": topics,
        }

    def on_resize(self, event: events.Resize) -> None:
        """Fit the columns to the new width."""
        columns = fitted_columns(event.size.width - 2)  # room for a vertical scrollbar
        if columns != self._columns:
            self._set_columns(columns)
            if self._update is not None:
                self.show(self._update, self._now)


def _client_id(client_id: str) -> Text:
    """A client's id; an attacker of the lab's attacks (`attacker-...`) in red, marked so."""
    from iotsim_tui.lab.attacker import ATTACKER_PREFIX

    if client_id.startswith(ATTACKER_PREFIX):
        return Text(f"⚠ {client_id}", style="bold red")
    return Text(client_id)
