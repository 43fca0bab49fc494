"""Moving the focus, and opening dialogs, without losing the keys typed right after."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from textual import events
from textual.app import App
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget

STUCK_SECONDS = 2.0
"""The longest keys wait behind one key or for a screen being built, before they go anyway."""
POLL_SECONDS = 0.02
"""How often waiting keys check whether the screen being built is ready."""


def focus_now(widget: Widget) -> None:
    """Give `widget` the focus before the next queued key is handled.

    `Widget.focus()` defers the move to a later turn of the message queue, so the keys a
    fast typist sends after a shortcut (`m`, then the topic) would land in the old focus.
    """
    widget.screen.set_focus(widget)


class TypeAhead:
    """Hands keys to the app one at a time, each once the one before it has been handled.

    Textual gives a key to the focused widget's queue and goes straight on to the next one:
    `u` then `cmd` typed in one go would reach the tree before `u` has opened its dialog,
    and keys that arrive while a dialog is still being built would find nothing focused.
    Here a key waits until the key before it has been handled all the way up the DOM (or
    was stopped on the way) and the top screen is mounted; typing at a settled screen goes
    through at once.
    """

    def __init__(self, app: App[Any], handle: Callable[[events.Key], Awaitable[None]]) -> None:
        """`handle` gives a key to the app as Textual would (its own `on_event`)."""
        self._app = app
        self._handle = handle
        self._waiting: deque[events.Key] = deque()
        self._in_flight: events.Key | None = None
        self._at: DOMNode | None = None
        """Where the key in flight is: done once this node is."""
        self._since = 0.0
        self._unready: Screen[Any] | None = None
        self._unready_since = 0.0
        self._polling = False

    @property
    def waiting(self) -> int:
        """How many keys wait to be handed on."""
        return len(self._waiting)

    async def arrived(self, key: events.Key) -> None:
        """A key from the terminal: handle it now, or keep it until its turn."""
        if self._waiting or not self._settled():
            self._waiting.append(key)
            self._poll_soon()
            return
        await self._hand_on(key)

    def _settled(self) -> bool:
        if self._in_flight is not None:
            # A node removed with the key in its queue never gets to it.
            gone = self._at is not None and not self._at.is_attached
            if not gone and time.monotonic() - self._since < STUCK_SECONDS:
                return False
            self._in_flight = None
        try:
            screen = self._app.screen
        except Exception:  # no screen yet: Textual decides what a key does then
            return True
        if screen.is_mounted:
            return True
        if self._unready is not screen:
            self._unready, self._unready_since = screen, time.monotonic()
        return time.monotonic() - self._unready_since >= STUCK_SECONDS

    async def _hand_on(self, key: events.Key) -> None:
        target: DOMNode = self._app.focused or self._app.screen
        self._since = time.monotonic()
        await self._handle(key)
        if key.is_forwarded and not key._stop_propagation:
            self._in_flight = key
            self._follow(key, target)

    def _follow(self, key: events.Key, node: DOMNode) -> None:
        """Learn when `node` is done with `key`: stopped there, or passed to the parent."""
        self._at = node

        def check() -> None:
            if self._in_flight is not key:
                return
            parent = node.parent
            # Textual stops a key as it bubbles back to the node that sent it (the app),
            # after putting it in that node's queue: it is not done until the app is.
            onward = not key._stop_propagation or parent is key._sender
            if parent is not None and onward and node.is_parent_active and node.is_attached:
                self._follow(key, parent)  # it bubbled: done once the parent is
            else:
                self._done(key)

        if not node.call_later(check):  # closed: the key ends here
            self._done(key)

    def _done(self, key: events.Key) -> None:
        if self._in_flight is key:
            self._in_flight = None
            self._since = time.monotonic()
            self._app.call_later(self._release)

    async def _release(self) -> None:
        while self._waiting and self._settled():
            await self._hand_on(self._waiting.popleft())
        if self._waiting:
            self._poll_soon()

    def _poll_soon(self) -> None:
        if not self._polling:
            self._polling = True
            self._app.set_timer(POLL_SECONDS, self._poll)

    async def _poll(self) -> None:
        self._polling = False
        await self._release()
