"""The headless summary as a load tool gives it, checked against an independent subscriber."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iotsim_tui.engine.histogram import Histogram
from tests.engine.helpers import mosquitto_on
from tests.support.mosquitto import RunningMosquitto, mosquitto_path
from tests.support.ports import free_port
from tests.tui.password_broker import password_mosquitto
from tests.unit.test_headless import ROOT, TIMEOUT, iotsim

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
    # The last message may still wait for its PUBACK when the run stops: it is counted queued.
    ledger = summary["ledger"]
    assert ledger["acknowledged"] + ledger["queued"] == ledger["accepted"] == sent
    assert ledger["dropped"] == 0

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


def start_run(profile: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    """`iotsim-tui run` without a terminal, its stdout and stderr in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "iotsim_tui", "run", str(profile), *args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


@pytest.mark.slow
def test_an_outage_that_recovered_with_a_clean_ledger_is_a_warning(tmp_path: Path) -> None:
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed")
    port = free_port()
    profile = tmp_path / "load.toml"
    profile.write_text(PROFILE.format(port=port, base="outage").replace("count = 12", "count = 3"))
    log = tmp_path / "run.log"
    with mosquitto_on(port, tmp_path):
        run = start_run(profile, "--duration", "6", "--summary", str(tmp_path / "s.json"), log=log)
        wait_for(lambda: _telemetry_from(port) == {"M1", "M2", "M3"}, "the devices' telemetry")
    # The broker is gone: each device says so when it happens, without a terminal.
    wait_for(lambda: log.read_bytes().count(b"error: device") >= 1, "the devices' errors", 10)
    with mosquitto_on(port, tmp_path):
        run.wait(TIMEOUT)
    output = log.read_text()
    assert run.returncode == 0, output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert (summary["failed"], summary["recovered"], summary["ok"]) == (3, 3, True), output
    assert summary["ledger"]["dropped"] == 0
    assert summary["outages"]["devices"] == 3
    assert all(o["seconds"] > 0 for o in summary["outages"]["longest"])
    assert "offline: 3 devices lost the connection" in output
    assert "warning: 3 devices reported errors and connected again" in output
    assert "result: ok, with warnings" in output


def test_without_a_terminal_a_failure_is_told_and_a_hopeless_run_ends(tmp_path: Path) -> None:
    with password_mosquitto(tmp_path) as broker:
        profile = tmp_path / "load.toml"
        text = PROFILE.format(port=broker.port, base="denied").replace("count = 12", "count = 2")
        text = text.replace(
            "bundled = false", 'bundled = false\nusername = "alice"\npassword = "wrong-secret-77"'
        )
        profile.write_text(text)
        log = tmp_path / "run.log"
        run = start_run(profile, log=log)  # no --duration: it ends because nothing can recover
        try:
            run.wait(TIMEOUT)
        finally:
            if run.poll() is None:
                run.kill()
    output = log.read_text()
    assert run.returncode == 1, output
    told = output.index("error: devices M1, M2: not authorized")
    assert told < output.index("LOAD: 2 devices ran for")
    assert "every device failed and trying again cannot help" in output
    assert "wrong-secret-77" not in output


def _telemetry_from(port: int) -> set[str]:
    """The devices whose telemetry reaches a subscriber within a second."""
    sub = shutil.which("mosquitto_sub")
    assert sub is not None
    done = subprocess.run(
        [sub, "-h", "127.0.0.1", "-p", str(port), "-t", "outage/+/t", "-v", "-W", "1", "-C", "30"],
        capture_output=True,
        check=False,
    )
    return {line.split(b"/")[1].decode() for line in done.stdout.splitlines()}
