"""A device's telemetry: topic, interval, QoS, retain, format, and the values it publishes.

Each value is one row: its field name (a dot nests it, `position.lat`), a generator kind
and the generator's parameters written `key=value`, e.g. `min=15 max=35 step=0.5`. The
parameters are checked by the profile loader's own generator rules.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Select, Static

from iotsim_tui.profiles.checks import Checker
from iotsim_tui.profiles.fields import parse_generator
from iotsim_tui.profiles.model import (
    Device,
    GeneratorKind,
    MessageProperties,
    MQTTVersion,
    PayloadFields,
    Telemetry,
    TelemetryFormat,
    Trigger,
    ValueSpec,
)
from iotsim_tui.profiles.properties import parse_properties
from iotsim_tui.tui.screens import _checks
from iotsim_tui.tui.screens._form import FormDialog, Toggle, field
from iotsim_tui.tui.screens._generators import (
    EXAMPLES,
    format_value,
    params_text,
    parse_params,
    properties_table,
    properties_text,
)
from iotsim_tui.tui.screens.subscribe import QOS_CHOICES

_FIELD_OF_KEY = {
    "topic": "topic",
    "interval": "interval",
    "template": "template",
    "properties": "properties",
    "jitter": "jitter",
    "publish_when": "when",
    "struct": "binary",
    "base64": "binary",
}
_TRIGGER_KEYS = ("field", "change", "crosses")


def trigger_text(trigger: Trigger | None) -> str:
    """`publish_when` as one line: `field=level change=5 crosses=90`."""
    if trigger is None:
        return ""
    parts = [f"field={format_value(trigger.field)}"]
    parts += [
        f"{key}={getattr(trigger, key):g}"
        for key in ("change", "crosses")
        if getattr(trigger, key) is not None
    ]
    return " ".join(parts)


def binary_text(telemetry: Telemetry) -> str:
    """A binary payload's layout as one line: `struct=<hHf` or `base64=AAEC`."""
    if telemetry.struct is not None:
        return f"struct={telemetry.struct}"
    if telemetry.base64 is not None:
        return f"base64={telemetry.base64}"
    return ""


def _check_jitter(text: str) -> str | None:
    try:
        jitter = float(text.strip())
    except ValueError:
        return "the jitter is a fraction from 0 to 1, e.g. 0.02"
    return None if 0 <= jitter <= 1 else "the jitter must be from 0 to 1"


def flatten(fields: PayloadFields, prefix: str = "") -> list[tuple[str, ValueSpec]]:
    """Nested payload fields as rows: `position.lat` for `{"position": {"lat": ...}}`."""
    rows: list[tuple[str, ValueSpec]] = []
    for name, value in fields.items():
        if isinstance(value, ValueSpec):
            rows.append((prefix + name, value))
        else:
            rows.extend(flatten(value, f"{prefix}{name}."))
    return rows


def nest(rows: list[tuple[str, ValueSpec]]) -> tuple[dict[str, Any], dict[int, str]]:
    """Rows back into nested fields, and row index -> a problem with its name, if any."""
    fields: dict[str, Any] = {}
    problems: dict[int, str] = {}
    for index, (name, spec) in enumerate(rows):
        *groups, last = name.split(".")
        table = fields
        for group in groups:
            inner = table.setdefault(group, {})
            if not isinstance(inner, dict):
                problems[index] = f"{group} is already a value; it cannot also hold {name}"
                break
            table = inner
        else:
            if last in table:
                problems[index] = f"there is already a value named {name}"
            else:
                table[last] = spec
    return fields, problems


