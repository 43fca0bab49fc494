"""The `properties` table of telemetry and responses: MQTT 5 properties of a message.

```toml
properties = { content_type = "application/json", message_expiry = 60, user = { site = "ward 3" } }
```

They need `protocol = "5"`: MQTT 3.1.1 has no properties, and a profile that sets them on a
3.1.1 network is refused rather than silently sending messages without them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from typing import Any

from iotsim_tui.profiles.checks import STRING_RULE, Checker
from iotsim_tui.profiles.locate import KeyPath
from iotsim_tui.profiles.model import MessageProperties, MQTTVersion, PayloadFormat
from iotsim_tui.protocol.topics import TopicError, validate_topic_name

PROPERTY_KEYS = tuple(f.name for f in dataclass_fields(MessageProperties))
MAX_EXPIRY = 4_294_967_295
NEEDS_V5 = 'needs protocol = "5" in [network.broker] (MQTT 3.1.1 messages have no properties)'


def parse_properties(
    checker: Checker,
    raw: object,
    where: KeyPath,
    protocol: MQTTVersion,
    fill: Mapping[str, str],
) -> MessageProperties | None:
    """The `properties` table at `where`; None when it is empty or refused."""
    table = checker.table(raw, where, PROPERTY_KEYS)
    if not table:
        return None
    if protocol is not MQTTVersion.V5:
        checker.report(where, NEEDS_V5)
    response_topic = checker.optional_text(table, where, "response_topic")
    if response_topic is not None:
        filled = checker.fill_placeholders(response_topic, (*where, "response_topic"), fill)
        if filled is not None:
            try:
                validate_topic_name(filled)
            except TopicError as error:
                checker.report((*where, "response_topic"), str(error), response_topic)
    correlation = checker.optional_text(table, where, "correlation_data")
    if correlation is not None:
        checker.fill_placeholders(correlation, (*where, "correlation_data"), fill)
    expiry = None
    if "message_expiry" in table:
        expiry = checker.integer(table, where, "message_expiry", 0, 1, MAX_EXPIRY)
    payload_format = None
    if "payload_format" in table:
        payload_format = checker.choice(
            table, where, "payload_format", PayloadFormat, PayloadFormat.BYTES
        )
    return MessageProperties(
        content_type=checker.optional_text(table, where, "content_type"),
        payload_format=payload_format,
        message_expiry=expiry or None,
        response_topic=response_topic,
        correlation_data=correlation,
        user=_user(checker, table.get("user", {}), (*where, "user")),
    )


def _user(checker: Checker, raw: object, where: KeyPath) -> dict[str, str]:
    table: dict[str, Any] = checker.table(raw, where, None)
    user: dict[str, str] = {}
    for name, value in table.items():
        if isinstance(value, str):
            user[name] = value
        else:
            checker.report((*where, name), STRING_RULE, value)
    return user
