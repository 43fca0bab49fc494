"""The new-network and network-settings dialogs, driven by keys as a user would."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Input, Select, Static

from iotsim_tui.broker.launch import BrokerLaunch
from iotsim_tui.broker.process import BundledBroker
from iotsim_tui.engine.events import DeviceStatus, StatusChanged
from iotsim_tui.engine.simulation import Simulation
from iotsim_tui.errors import BrokerError
from iotsim_tui.profiles.model import (
    BrokerSettings,
    Device,
    MQTTVersion,
    Network,
    TLSSettings,
)
from iotsim_tui.tui.screens import _checks
from iotsim_tui.tui.screens.confirm import ConfirmScreen
from iotsim_tui.tui.screens.files import PickFileScreen
from iotsim_tui.tui.screens.network_form import NetworkSettingsScreen
from iotsim_tui.tui.screens.new_network import NewNetworkScreen
from tests.support.bundled import skip_without_broker
from tests.support.ports import free_port
from tests.tui.dialog_harness import (
    DialogApp,
    error_under,
    open_dialog,
    screen_text,
    toggle,
    type_into,
)
from tests.tui.pilot import click_button, settle, wait_for

LAB = Network("NDE_FINANCE_NETWORK", description="Finance floor sensors")


async def test_new_network_returns_the_typed_name_and_description() -> None:
    async with open_dialog(NewNetworkScreen()) as (app, pilot):
        await type_into(pilot, "#name", "NDE_FINANCE_NETWORK")
        await pilot.press("tab", *"Finance floor sensors", "enter")
        await settle(pilot)
    assert app.results == [Network("NDE_FINANCE_NETWORK", description="Finance floor sensors")]


async def test_new_network_refuses_a_name_that_cannot_name_a_file() -> None:
    async with open_dialog(NewNetworkScreen()) as (app, pilot):
        await type_into(pilot, "#name", "finance/floor")
        assert "file name" in error_under(app, "name")
        await pilot.press("enter")
        await settle(pilot)
        assert app.results == []
        assert isinstance(app.screen, NewNetworkScreen)
        await pilot.press("escape")  # asks before losing the name typed
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # keep editing: the dialog and its text stay
        await settle(pilot)
        assert isinstance(app.screen, NewNetworkScreen)
        assert app.screen.query_one("#name", Input).value == "finance/floor"
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
    assert app.results == [None]


async def test_escape_closes_an_untouched_dialog_without_asking() -> None:
    network = Network("LAB", devices=(Device("Temperature_Sensor", "TS1"),))
    async with open_dialog(NetworkSettingsScreen(network)) as (app, pilot):
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
    assert app.results == [None]


async def test_new_network_requires_a_name() -> None:
    async with open_dialog(NewNetworkScreen()) as (app, pilot):
        await pilot.press("enter")
        await settle(pilot)
        assert error_under(app, "name") == "a network needs a name"
        assert app.results == []


async def test_switching_tls_flips_the_automatic_port() -> None:
    async with open_dialog(NetworkSettingsScreen(LAB)) as (app, pilot):
        port = app.screen.query_one("#port", Input)
        assert port.value == "1883"
        await toggle(pilot, "#tls")
        assert port.value == "8883"
        await toggle(pilot, "#tls")
        assert port.value == "1883"
        await toggle(pilot, "#tls")
        await pilot.press("enter")  # on a toggle, Enter submits as in a text field
        await settle(pilot)
    (network,) = app.results
    assert network.broker.tls.enabled is True
    assert network.broker.port is None
    assert network.broker.effective_port == 8883


async def test_ctrl_t_switches_tls_from_any_field_and_leaves_the_focus_there() -> None:
    async with open_dialog(NetworkSettingsScreen(LAB)) as (app, pilot):
        port = app.screen.query_one("#port", Input)
        port.focus()
        await settle(pilot)
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert app.screen.query_one("#tls", Checkbox).value
        assert port.value == "8883"
        assert app.screen.focused is port
        await wait_for(pilot, lambda: bool(app.screen.query("#ca")), "the certificate fields")
        # From a certificate field, which TLS off hides, the focus goes to the TLS switch.
        app.screen.query_one("#ca", Input).focus()
        await settle(pilot)
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert app.screen.focused is app.screen.query_one("#tls")


async def test_the_broker_fields_come_first() -> None:
    async with open_dialog(NetworkSettingsScreen(LAB)) as (app, pilot):
        fields = (Input, Checkbox, Button, Select)
        chain = [w.id for w in app.screen.focus_chain if isinstance(w, fields)]
        assert chain[:2] == ["host", "port"]
        assert chain.index("tls") < chain.index("name")
        assert app.screen.focused is app.screen.query_one("#host")
        await pilot.press("tab")
        assert app.screen.focused is app.screen.query_one("#port")


async def test_keeping_1883_open_beside_tls_is_off_by_default_and_warned_about() -> None:
    async with open_dialog(NetworkSettingsScreen(LAB)) as (app, pilot):
        await toggle(pilot, "#tls")
        await wait_for(pilot, lambda: bool(app.screen.query("#keep-plain")), "the TLS fields")
        assert not app.screen.query_one("#keep-plain", Checkbox).value
        assert "stays open without TLS" not in screen_text(app)
        await toggle(pilot, "#keep-plain")
        assert "Port 1883 stays open without TLS" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
    (network,) = app.results
    assert network.broker.keep_plain_port == 1883
    assert network.broker.plain_port_kept == 1883
    launch = BrokerLaunch.from_network(network, Path("certs"))
    assert launch.listeners == [("plain", 1883), ("tls", 8883)]
    # Opened again it is on, with its warning; turned off, the profile loses the key.
    async with open_dialog(NetworkSettingsScreen(network)) as (app, pilot):
        assert "Port 1883 stays open without TLS" in screen_text(app)
        await toggle(pilot, "#keep-plain")
        assert "stays open without TLS" not in screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
    (plain_closed,) = app.results
    assert plain_closed.broker.keep_plain_port is None
    assert BrokerLaunch.from_network(plain_closed, Path("certs")).listeners == [("tls", 8883)]


async def test_a_kept_plain_port_that_is_the_tls_port_is_refused_under_port() -> None:
    broker = BrokerSettings(port=1883, keep_plain_port=1883, tls=TLSSettings(enabled=True))
    async with open_dialog(NetworkSettingsScreen(replace(LAB, broker=broker))) as (app, pilot):
        await pilot.press("enter")
        await settle(pilot)
        assert "must differ from the TLS port 1883" in error_under(app, "port")
    assert app.results == []


async def test_a_port_set_by_hand_stays_when_tls_is_switched() -> None:
    async with open_dialog(NetworkSettingsScreen(LAB)) as (app, pilot):
        await type_into(pilot, "#port", "2883")
        await toggle(pilot, "#tls")
        assert app.screen.query_one("#port", Input).value == "2883"
        assert "set by hand" in str(app.screen.query_one("#port-hint", Static).content)
        await type_into(pilot, "#host", "localhost")
        await pilot.press("enter")
        await settle(pilot)
    (network,) = app.results
    assert network.broker == BrokerSettings(
        host="localhost", port=2883, tls=TLSSettings(enabled=True)
    )


async def test_a_port_from_the_profile_counts_as_set_by_hand() -> None:
    network = Network("n", broker=BrokerSettings(port=11883))
    async with open_dialog(NetworkSettingsScreen(network)) as (app, pilot):
        await toggle(pilot, "#tls")
        assert app.screen.query_one("#port", Input).value == "11883"


async def test_settings_are_returned_as_typed() -> None:
    async with open_dialog(NetworkSettingsScreen(LAB)) as (app, pilot):
        await type_into(pilot, "#host", "broker.example")
        await type_into(pilot, "#keepalive", "30")
        await type_into(pilot, "#prefix", "lab-")
        await type_into(pilot, "#username", "alice")
        await type_into(pilot, "#password", "s3cretpw")
        app.screen.query_one("#protocol").focus()
        await pilot.press("enter", "down", "enter")
        await settle(pilot)
        await toggle(pilot, "#tls")
        await type_into(pilot, "#ca", "certs/ca.crt")
        await pilot.press("enter")
        await settle(pilot)
    (network,) = app.results
    assert network.name == LAB.name
    assert network.description == LAB.description
    assert network.broker == BrokerSettings(
        host="broker.example",
        protocol=MQTTVersion.V5,
        keepalive=30,
        client_id_prefix="lab-",
        username="alice",
        password="s3cretpw",
        tls=TLSSettings(enabled=True, ca="certs/ca.crt"),
    )


async def test_certificate_fields_show_while_tls_is_on_and_keep_their_values() -> None:
    async with open_dialog(NetworkSettingsScreen(LAB)) as (app, pilot):
        assert not app.screen.query("#ca")  # built when TLS is switched on, not before
        assert "CA certificate" not in screen_text(app)
        await toggle(pilot, "#tls")
        assert "CA certificate" in screen_text(app)
        await type_into(pilot, "#ca", "certs/ca.crt")
        await type_into(pilot, "#cert", "certs/clients/d.crt")
        await type_into(pilot, "#key", "certs/clients/d.key")
        await toggle(pilot, "#verify-host")
        assert "Verification is off" in screen_text(app)
        await toggle(pilot, "#tls")
        shown = screen_text(app)
        assert "CA certificate" not in shown
        assert "Verification is off" not in shown  # nothing to verify without TLS
        await toggle(pilot, "#tls")
        assert app.screen.query_one("#ca", Input).value == "certs/ca.crt"
        await pilot.press("enter")
        await settle(pilot)
    (network,) = app.results
    assert network.broker.tls == TLSSettings(
        enabled=True,
        ca="certs/ca.crt",
        cert="certs/clients/d.crt",
        key="certs/clients/d.key",
        verify_hostname=False,
    )
    # Opened again, the dialog shows the same values and gives them back unchanged.
    async with open_dialog(NetworkSettingsScreen(network)) as (app, pilot):
        assert app.screen.query_one("#key", Input).value == "certs/clients/d.key"
        assert "Verification is off" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
    assert app.results == [network]


async def test_tls_settings_kept_while_tls_is_off_come_back_unchanged() -> None:
    tls = TLSSettings(ca="certs/ca.crt", cert="c.crt", key="c.key", verify_hostname=False)
    network = replace(LAB, broker=BrokerSettings(tls=tls))
    async with open_dialog(NetworkSettingsScreen(network)) as (app, pilot):
        assert "CA certificate" not in screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
    assert app.results == [network]


async def test_settings_rename_and_redescribe_the_network() -> None:
    async with open_dialog(NetworkSettingsScreen(LAB)) as (app, pilot):
        await type_into(pilot, "#name", "finance/floor")
        assert "file name" in error_under(app, "name")
        await pilot.press("enter")
        await settle(pilot)
        assert app.results == []
        await type_into(pilot, "#name", "NDE_FINANCE_2")
        await type_into(pilot, "#description", "Second floor")
        await pilot.press("enter")
        await settle(pilot)
    (network,) = app.results
    assert (network.name, network.description) == ("NDE_FINANCE_2", "Second floor")
    assert network.broker == LAB.broker


async def test_the_password_is_never_on_screen() -> None:
    network = Network("n", broker=BrokerSettings(username="bob", password="fromprofile1"))
    async with open_dialog(NetworkSettingsScreen(network)) as (app, pilot):
        await type_into(pilot, "#username", "alice")
        await type_into(pilot, "#password", "typedsecret9")
        shown = screen_text(app)
        assert "alice" in shown  # the same reading does show what is typed in plain fields
        assert "typedsecret9" not in shown
        assert "fromprofile1" not in shown
        assert "•" * len("typedsecret9") in shown


async def test_invalid_values_are_shown_and_the_dialog_stays_open() -> None:
    async with open_dialog(NetworkSettingsScreen(LAB)) as (app, pilot):
        await toggle(pilot, "#tls")
        await type_into(pilot, "#port", "70000")
        assert error_under(app, "port") == "the port must be from 1 to 65535"
        await type_into(pilot, "#host", "")
        await type_into(pilot, "#cert", "certs/clients/d.crt")
        await pilot.press("enter")
        await settle(pilot)
        assert app.results == []
        assert error_under(app, "host") == "the broker host is required, e.g. 127.0.0.1"
        assert error_under(app, "port") == "the port must be from 1 to 65535"
        assert error_under(app, "key") == "a client certificate needs its key"
        assert app.screen.focused is app.screen.query_one("#host")
        await type_into(pilot, "#host", "127.0.0.1")
        await type_into(pilot, "#port", "1884")
        await pilot.press("enter")
        await settle(pilot)
        assert error_under(app, "key") == "a client certificate needs its key"
        assert error_under(app, "host") == ""
        assert error_under(app, "port") == ""
        assert app.results == []
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)  # typed values would be lost
        await pilot.press("y")
        await settle(pilot)
    assert app.results == [None]


async def test_a_password_without_user_name_is_refused_on_mqtt_311() -> None:
    async with open_dialog(NetworkSettingsScreen(LAB)) as (app, pilot):
        await type_into(pilot, "#password", "pw")
        await pilot.press("enter")
        await settle(pilot)
        assert "user name" in error_under(app, "username")
        assert app.results == []


async def test_turning_verification_off_shows_a_warning_that_stays() -> None:
    async with open_dialog(NetworkSettingsScreen(LAB)) as (app, pilot):
        await toggle(pilot, "#tls")
        warning = app.screen.query_one("#verify-warning", Static)
        assert "Verification is off" not in screen_text(app)
        await toggle(pilot, "#verify-host")
        assert "Verification is off" in screen_text(app)
        await type_into(pilot, "#host", "localhost")
        await toggle(pilot, "#verify-cert")
        await toggle(pilot, "#verify-host")
        assert warning.display
        await toggle(pilot, "#verify-cert")
        assert not warning.display
        await toggle(pilot, "#verify-cert")
        await pilot.click("#submit")
        await settle(pilot)
    (network,) = app.results
    assert network.broker.tls.verify_certificate is False
    assert network.broker.tls.verify_hostname is True


async def test_verification_off_in_the_profile_is_warned_about_at_once() -> None:
    tls = TLSSettings(enabled=True, verify_certificate=False)
    network = Network("n", broker=BrokerSettings(tls=tls))
    async with open_dialog(NetworkSettingsScreen(network)) as (app, _pilot):
        assert "Verification is off" in screen_text(app)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_generate_certificates_writes_them_and_fills_the_paths(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    dialog = NetworkSettingsScreen(LAB, certs_dir=certs)
    async with open_dialog(dialog) as (app, pilot):
        await pilot.press("ctrl+g")
        await app.workers.wait_for_complete()
        await settle(pilot)
        for key in ("ca.key", "server.key", "clients/iotsim-device.key"):
            assert _mode(certs / key) == 0o600, key
        for cert in ("ca.crt", "server.crt", "clients/iotsim-device.crt"):
            assert (certs / cert).read_text().startswith("-----BEGIN CERTIFICATE-----")
        assert "Made new certificates" in str(
            app.screen.query_one("#generate-status", Static).content
        )
        assert "turn TLS on to use them" in str(
            app.screen.query_one("#generate-status", Static).content
        )
        await toggle(pilot, "#tls")
        status = str(app.screen.query_one("#generate-status", Static).content)
        assert "TLS is on: save the settings to use them" in status
        assert "turn TLS on" not in status
        await pilot.click("#submit")
        await settle(pilot)
    (network,) = app.results
    assert network.broker.tls == TLSSettings(
        enabled=True,
        ca=str(certs / "ca.crt"),
        cert=str(certs / "clients" / "iotsim-device.crt"),
        key=str(certs / "clients" / "iotsim-device.key"),
    )
    assert network.broker.effective_port == 8883


async def test_generating_with_tls_already_on_does_not_ask_to_turn_it_on(
    tmp_path: Path,
) -> None:
    network = replace(LAB, broker=BrokerSettings(tls=TLSSettings(enabled=True)))
    async with open_dialog(NetworkSettingsScreen(network, certs_dir=tmp_path / "c")) as (
        app,
        pilot,
    ):
        await pilot.press("ctrl+g")
        await app.workers.wait_for_complete()
        await settle(pilot)
        status = str(app.screen.query_one("#generate-status", Static).content)
    assert status.startswith("✓ Made new certificates"), status
    assert status.endswith(
        "TLS is on: save the settings to use them (restart the network if it runs)."
    )


async def test_existing_certificates_are_reused_unless_renewal_is_confirmed(
    tmp_path: Path,
) -> None:
    certs = tmp_path / "certs"
    async with open_dialog(NetworkSettingsScreen(LAB, certs_dir=certs)) as (app, pilot):
        await pilot.click("#generate")
        await app.workers.wait_for_complete()
        await settle(pilot)
        first_ca = (certs / "ca.crt").read_bytes()

        # The status line has grown the dialog and the pointer rests on the button: ask again
        # by key, as a user at the keyboard does (a click lands wherever layout last put it).
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("n")
        await app.workers.wait_for_complete()
        await settle(pilot)
        assert (certs / "ca.crt").read_bytes() == first_ca
        assert "Using the existing" in str(app.screen.query_one("#generate-status", Static).content)

        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await settle(pilot)
        assert (certs / "ca.crt").read_bytes() != first_ca
        assert _mode(certs / "ca.key") == 0o600


async def _still(pilot: Pilot[None]) -> None:
    for text_field in pilot.app.screen.query(Input):
        text_field.cursor_blink = False
    await settle(pilot)


def test_settings_dialog_picture(snap_compare: Callable[..., bool]) -> None:
    """The settings of a TLS network with a hand-set port, sign-in and hostname checks off."""
    broker = BrokerSettings(
        host="localhost",
        port=18883,
        username="alice",
        password="not-on-screen",
        tls=TLSSettings(
            enabled=True,
            ca="certs/ca.crt",
            cert="certs/clients/iotsim-device.crt",
            key="certs/clients/iotsim-device.key",
            verify_hostname=False,
        ),
    )
    app = DialogApp(NetworkSettingsScreen(replace(LAB, broker=broker)))
    assert snap_compare(app, terminal_size=(100, 42), run_before=_still)


def test_settings_dialog_picture_at_80_by_24(snap_compare: Callable[..., bool]) -> None:
    """On the smallest terminal the fields scroll and the buttons stay in view."""
    app = DialogApp(NetworkSettingsScreen(LAB))
    assert snap_compare(app, terminal_size=(80, 24), run_before=_still)


async def test_browse_puts_the_chosen_file_in_its_field(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "lab-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    async with open_dialog(NetworkSettingsScreen(LAB, certs_dir=certs)) as (app, pilot):
        await toggle(pilot, "#tls")
        await pilot.click("#browse-ca")
        await settle(pilot)
        assert isinstance(app.screen, PickFileScreen)
        await pilot.press("escape")  # a cancelled pick leaves the field alone
        await settle(pilot)
        assert app.screen.query_one("#ca", Input).value == ""
        await click_button(pilot, "#browse-ca")
        await settle(pilot)
        await type_into(pilot, "#path", str(certs / "lab-ca.pem"))
        await pilot.press("enter")
        await settle(pilot)
        ca = app.screen.query_one("#ca", Input)
        assert ca.value == str(certs / "lab-ca.pem")
        assert app.screen.focused is ca


async def test_a_certificate_folder_that_cannot_be_made_is_said_in_plain_words(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    async with open_dialog(NetworkSettingsScreen(LAB, certs_dir=blocker / "certs")) as (
        app,
        pilot,
    ):
        await pilot.click("#generate")
        await app.workers.wait_for_complete()
        await settle(pilot)
        status = str(app.screen.query_one("#generate-status", Static).content)
        assert status.startswith("✖ ")
        assert "a-file" in status
        await pilot.click("#submit")
        await settle(pilot)
    (network,) = app.results
    assert network.broker.tls == TLSSettings()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("NDE_FINANCE_NETWORK", None),
        ("lab-2.v1", None),
        ("", "a network needs a name"),
        ("   ", "a network needs a name"),
        ("finance floor", "file name"),
        ("../escape", "file name"),
        (".hidden", "file name"),
        ("x" * 65, "file name"),
    ],
)
def test_network_names_must_name_a_file(name: str, problem: str | None) -> None:
    found = _checks.check_network_name(name)
    assert found == problem if problem is None else problem in (found or "")


@pytest.mark.parametrize(
    ("check", "text", "problem"),
    [
        (_checks.check_port, "", None),
        (_checks.check_port, "65535", None),
        (_checks.check_port, "0", "the port must be from 1 to 65535"),
        (_checks.check_port, "80a", "the port must be a whole number from 1 to 65535"),
        (_checks.check_interval, "0.5", None),
        (_checks.check_interval, "nan", "the interval must be more than 0 seconds"),
        (_checks.check_interval, "1e999", "the interval must be more than 0 seconds"),
        (_checks.check_interval, "soon", "the interval is a number of seconds, e.g. 5 or 0.5"),
        (_checks.check_host, "broker.example", None),
        (_checks.check_host, "my broker", "a host is a name or an address, with no spaces or '/'"),
        (_checks.check_device_id, "TS 1", None),  # the loader takes spaces; so does the form
        (
            _checks.check_device_id,
            "TS#1",
            "an id must not contain '+', '#' or control characters (ids go into topics)",
        ),
    ],
)
def test_field_checks(check: Callable[[str], str | None], text: str, problem: str | None) -> None:
    assert check(text) == problem


@pytest.mark.slow
async def test_generated_certificates_let_a_device_in_over_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the dialog makes and fills in works: the bundled broker, with client
    certificates required, accepts the device over TLS."""
    skip_without_broker()
    monkeypatch.chdir(tmp_path)
    network = replace(
        LAB, broker=BrokerSettings(port=free_port()), devices=(Device("Sensor", "TS1"),)
    )
    async with open_dialog(NetworkSettingsScreen(network)) as (app, pilot):
        await pilot.press("ctrl+g")
        await app.workers.wait_for_complete()
        await settle(pilot)
        await toggle(pilot, "#tls")
        await pilot.press("enter")
        await settle(pilot)
    (secured,) = app.results
    assert secured.broker.tls.ca == "certs/ca.crt"
    assert secured.broker.tls.enabled
    broker, secured = await _start_bundled(secured)
    statuses: list[StatusChanged] = []
    try:
        async with Simulation(secured) as simulation:
            await simulation.start()
            async with asyncio.timeout(30):
                async for batch in simulation.events():
                    statuses += [event for event in batch if isinstance(event, StatusChanged)]
                    if any(s.status is not DeviceStatus.CONNECTING for s in statuses):
                        break
    finally:
        await broker.stop()
    final = statuses[-1]
    assert final.status is DeviceStatus.CONNECTED, final.detail
    assert "TLS" in final.detail


async def _start_bundled(network: Network) -> tuple[BundledBroker, Network]:
    """The bundled broker for `network`, on a port free right now (other tests on this
    machine open connections all the time, so a port picked earlier may be taken)."""
    for _attempt in range(5):
        network = replace(network, broker=replace(network.broker, port=free_port()))
        launch = BrokerLaunch.from_network(network, Path("certs"))
        assert launch.require_client_cert
        broker = BundledBroker(launch, ready_timeout=30)
        try:
            await broker.start()
        except BrokerError as error:
            if "already in use" not in error.message:
                raise
            continue
        return broker, network
    pytest.fail("no free port for the bundled broker after 5 tries")
