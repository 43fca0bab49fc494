"""TLS as the eavesdrop view shows it: handshake in clear, then only record sizes."""

from __future__ import annotations

import asyncio
import ssl
import struct
from pathlib import Path

import aiomqtt
import pytest

from iotsim_tui.wiretap import Direction, Eavesdrop, WireItem
from iotsim_tui.wiretap.dissect import ConnectionDissector
from iotsim_tui.wiretap.store import Chunk
from iotsim_tui.wiretap.tls import TLSStream
from tests.support.certs import client_context, foreign_client_cert
from tests.wiretap.conftest import TLSBroker
from tests.wiretap.sessions import ALERT, PASSWORD, USERNAME, lab_session, settled, text_of


def summaries(items: list[WireItem], direction: Direction | None = None) -> list[str]:
    return [i.summary for i in items if direction is None or i.direction is direction]


def replay_byte_by_byte(tap: Eavesdrop) -> list[WireItem]:
    """Dissect the recorded connection again, one byte at a time in each direction."""
    (record,) = tap.store.records()
    dissector = ConnectionDissector(99, record.client, record.server)
    items: list[WireItem] = []
    for event in record.events:
        if isinstance(event, Chunk):
            for i in range(len(event.data)):
                items += dissector.feed(Chunk(event.at, event.direction, event.data[i : i + 1]))
    return items


@pytest.mark.slow
async def test_tls_1_3_shows_the_hellos_then_only_application_data(tls_broker: TLSBroker) -> None:
    async with Eavesdrop(target=(tls_broker.host, tls_broker.port)) as tap:
        context = client_context(tls_broker.certs)
        await lab_session(tap, hostname="localhost", tls_context=context)
        items = tap.items()
        (info,) = tap.connections()

    assert info.protocol == "TLS"
    tls = [i for i in items if i.protocol == "TLS"]
    assert {i.protocol for i in items} == {"TCP", "TLS"}
    assert tls[0].direction is Direction.TO_BROKER
    assert tls[0].summary == "Client Hello, SNI localhost, offers TLS 1.3, TLS 1.2"
    hello = tls[1]
    assert hello.direction is Direction.TO_DEVICE
    assert hello.summary.startswith("Server Hello, TLS 1.3, TLS_AES_")
    after = summaries(tls[2:])
    assert "Change Cipher Spec" in after
    assert all(s == "Change Cipher Spec" or s.startswith("Application Data, ") for s in after)
    assert not any("Certificate" in s for s in after)  # TLS 1.3 encrypts it
    shown = text_of(items)
    for secret in (ALERT, USERNAME, PASSWORD, "High_Tempe", "TS1"):
        assert secret not in shown
    assert summaries(replay_byte_by_byte(tap)) == summaries(tls)


@pytest.mark.slow
async def test_tls_1_2_also_shows_the_certificate_subject(tls_broker: TLSBroker) -> None:
    context = client_context(tls_broker.certs)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    async with Eavesdrop(target=(tls_broker.host, tls_broker.port)) as tap:
        await lab_session(tap, tls_context=context)
        items = tap.items()

    to_device = summaries(items, Direction.TO_DEVICE)
    assert to_device[0].startswith("Server Hello, TLS 1.2, TLS_ECDHE_ECDSA_WITH_")
    assert to_device[0].endswith("_GCM_SHA384") or to_device[0].endswith("_GCM_SHA256")
    assert to_device[0].count(",") == 2  # one record per handshake flight here
    certificate = next(i for i in items if i.summary.startswith("Certificate"))
    assert certificate.summary.startswith("Certificate, subject CN=localhost")
    issuer = next(f.value for f in certificate.fields if f.name == "Certificate 1 issuer")
    assert "CN=" in issuer
    valid = next(f.value for f in certificate.fields if f.name == "Certificate 1 valid")
    assert valid.endswith(" UTC")
    assert " to " in valid
    to_broker = summaries(items, Direction.TO_BROKER)
    assert to_broker[1] == "Client Hello, offers TLS 1.2"  # by address: no SNI
    assert "Change Cipher Spec" in to_broker
    assert "Encrypted Handshake Message" in to_broker
    assert ALERT not in text_of(items)
    assert summaries(replay_byte_by_byte(tap)) == summaries(
        [i for i in items if i.protocol == "TLS"]
    )


