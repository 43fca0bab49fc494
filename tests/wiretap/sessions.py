"""Real MQTT sessions through the eavesdrop relay, and tshark to read the pcap files."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest

from iotsim_tui.wiretap import Eavesdrop, WireItem

TOPIC = "High_Tempe"
ALERT = "Alert for High Temperature"
SECOND_ALERT = "This is second alert for High Temperature"
USERNAME = "alice"
PASSWORD = "s3cret-on-the-wire"


async def lab_session(
    tap: Eavesdrop,
    *,
    message: str = ALERT,
    hostname: str = "127.0.0.1",
    tls_context: ssl.SSLContext | None = None,
) -> None:
    """Device TS1 connects with a user name and password, subscribes, and gets `message`."""
    port = tap.endpoint[1]
    async with aiomqtt.Client(
        hostname,
        port,
        identifier="TS1",
        username=USERNAME,
        password=PASSWORD,
        tls_context=tls_context,
        timeout=20,
    ) as client:
        await client.subscribe(TOPIC, qos=1)
        await client.publish(TOPIC, message, qos=1)
        async with asyncio.timeout(20):
            async for received in client.messages:
                assert received.payload == message.encode()
                break
    await settled(tap)


async def settled(tap: Eavesdrop, seconds: float = 10.0) -> None:
    """Wait until every relayed connection has closed on both sides."""
    await wait_until(lambda: all(c.ended is not None for c in tap.connections()), seconds)


async def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for `condition` (the relay has no event for "connection record closed")."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def text_of(items: list[WireItem]) -> str:
    """Everything the eavesdrop view could show about `items`: summaries, fields and bytes."""
    parts = []
    for item in items:
        parts.append(item.summary)
        parts += [f"{f.name}: {f.value}" for f in item.fields]
        parts.append(item.data.decode("latin-1"))
    return "\n".join(parts)


def tshark(pcap: Path, *args: str) -> str:
    """Run tshark on `pcap` with checksum checks on; skip the test when it is not installed."""
    binary = shutil.which("tshark")
    if binary is None:
        pytest.skip("tshark is not installed (apt-get install tshark)")
    result = subprocess.run(
        [
            binary,
            "-n",
            "-r",
            str(pcap),
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    problems = [
        line
        for line in result.stderr.splitlines()
        if line.strip() and "Running as user" not in line
    ]
    assert result.returncode == 0, result.stderr
    assert problems == [], problems
    return result.stdout


def expert_warnings(pcap: Path, *decode_as: str) -> list[str]:
    """tshark's expert infos of level warning or error for `pcap` (bad checksums and so on)."""
    out = tshark(pcap, *decode_as, "-q", "-z", "expert,warn")
    return [line for line in out.splitlines() if line.strip() and not line.startswith("=")]
