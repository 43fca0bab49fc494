"""Make or edit a device template: the name, id and description patterns, how many devices,
from which number.

A template (`[[templates]]` in a profile) makes `count` devices alike, numbered from
`first`; `{n}` in its name, id, description and topics is each device's number. Changing
it changes every device it makes.
"""

from __future__ import annotations

from dataclasses import replace

from textual import on
from textual.app import ComposeResult
from textual.widgets import Input, Select

from iotsim_tui.profiles.expand import devices_of
from iotsim_tui.profiles.model import DeviceTemplate, Network
from iotsim_tui.profiles.validate import MAX_TEMPLATE_COUNT
from iotsim_tui.tui.screens import _checks
from iotsim_tui.tui.screens._form import FormDialog, field
from iotsim_tui.tui.screens.command_form import set_text
from iotsim_tui.tui.screens.device_form import STATE_HINT, read_state
from iotsim_tui.tui.screens.device_kinds import DEVICE_KINDS, DeviceKind
from iotsim_tui.words import counted

_FIELD_OF_KEY = {
    "name": "name",
    "id": "id",
    "description": "description",
    "count": "count",
    "first": "first",
    "state": "state",
}


class TemplateScreen(FormDialog[DeviceTemplate]):
    """Make a template (`index` None) or edit template number `index` of `network`;
    dismisses with the new or changed `DeviceTemplate`."""

    AUTO_FOCUS = "#name"

    submit_label = "Save template"

    def __init__(self, network: Network, index: int | None) -> None:
        super().__init__()
        self.network = network
        self.index = index
        self.kind: DeviceKind | None = None
        self._first_filled = "1"
        """The first number as the last kind chosen filled it in (1 before any)."""
        if index is None:
            self.template = DeviceTemplate("", "", count=10)
            self.heading = f"Add a device template to {network.name}"
            self.intro = (
                "A template makes many devices alike, numbered: {n} in the name, id and topics "
                "stands for each device's number. Start from a kind to fill in its telemetry."
            )
            return
        self.template = network.templates[index]
        template = self.template
        first = template.id.replace("{n}", str(template.first))
        last = template.id.replace("{n}", str(template.first + template.count - 1))
        made = first if template.count == 1 else f"{first} to {last}"
        self.heading = f"Edit the device template {template.id}"
        self.intro = (
            f"This template makes {counted(template.count, 'device')} ({made}). Every one of them "
            "changes with it. {n} stands for each device's number."
        )

    def compose_fields(self) -> ComposeResult:
        """Name, id and description patterns, count and first number."""
        template = self.template
        if self.index is None:
            yield field(
                "Kind",
                Select(
                    [(kind.label, kind.label) for kind in DEVICE_KINDS],
                    prompt="none: devices with no telemetry yet",
                    id="kind",
                    compact=True,
                ),
                hint="fills the name, the id and the telemetry each device publishes",
            )
        yield field(
            "Name",
            Input(template.name, id="name", compact=True),
            hint="e.g. Temperature Sensor {n}",
        )
        yield field(
            "Id",
            Input(template.id, id="id", compact=True),
            hint="must hold {n} when there is more than one, e.g. TS{n}",
        )
        yield field(
            "Description",
            Input(template.description, placeholder="optional", id="description", compact=True),
        )
        yield field(
            "State",
            Input(
                set_text(dict(template.state)),
                placeholder="none (or e.g. setpoint=21.5 power=on)",
                id="state",
                compact=True,
            ),
            hint=STATE_HINT,
        )
        yield field(
            "How many",
            Input(str(template.count), id="count", type="integer", compact=True),
            hint=f"1 to {MAX_TEMPLATE_COUNT}",
        )
        yield field(
            "First number",
            Input(str(template.first), id="first", type="integer", compact=True),
            hint="{n} of the first device; the others count up from it",
        )

    def on_mount(self) -> None:
        """Check the fields as they are typed."""
        self.live_checks.update(
            name=_checks.check_required("a name"),
            id=_checks.check_required("an id"),
            count=_checks.int_in("how many", 1, MAX_TEMPLATE_COUNT),
            first=_checks.int_in("the first number", 0, 10**9),
        )

    @on(Select.Changed, "#kind")
    def _kind_chosen(self, event: Select.Changed) -> None:
        previous = self.kind
        self.kind = next((k for k in DEVICE_KINDS if k.label == event.value), None)
        if self.kind is None:
            return
        taken = {device.id for device in devices_of(self.network)}
        first = self.kind.free_id(taken).removeprefix(self.kind.id_prefix)
        # Fill what is empty or still holds what the previous kind filled in.
        fills = {
            "name": (f"{self.kind.name}_{{n}}", f"{previous.name}_{{n}}" if previous else ""),
            "id": (f"{self.kind.id_prefix}{{n}}", f"{previous.id_prefix}{{n}}" if previous else ""),
            "description": (self.kind.description, previous.description if previous else ""),
            "first": (first, self._first_filled),
        }
        self._first_filled = first
        for input_id, (new, old) in fills.items():
            widget = self.query_one(f"#{input_id}", Input)
            if widget.value.strip() in ("", old):
                widget.value = new

    def _number(self, input_id: str, errors: dict[str, str], default: int) -> int:
        if input_id in errors:
            return default
        return int(self.query_one(f"#{input_id}", Input).value)

    def build(self, errors: dict[str, str]) -> DeviceTemplate | None:
        """The changed template, checked by the profile rules within its network."""
        template = replace(
            self.template,
            telemetry=self.kind.telemetry() if self.kind else self.template.telemetry,
            name=self.query_one("#name", Input).value.strip(),
            id=self.query_one("#id", Input).value.strip(),
            description=self.query_one("#description", Input).value.strip(),
            state=read_state(self.query_one("#state", Input).value, errors),
            count=self._number("count", errors, self.template.count),
            first=self._number("first", errors, self.template.first),
        )
        templates = list(self.network.templates)
        index = len(templates) if self.index is None else self.index
        if self.index is None:
            templates.append(template)
        else:
            templates[index] = template
        candidate = replace(self.network, templates=tuple(templates))
        where = f"templates[{index}]"
        _checks.place_problems(
            _checks.profile_problems(candidate, where), where, _FIELD_OF_KEY, errors
        )
        return template
