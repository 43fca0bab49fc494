"""The network settings' "More" part: clean start, session expiry, the lowest TLS version, the
TLS key log and the connection ramp, read from a profile, changed, saved and loaded again."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Button, Input, Select, Static

from iotsim_tui.profiles.load import load_network
from iotsim_tui.profiles.model import BrokerSettings, MQTTVersion, Network, Ramp, TLSSettings
from iotsim_tui.profiles.save import save_network
from iotsim_tui.tui.screens._form import Toggle
from iotsim_tui.tui.screens.network_form import NetworkSettingsScreen
from tests.tui.dialog_harness import error_under, open_dialog, screen_text, toggle, type_into
from tests.tui.pilot import settle, wait_for

V5 = Network("LAB", broker=BrokerSettings(protocol=MQTTVersion.V5))


async def _open_more(pilot: Pilot[None]) -> None:
    app = pilot.app
    app.screen.query_one("#more", Button).press()
    await wait_for(pilot, lambda: bool(app.screen.query("#session-expiry")), "the More fields")
    await settle(pilot)


async def _submit(pilot: Pilot[None]) -> None:
    pilot.app.screen.query_one("#submit", Button).press()
    await settle(pilot)


async def test_more_is_built_only_when_asked_and_keeps_the_profile_values_until_then() -> None:
    broker = BrokerSettings(
        protocol=MQTTVersion.V5,
        clean_start=False,
        session_expiry=600,
        tls=TLSSettings(min_version="1.3", key_log="keys.log"),
    )
    network = replace(V5, broker=broker, ramp=Ramp(rate=50.0, in_flight=10))
    async with open_dialog(NetworkSettingsScreen(network)) as (app, pilot):
        assert not app.screen.query("#more-fields")
        await _submit(pilot)
    assert app.results == [network]


async def test_each_more_field_is_read_changed_saved_and_loaded_again(tmp_path: Path) -> None:
    broker = BrokerSettings(
        protocol=MQTTVersion.V5,
        clean_start=False,
        session_expiry=600,
        tls=TLSSettings(enabled=True, min_version="1.3", key_log="keys.log"),
    )
    path = tmp_path / "lab.toml"
    save_network(replace(V5, broker=broker, ramp=Ramp(rate=50.0, in_flight=10)), path)
    async with open_dialog(NetworkSettingsScreen(load_network(path))) as (app, pilot):
        await _open_more(pilot)
        dialog = app.screen
        assert dialog.query_one("#clean-start", Toggle).value is False
        assert dialog.query_one("#session-expiry", Input).value == "600"
        assert dialog.query_one("#min-version", Select).value == "1.3"
        assert dialog.query_one("#key-log", Input).value == "keys.log"
        assert dialog.query_one("#ramp-rate", Input).value == "50"
        assert dialog.query_one("#ramp-in-flight", Input).value == "10"
        hint = dialog.query_one("#key-log-hint", Static)
        assert "decrypts every TLS session" in str(hint.content)
        dialog.query_one("#key-log", Input).focus()
        await settle(pilot)
        assert "Wireshark decrypts" in screen_text(app)
        assert not dialog.edited  # showing the fields changes nothing
        await toggle(pilot, "#clean-start")
        await type_into(pilot, "#session-expiry", "86400")
        dialog.query_one("#min-version", Select).value = "1.2"
        await type_into(pilot, "#key-log", "captures/tls-keys.log")
        await type_into(pilot, "#ramp-rate", "2.5")
        await type_into(pilot, "#ramp-in-flight", "3")
        await _submit(pilot)
    (changed,) = app.results
    save_network(changed, path)
    again = load_network(path)
    assert again.broker.clean_start is True
    assert again.broker.session_expiry == 86400
    assert again.broker.tls.min_version == "1.2"
    assert again.broker.tls.key_log == "captures/tls-keys.log"
    assert again.ramp == Ramp(rate=2.5, in_flight=3)
    assert again == changed


async def test_bad_values_are_refused_with_the_loaders_message_beside_the_field() -> None:
    async with open_dialog(NetworkSettingsScreen(V5)) as (app, pilot):
        await _open_more(pilot)
        await type_into(pilot, "#session-expiry", "4294967296")
        await type_into(pilot, "#ramp-rate", "fast")
        await type_into(pilot, "#ramp-in-flight", "0")
        await _submit(pilot)
        assert app.results == []
        assert error_under(app, "session-expiry") == "must be an integer from 0 to 4294967295"
        assert error_under(app, "ramp-rate") == (
            "must be a number greater than 0 (new connections per second)"
        )
        assert error_under(app, "ramp-in-flight") == "must be an integer of at least 1"
        await type_into(pilot, "#session-expiry", "60")
        await type_into(pilot, "#ramp-rate", "100")
        await type_into(pilot, "#ramp-in-flight", "")  # blank: the default
        await _submit(pilot)
    (network,) = app.results
    assert network.broker.session_expiry == 60
    assert network.ramp == Ramp(rate=100.0)


async def test_session_expiry_is_refused_on_mqtt_311() -> None:
    async with open_dialog(NetworkSettingsScreen(V5)) as (app, pilot):
        await _open_more(pilot)
        await type_into(pilot, "#session-expiry", "3600")
        app.screen.query_one("#protocol", Select).value = MQTTVersion.V311
        # Hidden again: the error opens the part where it is.
        app.screen.query_one("#more", Button).press()
        await settle(pilot)
        await _submit(pilot)
        assert app.results == []
        assert app.screen.query_one("#more-fields").display
        assert error_under(app, "session-expiry").startswith('needs protocol = "5"')
        await type_into(pilot, "#session-expiry", "0")
        await _submit(pilot)
    (network,) = app.results
    assert network.broker.protocol is MQTTVersion.V311
    assert network.broker.session_expiry == 0


async def test_switching_to_311_with_a_session_expiry_unseen_is_said_on_the_form() -> None:
    network = replace(V5, broker=BrokerSettings(protocol=MQTTVersion.V5, session_expiry=60))
    async with open_dialog(NetworkSettingsScreen(network)) as (app, pilot):
        app.screen.query_one("#protocol", Select).value = MQTTVersion.V311
        await settle(pilot)
        await _submit(pilot)
        assert app.results == []
        assert error_under(app, "form").startswith(
            'network.broker.session_expiry = 60: needs protocol = "5"'
        )
