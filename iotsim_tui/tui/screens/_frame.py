"""The frame every dialog shares: a bordered box in the middle, over the dimmed screen below.

A dialog subclasses `DialogScreen` and puts its content in `self.frame(...)`. Its own CSS
changes only what differs, for example `ConfirmScreen > #dialog { width: 64; }`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, TypeVar

from rich.console import RenderableType
from rich.segment import Segment
from rich.style import Style
from textual import events, on
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.containers import Vertical
from textual.renderables.background_screen import BackgroundScreen
from textual.screen import ModalScreen

ResultT = TypeVar("ResultT")


class DimmedScreen(BackgroundScreen):
    """The screen under a dialog, drawn through the dialog's translucent backdrop.

    Textual works out the tinted colours of every cell each time the dialog is drawn (twice
    as it opens); the screen below has only a few distinct styles, so each one's tinted
    style is worked out once here and kept.
    """

    _tinted: ClassVar[dict[tuple[Style, Color], Style]] = {}
    _KEPT = 4096
    """At most this many tinted styles are kept (the themes' and panes' styles fit easily)."""

    @classmethod
    def process_segments(cls, segments: Iterable[Segment], color: Color) -> Iterable[Segment]:
        """`segments` tinted by `color`, without their links and actions."""
        if color.a == 0:
            yield from super().process_segments(segments, color)
            return
        tinted = cls._tinted
        plain = Style()
        for text, style, control in segments:
            if control:
                yield Segment(text, style, control)
                continue
            key = (style or plain, color)
            new = tinted.get(key)
            if new is None:
                if len(tinted) >= cls._KEPT:
                    tinted.clear()
                new = tinted[key] = cls._tint(style or plain, color)
            yield Segment(text, new)

    @staticmethod
    def _tint(style: Style, color: Color) -> Style:
        base = style.clear_meta_and_links()
        fore = None if style.color is None else (Color.from_rich_color(style.color) + color)
        back = None if style.bgcolor is None else (Color.from_rich_color(style.bgcolor) + color)
        return base + Style.from_color(
            None if fore is None else fore.rich_color,
            None if back is None else back.rich_color,
        )


class DialogScreen(ModalScreen[ResultT]):
    """A modal screen whose content sits in one framed box, `#dialog`.

    The app's `?` and `q` belong to the full screens: in a dialog they do nothing (unless a
    text box takes them as text), so that a stray key never quits from a half-filled form.
    ctrl+q still quits from anywhere.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,q", "stay", "Stay", show=False, id="dialog.stay"),
    ]

    restyle_when_shown = False
    """True when the dialog restyles as it shows: when it comes back after a dialog over it
    closed (the theme, or a focus, may have changed meanwhile). Not the first time (each
    widget was styled as it was mounted, a moment ago), nor when a kept dialog, filled in
    anew, shows again in the theme it was styled in."""

    _styled_in: str | None = None
    """The theme the dialog was last shown in."""

    _sized_before = False
    """True once the dialog was told its size the first time."""

    def action_stay(self) -> None:
        """Nothing: the key is not the app's here."""

    def render(self) -> RenderableType:
        """The dimmed screen below, as Textual draws it, with its tints worked out once."""
        below = super().render()
        if type(below) is BackgroundScreen:
            return DimmedScreen(below.screen, below.color)
        return below

    @on(events.ScreenResume)
    def _styled_when_mounted(self, event: events.ScreenResume) -> None:
        # Restyling every widget was the largest part of showing a dialog: done only when
        # something may have changed (see `restyle_when_shown`). Runs before Screen's own.
        theme = self.app.theme
        if not self.restyle_when_shown and self._styled_in in (None, theme):
            event.refresh_styles = False
        self._styled_in = theme
        self.restyle_when_shown = True

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
