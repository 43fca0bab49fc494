"""How `lab lesson` and `lab attack` lay out their reports on a terminal.

Lines are wrapped to the terminal (at most 100 columns) with a hanging indent, and never
inside a word or at a hyphen, so that a client id, a topic or a path stays whole and can be
copied from the report.
"""

from __future__ import annotations

import shutil
import textwrap

MAX_WIDTH = 100


def report_width() -> int:
    """The terminal's width, at most `MAX_WIDTH` (100 when it is not a terminal)."""
    return min(shutil.get_terminal_size((MAX_WIDTH, 24)).columns, MAX_WIDTH)


def wrapped(text: str, width: int, lead: str) -> str:
    """`text` wrapped to `width`, the first line after `lead`, the next ones indented past it."""
    return textwrap.fill(
        text,
        width,
        initial_indent=lead,
        subsequent_indent=" " * (len(lead) + 2),
        break_on_hyphens=False,
        break_long_words=False,
    )
