"""Which client ids two open networks would share on one broker."""

from __future__ import annotations

from dataclasses import replace

from iotsim_tui.engine.events import DeviceStatus
from iotsim_tui.profiles.model import BrokerSettings, Device, Network
from iotsim_tui.tui.client_ids import clash_message, clashes
from iotsim_tui.tui.session import OpenNetwork

LAB = Network(
    "LAB",
    broker=BrokerSettings(host="127.0.0.1", port=21883),
    devices=(Device("Temperature_Sensor", "TS1"), Device("Humidity_Sensor", "HS1")),
)


def _running(network: Network, *device_ids: str, key: str = "a") -> OpenNetwork:
    opened = OpenNetwork(key, network, None, dirty=False)
    for device_id in device_ids:
        opened.records[device_id].status = DeviceStatus.CONNECTED
    return opened


def test_only_running_devices_on_the_same_broker_clash() -> None:
    running = _running(LAB, "TS1")
    starting = OpenNetwork("b", replace(LAB, name="OTHER"), None, dirty=False)
    found = clashes(starting, None, [running, starting])
    assert [(c.client_id, c.other) for c in found] == [("TS1", running)]
    assert clashes(starting, ["HS1"], [running, starting]) == []
    assert clash_message(starting, found, [running, starting]).startswith(
        "OTHER was not started: client id TS1 is already in use on 127.0.0.1:21883 by LAB, "
        "which is running."
    )


def test_localhost_and_127_0_0_1_are_one_broker_but_another_port_is_not() -> None:
    running = _running(LAB, "TS1", "HS1")
    local = replace(LAB, broker=replace(LAB.broker, host="localhost"))
    assert len(clashes(OpenNetwork("b", local, None, dirty=False), None, [running])) == 2
    elsewhere = replace(LAB, broker=replace(LAB.broker, port=21884))
    assert clashes(OpenNetwork("c", elsewhere, None, dirty=False), None, [running]) == []


def test_a_client_id_prefix_tells_the_clients_apart() -> None:
    running = _running(LAB, "TS1", "HS1")
    prefixed = replace(LAB, broker=replace(LAB.broker, client_id_prefix="b-"))
    assert clashes(OpenNetwork("b", prefixed, None, dirty=False), None, [running]) == []


def test_a_running_network_keeps_the_settings_it_started_with() -> None:
    running = _running(LAB, "TS1")
    running.running = LAB
    running.network = replace(LAB, broker=replace(LAB.broker, client_id_prefix="x-"))
    starting = OpenNetwork("b", LAB, None, dirty=False)
    assert [c.client_id for c in clashes(starting, None, [running])] == ["TS1"]


def test_many_ids_are_counted_and_both_networks_named() -> None:
    devices = tuple(Device(f"Sensor {n}", f"S{n}") for n in range(1, 6))
    network = replace(LAB, devices=devices)
    running = _running(network, *(d.id for d in devices))
    starting = OpenNetwork("b", replace(network, name="COPY"), None, dirty=False)
    message = clash_message(starting, clashes(starting, None, [running]), [running])
    assert "client ids S1, S2, S3 and 2 more are already in use" in message
    assert "Stop them in LAB first" in message
