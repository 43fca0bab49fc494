"""The persistence soak: 1,000 devices with persistent sessions, 1 QoS 1 message a second each,
reconnecting now and then, while commands are queued for the ones that are away."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import _common
from _common import HOST
from _raw_mqtt import connect, connect_packet, publish_packet, split_packets, subscribe_packet

PAYLOAD = b"p" * 32


def folder_size(path: Path) -> int:
    """Bytes in the files under `path`."""
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


async def _device(
    port: int, number: int, stop_at: float, churn: random.Random, stats: dict[str, int]
) -> None:
    """One device: persistent session, 1 QoS 1 message a second, now and then a reconnect."""
    while time.monotonic() < stop_at:
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(connect_packet(f"soak-{number}", clean=False))
            writer.write(subscribe_packet(f"soak/{number}/cmd", 1))
            await writer.drain()
            buffer = bytearray()
            packet_id = 0
            session_end = time.monotonic() + churn.uniform(20, 120)
            next_send = time.monotonic() + churn.random()
            while time.monotonic() < min(stop_at, session_end):
                if time.monotonic() >= next_send:
                    packet_id = packet_id % 65535 + 1
                    writer.write(publish_packet(f"soak/{number}/t", PAYLOAD, 1, packet_id, False))
                    stats["sent"] += 1
                    next_send += 1.0
                try:
                    chunk = await asyncio.wait_for(reader.read(65536), 0.2)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                buffer += chunk
                for first, body in split_packets(buffer):
                    if first >> 4 == 3 and first & 0x06:
                        topic_end = 2 + int.from_bytes(body[:2], "big")
                        writer.write(b"\x40\x02" + body[topic_end : topic_end + 2])
                    elif first == 0x40:
                        stats["acked"] += 1
            stats["reconnects"] += 1
            writer.close()
        except OSError:
            await asyncio.sleep(1)


async def soak(port: int, pid: int, data: Path, seconds: float) -> list[tuple[float, int, int]]:
    stop_at = time.monotonic() + seconds
    stats = {"sent": 0, "acked": 0, "reconnects": 0}
    tasks = []
    for number in range(1000):
        tasks.append(
            asyncio.create_task(_device(port, number, stop_at, random.Random(number), stats))
        )
        if number % 50 == 49:
            await asyncio.sleep(0.05)
    # QoS 1 commands to 100 devices every 5 s, some of them away at the time: queued. (Its
    # PUBACKs are left unread: 400 bytes per round.)
    commander = connect(port, "soak-commander", clean=True)
    samples = []
    started = time.monotonic()
    next_sample = started
    round_number = 0
    while time.monotonic() < stop_at:
        await asyncio.sleep(5)
        round_number += 1
        commander.sendall(
            b"".join(
                publish_packet(f"soak/{n}/cmd", b"%d" % round_number, 1, n + 1, False)
                for n in range(round_number % 10 * 100, round_number % 10 * 100 + 100)
            )
        )
        if time.monotonic() >= next_sample:
            samples.append((time.monotonic() - started, _common.rss(pid), folder_size(data)))
            next_sample += 10
            print(
                f"  soak {samples[-1][0]:5.0f} s: RSS {samples[-1][1] / 2**20:.1f} MiB, data "
                f"{samples[-1][2] / 2**20:.2f} MiB, sent {stats['sent']}, acked "
                f"{stats['acked']}, reconnects {stats['reconnects']}",
                flush=True,
            )
    commander.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    return samples
