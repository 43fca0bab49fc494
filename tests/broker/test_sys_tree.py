"""The `$SYS/broker/...` topics as mosquitto names them, read by mosquitto_sub from the real
broker process, next to the broker console feed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.bundled import run_bundled_broker

MOSQUITTO_NAMES = {
    "version",
    "uptime",
    "clients/connected",
    "clients/disconnected",
    "clients/total",
    "clients/maximum",
    "messages/received",
    "messages/sent",
    "publish/messages/received",
    "publish/messages/sent",
    "publish/messages/dropped",
    "bytes/received",
    "bytes/sent",
    "subscriptions/count",
    "retained messages/count",
    "store/messages/count",
}


def _sys_values(port: int) -> dict[str, str]:
    """Every retained $SYS/broker value, as mosquitto_sub prints them (topic, tab, payload)."""
    done = subprocess.run(
        [
            *("mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv311"),
            *("-t", "$SYS/broker/#", "-F", "%t\t%p", "--retained-only", "-W", "20"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    values: dict[str, str] = {}
    for line in done.stdout.splitlines():
        topic, _, value = line.partition("\t")  # "retained messages/count" has a space
        values[topic.removeprefix("$SYS/broker/")] = value
    return values


@pytest.mark.skipif(shutil.which("mosquitto_sub") is None, reason="mosquitto-clients missing")
def test_mosquitto_sub_reads_the_sys_topics(tmp_path: Path) -> None:
    with run_bundled_broker(tmp_path) as broker:
        assert broker.port is not None
        # A message from mosquitto_pub, counted in the statistics a second later at most.
        subprocess.run(
            [
                *("mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port)),
                *("-t", "a/b", "-m", "x", "-r"),
            ],
            check=True,
            timeout=20,
        )
        values = _sys_values(broker.port)
        for _ in range(20):
            if values.get("publish/messages/received") not in (None, "0"):
                break
            values = _sys_values(broker.port)
    missing = MOSQUITTO_NAMES - set(values)
    assert not missing, f"missing: {sorted(missing)}; got {values}"
    assert values["version"].startswith("iotsim-tui ")
    assert values["uptime"].endswith(" seconds")
    assert all(values[name].isdigit() for name in MOSQUITTO_NAMES - {"version", "uptime"})
    assert int(values["retained messages/count"]) >= 1
    assert int(values["bytes/received"]) > 0
    assert values["publish/messages/received"] == "1"
