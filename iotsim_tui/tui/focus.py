"""Moving the focus from a key binding without losing the keys typed right after it."""

from __future__ import annotations

from textual.widget import Widget


def focus_now(widget: Widget) -> None:
    """Give `widget` the focus before the next queued key is handled.

    `Widget.focus()` defers the move to a later turn of the message queue, so the keys a
    fast typist sends after a shortcut (`m`, then the topic) would land in the old focus.
    """
    widget.screen.set_focus(widget)
