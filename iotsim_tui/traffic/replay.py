"""Publish a recording again, with the gaps between its messages (divided by `speed`).

The whole file is checked before the first message goes out, so a bad line stops the replay
before it starts, naming the line. Each message is due at a time counted from the start of
the pass (not from the message before it), so lateness never adds up over a long recording.
When the broker refuses a message or goes away half way, the error names the line that was
being sent and how many went out before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from iotsim_tui.engine.message_properties import to_paho
from iotsim_tui.engine.mqtt_client import Client, MqttError, paho_of
from iotsim_tui.errors import IotsimError, UsageError
from iotsim_tui.profiles.model import BrokerSettings
from iotsim_tui.protocol.reasons import MQTTVersion
from iotsim_tui.traffic.connect import connection_failed, make_client, where
from iotsim_tui.traffic.recording import RecordedMessage, check_recording, read_recording
from iotsim_tui.words import counted

IN_FLIGHT = 200
"""QoS 1 and 2 messages waiting for the broker's acknowledgement before the replay waits."""


class ReplayStopped(IotsimError):
    """A replay that could not go on; the message says at which line and what was sent."""

    title = "Replay stopped"


@dataclass(slots=True)
class ReplayCount:
    """What a replay sent."""

    messages: int = 0
    passes: int = 0
    """Passes through the whole recording (one stopped half way is not counted)."""
    properties_dropped: int = 0
    """Messages whose MQTT 5 properties a 3.1.1 connection could not carry."""
    latest: float = 0.0
    """The largest delay, in seconds, of a message after the time it was due."""


async def replay(
    broker: BrokerSettings,
    path: Path,
    *,
    speed: float = 1.0,
    loop: bool = False,
    stop: asyncio.Event | None = None,
    sent: Callable[[ReplayCount], None] | None = None,
    base: Path | None = None,
) -> ReplayCount:
    """Publish the recording at `path` to `broker`; again and again with `loop`, until `stop`.

    Raises RecordingError for a bad line (before anything is sent), ConnectionFailed when the
    broker cannot be reached, and ReplayStopped when it refuses a message or goes away.
    """
    if not speed > 0:
        raise UsageError(f"--speed must be more than 0, not {speed}")
    check_recording(path)
    stop = stop or asyncio.Event()
    count = ReplayCount()
    client = make_client(broker, "replay", base=base)
    try:
        await client.__aenter__()
    except MqttError as error:
        raise connection_failed(error, broker) from None
    _no_delay(client)
    try:
        while not stop.is_set():
            if await _one_pass(client, broker, path, speed, stop, count, sent):
                count.passes += 1
            if not loop:
                break
    finally:
        with contextlib.suppress(MqttError):
            await client.__aexit__(None, None, None)
    return count


async def _one_pass(
    client: Client,
    broker: BrokerSettings,
    path: Path,
    speed: float,
    stop: asyncio.Event,
    count: ReplayCount,
    sent: Callable[[ReplayCount], None] | None,
) -> bool:
    """Publish the recording once; False when `stop` cut the pass short."""
    clock = asyncio.get_running_loop()
    v5 = broker.protocol is MQTTVersion.V5
    waiting: dict[asyncio.Task[None], int] = {}
    # One waiter for the whole pass: waiting with a timeout on it creates nothing per message
    # and cancels nothing, so a message goes out one turn of the loop after it is due.
    stopped = asyncio.ensure_future(stop.wait())
    start = clock.time()
    first: float | None = None
    line = 0
    try:
        for line, message in read_recording(path):
            if first is None:
                first = message.time
            due = start + max(message.time - first, 0.0) / speed
            if (left := due - clock.time()) > 0:
                await asyncio.wait((stopped,), timeout=left)
            if stop.is_set():
                return False
            count.latest = max(count.latest, clock.time() - due)
            await _publish(client, message, v5, waiting, line, count)
            if sent is not None:
                sent(count)
        await _settle(waiting, wait_all=True)
        return True
    except MqttError as error:
        raise ReplayStopped(
            f"{path}:{line}: the broker at {where(broker)} refused or lost the message "
            f"({error}); {counted(count.messages, 'message')} sent before it"
        ) from None
    except _Refused as refused:
        raise ReplayStopped(
            f"{path}:{refused.line}: the broker at {where(broker)} refused the message "
            f"({refused.reason}); stopped there, {counted(count.messages, 'message')} sent"
        ) from None
    finally:
        stopped.cancel()
        for task in waiting:
            task.cancel()


def _no_delay(client: Client) -> None:
    """Write each message as soon as it is due (TCP_NODELAY): a small PUBLISH written while
    the one before is not yet acknowledged by TCP would wait for that ACK (Nagle), and a
    broker that answers nothing to QoS 0 delays its ACK."""
    sock = cast(socket.socket | None, paho_of(client).socket())
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Refused(Exception):
    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason


async def _publish(
    client: Client,
    message: RecordedMessage,
    v5: bool,
    waiting: dict[asyncio.Task[None], int],
    line: int,
    count: ReplayCount,
) -> None:
    properties = None
    if not message.properties.is_empty():
        if v5:
            properties = to_paho(message.properties)
        else:
            count.properties_dropped += 1
    publishing = client.publish(
        message.topic,
        message.payload,
        qos=message.qos,
        retain=message.retain,
        properties=properties,
    )
    count.messages += 1
    if message.qos == 0:
        await publishing
        return
    # QoS 1 and 2 wait for the broker's answer beside the timing, a bounded number at a time.
    waiting[asyncio.ensure_future(publishing)] = line
    await _settle(waiting, wait_all=len(waiting) >= IN_FLIGHT)


async def _settle(waiting: dict[asyncio.Task[None], int], *, wait_all: bool) -> None:
    """Drop the finished publishes (raising for a refused one); with `wait_all`, wait for all."""
    if wait_all and waiting:
        await asyncio.wait(list(waiting))
    for task in [t for t in waiting if t.done()]:
        line = waiting.pop(task)
        error = task.exception()
        if error is not None:
            raise _Refused(line, str(error) or type(error).__name__)
