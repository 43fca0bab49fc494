"""The frame every dialog shares: a bordered box in the middle, over the dimmed screen below.

A dialog subclasses `DialogScreen` and puts its content in `self.frame(...)`. Its own CSS
changes only what differs, for example `ConfirmScreen > #dialog { width: 64; }`.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

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

    def action_stay(self) -> None:
        """Nothing: the key is not the app's here."""

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
