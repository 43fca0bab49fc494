"""Subscribe a device to a command topic: when (on start, or now), topic filter and QoS."""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual.app import ComposeResult
from textual.widgets import Input, Select

from iotsim_tui.profiles.model import Device, Network, SubscribeOn, Subscription
from iotsim_tui.tui.screens import _checks
from iotsim_tui.tui.screens._form import FormDialog, field

QOS_CHOICES: tuple[tuple[str, int], ...] = (
    ("0 · At most once", 0),
    ("1 · At least once", 1),
    ("2 · Exactly once", 2),
)
"""QoS levels as the Select lists them: the number and what it promises."""


@dataclass(frozen=True)
class SubscribeRequest:
    """What the user asked for: a subscription, and whether to subscribe right away."""

    subscription: Subscription
    now: bool
    """True: subscribe now, once (`on = manual`, not subscribed again on the next start).
    False: `on = start`, subscribed every time the device connects (and at once if it runs)."""


class SubscribeScreen(FormDialog[SubscribeRequest]):
    """Subscribe `device` to a topic filter; dismisses with a `SubscribeRequest`."""

    AUTO_FOCUS = "#topic"

    submit_label = "Subscribe"

    def __init__(self, device: Device) -> None:
        super().__init__()
        self.device = device
        self.heading = f"Subscribe {device.id} to a command topic"

    def compose_fields(self) -> ComposeResult:
        """When, topic filter and QoS."""
        yield field(
            "Subscribe on",
            Select(
                [
                    ("start: every time the device connects (saved)", SubscribeOn.START),
                    ("now: at once, while it runs (not on later starts)", SubscribeOn.MANUAL),
                ],
                value=SubscribeOn.START,
                allow_blank=False,
                id="on",
                compact=True,
            ),
        )
        yield field(
            "Topic filter",
            Input(placeholder="e.g. High_Tempe or devices/{id}/#", id="topic", compact=True),
            hint="'+' matches one level, '#' the rest; {id} and {name} stand for the device's",
        )
        yield field(
            "QoS",
            Select(QOS_CHOICES, value=1, allow_blank=False, id="qos", compact=True),
        )

    def on_mount(self) -> None:
        """Check the filter as it is typed."""
        self.live_checks["topic"] = self._check_topic

    def _check_topic(self, text: str) -> str | None:
        filled = text.replace("{id}", self.device.id).replace("{name}", self.device.name)
        problem = _checks.check_topic_filter(filled)
        if problem is None and any(s.topic == text for s in self.device.subscribe):
            problem = f"{self.device.id} already subscribes to {text}"
        return problem

    def build(self, errors: dict[str, str]) -> SubscribeRequest | None:
        """The subscription, checked by the profile rules."""
        on = self.query_one("#on", Select).value
        qos = self.query_one("#qos", Select).value
        assert isinstance(on, SubscribeOn)
        assert isinstance(qos, int)
        subscription = Subscription(self.query_one("#topic", Input).value, qos=qos, on=on)
        device = replace(
            self.device, subscribe=(subscription,), telemetry=(), commands=(), will=None
        )
        network = Network("check", devices=(device,))
        for problem in _checks.profile_problems(network, "devices[0].subscribe"):
            errors.setdefault("topic", problem.problem)
        return SubscribeRequest(subscription, now=on is SubscribeOn.MANUAL)
