"""The lab checklist: each check of the network's profile, ticked as the student does the lab."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from iotsim_tui.lab.checks import Mark, Verdict

MARKS: dict[Mark, tuple[str, str]] = {
    Mark.PASSED: ("✔", "bold green"),
    Mark.FAILED: ("✘", "bold red"),
    Mark.OPEN: ("○", "dim"),
}
"""Where a check stands -> (mark, style). The mark alone tells them apart."""

NO_CHECKS = "This network's profile has no lab checks (a [lab] table: see docs/labs.md)."


def checklist_text(verdicts: Sequence[Verdict]) -> Text:
    """One line per check: its mark, its title, and why, dimmed."""
    if not verdicts:
        return Text(NO_CHECKS, style="dim")
    text = Text()
    for index, verdict in enumerate(verdicts):
        mark, style = MARKS[verdict.mark]
        if index:
            text.append("\n")
        text.append(f"{mark} ", style=style)
        text.append(verdict.title)
        text.append(f"  {verdict.detail}", style="dim")
    return text


class Checklist(Static):
    """The checks of the network's lab and where each stands; `show` redraws it."""

    DEFAULT_CSS = """
    Checklist {
        height: auto;
        max-height: 12;
        border: round $primary 50%;
        padding: 0 1;
        overflow-y: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.border_title = "Lab checklist"
        self._shown: tuple[tuple[str, Mark, str], ...] | None = None

    def show(self, verdicts: Sequence[Verdict]) -> None:
        """Show these verdicts (a no-op when nothing changed since the last call)."""
        key = tuple((v.title, v.mark, v.detail) for v in verdicts)
        if key == self._shown:
            return
        self._shown = key
        passed = sum(v.passed for v in verdicts)
        self.border_subtitle = f"{passed} of {len(verdicts)} passed" if verdicts else ""
        self.update(checklist_text(verdicts))
