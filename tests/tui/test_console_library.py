"""The broker console's command library, against mosquitto: by key, from the list, and again."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiomqtt
from textual.widgets import Input, OptionList

from iotsim_tui.profiles.load import load_network
from iotsim_tui.profiles.model import BrokerSettings, LibraryCommand, Network
from iotsim_tui.tui.screens.console import BrokerConsoleScreen
from iotsim_tui.tui.screens.library import LibraryScreen
from tests.support.mosquitto import RunningMosquitto
from tests.tui.pilot import app_on, wait_for

LAB_PROFILE = Path(__file__).parents[2] / "profiles" / "nde_finance_lab.toml"


async def test_library_commands_go_out_by_key_from_the_list_and_again(
    mosquitto: RunningMosquitto, tmp_path: Path
) -> None:
    lab = load_network(LAB_PROFILE)
    assert [(c.key, c.payload) for c in lab.library] == [
        ("1", "Alert for High Temperature"),
        ("2", "This is second alert for High Temperature"),
    ]
    library = (*lab.library, LibraryCommand("keep", "lib/kept", "on", qos=0, retain=True))
    network = Network(
        "LAB", broker=BrokerSettings(port=mosquitto.port, bundled=False), library=library
    )
    app = app_on(tmp_path, network, start_broker=False)
    arrived: list[aiomqtt.Message] = []
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="TS1") as device:
        await device.subscribe("High_Tempe", qos=1)
        await device.subscribe("lib/#", qos=1)

        async def collect() -> None:
            async for message in device.messages:
                arrived.append(message)

        collecting = asyncio.create_task(collect())
        async with app.run_test(size=(120, 40)) as pilot:
            screen = BrokerConsoleScreen(app.session.networks[0])
            await app.push_screen(screen)
            await wait_for(pilot, lambda: screen.console is not None, "the console to connect")

            await pilot.press("2")
            await wait_for(pilot, lambda: len(arrived) >= 1, "message 1")
            assert arrived[0].payload == b"This is second alert for High Temperature"
            assert arrived[0].qos == 1

            # Typed into the command line, a digit is text, not a library key.
            await pilot.press("m", "1")
            assert screen.query_one("#command-topic", Input).value == "1"
            screen.set_focus(None)

            await pilot.press("l")
            await wait_for(pilot, lambda: isinstance(app.screen, LibraryScreen), "the list")
            listed = app.screen.query_one(OptionList)
            texts = [str(listed.get_option_at_index(i).prompt) for i in range(listed.option_count)]
            assert "Sent lately" in texts
            assert any("second alert" in text for text in texts[-1:])
            listed.highlighted = next(i for i, text in enumerate(texts) if "keep" in text)
            await pilot.press("enter")
            await wait_for(pilot, lambda: len(arrived) >= 2, "message 2")
            assert (arrived[1].topic.value, arrived[1].payload) == ("lib/kept", b"on")
            assert screen.recent[0].name == "keep"
            assert screen.recent[1].name == "second alert"

            await pilot.press("l")
            await wait_for(pilot, lambda: isinstance(app.screen, LibraryScreen), "the list")
            await pilot.press("end", "enter")  # the oldest sent lately: the second alert
            await wait_for(pilot, lambda: len(arrived) >= 3, "message 3")
            assert arrived[2].payload == b"This is second alert for High Temperature"

            await pilot.press("7")
            await wait_for(
                pilot,
                lambda: any("No library command has the key 7" in n.message
                            for n in app._notifications),
                "a note that 7 sends nothing",
            )  # fmt: skip
        collecting.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await collecting
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="late") as late:
        await late.subscribe("lib/kept")
        retained = await asyncio.wait_for(anext(late.messages), 10)
        assert retained.retain
        assert retained.payload == b"on"
