"""Edits of a network profile, as the dialogs ask for them: each returns a new `Network`."""

from __future__ import annotations

from dataclasses import replace

from iotsim_tui.errors import ProfileError
from iotsim_tui.profiles.model import Device, Network, Subscription, Telemetry


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
    """The listed device `device_id`; a device made by a template cannot be edited alone."""
    for device in network.devices:
        if device.id == device_id:
            return device
    raise ProfileError(
        f"{device_id} is made by a device template; edit the template in the profile file",
        title="Cannot edit here",
    )


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
