"""Messages per second as a one-row chart, for a title bar (the topic tree's, the console's).

The owner tells it a running count of messages (`count`) as often as it likes; each second
that passed becomes one bar, the last minute is kept, and the text beside it says the last rate.
"""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Sparkline, Static

SECONDS = 60
"""Seconds charted: one bar each."""


class RateChart(Horizontal):
    """A sparkline of messages per second, and the last rate in words."""

    DEFAULT_CSS = """
    RateChart { height: 1; width: 1fr; }
    RateChart Sparkline { width: 1fr; height: 1; }
    RateChart .rate-text { width: 16; padding: 0 1; text-align: right; }
    """

    def __init__(self, *, seconds: int = SECONDS, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rates: deque[float] = deque(maxlen=seconds)
        """Messages per second, oldest first."""
        self._counted: tuple[int, float] | None = None

    def compose(self) -> ComposeResult:
        yield Sparkline([])
        yield Static("0 msg/s", classes="rate-text")

    @property
    def last(self) -> float | None:
        """The last rate measured, or None before a second has passed."""
        return self.rates[-1] if self.rates else None

    def count(self, total: int, now: float) -> None:
        """`total` messages seen by `now` (seconds): at each second passed, a new bar."""
        if self._counted is None or total < self._counted[0]:
            self._counted = (total, now)
            return
        before, then = self._counted
        if now - then < 1.0:
            return
        self.rates.append((total - before) / (now - then))
        self._counted = (total, now)
        self.query_one(Sparkline).data = list(self.rates)
        # One row of a fixed size: no layout of the screen for it (it changes every second).
        self.query_one(".rate-text", Static).update(f"{self.rates[-1]:,.0f} msg/s", layout=False)
