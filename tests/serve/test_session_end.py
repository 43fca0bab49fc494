"""A session's app that does not quit when its tab closes is ended, with its process group."""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped]
from aiohttp import web
from textual_serve.download_manager import DownloadManager

from iotsim_tui.serve.server import SessionApp
from iotsim_tui.serve.sessions import SessionFolder

# Says it is ready as a Textual app does, starts a child in its group, and ignores both the
# quit request and SIGTERM.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(child.pid, flush=True)
print("__GANGLION__", flush=True)
time.sleep(120)
"""


@dataclass(frozen=True)
class StubbornFolder(SessionFolder):
    def command(self) -> list[str]:
        return [sys.executable, "-c", STUBBORN]


async def test_an_app_that_ignores_quit_and_sigterm_is_killed_with_its_group(
    tmp_path: Path,
) -> None:
    folder = StubbornFolder("stubborn", tmp_path, ())
    session = SessionApp(
        folder, websocket=web.WebSocketResponse(), download_manager=DownloadManager()
    )
    process = await session._open_app_process()
    assert process.stdout is not None
    child_pid = int(await process.stdout.readline())
    assert await process.stdout.readline() == b"__GANGLION__\n"
    child = psutil.Process(child_pid)
    started = time.monotonic()
    await session.end(grace=0.5)
    assert process.returncode is not None
    assert time.monotonic() - started < 10
    # The child in its group is gone too.
    with contextlib.suppress(psutil.NoSuchProcess):
        child.wait(timeout=5)
    assert not child.is_running()
