"""The frame every dialog shares: a bordered box in the middle, over the dimmed screen below.

A dialog subclasses `DialogScreen` and puts its content in `self.frame(...)`. Its own CSS
changes only what differs, for example `ConfirmScreen > #dialog { width: 64; }`.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual import events, on
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen

ResultT = TypeVar("ResultT")


class DialogScreen(ModalScreen[ResultT]):
    """A modal screen whose content sits in one framed box, `#dialog`.

    The app's `?` and `q` belong to the full screens: in a dialog they do nothing (unless a
    text box takes them as text), so that a stray key never quits from a half-filled form.
    ctrl+q still quits from anywhere.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,q", "stay", "Stay", show=False, id="dialog.stay"),
    ]

    _shown_before = False
    """True once the dialog was on screen: from then on it restyles when it comes back."""

    _sized_before = False
    """True once the dialog was told its size the first time."""

    def action_stay(self) -> None:
        """Nothing: the key is not the app's here."""

    @on(events.ScreenResume)
    def _styled_when_mounted(self, event: events.ScreenResume) -> None:
        # The first time a dialog shows, each of its widgets was styled as it was mounted,
        # a moment ago: restyling them all again was the largest part of opening a dialog.
        # It comes back after a dialog over it closed restyled as usual (the theme, or a
        # focus, may have changed meanwhile). Runs before Screen's own handler.
        if not self._shown_before:
            self._shown_before = True
            event.refresh_styles = False

    @on(events.Resize)
    def _sized_when_shown(self, event: events.Resize) -> None:
        # Once laid out for the first time, a dialog is told its size, and Textual lays it
        # out again at that same size, and the screen under it too. Nothing changed: skip
        # that (a later resize of the terminal goes through as usual).
        if not self._sized_before:
            self._sized_before = True
            if event.size == self.size:
                event.prevent_default()

    DEFAULT_CSS = """
    DialogScreen {
        align: center middle;
        background: $background 60%;
    }
    DialogScreen > #dialog {
        width: 86;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        border-title-style: bold;
        border-title-color: $text;
        background: $surface;
        padding: 0 1;
    }
    DialogScreen .intro {
        color: $text-muted;
        margin-bottom: 1;
    }
    """

    def frame(self, title: str, keys: str) -> Vertical:
        """The box, titled `title`, with `keys` (what Enter, Esc... do) on its lower edge."""
        box = Vertical(id="dialog")
        box.border_title = title
        box.border_subtitle = keys
        return box
