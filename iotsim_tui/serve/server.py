"""The web server of `iotsim-tui serve`, built on textual-serve (Textualize's own package).

This module is the one door to textual-serve: it subclasses its `Server` (routes, the
websocket protocol between page and app) and its `AppService` (one app process per tab), and
relies on these of their parts, checked by tests/serve/test_textual_serve_contract.py:
`Server._make_app`, `Server._process_messages`, `Server.download_manager`,
`AppService._build_environment`, `AppService._process`, `AppService._stdin`,
`AppService._task`, `AppService.send_meta`, and the page's static files (`js/textual.js`,
`css/xterm.css`, `fonts/RobotoMono-VariableFont_wght.ttf`).

What it changes: the app runs in its session's folder, in a process group of its own that is
ended for sure when the tab closes; sessions are capped; the page is our own template, which
takes its font from the server, not from a web-font service, so it works offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
import re
import signal
from asyncio.subprocess import PIPE, Process
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import textual_serve
from aiohttp import WSCloseCode, web
from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager
from textual_serve.server import Server

from iotsim_tui.errors import IotsimError
from iotsim_tui.serve.sessions import SessionFolder, SessionFolders

log = logging.getLogger("iotsim_tui.serve")

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(textual_serve.__file__).parent / "static"
"""textual-serve's page files: its terminal (xterm.js), stylesheet and fonts."""
QUIT_GRACE_SECONDS = 8.0
"""How long a session's app may take to end after its tab closed before it is ended at once."""
HOST_HEADER = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
"""A Host header the page may put in its addresses: a name or address, and a port."""
FULL_TEXT = (
    "This server is full: {count} sessions are open, the most it runs at once. "
    "Try again when someone closes their tab."
)


class SessionApp(AppService):
    """One tab's app process, run in its session's folder, in its own process group."""

    def __init__(
        self,
        folder: SessionFolder,
        *,
        websocket: web.WebSocketResponse,
        download_manager: DownloadManager,
    ) -> None:
        super().__init__(
            " ".join(folder.command()),
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=self._close,
            download_manager=download_manager,
        )
        self.folder = folder
        self.websocket = websocket

    async def _close(self) -> None:
        """The app ended on its own (q): close the tab's connection."""
        await self.websocket.close()

    @property
    def pid(self) -> int | None:
        """The app's process id, once started."""
        return self._process.pid if self._process is not None else None

    async def _open_app_process(self, width: int = 80, height: int = 24) -> Process:
        environment = self._build_environment(width=width, height=height)
        environment.update(self.folder.environment())
        process = await asyncio.create_subprocess_exec(
            *self.folder.command(),
            cwd=self.folder.path,
            stdin=PIPE,
            stdout=PIPE,
            stderr=PIPE,
            env=environment,
            # A group of its own: the engine processes it starts can be ended with it. Its
            # bundled brokers end when it does (they watch their parent).
            start_new_session=True,
        )
        self._process = process
        self._stdin = process.stdin
        return process

    async def end(self, grace: float = QUIT_GRACE_SECONDS) -> None:
        """Ask the app to quit, as closing its terminal would; end its process group when it
        has not within `grace` seconds (SIGTERM, then SIGKILL)."""
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            await self.send_meta({"type": "quit"})
        for number in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), grace)
            if process.returncode is not None:
                break
            log.warning("session %s did not end: sending %s", self.folder.name, number.name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, number)
        await process.wait()
        # Whatever of its group is left (an engine process that outlived it), and its output.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, grace)
            self._task = None


