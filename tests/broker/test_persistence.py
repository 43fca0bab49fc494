"""Durable state in the broker process: what survives a restart, sync acks, the periodic write."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from iotsim_tui.broker.config import BrokerConfig
from iotsim_tui.broker.persist_load import Loaded
from iotsim_tui.broker.server import Broker
from iotsim_tui.broker.store_log import FILE_NAME
from iotsim_tui.errors import BrokerError
from iotsim_tui.protocol.codec import encode
from iotsim_tui.protocol.packets import (
    ConnAck,
    Disconnect,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Will,
)
from iotsim_tui.protocol.properties import Properties
from iotsim_tui.protocol.reasons import ReasonCode
from tests.broker.conftest import StartBroker, wait_until
from tests.broker.raw import RawClient

VERSIONS = pytest.mark.parametrize("version", [4, 5], ids=["3.1.1", "5.0"])


def on_disk(folder: Path) -> Loaded:
    """What the data file holds now, read as the broker reads it at start."""
    loaded = Loaded()
    assert loaded.read((folder / FILE_NAME).read_bytes()) is None
    return loaded


def payloads_on_disk(folder: Path, client_id: str) -> list[bytes]:
    """The payloads queued or in flight to `client_id` according to the data file."""
    loaded = on_disk(folder)
    deliveries = loaded.deliveries.get(client_id, {})
    return [loaded.messages[deliveries[dno][0]][1] for dno in sorted(deliveries)]


async def persistent(port: int, client_id: str, version: int) -> tuple[RawClient, ConnAck]:
    """Connect with a session that outlives the connection (3.1.1 clean 0, 5.0 expiry 300)."""
    properties = Properties(session_expiry_interval=300) if version == 5 else Properties()
    return await RawClient.connected(
        port, client_id, version=version, clean_start=False, properties=properties
    )


def durable(folder: Path, mode: str = "sync", **settings: Any) -> dict[str, Any]:
    return {"persistence": mode, "persistence_location": folder, **settings}


@VERSIONS
async def test_sessions_queued_messages_and_retained_survive_a_restart(
    start_broker: StartBroker, tmp_path: Path, version: int
) -> None:
    first = await start_broker(**durable(tmp_path))
    port = first.ports["plain"]
    subscriber, connack = await persistent(port, "sub", version)
    assert not connack.session_present
    await subscriber.subscribe("d/#", 1)
    await subscriber.close()
    await wait_until(lambda: first.sessions["sub"].connection is None, "the subscriber to leave")
    publisher, _ = await RawClient.connected(port, "pub", version=version)
    for number in range(1, 4):
        await publisher.publish("d/t", f"m{number}".encode(), 1, packet_id=number)
        assert (await publisher.expect(PubAck)).packet_id == number
    await publisher.publish("d/config", b"retained", 1, retain=True, packet_id=9)
    await publisher.expect(PubAck)
    await publisher.close()
    await first.stop()

    second = await start_broker(**durable(tmp_path))
    port = second.ports["plain"]
    subscriber, connack = await persistent(port, "sub", version)
    assert connack.session_present
    received = [await subscriber.expect(Publish) for _ in range(4)]
    assert [p.payload for p in received] == [b"m1", b"m2", b"m3", b"retained"]
    for packet in received:
        await subscriber.send_packet(PubAck(packet.packet_id))
    # The subscription itself came back: a new message reaches it.
    publisher, _ = await RawClient.connected(port, "pub", version=version)
    await publisher.publish("d/t", b"after", 1)
    await publisher.expect(PubAck)
    assert (await subscriber.expect(Publish)).payload == b"after"
    late, _ = await RawClient.connected(port, "late", version=version)
    await late.subscribe("d/config", 0)
    assert (await late.expect(Publish)).payload == b"retained"


async def test_in_flight_qos2_comes_back_with_its_packet_id_and_dup(
    start_broker: StartBroker, tmp_path: Path
) -> None:
    first = await start_broker(**durable(tmp_path))
    port = first.ports["plain"]
    subscriber, _ = await persistent(port, "sub2", 4)
    await subscriber.subscribe("q2", 2)
    publisher, _ = await RawClient.connected(port, "pub", version=4)
    await publisher.publish("q2", b"once", 2, packet_id=5)
    await publisher.expect(PubRec)
    await publisher.send_packet(PubRel(5))
    await publisher.expect(PubComp)
    await publisher.publish("q2", b"twice", 2, packet_id=6)
    await publisher.expect(PubRec)  # no PUBREL: the broker keeps awaiting it
    sent = await subscriber.expect(Publish)
    assert (sent.payload, sent.dup) == (b"once", False)
    second_sent = await subscriber.expect(Publish)
    assert second_sent.payload == b"twice"
    await subscriber.send_packet(PubRec(sent.packet_id))
    await subscriber.expect(PubRel)  # PUBREL sent, PUBCOMP not yet: "released"
    await first.stop()

    second = await start_broker(**durable(tmp_path))
    port = second.ports["plain"]
    subscriber, connack = await persistent(port, "sub2", 4)
    assert connack.session_present
    first_back = await subscriber.expect(PubRel)
    assert first_back.packet_id == sent.packet_id
    again = await subscriber.expect(Publish)
    assert (again.payload, again.packet_id, again.dup) == (b"twice", second_sent.packet_id, True)
    # The publisher's QoS 2 exchange is remembered too: its PUBREL completes, with no copy.
    publisher, connack = await RawClient.connected(port, "pub", version=4)
    await publisher.send_packet(PubRel(6))
    assert (await publisher.expect(PubComp)).packet_id == 6


async def test_the_publishers_qos2_exchange_survives(
    start_broker: StartBroker, tmp_path: Path
) -> None:
    first = await start_broker(**durable(tmp_path))
    port = first.ports["plain"]
    publisher, _ = await persistent(port, "pub2", 5)
    await publisher.publish("x", b"x", 2, packet_id=7)
    await publisher.expect(PubRec)
    await first.stop()
    second = await start_broker(**durable(tmp_path))
    assert second.sessions["pub2"].awaiting_release == {7}
    publisher, _ = await persistent(second.ports["plain"], "pub2", 5)
    await publisher.publish("x", b"x", 2, packet_id=7)  # the resend: acknowledged, not routed
    assert (await publisher.expect(PubRec)).packet_id == 7
    await publisher.send_packet(PubRel(7))
    assert (await publisher.expect(PubComp)).reason_code == ReasonCode.SUCCESS


async def test_a_clean_session_is_not_kept_and_an_ended_session_is_forgotten(
    start_broker: StartBroker, tmp_path: Path
) -> None:
    first = await start_broker(**durable(tmp_path))
    port = first.ports["plain"]
    clean, _ = await RawClient.connected(port, "clean", version=4)
    await clean.subscribe("c", 1)
    kept, _ = await persistent(port, "kept", 5)
    await kept.subscribe("k", 1)
    await kept.send_packet(Disconnect(properties=Properties(session_expiry_interval=0)))
    await wait_until(lambda: "kept" not in first.sessions, "the session to end")
    await first.stop()
    second = await start_broker(**durable(tmp_path))
    assert set(second.sessions) == set()
    assert on_disk(tmp_path).sessions == {}


async def test_sync_acknowledges_only_what_is_on_disk_in_groups(
    start_broker: StartBroker, tmp_path: Path
) -> None:
    broker = await start_broker(**durable(tmp_path))
    assert broker.persistence is not None
    port = broker.ports["plain"]
    subscriber, _ = await persistent(port, "slow", 4)
    await subscriber.subscribe("s", 1)
    await subscriber.close()
    publisher, _ = await RawClient.connected(port, "pub", version=4)
    await publisher.publish("s", b"first", 1, packet_id=1)
    await publisher.expect(PubAck)
    assert payloads_on_disk(tmp_path, "slow") == [b"first"]
    commits = broker.persistence.commits
    count = 200
    burst = b"".join(
        encode(Publish("s", f"n{i}".encode(), 1, packet_id=i + 2), 4) for i in range(count)
    )
    await publisher.send(burst)
    for _ in range(count):
        await publisher.expect(PubAck)
    on_file = payloads_on_disk(tmp_path, "slow")
    assert len(on_file) == count + 1  # every acknowledged message was on disk already
    commits_used = broker.persistence.commits - commits
    assert commits_used < count / 4, f"{commits_used} fsyncs for {count} messages"


async def test_periodic_writes_within_the_interval_and_acknowledges_at_once(
    start_broker: StartBroker, tmp_path: Path
) -> None:
    broker = await start_broker(**durable(tmp_path, "periodic", autosave_interval=0.3))
    port = broker.ports["plain"]
    subscriber, _ = await persistent(port, "later", 5)
    await subscriber.subscribe("p", 1)
    await subscriber.close()
    publisher, _ = await RawClient.connected(port, "pub", version=5)
    loop_time = broker.persistence.loop.time if broker.persistence else None
    assert loop_time is not None
    await publisher.publish("p", b"soon", 1)
    acked = loop_time()
    await publisher.expect(PubAck)
    await wait_until(lambda: payloads_on_disk(tmp_path, "later") == [b"soon"], "the write")
    # Within the interval (and the write), not at once; the generous bound is for loaded CI.
    assert loop_time() - acked < 0.3 + 5.0


async def test_periodic_with_a_long_interval_writes_at_a_clean_stop(
    start_broker: StartBroker, tmp_path: Path
) -> None:
    broker = await start_broker(**durable(tmp_path, "periodic", autosave_interval=3600))
    port = broker.ports["plain"]
    subscriber, _ = await persistent(port, "later", 4)
    await subscriber.subscribe("p", 1)
    await subscriber.close()
    publisher, _ = await RawClient.connected(port, "pub", version=4)
    await publisher.publish("p", b"acked before written", 1)
    await publisher.expect(PubAck)
    assert payloads_on_disk(tmp_path, "later") == []  # acknowledged, not on disk yet
    await broker.stop()
    assert payloads_on_disk(tmp_path, "later") == [b"acked before written"]


async def test_a_delayed_will_pending_at_stop_is_published_after_the_restart(
    start_broker: StartBroker, tmp_path: Path
) -> None:
    first = await start_broker(**durable(tmp_path))
    port = first.ports["plain"]
    will = Will("wills/dev", b"gone", 1, properties=Properties(will_delay_interval=1))
    properties = Properties(session_expiry_interval=600)
    device, _ = await RawClient.connected(port, "dev", will=will, properties=properties)
    await device.close()
    await wait_until(lambda: first.sessions["dev"].pending_will is not None, "a pending will")
    await first.stop()
    second = await start_broker(**durable(tmp_path))
    watcher, _ = await RawClient.connected(second.ports["plain"], "watcher")
    assert isinstance(await watcher.subscribe("wills/#", 1), SubAck)
    assert (await watcher.expect(Publish)).payload == b"gone"
    assert second.sessions["dev"].pending_will is None


async def test_a_session_back_before_its_will_delay_cancels_the_restored_will(
    start_broker: StartBroker, tmp_path: Path
) -> None:
    first = await start_broker(**durable(tmp_path))
    will = Will("wills/dev", b"gone", 1, properties=Properties(will_delay_interval=600))
    properties = Properties(session_expiry_interval=600)
    device, _ = await RawClient.connected(
        first.ports["plain"], "dev", will=will, properties=properties
    )
    await device.close()
    await wait_until(lambda: first.sessions["dev"].pending_will is not None, "a pending will")
    await first.stop()
    second = await start_broker(**durable(tmp_path))
    assert second.sessions["dev"].pending_will is not None
    _, connack = await RawClient.connected(
        second.ports["plain"], "dev", clean_start=False, properties=properties
    )
    assert connack.session_present
    assert second.sessions["dev"].pending_will is None


async def test_off_writes_nothing(start_broker: StartBroker, tmp_path: Path) -> None:
    broker = await start_broker(persistence_location=tmp_path)
    assert broker.persistence is None
    subscriber, _ = await persistent(broker.ports["plain"], "s", 4)
    await subscriber.subscribe("t", 1)
    await broker.stop()
    assert not (tmp_path / FILE_NAME).exists()


def test_persistence_needs_a_folder_and_a_known_mode(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="needs a data folder"):
        BrokerConfig(persistence="sync")
    with pytest.raises(BrokerError, match="'always' is not one of off, periodic, sync"):
        BrokerConfig(persistence="always", persistence_location=tmp_path)


async def test_a_damaged_tail_is_reported_kept_aside_and_the_rest_loaded(
    start_broker: StartBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = await start_broker(**durable(tmp_path))
    publisher, _ = await RawClient.connected(first.ports["plain"], "pub")
    await publisher.publish("keep/1", b"kept", 1, retain=True)
    await publisher.expect(PubAck)
    await publisher.publish("keep/2", b"lost", 1, retain=True, packet_id=2)
    await publisher.expect(PubAck)
    await first.stop()
    data_file = tmp_path / FILE_NAME
    whole = data_file.read_bytes()
    size_with_one = len(whole) - _last_batch_size(whole)
    data_file.write_bytes(whole[:-3])  # the last batch cut short, as by a crash mid-write
    with caplog.at_level(logging.WARNING, logger="iotsim_tui.broker"):
        second = await start_broker(**durable(tmp_path))
    assert second.persistence is not None
    damage = second.persistence.damage
    assert damage is not None
    assert damage.offset == size_with_one
    assert "is damaged from byte" in caplog.text
    assert "the last batch is cut short" in caplog.text
    assert damage.kept_as.read_bytes() == whole[:-3]  # kept aside as it was, never deleted
    assert data_file.exists()
    watcher, _ = await RawClient.connected(second.ports["plain"], "w")
    await watcher.subscribe("keep/#", 0)
    assert (await watcher.expect(Publish)).payload == b"kept"
    assert await watcher.nothing_before_pong()
    # The new file holds what was loaded, and is whole.
    assert set(on_disk(tmp_path).retained) == {"keep/1"}


async def test_a_file_that_is_not_a_data_file_is_kept_aside(
    start_broker: StartBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"something else entirely\n")
    with caplog.at_level(logging.WARNING, logger="iotsim_tui.broker"):
        broker = await start_broker(**durable(tmp_path))
    assert "does not start like a broker data file" in caplog.text
    assert broker.persistence is not None
    damage = broker.persistence.damage
    assert damage is not None
    assert damage.kept_as.name.startswith(f"{FILE_NAME}.damaged-")
    assert damage.kept_as.read_bytes() == b"something else entirely\n"
    assert broker.sessions == {}


async def test_a_flipped_byte_is_caught_by_the_checksum(
    start_broker: StartBroker, tmp_path: Path
) -> None:
    first = await start_broker(**durable(tmp_path))
    publisher, _ = await RawClient.connected(first.ports["plain"], "pub")
    await publisher.publish("r", b"payload-to-damage", 1, retain=True)
    await publisher.expect(PubAck)
    await first.stop()
    data_file = tmp_path / FILE_NAME
    whole = bytearray(data_file.read_bytes())
    at = whole.index(b"payload-to-damage")
    whole[at] ^= 0xFF
    data_file.write_bytes(bytes(whole))
    second = await start_broker(**durable(tmp_path))
    assert second.persistence is not None
    assert second.persistence.damage is not None
    assert second.persistence.damage.why == "a batch does not match its checksum"
    assert second.retained.matching("r") == []


def _last_batch_size(data: bytes) -> int:
    from iotsim_tui.broker.store_log import HEADER

    position = len(HEADER)
    last = 0
    while position < len(data):
        last = 8 + int.from_bytes(data[position : position + 4], "big")
        position += last
    return last


def test_config_file_names_as_in_mosquitto(tmp_path: Path) -> None:
    from iotsim_tui.broker.config import build_config, load_config_file

    path = tmp_path / "broker.toml"
    path.write_text(
        '[broker]\npersistence = true\npersistence_location = "data"\nautosave_interval = 5\n'
    )
    config = build_config(load_config_file(path), {})
    assert (config.persistence, config.persistence_location, config.autosave_interval) == (
        "periodic",
        tmp_path / "data",
        5,
    )
    path.write_text('[broker]\npersistence = "sync"\n')
    with pytest.raises(BrokerError, match="needs a data folder"):
        build_config(load_config_file(path), {})


async def test_a_restored_broker_accepts_takeover_and_clean_start(
    start_broker: StartBroker, tmp_path: Path
) -> None:
    first = await start_broker(**durable(tmp_path))
    subscriber, _ = await persistent(first.ports["plain"], "sub", 4)
    await subscriber.subscribe("a", 1)
    await first.stop()
    second: Broker = await start_broker(**durable(tmp_path))
    _, connack = await RawClient.connected(second.ports["plain"], "sub", version=4)
    assert not connack.session_present  # clean session: the restored one ends
    await wait_until(lambda: not on_disk(tmp_path).sessions, "the ended session on disk")


def _in_memory(broker: Broker, client_id: str) -> tuple[dict[int, tuple[bytes, bool]], list[bytes]]:
    session = broker.sessions[client_id]
    inflight = {pid: (d.message.payload, d.released) for pid, d in session.inflight.items()}
    return inflight, [d.message.payload for d in session.queue]


def _in_file(folder: Path, client_id: str) -> tuple[dict[int, tuple[bytes, bool]], list[bytes]]:
    loaded = on_disk(folder)
    deliveries = loaded.deliveries[client_id]
    inflight = {}
    queue = []
    for dno in sorted(deliveries):
        mno, _, _, _, packet_id, released = deliveries[dno]
        payload = loaded.messages[mno][1]
        if packet_id:
            inflight[packet_id] = (payload, released)
        else:
            queue.append(payload)
    return inflight, queue


async def test_the_file_follows_the_queue_and_the_window_as_they_move(
    start_broker: StartBroker, tmp_path: Path
) -> None:
    broker = await start_broker(**durable(tmp_path))
    port = broker.ports["plain"]
    properties = Properties(session_expiry_interval=300, receive_maximum=3)
    subscriber, _ = await RawClient.connected(
        port, "window", clean_start=False, properties=properties
    )
    await subscriber.subscribe("w/#", 2)
    publisher, _ = await RawClient.connected(port, "pub")
    for number in range(1, 11):
        await publisher.publish("w/t", f"m{number}".encode(), 1 + number % 2, packet_id=number)
        await publisher.next_packet()  # PUBACK or PUBREC
    sent = [await subscriber.expect(Publish) for _ in range(3)]  # the window: 3 in flight
    assert _in_file(tmp_path, "window") == _in_memory(broker, "window")
    # Acknowledge the first (QoS 2: PUBREC, so "released"), then the others; more move up.
    for packet in sent:
        if packet.qos == 2:
            await subscriber.send_packet(PubRec(packet.packet_id))  # PUBREL back: "released"
        else:
            await subscriber.send_packet(PubAck(packet.packet_id))
    # m1 and m3 (QoS 2) wait for PUBCOMP, m2 is done: m4 moved up into the window.
    await wait_until(lambda: len(broker.sessions["window"].queue) == 6, "the queue to move")
    inflight = broker.sessions["window"].inflight.values()
    assert sorted((d.message.payload, d.released) for d in inflight) == [
        (b"m1", True),
        (b"m3", True),
        (b"m4", False),
    ]
    publisher2, _ = await RawClient.connected(port, "pub2")
    await publisher2.publish("w/t", b"late", 1)
    await publisher2.expect(PubAck)  # sync: the file has caught up with the broker now
    assert _in_file(tmp_path, "window") == _in_memory(broker, "window")
    expected = _in_memory(broker, "window")
    await broker.stop()
    assert _in_file(tmp_path, "window") == expected
    again = await start_broker(**durable(tmp_path))
    assert _in_memory(again, "window") == expected


async def test_two_brokers_cannot_share_a_data_folder(
    start_broker: StartBroker, tmp_path: Path
) -> None:
    await start_broker(**durable(tmp_path))
    second = Broker(BrokerConfig(port=0, **durable(tmp_path)))
    with pytest.raises(BrokerError, match="is in use by another broker"):
        await second.start()


async def test_the_file_is_rewritten_when_it_doubles_and_keeps_the_state(
    start_broker: StartBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iotsim_tui.broker import persistence

    monkeypatch.setattr(persistence, "COMPACT_AT", 4000)
    broker = await start_broker(**durable(tmp_path))
    port = broker.ports["plain"]
    subscriber, _ = await persistent(port, "queue", 4)
    await subscriber.subscribe("c/queue", 1)
    await subscriber.close()
    publisher, _ = await RawClient.connected(port, "pub", version=4)
    await publisher.publish("c/queue", b"queued", 1)
    await publisher.expect(PubAck)
    sizes = []
    for number in range(1, 301):
        await publisher.publish("c/value", f"v{number}".encode(), 1, retain=True, packet_id=number)
        await publisher.expect(PubAck)
        sizes.append((tmp_path / FILE_NAME).stat().st_size)
    assert max(sizes) < 8000, "rewritten once it passed 4,000 bytes and doubled"
    assert sizes[-1] < max(sizes)
    await broker.stop()
    again = await start_broker(**durable(tmp_path))
    assert [m.payload for m in again.retained.matching("c/value")] == [b"v300"]
    subscriber, connack = await persistent(again.ports["plain"], "queue", 4)
    assert connack.session_present
    assert (await subscriber.expect(Publish)).payload == b"queued"


async def test_a_data_folder_that_cannot_be_made_is_a_plain_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    broker = Broker(BrokerConfig(port=0, **durable(blocker / "data")))
    with pytest.raises(BrokerError, match="cannot use the data folder"):
        await broker.start()


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ([], "off"),
        (["--data", "d"], "periodic"),
        (["--data", "d", "--persistence", "sync"], "sync"),
        (["--data", "d", "--persistence", "off"], "off"),
    ],
)
def test_the_command_line_names_the_mode_and_the_folder(
    arguments: list[str], expected: str
) -> None:
    import argparse

    from iotsim_tui.broker import command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    config = command._config(parser.parse_args(["--port", "0", *arguments]))
    assert config.persistence == expected
    assert config.persistence_location == (Path("d") if arguments else None)
