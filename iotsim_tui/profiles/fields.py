"""Telemetry payload fields: value generators, nested tables and plain constants.

In a profile, each entry of a telemetry's `fields` table is one of:
- a table with a `kind` key: a value generator (`{ kind = "walk", min = 35, max = 39 }`);
- any other table: a nested object of fields (a nested JSON object in the payload); a nested
  field that is itself named `kind` is written as a generator table,
  `kind = { kind = "constant", value = "..." }`, so the two cannot be confused;
- a plain value (string, number, true/false, or an array of them): a constant.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Mapping
from typing import Any, cast

from iotsim_tui.profiles.checks import (
    REQUIRED,
    Checker,
    is_integer,
    is_number,
    is_scalar,
    quoted_list,
)
from iotsim_tui.profiles.data_files import column_values, replay_values
from iotsim_tui.profiles.locate import KeyPath
from iotsim_tui.profiles.model import GeneratorKind, PayloadFields, ValueSpec

GENERATOR_KEYS: dict[GeneratorKind, tuple[str, ...]] = {
    GeneratorKind.CONSTANT: ("value",),
    GeneratorKind.INT: ("min", "max"),
    GeneratorKind.FLOAT: ("min", "max", "round"),
    GeneratorKind.WALK: ("min", "max", "step", "start", "round"),
    GeneratorKind.SEQUENCE: ("values",),
    GeneratorKind.CYCLE: ("values",),
    GeneratorKind.CHOICE: ("values",),
    GeneratorKind.BOOL: ("probability",),
    GeneratorKind.TIMESTAMP: ("format",),
    GeneratorKind.COUNTER: ("start", "step"),
    GeneratorKind.FIELD: ("name",),
    GeneratorKind.STATE: ("name",),
    GeneratorKind.SINE: ("period", "amplitude", "phase", "base", "round"),
    GeneratorKind.GAUSSIAN: ("base", "sigma", "min", "max", "round"),
    GeneratorKind.ROUTE: ("waypoints", "speed", "round"),
    GeneratorKind.REPLAY: ("file", "topic", "column"),
    GeneratorKind.COLUMN: ("file", "column"),
}
"""The keys each kind of generator takes, besides `kind`."""

REQUIRED_KEYS: dict[GeneratorKind, tuple[str, ...]] = {
    GeneratorKind.CONSTANT: ("value",),
    GeneratorKind.INT: ("min", "max"),
    GeneratorKind.FLOAT: ("min", "max"),
    GeneratorKind.WALK: ("min", "max"),
    GeneratorKind.SEQUENCE: ("values",),
    GeneratorKind.CYCLE: ("values",),
    GeneratorKind.CHOICE: ("values",),
    GeneratorKind.FIELD: ("name",),
    GeneratorKind.STATE: ("name",),
    GeneratorKind.SINE: ("period",),
    GeneratorKind.GAUSSIAN: ("base", "sigma"),
    GeneratorKind.ROUTE: ("waypoints", "speed"),
    GeneratorKind.REPLAY: ("file",),
    GeneratorKind.COLUMN: ("file", "column"),
}

TIMESTAMP_FORMATS = ("iso", "epoch", "epoch_ms")
DEVICE_FIELDS = ("id", "name", "description")
MAX_ROUND = 15
CONSTANT_RULE = (
    "must be a generator table with a kind, a table of fields, "
    "or a plain value (string, number, true/false, or an array of them)"
)


def parse_fields(
    checker: Checker, raw: object, where: KeyPath, state: Collection[str]
) -> dict[str, ValueSpec | PayloadFields]:
    """A telemetry's `fields` table; `state` names the device's state values."""
    table = checker.table(raw, where, None)
    fields: dict[str, ValueSpec | PayloadFields] = {}
    for name, value in table.items():
        at = (*where, name)
        if not name.strip():
            checker.report(at, "a field name must not be empty")
        if isinstance(value, dict) and "kind" in value and not isinstance(value["kind"], dict):
            fields[name] = parse_generator(checker, value, at, state)
        elif isinstance(value, dict):
            _check_misspelt_kind(checker, value, at)
            fields[name] = parse_fields(checker, value, at, state)
        elif _is_plain(value):
            fields[name] = ValueSpec(GeneratorKind.CONSTANT, value=_frozen(value))
        else:
            checker.report(at, CONSTANT_RULE, value)
    return fields


def _check_misspelt_kind(checker: Checker, table: Mapping[str, Any], where: KeyPath) -> None:
    kinds = {kind.value for kind in GeneratorKind}
    for key, value in table.items():
        if (
            isinstance(value, str)
            and value in kinds
            and difflib.get_close_matches(key, ["kind"], n=1)
        ):
            checker.report(
                (*where, key),
                'looks like a misspelt "kind" (a table without "kind" is a nested object)',
                value,
            )


def parse_generator(
    checker: Checker, table: Mapping[str, Any], where: KeyPath, state: Collection[str]
) -> ValueSpec:
    """One generator table, `{ kind = "...", ... }`."""
    kind = checker.choice(table, where, "kind", GeneratorKind, GeneratorKind.CONSTANT)
    if kind.value != table.get("kind"):
        return ValueSpec(GeneratorKind.CONSTANT)
    allowed = GENERATOR_KEYS[kind]
    for key in table:
        if key != "kind" and key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f'did you mean "{close[0]}"?' if close else f"it takes {', '.join(allowed)}"
            checker.report((*where, key), f'is not a key of kind "{kind}"; {hint}')
    for key in REQUIRED_KEYS.get(kind, ()):
        if key not in table:
            checker.report((*where, key), f'{REQUIRED} by kind "{kind}"')
    spec = _Spec(checker, table, where)
    if kind is GeneratorKind.CONSTANT:
        return ValueSpec(kind, value=spec.plain("value"))
    if kind in (GeneratorKind.INT, GeneratorKind.FLOAT, GeneratorKind.WALK):
        return spec.ranged(kind)
    if kind in (GeneratorKind.SEQUENCE, GeneratorKind.CYCLE, GeneratorKind.CHOICE):
        return ValueSpec(kind, values=spec.values())
    if kind is GeneratorKind.BOOL:
        return ValueSpec(kind, probability=spec.probability())
    if kind is GeneratorKind.TIMESTAMP:
        return ValueSpec(kind, format=spec.one_of("format", TIMESTAMP_FORMATS))
    if kind is GeneratorKind.COUNTER:
        return ValueSpec(kind, start=spec.number("start"), step=spec.number("step", nonzero=True))
    if kind is GeneratorKind.FIELD:
        return ValueSpec(kind, name=spec.one_of("name", DEVICE_FIELDS))
    if kind is GeneratorKind.SINE:
        return spec.sine()
    if kind is GeneratorKind.GAUSSIAN:
        return spec.gaussian()
    if kind is GeneratorKind.ROUTE:
        return spec.route()
    if kind in (GeneratorKind.REPLAY, GeneratorKind.COLUMN):
        return spec.data_file(kind)
    return ValueSpec(kind, name=spec.state_name(state))


def _is_plain(value: object) -> bool:
    return is_scalar(value) or (isinstance(value, list) and all(is_scalar(v) for v in value))


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class _Spec:
    """Reads the keys of one generator table."""

    def __init__(self, checker: Checker, table: Mapping[str, Any], where: KeyPath) -> None:
        self.checker = checker
        self.table = table
        self.where = where

    def _bad(self, key: str, rule: str) -> None:
        self.checker.report((*self.where, key), rule, self.table[key])

    def plain(self, key: str) -> Any:
        value = self.table.get(key)
        if value is None:
            return None
        if not _is_plain(value):
            self._bad(key, "must be a string, a number, true/false, or an array of them")
            return None
        return _frozen(value)

    def number(self, key: str, *, integer: bool = False, nonzero: bool = False) -> float | None:
        value = self.table.get(key)
        if value is None:
            return None
        if integer and not is_integer(value):
            self._bad(key, "must be an integer")
            return None
        if not is_number(value) or not math.isfinite(value):
            self._bad(key, "must be a number")
            return None
        if nonzero and value == 0:
            self._bad(key, "must not be 0")
            return None
        return cast(float, value)

    def ranged(self, kind: GeneratorKind) -> ValueSpec:
        low = self.number("min", integer=kind is GeneratorKind.INT)
        high = self.number("max", integer=kind is GeneratorKind.INT)
        if low is not None and high is not None and low > high:
            self._bad("min", f"must not be more than max ({high})")
        if kind is GeneratorKind.INT:
            return ValueSpec(kind, min=low, max=high)
        rounding = self.table.get("round")
        if rounding is not None and not (is_integer(rounding) and 0 <= rounding <= MAX_ROUND):
            self._bad("round", f"must be an integer from 0 to {MAX_ROUND} (decimal places)")
            rounding = None
        if kind is GeneratorKind.FLOAT:
            return ValueSpec(kind, min=low, max=high, round=rounding)
        step = self.number("step")
        if step is not None and step <= 0:
            self._bad("step", "must be a number greater than 0")
        start = self.number("start")
        if start is not None and low is not None and high is not None and not low <= start <= high:
            self._bad("start", f"must be from min to max ({low} to {high})")
        return ValueSpec(kind, min=low, max=high, step=step, start=start, round=rounding)

    def rounding(self) -> int | None:
        rounding = self.table.get("round")
        if rounding is not None and not (is_integer(rounding) and 0 <= rounding <= MAX_ROUND):
            self._bad("round", f"must be an integer from 0 to {MAX_ROUND} (decimal places)")
            return None
        return cast("int | None", rounding)

    def sine(self) -> ValueSpec:
        period = self.number("period")
        if period is not None and period <= 0:
            self._bad("period", "must be a number of seconds greater than 0")
            period = None
        return ValueSpec(
            GeneratorKind.SINE,
            period=period,
            amplitude=self.number("amplitude"),
            phase=self.number("phase"),
            base=self.number("base"),
            round=self.rounding(),
        )

    def gaussian(self) -> ValueSpec:
        sigma = self.number("sigma")
        if sigma is not None and sigma < 0:
            self._bad("sigma", "must be a number of at least 0 (the standard deviation)")
            sigma = None
        low, high = self.number("min"), self.number("max")
        if low is not None and high is not None and low > high:
            self._bad("min", f"must not be more than max ({high})")
        return ValueSpec(
            GeneratorKind.GAUSSIAN,
            base=self.number("base"),
            sigma=sigma,
            min=low,
            max=high,
            round=self.rounding(),
        )

    def route(self) -> ValueSpec:
        speed = self.number("speed")
        if speed is not None and speed <= 0:
            self._bad("speed", "must be a number of metres per second greater than 0")
            speed = None
        return ValueSpec(
            GeneratorKind.ROUTE, waypoints=self.waypoints(), speed=speed, round=self.rounding()
        )

    def data_file(self, kind: GeneratorKind) -> ValueSpec:
        texts = {key: self.table.get(key) for key in ("file", "column", "topic")}
        for key, value in texts.items():
            if value is not None and (not isinstance(value, str) or not value):
                self._bad(key, "must be a non-empty string")
                texts[key] = None
        file, column, topic = texts["file"], texts["column"], texts["topic"]
        if file is not None and (kind is GeneratorKind.REPLAY or column is not None):
            try:
                if kind is GeneratorKind.REPLAY:
                    replay_values(file, topic, column)
                else:
                    column_values(file, cast(str, column))
            except ValueError as error:
                self._bad("file", str(error))
        return ValueSpec(kind, file=file, column=column, topic=topic)

    def waypoints(self) -> tuple[tuple[float, float], ...]:
        value = self.table.get("waypoints")
        if value is None:
            return ()
        rule = (
            "must be an array of at least two [latitude, longitude] pairs in degrees "
            "(latitude -90 to 90, longitude -180 to 180), as in [[48.85, 2.35], [48.86, 2.29]]"
        )
        points: list[tuple[float, float]] = []
        for point in value if isinstance(value, list) else [None]:
            if (
                not isinstance(point, list)
                or len(point) != 2
                or not all(is_number(x) and math.isfinite(x) for x in point)
                or not (-90 <= point[0] <= 90 and -180 <= point[1] <= 180)
            ):
                self._bad("waypoints", rule)
                return ()
            points.append((float(point[0]), float(point[1])))
        if len(points) < 2:
            self._bad("waypoints", rule)
            return ()
        return tuple(points)

    def values(self) -> tuple[Any, ...]:
        value = self.table.get("values")
        if value is None:
            return ()
        if not isinstance(value, list) or not value or not all(is_scalar(v) for v in value):
            self._bad("values", "must be a non-empty array of strings, numbers or true/false")
            return ()
        return tuple(value)

    def probability(self) -> float | None:
        value = self.table.get("probability")
        if value is None:
            return None
        if not is_number(value) or not 0 <= value <= 1:
            self._bad("probability", "must be a number from 0 to 1")
            return None
        return float(value)

    def one_of(self, key: str, allowed: tuple[str, ...]) -> str | None:
        value = self.table.get(key)
        if value is None:
            return None
        if value not in allowed:
            self._bad(key, f"must be {quoted_list(allowed)}")
            return None
        return str(value)

    def state_name(self, state: Collection[str]) -> str | None:
        value = self.table.get("name")
        if value is None:
            return None
        if not isinstance(value, str) or value not in state:
            known = ", ".join(state)
            hint = f"the device's state has: {known}" if known else "the device has no state table"
            self._bad("name", f"must name one of the device's state values; {hint}")
            return None
        return value
