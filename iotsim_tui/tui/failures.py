"""Failures in workers: shown as a notification, logged to a file, and the app goes on."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from textual.app import App
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from iotsim_tui.errors import IotsimError

log = logging.getLogger("iotsim_tui.tui")


def worker_failed(
    node: App[Any] | Widget, event: Worker.StateChanged, log_file: Path | None
) -> None:
    """Report a worker that ended with an error; expected failures are said in their words."""
    if event.state is not WorkerState.ERROR:
        return
    error = event.worker.error
    name = event.worker.name or "a task"
    if isinstance(error, IotsimError):
        log.warning("%s: %s", name, error.message)
        node.notify(error.message, title=error.title, severity="error", timeout=15)
        return
    log.error("%s crashed", name, exc_info=error)
    where = f" Details are in {log_file}." if log_file else ""
    node.notify(
        f"{name} failed: {error!r}.{where}",
        title="Something went wrong",
        severity="error",
        timeout=20,
    )
