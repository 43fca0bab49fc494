"""The served page asks nothing of the outside world, and a full server says so plainly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp import WSCloseCode, WSMsgType, WSServerHandshakeError
from aiohttp.test_utils import TestClient, TestServer

from iotsim_tui.serve.server import ClassroomServer
from iotsim_tui.serve.sessions import SessionFolders


def _server(tmp_path: Path, **options: object) -> ClassroomServer:
    return ClassroomServer(SessionFolders(tmp_path / "data"), **options)  # type: ignore[arg-type]


async def test_the_page_takes_everything_from_the_server(tmp_path: Path) -> None:
    server = _server(tmp_path)
    async with TestClient(TestServer(await server._make_app())) as client:
        response = await client.get("/")
        assert response.status == 200
        page = await response.text()
        origin = f"http://{client.host}:{client.port}"
        addresses = re.findall(r'(?:\shref=|\ssrc=|url\()"([^"]+)"', page)
        assert addresses, page
        for address in addresses:
            assert address.startswith(f"{origin}/static/"), address
        assert "googleapis" not in page
        assert f'data-session-websocket-url="ws://{client.host}:{client.port}/ws"' in page
        for address in addresses:  # and the server has each of them
            served = await client.get(address.removeprefix(origin))
            assert served.status == 200, address


async def test_a_public_url_is_what_the_page_points_at(tmp_path: Path) -> None:
    server = _server(tmp_path, public_url="https://lab.example.org/")
    async with TestClient(TestServer(await server._make_app())) as client:
        page = await (await client.get("/")).text()
        assert 'href="https://lab.example.org/static/css/xterm.css"' in page
        assert 'data-session-websocket-url="wss://lab.example.org/ws"' in page


async def test_a_full_server_says_so_on_the_page_and_on_the_socket(tmp_path: Path) -> None:
    server = _server(tmp_path, max_sessions=0)  # full from the start: no app is started
    async with TestClient(TestServer(await server._make_app())) as client:
        response = await client.get("/")
        assert response.status == 503
        assert "This server is full: 0 sessions are open" in await response.text()
        socket = await client.ws_connect("/ws")
        message = await socket.receive()
        assert message.type is WSMsgType.BINARY
        assert b"This server is full" in message.data
        assert (await socket.receive()).type is WSMsgType.CLOSE
        assert socket.close_code == WSCloseCode.TRY_AGAIN_LATER
    assert not (tmp_path / "data" / "sessions").exists()


async def test_a_page_from_elsewhere_gets_no_session(tmp_path: Path) -> None:
    server = _server(tmp_path, max_sessions=0)
    async with TestClient(TestServer(await server._make_app())) as client:
        with pytest.raises(WSServerHandshakeError) as refused:
            await client.ws_connect("/ws", headers={"Origin": "http://elsewhere.example"})
        assert refused.value.status == 403
        # The server's own page is let through (and told the server is full).
        own = f"http://{client.host}:{client.port}"
        socket = await client.ws_connect("/ws", headers={"Origin": own})
        assert b"This server is full" in (await socket.receive()).data


async def test_an_odd_host_header_is_not_put_in_the_page(tmp_path: Path) -> None:
    server = _server(tmp_path)
    async with TestClient(TestServer(await server._make_app())) as client:
        response = await client.get("/", headers={"Host": 'x"><script>alert(1)</script>'})
        assert response.status == 400
        assert "<script>" not in await response.text()
