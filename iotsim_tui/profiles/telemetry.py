"""A telemetry table of a profile: what a device publishes, how often and when.

`parse_telemetry` checks one `[[devices.telemetry]]` table (its fields, text template, jitter,
trigger and MQTT 5 properties) for `validate.build_network`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from typing import Any

from iotsim_tui.profiles.binary import decode_base64, struct_problem
from iotsim_tui.profiles.checks import Checker, is_number
from iotsim_tui.profiles.fields import parse_fields
from iotsim_tui.profiles.locate import KeyPath
from iotsim_tui.profiles.model import (
    MessageProperties,
    MQTTVersion,
    Telemetry,
    TelemetryFormat,
    Trigger,
    ValueSpec,
)
from iotsim_tui.profiles.properties import parse_properties

TELEMETRY_KEYS = tuple(f.name for f in dataclass_fields(Telemetry))
TRIGGER_KEYS = tuple(f.name for f in dataclass_fields(Trigger))


def parse_telemetry(
    checker: Checker,
    raw: object,
    where: KeyPath,
    fill: Mapping[str, str],
    state: Mapping[str, Any],
    protocol: MQTTVersion,
) -> Telemetry:
    """One `[[devices.telemetry]]` table; problems go to `checker`."""
    table = checker.table(raw, where, TELEMETRY_KEYS)
    payload = TelemetryFormat.JSON
    payload = checker.choice(table, where, "format", TelemetryFormat, payload)
    template = checker.optional_text(table, where, "template")
    fields = parse_fields(checker, table.get("fields", {}), (*where, "fields"), state)
    if payload is TelemetryFormat.TEXT and template is None and "template" not in table:
        checker.report(
            (*where, "format"), 'needs template = "..." with {field} placeholders', payload.value
        )
    if payload is not TelemetryFormat.TEXT and "template" in table:
        checker.report((*where, "template"), 'is only used with format = "text"', template)
    layout = checker.optional_text(table, where, "struct")
    fixed = checker.optional_text(table, where, "base64")
    _check_binary(checker, table, where, payload, layout, fixed, fields)
    if payload is TelemetryFormat.TEXT and template is not None:
        _check_template(checker, template, (*where, "template"), [*fields, "id", "name"])
    return Telemetry(
        topic=checker.topic(table, where, is_filter=False, fill=fill),
        interval=checker.positive(
            table, where, "interval", 5.0, "must be a number greater than 0 (seconds)"
        ),
        qos=checker.qos(table, where, 0),
        retain=checker.flag(table, where, "retain", False),
        format=payload,
        jitter=_fraction(checker, table, where, "jitter", Telemetry.jitter),
        on_connect=checker.flag(table, where, "on_connect", False),
        publish_when=_trigger(checker, table, where, fields),
        template=template,
        struct=layout,
        base64=fixed,
        fields=fields,
        properties=_properties(checker, table, where, protocol, fill),
    )


def _check_binary(
    checker: Checker,
    table: Mapping[str, Any],
    where: KeyPath,
    payload: TelemetryFormat,
    layout: str | None,
    fixed: str | None,
    fields: Mapping[str, object],
) -> None:
    if payload is not TelemetryFormat.BINARY:
        for key in ("struct", "base64"):
            if key in table:
                checker.report((*where, key), 'is only used with format = "binary"', table[key])
        return
    if (layout is None) == (fixed is None):
        checker.report(
            (*where, "format"),
            'binary needs struct = "..." (to pack the fields) or base64 = "..." (a fixed '
            "payload), one of them",
            payload.value,
        )
        return
    if layout is not None:
        problem = struct_problem(layout, len(fields))
        if problem is not None:
            checker.report((*where, "struct"), problem, layout)
        elif any(not isinstance(spec, ValueSpec) for spec in fields.values()):
            checker.report((*where, "fields"), "a binary payload packs plain fields, not tables")
    elif fixed is not None:
        if decode_base64(fixed) is None:
            checker.report((*where, "base64"), "is not base64", fixed)
        if fields:
            checker.report((*where, "fields"), "a fixed base64 payload has no fields")


def _trigger(
    checker: Checker, table: Mapping[str, Any], where: KeyPath, fields: Mapping[str, Any]
) -> Trigger | None:
    if "publish_when" not in table:
        return None
    at = (*where, "publish_when")
    when = checker.table(table["publish_when"], at, TRIGGER_KEYS)
    name = checker.text(when, at, "field", "", required=True)
    if name and name not in fields:
        known = ", ".join(fields) or "none"
        checker.report((*at, "field"), f"must name one of the telemetry's fields ({known})", name)
    change = crosses = None
    if "change" in when:
        change = checker.positive(when, at, "change", 1.0, "must be a number greater than 0")
    if "crosses" in when:
        value = when["crosses"]
        if is_number(value):
            crosses = float(value)
        else:
            checker.report((*at, "crosses"), "must be a number", value)
    if when and change is None and "crosses" not in when:
        checker.report(at, "needs change = ... or crosses = ... (or both)")
    return Trigger(field=name, change=change, crosses=crosses)


def _fraction(
    checker: Checker, table: Mapping[str, Any], where: KeyPath, key: str, default: float
) -> float:
    value = table.get(key, default)
    if is_number(value) and 0 <= value <= 1:
        return float(value)
    checker.report((*where, key), "must be a number from 0 to 1 (0.1: up to 10%)", value)
    return default


def _check_template(checker: Checker, template: str, where: KeyPath, names: list[str]) -> None:
    """A text payload template, read the way `str.format` reads it."""
    try:
        used = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        checker.report(
            where, f"is not a valid template ({error}); write {{{{ and }}}} for braces", template
        )
        return
    for name in used:
        if re.split(r"[.\[]", name, maxsplit=1)[0] not in names:
            usable = ", ".join(f"{{{known}}}" for known in names)
            checker.report(
                where, f"unknown placeholder {{{name}}}; usable here: {usable}", template
            )
            return


def _properties(
    checker: Checker,
    table: Mapping[str, Any],
    where: KeyPath,
    protocol: MQTTVersion,
    fill: Mapping[str, str],
) -> MessageProperties | None:
    if "properties" not in table:
        return None
    return parse_properties(checker, table["properties"], (*where, "properties"), protocol, fill)
