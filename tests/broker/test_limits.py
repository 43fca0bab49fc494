"""Limits per client: keepalive, queued messages and bytes, in-flight window, publish rate, and
failed logins slowed down per address."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from iotsim_tui.broker.auth import add_user
from iotsim_tui.broker.config import build_config, load_config_file
from iotsim_tui.errors import BrokerError
from iotsim_tui.protocol.packets import ConnAck, Connect, PubAck, Publish
from iotsim_tui.protocol.reasons import MQTTVersion, ReasonCode
from tests.broker.conftest import StartBroker, wait_until
from tests.broker.raw import TIMEOUT, Bytes, RawClient


async def test_max_keepalive_is_imposed_on_mqtt5_clients(start_broker: StartBroker) -> None:
    broker = await start_broker(max_keepalive=60)
    port = broker.ports["plain"]
    for asked in (600, 0):
        client, connack = await RawClient.connected(port, f"k{asked}", keepalive=asked)
        assert connack.reason_code == ReasonCode.SUCCESS
        assert connack.properties.server_keep_alive == 60
        await client.close()
    _, connack = await RawClient.connected(port, "k30", keepalive=30)
    assert connack.properties.server_keep_alive is None  # within the maximum: as asked


@pytest.mark.parametrize(
    ("limit", "keepalive", "refused"),
    [(60, 600, True), (60, 0, True), (60, 30, False), (0, 600, False), (0, 0, False)],
)
async def test_max_keepalive_refuses_mqtt311_clients_as_mosquitto_does(
    start_broker: StartBroker, limit: int, keepalive: int, refused: bool
) -> None:
    broker = await start_broker(max_keepalive=limit)
    client = await RawClient.open(broker.ports["plain"], version=4)
    connect = Bytes.connect(client_id=b"dev")  # keepalive 60 (0x3c) in bytes 10-11
    await client.send(connect[:10] + keepalive.to_bytes(2, "big") + connect[12:])
    if refused:  # 3.1.1 has no Server Keep Alive: CONNACK 2 (identifier rejected), as mosquitto
        assert await client.expect_closed() == b"\x20\x02\x00\x02"
    else:
        assert await asyncio.wait_for(client.reader.readexactly(4), TIMEOUT) == b"\x20\x02\x00\x00"


async def test_queued_bytes_bound_an_offline_session(start_broker: StartBroker) -> None:
    broker = await start_broker(max_queued_bytes=1000)
    port = broker.ports["plain"]
    device, _ = await RawClient.connected(port, "device", version=4, clean_start=False)
    await device.subscribe("cmd", 1)
    await device.close()
    await wait_until(lambda: broker.sessions["device"].connection is None, "the device to leave")
    sender, _ = await RawClient.connected(port, "sender", version=4)
    for packet_id in range(1, 6):
        await sender.publish("cmd", bytes([packet_id]) * 400, 1, packet_id=packet_id)
        await sender.expect(PubAck)
    session = broker.sessions["device"]
    assert (len(session.queue), session.queued_bytes, session.dropped) == (2, 800, 3)
    device, connack = await RawClient.connected(port, "device", version=4, clean_start=False)
    assert connack.session_present
    received = [await device.expect(Publish) for _ in range(2)]
    assert [m.payload[:1] for m in received] == [b"\x01", b"\x02"]
    assert session.queued_bytes == 0


async def test_max_inflight_messages_from_a_config_file(
    start_broker: StartBroker, tmp_path: Path
) -> None:
    path = tmp_path / "broker.toml"
    path.write_text("[broker]\nmax_inflight_messages = 2\nrequire_certificate = false\n")
    settings = load_config_file(path)
    assert settings == {"max_inflight": 2, "require_client_cert": False}
    broker = await start_broker(**settings)
    port = broker.ports["plain"]
    device, _ = await RawClient.connected(port, "device", version=4)
    await device.subscribe("cmd", 1)
    sender, _ = await RawClient.connected(port, "sender", version=4)
    for n in range(3):
        await sender.publish("cmd", b"%d" % n, 1, packet_id=n + 1)
        await sender.expect(PubAck)
    first = [await device.expect(Publish) for _ in range(2)]
    assert await device.silent(0.3)  # the third waits for an acknowledgement
    await device.send(Bytes.packet(0x40, first[0].packet_id.to_bytes(2, "big")))
    third = await device.expect(Publish)
    assert [m.payload for m in first] + [third.payload] == [b"0", b"1", b"2"]


async def test_a_client_over_its_publish_rate_is_read_later_not_dropped(
    start_broker: StartBroker,
) -> None:
    broker = await start_broker(max_publish_rate=20)
    port = broker.ports["plain"]
    listener, _ = await RawClient.connected(port, "listener", version=4)
    await listener.subscribe("t", 0)
    talker, _ = await RawClient.connected(port, "talker", version=4)
    started = time.monotonic()
    await talker.send(
        b"".join(Bytes.packet(0x30, Bytes.string(b"t") + b"%d" % n) for n in range(30))
    )
    payloads = [(await listener.expect(Publish)).payload for _ in range(30)]
    elapsed = time.monotonic() - started
    assert payloads == [b"%d" % n for n in range(30)]  # all of them, in order
    # A burst of 20, then 20 a second: the last 10 take about half a second.
    assert elapsed >= 0.4, f"30 messages at 20/s went through in {elapsed:.2f} s"


async def test_failed_logins_from_one_address_wait_longer_each_time(
    start_broker: StartBroker, tmp_path: Path
) -> None:
    password_file = tmp_path / "passwd"
    add_user(password_file, "alice", b"right")
    broker = await start_broker(password_file=password_file, failed_login_delay=0.2)
    port = broker.ports["plain"]

    async def login(password: bytes) -> int:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=("127.0.0.3", 0)
        )
        client = RawClient(reader, writer, 5)
        await client.send_packet(
            Connect("dev", MQTTVersion.V5, username="alice", password=password)
        )
        code = (await client.expect(ConnAck)).reason_code
        await client.close()
        return code

    waits = []
    for _ in range(3):
        assert await login(b"wrong") == ReasonCode.BAD_USER_NAME_OR_PASSWORD
        waits.append(broker.logins.last_wait["127.0.0.3"])
    assert waits[0] < 0.1  # the first try is not delayed
    assert waits[1] >= 0.15  # 0.2 s after one failure
    assert waits[2] >= 0.35  # 0.4 s after two
    assert broker.logins.backoff("127.0.0.3") == pytest.approx(0.8)
    assert broker.logins.backoff("127.0.0.4") == 0  # other addresses are not slowed
    assert await login(b"right") == ReasonCode.SUCCESS
    assert broker.logins.backoff("127.0.0.3") == 0  # a success clears the failures


def test_mosquitto_names_and_old_names_are_both_read(tmp_path: Path) -> None:
    path = tmp_path / "broker.toml"
    path.write_text(
        '[broker]\nlistener = "1884 127.0.0.2"\nacl_file = "acl.txt"\n'
        "max_queued_messages = 10\nmax_queued_bytes = 4096\nmax_keepalive = 120\n"
    )
    config = build_config(load_config_file(path), {})
    assert (config.port, config.bind) == (1884, "127.0.0.2")
    assert config.acl_file == tmp_path / "acl.txt"
    assert (config.max_queued_messages, config.max_queued_bytes) == (10, 4096)
    path.write_text("[broker]\nmax_inflight = 5\nmax_inflight_messages = 6\n")
    with pytest.raises(BrokerError, match=r"the same setting is also given as max_inflight$"):
        load_config_file(path)
    path.write_text('[broker]\nport = 1883\nlistener = "1884"\n')
    with pytest.raises(BrokerError, match=r"listener: the same setting is also given as port$"):
        load_config_file(path)
    path.write_text('[broker]\nlistener = "1884 a b"\n')
    with pytest.raises(BrokerError, match='expected a port or "PORT ADDRESS"'):
        load_config_file(path)
