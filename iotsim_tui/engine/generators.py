"""Telemetry payloads: value generators, compiled once per device and telemetry.

`PayloadBuilder(telemetry, device, state)` checks the telemetry's fields once and keeps a
small generator object per field (with its own walk position, counter or sequence index);
`build()` then only calls them and encodes the result. A JSON payload of numbers is filled
into a byte template made once (engine/payload_json.py): ten thousand devices publishing every
second spend their time making the values, not in interpreting the profile or in `json.dumps`.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import string
import time
from collections.abc import Callable, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any

from iotsim_tui.engine.payload_json import numbers_template, to_json
from iotsim_tui.errors import ProfileError
from iotsim_tui.profiles.binary import Packer, decode_base64, packer
from iotsim_tui.profiles.data_files import column_values, replay_values
from iotsim_tui.profiles.model import (
    Device,
    GeneratorKind,
    PayloadFields,
    Telemetry,
    TelemetryFormat,
    ValueSpec,
)

Generator = Callable[[], Any]
"""A compiled field: each call gives the next value."""

DEVICE_FIELDS = ("id", "name", "description")
TIMESTAMP_FORMATS = ("iso", "epoch", "epoch_ms")
DEFAULT_FLOAT_ROUND = 2


class PayloadBuilder:
    """Builds one device's payloads for one telemetry.

    Args:
        telemetry: What to publish.
        device: The device publishing it (for `field` values and `{id}` in the topic).
        state: The device's live state values, read by `state` fields at each build.
    """

    __slots__ = ("_fields", "_fixed", "_pack", "_template", "_text_extra", "build", "topic")

    def __init__(self, telemetry: Telemetry, device: Device, state: Mapping[str, Any]) -> None:
        self.topic = device_topic(telemetry.topic, device)
        where = f"device {device.id}, telemetry {telemetry.topic!r}"
        self._fields = _compile_fields(telemetry.fields, device, state, where)
        self._template: str | None = None
        self._text_extra = {"id": device.id, "name": device.name}
        self._pack: Packer | None = None
        self._fixed: bytes | None = None
        self.build: Callable[[], bytes] = self._build
        """The next payload."""
        if telemetry.format == TelemetryFormat.BINARY:
            if telemetry.struct is not None:
                self._pack = packer(telemetry.struct)
            else:
                fixed = self._fixed = decode_base64(telemetry.base64 or "")
                if fixed is None:
                    raise ProfileError(f"{where}: base64 is not base64")
                self.build = lambda: fixed
        elif telemetry.format == TelemetryFormat.TEXT:
            if telemetry.template is None:
                raise ProfileError(f'{where}: format "text" needs a template')
            self._template = telemetry.template
            _check_template(telemetry.template, {*telemetry.fields, "id", "name"}, where)
        else:
            self.build = numbers_template(telemetry.fields, self._fields) or (self._build)

    def sample(self) -> tuple[dict[str, Any], bytes]:
        """The next field values, and the payload that carries them (for a trigger to judge)."""
        values = _values(self._fields)
        return values, self._encode(values)

    def _build(self) -> bytes:
        return self._encode(_values(self._fields))

    def _encode(self, values: dict[str, Any]) -> bytes:
        if self._fixed is not None:
            return self._fixed
        if self._pack is not None:
            return self._pack(list(values.values()))
        if self._template is not None:
            return self._render_text(values).encode()
        return to_json(values).encode()

    def _render_text(self, fields: dict[str, Any]) -> str:
        assert self._template is not None
        values = dict(fields)
        values.update((k, v) for k, v in self._text_extra.items() if k not in values)
        return self._template.format_map(values)


def _check_template(template: str, names: set[str], where: str) -> None:
    try:
        used = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        raise ProfileError(f"{where}: the template {template!r} is malformed: {error}") from None
    unknown = [name for name in used if name.split(".")[0].split("[")[0] not in names]
    if unknown:
        raise ProfileError(
            f"{where}: the template {template!r} names {', '.join(unknown)}, which is not a "
            f"field (fields: {', '.join(sorted(names))})"
        )


def device_topic(topic: str, device: Device) -> str:
    """A topic with `{id}` and `{name}` replaced by the device's."""
    return topic.replace("{id}", device.id).replace("{name}", device.name)


_Compiled = list[tuple[str, "Generator | _Compiled"]]


