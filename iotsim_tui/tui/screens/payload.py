"""One message in detail, over the screen it came from: its payload in every view, its fields.

Opened with `enter` on a message of the topic tree; any screen that shows messages can open it
the same way (`PayloadScreen(title, payload, previous)`).
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from iotsim_tui.explore.payloads import View, numbers
from iotsim_tui.tui.screens._frame import DialogScreen
from iotsim_tui.tui.widgets.payload_view import PayloadView


class PayloadScreen(DialogScreen[None]):
    """A payload as large as the terminal allows: `v` the next view, `z` folding."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="payload.close", tooltip="Back to the messages"),
        Binding("v", "next_view", "View", id="payload.view", tooltip="The next payload view"),
        Binding("z", "fold", "Fold JSON", id="payload.fold", tooltip="Unfold or fold the JSON"),
    ]

    DEFAULT_CSS = """
    PayloadScreen > #dialog { width: 100%; height: 100%; }
    PayloadScreen #payload-about { height: auto; color: $text-muted; }
    PayloadScreen PayloadView { height: 1fr; }
    """

    def __init__(
        self,
        title: str,
        payload: bytes,
        previous: bytes | None = None,
        *,
        view: View | None = None,
    ) -> None:
        super().__init__()
        self.view = view
        """The view to show first (None: the one that suits the payload)."""
        self.title_text = title
        self.payload = payload
        self.previous = previous

    def compose(self) -> ComposeResult:
        with self.frame(self.title_text, "v view · z fold · Esc close"):
            fields = numbers(self.payload)
            about = f"{len(self.payload):,} bytes"
            if fields:
                shown = ", ".join(f"{name} = {value:g}" for name, value in list(fields.items())[:8])
                about += f" · {shown}"
            yield Static(about, id="payload-about")
            yield PayloadView(id="payload-detail")

    def on_mount(self) -> None:
        view = self.query_one(PayloadView)
        view.chosen = self.view
        view.show_payload(self.payload, self.previous)
        view.focus()

    def action_close(self) -> None:
        self.dismiss()

    def action_next_view(self) -> None:
        self.query_one(PayloadView).next_view()

    def action_fold(self) -> None:
        self.query_one(PayloadView).toggle_folding()
