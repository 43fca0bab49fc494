"""The simulation in a child process: requests, replies, events, stopping, and its death.

Real things only: the app's bundled broker on a free port, a real child process (checked by
its pid in /proc), devices with a last will so the broker itself says whether they left in
an orderly way (a DISCONNECT) or were cut off (the broker publishes the will).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import aiomqtt
import pytest

from iotsim_tui.engine.events import DeviceStatus, MessageIn
from iotsim_tui.errors import IotsimError, ProfileProblem, TLSFailure
from iotsim_tui.profiles.model import BrokerSettings, Device, Network, Subscription, Will
from iotsim_tui.runner.messages import Failure
from iotsim_tui.tui.screens.main import MainScreen
from iotsim_tui.tui.session import OpenNetwork
from iotsim_tui.tui.widgets.log_view import LogView
from tests.support.bundled import skip_without_broker
from tests.support.listener import listening
from tests.support.mosquitto import RunningMosquitto
from tests.support.ports import free_port
from tests.tui.pilot import WAIT, app_on, wait_for

pytestmark = pytest.mark.slow


def _network(port: int) -> Network:
    def will(device_id: str) -> Will:
        return Will(f"lab/{device_id}/will", payload=f"{device_id} dropped")

    return Network(
        "CHILD",
        broker=BrokerSettings(port=port),
        devices=(
            Device(
                "Temperature_Sensor",
                "TS1",
                subscribe=(Subscription("High_Tempe"),),
                will=will("TS1"),
            ),
            Device("Humidity_Sensor", "HS1", will=will("HS1")),
        ),
    )


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def _messages(app: object) -> list[str]:
    return [n.message for n in app._notifications]  # type: ignore[attr-defined]


def _log_text(screen: MainScreen) -> str:
    return "\n".join(screen.query_one("#log").query_one(LogView).text_of_rows())


def _all(opened: OpenNetwork, status: DeviceStatus) -> bool:
    return all(r.status is status for r in opened.records.values())


async def test_a_network_runs_in_a_child_process_and_stops_in_an_orderly_way(
    tmp_path: Path,
) -> None:
    skip_without_broker()
    port = free_port()
    app = app_on(tmp_path, _network(port))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        opened = app.session.networks[0]
        await wait_for(pilot, lambda: app.session.brokers, "the bundled broker")
        async with listening(port, "lab/#") as arrived:
            await pilot.press("S")
            await wait_for(pilot, lambda: _all(opened, DeviceStatus.CONNECTED), "devices up")
            engine = opened.engine
            assert engine is not None
            pid = engine.pid
            assert pid is not None
            assert pid != os.getpid()
            assert _alive(pid)
            await wait_for(pilot, lambda: "High_Tempe" in _log_text(screen), "TS1's log lines")

            # Publish and subscribe now, answered by the child.
            await opened.publish("TS1", "lab/out", "from TS1", qos=1, retain=False)
            await wait_for(pilot, lambda: any(m.payload == b"from TS1" for m in arrived), "out")
            await opened.subscribe("HS1", "lab/cmd", qos=1)
            await pilot.press("down")
            await wait_for(pilot, lambda: screen.device_id == "HS1", "HS1 selected")
            await wait_for(
                pilot,
                lambda: any(
                    row.filter == "lab/cmd" and row.since is not None
                    for row in opened.subscription_rows("HS1")
                ),
                "HS1's live subscription from its view",
            )
            await opened.publish("TS1", "lab/cmd", "hello HS1", qos=1, retain=False)
            await wait_for(pilot, lambda: "hello HS1" in _log_text(screen), "HS1 got it")
            assert any(isinstance(e, MessageIn) for e in opened.records["HS1"].log)

            # Failures come back as the errors the engine raised, in words.
            with pytest.raises(IotsimError) as refused:
                await opened.publish("TS1", "lab/#", "x", qos=0, retain=False)
            assert refused.value.title == "Invalid topic"
            assert "lab/#" in refused.value.message
            with pytest.raises(KeyError, match="NOPE"):
                await opened.publish("NOPE", "lab/out", "x", qos=0, retain=False)

            await pilot.press("S")
            await wait_for(pilot, lambda: opened.engine is None, "the network stopped")
            await wait_for(pilot, lambda: not _alive(pid), "the child process gone")
            # Every device said so itself before the child ended: not the app's fallback.
            stopped = [e for e in opened.records["TS1"].log if getattr(e, "status", None)]
            assert stopped[-1].status is DeviceStatus.STOPPED  # type: ignore[union-attr]
            assert stopped[-1].detail == "stopped"  # type: ignore[union-attr]
            # A will would be published when the broker saw a device's link go, before the
            # child ended; a message sent after that arrives after any such will.
            async with aiomqtt.Client("127.0.0.1", port, identifier="marker") as marker:
                await marker.publish("lab/marker", b"after the stop", qos=1)
            await wait_for(
                pilot, lambda: any(m.topic.matches("lab/marker") for m in arrived), "the marker"
            )
            assert [m for m in arrived if m.topic.matches("lab/+/will")] == []
        assert _messages(app) == []


async def test_a_crashed_child_is_said_in_words_and_the_app_goes_on(tmp_path: Path) -> None:
    skip_without_broker()
    port = free_port()
    app = app_on(tmp_path, _network(port))
    async with app.run_test(size=(120, 40)) as pilot:
        opened = app.session.networks[0]
        await wait_for(pilot, lambda: app.session.brokers, "the bundled broker")
        async with listening(port, "lab/+/will") as wills:
            await pilot.press("S")
            await wait_for(pilot, lambda: _all(opened, DeviceStatus.CONNECTED), "devices up")
            assert opened.engine is not None
            pid = opened.engine.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)  # the child this test's app started
            await wait_for(pilot, lambda: _messages(app), "the news")
            (message,) = _messages(app)
            assert "CHILD stopped unexpectedly (killed by signal SIGKILL)" in message
            assert "start the network again (S)" in message
            assert opened.engine is None
            assert _all(opened, DeviceStatus.STOPPED)
            # The broker saw the devices cut off, unlike after a stop.
            await wait_for(pilot, lambda: len(wills) == 2, "both wills")

        await pilot.press("S")
        await wait_for(pilot, lambda: _all(opened, DeviceStatus.CONNECTED), "devices up again")
        assert opened.engine is not None
        assert opened.engine.pid != pid
        await pilot.press("S")
        await wait_for(pilot, lambda: opened.engine is None, "the network stopped")


async def test_quitting_while_a_network_runs_ends_its_child(tmp_path: Path) -> None:
    skip_without_broker()
    app = app_on(tmp_path, _network(free_port()))
    async with app.run_test(size=(120, 40)) as pilot:
        opened = app.session.networks[0]
        await wait_for(pilot, lambda: app.session.brokers, "the bundled broker")
        await pilot.press("S")
        await wait_for(pilot, lambda: _all(opened, DeviceStatus.CONNECTED), "devices up")
        assert opened.engine is not None
        pid = opened.engine.pid
        assert pid is not None
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, "the app to end")
    deadline = time.monotonic() + WAIT
    while _alive(pid):
        assert time.monotonic() < deadline, f"child {pid} outlived the app"
        await asyncio.sleep(0.05)


ORPHAN = """
import asyncio, sys
from iotsim_tui.engine.events import DeviceStatus
from iotsim_tui.profiles.model import BrokerSettings, Device, Network
from iotsim_tui.runner.digest import Digest
from iotsim_tui.runner.process import EngineProcess

