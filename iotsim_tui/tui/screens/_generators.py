"""A value generator's parameters as one line of text: `min=15 max=35 step=0.5`.

Values are read as TOML values (`"text"`, `1.5`, `true`, `[1, 2]`); a bare word is text,
and `a,b,c` is a list. A constant may be written as just its value.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import tomli_w

from iotsim_tui.profiles.fields import GENERATOR_KEYS
from iotsim_tui.profiles.model import GeneratorKind, MessageProperties, ValueSpec

EXAMPLES: dict[GeneratorKind, str] = {
    GeneratorKind.CONSTANT: "value=C (or just the value)",
    GeneratorKind.INT: "min=0 max=100",
    GeneratorKind.FLOAT: "min=0 max=1 round=2",
    GeneratorKind.WALK: "min=15 max=35 step=0.5 start=22 round=1",
    GeneratorKind.SEQUENCE: "values=[1, 2, 3], one after the other",
    GeneratorKind.CYCLE: "values=low,mid,high, round and round",
    GeneratorKind.CHOICE: "values=on,off, one at random",
    GeneratorKind.BOOL: "probability=0.5",
    GeneratorKind.TIMESTAMP: "format=iso (or epoch, epoch_ms)",
    GeneratorKind.COUNTER: "start=0 step=1",
    GeneratorKind.FIELD: "name=id (or name, description)",
    GeneratorKind.STATE: "name=setpoint (a state value of the device)",
    GeneratorKind.SINE: "period=86400 amplitude=3 base=21 phase=0",
    GeneratorKind.GAUSSIAN: "base=37 sigma=0.3 min=35 max=40",
    GeneratorKind.ROUTE: "waypoints=[[48.85, 2.35], [48.86, 2.29]] speed=12",
    GeneratorKind.REPLAY: 'file="hall.jsonl" topic="hall/TS1/telemetry" column=temperature',
    GeneratorKind.COLUMN: 'file="readings.csv" column=temperature',
}
"""What to type for each kind of generator (shown as the parameters' placeholder)."""

_PARAM = re.compile(
    r"""\s*([A-Za-z_]\w*)\s*=\s*("(?:[^"\\]|\\.)*"|'[^']*'|\[(?:[^\[\]]|\[[^\]]*\])*\]|[^\s"'\[]+)"""
)
_BARE_TEXT = re.compile(r"[A-Za-z_][\w.:/-]*")


def parse_value(text: str) -> Any:
    """One parameter value: a TOML value, else a list for `a,b,c`, else the text itself."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    if "," in text:
        return [parse_value(part.strip()) for part in text.split(",") if part.strip()]
    return text


def parse_params(kind: GeneratorKind, text: str) -> tuple[dict[str, Any], str | None]:
    """The parameters typed for a generator, or a problem in plain words."""
    text = text.strip()
    if kind is GeneratorKind.CONSTANT and text and not _PARAM.match(text):
        return {"value": parse_value(text)}, None
    table: dict[str, Any] = {}
    position = 0
    while position < len(text):
        match = _PARAM.match(text, position)
        if match is None:
            return {}, f"write parameters as key=value, e.g. {EXAMPLES[kind]}"
        key, raw = match.groups()
        if key in table:
            return {}, f"{key} is given twice"
        table[key] = parse_value(raw)
        position = match.end()
    return table, None


def format_value(value: Any) -> str:
    """A parameter value as `parse_value` reads it back."""
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_list_item(item) for item in value) + "]"
    if isinstance(value, str) and _BARE_TEXT.fullmatch(value) and parse_value(value) == value:
        return value
    return _toml(value)


def _list_item(value: Any) -> str:
    if isinstance(value, tuple | list):  # a route's [latitude, longitude]
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return _toml(value)


def _toml(value: Any) -> str:
    return tomli_w.dumps({"v": value}).strip().removeprefix("v = ")


def params_text(spec: ValueSpec) -> str:
    """A generator's parameters as one line, in the order the kind lists them."""
    parts = []
    for key in GENERATOR_KEYS[spec.kind]:
        value = getattr(spec, key)
        if value is not None and value != ():
            parts.append(f"{key}={format_value(value)}")
    return " ".join(parts)


def properties_text(properties: MessageProperties | None) -> str:
    """MQTT 5 properties as one line: `content_type=application/json user.site=ward3`."""
    if properties is None:
        return ""
    parts = []
    for key in ("content_type", "payload_format", "message_expiry", "response_topic"):
        value = getattr(properties, key)
        if value is not None:
            parts.append(f"{key}={format_value(getattr(value, 'value', value))}")
    if properties.correlation_data is not None:
        parts.append(f"correlation_data={format_value(properties.correlation_data)}")
    parts += [f"user.{name}={format_value(value)}" for name, value in properties.user.items()]
    return " ".join(parts)


def properties_table(text: str) -> tuple[dict[str, Any], str | None]:
    """A line of `properties_text` as a profile's `properties` table, or a problem."""
    table: dict[str, Any] = {}
    position, text = 0, text.strip()
    while position < len(text):
        match = _PROPERTY.match(text, position)
        if match is None:
            return {}, "write key=value pairs, e.g. content_type=application/json user.site=ward3"
        key, raw = match.groups()
        value = parse_value(raw)
        if key.startswith("user."):
            table.setdefault("user", {})[key[5:]] = raw if isinstance(value, int | float) else value
        else:
            table[key] = value
        position = match.end()
    return table, None


_PROPERTY = re.compile(
    r"""\s*([A-Za-z_][\w]*(?:\.[\w-]+)?)\s*=\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"']+)"""
)
