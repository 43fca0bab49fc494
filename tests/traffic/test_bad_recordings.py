"""Bad recordings are refused before anything is sent, naming the line; a replay that must stop
half way says at which line."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from iotsim_tui.cli import main
from iotsim_tui.errors import ConnectionFailed
from iotsim_tui.profiles.model import BrokerSettings
from iotsim_tui.protocol.reasons import MQTTVersion
from iotsim_tui.traffic.recording import RecordingError, check_recording
from iotsim_tui.traffic.replay import ReplayCount, ReplayStopped, replay
from tests.support.mosquitto import RunningMosquitto, stop
from tests.support.ports import free_port

GOOD = '{"time":1.0,"topic":"a/b","qos":0,"retain":false,"payload":"x"}\n'


@pytest.mark.parametrize(
    ("last_line", "problem"),
    [
        ('{"time":2.0,"topic":"a/b","qos":0,"payl', "truncated"),
        ("this is not json\n", "not JSON"),
        ('["a list"]\n', "not a JSON object"),
        ('{"time":2.0,"topic":"a/+","payload":"x"}\n', "'a/+' cannot be published"),
        ('{"time":2.0,"topic":"","payload":"x"}\n', "cannot be published"),
        ('{"time":2.0,"topic":"a","qos":3,"payload":"x"}\n', "'qos' must be 0, 1 or 2"),
        ('{"time":"soon","topic":"a","payload":"x"}\n', "'time' must be a number"),
        ('{"time":2.0,"topic":"a","payload":"!!","encoding":"base64"}\n', "not valid base64"),
        ('{"time":2.0,"topic":"a","payload":"x","colour":"red"}\n', "unknown key 'colour'"),
        ('{"time":2.0,"topic":"a","payload":"x","properties":{"user":[1]}}\n', "'user' must"),
    ],
)
def test_a_bad_line_is_named_by_file_and_line(tmp_path: Path, last_line: str, problem: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(GOOD + "\n" + GOOD + last_line)
    with pytest.raises(RecordingError) as caught:
        check_recording(path)
    assert caught.value.message.startswith(f"{path}:4: ")
    assert problem in caught.value.message


def test_an_empty_recording_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(RecordingError, match="holds no message"):
        check_recording(path)


def test_the_command_refuses_a_bad_recording_before_connecting(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(GOOD * 3 + '{"time":2.0,"topic":"a/#","payload":"x"}\n' + GOOD)
    # Nothing listens on the port: the recording's problem is found before any connection.
    result = subprocess.run(
        [sys.executable, "-m", "iotsim_tui", "replay", str(path), "--host", "127.0.0.1",
         "--port", str(free_port())],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"{path}:4: topic 'a/#' cannot be published" in result.stderr


async def test_an_unreachable_broker_is_a_connection_failure(tmp_path: Path) -> None:
    path = tmp_path / "good.jsonl"
    path.write_text(GOOD)
    settings = BrokerSettings(port=free_port(), bundled=False, protocol=MQTTVersion.V5)
    with pytest.raises(ConnectionFailed, match="could not reach the broker"):
        await replay(settings, path)


async def test_a_broker_lost_half_way_names_the_line(
    mosquitto: RunningMosquitto, tmp_path: Path
) -> None:
    path = tmp_path / "half.jsonl"
    path.write_text(
        "".join(
            f'{{"time":{i * 0.05},"topic":"half/{i}","qos":1,"retain":false,"payload":"{i}"}}\n'
            for i in range(200)
        )
    )
    settings = BrokerSettings(
        host=mosquitto.host, port=mosquitto.port, bundled=False, protocol=MQTTVersion.V5
    )
    five_sent = asyncio.Event()

    def sent(count: ReplayCount) -> None:
        if count.messages >= 5:
            five_sent.set()

    task = asyncio.create_task(replay(settings, path, sent=sent))
    await asyncio.wait_for(five_sent.wait(), 30)
    await asyncio.to_thread(stop, mosquitto.process)
    with pytest.raises(ReplayStopped) as caught:
        await asyncio.wait_for(task, 30)
    line = int(caught.value.message.split(":")[1])
    assert 5 <= line < 200
    assert caught.value.message.startswith(f"{path}:{line}: ")
    assert "sent" in caught.value.message


async def test_record_with_a_profile_starts_its_bundled_broker(tmp_path: Path) -> None:
    port = free_port()
    profile = tmp_path / "hall.toml"
    profile.write_text(f'[network]\nname = "HALL"\n\n[network.broker]\nport = {port}\n')
    out = tmp_path / "hall.jsonl"
    command = [sys.executable, "-m", "iotsim_tui", "record", str(profile), "--out", str(out)]
    result = await asyncio.to_thread(
        subprocess.run,
        [*command, "--duration", "0.5"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert f"starting the bundled broker on 127.0.0.1:{port}" in result.stderr
    assert f"recorded 0 messages on 0 topics to {out}" in result.stderr
    assert out.read_text() == ""


def test_record_refuses_a_filter_mqtt_does_not_allow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never.jsonl"
    code = main(
        ["record", "--host", "127.0.0.1", "--port", "1", "--topic", "a/#/b", "--out", str(out)]
    )
    assert code == 2
    assert "--topic 'a/#/b'" in capsys.readouterr().err
    assert not out.exists()
