"""User names and passwords on the broker: CONNACK codes in both versions, nothing in the logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from iotsim_tui.broker.auth import add_user
from iotsim_tui.broker.server import Broker
from iotsim_tui.protocol.codec import encode
from iotsim_tui.protocol.packets import (
    ConnAck,
    Connect,
    SubAck,
    Subscribe,
    SubscriptionRequest,
)
from iotsim_tui.protocol.reasons import ConnectReturnCode, MQTTVersion, ReasonCode
from tests.broker.conftest import StartBroker
from tests.broker.raw import RawClient

PASSWORD = b"s3cret-pass-phrase"


@pytest.fixture
async def guarded(start_broker: StartBroker, tmp_path: Path) -> Broker:
    """A broker that knows alice and refuses anonymous clients."""
    password_file = tmp_path / "passwd"
    add_user(password_file, "alice", PASSWORD)
    return await start_broker(password_file=password_file, allow_anonymous=False)


@pytest.mark.parametrize(
    ("version", "username", "password", "expected"),
    [
        (4, None, None, ConnectReturnCode.NOT_AUTHORIZED),
        (5, None, None, ReasonCode.NOT_AUTHORIZED),
        (4, "alice", b"nope", ConnectReturnCode.BAD_USER_NAME_OR_PASSWORD),
        (5, "alice", b"nope", ReasonCode.BAD_USER_NAME_OR_PASSWORD),
        (4, "mallory", PASSWORD, ConnectReturnCode.BAD_USER_NAME_OR_PASSWORD),
        (5, "alice", None, ReasonCode.BAD_USER_NAME_OR_PASSWORD),
        (4, "alice", PASSWORD, ConnectReturnCode.ACCEPTED),
        (5, "alice", PASSWORD, ReasonCode.SUCCESS),
    ],
)
async def test_login(
    guarded: Broker,
    caplog: pytest.LogCaptureFixture,
    version: int,
    username: str | None,
    password: bytes | None,
    expected: int,
) -> None:
    caplog.set_level(logging.DEBUG, logger="iotsim_tui.broker")
    client, connack = await RawClient.connected(
        guarded.ports["plain"], "dev", version=version, username=username, password=password
    )
    assert connack.reason_code == expected
    if expected:
        assert await client.expect_closed() == b""
        assert guarded.stats.connected == 0
    assert PASSWORD.decode() not in caplog.text


async def test_packets_behind_connect_wait_for_the_password_check(guarded: Broker) -> None:
    client = await RawClient.open(guarded.ports["plain"])
    connect = Connect("pipelined", MQTTVersion.V5, username="alice", password=PASSWORD)
    subscribe = Subscribe(1, (SubscriptionRequest("a/b", 1),))
    await client.send(encode(connect, 5) + encode(subscribe, 5))
    assert (await client.expect(ConnAck)).reason_code == ReasonCode.SUCCESS
    assert (await client.expect(SubAck)).reason_codes == (ReasonCode.GRANTED_QOS_1,)


async def test_anonymous_allowed_but_a_wrong_password_is_not(
    start_broker: StartBroker, tmp_path: Path
) -> None:
    password_file = tmp_path / "passwd"
    add_user(password_file, "alice", PASSWORD)
    broker = await start_broker(password_file=password_file)
    _, connack = await RawClient.connected(broker.ports["plain"], "anon")
    assert connack.reason_code == ReasonCode.SUCCESS
    _, connack = await RawClient.connected(
        broker.ports["plain"], "liar", username="alice", password=b"guess"
    )
    assert connack.reason_code == ReasonCode.BAD_USER_NAME_OR_PASSWORD
