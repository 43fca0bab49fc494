"""What the lessons (`l`) and attacks (`X`) screens share: a list of things to run for real,
one key each, a status line, what happened below; one run at a time, on a broker of its own.

Leaving the screen (escape) cancels a run still going, which stops whatever it started, and
waits for that before the screen closes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import ClassVar

from textual import on
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import OptionList
from textual.worker import Worker, WorkerCancelled

from iotsim_tui.profiles.model import Network
from iotsim_tui.tui.failures import worker_failed


def run_key(number: int, noun: str, titles: Sequence[str], screen_id: str) -> Binding:
    """The key that runs item `number` (from 1) of `titles`: the footer shows the first as
    "1-8 Run lesson"; the help lists each."""
    return Binding(
        str(number),
        f"run({number})",
        f"Run {noun}" if number == 1 else f"{noun.capitalize()} {number}",
        show=number == 1,
        key_display=f"1-{len(titles)}" if number == 1 else None,
        id=f"{screen_id}.run{number}",
        tooltip=f"Run {noun} {number}: {titles[number - 1]}",
    )


class LabRunScreen(Screen[None]):
    """The list on top (focused), the status under it, what happened below.

    A subclass binds `run_key`s to `action_run`, shows the start of a run in `start_run` and
    runs it in a worker of the group `RUN_GROUP`.
    """

    RUN_GROUP: ClassVar[str] = "lab-run"
    """The workers' group of a run: the one the screen cancels as it closes."""
    RUNS: ClassVar[int] = 0
    """How many things the list offers (keys 1 to RUNS)."""

    def __init__(self, network: Network) -> None:
        super().__init__()
        self.network = network

    def on_mount(self) -> None:
        """The list takes the keys."""
        self.query_one(OptionList).focus()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A run that failed unexpectedly is logged and shown; the screen goes on."""
        worker_failed(self, event, getattr(self.app, "log_file", None))

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.action_run(event.option_index + 1)

    def action_run(self, number: int) -> None:
        """Run item `number` (from 1), replacing any run still going."""
        if not 1 <= number <= self.RUNS:
            return
        self.query_one(OptionList).highlighted = number - 1
        self.start_run(number - 1)

    def start_run(self, index: int) -> None:
        """Say the run of item `index` (from 0) has begun, and begin it."""
        raise NotImplementedError(f"{type(self).__name__} runs nothing")

    async def action_close(self) -> None:
        """Leave: a run still going is cancelled, and what it started stopped, first."""
        for worker in list(self.workers):
            if worker.group == self.RUN_GROUP and worker.is_running:
                worker.cancel()
                with contextlib.suppress(WorkerCancelled):
                    await worker.wait()
        self.dismiss(None)
