"""What the engine reports: one stream of small frozen events.

The app consumes them in one worker and the headless runner prints them; both read only
these classes. Payloads are cut to `PAYLOAD_PREVIEW_BYTES` before they become events, so
a flood of large messages cannot grow memory or the screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

PAYLOAD_PREVIEW_BYTES = 4096


class DeviceStatus(StrEnum):
    """Where a device is in its life cycle."""

    STOPPED = "stopped"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    ERROR = "error"


class MessageKind(StrEnum):
    """Why a device published a message."""

    TELEMETRY = "telemetry"
    RESPONSE = "response"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """A device moved to another status; `detail` says why or what next, in plain words."""

    device_id: str
    status: DeviceStatus
    detail: str
    at: float
    """time.time() when it happened."""


@dataclass(frozen=True, slots=True)
class LogLine:
    """A line for the device's log that is not a message (subscribed, command handled, ...)."""

    device_id: str
    text: str
    at: float


@dataclass(frozen=True, slots=True)
class MessageIn:
    """A message the device received."""

    device_id: str
    topic: str
    qos: int
    retain: bool
    payload: bytes
    """At most PAYLOAD_PREVIEW_BYTES; `size` is the full length."""
    size: int
    unsolicited: bool
    """True when it matches none of the device's subscriptions."""
    at: float


@dataclass(frozen=True, slots=True)
class MessageOut:
    """A message the device published (telemetry, a command response, or by hand)."""

    device_id: str
    topic: str
    qos: int
    retain: bool
    payload: bytes
    size: int
    kind: MessageKind
    at: float


@dataclass(frozen=True, slots=True)
class DeviceError:
    """Something failed for a device; `message` is in plain words (never a bare MqttError).

    A failure that ends the device (bad password, rejected certificate) comes only as its
    `StatusChanged` to error, whose detail says why: one line in the device's log.
    """

    device_id: str
    message: str
    at: float


Event: TypeAlias = StatusChanged | LogLine | MessageIn | MessageOut | DeviceError
