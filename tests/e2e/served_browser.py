"""The classroom story in a real browser: `iotsim-tui serve` and Debian's Chromium.

Run by tests/e2e/test_serve_browser.py inside a network namespace with only loopback up
(`unshare -n`), so that neither the browser nor the page can reach anything outside:
`python -m tests.e2e.served_browser`. Exits 0 when every check held; a failed check raises
AssertionError with what did not happen.

The screen is read from the page itself: xterm.js draws on a canvas, so the script catches the
page's terminal object as textual-serve's page creates it (a setter on `Object.prototype` for
the property `terminal`, installed before any script of the page runs) and reads the rows of
its buffer, which are what the canvas shows.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import psutil  # type: ignore[import-untyped]
from playwright.sync_api import BrowserContext, Page, sync_playwright

from tests.support.ports import free_port, wait_for_port

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT = 30.0
"""Seconds any single wait may take on a loaded machine."""
PROFILE = Path("profiles/nde_finance_lab.toml")

CATCH_TERMINAL = """
(() => {
  window.__terminals = [];
  Object.defineProperty(Object.prototype, "terminal", {
    configurable: true,
    set(value) {
      Object.defineProperty(this, "terminal", {
        value, writable: true, configurable: true, enumerable: true,
      });
      if (value && value.buffer) window.__terminals.push(value);
    },
  });
})();
"""
SCREEN = """() => {
  const terminal = window.__terminals && window.__terminals[0];
  if (!terminal) return "";
  const buffer = terminal.buffer.active;
  const rows = [];
  for (let row = 0; row < terminal.rows; row++) {
    const line = buffer.getLine(buffer.viewportY + row);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
}"""


def screen(page: Page) -> str:
    """What the page's terminal shows now, one line per row."""
    text: str = page.evaluate(SCREEN)
    return text


def wait_until(condition: Callable[[], object], what: str, limit: float = WAIT) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:.0f} s waiting for {what}")
        time.sleep(0.1)


def wait_for_screen(page: Page, pattern: str, what: str) -> re.Match[str]:
    """Wait until the page's screen matches `pattern`; returns the match."""
    found: list[re.Match[str]] = []

    def matches() -> bool:
        match = re.search(pattern, screen(page))
        if match:
            found.append(match)
        return match is not None

    try:
        wait_until(matches, what)
    except AssertionError as error:
        raise AssertionError(f"{error}; the screen was:\n{screen(page)}") from None
    return found[0]


class ServerLog:
    """The server's output, read from its file as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def text(self) -> str:
        return self.path.read_text(errors="replace")

    def sessions(self) -> dict[str, tuple[int, Path]]:
        """Started sessions: name -> (app pid, folder)."""
        found = re.findall(r"session (\S+) started: app pid (\d+), folder (\S+)", self.text())
        return {name: (int(pid), Path(folder)) for name, pid, folder in found}


def open_tab(context: BrowserContext, url: str, origin: str) -> tuple[Page, list[str]]:
    """A new tab on the server; returns it and the list of URLs it requests."""
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(url)
    wait_for_screen(page, r"NDE_FINANCE_NETWORK", "the app in the page")
    outside = [u for u in requested if not u.startswith(origin) and not u.startswith("data:")]
    assert not outside, f"the page asked for something outside the server: {outside}"
    return page, requested


def processes_of(pid: int) -> list[psutil.Process]:
    """A session's app process and every process under it (brokers, the engine)."""
    app = psutil.Process(pid)
    return [app, *app.children(recursive=True)]


def gone(processes: list[psutil.Process]) -> bool:
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


def only_loopback() -> None:
    """This runs in a network namespace with only loopback: no other link, no route."""
    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    links = sorted(line.split(":")[0].strip() for line in lines)
    assert links == ["lo"], f"network links here: {links} (run under `unshare -n`)"
    routes = Path("/proc/self/net/route").read_text().splitlines()[1:]
    assert routes == [], f"routes here: {routes}"


