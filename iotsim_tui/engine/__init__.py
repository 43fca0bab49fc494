"""Simulated devices: one MQTT client each, with telemetry, commands and reconnects.

The engine never imports the broker or the app: it speaks MQTT over a socket to whatever
broker the network names, and reports what happens as one stream of frozen events.
"""

from iotsim_tui.engine.events import (
    PAYLOAD_PREVIEW_BYTES,
    DeviceError,
    DeviceStatus,
    Event,
    LogLine,
    MessageIn,
    MessageKind,
    MessageOut,
    StatusChanged,
)
from iotsim_tui.engine.simulation import Simulation
from iotsim_tui.engine.views import DeviceView, Ledger, SubscriptionView, Summary

__all__ = [
    "PAYLOAD_PREVIEW_BYTES",
    "DeviceError",
    "DeviceStatus",
    "DeviceView",
    "Event",
    "Ledger",
    "LogLine",
    "MessageIn",
    "MessageKind",
    "MessageOut",
    "Simulation",
    "StatusChanged",
    "SubscriptionView",
    "Summary",
]
