"""The broker console: who is connected to the broker, the messages that flow through it and
their rate, and commands sent by hand."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import ClassVar

from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static
from textual.widgets.data_table import CellDoesNotExist
from textual.worker import Worker

from iotsim_tui.engine.console import (
    FEED_TIMEOUT,
    BrokerConsole,
    ClientsFeed,
    ConnectedClient,
    ConsoleUpdate,
    CredentialsRefused,
)
from iotsim_tui.engine.generators import device_topic
from iotsim_tui.engine.traffic import TrafficWatch
from iotsim_tui.errors import IotsimError
from iotsim_tui.profiles.library import KEYS
from iotsim_tui.profiles.model import LibraryCommand, Network
from iotsim_tui.protocol.topics import matched_filter, topic_matches
from iotsim_tui.tui.failures import worker_failed
from iotsim_tui.tui.screens.library import LibraryScreen
from iotsim_tui.tui.session import OpenNetwork
from iotsim_tui.tui.widgets.clients_table import ClientsTable, feed_note
from iotsim_tui.tui.widgets.console_messages import PAYLOAD_BYTES, ConsoleMessages
from iotsim_tui.tui.widgets.keys_footer import KeysFooter
from iotsim_tui.tui.widgets.marks import since
from iotsim_tui.tui.widgets.network_header import link_text
from iotsim_tui.tui.widgets.publish import MessageLine

RETRY_SECONDS = 2.0
RECENT = 10
"""Commands sent lately that the library list offers again."""
TICK_SECONDS = 1.0
"""How often the "since" column is redrawn from the clients' connect times."""
MESSAGES_SECONDS = 0.25
"""The messages and their rate are redrawn at most this often, whatever the flood."""


