"""The topic tree: every topic seen on the network's broker, its messages, payloads and charts.

Read through the broker console's own MQTT client subscribed to `#` and `$SYS/#`
(engine/traffic.py), so it works on the bundled broker and on any broker the network names;
that client runs in a child process (runner/traffic.py), so a flood's MQTT work never holds
up a key.
Messages are counted as they arrive and drawn once per tick (TICK_SECONDS), whatever the flood.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Static
from textual.worker import Worker

from iotsim_tui.engine.console import CredentialsRefused
from iotsim_tui.engine.generators import device_topic
from iotsim_tui.errors import IotsimError
from iotsim_tui.explore.payloads import series
from iotsim_tui.explore.tree import Kept, Seen, TopicNode, TopicTree
from iotsim_tui.runner.traffic import TrafficReader
from iotsim_tui.tui.failures import worker_failed
from iotsim_tui.tui.screens.help import KeyHelp, key_help
from iotsim_tui.tui.session import OpenNetwork
from iotsim_tui.tui.widgets.field_charts import FieldCharts
from iotsim_tui.tui.widgets.keys_footer import KeysFooter
from iotsim_tui.tui.widgets.lines_view import LinesView
from iotsim_tui.tui.widgets.payload_view import PayloadView
from iotsim_tui.tui.widgets.rate_chart import RateChart
from iotsim_tui.tui.widgets.topic_tree_view import TopicTreeView

TICK_SECONDS = 0.25
"""The tree, counts and the open topic are redrawn at most this often."""
RATE_SECONDS = 60
"""Seconds of the network's messages per second charted in the title bar."""
INTAKE_SLICE = 250
"""Messages added to the tree between two looks at the keys (~2 ms of work)."""
CHARTS_AFTER_KEY = 0.1
"""Seconds without a key before the charts follow the cursor to another topic."""
NEW_MESSAGES_AFTER_KEY = 0.5
"""Seconds without a key before the topic under the cursor shows messages that came since
(its panes cost ~20 ms to draw again: not while keys are arriving)."""
FREEZE_TOPICS = 1000
"""Topics from which the tree's nodes are frozen out of the garbage collector's way..."""
FREEZE_GROWTH = 1.25
"""...and again each time it has grown by a quarter..."""
KEPT_GROWTH = 2
"""...or its topics' lists of earlier messages hold twice as many (each topic's list is made
when its second message comes: ten thousand lists of 30 went through by a full collection
cost it ~35 ms more)."""
THAW_SECONDS = 1.0
"""After the screen goes: when what it held is collected and the rest frozen again."""
RETRY_SECONDS = 2.0
MESSAGES_SHOWN = 50


def _key(key: str, action: str, text: str, tooltip: str, *, show: bool = True) -> Binding:
    return Binding(key, action, text, show=show, id=f"topic_tree.{action}", tooltip=tooltip)


def telemetry_topic(opened: OpenNetwork, device_id: str | None) -> str | None:
    """The first telemetry topic of a device of the network (its id and name filled in)."""
    record = opened.records.get(device_id or "")
    if record is None or not record.device.telemetry:
        return None
    return device_topic(record.device.telemetry[0].topic, record.device)