class ClassroomServer(Server):
    """textual-serve's server, with session folders, a cap and an offline page."""

    def __init__(
        self,
        folders: SessionFolders,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        max_sessions: int = 20,
        public_url: str | None = None,
    ) -> None:
        super().__init__(
            "iotsim-tui",
            host=host,
            port=port,
            title="iotsim-tui",
            public_url=public_url,
            statics_path=STATIC,
            templates_path=TEMPLATES,
        )
        self.folders = folders
        self.max_sessions = max_sessions
        self.fixed_url = public_url
        """The address browsers open when set by hand (a reverse proxy); else each request's."""
        self.sessions: dict[str, SessionApp] = {}
        """The running sessions, by folder name."""

    def initialize_logging(self) -> None:
        """One plain line per event, for a terminal or a log file alike."""
        logging.basicConfig(
            level=logging.DEBUG if self.debug else logging.INFO,
            format="%(asctime)s %(message)s",
            datefmt="%H:%M:%S",
        )

    async def on_startup(self, app: web.Application) -> None:
        """Say where the server will listen and what it does with each tab."""
        url = self.fixed_url or f"http://{self.host}:{self.port}"
        kept = "kept" if self.folders.keep else "removed when its tab closes"
        log.info(
            "iotsim-tui serve: open %s (at most %d sessions at once; each has a folder under "
            "%s, %s). Ctrl-C stops the server and every session.",
            url,
            self.max_sessions,
            self.folders.root,
            kept,
        )

    async def on_shutdown(self, app: web.Application) -> None:
        """End every session before the server goes."""
        await asyncio.gather(*(session.end() for session in list(self.sessions.values())))

    @property
    def full(self) -> bool:
        """True when as many sessions run as the server allows."""
        return len(self.sessions) >= self.max_sessions

    def _base_url(self, request: web.Request) -> str:
        if self.fixed_url:
            return self.fixed_url.rstrip("/")
        if not HOST_HEADER.fullmatch(request.host):
            raise web.HTTPBadRequest(text="not a host name")
        return f"{request.scheme}://{request.host}"

    def _same_origin(self, request: web.Request) -> bool:
        """Whether the page that opens a session came from this server.

        Browsers send the page's origin with a websocket, and let any site open one to
        127.0.0.1: without this check, a page elsewhere could drive a session (and its files).
        A client that sends no origin is no browser page, and could reach the port anyway.
        """
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        allowed = {f"{request.scheme}://{request.host}".lower()}
        if self.fixed_url:
            parts = urlsplit(self.fixed_url)
            allowed.add(f"{parts.scheme}://{parts.netloc}".lower())
        return origin.lower() in allowed

    async def handle_index(self, request: web.Request) -> web.Response:
        """The page: a terminal that opens a session; or, when full, a plain message."""
        if self.full:
            return web.Response(
                status=503,
                content_type="text/html",
                text="<!DOCTYPE html><html><head><title>iotsim-tui</title></head><body>"
                f"<p>{FULL_TEXT.format(count=len(self.sessions))}</p></body></html>",
            )
        base = self._base_url(request)
        scheme, _, rest = base.partition("://")
        context: dict[str, Any] = {
            "title": html.escape(self.title),
            "static_url": html.escape(f"{base}/static/"),
            "websocket_url": html.escape(f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws"),
            "font_size": _font_size(request.query.get("fontsize", "16")),
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """One tab: a session folder, its app, and the app ended when the tab goes."""
        if not self._same_origin(request):
            log.warning("refused a session for a page from %s", request.headers.get("Origin"))
            raise web.HTTPForbidden(text="sessions are for pages of this server")
        websocket = web.WebSocketResponse(heartbeat=15)
        await websocket.prepare(request)
        if self.full:
            text = FULL_TEXT.format(count=len(self.sessions))
            await websocket.send_bytes(f"\r\n  {text}\r\n".encode())
            await websocket.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"server full")
            log.info("a browser was turned away: %d sessions are open", len(self.sessions))
            return websocket
        try:
            folder = self.folders.make()
        except IotsimError as error:
            log.error("%s", error.message)
            await websocket.send_bytes(f"\r\n  {error.message}\r\n".encode())
            await websocket.close(code=WSCloseCode.INTERNAL_ERROR)
            return websocket
        session = SessionApp(folder, websocket=websocket, download_manager=self.download_manager)
        self.sessions[folder.name] = session
        try:
            width = _size(request.query.get("width", "80"), 80)
            height = _size(request.query.get("height", "24"), 24)
            await session.start(width, height)
            log.info(
                "session %s started: app pid %s, folder %s (%d of %d)",
                folder.name,
                session.pid,
                folder.path,
                len(self.sessions),
                self.max_sessions,
            )
            await self._process_messages(websocket, session)
        except Exception:
            log.exception("session %s failed", folder.name)
        finally:
            # Shielded: a server that is stopping still ends the session's processes.
            await asyncio.shield(self._end(session))
        return websocket

    async def _end(self, session: SessionApp) -> None:
        try:
            await session.end()
        finally:
            self.sessions.pop(session.folder.name, None)
            self.folders.done(session.folder)
            log.info("session %s ended (%d open)", session.folder.name, len(self.sessions))


def _font_size(text: str) -> int:
    try:
        return min(max(int(text), 6), 48)
    except ValueError:
        return 16


def _size(text: str, default: int) -> int:
    try:
        return min(max(int(text), 10), 1000)
    except ValueError:
        return default