class BrokerConsoleScreen(Screen[None]):
    """Connected clients from the broker's feed, and a line to send a command."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "close",
            "Back to the main screen",
            id="console.close",
            tooltip="Close the broker console",
        ),
        Binding(
            "b",
            "close",
            "Back to the main screen",
            show=False,
            id="console.back",
            tooltip="Close the broker console",
        ),
        Binding(
            "m",
            "focus_command",
            "Send a command",
            id="console.command",
            tooltip="Type a command topic and message; Enter sends",
        ),
        Binding(
            "l",
            "library",
            "Command library",
            id="console.library",
            tooltip="The profile's named commands and those sent lately; Enter sends one",
        ),
        *[
            Binding(
                key,
                f"send_key('{key}')",
                f"Send library command {key}",
                show=False,
                id=f"console.send_{key}",
                tooltip=f"Send the library command whose key is {key}",
            )
            for key in KEYS
        ],
        # A priority binding runs before the keys typed after Enter reach the topic box.
        Binding(
            "enter",
            "topic_entered",
            "Command topic done",
            show=False,
            priority=True,
            id="console.topic_entered",
            tooltip="From the command topic on to the message",
        ),
    ]
    FOOTER_LABELS: ClassVar[dict[str, str]] = {
        "console.close": "Back",
        "console.command": "Command",
        "console.library": "Library",
    }
    """Short footer words for the bindings above."""

    DEFAULT_CSS = """
    BrokerConsoleScreen #console-title { height: 1; padding: 0 1; background: $panel; }
    BrokerConsoleScreen #console-note { height: auto; padding: 0 1; color: $text-muted; }
    BrokerConsoleScreen ClientsTable, BrokerConsoleScreen ConsoleMessages {
        border: round $primary 50%;
    }
    BrokerConsoleScreen ClientsTable:focus, BrokerConsoleScreen ConsoleMessages:focus-within {
        border: round $accent;
    }
    """

    def __init__(
        self,
        opened: OpenNetwork,
        *,
        clock: Callable[[], float] = time.time,
        feed_timeout: float = FEED_TIMEOUT,
        live: bool = True,
    ) -> None:
        super().__init__()
        self.opened = opened
        self.clock = clock
        self.feed_timeout = feed_timeout
        self.live = live
        """False: do not connect (the picture of an idle console, for snapshots)."""
        self.console: BrokerConsole | None = None
        self.last_update: ConsoleUpdate | None = None
        self.recent: list[LibraryCommand] = []
        """The commands sent from this console, newest first (at most `RECENT`)."""

    @property
    def network(self) -> Network:
        """The settings the network runs with (its profile's while it is stopped).

        After an edit the network keeps its old broker until restarted: that is the broker
        its devices are on, so that is the one the console talks to.
        """
        return self.opened.running or self.opened.network

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="console-title")
        yield Static("connecting…", id="console-note")
        yield ClientsTable(id="clients")
        yield ConsoleMessages(id="messages")
        line = MessageLine(
            "command",
            topic_hint="command topic",
            payload_hint="message (Enter sends)",
            qos=1,
            retain=False,
            send="Send",
            id="command",
        )
        line.topics = self._command_topics
        yield line
        yield KeysFooter()

    def _title(self, negotiated: str | None = None) -> str:
        network = self.network
        broker = self.opened.reach(network).broker
        return (
            f"Broker console · {network.name} · {broker.host}:{broker.effective_port} · "
            + link_text(network, negotiated).plain
            + (" · settings edited: restart to apply" if self.opened.stale else "")
            + (" · another broker, not the bundled one" if self._foreign() else "")
        )

    def _foreign(self) -> bool:
        """True when the network's port has a broker the app did not start: what the console
        shows is that broker's, and the title says so."""
        session = getattr(self.app, "session", None)
        return session is not None and session.brokers.foreign(self.network)

    def _command_topics(self) -> set[str]:
        """The topics the network's devices subscribe to (filters included), filled in."""
        return {
            device_topic(s.topic, record.device)
            for record in self.opened.records.values()
            for s in record.device.subscribe
        }

    def _listeners(self, topic: str) -> bool:
        """Whether a client subscribes to `topic`: by the feed, else by the profile."""
        update = self.last_update
        if isinstance(update, ClientsFeed):
            table = self.query_one(ClientsTable)
            own = {table.own_id, table.messages_id}
            filters = [s.filter for c in update.clients if c.id not in own for s in c.subscriptions]
        else:
            filters = list(self._command_topics())
        return any(topic_matches(matched_filter(f), topic) for f in filters)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that failed is logged and shown; the app goes on."""
        worker_failed(self, event, getattr(self.app, "log_file", None))

    def on_mount(self) -> None:
        self.query_one(ClientsTable).border_title = "Connected clients"
        if self.live:
            self.follow_feed()
            self.follow_messages()
        else:
            self._note("not connected")
        self.set_interval(TICK_SECONDS, self._tick)
        self.set_interval(MESSAGES_SECONDS, self._redraw_messages)

    def _redraw_messages(self) -> None:
        self.query_one(ConsoleMessages).redraw(self.clock())

    def _tick(self) -> None:
        """Redraw the "since" cells from the clients' connect times, so that they keep counting."""
        update = self.last_update
        if not isinstance(update, ClientsFeed):
            return
        table = self.query_one(ClientsTable)
        now = self.clock()
        for client in update.clients:
            with contextlib.suppress(CellDoesNotExist):
                table.update_cell(client.id, "since", since(client.connected_since, now))

    def show_update(self, update: ConsoleUpdate) -> None:
        """Show an update; one that changes only the message counts leaves the rows (and the
        cursor) where they are."""
        table = self.query_one(ClientsTable)
        previous, self.last_update = self.last_update, update
        if (
            isinstance(previous, ClientsFeed)
            and isinstance(update, ClientsFeed)
            and previous.clients == update.clients
        ):
            table.note = feed_note(update)
            self._tick()
        else:
            table.show(update, self.clock())
        self._note(table.note)

    def _note(self, text: str) -> None:
        self.query_one("#console-note", Static).update(text)

    @work(exclusive=True, group="console-feed", exit_on_error=False)
    async def follow_feed(self) -> None:
        """Keep the console client connected and the table fed, retrying when it drops.

        A refused user name or password ends the tries: only new settings can change that.
        """
        table = self.query_one(ClientsTable)
        while True:
            try:
                async with BrokerConsole(
                    self.opened.reach(self.network).broker, feed_timeout=self.feed_timeout
                ) as console:
                    self.console = console
                    table.own_id = console.client_id
                    self.query_one("#console-title", Static).update(
                        self._title(console.tls_version)
                    )
                    self._note(f"connected as {console.client_id}; waiting for the feed…")
                    async for update in console.updates():
                        self.show_update(update)
            except CredentialsRefused as error:
                self.console = None
                self._note(f"not connected: {error.message}")
                return
            except IotsimError as error:
                self.console = None
                self._note(f"not connected: {error.message} (retrying)")
            await asyncio.sleep(RETRY_SECONDS)

    @work(exclusive=True, group="console-messages", exit_on_error=False)
    async def follow_messages(self) -> None:
        """Read every message on the broker (`#`) with a client of its own, into the list."""
        messages = self.query_one(ConsoleMessages)
        table = self.query_one(ClientsTable)
        while True:
            try:
                async with TrafficWatch(
                    self.opened.reach(self.network).broker,
                    client_id=f"iotsim-console-messages-{time.monotonic_ns() % 1_000_000_000}",
                    include_sys=False,
                    payload_bytes=PAYLOAD_BYTES,
                    reader="the broker console's message list",
                ) as watch:
                    table.messages_id = watch.client_id
                    messages.status = f"reading # as {watch.client_id}"
                    async for batch in watch.batches(MESSAGES_SECONDS / 2):
                        messages.add(batch)
            except CredentialsRefused as error:
                messages.status = f"not connected: {error.message}"
                return
            except IotsimError as error:
                messages.status = f"not connected: {error.message} (retrying)"
            await asyncio.sleep(RETRY_SECONDS)

    @property
    def clients(self) -> tuple[str, ...]:
        """Ids of the clients the last feed listed."""
        if isinstance(self.last_update, ClientsFeed):
            return tuple(client.id for client in self.last_update.clients)
        return ()

    def listed(self, client_id: str) -> ConnectedClient:
        """The client `client_id` as the last feed listed it; KeyError when it is not there."""
        if isinstance(self.last_update, ClientsFeed):
            for client in self.last_update.clients:
                if client.id == client_id:
                    return client
        raise KeyError(client_id)

    def _remember(self, topic: str, message: str, qos: int, retain: bool) -> None:
        named = next(
            (
                c.name
                for c in self.network.library
                if (c.topic, c.payload, c.qos, c.retain) == (topic, message, qos, retain)
            ),
            topic,
        )
        sent = LibraryCommand(named, topic, message, qos, retain)
        self.recent = [sent, *(c for c in self.recent if c != sent)][:RECENT]

    def action_close(self) -> None:
        self.dismiss()

    def action_focus_command(self) -> None:
        self.query_one(MessageLine).focus_topic()

    def action_topic_entered(self) -> None:
        """Enter in the topic box moves on to the message box; elsewhere Enter is as usual."""
        if not self.query_one(MessageLine).topic_entered():
            raise SkipAction

    @on(MessageLine.Submitted)
    def _send_pressed(self, event: MessageLine.Submitted) -> None:
        self.send(event.topic, event.payload, event.qos)

    def action_library(self) -> None:
        """List the profile's commands and those sent lately; the one chosen is sent."""

        def chosen(command: LibraryCommand | None) -> None:
            if command is not None:
                self.send(command.topic, command.payload, command.qos, command.retain)

        self.app.push_screen(LibraryScreen(self.network.library, tuple(self.recent)), chosen)

    def action_send_key(self, key: str) -> None:
        """Send the library command whose key is `key`."""
        for command in self.network.library:
            if command.key == key:
                self.send(command.topic, command.payload, command.qos, command.retain)
                return
        self.notify(f"No library command has the key {key} (l lists them).", severity="warning")

    @work(group="console-send", exit_on_error=False)
    async def send(self, topic: str, message: str, qos: int, retain: bool = False) -> None:
        """Send a command from the console's own client; a notification says how it went."""
        if self.console is None:
            self.notify("The broker console is not connected yet.", severity="error")
            return
        try:
            await self.console.send(topic, message, qos=qos, retain=retain)
        except IotsimError as error:
            self.notify(error.message, title=error.title, severity="error")
            return
        self._remember(topic, message, qos, retain)
        sent = f"Sent {message!r} on {topic} (QoS {qos})"
        if self._listeners(topic):
            self.notify(f"{sent}.", title="Command sent")
        else:
            self.notify(
                f"{sent}, but no client subscribes to that topic: nobody receives it.",
                title="Command sent to no one",
                severity="warning",
            )
