"""The app's bundled broker keeps a network's state in the user's data folder, until forgotten."""

from __future__ import annotations

import os
from pathlib import Path

from textual.widgets import Button

from iotsim_tui.broker.launch import data_folder
from iotsim_tui.profiles.model import BrokerSettings, Device, Network
from iotsim_tui.protocol.packets import PubAck, Publish
from iotsim_tui.tui.screens.confirm import ConfirmScreen
from iotsim_tui.tui.screens.network_form import NetworkSettingsScreen
from iotsim_tui.tui.session import Session
from tests.broker.raw import RawClient
from tests.support.bundled import skip_without_broker
from tests.support.ports import free_port
from tests.tui.dialog_harness import open_dialog, screen_text
from tests.tui.pilot import wait_for


def test_the_data_folder_is_per_network_under_xdg_data_home(private_data_dir: Path) -> None:
    assert os.environ["XDG_DATA_HOME"] == str(private_data_dir)
    assert data_folder("NDE_FINANCE_NETWORK") == (
        private_data_dir / "iotsim-tui" / "brokers" / "NDE_FINANCE_NETWORK"
    )
    assert data_folder("../a b/c").parent == private_data_dir / "iotsim-tui" / "brokers"


async def _retained_payloads(port: int) -> list[bytes]:
    reader, _ = await RawClient.connected(port, "reader", version=4)
    await reader.subscribe("lab/#", 0)
    found = []
    while not await reader.silent(0.3):
        packet = await reader.expect(Publish)
        found.append(packet.payload)
    await reader.close()
    return found


async def test_the_bundled_broker_keeps_state_across_app_runs_until_forgotten(
    private_data_dir: Path,
) -> None:
    skip_without_broker()
    network = Network("LAB", broker=BrokerSettings(port=free_port()), devices=(Device("T", "T1"),))
    session = Session()
    try:
        broker = await session.ensure_broker(network)
        assert broker is not None
        assert broker.launch.data_dir == data_folder("LAB")
        port = network.broker.effective_port
        publisher, _ = await RawClient.connected(port, "pub", version=4)
        await publisher.publish("lab/setting", b"kept", 1, retain=True)
        await publisher.expect(PubAck)
        await publisher.close()
    finally:
        await session.close()  # the app quits: the broker writes what is left

    session = Session()
    try:
        await session.ensure_broker(network)
        assert await _retained_payloads(port) == [b"kept"]
        restarted = await session.forget_broker_state(network)
        assert restarted is not None
        assert restarted.running
        assert await _retained_payloads(port) == []
    finally:
        await session.close()


async def test_the_settings_show_the_folder_and_forget_after_asking(tmp_path: Path) -> None:
    forgotten: list[bool] = []

    async def forget() -> None:
        forgotten.append(True)

    folder = tmp_path / "brokers" / "LAB"
    dialog = NetworkSettingsScreen(Network("LAB"), broker_data=folder, forget_state=forget)
    async with open_dialog(dialog, size=(100, 60)) as (app, pilot):
        assert "Forget the broker's state" in screen_text(app)
        app.screen.query_one("#forget-state", Button).press()
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("n")  # keep: nothing is forgotten
        await wait_for(pilot, lambda: isinstance(app.screen, NetworkSettingsScreen), "dialog")
        assert forgotten == []
        app.screen.query_one("#forget-state", Button).press()
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: forgotten == [True], "the state to be forgotten")


async def test_no_folder_no_button() -> None:
    async with open_dialog(NetworkSettingsScreen(Network("LAB"))) as (app, _):
        # Made but not shown: a kept dialog filled in for another network may show it.
        button = app.screen.query_one("#forget-state")
        assert not button.visible or not (button.parent and button.parent.display)
        assert button not in app.screen.focus_chain


async def test_two_networks_of_one_name_on_two_ports_do_not_share_a_data_folder() -> None:
    skip_without_broker()
    first = Network("TWIN", broker=BrokerSettings(port=free_port()))
    second = Network("TWIN", broker=BrokerSettings(port=free_port()))
    session = Session()
    try:
        one = await session.ensure_broker(first)
        other = await session.ensure_broker(second)
        assert one is not None
        assert other is not None
        assert one.launch.data_dir == data_folder("TWIN")
        assert other.launch.data_dir is None  # kept in memory rather than fight over the file
    finally:
        await session.close()
