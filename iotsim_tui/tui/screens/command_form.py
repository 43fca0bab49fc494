"""Add a command to a device, or change one: the topic it listens on and how it reacts
(state, telemetry, a response with its QoS, retain and MQTT 5 properties), checked by the
same rules as a profile's `[[devices.commands]]`."""

from __future__ import annotations

from dataclasses import replace

from textual.app import ComposeResult
from textual.widgets import Input, Select

from iotsim_tui.profiles.checks import Checker
from iotsim_tui.profiles.model import (
    Command,
    Device,
    GeneratorKind,
    MessageProperties,
    MQTTVersion,
    Response,
    TelemetryAction,
)
from iotsim_tui.profiles.properties import parse_properties
from iotsim_tui.tui.screens import _checks
from iotsim_tui.tui.screens._form import FormDialog, Toggle, field
from iotsim_tui.tui.screens._generators import (
    format_value,
    parse_params,
    parse_value,
    properties_table,
    properties_text,
)
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
    "response.qos": "response-qos",
    "response.retain": "response-retain",
    "response": "response-topic",
}
_RESPONSE_FILL = {"id": "id", "name": "name", "n": "1", "topic": "topic", "payload": "payload"}


def set_text(changes: dict[str, object]) -> str:
    """A command's `set` table as one line: `rate={payload} running=true`."""
    return " ".join(f"{key}={_set_value(value)}" for key, value in changes.items())


def _set_value(value: object) -> str:
    """A value as typed: text that reads back as itself (`{payload}`) without quotes."""
    if (
        isinstance(value, str)
        and value
        and not any(c.isspace() or c in "\"'[," for c in value)
        and parse_value(value) == value
    ):
        return value
    return format_value(value)


class CommandScreen(FormDialog[Command]):
    """How `device` reacts to a command (a new one, or `command` changed); dismisses with
    the `Command` to save."""

    AUTO_FOCUS = "#topic"

    submit_label = "Save command"

    def __init__(
        self,
        device: Device,
        command: Command | None = None,
        *,
        subject: str | None = None,
        template: bool = False,
        protocol: MQTTVersion = MQTTVersion.V5,
    ) -> None:
        super().__init__()
        self.device = device
        self.command = command
        self.template = template
        self.protocol = protocol
        subject = subject or device.id
        self.heading = (
            f"Add a command to {subject}"
            if command is None
            else f"Change the command {command.topic} of {subject}"
        )
        state = ", ".join(device.state) or "none yet: add a state table in the profile"
        self.intro = (
            f"When a message arrives on the topic (and matches, if a payload is given), {subject} "
            f"sets state values, stops or starts its telemetry, and responds. State: {state}."
        )

    def compose_fields(self) -> ComposeResult:
        """Topic, QoS, payload to match, and the reaction."""
        command = self.command or Command("")
        response = command.response or Response("")
        yield field(
            "Topic filter",
            Input(
                command.topic,
                placeholder="e.g. devices/{id}/cmd/rate",
                id="topic",
                compact=True,
            ),
            hint="subscribed when the device connects; {id} and {name} are the device's",
        )
        yield field(
            "QoS",
            Select(QOS_CHOICES, value=command.qos, allow_blank=False, id="qos", compact=True),
        )
        yield field(
            "Only the payload",
            Input(
                command.match or "",
                placeholder="any payload (or e.g. OFF)",
                id="match",
                compact=True,
            ),
        )
        yield field(
            "Set state",
            Input(
                set_text(dict(command.set)),
                placeholder="e.g. rate={payload} running=true",
                id="set",
                compact=True,
            ),
            hint="key=value pairs; {payload} takes the command's payload",
        )
        action = command.telemetry.value if command.telemetry else ""
        yield field(
            "Telemetry",
            Select(
                TELEMETRY_CHOICES, value=action, allow_blank=False, id="telemetry", compact=True
            ),
        )
        yield field(
            "Respond on",
            Input(
                response.topic,
                placeholder="no response (or e.g. devices/{id}/ack)",
                id="response-topic",
                compact=True,
            ),
            hint="{topic} and {payload} are the command's",
        )
        yield field("Response", Input(response.payload, id="response-payload", compact=True))
        yield field(
            "Response QoS",
            Select(
                QOS_CHOICES, value=response.qos, allow_blank=False, id="response-qos", compact=True
            ),
        )
        yield field("", Toggle("Retain the response", response.retain, id="response-retain"))
        yield field(
            "Response MQTT 5",
            Input(
                properties_text(response.properties),
                placeholder="properties, e.g. content_type=text/plain user.kind=ack",
                id="response-properties",
                compact=True,
            ),
            hint="content_type, payload_format, message_expiry, response_topic, "
            "correlation_data, user.NAME; needs protocol 5",
        )

    def _properties(self, errors: dict[str, str]) -> MessageProperties | None:
        """The response's MQTT 5 properties typed, checked by the profile rules."""
        text = self.query_one("#response-properties", Input).value
        if not text.strip():
            return None
        table, problem = properties_table(text)
        if problem:
            errors["response-properties"] = problem
            return None
        checker = Checker("command")
        found = parse_properties(checker, table, (), self.protocol, _RESPONSE_FILL)
        if checker.problems:
            errors["response-properties"] = _checks.problem_text(checker.problems[0])
        return found

    def _response(self, errors: dict[str, str]) -> Response | None:
        respond_on = self.query_one("#response-topic", Input).value.strip()
        properties = self._properties(errors)
        if not respond_on:
            if properties is not None:
                errors["response-topic"] = "give the topic to respond on, or no properties"
            return None
        qos = self.query_one("#response-qos", Select).value
        assert isinstance(qos, int)
        return Response(
            respond_on,
            self.query_one("#response-payload", Input).value,
            qos=qos,
            retain=self.query_one("#response-retain", Toggle).value,
            properties=properties,
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
        command = Command(
            self.query_one("#topic", Input).value.strip(),
            qos=qos,
            match=match or None,
            response=self._response(errors),
            set=changes,
            telemetry=TelemetryAction(action) if action else None,
        )
        device = replace(self.device, subscribe=(), telemetry=(), commands=(command,), will=None)
        where = "devices[0].commands[0]"
        for found in _checks.device_problems(
            device, ".commands", template=self.template, protocol=self.protocol
        ):
            key = found.key.removeprefix(f"{where}.").removeprefix(where)
            if key.startswith("set."):  # name the state value the problem is about
                errors.setdefault("set", f"{key.removeprefix('set.')} {found.problem}")
                continue
            if key.startswith("response.properties"):
                errors.setdefault("response-properties", _checks.problem_text(found, key=key))
                continue
            errors.setdefault(_FIELD_OF_KEY.get(key, "topic"), found.problem)
        return command
