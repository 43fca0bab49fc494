"""Add a device to a network, or edit one: name, id, description, its state values, and a
kind to start from."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.widgets import Input, Select

from iotsim_tui.profiles.expand import devices_of
from iotsim_tui.profiles.model import Device, GeneratorKind, Network
from iotsim_tui.tui.screens import _checks
from iotsim_tui.tui.screens._form import FormDialog, field
from iotsim_tui.tui.screens._generators import parse_params
from iotsim_tui.tui.screens.command_form import set_text
from iotsim_tui.tui.screens.device_kinds import DEVICE_KINDS, DeviceKind

_FIELD_OF_KEY = {"name": "name", "id": "id", "description": "description", "state": "state"}
STATE_HINT = "values commands set and telemetry reports (kind = state), e.g. rate=25.0 running=true"


class DeviceScreen(FormDialog[Device]):
    """Add a device (`device` None) or edit one; dismisses with the new `Device`.

    A new device may start from a built-in kind, which fills its name, a free id, a
    description and its telemetry. Editing keeps the device's subscriptions, telemetry and
    commands as they are.
    """

    AUTO_FOCUS = "#name"

    submit_label = "Save device"

    def __init__(self, network: Network, device: Device | None, *, intro: str = "") -> None:
        super().__init__()
        self._set_subject(network, device, intro)

    def _set_subject(self, network: Network, device: Device | None, intro: str) -> None:
        self.network = network
        self.device = device
        self.intro = intro or (
            "" if device else "To make many devices alike, numbered, add a template instead (A)."
        )
        self.heading = f"Edit device {device.id}" if device else f"Add a device to {network.name}"
        self.kind: DeviceKind | None = None
        others = devices_of(network)
        if device is not None:
            others = tuple(d for d in others if d.id != device.id)
        self.owners = {d.id: d.name for d in others}
        """Id -> name of every other device in the network: a new id must not be one of them."""

    def refill(self, network: Network) -> None:
        """Fill the kept add-a-device dialog in for `network`, as a new one would be."""
        assert self.device is None, "only the dialog that adds a device is kept"
        with self.refilling():
            self._set_subject(network, None, "")
            self.retitle()
            self.query_one("#kind", Select).clear()
            for input_id in ("name", "id", "description", "state"):
                self.query_one(f"#{input_id}", Input).value = ""

    def compose_fields(self) -> ComposeResult:
        """Template (new devices only), name, id and description."""
        device = self.device
        if device is None:
            yield field(
                "Kind",
                Select(
                    [(kind.label, kind.label) for kind in DEVICE_KINDS],
                    prompt="none: an empty device",
                    id="kind",
                    compact=True,
                ),
                hint="fills the name, a free id and the telemetry it publishes",
            )
        yield field(
            "Name",
            Input(
                device.name if device else "",
                placeholder="e.g. Temperature_Sensor",
                id="name",
                compact=True,
            ),
        )
        yield field(
            "Id",
            Input(device.id if device else "", placeholder="e.g. TS1", id="id", compact=True),
            hint="unique in the network; its MQTT client id",
        )
        yield field(
            "Description",
            Input(
                device.description if device else "",
                placeholder="optional",
                id="description",
                compact=True,
            ),
        )
        yield field(
            "State",
            Input(
                set_text(dict(device.state)) if device else "",
                placeholder="none (or e.g. setpoint=21.5 power=on)",
                id="state",
                compact=True,
            ),
            hint=STATE_HINT,
        )

    def on_mount(self) -> None:
        """Check name and id as they are typed."""
        self.live_checks.update(name=_checks.check_required("a name"), id=self._check_id)

    def _check_id(self, text: str) -> str | None:
        problem = _checks.check_device_id(text)
        if problem is None and text.strip() in self.owners:
            problem = f"{text.strip()} is already the id of {self.owners[text.strip()]}"
        return problem

    @on(Select.Changed, "#kind")
    def _kind_chosen(self, event: Select.Changed) -> None:
        previous = self.kind
        self.kind = next((k for k in DEVICE_KINDS if k.label == event.value), None)
        if self.kind is None:
            return
        # Fill what is empty or still holds what the previous kind filled in.
        fills = {
            "name": (self.kind.name, previous.name if previous else ""),
            "id": (
                self.kind.free_id(self.owners),
                previous.free_id(self.owners) if previous else "",
            ),
            "description": (self.kind.description, previous.description if previous else ""),
        }
        for input_id, (new, old) in fills.items():
            widget = self.query_one(f"#{input_id}", Input)
            if widget.value.strip() in ("", old):
                widget.value = new

    def build(self, errors: dict[str, str]) -> Device | None:
        """The new or changed device, checked by the profile rules within its network."""
        name = self.query_one("#name", Input).value.strip()
        device_id = self.query_one("#id", Input).value.strip()
        description = self.query_one("#description", Input).value.strip()
        state = read_state(self.query_one("#state", Input).value, errors)
        candidate = self.network
        if self.device is None:
            device = Device(
                name=name,
                id=device_id,
                description=description,
                telemetry=self.kind.telemetry() if self.kind else (),
                state=state,
            )
            devices = (*self.network.devices, device)
        else:
            device = replace(
                self.device, name=name, id=device_id, description=description, state=state
            )
            ids = [d.id for d in self.network.devices]
            if self.device.id in ids:
                at = ids.index(self.device.id)
                devices = (*self.network.devices[:at], device, *self.network.devices[at + 1 :])
            else:
                # A device made by a template: checked on its own, as the app will list it.
                devices = (*self.network.devices, device)
                candidate = replace(candidate, templates=())
        where = f"devices[{devices.index(device)}]"
        candidate = replace(candidate, devices=devices)
        _checks.place_problems(
            _checks.profile_problems(candidate, where), where, _FIELD_OF_KEY, errors
        )
        return device


def read_state(text: str, errors: dict[str, str]) -> dict[str, Any]:
    """The State line as a device's `state` table (a problem goes under the field `state`)."""
    state, problem = parse_params(GeneratorKind.CONSTANT, text) if text.strip() else ({}, None)
    if problem or (text.strip() and "=" not in text):
        errors["state"] = "write name=value pairs, e.g. setpoint=21.5 power=on"
        return {}
    return state
