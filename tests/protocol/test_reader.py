"""The incremental reader: size limits before buffering, versions, and what happens after errors."""

from __future__ import annotations

import pytest

from iotsim_tui.protocol.codec import MAX_PACKET_SIZE, PacketReader, encode, peek_header
from iotsim_tui.protocol.errors import MalformedPacket, PacketTooLarge, ProtocolError
from iotsim_tui.protocol.packets import (
    Connect,
    MQTTVersion,
    PacketType,
    PingReq,
    Publish,
    ReasonCode,
)
from iotsim_tui.protocol.reasons import (
    ConnectReturnCode,
    connect_return_code,
    is_client_only,
    is_server_only,
)
from iotsim_tui.protocol.wire import read_vbi

V311, V5 = MQTTVersion.V311, MQTTVersion.V5


def test_a_packet_over_the_limit_is_refused_from_its_header_alone() -> None:
    reader = PacketReader(V311, max_packet_size=1024)
    header = b"\x30\xff\xff\x7f"  # PUBLISH announcing 2,097,151 bytes
    with pytest.raises(PacketTooLarge) as caught:
        reader.feed(header)
    error = caught.value
    assert error.message == (
        "PUBLISH: a packet of 2,097,155 bytes exceeds the maximum packet size of 1,024 bytes"
    )
    assert error.reason_code == ReasonCode.PACKET_TOO_LARGE
    assert error.packet_type == PacketType.PUBLISH
    assert reader.buffered == 0


def test_a_huge_length_before_connect_is_refused_at_once() -> None:
    reader = PacketReader(max_packet_size=65_536)
    with pytest.raises(PacketTooLarge):
        reader.feed(b"\x10\xff\xff\xff\x7f")
    assert reader.buffered == 0


def test_the_limit_counts_the_whole_packet_header_included() -> None:
    fits = encode(Publish("t", bytes(95)), V311)
    assert len(fits) == 100
    assert PacketReader(V311, max_packet_size=100).feed(fits) == [Publish("t", bytes(95))]
    with pytest.raises(PacketTooLarge):
        PacketReader(V311, max_packet_size=99).feed(fits)


def test_after_a_too_large_packet_the_reader_skips_it_and_goes_on() -> None:
    big = encode(Publish("big", bytes(5000)), V311)
    small = encode(Publish("small", b"ok"), V311)
    reader = PacketReader(V311, max_packet_size=1000)
    with pytest.raises(PacketTooLarge):
        reader.feed(big[:10])
    got = []
    rest = big[10:] + small
    for start in range(0, len(rest), 700):
        got += reader.feed(rest[start : start + 700])
        assert reader.buffered < 1000
    assert got == [Publish("small", b"ok")]


def test_a_whole_packet_over_the_limit_in_one_read_is_dropped_and_the_rest_kept() -> None:
    big = encode(Publish("big", bytes(5000)), V311)
    small = encode(Publish("small", b"ok"), V311)
    reader = PacketReader(V311, max_packet_size=1000)
    with pytest.raises(PacketTooLarge):
        reader.feed(big + small + small[:3])
    assert reader.feed(b"") == [Publish("small", b"ok")]
    assert reader.feed(small[3:]) == [Publish("small", b"ok")]


def test_nothing_more_than_a_partial_header_is_kept_while_the_length_is_unknown() -> None:
    reader = PacketReader(V311, max_packet_size=200)
    for byte in b"\x30\x80\x80":
        assert reader.feed(bytes((byte,))) == []
    assert reader.buffered == 3
    with pytest.raises(PacketTooLarge):
        reader.feed(b"\x01")  # now known: 16,384 bytes
    assert reader.buffered == 0


def test_a_five_byte_length_breaks_the_stream_for_good() -> None:
    reader = PacketReader(V311)
    with pytest.raises(MalformedPacket) as first:
        reader.feed(b"\x30\x80\x80\x80\x80\x01")
    with pytest.raises(MalformedPacket) as again:
        reader.feed(encode(PingReq(), V311))
    assert again.value is first.value


def test_packets_before_an_error_in_the_same_read_are_handed_over() -> None:
    good = encode(Publish("a", b"1"), V311) + encode(PingReq(), V311)
    reader = PacketReader(V311)
    with pytest.raises(MalformedPacket) as caught:
        reader.feed(good + b"\x00\x00")
    assert caught.value.decoded_before == (Publish("a", b"1"), PingReq())


