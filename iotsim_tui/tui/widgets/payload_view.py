"""A payload in detail: JSON coloured and folded to fit, text, hex dump, base64, or a diff.

The view is chosen from the payload (`views_for`) until the user picks another (`next_view`,
on `v` where a screen shows one); `toggle_folding` (`z`) unfolds JSON that was folded to fit
the pane, or folds it again.
"""

from __future__ import annotations

from rich.text import Text

from iotsim_tui.explore.payloads import Line, View, fitting_depth, read_json, views_for
from iotsim_tui.explore.payloads import render as render_lines
from iotsim_tui.tui.widgets.lines_view import LinesView

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


def as_texts(lines: list[Line]) -> list[Text]:
    """Lines of pieces as coloured Texts, one a line."""
    texts = []
    for line in lines:
        text = Text(no_wrap=True, end="")
        for piece, kind in line:
            text.append(piece, STYLES.get(kind, ""))
        texts.append(text)
    return texts


class PayloadView(LinesView):
    """One payload, in the view that suits it or the one chosen by key."""

    DEFAULT_CSS = """
    PayloadView { height: 1fr; }
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

    @property
    def view(self) -> View:
        """The view the payload is shown in."""
        if self.payload is None:
            return View.TEXT
        views = views_for(self.payload)
        return self.chosen if self.chosen in views else views[0]

    def show_payload(self, payload: bytes | None, previous: bytes | None = None) -> None:
        """Show `payload` (None: nothing), diffed against `previous` in the diff view."""
        if payload == self.payload and previous == self.previous:
            return
        self.payload, self.previous = payload, previous
        self.redraw()

    def redraw(self) -> None:
        """Draw the payload again (after a change of view, folding or size)."""
        if self.payload is None:
            self.show([Text(self.blank, style="dim")])
            self.border_subtitle = ""
            return
        view = self.view
        depth = None
        if view in (View.JSON, View.DIFF) and not self.unfolded:
            value = read_json(self.payload)
            if value is not None:
                depth = fitting_depth(value, max(self.size.height, 8))
        width = max(self.size.width - 2, 16)
        lines = render_lines(
            self.payload, view, width=width, fold_depth=depth, previous=self.previous
        )
        self.show(as_texts(lines), keep_place=True)
        folded = " · folded to fit (z unfolds)" if depth is not None else ""
        self.border_subtitle = f"{view.value} (v: next view){folded}"

    def on_resize(self) -> None:
        self.redraw()

    def next_view(self) -> None:
        """Show the payload in the next view that suits it (JSON, diff, text, hex, base64)."""
        views = views_for(self.payload or b"")
        self.chosen = views[(views.index(self.view) + 1) % len(views)]
        self.redraw()

    def toggle_folding(self) -> None:
        """Unfold JSON folded to fit the pane, or fold it again."""
        self.unfolded = not self.unfolded
        self.redraw()
