"""Damaged packets never crash the reader: it returns packets or raises MalformedPacket.

Seeded, bounded mutations of valid packets of every type (both versions): flipped bytes,
cut-off bodies, lengths that lie. Any other exception would be a bug that lets one client
take down its connection handler with a traceback.
"""

from __future__ import annotations

import random

import pytest

from iotsim_tui.protocol.codec import PacketReader, encode
from iotsim_tui.protocol.errors import MalformedPacket
from iotsim_tui.protocol.packets import MQTTVersion, Packet
from tests.protocol.test_codec import _cases

MUTATIONS_PER_VERSION = 4000


def _mutate(rng: random.Random, data: bytes) -> bytes:
    damaged = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0:  # flip one to three bytes anywhere
        for _ in range(rng.randint(1, 3)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
    elif kind == 1:  # cut the body short but keep the announced length honest
        keep = rng.randrange(2, len(damaged) + 1)
        body = damaged[2:keep] if damaged[1] < 0x80 else damaged[3:keep]
        damaged = bytearray((damaged[0], len(body) & 0x7F)) + body[:127]
    elif kind == 2:  # make the remaining length lie
        damaged[1] = rng.randrange(0x80)
    else:  # overwrite a byte inside the body (not the header)
        if len(damaged) > 2:
            damaged[rng.randrange(2, len(damaged))] ^= 1 << rng.randrange(8)
    return bytes(damaged)


def _read(reader: PacketReader, data: bytes) -> list[Packet] | MalformedPacket:
    try:
        return reader.feed(data)
    except MalformedPacket as error:
        return error


@pytest.mark.parametrize("version", [MQTTVersion.V311, MQTTVersion.V5])
def test_damaged_packets_raise_only_malformed_packet(version: MQTTVersion) -> None:
    rng = random.Random(f"mqtt-{version}")
    samples = [encode(p, v) for v, p in _cases() if v == version]
    outcomes = {"decoded": 0, "malformed": 0, "waiting": 0}
    for _ in range(MUTATIONS_PER_VERSION):
        damaged = _mutate(rng, rng.choice(samples))
        reader = PacketReader(None if damaged[0] >> 4 == 1 else version, max_packet_size=4096)
        result = _read(reader, damaged)
        if isinstance(result, MalformedPacket):
            assert result.message
            assert 0x80 <= result.reason_code <= 0xA2
            outcomes["malformed"] += 1
            continue
        outcomes["decoded" if result else "waiting"] += 1
        for decoded in result:  # what we accept, we write back so that it reads the same
            again = encode(decoded, reader.version or version)
            fresh = PacketReader(None if again[0] >> 4 == 1 else reader.version or version)
            assert fresh.feed(again) == [decoded]
    # The mutations reach all three outcomes, so the test does exercise the checks.
    assert min(outcomes.values()) > MUTATIONS_PER_VERSION // 50, outcomes
