"""Edit a device template: the name, id and description patterns, how many devices, from which.

A template (`[[templates]]` in a profile) makes `count` devices alike, numbered from
`first`; `{n}` in its name, id, description and topics is each device's number. Changing
it changes every device it makes.
"""

from __future__ import annotations

from dataclasses import replace

from textual.app import ComposeResult
from textual.widgets import Input

from iotsim_tui.profiles.model import DeviceTemplate, Network
from iotsim_tui.profiles.validate import MAX_TEMPLATE_COUNT
from iotsim_tui.tui.screens import _checks
from iotsim_tui.tui.screens._form import FormDialog, field
from iotsim_tui.words import counted

_FIELD_OF_KEY = {
    "name": "name",
    "id": "id",
    "description": "description",
    "count": "count",
    "first": "first",
}


class TemplateScreen(FormDialog[DeviceTemplate]):
    """Edit template number `index` of `network`; dismisses with the changed `DeviceTemplate`."""

    AUTO_FOCUS = "#name"

    submit_label = "Save template"

    def __init__(self, network: Network, index: int) -> None:
        super().__init__()
        self.network = network
        self.index = index
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

    def _number(self, input_id: str, errors: dict[str, str], default: int) -> int:
        if input_id in errors:
            return default
        return int(self.query_one(f"#{input_id}", Input).value)

    def build(self, errors: dict[str, str]) -> DeviceTemplate | None:
        """The changed template, checked by the profile rules within its network."""
        template = replace(
            self.template,
            name=self.query_one("#name", Input).value.strip(),
            id=self.query_one("#id", Input).value.strip(),
            description=self.query_one("#description", Input).value.strip(),
            count=self._number("count", errors, self.template.count),
            first=self._number("first", errors, self.template.first),
        )
        templates = list(self.network.templates)
        templates[self.index] = template
        candidate = replace(self.network, templates=tuple(templates))
        where = f"templates[{self.index}]"
        _checks.place_problems(
            _checks.profile_problems(candidate, where), where, _FIELD_OF_KEY, errors
        )
        return template
