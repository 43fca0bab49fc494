"""The main screen: networks and devices, the device log, subscriptions, the publish prompt."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.command import Provider
from textual.containers import Horizontal
from textual.widgets import Tree
from textual.worker import Worker

from iotsim_tui.engine.events import DeviceError, DeviceStatus, LogLine
from iotsim_tui.errors import IotsimError
from iotsim_tui.profiles.model import Network
from iotsim_tui.protocol.topics import TopicError, validate_topic_name
from iotsim_tui.tui.failures import worker_failed
from iotsim_tui.tui.focus import focus_now
from iotsim_tui.tui.messages import (
    BrokerExited,
    BrokerStateChanged,
    DeviceHistoryArrived,
    NetworkEventsArrived,
    NetworksChanged,
    NetworkStopped,
)
from iotsim_tui.tui.screens.lab_actions import LabActions
from iotsim_tui.tui.screens.main_actions import EditingActions
from iotsim_tui.tui.screens.network_runs import NetworkRuns
from iotsim_tui.tui.screens.reaction_actions import ReactionActions
from iotsim_tui.tui.session import OpenNetwork, Session
from iotsim_tui.tui.widgets.checklist import Checklist
from iotsim_tui.tui.widgets.device_log import DeviceLog
from iotsim_tui.tui.widgets.keys_footer import KeysFooter
from iotsim_tui.tui.widgets.network_header import HeaderState, NetworkHeader
from iotsim_tui.tui.widgets.network_tree import NetworkTree, Place, network_label
from iotsim_tui.tui.widgets.publish import PublishPrompt
from iotsim_tui.tui.widgets.subscriptions import SubscriptionsTable

log = logging.getLogger("iotsim_tui.tui")

REFRESH_SECONDS = 0.1
"""Tables and the tree redraw at most this often, however fast events arrive."""
HEADER_SECONDS = 0.5
"""How often the header looks again at what runs (the TLS version arrives with the view)."""
SHORT_ROWS = 20
WIDE_COLUMNS = 140
"""From this width on, the subscriptions have a column of their own on the right."""


def negotiated_tls(opened: OpenNetwork) -> str | None:
    """The TLS version ("TLSv1.3") the selected device of a running network connected with."""
    engine = opened.engine
    view = engine.view if engine is not None else None
    # getattr: views from engines that do not report the TLS version yet have no such field.
    version = getattr(view, "tls_version", None)
    return version if isinstance(version, str) else None


def _lesson_commands() -> type[Provider]:
    from iotsim_tui.tui.screens.lessons import LessonCommands

    return LessonCommands


def _key(key: str, action: str, text: str, tooltip: str, *, show: bool = True) -> Binding:
    return Binding(key, action, text, show=show, id=f"main.{action}", tooltip=tooltip)


class MainScreen(NetworkRuns, EditingActions, ReactionActions, LabActions):
    """Everything about the open networks on one screen, driven from the keyboard."""

    # In the order the footer offers them when the terminal is narrow: most useful first.
    BINDINGS: ClassVar[list[BindingType]] = [
        _key("s", "toggle_device", "Start/stop device", "Start or stop the selected device"),
        _key("S", "toggle_network", "Start/stop network", "Start or stop every device"),
        _key("b", "broker_console", "Broker console", "Broker console: clients, send commands"),
        _key("w", "eavesdrop", "Eavesdrop", "Eavesdrop: what travels on the wire"),
        _key("c", "settings", "Network settings", "Network settings: broker, TLS, certificates"),
        _key("a", "add_device", "Add device", "Add a device to the network"),
        _key("u", "subscribe", "Subscribe device", "Subscribe the device to a command topic"),
        _key("p", "focus_publish", "Publish as device", "Publish a message as the device"),
        _key("slash", "focus_publish", "Publish as device", "Publish a message", show=False),
        _key("ctrl+s", "save", "Save network", "Save the network to its profile file"),
        _key(
            "A",
            "add_template",
            "Add device template",
            "Add a template: many devices alike, numbered",
            show=False,
        ),
        _key("n", "new_network", "New network", "Create a new network", show=False),
        _key("e", "edit_device", "Edit device", "Edit the selected device", show=False),
        _key("d", "delete_device", "Delete device", "Delete the selected device", show=False),
        _key(
            "t",
            "telemetry",
            "Device telemetry",
            "Add, edit or delete the telemetry topics the device publishes",
            show=False,
        ),
        _key("g", "checklist", "Lab checklist", "Show or hide the lab's graded checks", show=False),
        _key(
            "k",
            "command",
            "Device commands",
            "Add, change or delete the commands the device reacts to (state, telemetry, response)",
            show=False,
        ),
        _key("L", "will", "Last will", "Set, change or remove the device's last will", show=False),
        _key("o", "open", "Open profile", "Open a network profile", show=False),
        _key("l", "lessons", "TLS lessons", "TLS lessons: what each check stops", show=False),
        _key(
            "R",
            "record",
            "Record traffic",
            "Start or stop recording every message of the network to recordings/",
            show=False,
        ),
        _key("X", "attacks", "Attacks", "Attacks on the broker, and their defences", show=False),
        _key("D", "defences", "Broker defences", "The bundled broker's defences", show=False),
        _key("T", "topic_tree", "Topic tree", "Topic tree: every topic on the broker", show=False),
        _key("W", "save_as", "Save network as", "Save the network to another file", show=False),
        _key(
            "escape", "leave_input", "Leave text box", "Leave a text box for the tree", show=False
        ),
    ]
    FOOTER_LABELS: ClassVar[dict[str, str]] = {
        "main.toggle_device": "Start/stop",
        "main.toggle_network": "Network",
        "main.broker_console": "Console",
        "main.settings": "Settings",
        "main.add_device": "Add",
        "main.subscribe": "Subscribe",
        "main.focus_publish": "Publish",
        "main.save": "Save",
        "main.leave_input": "Leave box",
    }
    """Short footer words for the bindings above (the palette shows the whole description)."""
    FOOTER_TYPING: ClassVar[frozenset[str]] = frozenset({"main.leave_input"})
    """Shown in the footer while a text box has the focus (the letter keys are text there)."""

    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = {_lesson_commands}
    """The command palette offers every TLS lesson too (loaded when the palette opens)."""

    # Not a ClassVar: Textual declares it as `ClassVar[...] | None`, which mypy reads as a field.
    HORIZONTAL_BREAKPOINTS = [  # noqa: RUF012
        (0, "-stacked"),
        (WIDE_COLUMNS, "-wide"),
    ]
    """Below WIDE_COLUMNS the subscriptions sit under the device log, which gets the width."""
    VERTICAL_BREAKPOINTS = [(0, "-short"), (SHORT_ROWS, "-tall")]  # noqa: RUF012
    """In fewer than SHORT_ROWS rows, stacked subscriptions would leave the log no room."""

    DEFAULT_CSS = """
    MainScreen #panes { height: 1fr; layout: grid; }
    MainScreen #panes > * { border: round $primary 50%; width: 1fr; height: 1fr; }
    MainScreen #panes > NetworkTree:focus-within, MainScreen #panes > DeviceLog:focus-within,
    MainScreen #panes > SubscriptionsTable:focus-within { border: round $accent; }
    MainScreen.-wide #panes { grid-size: 3 1; grid-columns: 24% 1fr 34%; }
    MainScreen.-stacked #panes { grid-size: 2 2; grid-columns: 30% 1fr; grid-rows: 1fr 8; }
    MainScreen.-stacked NetworkTree { row-span: 2; }
    MainScreen.-stacked.-short #panes { grid-size: 2 1; grid-rows: 1fr; }
    MainScreen.-stacked.-short NetworkTree { row-span: 1; }
    MainScreen.-stacked.-short SubscriptionsTable { display: none; }
    MainScreen #checklist { display: none; }
    MainScreen #checklist.-shown { display: block; }
    """

    def __init__(self, session: Session, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(session)
        self.clock = clock
        self._changed: dict[str, set[str]] = {}
        self._tables_due = True
        self._view_shown: object | None = None
        self._second_shown = 0
        self._tls_seen: dict[str, tuple[Network, str]] = {}
        """Network key -> (the run's settings, the TLS version a device of it negotiated)."""

    def compose(self) -> ComposeResult:
        yield NetworkHeader(id="header")
        with Horizontal(id="panes"):
            yield NetworkTree(id="tree")
            yield DeviceLog(id="log")
            yield SubscriptionsTable(id="subscriptions")
        yield Checklist(id="checklist")
        yield PublishPrompt(id="publish")
        yield KeysFooter()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that failed is logged and shown; the app goes on."""
        worker_failed(self, event, getattr(self.app, "log_file", None))

    def on_mount(self) -> None:
        self.query_one(NetworkTree).border_title = "Networks"
        self.query_one(DeviceLog).border_title = "Device log"
        self.query_one(SubscriptionsTable).border_title = "Subscriptions"
        self.query_one(PublishPrompt).topics = self._known_topics
        self.rebuild()
        if self.session.networks:
            first = self.session.networks[0]
            device = next(iter(first.records), None)
            self.show_place(Place(first.key, device))
        self.query_one(NetworkTree).focus()
        self.set_interval(REFRESH_SECONDS, self._refresh_due)
        self.set_interval(HEADER_SECONDS, self._refresh_header)
        self.call_after_refresh(self.start_brokers)  # after the first frame
        self.call_after_refresh(_settle_memory)

    def on_unmount(self) -> None:
        # Objects of the app that end with it can be collected again.
        gc.unfreeze()

    @work(group="brokers", exit_on_error=False)
    async def start_brokers(self) -> None:
        """Start the bundled broker of every open network that uses one."""
        for opened in list(self.session.networks):
            try:
                broker = await self.session.ensure_broker(opened.network)
            except IotsimError as error:
                log.warning("bundled broker of %s: %s", opened.network.name, error.message)
                self.notify(
                    f"{error.message}.",
                    title=error.title,
                    severity="error",
                    timeout=20,
                )
                continue
            if broker is not None:
                self._watch_broker(opened, broker)
            notice = self.session.brokers.take_notice(opened.network)
            if notice is not None:
                self.notify(f"{notice}.", title="Another broker", severity="warning", timeout=20)
        self._refresh_header()

    # -- what is selected ---------------------------------------------------------------

    def _known_topics(self) -> set[str]:
        opened = self.network
        return opened.known_topics() if opened is not None else set()

    def show_place(self, place: Place) -> None:
        """Select a network or device, moving the tree's cursor to it."""
        self._select(place)
        tree = self.query_one(NetworkTree)
        node = tree.node_of(place)
        if node is not None:
            # The tree lays out its lines on the next refresh; the cursor can move then.
            self.call_after_refresh(tree.move_cursor, node)

    @on(Tree.NodeHighlighted, "#tree")
    def _highlighted(self, event: Tree.NodeHighlighted[Place]) -> None:
        if event.node.data is not None and event.node.data != self.place:
            self._select(event.node.data)

    def _select(self, place: Place) -> None:
        self.place = place
        opened = self.network
        if opened is not None:
            # The simulation sends this device's kept events, then each new one as it comes.
            opened.watch(place.device)
        self._show_log()
        self._tables_due = True
        self._refresh_header()

    def _show_log(self) -> None:
        opened, device_id = self.network, self.device_id
        log = self.query_one(DeviceLog)
        if opened is None or device_id is None or device_id not in opened.records:
            title = opened.network.name if opened else ""
            log.show(f"{title}: select a device", ())
        else:
            record = opened.records[device_id]
            log.show(f"{record.device.id} · {record.device.name}", record.log)

    # -- redrawing ---------------------------------------------------------------------

    def rebuild(self) -> None:
        """Redraw the tree from the session (networks opened, closed or edited)."""
        tree = self.query_one(NetworkTree)
        for opened in self.session.networks:
            tree.set_network(opened.key, opened.network.name, opened.lines(), dirty=opened.dirty)
        self._tables_due = True
        self._refresh_header()

    def _refresh_header(self) -> None:
        opened = self.network
        state = None
        if opened is not None:
            running = opened.running
            seen = self._tls_seen.get(opened.key)
            if seen is None or seen[0] is not running:  # a new run, or none
                seen = None
                self._tls_seen.pop(opened.key, None)
            if running is not None and (version := negotiated_tls(opened)):
                seen = self._tls_seen[opened.key] = (running, version)
            shown = running or opened.network
            state = HeaderState(
                self.session.brokers.reached(shown),
                dirty=opened.dirty,
                broker_state=self.session.brokers.state(shown),
                tls_version=seen[1] if seen is not None else None,
                stale=opened.stale,
            )
        self.query_one(NetworkHeader).show(state)
        self._refresh_checklist()
        self.sub_title = " ".join(f"{n.network.name}*" for n in self.session.dirty)

    def _refresh_due(self) -> None:
        tree = self.query_one(NetworkTree)
        for key, device_ids in self._changed.items():
            opened = self.session.find(key)
            if opened is None:
                continue
            lines = opened.lines() if len(device_ids) > len(opened.records) // 2 else None
            connected = sum(r.status is DeviceStatus.CONNECTED for r in opened.records.values())
            label = network_label(
                opened.network.name, connected, len(opened.records), dirty=opened.dirty
            )
            records = opened.records
            changed = lines or [records[d].line() for d in device_ids if d in records]
            tree.update_devices(key, label, changed)
        if self._changed:
            self._tables_due = True
        self._changed.clear()
        opened = self.network
        if opened is not None:
            opened.watch(self.device_id)
        # The subscriptions follow the watched device's view, and their "since" the clock.
        view = opened.engine.view if opened is not None and opened.engine is not None else None
        second = int(self.clock())
        if view is not self._view_shown or second != self._second_shown:
            self._view_shown, self._second_shown = view, second
            self._tables_due = True
        if self._tables_due:
            rows = []
            if opened is not None and self.device_id in opened.records:
                rows = opened.subscription_rows(self.device_id)
                record = opened.records[self.device_id]
                self.query_one(DeviceLog).set_counts(record.received, record.sent)
            self.query_one(SubscriptionsTable).show(rows, self.clock())
        self._tables_due = False

    # -- engine events -----------------------------------------------------------------

    def on_network_events_arrived(self, message: NetworkEventsArrived) -> None:
        if message.changed:
            self._changed.setdefault(message.key, set()).update(message.changed)
        if self.place is None or message.key != self.place.network or self.device_id is None:
            return
        mine = [event for event in message.batch if event.device_id == self.device_id]
        if mine:
            self.query_one(DeviceLog).add(mine)
            self._tables_due = True

    def on_device_history_arrived(self, message: DeviceHistoryArrived) -> None:
        if self.place == Place(message.key, message.device_id):
            if message.added is None:
                self._show_log()
            else:
                self.query_one(DeviceLog).add(message.added)
            self._tables_due = True

    def on_network_stopped(self, message: NetworkStopped) -> None:
        opened = self.session.find(message.key)
        if message.reason is not None:
            log.warning("network %s: %s", message.key, message.reason.message)
            self.notify(
                f"{message.reason.message}.",
                title=message.reason.title,
                severity="error",
                timeout=15,
            )
        if opened is not None:
            self._changed[message.key] = set(opened.records)
            if self.place is not None and self.place.network == message.key:
                self._select(self.place)

    def on_networks_changed(self, _message: NetworksChanged) -> None:
        self.rebuild()
        if self.place is not None:
            self._select(self.place)

    def on_broker_state_changed(self, _message: BrokerStateChanged) -> None:
        self._refresh_header()

    def on_broker_exited(self, message: BrokerExited) -> None:
        text = self.session.brokers.exited((message.host, message.port), message.code)
        self.notify(text, title="Broker stopped", severity="error", timeout=15)
        self._refresh_header()

    # -- other screens -----------------------------------------------------------------

    def action_topic_tree(self) -> None:
        """Every topic on the network's broker: counts, payloads, charts; the cursor goes to
        the selected device's telemetry when it arrives."""
        from iotsim_tui.tui.screens.topic_tree import TopicTreeScreen, telemetry_topic

        opened = self._need_network()
        if opened is not None:
            start_at = telemetry_topic(opened, self.device_id)  # the selected device's charts
            self.app.push_screen(TopicTreeScreen(opened, start_at=start_at))

    # -- recording and publishing ------------------------------------------------------

    def action_record(self) -> None:
        """Start or stop recording the network's messages (tui/recording.py)."""
        opened = self._need_network()
        if opened is not None:
            from iotsim_tui.tui.recording import toggle_recording

            toggle_recording(self, opened)

    def action_focus_publish(self) -> None:
        self.query_one(PublishPrompt).focus_topic()

    def action_leave_input(self) -> None:
        """Escape from the publish prompt or the log filter, so keys are commands again."""
        focus_now(self.query_one(NetworkTree))

    @on(PublishPrompt.Submitted)
    def _publish_submitted(self, message: PublishPrompt.Submitted) -> None:
        opened, device_id = self.network, self.device_id
        if opened is None or device_id is None:
            self.notify("Select the device to publish as, in the tree.", severity="warning")
            return
        try:
            validate_topic_name(message.topic)
        except TopicError as error:
            self.notify(f"Cannot publish to {message.topic!r}: {error}", severity="error")
            return
        if opened.engine is None:
            self.notify(f"Start {device_id} first (s), then publish.", severity="warning")
            return
        self.publish(opened, device_id, message)

    @work(group="publish", exit_on_error=False)
    async def publish(
        self, opened: OpenNetwork, device_id: str, message: PublishPrompt.Submitted
    ) -> None:
        """Publish by hand as a device; a failure becomes a device-log line."""
        try:
            await opened.publish(
                device_id, message.topic, message.payload, qos=message.qos, retain=message.retain
            )
        except (IotsimError, KeyError, ValueError, RuntimeError) as error:
            line = DeviceError(
                device_id, f"publish to {message.topic} failed: {error}", self.clock()
            )
            opened.note(device_id, line)
            self.post_message(NetworkEventsArrived(opened.key, [line], set()))

    def say(self, opened: OpenNetwork, device_id: str, text: str) -> None:
        """Add a line of the app's own to a device's log."""
        line = LogLine(device_id, text, self.clock())
        opened.note(device_id, line)
        self.post_message(NetworkEventsArrived(opened.key, [line], set()))


def _settle_memory() -> None:
    """After the first frame: what exists now lives as long as the app, out of the collector's way.

    The widgets, a thousand devices' records and tree lines: frozen, a full collection under
    load takes ~20 ms instead of ~180 ms, which a key would wait for. The command line turns
    the collector off until here (`cli._open_app`): building all that is faster without it.
    """
    gc.freeze()
    gc.enable()
