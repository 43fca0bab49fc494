"""Edits of a network profile, as the dialogs ask for them: each returns a new `Network`."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from iotsim_tui.errors import ProfileError
from iotsim_tui.profiles.expand import expand
from iotsim_tui.profiles.model import Device, DeviceTemplate, Network, Subscription, Telemetry


def put_device(network: Network, device: Device, *, replacing: str | None = None) -> Network:
    """Add `device`, or put it in the place of the device with id `replacing`."""
    ids = [d.id for d in network.devices]
    if device.id in ids and device.id != replacing:
        raise ProfileError(f"a device with id {device.id!r} is already in {network.name}")
    if replacing is None or replacing not in ids:
        return replace(network, devices=(*network.devices, device))
    devices = tuple(device if d.id == replacing else d for d in network.devices)
    return replace(network, devices=devices)


def remove_device(network: Network, device_id: str) -> Network:
    """The network without the device `device_id`."""
    return replace(network, devices=tuple(d for d in network.devices if d.id != device_id))


def own_device(network: Network, device_id: str) -> Device:
    """The listed device `device_id` (not one made by a template)."""
    for device in network.devices:
        if device.id == device_id:
            return device
    raise ProfileError(f"{network.name} has no device {device_id}", title="No such device")


@dataclass(frozen=True)
class MadeByTemplate:
    """A device made by a `[[templates]]` entry: which one, and the device's number `{n}`."""

    index: int
    """The template's place in `Network.templates`."""
    template: DeviceTemplate
    number: int

    @property
    def ids(self) -> str:
        """The ids the template makes, e.g. "TS1 to TS1000"."""
        first = self.template.id.replace("{n}", str(self.template.first))
        if self.template.count == 1:
            return first
        last = self.template.id.replace("{n}", str(self.template.first + self.template.count - 1))
        return f"{first} to {last}"


def made_by_template(network: Network, device_id: str) -> MadeByTemplate | None:
    """The template that makes `device_id`, or None for a listed device."""
    if any(device.id == device_id for device in network.devices):
        return None
    for index, template in enumerate(network.templates):
        for number in range(template.first, template.first + template.count):
            if template.id.replace("{n}", str(number)) == device_id:
                return MadeByTemplate(index, template, number)
    return None


ALIKE = tuple(f.name for f in fields(Device) if f.name in {g.name for g in fields(DeviceTemplate)})
"""What a device and a device template have alike (a template adds its count and first
number): the one list the dialogs copy between them."""


def _alike(source: Device | DeviceTemplate) -> dict[str, Any]:
    return {name: getattr(source, name) for name in ALIKE}


def template_as_device(template: DeviceTemplate) -> Device:
    """A template seen as one device, `{n}` left in, for the device dialogs to edit."""
    return Device(**_alike(template))


def device_as_template(device: Device, template: DeviceTemplate | None = None) -> DeviceTemplate:
    """`template` (a new one making one device, when None) made like `device`."""
    if template is None:
        return DeviceTemplate(count=1, **_alike(device))
    return replace(template, **_alike(device))


def put_template(network: Network, index: int, template: DeviceTemplate) -> Network:
    """The network with `template` in the place of its template number `index`."""
    templates = list(network.templates)
    templates[index] = template
    return replace(network, templates=tuple(templates))


def put_template_device(network: Network, index: int, device: Device) -> Network:
    """The network with its template number `index` made like `device` (from the dialogs)."""
    template = device_as_template(device, network.templates[index])
    return put_template(network, index, template)


def remove_template(network: Network, index: int) -> Network:
    """The network without its template number `index` (and every device it makes)."""
    return replace(
        network, templates=tuple(t for i, t in enumerate(network.templates) if i != index)
    )


def split_off(network: Network, made: MadeByTemplate, *, keep: bool) -> tuple[Network, Device]:
    """Take device number `made.number` out of its template; returns the network and the device.

    The template becomes the ones before and after it (the other devices stay exactly as
    they were); with `keep` the device is listed on its own, so it can be edited alone.
    """
    template, number = made.template, made.number
    device = expand(replace(template, first=number, count=1))[0]
    parts = []
    if number > template.first:
        parts.append(replace(template, count=number - template.first))
    last = template.first + template.count - 1
    if number < last:
        parts.append(replace(template, first=number + 1, count=last - number))
    templates = (*network.templates[: made.index], *parts, *network.templates[made.index + 1 :])
    devices = (*network.devices, device) if keep else network.devices
    return replace(network, devices=devices, templates=templates), device


def add_subscription(device: Device, subscription: Subscription) -> Device:
    """The device with `subscription` added (or replacing one with the same topic)."""
    kept = tuple(s for s in device.subscribe if s.topic != subscription.topic)
    return replace(device, subscribe=(*kept, subscription))


def put_telemetry(device: Device, telemetry: Telemetry, *, replacing: int | None) -> Device:
    """The device with `telemetry` added, or in the place of its telemetry number `replacing`."""
    items = list(device.telemetry)
    if replacing is None or not 0 <= replacing < len(items):
        items.append(telemetry)
    else:
        items[replacing] = telemetry
    return replace(device, telemetry=tuple(items))


def remove_telemetry(device: Device, index: int) -> Device:
    """The device without its telemetry number `index`."""
    return replace(device, telemetry=tuple(t for i, t in enumerate(device.telemetry) if i != index))