def main() -> None:
    only_loopback()
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        log = ServerLog(folder / "server.log")
        with log.path.open("w") as output:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "iotsim_tui",
                    "serve",
                    str(PROFILE),
                    "--port",
                    str(port),
                    "--data",
                    str(folder / "data"),
                    "--max-sessions",
                    "2",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port(port, timeout=WAIT)
            run_story(origin, folder, log)
        except BaseException:
            print(log.text(), file=sys.stderr)
            raise
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                server.kill()
                raise
    print("served_browser: every check held")


def run_story(origin: str, folder: Path, log: ServerLog) -> None:
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(folder / "chromium"),  # a new, empty profile
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 800},
        )
        context.add_init_script(CATCH_TERMINAL)
        try:
            two_sessions(context, origin, log)
        finally:
            context.close()


def two_sessions(context: BrowserContext, origin: str, log: ServerLog) -> None:
    # Tab A: the page loads, from the server alone, with the app and the ports in use.
    page_a, requested = open_tab(context, f"{origin}/", origin)
    assert any(url.endswith(".ttf") for url in requested), "the font comes from the server"
    port_a = int(wait_for_screen(page_a, r"broker 127\.0\.0\.1:(\d+)", "the port")[1])
    assert port_a != 1883
    wait_for_screen(page_a, r"1883", "the note on the lab's port 1883")
    wait_until(lambda: len(log.sessions()) == 1, "the first session in the server's log")
    ((name_a, (pid_a, folder_a)),) = log.sessions().items()
    assert (folder_a / "profiles" / PROFILE.name).exists()

    # Keys start the lab network: TS1 connects.
    page_a.locator(".xterm-helper-textarea").focus()
    page_a.keyboard.type("S")
    wait_for_screen(page_a, r"● TS1", "TS1 connected")

    # The broker console sends the alert; it appears in TS1's log.
    page_a.keyboard.type("b")
    wait_for_screen(page_a, r"Broker console", "the broker console")
    wait_for_screen(page_a, rf"127\.0\.0\.1:{port_a}", "the console on the session's port")
    wait_for_screen(page_a, r"iotsim-TS1|TS1 ", "TS1 listed in the console")
    page_a.keyboard.type("m")
    page_a.keyboard.type("High_Tempe")
    page_a.keyboard.press("Enter")
    page_a.keyboard.type("Alert for High Temperature")
    page_a.keyboard.press("Enter")
    wait_for_screen(page_a, r"Command sent", "the console saying the command was sent")
    page_a.keyboard.press("Escape")
    wait_for_screen(page_a, r"Alert for High Temperature", "the alert in TS1's log")
    processes_a = processes_of(pid_a)
    assert len(processes_a) >= 3, f"app, broker and engine: {processes_a}"

    # Tab B: a session of its own, on another port, with its network still stopped.
    page_b, _ = open_tab(context, f"{origin}/", origin)
    port_b = int(wait_for_screen(page_b, r"broker 127\.0\.0\.1:(\d+)", "the second port")[1])
    assert port_b not in (port_a, 1883)
    wait_until(lambda: len(log.sessions()) == 2, "the second session in the server's log")
    pid_b, folder_b = next(v for k, v in log.sessions().items() if k != name_a)
    assert folder_b != folder_a
    assert "● TS1" not in screen(page_b)

    # A third tab: the server is full, and says so plainly.
    page_c = context.new_page()
    response = page_c.goto(f"{origin}/")
    assert response is not None
    assert response.status == 503
    assert "This server is full" in page_c.inner_text("body")
    page_c.close()

    # Closing tab A ends its app, broker and engine; tab B's go on.
    page_a.close()
    wait_until(lambda: gone(processes_a), "tab A's processes to end")
    wait_until(lambda: f"session {name_a} ended" in log.text(), "the server noting the end")
    assert not folder_a.exists(), "the session's folder is removed"
    assert all(p.is_running() for p in processes_of(pid_b))
    port_in_use = any(
        c.laddr.port == port_a and c.status == psutil.CONN_LISTEN
        for c in psutil.net_connections("tcp")
    )
    assert not port_in_use, f"nothing listens on tab A's broker port {port_a} any more"
    processes_b = processes_of(pid_b)
    page_b.close()
    wait_until(lambda: gone(processes_b), "tab B's processes to end")
    assert urlsplit(origin).hostname == "127.0.0.1"


if __name__ == "__main__":
    main()
