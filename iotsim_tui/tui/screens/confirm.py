"""Questions: yes or no (delete a device, quit unsaved, ...), or one of a few answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from iotsim_tui.tui.screens._frame import DialogScreen


class ConfirmScreen(DialogScreen[bool]):
    """Ask `question`; dismisses True for `yes`, False for `no` or Escape.

    The safe answer (`no`) has the focus, so a stray Enter never deletes anything.
    """

    AUTO_FOCUS = "#no"

    DEFAULT_CSS = """
    ConfirmScreen > #dialog {
        width: 64;
        border: round $warning;
        padding: 1 2 0 2;
    }
    ConfirmScreen #question {
        width: 1fr;
    }
    ConfirmScreen #buttons {
        height: auto;
        align-horizontal: right;
        margin-top: 1;
    }
    ConfirmScreen #buttons Button {
        margin-left: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "answer(False)", "Cancel", id="confirm.no", tooltip="Answer no"),
        Binding("y", "answer(True)", "Yes", id="confirm.yes", tooltip="Answer yes"),
        Binding("n", "answer(False)", "No", id="confirm.no_key", tooltip="Answer no"),
        Binding("left,right", "switch", "Switch", show=False),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "Cancel") -> None:
        super().__init__()
        self.question = question
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        """The question and two buttons."""
        with self.frame("Please confirm", "y: yes · n/Esc: no"):
            yield Static(self.question, id="question", markup=False)
            with Horizontal(id="buttons"):
                yield Button(self.yes, variant="warning", id="yes", compact=True)
                yield Button(self.no, variant="primary", id="no", compact=True)

    def action_answer(self, answer: bool) -> None:
        """Close with `answer`."""
        self.dismiss(answer)

    def action_switch(self) -> None:
        """Move the focus between the two buttons."""
        self.focus_next(Button)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")


class ChoiceScreen(DialogScreen[str | None]):
    """Ask `question` with a few answers; dismisses with the chosen key, None for Escape.

    Args:
        question: What to decide, in full sentences.
        choices: (key, label) of each answer, the usual one first (it has the focus).
    """

    AUTO_FOCUS = "#choices Button"

    DEFAULT_CSS = """
    ChoiceScreen > #dialog {
        width: 72;
        padding: 1 2 0 2;
    }
    ChoiceScreen #choices {
        height: auto;
        margin-top: 1;
    }
    ChoiceScreen #choices Button {
        width: 1fr;
        margin-bottom: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="choice.cancel", tooltip="Choose nothing"),
        Binding("down", "app.focus_next", "Next", show=False),
        Binding("up", "app.focus_previous", "Previous", show=False),
    ]

    def __init__(self, question: str, choices: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.question = question
        self.choices = choices

    def compose(self) -> ComposeResult:
        """The question and one button per answer, then Cancel."""
        with self.frame("Please choose", "↑↓: move · Enter: choose · Esc: cancel"):
            yield Static(self.question, id="question", markup=False)
            with Vertical(id="choices"):
                for key, label in self.choices:
                    yield Button(label, id=f"choice-{key}", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def action_cancel(self) -> None:
        """Close with no choice."""
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button_id = event.button.id or ""
        self.dismiss(button_id.removeprefix("choice-") if button_id != "cancel" else None)
