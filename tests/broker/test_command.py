"""`iotsim-tui broker` as a real process: ready lines, signals, port in use, config, passwd."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import stat
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from iotsim_tui.broker.auth import PasswordFile
from iotsim_tui.cli import main
from iotsim_tui.protocol.reasons import ReasonCode
from tests.broker.raw import TIMEOUT, RawClient
from tests.support.certs import make_cert_dir

READY = re.compile(r"^ready: (plain|tls) 127\.0\.0\.1:(\d+)$")
pytestmark = pytest.mark.slow


@dataclass
class BrokerRun:
    """A broker process started by a test, with the ports from its ready lines."""

    process: asyncio.subprocess.Process
    ports: dict[str, int]
    lines: list[str]

    async def rest_of_stderr(self) -> str:
        """Everything it writes to stderr until it exits."""
        assert self.process.stderr is not None
        async with asyncio.timeout(TIMEOUT):
            rest = await self.process.stderr.read()
        return "\n".join(self.lines) + "\n" + rest.decode()


async def _start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "iotsim_tui", "broker", *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


@asynccontextmanager
async def running_broker(*args: str, listeners: int = 1) -> AsyncIterator[BrokerRun]:
    """Start the broker command, wait for its ready lines, and stop it (by its PID) after."""
    process = await _start(*args)
    run = BrokerRun(process, {}, [])
    try:
        assert process.stderr is not None
        async with asyncio.timeout(30):
            while len(run.ports) < listeners:
                line = (await process.stderr.readline()).decode().rstrip("\n")
                assert line or process.returncode is None, f"broker exited: {run.lines}"
                run.lines.append(line)
                match = READY.match(line)
                if match:
                    run.ports[match[1]] = int(match[2])
        yield run
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_ready_line_connection_log_and_clean_stop_on_sigterm() -> None:
    async with running_broker("--port", "0") as broker:
        assert [line for line in broker.lines if line.startswith("ready:")] == [
            f"ready: plain 127.0.0.1:{broker.ports['plain']}"
        ]
        client, _ = await RawClient.connected(broker.ports["plain"], "TS1", version=4)
        await client.close()
        watcher, _ = await RawClient.connected(broker.ports["plain"], "watcher")
        broker.process.send_signal(signal.SIGTERM)
        disconnect = await watcher.expect_disconnect()
        assert disconnect.reason_code == ReasonCode.SERVER_SHUTTING_DOWN
        async with asyncio.timeout(TIMEOUT):
            assert await broker.process.wait() == 0
        log = await broker.rest_of_stderr()
    assert re.search(r"connect TS1 from 127\.0\.0\.1:\d+ on plain port \d+ \(MQTT 3\.1\.1\)", log)
    assert "disconnect TS1 (127.0.0.1:" in log


async def test_sigint_stops_cleanly() -> None:
    async with running_broker("--port", "0") as broker:
        broker.process.send_signal(signal.SIGINT)
        async with asyncio.timeout(TIMEOUT):
            assert await broker.process.wait() == 0


async def test_port_in_use_exits_3_in_plain_words() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await _start("--port", str(port))
        async with asyncio.timeout(30):
            _, stderr = await process.communicate()
    assert process.returncode == 3
    assert f"port {port} on 127.0.0.1 is already in use" in stderr.decode()
    assert "Traceback" not in stderr.decode()


async def test_tls_only_with_a_config_file(tmp_path: Path) -> None:
    certs = make_cert_dir(tmp_path)
    config = tmp_path / "broker.toml"
    config.write_text(f'[broker]\ntls_port = 0\ncerts = "{certs}"\nmax_packet_size = 4096\n')
    async with running_broker("--config", str(config), "--no-plain") as broker:
        assert set(broker.ports) == {"tls"}


async def test_a_bad_config_names_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "broker.toml"
    config.write_text("[broker]\nprot = 1883\n")
    process = await _start("--config", str(config))
    async with asyncio.timeout(30):
        _, stderr = await process.communicate()
    assert process.returncode == 1
    assert f"{config}: broker.prot: unknown setting" in stderr.decode()


async def test_passwd_then_login(tmp_path: Path) -> None:
    password_file = tmp_path / "broker.passwd"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "iotsim_tui", "broker", "passwd", str(password_file), "alice",
        "--password-stdin",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        stdout, stderr = await process.communicate(b"correct horse\n")
    assert process.returncode == 0, stderr
    assert b"correct horse" not in stdout + stderr
    assert stat.S_IMODE(os.stat(password_file).st_mode) == 0o600
    assert PasswordFile.load(password_file).verify("alice", "correct horse")

    async with running_broker(
        "--port", "0", "--password-file", str(password_file), "--no-anonymous"
    ) as broker:
        port = broker.ports["plain"]
        _, connack = await RawClient.connected(
            port, "a", username="alice", password=b"correct horse"
        )
        assert connack.reason_code == ReasonCode.SUCCESS
        _, connack = await RawClient.connected(port, "b", username="alice", password=b"wrong")
        assert connack.reason_code == ReasonCode.BAD_USER_NAME_OR_PASSWORD
        broker.process.send_signal(signal.SIGTERM)
        log = await broker.rest_of_stderr()
    assert "correct horse" not in log
    assert "wrong" not in log.replace("wrong password", "")


def test_help_shows_passwd_as_a_command_not_a_positional(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["broker", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(
        "usage: iotsim-tui broker [options]\n"
        "       iotsim-tui broker passwd FILE USER [--password-stdin]\n"
    )
    assert "positional arguments" not in text
    assert "[passwd FILE USER ...]" not in text
    assert re.search(r"^ {4}passwd +add a user to a password file", text, re.MULTILINE)
    assert "--password-stdin" not in text.split("\n\n", 1)[1]  # a passwd option only

    with pytest.raises(SystemExit):
        main(["broker", "passwd", "--help"])
    text = capsys.readouterr().out
    assert text.startswith("usage: iotsim-tui broker passwd [-h] [--password-stdin] FILE USER\n")


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["passwd"], "iotsim-tui broker passwd: error: the following arguments are required"),
        (["passwd", "f", "u", "extra"], "unrecognized arguments: extra"),
        (["bogus"], "invalid choice: 'bogus' (choose from 'passwd')"),
    ],
)
def test_a_wrong_passwd_command_line_is_named(
    capsys: pytest.CaptureFixture[str], argv: list[str], complaint: str
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["broker", *argv])
    assert done.value.code == 2
    assert complaint in capsys.readouterr().err