class TelemetryScreen(FormDialog[Telemetry]):
    """Add (`telemetry` None) or edit one telemetry of `device`; dismisses with a `Telemetry`."""

    AUTO_FOCUS = "#topic"

    DEFAULT_CSS = """
    TelemetryScreen #rows, TelemetryScreen .value, TelemetryScreen .value-row {
        height: auto;
    }
    TelemetryScreen .value-row > .value-name {
        width: 20;
    }
    TelemetryScreen .value-row > Select {
        width: 14;
        margin: 0 1;
    }
    TelemetryScreen .value-row > .value-params {
        width: 1fr;
    }
    TelemetryScreen .value-row > Button {
        margin-left: 1;
        min-width: 3;
    }
    TelemetryScreen .value-error {
        padding-left: 0;
    }
    TelemetryScreen .values-header {
        color: $text-muted;
    }
    TelemetryScreen #add-value {
        margin-top: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+n",
            "add_value",
            "Add a value",
            id="telemetry.add_value",
            tooltip="Add a value row",
        ),
    ]

    submit_label = "Save telemetry"

    def __init__(
        self,
        device: Device,
        telemetry: Telemetry | None,
        *,
        subject: str | None = None,
        template: bool = False,
        protocol: MQTTVersion = MQTTVersion.V5,
    ) -> None:
        super().__init__()
        self.device = device
        self.template = template
        self.protocol = protocol
        """The network's MQTT version: properties need MQTT 5."""
        """True when `device` is a device template's pattern: `{n}` may stand in the topic."""
        self.telemetry = telemetry
        self.heading = (
            f"Edit telemetry {telemetry.topic} of {subject or device.id}"
            if telemetry
            else f"Add a telemetry topic to {subject or device.id}"
        )
        self._rows = 0

    def compose_fields(self) -> ComposeResult:
        """Topic, timing, payload format, and the value rows."""
        telemetry = self.telemetry or Telemetry(topic="devices/{id}/telemetry")
        yield field(
            "Topic",
            Input(telemetry.topic, id="topic", compact=True),
            hint="{id} and {name} stand for the device's",
        )
        yield field("Interval (s)", Input(f"{telemetry.interval:g}", id="interval", compact=True))
        yield field(
            "QoS",
            Select(QOS_CHOICES, value=telemetry.qos, allow_blank=False, id="qos", compact=True),
        )
        yield field(
            "", Toggle("Retain the last message on the broker", telemetry.retain, id="retain")
        )
        yield field(
            "Jitter",
            Input(f"{telemetry.jitter:g}", id="jitter", compact=True),
            hint="0 to 1: each interval stretched or shrunk at random by up to this fraction",
        )
        yield field(
            "",
            Toggle("Also publish once on connecting (birth)", telemetry.on_connect, id="birth"),
        )
        yield field(
            "Publish when",
            Input(
                trigger_text(telemetry.publish_when),
                placeholder="every interval (or e.g. field=level change=5 crosses=90)",
                id="when",
                compact=True,
            ),
            hint="only when a value moved by `change` or crossed `crosses` since the last message",
        )
        yield field(
            "Format",
            Select(
                [
                    ("JSON object of the values", TelemetryFormat.JSON),
                    ("Text template", TelemetryFormat.TEXT),
                    ("Binary (struct or base64, in the profile)", TelemetryFormat.BINARY),
                ],
                value=telemetry.format,
                allow_blank=False,
                id="format",
                compact=True,
            ),
        )
        yield field(
            "Template",
            Input(
                telemetry.template or "",
                placeholder="for text: e.g. temp={temperature}",
                id="template",
                compact=True,
                disabled=telemetry.format is not TelemetryFormat.TEXT,
            ),
        )
        yield field(
            "Binary",
            Input(
                binary_text(telemetry),
                placeholder="struct=<hHf (one item per value, in order) or base64=AAEC",
                id="binary",
                compact=True,
                disabled=telemetry.format is not TelemetryFormat.BINARY,
            ),
        )
        yield field(
            "MQTT 5",
            Input(
                properties_text(telemetry.properties),
                placeholder="properties, e.g. content_type=application/json user.site=ward3",
                id="properties",
                compact=True,
            ),
            hint="content_type, payload_format, message_expiry, response_topic, "
            "correlation_data, user.NAME; needs protocol 5",
        )
        yield Static("Values", classes="section")
        yield Static(
            f"{'Name (a.b nests)':<20} {'generator':<14} parameters: key=value",
            classes="values-header",
            markup=False,
        )
        with Vertical(id="rows"):
            for name, spec in flatten(telemetry.fields):
                yield self._row(name, spec.kind, params_text(spec))
        yield Button("+ Add a value (ctrl+n)", id="add-value", compact=True)

    def _row(self, name: str, kind: GeneratorKind, params: str) -> Vertical:
        self._rows += 1
        number = self._rows
        return Vertical(
            Horizontal(
                Input(
                    name,
                    placeholder="name",
                    id=f"name-{number}",
                    classes="value-name",
                    compact=True,
                ),
                Select(
                    [(k.value, k) for k in GeneratorKind],
                    value=kind,
                    allow_blank=False,
                    id=f"kind-{number}",
                    compact=True,
                ),
                Input(
                    params,
                    placeholder=EXAMPLES[kind],
                    id=f"params-{number}",
                    classes="value-params",
                    compact=True,
                ),
                Button(
                    "✕",
                    id=f"remove-{number}",
                    classes="remove",
                    compact=True,
                    tooltip="Remove this value",
                ),
                classes="value-row",
            ),
            Static(
                "", id=f"params-{number}-error", classes="field-error value-error", markup=False
            ),
            Static("", id=f"name-{number}-error", classes="field-error value-error", markup=False),
            classes="value",
            id=f"value-{number}",
        )

    def on_mount(self) -> None:
        """Check topic and interval as they are typed."""
        self.live_checks.update(
            topic=self._check_topic, interval=_checks.check_interval, jitter=_check_jitter
        )

    def _check_topic(self, text: str) -> str | None:
        return _checks.check_topic_name(
            text, device_id=self.device.id, device_name=self.device.name
        )

    @on(Button.Pressed, "#add-value")
    async def _add_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        await self.action_add_value()

    async def action_add_value(self) -> None:
        """Add an empty value row and put the cursor in its name."""
        row = self._row("", GeneratorKind.WALK, "")
        await self.query_one("#rows").mount(row)
        row.query_one(Input).focus()

    @on(Button.Pressed, ".remove")
    async def _remove_value(self, event: Button.Pressed) -> None:
        event.stop()
        number = (event.button.id or "").removeprefix("remove-")
        await self.query_one(f"#value-{number}").remove()
        self.query_one("#add-value").focus()

    @on(Select.Changed, ".value-row > Select")
    def _kind_changed(self, event: Select.Changed) -> None:
        number = (event.select.id or "").removeprefix("kind-")
        if isinstance(event.value, GeneratorKind):
            self.query_one(f"#params-{number}", Input).placeholder = EXAMPLES[event.value]

    @on(Select.Changed, "#format")
    def _format_changed(self, event: Select.Changed) -> None:
        self.query_one("#template", Input).disabled = event.value is not TelemetryFormat.TEXT
        self.query_one("#binary", Input).disabled = event.value is not TelemetryFormat.BINARY

    def _value_rows(self, errors: dict[str, str]) -> list[tuple[str, ValueSpec, str]]:
        """(name, generator, params input id) of each filled-in row; problems go to `errors`."""
        state = list(self.device.state)
        rows: list[tuple[str, ValueSpec, str]] = []
        for value in self.query(".value"):
            number = (value.id or "").removeprefix("value-")
            name = self.query_one(f"#name-{number}", Input).value.strip()
            params = self.query_one(f"#params-{number}", Input).value
            kind = self.query_one(f"#kind-{number}", Select).value
            assert isinstance(kind, GeneratorKind)
            if not name and not params.strip():
                continue  # an empty row is ignored, so Add never traps the user
            if not name or any(not part for part in name.split(".")):
                errors[f"name-{number}"] = "give the value a name, e.g. temperature"
            table, problem = parse_params(kind, params)
            if problem:
                errors[f"params-{number}"] = problem
                continue
            checker = Checker("telemetry")
            spec = parse_generator(checker, {"kind": kind.value, **table}, (), state)
            if checker.problems:
                errors[f"params-{number}"] = _checks.problem_text(checker.problems[0])
            rows.append((name, spec, f"params-{number}"))
        return rows

    def _properties(self, errors: dict[str, str]) -> MessageProperties | None:
        """The MQTT 5 properties typed, checked by the profile rules."""
        text = self.query_one("#properties", Input).value
        if not text.strip():
            return None
        table, problem = properties_table(text)
        if problem:
            errors["properties"] = problem
            return None
        checker = Checker("telemetry")
        fill = {"id": "id", "name": "name", "n": "1"}
        found = parse_properties(checker, table, (), self.protocol, fill)
        if checker.problems:
            errors["properties"] = _checks.problem_text(checker.problems[0])
        return found

    def _binary(self, payload: TelemetryFormat, errors: dict[str, str]) -> dict[str, str]:
        """`struct` or `base64` of a binary payload, as typed."""
        text = self.query_one("#binary", Input).value
        if payload is not TelemetryFormat.BINARY:
            return {}
        table, problem = parse_params(GeneratorKind.INT, text)
        if problem or set(table) - {"struct", "base64"} or not table:
            errors["binary"] = "write struct=<hHf (one item per value) or base64=AAEC"
            return {}
        return {key: str(value) for key, value in table.items()}

    def _trigger(self, errors: dict[str, str]) -> Trigger | None:
        """When to publish, as typed; the profile rules check it with the rest."""
        text = self.query_one("#when", Input).value
        if not text.strip():
            return None
        table, problem = parse_params(GeneratorKind.INT, text)
        unknown = set(table) - set(_TRIGGER_KEYS)
        if problem or unknown or "field" not in table:
            errors["when"] = "write field=NAME and change=N, crosses=N or both"
            return None
        return Trigger(str(table["field"]), table.get("change"), table.get("crosses"))

    def build(self, errors: dict[str, str]) -> Telemetry | None:
        """The telemetry, checked by the profile rules."""
        rows = self._value_rows(errors)
        fields, problems = nest([(name, spec) for name, spec, _ in rows])
        for index, name_problem in problems.items():
            errors.setdefault(rows[index][2].replace("params", "name"), name_problem)
        payload = self.query_one("#format", Select).value
        qos = self.query_one("#qos", Select).value
        assert isinstance(payload, TelemetryFormat)
        assert isinstance(qos, int)
        template = self.query_one("#template", Input).value
        if payload is TelemetryFormat.TEXT and not template.strip():
            errors["template"] = "a text payload needs a template, e.g. temp={temperature}"
        properties = self._properties(errors)
        binary = self._binary(payload, errors)
        jitter = self.query_one("#jitter", Input).value
        if _check_jitter(jitter):
            errors.setdefault("jitter", _check_jitter(jitter) or "")
        # What the form does not show (a CSV replay, ...) is kept.
        telemetry = replace(
            self.telemetry or Telemetry(topic=""),
            topic=self.query_one("#topic", Input).value.strip(),
            interval=1.0
            if "interval" in errors
            else float(self.query_one("#interval", Input).value),
            qos=qos,
            retain=self.query_one("#retain", Toggle).value,
            format=payload,
            template=template if payload is TelemetryFormat.TEXT else None,
            struct=binary.get("struct"),
            base64=binary.get("base64"),
            jitter=0.02 if "jitter" in errors else float(jitter),
            on_connect=self.query_one("#birth", Toggle).value,
            publish_when=self._trigger(errors),
            fields=fields,
            properties=properties,
        )
        if errors:
            return None
        device = replace(self.device, subscribe=(), telemetry=(telemetry,), commands=(), will=None)
        where = "devices[0].telemetry[0]"
        checked = _checks.device_problems(
            device, ".telemetry[0]", template=self.template, protocol=self.protocol
        )
        for problem in checked:
            key = problem.key.removeprefix(f"{where}.")
            target = _FIELD_OF_KEY.get(key.partition(".")[0], "form")
            if key == "format":
                target = "template"
            elif key.startswith("fields."):
                target = next(
                    (input_id for name, _, input_id in rows if key[7:].startswith(name)), "form"
                )
            message = (
                problem.problem
                if target in _FIELD_OF_KEY.values()
                else _checks.problem_text(problem, key=key)
            )
            errors.setdefault(target, message)
        return telemetry