network = Network(
    "ORPHAN",
    broker=BrokerSettings(port=int(sys.argv[1]), bundled=False),
    devices=(Device("Sensor", "ORPHAN1"),),
)
engine = EngineProcess(network, None)

def on_news(news):
    if isinstance(news, Digest) and any(
        status is DeviceStatus.CONNECTED for status, _ in news.statuses.values()
    ):
        print(engine.pid, flush=True)

if __name__ == "__main__":
    asyncio.run(engine.run(None, on_news))
"""


def test_the_child_ends_when_the_app_dies(tmp_path: Path, mosquitto: RunningMosquitto) -> None:
    script = tmp_path / "orphan.py"
    script.write_text(textwrap.dedent(ORPHAN))
    app = subprocess.Popen(
        [sys.executable, str(script), str(mosquitto.port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert app.stdout is not None
        line = app.stdout.readline()
        assert line.strip().isdigit(), f"the child never connected (exit code {app.poll()})"
        child = int(line)
        assert _alive(child)
    finally:
        app.kill()  # the app this test started, by its pid
        app.wait()
    deadline = time.monotonic() + WAIT
    while _alive(child):
        assert time.monotonic() < deadline, f"child {child} outlived its app"
        time.sleep(0.05)


def test_failures_cross_the_pipe_as_their_own_class_and_words(
    caplog: pytest.LogCaptureFixture,
) -> None:
    problem = ProfileProblem("lab.toml", "devices.id", "is used twice", line=7)
    rebuilt = Failure.of(problem).rebuild()
    assert type(rebuilt) is ProfileProblem
    assert str(rebuilt) == "lab.toml:7: devices.id: is used twice"

    tls = Failure.of(TLSFailure("the server's certificate is not for localhost")).rebuild()
    assert isinstance(tls, TLSFailure)
    assert tls.title == "TLS failure"

    titled = Failure.of(IotsimError("no", title="Invalid QoS")).rebuild()
    assert isinstance(titled, IotsimError)
    assert titled.title == "Invalid QoS"

    missing = Failure.of(KeyError("no device 'X' in network LAB")).rebuild()
    assert isinstance(missing, KeyError)
    assert missing.args == ("no device 'X' in network LAB",)

    class Odd(Exception):
        pass

    try:
        raise Odd("a bug")
    except Odd as error:
        failure = Failure.of(error)
    # The traceback, by function and exception (its source lines depend on the file on disk).
    where = "in test_failures_cross_the_pipe_as_their_own_class_and_words"
    assert where in failure.details
    assert "Odd: a bug" in failure.details
    assert str(failure.rebuild()) == "Odd in the simulation's process: a bug"
    assert where in caplog.text  # the child's traceback, in the app's log


def test_what_the_fork_server_preloads_never_imports_textual() -> None:
    from iotsim_tui.runner.process import PRELOADED

    modules = [name for name in PRELOADED if name != "__main__"]
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_events_cross_the_pipe_unchanged_when_pickled_by_constructor() -> None:
    import copyreg
    import pickle

    from iotsim_tui.engine.events import (
        DeviceError,
        LogLine,
        MessageKind,
        MessageOut,
        StatusChanged,
    )
    from iotsim_tui.runner.child import _pickle_events_by_constructor

    events = [
        StatusChanged("TS1", DeviceStatus.CONNECTED, "session new", 1.0),
        LogLine("TS1", "subscribed", 2.0),
        MessageIn("TS1", "High_Tempe", 1, True, b"\x00\xff", 2, False, 3.0),
        MessageOut("TS1", "t/TS1", 0, False, b"{}", 2, MessageKind.TELEMETRY, 4.0),
        DeviceError("TS1", "not authorized", 5.0),
    ]
    _pickle_events_by_constructor()
    try:
        assert pickle.loads(pickle.dumps(events, protocol=5)) == events  # noqa: S301 (our own bytes)
        assert all(type(event) in copyreg.dispatch_table for event in events)
    finally:
        for event in events:
            copyreg.dispatch_table.pop(type(event), None)


async def test_a_device_added_while_the_network_runs_starts_without_a_restart(
    tmp_path: Path,
) -> None:
    skip_without_broker()
    port = free_port()
    network = _network(port)
    app = app_on(tmp_path, network)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        opened = app.session.networks[0]
        await wait_for(pilot, lambda: app.session.brokers, "the bundled broker")
        await pilot.press("S")
        await wait_for(pilot, lambda: _all(opened, DeviceStatus.CONNECTED), "devices up")
        engine = opened.engine
        opened.apply(
            Network(
                network.name,
                broker=network.broker,
                devices=(*network.devices, Device("Extra", "EX1")),
            )
        )
        assert not opened.stale, "an added device needs no restart"
        screen.start(opened, ["EX1"])
        await wait_for(
            pilot,
            lambda: opened.records["EX1"].status is DeviceStatus.CONNECTED,
            "EX1 connected",
        )
        assert opened.engine is engine, "the running simulation took the device"
        assert not any("no device" in message for message in _messages(app))
        await pilot.press("S")
        await wait_for(pilot, lambda: _all(opened, DeviceStatus.STOPPED), "devices stopped")
