"""A device's commands: which command an incoming message is, and what carrying it out does.

A command is a topic filter (with the device's `{id}` and `{name}` filled in), an optional
payload to match, and its behaviour: set state values, start or stop the telemetry, and
publish a response whose topic and payload may quote the command's (`{topic}`, `{payload}`).
The device only hands each incoming message to `CommandSet.handle`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Protocol

from iotsim_tui.engine.events import MessageKind
from iotsim_tui.engine.generators import device_topic, set_state, shown
from iotsim_tui.engine.message_properties import Request, wire_properties
from iotsim_tui.profiles.model import Command, Device, Response, TelemetryAction
from iotsim_tui.protocol.properties import Properties
from iotsim_tui.protocol.topics import is_valid_topic_name, matched_filter, topic_matches


class CommandTarget(Protocol):
    """The device a command acts on."""

    device: Device
    state: dict[str, Any]

    def set_telemetry(self, running: bool) -> bool:
        """Start or stop the telemetry; False when it already was so."""
        ...

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        kind: MessageKind,
        properties: Properties = ...,
    ) -> None:
        """Publish a message (the command's response), with MQTT 5 properties."""
        ...

    def report(self, message: str) -> None:
        """Report a problem on the device."""
        ...

    def log(self, text: str) -> None:
        """Add a line to the device's log."""
        ...


class CommandSet:
    """The commands of one device, by topic filter."""

    __slots__ = ("_commands", "_matched")

    def __init__(self, device: Device) -> None:
        self._commands = [(device_topic(c.topic, device), c) for c in device.commands]
        # A shared subscription ($share/group/filter) delivers topics that match its filter.
        self._matched = [matched_filter(topic_filter) for topic_filter, _ in self._commands]

    def __bool__(self) -> bool:
        return bool(self._commands)

    def subscriptions(self) -> Iterator[tuple[str, int]]:
        """The topic filter and QoS each command needs a subscription to."""
        for topic_filter, command in self._commands:
            yield topic_filter, command.qos

    def handle(
        self, target: CommandTarget, topic: str, payload: bytes, request: Request | None = None
    ) -> None:
        """Carry out every command that a message on `topic` with `payload` is.

        `request`: the message's MQTT 5 response topic and correlation data, when it has one.
        """
        text: str | None = None
        reacted = False
        expected: list[str] = []
        for (_, command), topic_filter in zip(self._commands, self._matched, strict=True):
            if topic_matches(topic_filter, topic):
                if text is None:
                    text = payload.decode("utf-8", "replace")
                if matches_payload(command, text):
                    apply_command(target, command, topic, text, request)
                    reacted = True
                elif command.match is not None:
                    expected.append(command.match)
        if not reacted and expected and text is not None:
            wanted = ", ".join(json.dumps(match) for match in expected)
            target.log(
                f"command on {topic}: the payload {json.dumps(text[:80])} matches no reaction "
                f"(expected {wanted})"
            )


def matches_payload(command: Command, text: str) -> bool:
    """True when the command takes any payload or this one (case and spaces aside)."""
    return command.match is None or text.strip().lower() == command.match.strip().lower()


def apply_command(
    target: CommandTarget,
    command: Command,
    topic: str,
    text: str,
    request: Request | None = None,
) -> None:
    """Do what `command` says, received on `topic` with payload `text`, and log what was done.

    A request (MQTT 5: the message named a response topic) is answered on that topic with
    its correlation data, instead of on the response's own topic.
    """
    done: list[str] = []
    refused: dict[str, str] = {}
    if command.set:
        refused = set_state(target.state, command.set, text, target.device.state)
        for why in refused.values():
            target.log(f"command on {topic}: refused: {why}")
        changed = [k for k in command.set if k not in refused]
        if changed:
            done.append("set " + ", ".join(f"{k}={shown(target.state[k])}" for k in changed))
    if command.telemetry is TelemetryAction.STOP and target.set_telemetry(False):
        done.append("telemetry stopped")
    elif command.telemetry is TelemetryAction.START and target.set_telemetry(True):
        done.append("telemetry started")
    if command.response is not None:
        answered = _respond(target, command.response, topic, text, request, refused)
        if answered is None:
            return
        done.append(answered)
    elif request is not None:
        done.append(f"asked to answer on {request.response_topic}, but it has no response")
    if done or not command.set or len(refused) < len(command.set):
        target.log(f"command on {topic}: " + ("; ".join(done) or "no action"))


def _respond(
    target: CommandTarget,
    response: Response,
    topic: str,
    text: str,
    request: Request | None,
    refused: dict[str, str],
) -> str | None:
    """Publish the command's response (an error reply when a value was refused); what was
    done, or None when it could not be sent (reported)."""
    device = target.device

    def fill(template: str) -> str:
        filled = device_topic(template, device).replace("{topic}", topic)
        return filled.replace("{payload}", text)

    properties = wire_properties(
        response.properties, device, fill={"{topic}": topic, "{payload}": text}
    )
    if request is not None:
        reply_topic = request.response_topic
        properties = replace(properties, correlation_data=request.correlation_data)
    else:
        reply_topic = fill(response.topic)
    if not is_valid_topic_name(reply_topic):
        target.report(f"command on {topic}: cannot respond on {json.dumps(reply_topic)}")
        return None
    payload = fill(response.payload)
    if refused:
        payload = "error: " + "; ".join(refused.values())
    target.publish(
        reply_topic,
        payload.encode(),
        response.qos,
        response.retain,
        MessageKind.RESPONSE,
        properties,
    )
    return f"{'sent an error reply' if refused else 'responded'} on {reply_topic}"
