"""What a headless run shows: a progress bar and a live summary line, JSON lines, a summary."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from iotsim_tui.engine import (
    DeviceError,
    Event,
    LogLine,
    MessageIn,
    MessageOut,
    StatusChanged,
    Summary,
)
from iotsim_tui.headless.report import INTERRUPTED, final_report, summary_record
from iotsim_tui.words import agreeing

__all__ = ["INTERRUPTED", "Display", "event_record", "json_lines", "summary_line"]

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

PLAIN_EVERY = 5.0
"""Seconds between summary lines when the output is not a terminal."""


def event_record(event: Event) -> dict[str, Any]:
    """One event as a JSON-ready dict (payloads as text, or hex when they are not UTF-8)."""
    base: dict[str, Any] = {"device": event.device_id, "at": round(event.at, 6)}
    if isinstance(event, StatusChanged):
        return {"type": "status", **base, "status": event.status.value, "detail": event.detail}
    if isinstance(event, LogLine):
        return {"type": "log", **base, "text": event.text}
    if isinstance(event, DeviceError):
        return {"type": "error", **base, "message": event.message}
    record = {
        "type": "message_in" if isinstance(event, MessageIn) else "message_out",
        **base,
        "topic": event.topic,
        "qos": event.qos,
        "retain": event.retain,
        "size": event.size,
        **_payload(event.payload, event.size),
    }
    if isinstance(event, MessageIn):
        record["unsolicited"] = event.unsolicited
    elif isinstance(event, MessageOut):
        record["kind"] = event.kind.value
    return record


def json_lines(records: list[dict[str, Any]]) -> str:
    """Records as JSON lines, each ending with a newline."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def _payload(payload: bytes, size: int) -> dict[str, Any]:
    shown: dict[str, Any]
    try:
        shown = {"payload": payload.decode("utf-8")}
    except UnicodeDecodeError:
        shown = {"payload_hex": payload.hex()}
    if size > len(payload):
        shown["truncated"] = True
    return shown


def summary_line(summary: Summary) -> str:
    """One line: connected, errors, messages out and in per second."""
    line = (
        f"connected {summary.connected}/{summary.devices}  errors {summary.errors}  "
        f"out {summary.rate_out:,.1f}/s ({summary.messages_out:,})  "
        f"in {summary.rate_in:,.1f}/s ({summary.messages_in:,})"
    )
    if summary.reconnecting:
        line += f"  reconnecting {summary.reconnecting}"
    return line


def error_lines(errors: list[tuple[str, str]], named: int = 3) -> list[str]:
    """One line per distinct error, naming a few of the devices that reported it."""
    devices: dict[str, list[str]] = {}
    for device, message in errors:
        devices.setdefault(message, []).append(device)
    lines = []
    for message, who in devices.items():
        shown = ", ".join(who[:named])
        if len(who) > named:
            shown += f" and {len(who) - named:,} more"
        lines.append(f"error: {agreeing(len(who), 'device', 'devices')} {shown}: {message}")
    return lines


class Display:
    """The live part: a progress bar while devices connect, then the summary line."""

    def __init__(self, *, json_lines: bool, stream: TextIO | None = None) -> None:
        self._json = json_lines
        self._out = stream or sys.stdout
        # With --json, stdout carries only JSON lines: the progress goes to stderr.
        # rich loads here, in the process that shows the run: worker processes, which only
        # turn events into records, start faster without it.
        from rich.console import Console

        self._console = Console(stderr=json_lines, file=None if stream is None else stream)
        self._live = self._console.is_terminal
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._last_plain = 0.0
        self._quiet_tty: Callable[[], None] | None = None

    def __enter__(self) -> Display:
        if self._live:
            self._quiet_tty = _hide_control_echo()
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[line]}"),
                console=self._console,
                # Drawn at each update (4 a second) on the run's own loop, rather than by a
                # thread of rich's 10 times a second, which took the GIL from the devices.
                auto_refresh=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("connecting", total=None, line="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self._quiet_tty is not None:
            self._quiet_tty()
            self._quiet_tty = None

    def update(self, summary: Summary, elapsed: float) -> None:
        """Show the current state."""
        settled = summary.connected + summary.errors
        if self._progress is not None and self._task is not None:
            label = "connecting" if settled < summary.devices else "running"
            self._progress.update(
                self._task,
                description=label,
                total=summary.devices,
                completed=summary.connected,
                line=f"{summary_line(summary)}  {elapsed:.0f} s",
                refresh=True,
            )
        elif not self._json and elapsed - self._last_plain >= PLAIN_EVERY:
            self._last_plain = elapsed
            print(f"[{elapsed:6.1f} s] {summary_line(summary)}", file=self._out, flush=True)

    def errors(self, errors: list[tuple[str, str]]) -> None:
        """Say which devices failed and why, as it happens (with --json the events say it)."""
        if self._json:
            return
        for line in error_lines(errors):
            if self._progress is not None:
                self._progress.console.print(line, markup=False, highlight=False)
            else:
                print(line, file=sys.stderr, flush=True)

    def events(self, records: list[dict[str, Any]]) -> None:
        """Print events as JSON lines."""
        self.lines(json_lines(records))

    def lines(self, text: str) -> None:
        """Print lines made already (by `json_lines`, in a worker process)."""
        self._out.write(text)
        self._out.flush()

    def finish(
        self,
        summary: Summary,
        network: str,
        seconds: float,
        *,
        interrupted: bool = False,
        run: dict[str, Any] | None = None,
    ) -> None:
        """Print the final summary (as a JSON line too, with --json, `run` added to it: which
        shard of which profile, as `--summary` writes it)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self._json:
            record = summary_record(summary, network, interrupted=interrupted, seconds=seconds)
            self.events([record | (run or {})])
            stream: TextIO = sys.stderr
        else:
            stream = self._out
        for line in final_report(summary, network, seconds, interrupted=interrupted):
            print(line, file=stream)


def _hide_control_echo() -> Callable[[], None] | None:
    """Stop the terminal echoing "^C" while the live line shows; returns how to undo it.

    The echo lands after a full-width live line, wraps it, and the line that rich redraws
    below leaves a copy of it above: the progress would be printed twice.
    """
    try:
        import termios
    except ImportError:
        return None
    try:
        fd = sys.stdin.fileno()
        if not os.isatty(fd):
            return None
        saved = termios.tcgetattr(fd)
        quiet = termios.tcgetattr(fd)
        quiet[3] &= ~termios.ECHOCTL
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except (OSError, ValueError, termios.error):
        return None

    def restore() -> None:
        with contextlib.suppress(OSError, termios.error):
            termios.tcsetattr(fd, termios.TCSANOW, saved)

    return restore
