"""How a device status and a payload read on screen, without relying on colour."""

from __future__ import annotations

import contextlib
import json
import time

from rich.text import Text

from iotsim_tui.engine.events import DeviceStatus
from iotsim_tui.words import counted

STATUS_MARKS: dict[DeviceStatus, tuple[str, str]] = {
    DeviceStatus.STOPPED: ("○", "red"),
    DeviceStatus.CONNECTING: ("◌", "yellow"),
    DeviceStatus.CONNECTED: ("●", "green"),
    DeviceStatus.RECONNECTING: ("↻", "yellow"),
    DeviceStatus.ERROR: ("✖", "bold red"),
}
"""Status -> (mark, style). The mark alone tells the status apart; colour only helps."""

PREVIEW_CHARS = 600
HEX_BYTES = 32


def status_text(status: DeviceStatus) -> Text:
    """The status as "● connected", in the status colour."""
    mark, style = STATUS_MARKS[status]
    return Text(f"{mark} {status.value}", style=style)


def status_mark(status: DeviceStatus) -> Text:
    """Just the mark, coloured."""
    mark, style = STATUS_MARKS[status]
    return Text(mark, style=style)


def clock(at: float) -> str:
    """Local wall-clock time with milliseconds, as a log line starts."""
    whole = time.strftime("%H:%M:%S", time.localtime(at))
    return f"{whole}.{int(at * 1000) % 1000:03d}"


def since(at: float, now: float) -> str:
    """How long ago, short: "12s", "4m", "2h"."""
    seconds = max(0, int(now - at))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"


def payload_preview(payload: bytes, size: int | None = None, *, pretty: bool = True) -> str:
    """Pretty JSON, text, or a hex preview for binary; cut to a bounded length."""
    size = len(payload) if size is None else size
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        shown = " ".join(f"{byte:02x}" for byte in payload[:HEX_BYTES])
        more = " …" if size > HEX_BYTES else ""
        return f"hex {shown}{more} ({counted(size, 'byte')})"
    if pretty and text[:1] in ("{", "["):
        # Normalised on one line: a log of telemetry stays one line per message.
        with contextlib.suppress(ValueError):  # not JSON after all: shown as text
            text = json.dumps(json.loads(text), ensure_ascii=False)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() or ch == "\n" else "·" for ch in text)
    if len(text) > PREVIEW_CHARS or size > len(payload):
        return f"{text[:PREVIEW_CHARS]} … ({counted(size, 'byte')})"
    return text


def one_line(payload: bytes | None, width: int = 40) -> str:
    """A payload squeezed onto one short line, for tables."""
    if payload is None:
        return "—"
    text = payload_preview(payload, pretty=False).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"
