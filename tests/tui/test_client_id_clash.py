"""Two open networks with one client id on one broker: the second start is refused."""

from __future__ import annotations

from pathlib import Path

from iotsim_tui.engine.events import DeviceStatus
from iotsim_tui.profiles.model import BrokerSettings, Device, Network
from iotsim_tui.profiles.save import save_network
from iotsim_tui.tui.app import IotsimApp, make_app
from iotsim_tui.tui.screens.main import MainScreen
from iotsim_tui.tui.widgets.network_tree import Place
from tests.support.ports import free_port
from tests.tui.pilot import settle, wait_for


def _messages(app: IotsimApp) -> list[str]:
    return [n.message for n in app._notifications]


def _main(app: IotsimApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen), screen
    return screen


async def test_a_client_id_running_in_another_network_is_refused_on_start(
    tmp_path: Path,
) -> None:
    # The same profile opened from two files: TS1 on one broker twice. Nothing listens on
    # the port, so the first network's TS1 keeps trying (reconnecting) without a broker.
    ward = Network(
        "WARD",
        broker=BrokerSettings(port=free_port(), bundled=False),
        devices=(Device("Heart_Rate", "HRM1"), Device("Temperature_Sensor", "TS1")),
    )
    for name in ("ward_a.toml", "ward_b.toml"):
        save_network(ward, tmp_path / name)
    app = make_app(
        [tmp_path / "ward_a.toml", tmp_path / "ward_b.toml"],
        start_broker=False,
        log_file=tmp_path / "log",
    )
    async with app.run_test(size=(120, 40)) as pilot:
        first, second = app.session.networks
        _main(app).show_place(Place(first.key, "TS1"))
        await wait_for(pilot, lambda: _main(app).device_id == "TS1", "TS1 selected")
        await pilot.press("s")
        await wait_for(
            pilot,
            lambda: first.records["TS1"].status is not DeviceStatus.STOPPED,
            "TS1 of the first network trying to connect",
        )
        _main(app).show_place(Place(second.key, "HRM1"))
        await wait_for(pilot, lambda: _main(app).device_id == "HRM1", "HRM1 selected")
        await pilot.press("S")
        await wait_for(pilot, lambda: _messages(app), "the refusal")
        (message,) = _messages(app)
        assert message.startswith(
            "WARD (ward_b.toml) was not started: client id TS1 is already in use on "
            f"127.0.0.1:{ward.broker.port} by WARD (ward_a.toml), which is running."
        ), message
        assert message.endswith(
            "or give one of the networks another client id prefix (c: settings)."
        )
        await settle(pilot)  # the start worker refused and returned
        assert second.engine is None
        assert all(r.status is DeviceStatus.STOPPED for r in second.records.values())
        # HRM1 alone does not clash: it starts.
        await pilot.press("s")
        await wait_for(
            pilot,
            lambda: second.records["HRM1"].status is not DeviceStatus.STOPPED,
            "HRM1 of the second network starting",
        )
        assert len(_messages(app)) == 1
