"""The ACL in the broker process: `--acl-file` on the command line, SIGHUP to reload it."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from iotsim_tui.protocol.packets import SubAck
from tests.broker.raw import RawClient
from tests.support.bundled import run_bundled_broker


async def _code(port: int, topic_filter: str) -> int:
    client, _ = await RawClient.connected(port, "reader", username="reader")
    ack = await client.subscribe(topic_filter)
    await client.close()
    assert isinstance(ack, SubAck)
    return int(ack.reason_codes[0])


async def test_acl_file_from_the_command_line_and_reloaded_on_sighup(tmp_path: Path) -> None:
    acl = tmp_path / "acl.txt"
    acl.write_text("user reader\ntopic read public/#\n")
    with run_bundled_broker(tmp_path, extra_args=("--acl-file", str(acl))) as broker:
        assert broker.port is not None
        assert await _code(broker.port, "public/#") == 0
        assert await _code(broker.port, "private/#") == 0x87
        acl.write_text("user reader\ntopic read public/#\ntopic read private/#\n")
        broker.process.send_signal(signal.SIGHUP)
        for _ in range(500):
            if "reloaded the password file and the ACL" in broker.log.read_text():
                break
            await asyncio.sleep(0.02)
        assert await _code(broker.port, "private/#") == 0
