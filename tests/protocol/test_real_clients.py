"""Bytes written by real clients (mosquitto_pub / mosquitto_sub) parse, and re-encode exactly.

A tiny asyncio server on a free loopback port plays broker with the codec: it answers CONNECT,
SUBSCRIBE and PUBLISH so the clients go on, and records every byte that arrives.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field

import pytest

from iotsim_tui.protocol.codec import PacketReader, encode
from iotsim_tui.protocol.packets import (
    ConnAck,
    Connect,
    ConnectReturnCode,
    Disconnect,
    MQTTVersion,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    ReasonCode,
    SubAck,
    Subscribe,
    SubscriptionRequest,
    UnsubAck,
    Unsubscribe,
    Will,
)
from iotsim_tui.protocol.properties import Properties

pytestmark = pytest.mark.skipif(
    shutil.which("mosquitto_pub") is None, reason="mosquitto-clients is not installed"
)

TIMEOUT = 20.0


@dataclass
class Recorder:
    """What one client connection sent, and what the server should push after SUBACK."""

    push: Publish | None = None
    raw: bytearray = field(default_factory=bytearray)
    packets: list[Packet] = field(default_factory=list)
    version: MQTTVersion | None = None


async def _serve_one(
    recorder: Recorder, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    parser = PacketReader()
    try:
        while data := await reader.read(65536):
            recorder.raw += data
            for packet in parser.feed(data):
                recorder.packets.append(packet)
                version = parser.version
                assert version is not None
                recorder.version = version
                for answer in _answers(packet, version, recorder.push):
                    writer.write(encode(answer, version))
                await writer.drain()
                if isinstance(packet, Disconnect):
                    return
    finally:
        writer.close()


def _answers(packet: Packet, version: MQTTVersion, push: Publish | None) -> list[Packet]:
    if isinstance(packet, Connect):
        ok = ReasonCode.SUCCESS if version == MQTTVersion.V5 else ConnectReturnCode.ACCEPTED
        return [ConnAck(False, ok)]
    if isinstance(packet, Subscribe):
        granted = tuple(ReasonCode(request.qos) for request in packet.subscriptions)
        return [SubAck(packet.packet_id, granted), *([push] if push else [])]
    if isinstance(packet, Publish) and packet.qos:
        return [PubAck(packet.packet_id) if packet.qos == 1 else PubRec(packet.packet_id)]
    if isinstance(packet, PubRel):
        return [PubComp(packet.packet_id)]
    if isinstance(packet, PubRec):
        return [PubRel(packet.packet_id)]
    if isinstance(packet, Unsubscribe):
        return [UnsubAck(packet.packet_id, (ReasonCode.SUCCESS,) * len(packet.topic_filters))]
    if isinstance(packet, PingReq):
        return [PingResp()]
    return []


async def _run_client(argv: list[str], push: Publish | None = None) -> tuple[Recorder, str]:
    recorder = Recorder(push)
    server = await asyncio.start_server(
        lambda r, w: _serve_one(recorder, r, w), host="127.0.0.1", port=0
    )
    port = server.sockets[0].getsockname()[1]
    async with server:
        process = await asyncio.create_subprocess_exec(
            *argv[:1],
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            *argv[1:],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, stderr.decode()
    return recorder, stdout.decode()


def _assert_reencodes(recorder: Recorder) -> None:
    """Our encoding of what we parsed is byte for byte what the client wrote."""
    assert recorder.version is not None
    again = b"".join(encode(packet, recorder.version) for packet in recorder.packets)
    assert again == bytes(recorder.raw)


@pytest.mark.parametrize(("flag", "version"), [("mqttv311", 4), ("mqttv5", 5)])
async def test_mosquitto_pub_qos1_with_will_and_login(flag: str, version: int) -> None:
    recorder, _ = await _run_client(
        ["mosquitto_pub", "-V", flag, "-i", "TS1", "-t", "High_Tempe", "-q", "1", "-k", "30",
         "-m", "Alert for High Temperature", "-u", "operator", "-P", "s3cret",
         "--will-topic", "devices/TS1/status", "--will-payload", "offline",
         "--will-qos", "1", "--will-retain"]
    )  # fmt: skip
    connect, publish, disconnect = recorder.packets
    assert connect == Connect(
        client_id="TS1",
        protocol_level=MQTTVersion(version),
        keepalive=30,
        will=Will("devices/TS1/status", b"offline", 1, True),
        username="operator",
        password=b"s3cret",
        # mosquitto_pub 5.0 announces how many QoS 1/2 messages it takes in flight
        properties=Properties(receive_maximum=20) if version == 5 else Properties(),
    )
    assert publish == Publish("High_Tempe", b"Alert for High Temperature", 1, packet_id=1)
    assert disconnect == Disconnect()
    _assert_reencodes(recorder)


async def test_mosquitto_pub_speaks_3_1_as_mqisdp() -> None:
    recorder, _ = await _run_client(
        ["mosquitto_pub", "-V", "mqttv31", "-i", "old-device", "-t", "legacy/t", "-m", "hi"]
    )
    connect, publish, disconnect = recorder.packets
    assert connect == Connect(
        client_id="old-device", protocol_level=MQTTVersion.V31, protocol_name="MQIsdp"
    )
    assert publish == Publish("legacy/t", b"hi")
    assert disconnect == Disconnect()
    _assert_reencodes(recorder)


async def test_mosquitto_pub_v5_properties() -> None:
    recorder, _ = await _run_client(
        ["mosquitto_pub", "-V", "mqttv5", "-i", "props", "-t", "sensors/🌡/1", "-q", "2",
         "-m", "21.5", "-D", "connect", "session-expiry-interval", "120",
         "-D", "connect", "receive-maximum", "10",
         "-D", "publish", "message-expiry-interval", "30",
         "-D", "publish", "content-type", "text/plain",
         "-D", "publish", "user-property", "unit", "celsius",
         "-D", "publish", "user-property", "unit", "kelvin"]
    )  # fmt: skip
    connect, publish, pubrel, disconnect = recorder.packets
    assert isinstance(connect, Connect)
    assert connect.properties == Properties(session_expiry_interval=120, receive_maximum=10)
    assert publish == Publish(
        "sensors/🌡/1",
        b"21.5",
        2,
        packet_id=1,
        properties=Properties(
            message_expiry_interval=30,
            content_type="text/plain",
            user_properties=(("unit", "celsius"), ("unit", "kelvin")),
        ),
    )
    assert pubrel == PubRel(1)
    assert disconnect == Disconnect()
    _assert_reencodes(recorder)


@pytest.mark.parametrize(("flag", "version"), [("mqttv311", 4), ("mqttv5", 5)])
async def test_mosquitto_sub_receives_what_we_encode(flag: str, version: int) -> None:
    push = Publish("High_Tempe", "This is second alert 🔥".encode(), 0)
    recorder, stdout = await _run_client(
        ["mosquitto_sub", "-V", flag, "-i", "console", "-t", "High_Tempe", "-t", "a/+/c",
         "-q", "2", "-C", "1", "-W", "15"],
        push=push,
    )  # fmt: skip
    assert stdout == "This is second alert 🔥\n"
    connect, subscribe, disconnect = recorder.packets
    assert isinstance(connect, Connect)
    assert connect.protocol_level == version
    assert subscribe == Subscribe(
        1, (SubscriptionRequest("High_Tempe", 2), SubscriptionRequest("a/+/c", 2))
    )
    assert disconnect == Disconnect()
    _assert_reencodes(recorder)


async def test_mosquitto_sub_reads_our_qos2_retained_message_with_properties() -> None:
    push = Publish(
        "devices/TS1/config",
        b'{"interval": 5}',
        qos=2,
        retain=True,
        packet_id=9,
        properties=Properties(
            payload_format_indicator=1,
            content_type="application/json",
            user_properties=(("from", "console"),),
        ),
    )
    recorder, stdout = await _run_client(
        ["mosquitto_sub", "-V", "mqttv5", "-i", "TS1", "-t", "devices/TS1/#", "-q", "2",
         "-C", "1", "-W", "15", "-F", "%t|%q|%r|%C|%P|%p"],
        push=push,
    )  # fmt: skip
    assert stdout == 'devices/TS1/config|2|1|application/json|from:console|{"interval": 5}\n'
    # The client answered our PUBLISH with PUBREC and our PUBREL with PUBCOMP.
    assert [p for p in recorder.packets if isinstance(p, PubRec | PubComp)] == [
        PubRec(9),
        PubComp(9),
    ]
    _assert_reencodes(recorder)


async def test_mosquitto_sub_v5_subscribe_and_unsubscribe_properties() -> None:
    recorder, _ = await _run_client(
        ["mosquitto_sub", "-V", "mqttv5", "-i", "console", "-t", "devices/+/status", "-q", "1",
         "-U", "old/#", "-E",
         "-D", "subscribe", "subscription-identifier", "300",
         "-D", "subscribe", "user-property", "role", "console",
         "-D", "unsubscribe", "user-property", "why", "moved"]
    )  # fmt: skip
    subscribes = [p for p in recorder.packets if isinstance(p, Subscribe)]
    unsubscribes = [p for p in recorder.packets if isinstance(p, Unsubscribe)]
    assert subscribes == [
        Subscribe(
            subscribes[0].packet_id,
            (SubscriptionRequest("devices/+/status", 1),),
            Properties(subscription_identifiers=(300,), user_properties=(("role", "console"),)),
        )
    ]
    assert unsubscribes == [
        Unsubscribe(
            unsubscribes[0].packet_id, ("old/#",), Properties(user_properties=(("why", "moved"),))
        )
    ]
    _assert_reencodes(recorder)
