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
    if len(generators) == 1:
        (first,) = generators
        return lambda: template % (first(),)
    if len(generators) == 2:  # the common case, without a loop
        first, second = generators
        return lambda: template % (first(), second())
    if len(generators) == 3:
        first, second, third = generators
        return lambda: template % (first(), second(), third())
    return lambda: template % tuple([generate() for generate in generators])


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
            parts.append(b"%a")
            generators.append(generator)
        else:
            return False
    parts.append(b"}")
    return True


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
