"""What iotsim_tui/serve/server.py relies on in textual-serve: when an upgrade breaks this,
the failure names the part that changed."""

from __future__ import annotations

import inspect

import pytest
from textual_serve.app_service import AppService
from textual_serve.server import Server

from iotsim_tui.serve.server import STATIC


@pytest.mark.parametrize("name", ["_make_app", "_process_messages", "handle_index"])
def test_the_server_still_has(name: str) -> None:
    assert callable(getattr(Server, name, None)), f"textual_serve Server.{name} is gone"


def test_the_server_still_keeps_a_download_manager() -> None:
    source = inspect.getsource(Server.__init__)
    assert "self.download_manager" in source, "Server.download_manager is gone"


@pytest.mark.parametrize("name", ["_build_environment", "send_meta", "start", "run"])
def test_the_app_service_still_has(name: str) -> None:
    assert callable(getattr(AppService, name, None)), f"textual_serve AppService.{name} is gone"


@pytest.mark.parametrize("name", ["self._process", "self._stdin", "self._task"])
def test_the_app_service_still_keeps(name: str) -> None:
    assert name in inspect.getsource(AppService), f"textual_serve AppService {name} is gone"


@pytest.mark.parametrize(
    "path", ["js/textual.js", "css/xterm.css", "fonts/RobotoMono-VariableFont_wght.ttf"]
)
def test_the_page_files_are_still_shipped(path: str) -> None:
    assert (STATIC / path).is_file(), f"textual-serve no longer ships static/{path}"


def test_the_page_script_still_reads_what_our_page_gives_it() -> None:
    script = (STATIC / "js" / "textual.js").read_text()
    for name in ("sessionWebsocketUrl", "fontSize", "textual-terminal", "-first-byte", "-closed"):
        assert name in script, f"textual.js no longer uses {name!r}"
