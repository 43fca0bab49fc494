"""`iotsim-tui run` as users run it: a subprocess against mosquitto on a free port."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import io
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pytest

from iotsim_tui.engine import Summary
from iotsim_tui.errors import UsageError
from iotsim_tui.headless.options import RunOptions, parse_shard
from iotsim_tui.headless.output import Display
from iotsim_tui.headless.workers import run_workers
from tests.support.bundled import skip_without_broker
from tests.support.mosquitto import RunningMosquitto
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 90

SMALL = """
[network]
name = "SMALL"

[network.broker]
host = "127.0.0.1"
port = {port}
bundled = false
username = "ward"
password = "hunter2-secret"

[network.ramp]
rate = 1000.0
in_flight = 100

[[templates]]
name = "Sensor {{n}}"
id = "S{{n}}"
count = {count}

[[templates.telemetry]]
topic = "small/{{id}}/t"
interval = 0.2

[templates.telemetry.fields]
n = {{ kind = "counter" }}
"""


def iotsim(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the command line to its end."""
    return subprocess.run(
        [sys.executable, "-m", "iotsim_tui", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


STARTING = 0.5
"""Seconds from the run's clock starting to its first device's "connecting" (a task's turn)."""


def ran_for(records: list[dict[str, Any]]) -> float:
    """Seconds from the first device starting to connect to the last one stopped, by their events.

    A bound for the run's own count that a loaded machine cannot break: a process stalled at
    the end of the duration stops its devices late and both grow alike (a bound in seconds,
    such as duration + 0.4, fails when the run is stalled 0.6 s at that moment).
    """
    statuses = [r for r in records if r["type"] == "status"]
    first = min(r["at"] for r in statuses if r["status"] == "connecting")
    last = max(r["at"] for r in statuses if r["status"] == "stopped")
    return float(last - first)


def small_profile(tmp_path: Path, port: int, count: int = 3) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL.format(port=port, count=count))
    return path


@pytest.mark.slow
def test_fleet_1000_runs_against_mosquitto(mosquitto: RunningMosquitto) -> None:
    done = iotsim(
        "run", "profiles/fleet_1000.toml", "--port", str(mosquitto.port), "--duration", "4"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = done.stdout.splitlines()
    head = next(line for line in report if line.startswith("FLEET_1000: 1,000 devices ran for"))
    connected = int(head.split("; ")[1].split(" were connected")[0].replace(",", ""))
    assert connected > 500  # the profile's ramp is 500 a second, on a shared machine
    assert head.endswith(", 0 reported errors")
    assert "result: ok" in report


def test_json_lines_carry_the_events_and_never_the_password(
    mosquitto: RunningMosquitto, tmp_path: Path
) -> None:
    profile = small_profile(tmp_path, mosquitto.port)
    done = iotsim("run", str(profile), "--duration", "1.5", "--json", "--device", "S2")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert {r["device"] for r in records if "device" in r} == {"S2"}
    statuses = [r["status"] for r in records if r["type"] == "status"]
    assert statuses[:2] == ["connecting", "connected"]
    assert statuses[-1] == "stopped"
    sent = [r for r in records if r["type"] == "message_out"]
    assert sent[0]["topic"] == "small/S2/t"
    assert json.loads(sent[0]["payload"]) == {"n": 0}
    summary = records[-1]
    assert summary["type"] == "summary"
    assert (summary["devices"], summary["ok"]) == (1, True)
    assert summary["ledger"]["accepted"] == summary["messages_out"] == len(sent)
    # --duration counts from the devices' start: the run ends then, whatever came before.
    assert 1.5 <= summary["seconds"] <= ran_for(records) + STARTING
    assert f"SMALL: 1 device ran for {summary['seconds']:.1f} s;" in done.stderr
    assert "hunter2-secret" not in done.stdout + done.stderr


def test_devices_that_cannot_connect_make_the_exit_code_1(tmp_path: Path) -> None:
    profile = small_profile(tmp_path, free_port())
    done = iotsim("run", str(profile), "--duration", "1")
    assert done.returncode == 1
    assert re.search(
        r"^error: S[123]: connection refused by 127\.0\.0\.1:\d+: is the broker running\?$",
        done.stdout,
        re.M,
    )
    assert "result: errors (exit code 1)" in done.stdout


def test_unknown_device_and_bad_options_are_usage_errors(tmp_path: Path) -> None:
    profile = small_profile(tmp_path, free_port())
    done = iotsim("run", str(profile), "--device", "S9", "--duration", "1")
    assert done.returncode == 2
    assert "usage error: --device: no device S9 in this network" in done.stderr
    done = iotsim("run", str(profile), "--shard", "3/2")
    assert done.returncode == 2
    assert "I must be between 1 and N" in done.stderr


@pytest.mark.slow
def test_workers_share_the_devices_and_merge_their_summaries(
    mosquitto: RunningMosquitto, tmp_path: Path
) -> None:
    profile = small_profile(tmp_path, mosquitto.port, count=10)
    done = iotsim("run", str(profile), "--duration", "2", "--workers", "2", "--json")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    connected = {r["device"] for r in records if r.get("status") == "connected"}
    assert connected == {f"S{n}" for n in range(1, 11)}
    summary = records[-1]
    assert (summary["type"], summary["devices"], summary["connected"]) == ("summary", 10, 10)
    assert summary["ledger"]["accepted"] == summary["messages_out"] > 0
    # The parent stops the workers --duration after the first one started its devices.
    assert 2.0 <= summary["seconds"] <= ran_for(records) + STARTING


@pytest.mark.slow
def test_ctrl_c_stops_cleanly(mosquitto: RunningMosquitto, tmp_path: Path) -> None:
    profile = small_profile(tmp_path, mosquitto.port)
    process = subprocess.Popen(
        [sys.executable, "-m", "iotsim_tui", "run", str(profile), "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + TIMEOUT
        for line in process.stdout:
            if json.loads(line).get("type") == "message_out" or time.monotonic() > deadline:
                break
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, errors  # interrupted, as shells report Ctrl-C
    summary = json.loads(rest.splitlines()[-1])
    assert (summary["type"], summary["devices"], summary["failed"]) == ("summary", 3, 0)
    assert summary["interrupted"] is True
    assert "result: interrupted (exit code 130)" in errors
    assert "Traceback" not in errors


@pytest.mark.slow
def test_ctrl_c_in_a_terminal_prints_the_summary_once_and_exits_130(
    mosquitto: RunningMosquitto, tmp_path: Path
) -> None:
    profile = small_profile(tmp_path, mosquitto.port, count=1)
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "iotsim_tui", "run", str(profile)],
        cwd=ROOT,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, "COLUMNS": "100", "LINES": "30", "TERM": "xterm"},
        # A session of its own with the terminal as its controlling one, so that Ctrl-C typed
        # there reaches it as SIGINT, as in a shell.
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0) if os.setsid() is None else None,
    )
    os.close(terminal)
    shown = b""

    def read_until(wanted: bytes) -> None:
        nonlocal shown
        deadline = time.monotonic() + TIMEOUT
        while wanted not in shown and time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # the process ended and closed the terminal
                    return
                if not chunk:
                    return
                shown += chunk

    try:
        read_until(b"running")
        os.write(controller, b"\x03")  # Ctrl-C typed on the terminal: SIGINT to the group
        read_until(b"\x00")  # never shown: reads to the end of the output
        process.wait(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    text = shown.decode("utf-8", "replace")
    assert process.returncode == 130, text
    assert "result: interrupted (exit code 130)" in text
    assert "SMALL: 1 device ran for " in text
    assert "; 1 was connected when it stopped, 0 reported errors" in text
    assert "^C" not in text  # the echo would wrap the live line and leave a copy of it
    assert "Traceback" not in text


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_eavesdrop_writes_a_pcap_that_tshark_reads(
    mosquitto: RunningMosquitto, tmp_path: Path
) -> None:
    profile = small_profile(tmp_path, mosquitto.port, count=1)
    capture = tmp_path / "run.pcap"
    # --pcap alone: the capture comes from the relay, so asking for one turns the relay on.
    done = iotsim("run", str(profile), "--duration", "1", "--pcap", str(capture))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"capture written to {capture}" in done.stdout
    shown = subprocess.run(
        ["tshark", "-r", str(capture), "-d", f"tcp.port=={mosquitto.port},mqtt", "-Y", "mqtt"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "HOME": str(tmp_path)},
    ).stdout
    assert "Connect Command" in shown
    assert "Publish Message [small/S1/t]" in shown


def test_pcap_implies_eavesdrop() -> None:
    from iotsim_tui.headless import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = RunOptions.from_args(parser.parse_args(["p.toml", "--pcap", "x.pcap"]))
    assert options.eavesdrop
    assert options.pcap == Path("x.pcap")
    assert not RunOptions.from_args(parser.parse_args(["p.toml"])).eavesdrop


def test_shards_and_workers_split_the_devices_exactly() -> None:
    assert parse_shard("2/4") == (1, 4)
    for text in ("0/4", "5/4", "x", "1-4"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_shard(text)
    options = RunOptions(profile=Path("p.toml"), workers=3, shard=(1, 2))
    slices = [options.worker_shard(w) for w in range(3)]
    devices = list(range(30))
    taken = sorted(d for index, count in slices for d in devices[index::count])  # type: ignore[misc]
    assert taken == devices[1::2]
    with pytest.raises(UsageError, match="--workers 0"):
        RunOptions(profile=Path("p.toml"), workers=0).check()


@pytest.mark.slow
def test_the_bundled_broker_is_started_when_the_profile_asks_and_nothing_listens() -> None:
    skip_without_broker()
    port = free_port()
    done = iotsim("run", "profiles/health_care.toml", "--port", str(port), "--duration", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "HEALTH_CARE: " in done.stdout
    assert "0 reported errors" in done.stdout
    with socket.socket() as probe:  # and stopped afterwards
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    done = iotsim(
        "run", "profiles/health_care.toml", "--port", str(port), "--duration", "1", "--no-broker"
    )
    assert done.returncode == 1
    assert "connection refused" in done.stdout


@pytest.mark.slow
def test_a_broker_already_on_the_port_is_used_and_said(mosquitto: RunningMosquitto) -> None:
    port = str(mosquitto.port)
    done = iotsim("run", "profiles/health_care.toml", "--port", port, "--duration", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"a broker already listens on 127.0.0.1:{port}: the devices use it" in done.stderr
    assert "already listens" not in done.stdout  # stdout is for the summary (and --json)


class RecordingDisplay(Display):
    """The live display, keeping every summary it was shown."""

    def __init__(self) -> None:
        super().__init__(json_lines=False, stream=io.StringIO())
        self.shown: list[Summary] = []

    def update(self, summary: Summary, elapsed: float) -> None:
        self.shown.append(summary)


@pytest.mark.slow
async def test_the_workers_live_line_ends_with_the_final_counts(
    mosquitto: RunningMosquitto, tmp_path: Path
) -> None:
    # Stopped as Ctrl-C stops it: the workers publish until they are told, after the last
    # live sample they sent.
    profile = small_profile(tmp_path, mosquitto.port, count=6)
    options = RunOptions(profile=profile, workers=2)
    display = RecordingDisplay()
    stop = asyncio.Event()

    def stop_once_publishing() -> None:
        if display.shown and display.shown[-1].messages_out > 20:
            stop.set()
        else:
            asyncio.get_running_loop().call_later(0.1, stop_once_publishing)

    stop_once_publishing()
    summary = await run_workers(options, None, display, stop)
    assert summary.messages_out > 20
    last = display.shown[-1]
    assert (last.devices, last.messages_out) == (6, summary.messages_out)
