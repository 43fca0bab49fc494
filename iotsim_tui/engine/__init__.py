"""Simulated devices: one MQTT client each, with telemetry, commands and reconnects.

The engine never imports the broker or the app: it speaks MQTT over a socket to whatever
broker the network names, and reports what happens as one stream of frozen events.

The names below load with the submodule that defines them, on first use: the app imports
`iotsim_tui.engine.events` before its first frame, and that must not pull in the MQTT
client (aiomqtt, paho) that only `Simulation` needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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

_HOMES: dict[str, str] = {
    "PAYLOAD_PREVIEW_BYTES": "events",
    "DeviceError": "events",
    "DeviceStatus": "events",
    "Event": "events",
    "LogLine": "events",
    "MessageIn": "events",
    "MessageKind": "events",
    "MessageOut": "events",
    "StatusChanged": "events",
    "Simulation": "simulation",
    "DeviceView": "views",
    "Ledger": "views",
    "SubscriptionView": "views",
    "Summary": "views",
}

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


def __getattr__(name: str) -> object:
    """Load `name` from its submodule the first time it is asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