def _values(compiled: _Compiled) -> dict[str, Any]:
    return {
        key: gen() if callable(gen) else _values(gen)  # nested tables become nested objects
        for key, gen in compiled
    }


def _compile_fields(
    fields: PayloadFields, device: Device, state: Mapping[str, Any], where: str
) -> _Compiled:
    compiled: _Compiled = []
    for key, spec in fields.items():
        if isinstance(spec, ValueSpec):
            compiled.append((key, make_generator(spec, device, state, f"{where}, field {key}")))
        else:
            compiled.append((key, _compile_fields(spec, device, state, f"{where}, {key}")))
    return compiled


def make_generator(
    spec: ValueSpec, device: Device, state: Mapping[str, Any], where: str = "field"
) -> Generator:
    """A generator for one value spec; `ProfileError` names `where` when the spec is unusable."""
    try:
        return _MAKERS[spec.kind](spec, device, state)
    except (TypeError, ValueError) as error:
        raise ProfileError(f"{where}: {spec.kind.value} generator: {error}") from None


def _need(value: float | None, what: str) -> float:
    if value is None:
        raise ValueError(f"needs {what}")
    return value


def _constant(spec: ValueSpec, _d: Device, _s: Mapping[str, Any]) -> Generator:
    value = spec.value
    return lambda: value


def _int(spec: ValueSpec, _d: Device, _s: Mapping[str, Any]) -> Generator:
    low, high = int(_need(spec.min, "min")), int(_need(spec.max, "max"))
    if low > high:
        raise ValueError(f"min {low} is above max {high}")
    randint = random.randint
    return lambda: randint(low, high)


def _float(spec: ValueSpec, _d: Device, _s: Mapping[str, Any]) -> Generator:
    low, high = float(_need(spec.min, "min")), float(_need(spec.max, "max"))
    if low > high:
        raise ValueError(f"min {low} is above max {high}")
    digits = DEFAULT_FLOAT_ROUND if spec.round is None else spec.round
    uniform = random.uniform
    if digits == 0:  # round = 0 asks for whole numbers: integers, as an int generator gives
        return lambda: round(uniform(low, high))
    return lambda: round(uniform(low, high), digits)


class _Walk:
    """A bounded random walk: each value is the last plus a random step, kept within bounds."""

    __slots__ = ("digits", "high", "low", "span", "start", "value")

    def __init__(self, spec: ValueSpec) -> None:
        self.low, self.high = float(_need(spec.min, "min")), float(_need(spec.max, "max"))
        if self.low > self.high:
            raise ValueError(f"min {self.low} is above max {self.high}")
        step = float(spec.step) if spec.step is not None else (self.high - self.low) / 20
        # A step is uniform(-step, step), which is -step + (step - -step) * random().
        self.start, self.span = -step, step - -step
        start = spec.start if spec.start is not None else (self.low + self.high) / 2
        self.value = min(self.high, max(self.low, float(start)))
        self.digits = DEFAULT_FLOAT_ROUND if spec.round is None else spec.round

    def __call__(self) -> float:
        value = self.raw()
        return round(value, self.digits) if self.digits else round(value)

    def raw(self) -> float:
        """The next value before rounding (a payload template formats it to `digits`)."""
        value = self.value + (self.start + self.span * random.random())  # noqa: S311
        if value > self.high:
            value = self.high
        elif value < self.low:
            value = self.low
        self.value = value
        return value


class _Sine:
    """base + amplitude * sin(2 pi t / period + phase), t being the wall clock.

    The wall clock, not the time since the start: devices of every process and shard that
    share a period rise and fall together unless their phase differs.
    """

    __slots__ = ("amplitude", "base", "digits", "period", "phase")

    def __init__(self, spec: ValueSpec) -> None:
        self.period = _need(spec.period, "period")
        if self.period <= 0:
            raise ValueError(f"period {self.period} is not above 0")
        self.amplitude = 1.0 if spec.amplitude is None else float(spec.amplitude)
        self.phase = math.radians(spec.phase or 0.0)
        self.base = float(spec.base or 0.0)
        self.digits = DEFAULT_FLOAT_ROUND if spec.round is None else spec.round

    def __call__(self) -> float:
        value = self.raw()
        return round(value, self.digits) if self.digits else round(value)

    def raw(self) -> float:
        """The value now before rounding (a payload template formats it to `digits`)."""
        angle = math.tau * (time.time() % self.period) / self.period + self.phase
        return self.base + self.amplitude * math.sin(angle)


