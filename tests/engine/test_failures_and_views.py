"""Failures in plain words, and summaries that merge across processes."""

from __future__ import annotations

import asyncio
import socket
import ssl

import aiomqtt
import pytest
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from iotsim_tui.engine import Ledger, Simulation, Summary
from iotsim_tui.engine.failures import LostBeforeConnack, describe, lost_connection
from iotsim_tui.engine.outbox import OUTBOX_LIMIT
from iotsim_tui.errors import IotsimError
from iotsim_tui.profiles.model import Device
from tests.engine.helpers import network
from tests.support.ports import free_port


def wrapped(cause: BaseException) -> aiomqtt.MqttError:
    """What aiomqtt raises: a bare MqttError with the cause hidden in __context__."""
    try:
        try:
            raise cause
        except OSError as error:
            raise aiomqtt.MqttError(str(error)) from None
    except aiomqtt.MqttError as outer:
        return outer


def test_socket_failures() -> None:
    where = {"host": "broker.lan", "port": 1883}
    assert describe(wrapped(ConnectionRefusedError(111, "x")), **where).message == (
        "connection refused by broker.lan:1883: is the broker running?"
    )
    gai = describe(wrapped(socket.gaierror(-2, "Name or service not known")), **where)
    assert (gai.message, gai.fatal) == ("name not found: broker.lan", True)
    assert describe(wrapped(TimeoutError("timed out")), **where).message == (
        "timed out connecting to broker.lan:1883"
    )
    try:  # aiomqtt gives up waiting for CONNACK by cancelling its wait
        try:
            raise asyncio.CancelledError
        except asyncio.CancelledError:
            raise aiomqtt.MqttError("") from None
    except aiomqtt.MqttError as gave_up:
        cancelled = gave_up
    assert describe(cancelled, **where).message == (
        "timed out connecting to broker.lan:1883: no answer to CONNECT in time "
        "(a busy broker or machine)"
    )
    lost = LostBeforeConnack("closed")
    assert describe(lost, **where).message == (
        "the broker at broker.lan:1883 closed the connection before accepting it: is TLS on "
        "the right port? (the device connects without TLS; a TLS port such as 8883 closes plain "
        "connections)"
    )
    assert describe(lost, **where, tls=True, client_certificate=True).message == (
        "the broker at broker.lan:1883 closed the connection before accepting it"
    )


def test_tls_alerts_name_the_client_certificate_problem() -> None:
    alert = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert")
    alert.reason = "TLSV13_ALERT_CERTIFICATE_REQUIRED"  # type: ignore[misc]
    lost = LostBeforeConnack("closed")
    lost.__context__ = alert
    failure = describe(lost, host="h", port=8883)
    assert (failure.message, failure.fatal) == ("the broker requires a client certificate", True)


def test_connack_reason_codes_for_both_versions() -> None:
    v5 = MqttConnectError(ReasonCode(PacketTypes.CONNACK, identifier=134))
    assert describe(v5, host="h", port=1).message.startswith("bad user name or password: check")
    v311 = MqttConnectError(5)
    failure = describe(v311, host="h", port=1)
    assert failure.message.startswith("not authorized: the broker refused the user name")
    assert "network's broker settings" in failure.message
    assert failure.fatal
    busy = describe(
        MqttConnectError(ReasonCode(PacketTypes.CONNACK, identifier=137)), host="h", port=1
    )
    assert (busy.message, busy.fatal) == ("the broker is busy", False)


def test_disconnect_reasons() -> None:
    taken = ReasonCode(PacketTypes.DISCONNECT, identifier=142)
    assert lost_connection(taken) == (
        "the broker disconnected the device: "
        "another client with the same client id took over the session"
    )
    assert lost_connection(ReasonCode(PacketTypes.DISCONNECT, identifier=128)) == (
        "the connection was lost"
    )


def test_summaries_merge_and_ledgers_balance() -> None:
    first = Summary(
        devices=2,
        connected=2,
        messages_out=10,
        rate_out=5.0,
        ledger=Ledger(10, 9, 1, 0),
        error_samples=("A: x",),
    )
    second = Summary(
        devices=3,
        connected=1,
        errors=2,
        failed=2,
        messages_out=5,
        rate_out=2.5,
        ledger=Ledger(6, 3, 0, 3, {"outbox full": 3}),
        error_samples=("B: y", "A: x"),
    )
    total = Summary.merge([first, second])
    assert (total.devices, total.connected, total.errors, total.messages_out) == (5, 3, 2, 15)
    assert total.rate_out == 7.5
    assert total.ledger == Ledger(16, 12, 1, 3, {"outbox full": 3})
    assert total.ledger.balanced
    assert total.error_samples == ("A: x", "B: y")
    assert first.ok
    assert not total.ok


async def test_an_offline_device_keeps_qos1_in_a_bounded_outbox_and_drops_qos0() -> None:
    simulation = Simulation(network(free_port(), Device(name="Offline", id="O1")))
    for n in range(OUTBOX_LIMIT + 5):
        await simulation.publish("O1", "t/q1", f"m{n}", qos=1)
    await simulation.publish("O1", "t/q0", "lost", qos=0)
    ledger = simulation.device("O1").ledger
    assert (ledger.accepted, ledger.queued, ledger.dropped) == (OUTBOX_LIMIT + 6, OUTBOX_LIMIT, 6)
    assert ledger.drop_reasons == {"outbox full": 5, "not connected (QoS 0 is not queued)": 1}
    assert ledger.balanced
    assert simulation.summary().ledger == ledger
    with pytest.raises(IotsimError, match="wildcards"):
        await simulation.publish("O1", "t/#", "x")
    with pytest.raises(KeyError, match="no device 'X9'"):
        await simulation.publish("X9", "t", "x")
