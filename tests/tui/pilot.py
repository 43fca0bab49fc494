"""Helpers for driving the app with Textual's Pilot as a user would, with generous waits."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.css.query import NoMatches
from textual.pilot import Pilot
from textual.widgets import Button, Input

from iotsim_tui.engine.events import DeviceError, Event, MessageIn, MessageOut, StatusChanged
from iotsim_tui.profiles.model import Network
from iotsim_tui.profiles.save import save_network
from iotsim_tui.tui.app import IotsimApp, make_app
from iotsim_tui.tui.screens.console import BrokerConsoleScreen
from iotsim_tui.tui.session import OpenNetwork

WAIT = 45.0
"""Seconds any single wait may take on a loaded machine before the test fails."""


async def wait_for(
    pilot: Pilot[int], condition: Callable[[], object], what: str, limit: float = WAIT
) -> None:
    """Let the app run until `condition()` is true; fail saying `what` did not happen.

    A condition that queries a widget not mounted yet (NoMatches) is not true yet: widgets
    built by a handler, a worker or at the next refresh appear a moment after what caused them.
    """
    deadline = time.monotonic() + limit
    while not _holds(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:.0f} s waiting for {what}")
        await pilot.pause(0.05)


def _holds(condition: Callable[[], object]) -> bool:
    try:
        return bool(condition())
    except NoMatches:
        return False


async def click_button(pilot: Pilot[Any], selector: str) -> None:
    """Click a button on the current screen once it takes clicks again: Textual's Button
    ignores a click during its press effect (0.2 s after the last press, ended by a timer that
    runs late on a loaded machine), so a second click on the same button could be lost."""
    button = pilot.app.screen.query_one(selector, Button)
    await wait_for(pilot, lambda: not button.has_class("-active"), f"{selector} to take clicks")
    await pilot.click(selector)


async def wait_subscribed(pilot: Pilot[Any], console: BrokerConsoleScreen, client_id: str) -> None:
    """Wait until the broker console's feed lists `client_id` with a subscription: the feed
    can list a client between its CONNECT and its SUBSCRIBE, and a command sent then reaches
    no one (a device is "connected" before it has subscribed)."""

    def subscribed() -> bool:
        return client_id in console.clients and bool(console.listed(client_id).subscriptions)

    await wait_for(pilot, subscribed, f"{client_id} subscribed, in the broker console")


LASTING_WORKERS = frozenset(
    {"_loader", "simulation", "brokers", "load", "console-feed", "console-messages"}
)
"""Worker groups that run as long as what owns them: a DirectoryTree's queue reader, a
network's simulation, a broker's watch, the background imports, the console's clients feed."""


def _busy(app: App[Any]) -> str:
    """What the app is still doing: a worker of a step running, or a message waiting."""
    running = [w.name for w in app.workers if not w.is_finished and w.group not in LASTING_WORKERS]
    if running:
        return f"worker {running[0]!r} running"
    for screen in app.screen_stack:
        for node in (app, *screen.walk_children(with_self=True)):
            # Callbacks waiting for the next refresh (call_after_refresh, call_next) are not
            # messages but still work to do, such as pushing a screen.
            if node.message_queue_size or node._next_callbacks:
                return f"messages waiting in {node!r}"
    return ""


async def settle(pilot: Pilot[Any], limit: float = WAIT) -> None:
    """Let the app run until it is idle: no worker running (but those in LASTING_WORKERS) and
    no message waiting in the app or any widget of its screens, seen twice in a row (a handler
    may post more, or start a worker that pushes a screen). Where a test waits for something
    it can name, it says so with `wait_for` instead."""
    deadline = time.monotonic() + limit
    quiet = 0
    while quiet < 2:
        await pilot.pause()
        busy = _busy(pilot.app)
        quiet = 0 if busy else quiet + 1
        if busy and time.monotonic() > deadline:
            raise AssertionError(f"the app was still busy after {limit:.0f} s: {busy}")
        if busy:
            await pilot.pause(0.01)


async def type_text(pilot: Pilot[int], text: str) -> None:
    """Type `text` key by key into whatever has the focus."""
    await pilot.press(*text)


async def fill(pilot: Pilot[int], selector: str, value: str) -> None:
    """Focus an input of the top screen and replace its text (as select-all and typing do)."""
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    await pilot.pause()
    field.value = value
    await pilot.pause()


def app_on(tmp_path: Path, *networks: Network, start_broker: bool = True) -> IotsimApp:
    """The app as the command line builds it, on profiles written into `tmp_path/profiles`."""
    folder = tmp_path / "profiles"
    folder.mkdir(exist_ok=True)
    paths = []
    for network in networks:
        path = folder / f"{network.name.lower()}.toml"
        save_network(network, path)
        paths.append(path)
    return make_app(
        paths,
        start_broker=start_broker,
        certs_dir=tmp_path / "certs",
        log_file=tmp_path / "state" / "iotsim-tui.log",
    )


def fold_events(opened: OpenNetwork, batch: Iterable[Event]) -> set[str]:
    """Fold engine events into an open network as if every device were watched (the app gets
    digests; these tests give a screen exact events); returns the ids whose status changed."""
    changed: set[str] = set()
    for event in batch:
        record = opened.records.get(event.device_id)
        if record is None:
            continue
        record.log.append(event)
        if isinstance(event, StatusChanged):
            record.status, record.detail = event.status, event.detail
            changed.add(event.device_id)
        elif isinstance(event, MessageIn):
            record.received += 1
        elif isinstance(event, MessageOut):
            record.sent += 1
        elif isinstance(event, DeviceError):
            record.detail = event.message
    return changed
