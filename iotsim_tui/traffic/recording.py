"""A recording: every message seen on a broker, one JSON object a line.

    {"time": 1765049388.104512, "topic": "hall/TS1/telemetry", "qos": 1, "retain": false,
     "payload": "{\"temperature\": 21.5}"}

`time` is when the message arrived (seconds since the epoch; replay keeps the gaps between
them), `payload` is the payload as text when it is UTF-8, otherwise `"encoding": "base64"`
says it is base64. MQTT 5 properties, when the message had any, are in `properties`:
`payload_format` (0 or 1), `message_expiry` (seconds), `content_type`, `response_topic`,
`correlation_data_base64` and `user` (a list of [name, value] pairs, in order). Reading checks
each line and names the line of the first problem (`RecordingError`).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iotsim_tui.errors import IotsimError
from iotsim_tui.protocol.properties import NO_PROPERTIES, Properties
from iotsim_tui.protocol.topics import TopicError, validate_topic_name

KEYS = frozenset({"time", "topic", "qos", "retain", "payload", "encoding", "properties"})
PROPERTY_KEYS = frozenset(
    {
        "payload_format",
        "message_expiry",
        "content_type",
        "response_topic",
        "correlation_data_base64",
        "user",
    }
)


class RecordingError(IotsimError):
    """A recording that cannot be read or replayed; the message names the file and line."""

    title = "Recording error"


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """One message of a recording."""

    time: float
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    properties: Properties = NO_PROPERTIES


def to_line(message: RecordedMessage) -> str:
    """The message as one JSON line (with its newline)."""
    record: dict[str, Any] = {
        "time": round(message.time, 6),
        "topic": message.topic,
        "qos": message.qos,
        "retain": message.retain,
    }
    try:
        record["payload"] = message.payload.decode("utf-8")
    except UnicodeDecodeError:
        record["payload"] = base64.b64encode(message.payload).decode("ascii")
        record["encoding"] = "base64"
    properties = _properties_record(message.properties)
    if properties:
        record["properties"] = properties
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def _properties_record(properties: Properties) -> dict[str, Any]:
    record: dict[str, Any] = {}
    if properties.payload_format_indicator is not None:
        record["payload_format"] = properties.payload_format_indicator
    if properties.message_expiry_interval is not None:
        record["message_expiry"] = properties.message_expiry_interval
    if properties.content_type is not None:
        record["content_type"] = properties.content_type
    if properties.response_topic is not None:
        record["response_topic"] = properties.response_topic
    if properties.correlation_data is not None:
        record["correlation_data_base64"] = base64.b64encode(properties.correlation_data).decode()
    if properties.user_properties:
        record["user"] = [list(pair) for pair in properties.user_properties]
    return record


def from_line(text: str) -> RecordedMessage:
    """Read one line; raises ValueError saying what is wrong with it (not where)."""
    if not text.endswith("\n"):
        try:
            json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("the file ends in the middle of this line (truncated)") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    unknown = sorted(set(record) - KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(KEYS))})")
    when = record.get("time")
    if isinstance(when, bool) or not isinstance(when, int | float) or not math.isfinite(when):
        raise ValueError("'time' must be a number of seconds")
    topic = record.get("topic")
    if not isinstance(topic, str):
        raise ValueError("'topic' must be a string")
    try:
        validate_topic_name(topic)
    except TopicError as error:
        raise ValueError(f"topic {topic!r} cannot be published: {error}") from None
    qos = record.get("qos", 0)
    if qos not in (0, 1, 2) or isinstance(qos, bool):
        raise ValueError(f"'qos' must be 0, 1 or 2, not {qos!r}")
    retain = record.get("retain", False)
    if not isinstance(retain, bool):
        raise ValueError("'retain' must be true or false")
    return RecordedMessage(
        time=float(when),
        topic=topic,
        payload=_payload(record),
        qos=int(qos),
        retain=retain,
        properties=_properties(record.get("properties", {})),
    )


def _payload(record: dict[str, Any]) -> bytes:
    payload = record.get("payload", "")
    if not isinstance(payload, str):
        raise ValueError("'payload' must be a string")
    encoding = record.get("encoding", "text")
    if encoding == "text":
        return payload.encode("utf-8", "surrogatepass")
    if encoding == "base64":
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("'payload' is not valid base64") from None
    raise ValueError(f'\'encoding\' must be "text" or "base64", not {encoding!r}')


def _properties(record: object) -> Properties:
    if not isinstance(record, dict):
        raise ValueError("'properties' must be an object")
    unknown = sorted(set(record) - PROPERTY_KEYS)
    if unknown:
        raise ValueError(f"unknown property {unknown[0]!r}")
    if not record:
        return NO_PROPERTIES
    payload_format = _whole(record, "payload_format", 0, 1)
    expiry = _whole(record, "message_expiry", 0, 2**32 - 1)
    correlation = record.get("correlation_data_base64")
    if correlation is not None:
        try:
            correlation = base64.b64decode(str(correlation), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("'correlation_data_base64' is not valid base64") from None
    user = record.get("user", [])
    if not isinstance(user, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        for pair in user
    ):
        raise ValueError("'user' must be a list of [name, value] pairs of strings")
    return Properties(
        payload_format_indicator=payload_format,
        message_expiry_interval=expiry,
        content_type=_text(record, "content_type"),
        response_topic=_text(record, "response_topic"),
        correlation_data=correlation,
        user_properties=tuple((name, value) for name, value in user),
    )


def _whole(record: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"'{key}' must be a whole number from {low} to {high}")
    return value


def _text(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"'{key}' must be a string")
    return value


def read_recording(path: Path) -> Iterator[tuple[int, RecordedMessage]]:
    """(line number, message) for each message of the recording at `path`, read as it goes.

    Blank lines are skipped. Raises RecordingError naming `path:line` at the first bad line,
    so a caller that acts on each message knows where it stopped.
    """
    try:
        handle = path.open(encoding="utf-8", errors="surrogateescape", newline="\n")
    except OSError as error:
        raise RecordingError(f"cannot read the recording {path}: {error.strerror}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, from_line(line)
            except ValueError as error:
                raise RecordingError(f"{path}:{number}: {error}") from None


def check_recording(path: Path) -> tuple[int, float]:
    """Read the whole recording; returns (messages, seconds from first to last).

    Raises RecordingError at the first bad line, and when it holds no message at all.
    """
    count = 0
    first = last = 0.0
    for _, message in read_recording(path):
        if count == 0:
            first = message.time
        last = message.time
        count += 1
    if count == 0:
        raise RecordingError(f"{path}: the recording holds no message")
    return count, max(last - first, 0.0)
