"""`R` on the main screen: record every message of the open network to a file, until `R` again.

The recording is what `iotsim-tui record` writes (JSON lines, docs/traffic.md), made by an MQTT
client of its own on the network's broker, into `recordings/NETWORK-YYYYmmdd-HHMMSS.jsonl`
under the working folder. It goes on while other screens are open, and ends with the app.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from weakref import WeakKeyDictionary

from textual.screen import Screen

from iotsim_tui.errors import IotsimError
from iotsim_tui.traffic.record import RecordCount, record
from iotsim_tui.tui.session import OpenNetwork
from iotsim_tui.words import counted

RECORDINGS_DIR = Path("recordings")


@dataclass(slots=True)
class Recording:
    """One recording in progress."""

    path: Path
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    count: RecordCount = field(default_factory=RecordCount)


_RUNNING: WeakKeyDictionary[OpenNetwork, Recording] = WeakKeyDictionary()


def recording_of(opened: OpenNetwork) -> Recording | None:
    """The recording of `opened` in progress, if any."""
    return _RUNNING.get(opened)


def recording_path(opened: OpenNetwork, now: float | None = None) -> Path:
    """Where a recording of `opened` started now goes."""
    name = re.sub(r"[^\w.-]+", "_", opened.network.name).strip("_") or "network"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return RECORDINGS_DIR / f"{name}-{stamp}.jsonl"


def toggle_recording(screen: Screen[None], opened: OpenNetwork) -> None:
    """Start recording `opened`'s broker, or stop the recording in progress."""
    running = _RUNNING.get(opened)
    if running is not None:
        running.stop.set()
        return
    recording = Recording(recording_path(opened))
    _RUNNING[opened] = recording
    screen.run_worker(_record(screen, opened, recording), group="record", exit_on_error=False)


async def _record(screen: Screen[None], opened: OpenNetwork, recording: Recording) -> None:
    network = opened.running or opened.network
    broker = opened.reach(network).broker
    where = f"{broker.host}:{broker.effective_port}"
    try:
        recording.path.parent.mkdir(parents=True, exist_ok=True)
        with recording.path.open("w", encoding="utf-8", newline="\n") as out:

            def started() -> None:
                screen.notify(
                    f"Recording every message on {where} to {recording.path} (R stops).",
                    title="Recording",
                )

            def seen(count: RecordCount) -> None:
                recording.count = count

            await record(broker, out, stop=recording.stop, ready=started, seen=seen)
    except IotsimError as error:
        screen.notify(error.message, title="Recording stopped", severity="error")
        return
    except OSError as error:
        screen.notify(
            f"cannot write {recording.path}: {error.strerror}",
            title="Recording stopped",
            severity="error",
        )
        return
    finally:
        _RUNNING.pop(opened, None)
    screen.notify(
        f"{counted(recording.count.messages, 'message')} on "
        f"{counted(recording.count.topics, 'topic')} recorded to {recording.path}.",
        title="Recording saved",
    )
