"""A payload in detail: JSON coloured and folded to fit, text, hex dump, base64, or a diff.

The view is chosen from the payload (`natural_view`) until the user picks another
(`next_view`, on `v` where a screen shows one); `toggle_folding` (`z`) unfolds JSON that was
folded to fit the pane, or folds it again.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from iotsim_tui.explore.payloads import Line, View, fitting_depth, read_json, views_for
from iotsim_tui.explore.payloads import render as render_lines

STYLES = {
    "key": "bold blue",
    "string": "green",
    "number": "cyan",
    "literal": "magenta",
    "punct": "",
    "fold": "italic yellow",
    "changed": "bold red",
    "offset": "dim",
    "plain": "",
}


def as_text(lines: list[Line]) -> Text:
    """Lines of pieces as one coloured Text."""
    text = Text(no_wrap=False)
    for number, line in enumerate(lines):
        if number:
            text.append("\n")
        for piece, kind in line:
            text.append(piece, STYLES.get(kind, ""))
    return text


class PayloadView(VerticalScroll, can_focus=True):
    """One payload, in the view that suits it or the one chosen by key."""

    DEFAULT_CSS = """
    PayloadView { height: 1fr; background: $surface; }
    PayloadView > Static { width: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.payload: bytes | None = None
        self.previous: bytes | None = None
        self.chosen: View | None = None
        """The view picked by key, kept for the next payloads that it suits; None: the
        payload's natural one."""
        self.unfolded = False
        self.blank = "no message selected"
        """What shows when there is no payload."""
        self._static = Static("", id="payload-text")

    def compose(self) -> ComposeResult:
        yield self._static

    @property
    def view(self) -> View:
        """The view the payload is shown in."""
        if self.payload is None:
            return View.TEXT
        views = views_for(self.payload)
        return self.chosen if self.chosen in views else views[0]

    def show(self, payload: bytes | None, previous: bytes | None = None) -> None:
        """Show `payload` (None: nothing), diffed against `previous` in the diff view."""
        if payload == self.payload and previous == self.previous:
            return
        self.payload, self.previous = payload, previous
        self.redraw()

    def redraw(self) -> None:
        """Draw the payload again (after a change of view, folding or size)."""
        if self.payload is None:
            self._static.update(Text(self.blank, style="dim"))
            self.border_subtitle = ""
            return
        view = self.view
        depth = None
        if view in (View.JSON, View.DIFF) and not self.unfolded:
            value = read_json(self.payload)
            if value is not None:
                depth = fitting_depth(value, max(self.size.height - 1, 8))
        width = max(self.size.width - 2, 16)
        lines = render_lines(
            self.payload, view, width=width, fold_depth=depth, previous=self.previous
        )
        self._static.update(as_text(lines))
        folded = " · folded to fit (z unfolds)" if depth is not None else ""
        self.border_subtitle = f"{view.value} (v: next view){folded}"

    def on_resize(self) -> None:
        self.redraw()

    def next_view(self) -> None:
        """Show the payload in the next view (JSON, text, hex, base64, diff)."""
        views = views_for(self.payload or b"")
        self.chosen = views[(views.index(self.view) + 1) % len(views)]
        self.redraw()

    def toggle_folding(self) -> None:
        """Unfold JSON folded to fit the pane, or fold it again."""
        self.unfolded = not self.unfolded
        self.redraw()
