"""A device's last will: what the broker publishes for it when it drops without a goodbye.

Checked by the same rules as a profile's `will` table; an empty topic removes the will.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual.app import ComposeResult
from textual.widgets import Input, Select

from iotsim_tui.profiles.model import Device, MQTTVersion, Will
from iotsim_tui.tui.screens import _checks
from iotsim_tui.tui.screens._form import FormDialog, Toggle, field
from iotsim_tui.tui.screens.subscribe import QOS_CHOICES

_FIELD_OF_KEY = {"topic": "topic", "payload": "payload", "delay": "delay", "qos": "qos"}


@dataclass(frozen=True)
class WillChoice:
    """The will to keep: None removes the device's will."""

    will: Will | None


class WillScreen(FormDialog[WillChoice]):
    """Set, change or remove `device`'s last will; dismisses with a `WillChoice`."""

    AUTO_FOCUS = "#topic"

    submit_label = "Save will"

    def __init__(
        self,
        device: Device,
        *,
        subject: str | None = None,
        template: bool = False,
        protocol: MQTTVersion = MQTTVersion.V5,
    ) -> None:
        super().__init__()
        self.device = device
        self.template = template
        self.protocol = protocol
        """The network's MQTT version: a will delay needs MQTT 5."""
        subject = subject or device.id
        self.heading = f"Last will of {subject}"
        self.intro = (
            f"The broker publishes it when {subject} drops without saying goodbye (a crash, a "
            "lost network). Leave the topic empty to remove the will."
        )

    def compose_fields(self) -> ComposeResult:
        """Topic, payload, QoS, retain and (MQTT 5) delay."""
        will = self.device.will or Will("devices/{id}/status")
        yield field(
            "Topic",
            Input(will.topic, id="topic", compact=True),
            hint="{id} and {name} are the device's, so each device has its own",
        )
        yield field("Payload", Input(will.payload, id="payload", compact=True))
        yield field(
            "QoS", Select(QOS_CHOICES, value=will.qos, allow_blank=False, id="qos", compact=True)
        )
        yield field("", Toggle("Retain it on the broker", will.retain, id="retain"))
        yield field(
            "Delay (s)",
            Input(str(will.delay), id="delay", compact=True),
            hint="MQTT 5 only: seconds the broker waits before publishing it",
        )

    def build(self, errors: dict[str, str]) -> WillChoice | None:
        """The will, checked by the profile rules (None when the topic is left empty)."""
        topic = self.query_one("#topic", Input).value.strip()
        if not topic:
            return WillChoice(None)
        qos = self.query_one("#qos", Select).value
        assert isinstance(qos, int)
        text = self.query_one("#delay", Input).value.strip() or "0"
        delay = int(text) if text.isdigit() else 0
        if not text.isdigit():
            errors["delay"] = "give a whole number of seconds, 0 for none"
        will = Will(
            topic,
            self.query_one("#payload", Input).value,
            qos=qos,
            retain=self.query_one("#retain", Toggle).value,
            delay=delay,
        )
        device = replace(self.device, subscribe=(), telemetry=(), commands=(), will=will)
        for found in _checks.device_problems(
            device, ".will", template=self.template, protocol=self.protocol
        ):
            key = found.key.removeprefix("devices[0].will").lstrip(".")
            errors.setdefault(_FIELD_OF_KEY.get(key, "topic"), found.problem)
        return WillChoice(will)
