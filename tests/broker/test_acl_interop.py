"""One ACL file, two brokers: mosquitto and the bundled broker let the same messages through.

Compared: which PUBLISH packets are accepted (5.0 PUBACK below 0x80), and which messages reach
a subscriber. Not compared: the SUBACK itself. mosquitto 2.0 grants every subscription and
filters on delivery; the bundled broker also refuses, in the SUBACK, a filter no `read` rule
covers (see docs/broker.md), so a client learns at once what it will never receive.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from iotsim_tui.protocol.packets import ConnAck, Connect, PubAck, Publish, SubAck, Will
from iotsim_tui.protocol.reasons import MQTTVersion
from tests.broker.conftest import StartBroker
from tests.broker.raw import RawClient
from tests.support.mosquitto import mosquitto_path, run_mosquitto

ACL = """\
topic read public/#

user admin
topic readwrite #

user alice
topic readwrite home/#
topic deny home/secret/#
topic write alarms/fire

user bob
topic read home/+/light

pattern write devices/%c/status
pattern read commands/%u/#
pattern read marker/%c
"""

# (user, client id, "sub" or "pub", topic or filter)
CASES = [
    (None, "anon", "sub", "public/#"),
    (None, "anon", "sub", "home/#"),
    (None, "anon", "pub", "public/news"),
    (None, "TS1", "pub", "devices/TS1/status"),
    (None, "TS1", "pub", "devices/TS2/status"),
    ("alice", "a1", "sub", "home/#"),
    ("alice", "a1", "sub", "home/secret/#"),
    ("alice", "a1", "sub", "alarms/fire"),
    ("alice", "a1", "pub", "home/door"),
    ("alice", "a1", "pub", "home/secret/code"),
    ("alice", "a1", "pub", "alarms/fire"),
    ("alice", "a1", "pub", "public/news"),
    ("bob", "b1", "sub", "home/+/light"),
    ("bob", "b1", "sub", "home/kitchen/light"),
    ("bob", "b1", "sub", "home/#"),
    ("bob", "b1", "sub", "commands/bob/#"),
    ("bob", "b1", "sub", "commands/alice/#"),
    ("bob", "b1", "pub", "home/kitchen/light"),
    ("bob", "b1", "pub", "devices/b1/status"),
]


async def _wills(port: int, version: int) -> list[int]:
    """The CONNACK code for a will on a topic the client may write, then on one it may not."""
    codes = []
    for topic in ("devices/w1/status", "devices/other/status"):
        client = await RawClient.open(port, version=version)
        will = Will(topic, b"gone")
        await client.send_packet(Connect("w1", MQTTVersion(version), will=will))
        codes.append(int((await client.expect(ConnAck)).reason_code))
        await client.close()
    return codes


async def _outcomes(port: int, version: int) -> list[bool]:
    """For each case: True when the message went through (published, or delivered)."""
    admin, _ = await RawClient.connected(port, "admin", version=version, username="admin")
    allowed = []
    for user, client_id, action, topic in CASES:
        client, connack = await RawClient.connected(port, client_id, version=version, username=user)
        assert connack.reason_code == 0
        if action == "sub":
            for topic_filter in (topic, f"marker/{client_id}"):
                assert isinstance(await client.subscribe(topic_filter, 0), SubAck)
            probe = topic.replace("+", "x").replace("#", "x")
            await admin.publish(probe, b"probe")
            await admin.publish(f"marker/{client_id}", b"marker")
            # The probe comes first if it comes at all (one publisher, QoS 0: in order).
            first = await client.expect(Publish)
            allowed.append(first.payload == b"probe")
        else:
            await client.publish(topic, b"x", 1, packet_id=5)
            puback = await client.expect(PubAck)
            allowed.append(puback.reason_code < 0x80)
        await client.close()
    return allowed


@pytest.mark.skipif(mosquitto_path() is None, reason="mosquitto is not installed")
@pytest.mark.parametrize("version", [4, 5])
async def test_mosquitto_and_the_bundled_broker_read_an_acl_file_alike(
    start_broker: StartBroker, tmp_path: Path, version: int
) -> None:
    acl = tmp_path / "acl.txt"
    acl.write_text(ACL)
    port = (await start_broker(acl_file=acl)).ports["plain"]
    ours, our_wills = await _outcomes(port, version), await _wills(port, version)
    with run_mosquitto(tmp_path, extra_config=f"acl_file {acl}\n") as mosquitto:  # 2.0.11 here
        theirs = await _outcomes(mosquitto.port, version)
        their_wills = await _wills(mosquitto.port, version)
    assert our_wills == their_wills == [0, 0]  # a forbidden will is dropped, not refused
    differ = [case for case, a, b in zip(CASES, ours, theirs, strict=True) if a != b]
    assert not differ, f"ours {ours}\ntheirs {theirs}\ndiffer: {differ}"
    assert any(ours)
    assert not all(ours)
