"""Add a command to a device: the topic it listens on and how it reacts (state, telemetry,
a response), checked by the same rules as a profile's `[[devices.commands]]`."""

from __future__ import annotations

from dataclasses import replace

from textual.app import ComposeResult
from textual.widgets import Input, Select

from iotsim_tui.profiles.model import Command, Device, GeneratorKind, Response, TelemetryAction
from iotsim_tui.tui.screens import _checks
from iotsim_tui.tui.screens._form import FormDialog, field
from iotsim_tui.tui.screens._generators import parse_params
from iotsim_tui.tui.screens.subscribe import QOS_CHOICES

TELEMETRY_CHOICES: tuple[tuple[str, str], ...] = (
    ("Leave it as it is", ""),
    ("Stop the telemetry", TelemetryAction.STOP.value),
    ("Start the telemetry", TelemetryAction.START.value),
)
_FIELD_OF_KEY = {
    "topic": "topic",
    "qos": "qos",
    "match": "match",
    "set": "set",
    "telemetry": "telemetry",
    "response.topic": "response-topic",
    "response.payload": "response-payload",
    "response": "response-topic",
}


class CommandScreen(FormDialog[Command]):
    """How `device` reacts to a command; dismisses with the `Command` to save."""

    AUTO_FOCUS = "#topic"

    submit_label = "Add command"

    def __init__(
        self, device: Device, *, subject: str | None = None, template: bool = False
    ) -> None:
        super().__init__()
        self.device = device
        self.template = template
        subject = subject or device.id
        self.heading = f"Add a command to {subject}"
        state = ", ".join(device.state) or "none yet: add a state table in the profile"
        self.intro = (
            f"When a message arrives on the topic (and matches, if a payload is given), {subject} "
            f"sets state values, stops or starts its telemetry, and responds. State: {state}."
        )

    def compose_fields(self) -> ComposeResult:
        """Topic, QoS, payload to match, and the reaction."""
        yield field(
            "Topic filter",
            Input(placeholder="e.g. devices/{id}/cmd/rate", id="topic", compact=True),
            hint="subscribed when the device connects; {id} and {name} are the device's",
        )
        yield field("QoS", Select(QOS_CHOICES, value=1, allow_blank=False, id="qos", compact=True))
        yield field(
            "Only the payload",
            Input(placeholder="any payload (or e.g. OFF)", id="match", compact=True),
        )
        yield field(
            "Set state",
            Input(placeholder="e.g. rate={payload} running=true", id="set", compact=True),
            hint="key=value pairs; {payload} takes the command's payload",
        )
        yield field(
            "Telemetry",
            Select(TELEMETRY_CHOICES, value="", allow_blank=False, id="telemetry", compact=True),
        )
        yield field(
            "Respond on",
            Input(placeholder="no response (or e.g. devices/{id}/ack)", id="response-topic"),
            hint="{topic} and {payload} are the command's",
        )
        yield field(
            "Response",
            Input("{payload}", id="response-payload", compact=True),
        )

    def build(self, errors: dict[str, str]) -> Command | None:
        """The command, checked by the profile rules."""
        qos = self.query_one("#qos", Select).value
        action = self.query_one("#telemetry", Select).value
        assert isinstance(qos, int)
        assert isinstance(action, str)
        # Read as a generator's parameters are: key=value pairs, values as TOML or plain words.
        changes, problem = parse_params(GeneratorKind.INT, self.query_one("#set", Input).value)
        if problem:
            errors["set"] = "write key=value pairs, e.g. rate={payload} running=true"
        match = self.query_one("#match", Input).value.strip()
        respond_on = self.query_one("#response-topic", Input).value.strip()
        response = None
        if respond_on:
            payload = self.query_one("#response-payload", Input).value
            response = Response(respond_on, payload)
        command = Command(
            self.query_one("#topic", Input).value.strip(),
            qos=qos,
            match=match or None,
            response=response,
            set=changes,
            telemetry=TelemetryAction(action) if action else None,
        )
        device = replace(self.device, subscribe=(), telemetry=(), commands=(command,), will=None)
        where = "devices[0].commands[0]"
        for found in _checks.device_problems(device, ".commands", template=self.template):
            key = found.key.removeprefix(f"{where}.").removeprefix(where)
            if key.startswith("set."):  # name the state value the problem is about
                errors.setdefault("set", f"{key.removeprefix('set.')} {found.problem}")
                continue
            errors.setdefault(_FIELD_OF_KEY.get(key, "topic"), found.problem)
        return command