class TopicTreeScreen(Screen[None]):
    """The hierarchy of topics on the left; the chosen topic's messages, payload and charts."""

    BINDINGS: ClassVar[list[BindingType]] = [
        _key("escape", "close", "Back", "Close the topic tree (Escape in the filter leaves it)"),
        _key("T", "close", "Back", "Close the topic tree", show=False),
        _key("slash", "filter", "Filter", "Filter topics: an MQTT filter (+, #) or any text"),
        _key("ctrl+l", "clear_filter", "Clear filter", "Show every topic again", show=False),
        _key(
            "v",
            "next_view",
            "Payload view",
            "Show the payload as JSON, text, hex, base64 or a diff with the message before",
        ),
        _key(
            "z", "fold_json", "Fold JSON", "Unfold JSON folded to fit, or fold it again", show=False
        ),
        _key("c", "next_field", "Chart field", "Chart the next numeric field in the large chart"),
        _key("m", "focus_messages", "Messages", "The topic's recent messages", show=False),
        _key(
            "o",
            "open_payload",
            "Open payload",
            "The chosen message's payload, full size",
            show=False,
        ),
    ]
    FOOTER_LABELS: ClassVar[dict[str, str]] = {
        "topic_tree.close": "Back",
        "topic_tree.filter": "Filter",
        "topic_tree.next_view": "View",
        "topic_tree.next_field": "Chart",
    }

    DEFAULT_CSS = """
    TopicTreeScreen #topics-title { height: 1; }
    TopicTreeScreen #topics-title > Static { width: auto; padding: 0 1; }
    TopicTreeScreen #topics-title, TopicTreeScreen #topics-note { background: $panel; }
    TopicTreeScreen #topics-note { height: 1; padding: 0 1; color: $text-muted; }
    TopicTreeScreen #topic-filter { display: none; height: 3; }
    TopicTreeScreen #topic-filter.shown { display: block; }
    TopicTreeScreen TopicTreeView { width: 1fr; border: round $primary 50%; }
    TopicTreeScreen #topic-detail { width: 1fr; }
    TopicTreeScreen #topic-messages { height: 7; border: round $primary 50%; }
    TopicTreeScreen PayloadView { border: round $primary 50%; min-height: 6; }
    TopicTreeScreen FieldCharts { border: round $primary 50%; }
    TopicTreeScreen :focus { border: round $accent; }
    """

    def __init__(
        self,
        opened: OpenNetwork,
        *,
        tree: TopicTree | None = None,
        clock: Callable[[], float] = time.time,
        live: bool = True,
        start_at: str | None = None,
    ) -> None:
        super().__init__()
        self.start_at = start_at
        """The topic the cursor goes to when it shows up (a device's telemetry)."""
        self.opened = opened
        self.topics = tree or TopicTree()
        self.clock = clock
        self.live = live
        """False: no client (a tree filled by the caller, for snapshots)."""
        self.traffic: TrafficReader | None = None
        self._shown: tuple[str, int] | None = None
        self._newest: Seen | None = None
        self._status = "not connected"
        self._charted: str | None = None
        """The topic whose numeric fields the charts show."""
        self._frozen_at = 0
        """Topics in the tree when it was last frozen (`_settle_memory`); 0: never."""
        self._frozen_kept = 0
        """Earlier messages the tree kept when it was last frozen."""
        self._charts_due: Timer | None = None
        """Set while the charts wait for the keys to pause (`CHARTS_AFTER_KEY`)."""
        self._last_key = 0.0
        """When a key last moved the cursor (`time.monotonic`)."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="topics-title"):
            yield Static(self._title(), id="title-text")
            yield RateChart(seconds=RATE_SECONDS, id="rate")
        yield Static("", id="topics-note")
        yield Input(
            placeholder="MQTT filter (+, #) or text; Enter applies, Escape leaves",
            id="topic-filter",
        )
        with Horizontal():
            yield TopicTreeView(self.topics, clock=self.clock, id="topics")
            with Vertical(id="topic-detail"):
                yield LinesView(with_cursor=True, id="topic-messages")
                yield PayloadView(id="payload")
                yield FieldCharts(id="charts")
        yield KeysFooter()

    def _title(self) -> str:
        network = self.opened.running or self.opened.network
        broker = self.opened.reach(network).broker
        return f"Topics · {network.name} · {broker.host}:{broker.effective_port}"

    def on_mount(self) -> None:
        table = self.query_one("#topic-messages", LinesView)
        table.header = Text(MESSAGE_HEADER, style="bold")
        self.query_one(TopicTreeView).border_title = "Topics"
        self.query_one(PayloadView).border_title = "Payload"
        self.query_one(FieldCharts).border_title = "Numeric fields"
        table.border_title = "Recent messages"
        view = self.query_one(TopicTreeView)
        view.start_at = self.start_at
        view.focus()
        if self.live:
            self.follow()
        self.tick()
        self.set_interval(TICK_SECONDS, self.tick)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that failed is logged and shown; the screen goes on."""
        worker_failed(self, event, getattr(self.app, "log_file", None))

    @work(exclusive=True, group="topic-tree", exit_on_error=False)
    async def follow(self) -> None:
        """Keep the client connected and the tree fed, retrying when the broker drops."""
        network = self.opened.running or self.opened.network
        while True:
            try:
                broker = self.opened.reach(network).broker
                async with TrafficReader(broker, every=TICK_SECONDS / 2) as reader:
                    self.traffic = reader
                    self._status = f"reading # and $SYS/# as {reader.client_id}"
                    async for batch in reader.batches():
                        await self._take_in(batch)
            except CredentialsRefused as error:
                self.traffic = None
                self._status = f"not connected: {error.message}"
                return  # only new settings can change that
            except IotsimError as error:
                self.traffic = None
                self._status = f"not connected: {error.message} (retrying)"
            await asyncio.sleep(RETRY_SECONDS)

    async def _take_in(self, batch: list[Kept]) -> None:
        """Add a batch to the tree a slice at a time, letting keys in between the slices (a
        flood's batch of thousands in one go would hold a key back by tens of ms)."""
        for start in range(0, len(batch), INTAKE_SLICE):
            if start:
                await asyncio.sleep(0)
            self.topics.add_all(batch[start : start + INTAKE_SLICE])

    # -- once per tick -------------------------------------------------------------------

    def tick(self) -> None:
        """Redraw what changed since the last tick: the tree, the rate, the open topic."""
        self.query_one(RateChart).count(self.topics.message_count, self.clock())
        self.query_one(TopicTreeView).update()
        self._note()
        self._show_topic()
        self._settle_memory()

    def _settle_memory(self) -> None:
        """Freeze the tree's nodes out of the garbage collector's way as the tree grows.

        Ten thousand topics' nodes, their children's dicts and message lists made a full
        collection (about every five seconds under a flood) cost ~70 ms of CPU, which a key
        waited for; frozen, the collector skips them. The topics' lists of earlier messages
        (made as second messages come) are frozen as their number doubles. They thaw when the screen
        goes (`on_unmount`); the collection then takes what the tree left, once.
        """
        count = self.topics.topic_count
        kept = self.topics.kept
        if count >= FREEZE_TOPICS and (
            count > self._frozen_at * FREEZE_GROWTH
            or kept > max(self._frozen_kept * KEPT_GROWTH, FREEZE_TOPICS)
        ):
            gc.freeze()
            self._frozen_at = count
            self._frozen_kept = kept

    def on_unmount(self) -> None:
        if self._frozen_at:
            # What the tree held may be garbage now: back in the collector's reach; once it
            # is collected, what is left (the app's) is frozen again, as after its start.
            gc.unfreeze()
            self.app.set_timer(THAW_SECONDS, _collect_and_freeze)

    def _note(self) -> None:
        tree = self.topics
        view = self.query_one(TopicTreeView)
        parts = [self._status, f"{tree.topic_count:,} topics", f"{tree.message_count:,} messages"]
        if view.wanted:
            parts.append(f"filter: {view.wanted.describe()} ({len(view.rows):,} rows)")
        overflow = self.traffic.overflow if self.traffic is not None else 0
        if overflow:
            parts.append(f"{overflow:,} messages not read in time")
        parts += [f"cap: {note}" for note in tree.notes]
        # One line of a fixed size: no need to lay the screen out again (it is every tick).
        self.query_one("#topics-note", Static).update(" · ".join(parts), layout=False)

    def _show_topic(self, *, force: bool = False) -> None:
        node = self.query_one(TopicTreeView).node
        key = (node.path, node.count) if node is not None else None
        if not force:
            if key == self._shown:
                return
            same_topic = self._shown is not None and key is not None and key[0] == self._shown[0]
            if same_topic and time.monotonic() - self._last_key < NEW_MESSAGES_AFTER_KEY:
                return  # only new messages on the same topic: they wait while keys arrive
        else:
            self._last_key = time.monotonic()
        self._shown = key
        table = self.query_one("#topic-messages", LinesView)
        kept = node.recent() if node is not None else []
        table.border_title = f"Recent messages · {node.path}" if node is not None else "Recent"
        # Reading an older message holds the list; on the newest, it follows new ones.
        follow = table.cursor == 0 or not table.has_focus or force
        shown = list(reversed(kept[-MESSAGES_SHOWN:]))
        if not follow and self._newest is not None and self._newest in shown:
            table.cursor += shown.index(self._newest)
        self._newest = shown[0] if shown else None
        table.show([_message_line(seen) for seen in shown], keep_place=not follow)
        self._show_payload(node, table.cursor, kept)
        if force:
            # A key moved the cursor: its messages and payload show at once, the charts once
            # no key came for CHARTS_AFTER_KEY (a held key goes through topics without them).
            if self._charts_due is None:
                self._charts_due = self.set_timer(CHARTS_AFTER_KEY, self._show_charts)
            else:
                self._charts_due.reset()
        elif self._charts_due is None:
            self._charted = node.path if node is not None else None
            self.query_one(FieldCharts).show(series([seen.payload for seen in kept]))

    def _show_charts(self) -> None:
        """The numeric fields of the topic under the cursor, charted."""
        if self._charts_due is not None:
            self._charts_due.stop()
            self._charts_due = None
        node = self.query_one(TopicTreeView).node
        kept = node.recent() if node is not None else []
        self._charted = node.path if node is not None else None
        self.query_one(FieldCharts).show(series([seen.payload for seen in kept]))

    def _show_payload(
        self, node: TopicNode | None, newest_first: int, kept: list[Seen] | None = None
    ) -> None:
        if kept is None:
            kept = node.recent() if node is not None else []
        view = self.query_one(PayloadView)
        if not kept:
            view.border_title = "Payload"
            view.blank = (
                f"{node.path}: a level with {node.topics:,} topics beneath (→ unfolds it)"
                if node is not None
                else "no topic seen yet"
            )
            view.show_payload(None)
            view.redraw()
            return
        index = max(len(kept) - 1 - newest_first, 0)
        seen = kept[index]
        view.border_title = f"Payload · {seen.size:,} bytes" + (" (cut)" if seen.cut else "")
        view.show_payload(seen.payload, kept[index - 1].payload if index > 0 else None)

    @on(TopicTreeView.Highlighted)
    def _highlighted(self) -> None:
        self._show_topic(force=True)

    @on(LinesView.CursorMoved, "#topic-messages")
    def _message_chosen(self, event: LinesView.CursorMoved) -> None:
        self._show_payload(self.query_one(TopicTreeView).node, event.row)

    # -- keys ----------------------------------------------------------------------------

    def action_close(self) -> None:
        box = self.query_one("#topic-filter", Input)
        if box.has_focus:
            box.remove_class("shown") if not box.value else None
            self.query_one(TopicTreeView).focus()
            return
        self.dismiss()

    def action_filter(self) -> None:
        box = self.query_one("#topic-filter", Input)
        box.add_class("shown")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#topic-filter", Input)
        box.value = ""
        box.remove_class("shown")
        self.query_one(TopicTreeView).set_filter("")
        self.query_one(TopicTreeView).focus()

    def action_next_view(self) -> None:
        self.query_one(PayloadView).next_view()

    def action_fold_json(self) -> None:
        self.query_one(PayloadView).toggle_folding()

    def action_next_field(self) -> None:
        node = self.query_one(TopicTreeView).node
        if self._charts_due is not None or self._charted != (node.path if node else None):
            self._show_charts()  # the topic the cursor is on, not the one before
        self.query_one(FieldCharts).next_field()

    def action_open_payload(self) -> None:
        """The payload shown, on a screen of its own (large JSON reads better there)."""
        from iotsim_tui.tui.screens.payload import PayloadScreen

        node = self.query_one(TopicTreeView).node
        kept = node.recent() if node is not None else []
        if node is None or not kept:
            self.notify("Choose a topic with messages first.", severity="warning")
            return
        index = max(len(kept) - 1 - self.query_one("#topic-messages", LinesView).cursor, 0)
        seen = kept[index]
        at = datetime.fromtimestamp(seen.at).strftime("%H:%M:%S.%f")[:-3]
        title = f"{seen.topic} · {at} · QoS {seen.qos}" + (" · retained" if seen.retain else "")
        previous = kept[index - 1].payload if index > 0 else None
        chosen = self.query_one(PayloadView).chosen
        self.app.push_screen(PayloadScreen(title, seen.payload, previous, view=chosen))

    def action_focus_messages(self) -> None:
        self.query_one("#topic-messages", LinesView).focus()

    @on(Input.Submitted, "#topic-filter")
    def _filter_entered(self, event: Input.Submitted) -> None:
        view = self.query_one(TopicTreeView)
        view.set_filter(event.value)
        if not event.value.strip():
            event.input.remove_class("shown")
        view.focus()
        self._note()


def topic_tree_keys() -> list[KeyHelp]:
    """The rows of the `?` screen for the topic tree, its payload view and its charts."""
    bindings = [
        *TopicTreeScreen.BINDINGS,
        *TopicTreeView.BINDINGS,
    ]
    return key_help("topic tree", [b for b in bindings if isinstance(b, Binding) and b.id])


MESSAGE_HEADER = f"{'time':<12}  QoS  retain  {'bytes':>7}  properties"


def _message_line(seen: Seen) -> Text:
    at = datetime.fromtimestamp(seen.at).strftime("%H:%M:%S.%f")[:-3]
    properties = " ".join(f"{name}={value}" for name, value in seen.properties)
    retain = "R" if seen.retain else ""
    return Text(
        f"{at:<12}  {seen.qos:^3}  {retain:^6}  {seen.size:>7,}  {properties}",
        no_wrap=True,
        end="",
    )


def _collect_and_freeze() -> None:
    """Collect what the topic tree left, then freeze what lives on (the app's own)."""
    gc.collect()
    gc.freeze()
