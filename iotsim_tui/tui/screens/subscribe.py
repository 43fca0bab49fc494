"""Subscribe a device to a command topic: saved in its profile, and at once if it runs."""

from __future__ import annotations

from dataclasses import replace

from textual.app import ComposeResult
from textual.widgets import Input, Select

from iotsim_tui.engine.generators import device_topic
from iotsim_tui.profiles.model import Device, SubscribeOn, Subscription
from iotsim_tui.tui.screens import _checks
from iotsim_tui.tui.screens._form import FormDialog, field

QOS_CHOICES: tuple[tuple[str, int], ...] = (
    ("0 · At most once", 0),
    ("1 · At least once", 1),
    ("2 · Exactly once", 2),
)
"""QoS levels as the Select lists them: the number and what it promises."""
DEFAULT_QOS = 1
"""What a new subscription asks for: at least once (a command must not be lost)."""
WHEN_CHOICES: tuple[tuple[str, SubscribeOn], ...] = (
    ("On every start (and now, if it runs)", SubscribeOn.START),
    ("Now only, if it runs (kept as on = manual)", SubscribeOn.MANUAL),
)
"""When the device subscribes, as the profile's `on` key says it."""


class SubscribeScreen(FormDialog[Subscription]):
    """Subscribe `device` to a topic filter; dismisses with the `Subscription` to save.

    The subscription goes into the device's profile (`on = "start"`): the device subscribes
    every time it connects, and the app subscribes it at once when it is running.
    """

    AUTO_FOCUS = "#topic"

    submit_label = "Subscribe"

    def __init__(
        self, device: Device, *, subject: str | None = None, template: bool = False
    ) -> None:
        super().__init__()
        self._set_subject(device, subject, template)

    def _set_subject(self, device: Device, subject: str | None, template: bool) -> None:
        self.device = device
        self.template = template
        """True when `device` is a device template's pattern: `{n}` may stand in the topic."""
        subject = subject or device.id
        self.heading = f"Subscribe {subject} to a command topic"
        self.intro = (
            f"Saved in the profile: {subject} subscribes every time it connects, and at "
            "once if it is running; or, with 'Now only', at once and not on later starts."
        )

    def refill(self, device: Device, *, subject: str | None = None, template: bool = False) -> None:
        """Fill the kept dialog in for `device`, as a new one would be (see `_kept`)."""
        with self.refilling():
            self._set_subject(device, subject, template)
            self.retitle()
            self.query_one("#topic", Input).value = ""
            self.query_one("#qos", Select).value = DEFAULT_QOS
            self.query_one("#on", Select).value = SubscribeOn.START

    def compose_fields(self) -> ComposeResult:
        """Topic filter and QoS."""
        yield field(
            "Topic filter",
            Input(placeholder="e.g. High_Tempe or devices/{id}/#", id="topic", compact=True),
            hint="'+' matches one level, '#' the rest; {id} and {name} stand for the device's",
        )
        yield field(
            "QoS",
            Select(QOS_CHOICES, value=DEFAULT_QOS, allow_blank=False, id="qos", compact=True),
        )
        yield field(
            "When",
            Select(WHEN_CHOICES, value=SubscribeOn.START, allow_blank=False, id="on", compact=True),
        )

    def on_mount(self) -> None:
        """Check the filter as it is typed."""
        self.live_checks["topic"] = self._check_topic

    def _check_topic(self, text: str) -> str | None:
        problem = _checks.check_topic_filter(device_topic(text.strip(), self.device))
        if problem is None and any(s.topic == text.strip() for s in self.device.subscribe):
            problem = f"{self.device.id} already subscribes to {text}"
        return problem

    def build(self, errors: dict[str, str]) -> Subscription | None:
        """The subscription, checked by the profile rules."""
        qos = self.query_one("#qos", Select).value
        when = self.query_one("#on", Select).value
        assert isinstance(qos, int)
        assert isinstance(when, SubscribeOn)
        topic = self.query_one("#topic", Input).value.strip()
        subscription = Subscription(topic, qos=qos, on=when)
        device = replace(
            self.device, subscribe=(subscription,), telemetry=(), commands=(), will=None
        )
        for problem in _checks.device_problems(device, ".subscribe", template=self.template):
            errors.setdefault("topic", problem.problem)
        return subscription
