"""The headless summary as a load tool gives it, checked against an independent subscriber."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from iotsim_tui.engine.histogram import Histogram
from tests.support.mosquitto import RunningMosquitto
from tests.unit.test_headless import iotsim

PROFILE = """
[network]
name = "LOAD"

[network.broker]
host = "127.0.0.1"
port = {port}
bundled = false

[network.ramp]
rate = 1000.0
in_flight = 100

[[templates]]
name = "Meter {{n}}"
id = "M{{n}}"
count = 12

[[templates.telemetry]]
topic = "{base}/{{id}}/t"
interval = 0.1
qos = 1

[templates.telemetry.fields]
n = {{ kind = "counter" }}
"""


def count_lines(path: Path) -> int:
    return len(path.read_bytes().splitlines())


def wait_for(condition: object, what: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    assert callable(condition)
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_the_summary_agrees_with_an_independent_subscriber(
    mosquitto: RunningMosquitto, tmp_path: Path
) -> None:
    sub, pub = shutil.which("mosquitto_sub"), shutil.which("mosquitto_pub")
    if sub is None or pub is None:
        pytest.skip("mosquitto-clients is not installed")
    base = f"load-{time.monotonic_ns()}"
    profile = tmp_path / "load.toml"
    profile.write_text(PROFILE.format(port=mosquitto.port, base=base))
    seen = tmp_path / "seen.txt"
    port = str(mosquitto.port)
    with seen.open("wb") as out:
        listener = subprocess.Popen(
            [sub, "-h", "127.0.0.1", "-p", port, "-q", "1", "-t", f"{base}/#", "-v"], stdout=out
        )
    try:
        ready = [pub, "-h", "127.0.0.1", "-p", port, "-q", "1", "-t", f"{base}/ready", "-m", "x"]
        wait_for(
            lambda: subprocess.run(ready, check=True) and count_lines(seen) > 0,
            "mosquitto_sub to subscribe",
        )
        marks = count_lines(seen)
        summary_file = tmp_path / "summary.json"
        done = iotsim(
            "run", str(profile), "--duration", "3", "--workers", "2", "--summary", str(summary_file)
        )
        assert done.returncode == 0, done.stdout + done.stderr
        summary = json.loads(summary_file.read_text())
        sent = summary["messages"]["sent"]
        wait_for(lambda: count_lines(seen) - marks >= sent, "every message at mosquitto_sub", 10)
    finally:
        listener.terminate()
        listener.wait(10)
    telemetry = [line for line in seen.read_bytes().splitlines() if b"/ready " not in line]
    assert sent > 100
    assert abs(len(telemetry) - sent) <= 0.01 * sent, (len(telemetry), sent)
    assert summary["ledger"]["acknowledged"] == sent

    connections = summary["connections"]
    assert (connections["devices"], connections["accepted"]) == (12, 12)
    assert Histogram.from_json(connections["connect_time"]["histogram"]).count == 12
    assert connections["per_second"] > 0
    assert summary["messages"]["sent_per_second"] == pytest.approx(
        sent / summary["seconds"], rel=0.01
    )
    latency = summary["latency"]
    assert latency["count"] > 10  # both workers' probes timed their own devices
    assert Histogram.from_json(latency["histogram"]).count == latency["count"]
    assert 0 < latency["p50_ms"] <= latency["p95_ms"] <= latency["p99_ms"]

    # The text says what the JSON says.
    text = done.stdout
    assert f"messages: {sent:,} published ({summary['messages']['sent_per_second']:,.1f}/s" in text
    p50 = re.search(r"latency, publish to delivery: p50 ([\d.]+) ms", text)
    assert p50 is not None, text
    assert float(p50.group(1)) == pytest.approx(latency["p50_ms"], abs=0.05)
    assert "connections: 12 devices connected at" in text
    assert "result: ok" in text