class _Gaussian:
    """Normal noise around a base, kept within min and max when they are given."""

    __slots__ = ("base", "digits", "high", "low", "sigma")

    def __init__(self, spec: ValueSpec) -> None:
        self.base = float(_need(spec.base, "base"))
        self.sigma = float(_need(spec.sigma, "sigma"))
        self.low = -math.inf if spec.min is None else float(spec.min)
        self.high = math.inf if spec.max is None else float(spec.max)
        if self.low > self.high:
            raise ValueError(f"min {self.low} is above max {self.high}")
        self.digits = DEFAULT_FLOAT_ROUND if spec.round is None else spec.round

    def __call__(self) -> float:
        value = self.raw()
        return round(value, self.digits) if self.digits else round(value)

    def raw(self) -> float:
        """The next value before rounding (a payload template formats it to `digits`)."""
        return min(self.high, max(self.low, random.gauss(self.base, self.sigma)))


EARTH_RADIUS = 6_371_000.0
"""Metres, the mean radius: good to a fraction of a percent for a simulated route."""


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The great-circle distance between two (latitude, longitude) points (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS * math.asin(math.sqrt(h))


class _Route:
    """A position moving at `speed` along the waypoints, from the last back to the first.

    The clock starts when the device's telemetry is built (its start); each value is
    `{"lat": ..., "lon": ...}`, interpolated along the leg it is on.
    """

    __slots__ = ("began", "digits", "legs", "length", "speed")

    def __init__(self, spec: ValueSpec) -> None:
        points = list(spec.waypoints)
        if len(points) < 2:
            raise ValueError("needs at least two waypoints")
        self.speed = _need(spec.speed, "speed")
        self.digits = 6 if spec.round is None else spec.round
        closed = [*points, points[0]]
        self.legs = [(a, b, _metres(a, b)) for a, b in itertools.pairwise(closed)]
        self.length = sum(metres for _, _, metres in self.legs)
        self.began = time.monotonic()

    def __call__(self) -> dict[str, float]:
        travelled = (time.monotonic() - self.began) * self.speed
        left = travelled % self.length if self.length else 0.0
        for a, b, metres in self.legs:
            if left <= metres and metres > 0:
                share = left / metres
                lat = a[0] + (b[0] - a[0]) * share
                lon = a[1] + (b[1] - a[1]) * share
                return {"lat": round(lat, self.digits), "lon": round(lon, self.digits)}
            left -= metres
        first = self.legs[0][0]
        return {"lat": round(first[0], self.digits), "lon": round(first[1], self.digits)}


class _Sequence:
    """The values one after the other; `cycle` starts again, otherwise it stays on the last."""

    __slots__ = ("cycle", "index", "values")

    def __init__(self, spec: ValueSpec, *, cycle: bool) -> None:
        if not spec.values:
            raise ValueError("needs values")
        self.values = spec.values
        self.cycle = cycle
        self.index = 0

    def __call__(self) -> Any:
        value = self.values[self.index]
        if self.index + 1 < len(self.values):
            self.index += 1
        elif self.cycle:
            self.index = 0
        return value


class _Played:
    """Values read from a file (a recording, a CSV column), one after the other, round again."""

    __slots__ = ("index", "values")

    def __init__(self, values: tuple[Any, ...]) -> None:
        self.values = values
        self.index = 0

    def __call__(self) -> Any:
        value = self.values[self.index]
        self.index = (self.index + 1) % len(self.values)
        return value


def _text(value: str | None, what: str) -> str:
    if value is None:
        raise ValueError(f"needs {what}")
    return value


def _choice(spec: ValueSpec, _d: Device, _s: Mapping[str, Any]) -> Generator:
    if not spec.values:
        raise ValueError("needs values")
    values, choice = spec.values, random.choice
    return lambda: choice(values)


def _bool(spec: ValueSpec, _d: Device, _s: Mapping[str, Any]) -> Generator:
    chance = 0.5 if spec.probability is None else float(spec.probability)
    if not 0.0 <= chance <= 1.0:
        raise ValueError(f"probability {chance} is not between 0 and 1")
    rand = random.random
    return lambda: rand() < chance


def _timestamp(spec: ValueSpec, _d: Device, _s: Mapping[str, Any]) -> Generator:
    form = spec.format or "iso"
    if form == "epoch":
        return lambda: int(time.time())
    if form == "epoch_ms":
        return lambda: int(time.time() * 1000)
    if form == "iso":
        return lambda: datetime.now(UTC).isoformat(timespec="milliseconds")
    raise ValueError(f"format {form!r} is not one of {', '.join(TIMESTAMP_FORMATS)}")


class _Counter:
    """start, start + step, start + 2 step, ..."""

    __slots__ = ("step", "value")

    def __init__(self, spec: ValueSpec) -> None:
        start = 0 if spec.start is None else spec.start
        step = 1 if spec.step is None else spec.step
        self.value: float = int(start) if float(start).is_integer() else start
        self.step: float = int(step) if float(step).is_integer() else step

    def __call__(self) -> float:
        value = self.value
        self.value = value + self.step
        return value


def _field(spec: ValueSpec, device: Device, _s: Mapping[str, Any]) -> Generator:
    if spec.name not in DEVICE_FIELDS:
        raise ValueError(f"name {spec.name!r} is not one of {', '.join(DEVICE_FIELDS)}")
    value = getattr(device, spec.name)
    return lambda: value


def _state(spec: ValueSpec, _d: Device, state: Mapping[str, Any]) -> Generator:
    if not spec.name:
        raise ValueError("needs the name of a state value")
    name, get = spec.name, state.get
    return lambda: get(name)


_MAKERS: dict[GeneratorKind, Callable[[ValueSpec, Device, Mapping[str, Any]], Generator]] = {
    GeneratorKind.CONSTANT: _constant,
    GeneratorKind.INT: _int,
    GeneratorKind.FLOAT: _float,
    GeneratorKind.WALK: lambda spec, _d, _s: _Walk(spec),
    GeneratorKind.SEQUENCE: lambda spec, _d, _s: _Sequence(spec, cycle=False),
    GeneratorKind.CYCLE: lambda spec, _d, _s: _Sequence(spec, cycle=True),
    GeneratorKind.CHOICE: _choice,
    GeneratorKind.BOOL: _bool,
    GeneratorKind.TIMESTAMP: _timestamp,
    GeneratorKind.COUNTER: lambda spec, _d, _s: _Counter(spec),
    GeneratorKind.FIELD: _field,
    GeneratorKind.STATE: _state,
    GeneratorKind.SINE: lambda spec, _d, _s: _Sine(spec),
    GeneratorKind.GAUSSIAN: lambda spec, _d, _s: _Gaussian(spec),
    GeneratorKind.ROUTE: lambda spec, _d, _s: _Route(spec),
    GeneratorKind.REPLAY: lambda spec, _d, _s: _Played(
        replay_values(_text(spec.file, "file"), spec.topic, spec.column)
    ),
    GeneratorKind.COLUMN: lambda spec, _d, _s: _Played(
        column_values(_text(spec.file, "file"), _text(spec.column, "column"))
    ),
}


def command_value(payload: str) -> Any:
    """A command's payload as a state value: a JSON number, bool or null when it is one."""
    text = payload.strip()
    try:
        value = json.loads(text)
    except ValueError:
        return payload
    return value if isinstance(value, int | float | bool) or value is None else payload


def set_state(
    state: MutableMapping[str, Any],
    changes: Mapping[str, Any],
    payload: str,
    kinds: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Apply a command's `set`: the string "{payload}" takes the command's payload.

    `kinds` holds each state value as the profile set it: a payload that is not of its type (text
    for a number, a number for a bool) is refused, and the state keeps its value. Returns why
    each refused change was refused, by state key ("rate takes a number, not "hi"").
    """
    refused: dict[str, str] = {}
    for name, value in changes.items():
        if value == "{payload}":
            before = None if kinds is None else kinds.get(name)
            wanted = value_kind(before)
            value = payload if wanted == "text" else command_value(payload)
            if wanted is not None and value_kind(value) != wanted:
                refused[name] = f"{name} takes {wanted}, not {json.dumps(payload.strip())}"
                continue
            if isinstance(before, float) and not isinstance(value, bool):
                value = float(value)  # 40 into a rate of 25.0 stays a float, as the profile had it
        state[name] = value
    return refused


def value_kind(value: object) -> str | None:
    """The kind of a state value a command may set, in the user's words; None: any."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return None


def shown(value: object) -> str:
    """A value as a profile or a JSON payload writes it: `true`, `25.5`, `eco`, `null`."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return f"{value:.1f}"
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)
