"""Built-in kinds of device a new device can start from: a name, an id prefix and telemetry."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from iotsim_tui.profiles.model import GeneratorKind, PayloadFields, Telemetry, ValueSpec

_ISO_TIME = ValueSpec(GeneratorKind.TIMESTAMP, format="iso")


def _walk(low: float, high: float, step: float, start: float, digits: int = 1) -> ValueSpec:
    return ValueSpec(GeneratorKind.WALK, min=low, max=high, step=step, start=start, round=digits)


@dataclass(frozen=True)
class DeviceKind:
    """A kind of device: what a new device of this kind is called and what it publishes."""

    label: str
    """Shown in the "Kind" list of the device and template dialogs."""
    name: str
    id_prefix: str
    description: str
    topic: str
    fields: PayloadFields = field(default_factory=dict)
    interval: float = 5.0

    def telemetry(self) -> tuple[Telemetry, ...]:
        """The telemetry a new device of this kind publishes."""
        return (Telemetry(topic=self.topic, interval=self.interval, fields=self.fields),)

    def free_id(self, taken: Collection[str]) -> str:
        """The first id of this kind not in `taken`: TS1, TS2, ..."""
        number = 1
        while f"{self.id_prefix}{number}" in taken:
            number += 1
        return f"{self.id_prefix}{number}"


DEVICE_KINDS: tuple[DeviceKind, ...] = (
    DeviceKind(
        "Temperature sensor",
        "Temperature_Sensor",
        "TS",
        "Room temperature in °C",
        "sensors/{id}/temperature",
        {
            "temperature": _walk(15, 35, 0.5, 22),
            "unit": ValueSpec(GeneratorKind.CONSTANT, value="C"),
            "time": _ISO_TIME,
        },
    ),
    DeviceKind(
        "Humidity sensor",
        "Humidity_Sensor",
        "HS",
        "Relative humidity in %",
        "sensors/{id}/humidity",
        {"humidity": _walk(20, 90, 2, 45, 0), "time": _ISO_TIME},
    ),
    DeviceKind(
        "Heart rate monitor",
        "Heart_Rate_Monitor",
        "HR",
        "Patient heart rate in beats per minute",
        "health/{id}/heart_rate",
        {"bpm": _walk(50, 150, 3, 72, 0), "time": _ISO_TIME},
        interval=2.0,
    ),
    DeviceKind(
        "Pulse oximeter",
        "Pulse_Oximeter",
        "OX",
        "Blood oxygen saturation in %",
        "health/{id}/spo2",
        {"spo2": ValueSpec(GeneratorKind.INT, min=90, max=100), "time": _ISO_TIME},
    ),
    DeviceKind(
        "Power meter",
        "Power_Meter",
        "PM",
        "Power drawn in W and a reading counter",
        "energy/{id}/power",
        {
            "watts": ValueSpec(GeneratorKind.FLOAT, min=0, max=3000, round=1),
            "reading": ValueSpec(GeneratorKind.COUNTER, start=1, step=1),
        },
        interval=10.0,
    ),
    DeviceKind(
        "Door contact",
        "Door_Contact",
        "DC",
        "Reports whether a door is open",
        "security/{id}/door",
        {"open": ValueSpec(GeneratorKind.BOOL, probability=0.1), "time": _ISO_TIME},
    ),
    DeviceKind(
        "GPS tracker",
        "GPS_Tracker",
        "GT",
        "Position of a vehicle",
        "fleet/{id}/position",
        {
            "position": {
                "lat": _walk(51.45, 51.55, 0.001, 51.5, 5),
                "lon": _walk(-0.2, 0.0, 0.001, -0.1, 5),
            },
            "time": _ISO_TIME,
        },
    ),
)
"""The kinds offered in the device dialog, in the order shown."""
