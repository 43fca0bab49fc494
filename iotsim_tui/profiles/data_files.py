"""Values read from files, for the `replay` and `column` telemetry generators.

- `replay`: the payloads of a recording (`iotsim-tui record`, JSON lines), optionally only
  those of one topic filter, and optionally one field of each (JSON payloads; a dotted path
  such as `reading.temperature`).
- `column`: one column of a CSV file with a header row, or one key of a JSON lines file.

Numbers stay numbers (`"21.5"` in a CSV becomes 21.5), so a device publishes them as such.
Relative file names are read from the working folder, as certificates are. Reading stops at
`MAX_VALUES`; a problem raises ValueError naming the file and line.
"""

from __future__ import annotations

import base64
import binascii
import csv
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from iotsim_tui.protocol.topics import TopicError, topic_matches, validate_topic_filter

MAX_VALUES = 100_000
"""Values kept from one file: a device plays them round and round."""


def replay_values(
    file: str, topic: str | None = None, column: str | None = None
) -> tuple[Any, ...]:
    """The values of a recording's payloads (see the module's docstring); cached per file."""
    return _replay_values(file, topic, column, _stamp(file))


def column_values(file: str, column: str) -> tuple[Any, ...]:
    """The values of one column of a CSV or JSON lines file; cached per file."""
    return _column_values(file, column, _stamp(file))


def _stamp(file: str) -> tuple[int, int]:
    try:
        info = os.stat(file)
    except OSError as error:
        raise ValueError(f"cannot read {file}: {error.strerror}") from None
    return info.st_mtime_ns, info.st_size


@lru_cache(maxsize=32)
def _replay_values(
    file: str, topic: str | None, column: str | None, _stamp: tuple[int, int]
) -> tuple[Any, ...]:
    if topic is not None:
        try:
            validate_topic_filter(topic)
        except TopicError as error:
            raise ValueError(f"topic {topic!r} is not an MQTT filter: {error}") from None
    values: list[Any] = []
    with _open(file) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{file}:{number}"
            record = _json_object(line, where)
            if topic is not None and not topic_matches(topic, str(record.get("topic", ""))):
                continue
            text = _payload_text(record, where)
            value = _json_or_text(text) if column is None else _field(text, column)
            if value is not None:
                values.append(value)
            if len(values) >= MAX_VALUES:
                break
    if not values:
        which = f" on {topic!r}" if topic is not None else ""
        field = f" with the field {column!r}" if column is not None else ""
        raise ValueError(f"{file} holds no message{which}{field}")
    return tuple(values)


@lru_cache(maxsize=32)
def _column_values(file: str, column: str, _stamp: tuple[int, int]) -> tuple[Any, ...]:
    values: list[Any] = []
    with _open(file) as handle:
        if file.endswith((".jsonl", ".ndjson", ".json")):
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    record = _json_object(line, f"{file}:{number}")
                    if column in record:
                        values.append(record[column])
                if len(values) >= MAX_VALUES:
                    break
        else:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or column not in reader.fieldnames:
                heading = ", ".join(reader.fieldnames or [])
                raise ValueError(f"{file}:1: no column {column!r} (the header has: {heading})")
            for row in reader:
                cell = row.get(column)
                if cell is not None and cell != "":
                    values.append(_number_or_text(cell))
                if len(values) >= MAX_VALUES:
                    break
    if not values:
        raise ValueError(f"{file} has no value in the column {column!r}")
    return tuple(values)


def _open(file: str) -> Any:
    try:
        return Path(file).open(encoding="utf-8", newline="")
    except OSError as error:
        raise ValueError(f"cannot read {file}: {error.strerror}") from None


def _json_object(line: str, where: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: not JSON ({error.msg})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{where}: not a JSON object")
    return record


def _payload_text(record: dict[str, Any], where: str) -> str:
    payload = record.get("payload", "")
    if not isinstance(payload, str):
        raise ValueError(f"{where}: 'payload' must be a string")
    if record.get("encoding") == "base64":
        try:
            return base64.b64decode(payload, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            raise ValueError(f"{where}: 'payload' is not valid base64") from None
    return payload


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _field(text: str, path: str) -> Any:
    try:
        value: Any = json.loads(text)
    except json.JSONDecodeError:
        return None  # not a JSON payload: no field to take
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _number_or_text(text: str) -> Any:
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        number = float(stripped)
    except ValueError:
        return text
    return number if number == number and abs(number) != float("inf") else text
