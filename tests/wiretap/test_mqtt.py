"""MQTT in clear as the eavesdrop view shows it: every packet, credentials marked exposed."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from iotsim_tui.protocol.codec import encode
from iotsim_tui.protocol.packets import Connect, PingReq, Publish
from iotsim_tui.protocol.reasons import MQTTVersion
from iotsim_tui.wiretap import Direction, Eavesdrop, WireItem
from iotsim_tui.wiretap.dissect import ConnectionDissector
from iotsim_tui.wiretap.items import DecodeBudget
from iotsim_tui.wiretap.mqtt import MAX_DISSECTED
from iotsim_tui.wiretap.store import Chunk
from tests.support.mosquitto import RunningMosquitto
from tests.wiretap.sessions import ALERT, PASSWORD, TOPIC, USERNAME, lab_session, settled
from tests.wiretap.test_tls import replay_byte_by_byte

BROKER = ("127.0.0.1", 1883)


def mqtt_lines(items: list[WireItem]) -> list[tuple[str, str]]:
    return [(i.direction.arrow, i.summary) for i in items if i.protocol == "MQTT"]


def field(item: WireItem, name: str) -> str:
    return next(f.value for f in item.fields if f.name == name)


@pytest.mark.slow
async def test_the_lab_session_in_clear_shows_every_packet(mosquitto: RunningMosquitto) -> None:
    async with Eavesdrop(target=(mosquitto.host, mosquitto.port)) as tap:
        await lab_session(tap)
        items = tap.items()
        (info,) = tap.connections()

    assert info.protocol == "MQTT"
    lines = mqtt_lines(items)
    assert lines[:3] == [
        ("→", f"CONNECT client id TS1, user {USERNAME}, password in clear"),
        ("←", "CONNACK accepted"),
        ("→", f"SUBSCRIBE {TOPIC} (QoS 1)"),
    ]
    assert ("←", "SUBACK id 1: QoS 1") in lines
    assert ("→", f"PUBLISH {TOPIC}: {ALERT}") in lines
    assert ("←", f"PUBLISH {TOPIC}: {ALERT}") in lines
    assert sorted(s for _, s in lines if s.startswith("PUBACK")) == ["PUBACK id 1", "PUBACK id 2"]
    assert lines[-1] == ("→", "DISCONNECT")

    connect = next(i for i in items if i.summary.startswith("CONNECT"))
    assert connect.exposed
    exposed = {f.name: f.value for f in connect.fields if f.exposed}
    assert exposed == {
        "User name": USERNAME,
        "Password": f"{len(PASSWORD)} bytes in clear (hidden here)",
    }
    assert PASSWORD.encode() not in connect.data
    assert connect.data.endswith(b"*" * len(PASSWORD))
    assert field(connect, "Protocol") == "MQTT 3.1.1"
    publish = next(
        i for i in items if i.direction is Direction.TO_DEVICE and "PUBLISH" in i.summary
    )
    assert field(publish, "Payload") == f"{len(ALERT)} bytes: {ALERT}"
    assert ALERT.encode() in publish.data
    assert mqtt_lines(replay_byte_by_byte(tap)) == lines


@pytest.mark.slow
async def test_mosquitto_clients_speaking_mqtt_5_with_qos_2(mosquitto: RunningMosquitto) -> None:
    binary = shutil.which("mosquitto_pub")
    if binary is None:
        pytest.skip("mosquitto-clients is not installed")
    async with Eavesdrop(target=(mosquitto.host, mosquitto.port)) as tap:
        host, port = tap.endpoint
        process = await asyncio.create_subprocess_exec(
            binary, "-h", host, "-p", str(port), "-V", "5", "-q", "2", "-i", "pub-1",
            "-t", "lab/qos2", "-m", "exactly once",
        )  # fmt: skip
        assert await asyncio.wait_for(process.wait(), 20) == 0
        await settled(tap)
        items = tap.items()
    lines = [s for _, s in mqtt_lines(items)]
    assert lines[0] == "CONNECT client id pub-1"
    connect = items[1]
    assert field(connect, "Protocol") == "MQTT 5.0"
    assert not connect.exposed
    assert lines[1] == "CONNACK success"
    assert lines[2] == "PUBLISH lab/qos2: exactly once"
    assert lines[3:6] == ["PUBREC id 1", "PUBREL id 1", "PUBCOMP id 1"]
    assert lines[6] == "DISCONNECT normal disconnection"


def feed_all(dissector: ConnectionDissector, direction: Direction, data: bytes) -> list[WireItem]:
    return dissector.feed(Chunk(1.0, direction, data))


def test_garbage_after_a_good_packet_is_shown_as_malformed_then_data() -> None:
    dissector = ConnectionDissector(1, ("127.0.0.1", 5000), BROKER)
    connect = encode(Connect(client_id="TS1"), MQTTVersion.V311)
    items = feed_all(dissector, Direction.TO_BROKER, connect + b"\x00\x02zz")
    items += feed_all(dissector, Direction.TO_BROKER, encode(PingReq(), MQTTVersion.V311))
    assert items[0].summary == "CONNECT client id TS1"
    assert items[1].summary.startswith("Malformed MQTT: ")
    assert [i.protocol for i in items[2:]] == ["Data"] * (len(items) - 2)
    assert items[-1].summary == "Data, 2 bytes"


def test_a_publish_too_large_to_decode_is_described_and_skipped() -> None:
    dissector = ConnectionDissector(1, ("127.0.0.1", 5000), BROKER)
    feed_all(dissector, Direction.TO_BROKER, encode(Connect(client_id="TS1"), MQTTVersion.V311))
    big = encode(Publish(topic="lab/big", payload=b"x" * (MAX_DISSECTED + 10)), MQTTVersion.V311)
    after = encode(Publish(topic="lab/small", payload=b"ok"), MQTTVersion.V311)
    stream = big + after
    items: list[WireItem] = []
    for start in range(0, len(stream), 65_536):
        items += feed_all(dissector, Direction.TO_BROKER, stream[start : start + 65_536])
    assert [i.summary for i in items] == [
        f"PUBLISH lab/big ({len(big):,} bytes)",
        "PUBLISH lab/small: ok",
    ]
    assert items[0].size == len(big)
    assert len(items[0].data) <= 64


def test_a_binary_payload_is_previewed_in_hex() -> None:
    dissector = ConnectionDissector(1, ("127.0.0.1", 5000), BROKER)
    connect = Connect(client_id="TS1", protocol_level=MQTTVersion.V5)
    feed_all(dissector, Direction.TO_BROKER, encode(connect, MQTTVersion.V5))
    publish = encode(Publish(topic="raw", payload=b"\xff\x00\x10"), MQTTVersion.V5)
    (item,) = feed_all(dissector, Direction.TO_DEVICE, publish)
    assert item.summary == "PUBLISH raw: ff 00 10"


def test_past_the_decode_budget_packets_are_counted_then_reported() -> None:
    now = [0.0]
    budget = DecodeBudget(10, clock=lambda: now[0])
    dissector = ConnectionDissector(1, ("127.0.0.1", 5000), BROKER, budget=budget)
    connect = encode(Connect(client_id="TS1"), MQTTVersion.V311)
    publish = encode(Publish(topic="lab/flood", payload=b"x"), MQTTVersion.V311)
    flood = feed_all(dissector, Direction.TO_BROKER, connect + publish * 100)
    assert len(flood) == 10  # the CONNECT and 9 PUBLISH, then the budget is spent
    now[0] = 1.0
    (note, after) = feed_all(dissector, Direction.TO_BROKER, publish)
    assert note.summary == f"… 91 packets, {91 * len(publish):,} bytes, not decoded"
    assert after.summary == "PUBLISH lab/flood: x"


def test_counts_of_one_are_singular() -> None:
    dissector = ConnectionDissector(1, ("127.0.0.1", 5000), BROKER)
    connect = Connect(client_id="TS1", username="u", password=b"p")
    (login,) = feed_all(dissector, Direction.TO_BROKER, encode(connect, MQTTVersion.V311))
    assert field(login, "Password") == "1 byte in clear (hidden here)"
    assert field(login, "Warning") == "credentials exposed: anyone on the path reads them"
    publish = encode(Publish(topic="t", payload=b"x"), MQTTVersion.V311)
    (item,) = feed_all(dissector, Direction.TO_DEVICE, publish)
    assert field(item, "Payload") == "1 byte: x"
    stranger = ConnectionDissector(2, ("127.0.0.1", 5001), BROKER)
    (garbage,) = feed_all(stranger, Direction.TO_BROKER, b"?")
    assert garbage.summary == "Data, 1 byte"


def test_one_packet_past_the_budget_is_singular() -> None:
    now = [0.0]
    dissector = ConnectionDissector(
        1, ("127.0.0.1", 5000), BROKER, budget=DecodeBudget(1, clock=lambda: now[0])
    )
    connect = encode(Connect(client_id="TS1"), MQTTVersion.V311)
    publish = encode(Publish(topic="lab/flood", payload=b"x"), MQTTVersion.V311)
    feed_all(dissector, Direction.TO_BROKER, connect + publish)
    now[0] = 1.0
    (note, _) = feed_all(dissector, Direction.TO_BROKER, publish)
    assert note.summary == f"… 1 packet, {len(publish)} bytes, not decoded"


def test_an_attackers_connect_is_marked() -> None:
    dissector = ConnectionDissector(1, ("127.0.0.1", 5000), BROKER)
    connect = encode(Connect(client_id="attacker-wildcard"), MQTTVersion.V5)
    [item] = feed_all(dissector, Direction.TO_BROKER, connect)
    assert item.summary == "⚠ attacker: CONNECT client id attacker-wildcard"
    assert item.exposed
