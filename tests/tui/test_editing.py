"""Profile edits the dialogs ask for: templates split around one device, telemetry by place."""

from __future__ import annotations

from dataclasses import replace

import pytest

from iotsim_tui.profiles.expand import devices_of
from iotsim_tui.profiles.model import Device, DeviceTemplate, Network, Subscription, Telemetry
from iotsim_tui.tui import editing
from iotsim_tui.tui.screens._checks import profile_problems

SENSORS = DeviceTemplate(
    "Sensor {n}",
    "TS{n}",
    count=4,
    first=10,
    subscribe=(Subscription("fleet/{id}/cmd"),),
    telemetry=(Telemetry("fleet/{id}/t{n}"),),
)
FLEET = Network(
    "FLEET",
    devices=(Device("Gateway", "GW1"),),
    templates=(DeviceTemplate("Pump {n}", "P{n}", count=2), SENSORS),
)


@pytest.mark.parametrize(
    ("device_id", "parts"),
    [
        ("TS10", [(11, 3)]),
        ("TS11", [(10, 1), (12, 2)]),
        ("TS13", [(10, 3)]),
    ],
)
def test_a_device_split_off_its_template_keeps_every_other_device_as_it_was(
    device_id: str, parts: list[tuple[int, int]]
) -> None:
    made = editing.made_by_template(FLEET, device_id)
    assert made is not None
    assert (made.index, made.number, made.ids) == (1, int(device_id[2:]), "TS10 to TS13")
    network, device = editing.split_off(FLEET, made, keep=True)
    assert [(t.first, t.count) for t in network.templates[1:]] == parts
    assert network.templates[0] == FLEET.templates[0]
    assert network.devices == (*FLEET.devices, device)
    assert device.id == device_id
    assert device.telemetry == (Telemetry(f"fleet/{{id}}/t{device_id[2:]}"),)
    assert sorted(devices_of(network), key=lambda d: d.id) == sorted(
        devices_of(FLEET), key=lambda d: d.id
    )
    assert profile_problems(network) == []


def test_deleting_one_device_of_a_template_leaves_the_others() -> None:
    made = editing.made_by_template(FLEET, "TS11")
    assert made is not None
    network, _ = editing.split_off(FLEET, made, keep=False)
    ids = [d.id for d in devices_of(network)]
    assert ids == ["GW1", "P1", "P2", "TS10", "TS12", "TS13"]


def test_the_only_device_of_a_template_takes_the_template_with_it() -> None:
    single = Network("ONE", templates=(DeviceTemplate("Solo", "SOLO", count=1),))
    made = editing.made_by_template(single, "SOLO")
    assert made is not None
    assert made.ids == "SOLO"
    network, device = editing.split_off(single, made, keep=True)
    assert (network.templates, network.devices) == ((), (Device("Solo", "SOLO"),))
    assert device == Device("Solo", "SOLO")


def test_a_listed_device_is_not_made_by_a_template() -> None:
    assert editing.made_by_template(FLEET, "GW1") is None
    assert editing.made_by_template(FLEET, "TS14") is None


def test_a_template_edited_as_a_device_keeps_its_count_and_numbering() -> None:
    as_device = editing.template_as_device(SENSORS)
    changed = replace(as_device, subscribe=(), description="changed")
    network = editing.put_template_device(FLEET, 1, changed)
    assert network.templates[1] == replace(SENSORS, subscribe=(), description="changed")
    assert editing.remove_template(network, 1).templates == (FLEET.templates[0],)


def test_telemetry_is_replaced_and_removed_by_its_place() -> None:
    same = Telemetry("a")
    device = Device("D", "D1", telemetry=(same, same, Telemetry("b")))
    edited = editing.put_telemetry(device, Telemetry("c"), replacing=1)
    assert [t.topic for t in edited.telemetry] == ["a", "c", "b"]
    added = editing.put_telemetry(device, Telemetry("d"), replacing=None)
    assert [t.topic for t in added.telemetry] == ["a", "a", "b", "d"]
    assert [t.topic for t in editing.remove_telemetry(device, 0).telemetry] == ["a", "b"]