def test_the_version_comes_from_connect() -> None:
    reader = PacketReader()
    assert reader.version is None
    stream = encode(Connect(client_id="d", protocol_level=V5), V5)
    stream += encode(Publish("t", b"x"), V5)
    assert reader.feed(stream)[1] == Publish("t", b"x")
    assert reader.version == V5


def test_errors_are_expected_failures_with_a_title() -> None:
    with pytest.raises(ProtocolError) as caught:
        PacketReader(V311).feed(b"\xc0\x01\x00")
    assert caught.value.title == "MQTT protocol error"
    assert str(caught.value) == "PINGREQ: the remaining length must be 0, not 1"


@pytest.mark.parametrize(
    ("buffer", "header"),
    [
        (b"", None),
        (b"\x30", None),
        (b"\x30\x80", None),
        (b"\x32\x05", (3, 2, 5, 2)),
        (b"\x62\x02\x00\x01", (6, 2, 2, 2)),
        (b"\x30\x80\x80\x80", None),
        (b"\x30\xff\xff\xff\x7f", (3, 0, 268_435_455, 5)),
    ],
)
def test_peek_header(buffer: bytes, header: tuple[int, int, int, int] | None) -> None:
    assert peek_header(buffer) == header
    assert peek_header(bytearray(buffer)) == header
    assert peek_header(memoryview(buffer)) == header


def test_peek_header_refuses_a_fifth_length_byte() -> None:
    with pytest.raises(MalformedPacket, match="longer than 4 bytes"):
        peek_header(b"\x30\x80\x80\x80\x80")


def test_default_limit_is_what_mqtt_allows() -> None:
    assert MAX_PACKET_SIZE == 268_435_460


def test_which_side_may_send_what() -> None:
    server_only = {t for t in PacketType if is_server_only(t)}
    client_only = {t for t in PacketType if is_client_only(t)}
    assert server_only == {
        PacketType.CONNACK,
        PacketType.SUBACK,
        PacketType.UNSUBACK,
        PacketType.PINGRESP,
    }
    assert client_only == {
        PacketType.CONNECT,
        PacketType.SUBSCRIBE,
        PacketType.UNSUBSCRIBE,
        PacketType.PINGREQ,
    }


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        (ReasonCode.SUCCESS, ConnectReturnCode.ACCEPTED),
        (ReasonCode.UNSUPPORTED_PROTOCOL_VERSION, ConnectReturnCode.UNACCEPTABLE_PROTOCOL_VERSION),
        (ReasonCode.CLIENT_IDENTIFIER_NOT_VALID, ConnectReturnCode.IDENTIFIER_REJECTED),
        (ReasonCode.SERVER_UNAVAILABLE, ConnectReturnCode.SERVER_UNAVAILABLE),
        (ReasonCode.BAD_USER_NAME_OR_PASSWORD, ConnectReturnCode.BAD_USER_NAME_OR_PASSWORD),
        (ReasonCode.NOT_AUTHORIZED, ConnectReturnCode.NOT_AUTHORIZED),
        (ReasonCode.MALFORMED_PACKET, None),
    ],
)
def test_connect_return_code_for_a_reason(
    reason: ReasonCode, code: ConnectReturnCode | None
) -> None:
    assert connect_return_code(reason) == code


@pytest.mark.parametrize(
    ("buffer", "value"),
    [(b"\x00", (0, 1)), (b"\x7f", (127, 1)), (b"\x80\x01", (128, 2)), (b"\xff\xff\xff\x7f", None)],
)
def test_one_reader_of_variable_byte_integers(buffer: bytes, value: tuple[int, int] | None) -> None:
    expected = value or (268_435_455, 4)
    assert read_vbi(buffer, 0) == expected
    assert read_vbi(b"\x30" + buffer + b"\x00", 1) == expected
    assert read_vbi(buffer[:-1], 0) is None  # cut short: wait for more
    assert read_vbi(memoryview(buffer), 0, len(buffer) - 1) is None  # past the given end


@pytest.mark.parametrize(
    ("packet", "problem"),
    [
        (b"\x30\x80\x00", "PUBLISH: the remaining length is a variable byte integer not in its "
         "shortest form"),
        # PUBACK 5.0 with its property length written in two bytes.
        (b"\x40\x05\x00\x01\x00\x80\x00", "PUBACK: the property length is a variable byte "
         "integer not in its shortest form"),
    ],
)  # fmt: skip
def test_every_variable_byte_integer_must_be_in_its_shortest_form(
    packet: bytes, problem: str
) -> None:
    with pytest.raises(MalformedPacket) as refused:
        PacketReader(5).feed(packet)
    assert str(refused.value) == problem