@pytest.mark.slow
async def test_a_refused_certificate_shows_the_alert_in_clear(
    tls_broker: TLSBroker, tmp_path: Path
) -> None:
    # A device that trusts another CA refuses the broker: TLS 1.2 sends the alert in clear.
    stranger = foreign_client_cert(tmp_path).cert.parent.parent
    context = client_context(stranger)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    async with Eavesdrop(target=(tls_broker.host, tls_broker.port)) as tap:
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client(
                "127.0.0.1", tap.endpoint[1], tls_context=context, timeout=20
            ):
                pass
        await settled(tap)
        items = tap.items()
    assert "Alert (fatal): unknown_ca" in summaries(items, Direction.TO_BROKER)


def record(content_type: int, body: bytes) -> bytes:
    return struct.pack("!BHH", content_type, 0x0303, len(body)) + body


def test_records_split_anywhere_give_the_same_items() -> None:
    stream = record(21, b"\x02\x28") + record(23, b"\x00" * 300) + record(20, b"\x01")
    whole = TLSStream().feed(stream)
    pieces = TLSStream()
    split = [d for i in range(len(stream)) for d in pieces.feed(stream[i : i + 1])]
    assert [d.summary for d in whole] == [
        "Alert (fatal): handshake_failure",
        "Application Data, 300 bytes",
        "Change Cipher Spec",
    ]
    assert split == whole


def test_an_alert_after_change_cipher_spec_is_encrypted() -> None:
    stream = TLSStream()
    stream.feed(record(20, b"\x01"))
    (alert,) = stream.feed(record(21, b"\x9a\x17\x33\x01"))
    assert alert.summary == "Encrypted Alert"


def test_bytes_that_stop_being_tls_are_shown_as_data() -> None:
    dissector = ConnectionDissector(1, ("127.0.0.1", 5000), ("127.0.0.1", 8883))
    first = dissector.feed(Chunk(1.0, Direction.TO_BROKER, record(23, b"abc")))
    garbage = b"\x99 not a record at all"
    rest = dissector.feed(Chunk(2.0, Direction.TO_BROKER, garbage))
    more = dissector.feed(Chunk(3.0, Direction.TO_BROKER, b"more"))
    assert [i.summary for i in first] == ["Application Data, 3 bytes"]
    assert [i.summary for i in rest] == [f"Data, {len(garbage)} bytes (not TLS)"]
    assert rest[0].data == garbage
    assert [i.summary for i in more] == ["Data, 4 bytes"]


def test_a_malformed_client_hello_is_reported_not_raised() -> None:
    body = b"\x01\x00\x00\x05\x03\x03\x00\x00\x00"  # a ClientHello cut after 5 bytes
    (item,) = TLSStream().feed(record(22, body))
    assert item.summary == "Client Hello (malformed)"
    assert item.fields[-1].name == "Problem"


def test_a_huge_handshake_message_is_counted_and_skipped() -> None:
    size = 300_000
    message = b"\x0b" + size.to_bytes(3, "big") + b"\x00" * size + b"\x0e\x00\x00\x00"
    stream = TLSStream()
    items = []
    for start in range(0, len(message), 16_384):
        items += stream.feed(record(22, message[start : start + 16_384]))
    assert items[0].summary == f"Certificate ({size:,} bytes, not dissected)"
    assert items[-1].summary == "Server Hello Done"
    assert stream.broken is False


async def test_nothing_waits_on_a_silent_tls_stream() -> None:
    # A half record stays buffered without producing an item (and without blocking).
    stream = TLSStream()
    assert stream.feed(record(23, b"x" * 100)[:50]) == []
    await asyncio.sleep(0)
