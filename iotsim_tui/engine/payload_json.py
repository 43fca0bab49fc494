"""JSON telemetry payloads: a compact encoder, and byte templates for payloads of numbers.

Most telemetry is a flat object of numbers (a walk, a counter, a reading): its keys, and any
constant value, are the same in every message. Those are written once into a byte template
(`{"temperature":%a,"seq":%a}`) and each payload is one `%` on it: no dict and no encoder per
message. `%a` writes an int or a float as `repr` does, which is what `json.dumps` writes for
finite numbers, so the payload is byte for byte the same.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from iotsim_tui.profiles.model import GeneratorKind, PayloadFields, ValueSpec

Generator = Callable[[], Any]
Compiled = Sequence[tuple[str, "Generator | Compiled"]]
"""Each field's generator, or a nested table's, in the order of the profile."""


def _compact_json() -> Callable[[Any], str]:
    """`json.dumps(value, separators=(",", ":"))` without the set-up it repeats per call.

    `json.dumps` with options builds an encoder, and the encoder its C core, at every call:
    half the cost of a small payload.
    """
    encoder = json.JSONEncoder(separators=(",", ":"), check_circular=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without json's C accelerator
        return encoder.encode
    # No markers (no cycle check), no indent, compact separators, keys as given, NaN allowed.
    args = (None, encoder.default, json.encoder.encode_basestring_ascii, None, ":", ",")
    iterencode = make(*args, False, False, True)

    def encode(value: Any) -> str:
        return "".join(iterencode(value, 0))

    return encode


to_json = _compact_json()
"""A value as compact JSON text (ASCII), as `json.dumps(value, separators=(",", ":"))`."""

_FIXED = (GeneratorKind.CONSTANT, GeneratorKind.FIELD)
"""Kinds whose generator gives the same value every time."""


def numbers_template(fields: PayloadFields, compiled: Compiled) -> Callable[[], bytes] | None:
    """What builds the JSON payload of `fields` from a template, or None when it cannot.

    `compiled` holds the fields' generators. Each field must give plain numbers
    (`plain_numbers`) or always the same value (a constant, the device's id or name).
    """
    parts: list[bytes] = []
    generators: list[Generator] = []
    if not _fill(fields, compiled, parts, generators):
        return None
    template = b"".join(parts)
    if not generators:
        payload = template % ()
        return lambda: payload
    return _Template(template, generators).builder()


class _Template:
    """A byte template and the generators of its `%a`s: each payload reads this one object
    (its slots) rather than a closure and a cell for each part (ten thousand devices: each
    object a payload touches is a likely cache miss)."""

    __slots__ = ("first", "generators", "second", "template", "third")

    def __init__(self, template: bytes, generators: list[Generator]) -> None:
        self.template = template
        self.generators = tuple(generators)
        self.first, self.second, self.third = (*generators[:3], _none, _none)[:3]

    def builder(self) -> Callable[[], bytes]:
        """What makes the next payload: a method for the number of generators."""
        count = len(self.generators)
        if count == 1:
            return self._one
        if count == 2:
            return self._two
        return self._three if count == 3 else self._many

    def _one(self) -> bytes:
        return self.template % (self.first(),)

    def _two(self) -> bytes:  # the common case
        return self.template % (self.first(), self.second())

    def _three(self) -> bytes:
        return self.template % (self.first(), self.second(), self.third())

    def _many(self) -> bytes:
        return self.template % tuple([generate() for generate in self.generators])


def _none() -> None:
    return None


def _fill(
    fields: PayloadFields, compiled: Compiled, parts: list[bytes], generators: list[Generator]
) -> bool:
    parts.append(b"{")
    for number, ((key, spec), (_, generator)) in enumerate(
        zip(fields.items(), compiled, strict=True)
    ):
        parts.append((b"," if number else b"") + _text(to_json(key)) + b":")
        if not isinstance(spec, ValueSpec):
            assert not callable(generator)
            if not isinstance(spec, Mapping) or not _fill(spec, generator, parts, generators):
                return False
            continue
        assert callable(generator)
        if spec.kind in _FIXED:
            try:
                parts.append(_text(to_json(generator())))
            except (TypeError, ValueError):  # not JSON (a TOML date): the general way says so
                return False
        elif plain_numbers(spec):
            part, make = _number_part(spec, generator)
            parts.append(part)
            generators.append(make)
        else:
            return False
    parts.append(b"}")
    return True


_ROUNDED = (GeneratorKind.WALK, GeneratorKind.SINE, GeneratorKind.GAUSSIAN)
"""Kinds whose generator rounds a float to `digits` places, and gives it unrounded (`raw`)."""
_FIXED_POINT_LIMIT = 1e9
"""Below this size, a float rounded to 1 to 4 places has at most 14 significant digits: its
`repr` is its fixed-point text with the trailing zeros dropped (one kept after the point)."""


def _number_part(spec: ValueSpec, generator: Generator) -> tuple[bytes, Generator]:
    """The template's part for a field of plain numbers, and what fills it.

    `%a` of the value is `repr`, as `json.dumps` writes it. Where the same text comes cheaper
    it is made so: an int with `%d`; a float the generator would round to 1-4 places is
    formatted to that many places at once (one decimal conversion instead of three: `round`
    writes and reads a decimal, `repr` writes one), the same text as `repr` of the rounded
    value (tests/engine compare it with `json.dumps` over many values).
    """
    if spec.kind is GeneratorKind.INT or (
        spec.kind is GeneratorKind.COUNTER
        and type(getattr(generator, "value", None)) is int
        and type(getattr(generator, "step", None)) is int
    ):
        return b"%d", generator  # ints stay ints: an int start plus int steps
    raw = getattr(generator, "raw", None)
    digits = getattr(generator, "digits", None)
    if (
        spec.kind not in _ROUNDED
        or raw is None
        or digits not in (1, 2, 3, 4)
        or _largest(spec) >= _FIXED_POINT_LIMIT
    ):
        return b"%a", generator
    if digits == 1:  # one place: the fixed-point text is repr's (its ".0" included)
        return b"%.1f", raw
    return b"%s", _decimals(raw, digits)


def _decimals(raw: Callable[[], float], digits: int) -> Callable[[], bytes]:
    """`repr(round(raw(), digits))` as bytes, for values below `_FIXED_POINT_LIMIT`."""
    form = b"%%.%df" % digits

    def text() -> bytes:
        fixed = (form % raw()).rstrip(b"0")
        return fixed + b"0" if fixed[-1] == 0x2E else fixed  # "20." is "20.0"

    return text


def _largest(spec: ValueSpec) -> float:
    """The largest size a value of a float kind can have (`plain_numbers` holds)."""
    if spec.kind is GeneratorKind.SINE:
        return abs(spec.base or 0.0) + abs(1.0 if spec.amplitude is None else spec.amplitude)
    if spec.kind is GeneratorKind.GAUSSIAN:
        # A draw stays within about 9 sigma of the base, or is held to a bound.
        drawn = abs(spec.base or 0.0) + 10 * abs(spec.sigma or 0.0)
        return max(drawn, abs(spec.min or 0.0), abs(spec.max or 0.0))
    return max(abs(spec.min or 0.0), abs(spec.max or 0.0))


def plain_numbers(spec: ValueSpec) -> bool:
    """True when every value `spec`'s generator gives is a finite int or float (no bool)."""
    finite = math.isfinite
    kind = spec.kind
    if kind is GeneratorKind.INT:
        return True
    if kind in (GeneratorKind.FLOAT, GeneratorKind.WALK):
        bounds = (spec.min, spec.max, 0.0 if spec.step is None else spec.step)
        return all(value is not None and finite(value) for value in bounds)
    if kind is GeneratorKind.COUNTER:
        return all(finite(value or 0) for value in (spec.start, spec.step))
    if kind is GeneratorKind.SINE:
        parts = (spec.period, spec.amplitude, spec.base, spec.phase)
        return all(finite(value or 0) for value in parts)
    if kind is GeneratorKind.GAUSSIAN:  # a draw stays within about 9 sigma of the base
        return (
            spec.base is not None
            and spec.sigma is not None
            and finite(abs(spec.base) + 10 * abs(spec.sigma))
        )
    return False


def _text(json_text: str) -> bytes:
    """JSON text (ASCII) as it goes into a template: `%` doubled."""
    return json_text.encode("ascii").replace(b"%", b"%%")
