"""MQTT 5 properties of what a device publishes, and of the requests it answers.

A profile's `properties` table becomes the codec's `Properties` once per device (with its
`{id}` and `{name}` filled in), encoded once for the QoS 0 fast path, and handed to paho for
QoS 1/2. An incoming command's response topic and correlation data come from paho's message.
"""

from __future__ import annotations

from dataclasses import dataclass

from iotsim_tui.engine.mqtt_client import PacketTypes, PahoProperties
from iotsim_tui.profiles.model import Device, MessageProperties, PayloadFormat
from iotsim_tui.protocol.properties import NO_PROPERTIES, Properties


def wire_properties(
    properties: MessageProperties | None,
    device: Device,
    *,
    fill: dict[str, str] | None = None,
) -> Properties:
    """The codec's properties for a profile's `properties` table (NO_PROPERTIES: none).

    `{id}` and `{name}` are the device's, and `fill` adds placeholders (a response's
    `{topic}` and `{payload}`).
    """
    if properties is None:
        return NO_PROPERTIES
    values = {"{id}": device.id, "{name}": device.name, **(fill or {})}

    def filled(text: str | None) -> str | None:
        if text is None:
            return None
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        return text

    correlation = filled(properties.correlation_data)
    payload_format = properties.payload_format
    return Properties(
        payload_format_indicator=(
            None if payload_format is None else int(payload_format is PayloadFormat.UTF8)
        ),
        message_expiry_interval=properties.message_expiry,
        content_type=properties.content_type,
        response_topic=filled(properties.response_topic),
        correlation_data=None if correlation is None else correlation.encode("utf-8"),
        user_properties=tuple((k, filled(v) or "") for k, v in properties.user.items()),
    )


def to_paho(properties: Properties) -> PahoProperties | None:
    """The same properties as paho's PUBLISH properties (None when there are none)."""
    if properties is NO_PROPERTIES or properties.is_empty():
        return None
    paho = PahoProperties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if properties.payload_format_indicator is not None:
        paho.PayloadFormatIndicator = properties.payload_format_indicator
    if properties.message_expiry_interval is not None:
        paho.MessageExpiryInterval = properties.message_expiry_interval
    if properties.content_type is not None:
        paho.ContentType = properties.content_type
    if properties.response_topic is not None:
        paho.ResponseTopic = properties.response_topic
    if properties.correlation_data is not None:
        paho.CorrelationData = properties.correlation_data
    if properties.user_properties:
        paho.UserProperty = list(properties.user_properties)
    return paho


@dataclass(frozen=True, slots=True)
class Request:
    """Where an MQTT 5 request asks to be answered, and the data to answer it with."""

    response_topic: str
    correlation_data: bytes | None


def request_of(paho_properties: object) -> Request | None:
    """The response topic and correlation data of a received message (None: not a request)."""
    topic = getattr(paho_properties, "ResponseTopic", None)
    if not isinstance(topic, str) or not topic:
        return None
    correlation = getattr(paho_properties, "CorrelationData", None)
    return Request(topic, bytes(correlation) if correlation is not None else None)
