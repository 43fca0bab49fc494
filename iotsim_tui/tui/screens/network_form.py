"""A new network, and a network's broker settings: address, sign-in, TLS and certificates."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import AwaitMount, Widget
from textual.widgets import Button, Checkbox, Input, Select, Static

from iotsim_tui.errors import CertificateError, IotsimError
from iotsim_tui.profiles.model import (
    PLAIN_PORT,
    TLS_PORT,
    BrokerSettings,
    MQTTVersion,
    Network,
)
from iotsim_tui.tui.screens import _checks, _more_fields
from iotsim_tui.tui.screens._certificates import (
    DEVICE_CLIENT_ID,
    ProvidedCertificates,
    certificates_exist,
    provide_certificates,
)
from iotsim_tui.tui.screens._form import FormDialog, Toggle, field
from iotsim_tui.tui.screens._more_fields import MORE_CLOSED, MORE_OPEN, more_fields, with_more
from iotsim_tui.tui.screens._tls_fields import kept_port, tls_fields, with_tls_fields
from iotsim_tui.tui.screens.confirm import ConfirmScreen
from iotsim_tui.tui.screens.files import (
    CERTIFICATE_SUFFIXES,
    KEY_SUFFIXES,
    PickFileScreen,
    shown_path,
)

_FIELD_OF_KEY = {
    "host": "host",
    "port": "port",
    "keepalive": "keepalive",
    "client_id_prefix": "prefix",
    "username": "username",
    "password": "username",
    "tls.ca": "ca",
    "tls.cert": "cert",
    "tls.key": "key",
    "keep_plain_port": "port",
}
"""Profile key -> the field that sets it, to show the loader's problems in place."""
_PORT_FOLLOWS = f"follows TLS: {PLAIN_PORT} plain, {TLS_PORT} with TLS"
_PORT_BY_HAND = "set by hand: it stays when TLS is switched (clear it to follow TLS)"


def _text(value: str | None) -> str:
    return value or ""


def _optional(text: str) -> str | None:
    return text.strip() or None


class NewNetworkScreen(FormDialog[Network]):
    """Name and describe a new network; dismisses with a `Network` on the bundled broker."""

    AUTO_FOCUS = "#name"

    heading = "New network"
    intro = "A network is a set of devices and the broker they talk to; it is saved as one file."
    submit_label = "Create"

    def compose_fields(self) -> ComposeResult:
        """Name and description."""
        yield field("Name", Input(placeholder="e.g. NDE_FINANCE_NETWORK", id="name", compact=True))
        yield field(
            "Description",
            Input(
                placeholder="optional, e.g. Finance floor sensors", id="description", compact=True
            ),
        )

    def on_mount(self) -> None:
        """Check the name as it is typed."""
        self.live_checks["name"] = _checks.check_network_name

    def build(self, errors: dict[str, str]) -> Network | None:
        """The new, empty network."""
        return Network(
            name=self.query_one("#name", Input).value.strip(),
            description=self.query_one("#description", Input).value.strip(),
        )


class NetworkSettingsScreen(FormDialog[Network]):
    """Edit how a network's devices reach their broker; dismisses with the changed `Network`."""

    AUTO_FOCUS = "#host"

    DEFAULT_CSS = """
    NetworkSettingsScreen .warning {
        display: none;
        margin-left: 20;
    }
    NetworkSettingsScreen .warning.-shown {
        display: block;
    }
    NetworkSettingsScreen .-status-to-come {
        padding-bottom: 1;
    }
    NetworkSettingsScreen #generate-status {
        color: $text-muted;
        padding-left: 20;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+t",
            "toggle_tls",
            "TLS on/off",
            id="settings.tls",
            tooltip="Switch TLS on or off (the port follows unless it was set by hand)",
        ),
        Binding(
            "ctrl+g",
            "generate",
            "Generate certificates",
            id="settings.generate",
            tooltip=f"Make (or reuse) a CA, broker and device certificate ({DEVICE_CLIENT_ID})",
        ),
    ]

    heading = "Network settings"
    submit_label = "Save settings"

    def __init__(
        self,
        network: Network,
        *,
        certs_dir: Path = Path("certs"),
        broker_data: Path | None = None,
        forget_state: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__()
        self.network = network
        self.certs_dir = certs_dir
        self.broker_data = broker_data
        """Where the bundled broker keeps this network's state; None: not shown."""
        self.forget_state = forget_state
        """Deletes that state (stopping and restarting the broker); asked first."""
        self.port_by_hand = network.broker.port is not None
        """True once the port was typed: switching TLS then leaves it alone."""
        self.certificates: ProvidedCertificates | None = None
        """The certificates "Generate certificates" made or reused, once it ran."""
        self._tls_group: Widget | None = None
        """The certificate fields, once built (see `tls_fields`)."""
        self._tls_mounted: AwaitMount | None = None
        """Their mount, when they were added after the dialog opened."""
        self._more_group: Widget | None = None
        """The "More" fields (session, TLS version and key log, ramp), once built."""

    def compose_fields(self) -> ComposeResult:
        """Broker, sign-in and TLS fields, then the network's name: the broker comes first."""
        broker = self.network.broker
        tls = broker.tls
        yield Static("Broker", classes="section")
        yield field("Host", Input(broker.host, id="host", compact=True))
        yield field(
            "Port",
            Input(str(broker.effective_port), id="port", type="integer", compact=True),
            hint=_PORT_BY_HAND if self.port_by_hand else _PORT_FOLLOWS,
        )
        yield field(
            "Protocol",
            Select(
                [("MQTT 3.1.1", MQTTVersion.V311), ("MQTT 5", MQTTVersion.V5)],
                value=broker.protocol,
                allow_blank=False,
                id="protocol",
                compact=True,
            ),
        )
        yield field(
            "Keepalive (s)",
            Input(str(broker.keepalive), id="keepalive", type="integer", compact=True),
        )
        yield field(
            "Client id prefix",
            Input(broker.client_id_prefix, placeholder="none", id="prefix", compact=True),
            hint="put before each device id to make its MQTT client id",
        )
        yield field(
            "",
            Toggle("Start the bundled broker when the host is local", broker.bundled, id="bundled"),
        )
        if self.broker_data is not None and self.forget_state is not None:
            yield field(
                "Broker state",
                Button("Forget the broker's state", id="forget-state", compact=True),
                hint=f"sessions, queued and retained messages: {shown_path(self.broker_data)}",
            )
        yield Static("Sign-in", classes="section")
        yield field(
            "User name",
            Input(_text(broker.username), placeholder="none", id="username", compact=True),
        )
        yield field(
            "Password",
            Input(
                _text(broker.password),
                password=True,
                placeholder="none",
                id="password",
                compact=True,
            ),
            hint="stored in clear in the profile file",
        )
        yield Static("TLS", classes="section")
        yield field("", Toggle("Use TLS (ctrl+t)", tls.enabled, id="tls"))
        if tls.enabled:
            self._tls_group = tls_fields(self.network.broker)
            yield self._tls_group
        yield field(
            "",
            Button("Generate certificates", id="generate", compact=True),
            hint=f"ctrl+g · CA, broker and device certificates in {shown_path(self.certs_dir)}/",
            classes="-status-to-come",
        )
        yield Static("Network", classes="section")
        yield field(
            "Name",
            Input(self.network.name, id="name", compact=True),
            hint="save as (W) suggests a file named after it",
        )
        yield field(
            "Description",
            Input(self.network.description, placeholder="optional", id="description", compact=True),
        )
        yield field("", Button(MORE_CLOSED, id="more", compact=True))

    @on(Button.Pressed, "#more")
    async def _more_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        await self._show_more(self._more_group is None or not self._more_group.display)

    async def _show_more(self, shown: bool) -> None:
        """Build the "More" fields the first time they are asked for, then show or hide them."""
        if self._more_group is None:
            self._more_group = more_fields(self.network)
            await self.query_one("#body").mount(self._more_group, after="#more")
            self.remember_values_of(self._more_group)
        self._more_group.display = shown
        if shown:
            self.call_after_refresh(self._more_group.scroll_visible)
        self.query_one("#more", Button).label = MORE_OPEN if shown else MORE_CLOSED

    def _tls_shown(self) -> bool:
        """True when the certificate fields are on screen (TLS on), so errors can go there."""
        return self._tls_group is not None and self._tls_group.display

    async def _show_tls_fields(self, shown: bool) -> None:
        """Build the certificate fields the first time they are needed, then show or hide them."""
        if self._tls_group is None:
            # Kept before the mount is awaited, so that switching TLS and generating
            # certificates at the same moment build the fields once.
            self._tls_group = tls_fields(self.network.broker)
            self._tls_mounted = self.query_one("#body").mount(self._tls_group, after="#tls")
        if self._tls_mounted is not None:
            await self._tls_mounted
        self._tls_group.display = shown

    @on(Button.Pressed, "#forget-state")
    def _forget_pressed(self) -> None:
        assert self.broker_data is not None
        question = (
            f"Forget what the bundled broker keeps for {self.network.name}: its persistent "
            f"sessions, queued messages and retained messages in {shown_path(self.broker_data)}? "
            "A running broker restarts empty."
        )

        def answered(forget: bool | None) -> None:
            if forget:
                self._forget()

        self.app.push_screen(ConfirmScreen(question, yes="Forget", no="Keep"), answered)

    @work(exclusive=True, group="forget-state", exit_on_error=False)
    async def _forget(self) -> None:
        assert self.forget_state is not None
        try:
            await self.forget_state()
        except IotsimError as error:
            self.notify(error.message, title=error.title, severity="error", timeout=15)
            return
        self.notify(f"The bundled broker's state for {self.network.name} is forgotten.")

    def on_mount(self) -> None:
        """Check values as they are typed."""
        self.live_checks.update(
            name=_checks.check_network_name,
            host=_checks.check_host,
            port=_checks.check_port,
            keepalive=_checks.int_in("the keepalive", 0, 65535),
        )

    def build(self, errors: dict[str, str]) -> Network | None:
        """The network with the new broker settings."""
        protocol = self.query_one("#protocol", Select).value
        assert isinstance(protocol, MQTTVersion)
        username = _optional(self._value("username"))
        password = self._value("password") or None
        if password and not username and protocol is MQTTVersion.V311:
            errors["username"] = "MQTT 3.1.1 sends a password only with a user name: add one"
        old = self.network.broker
        tls = replace(old.tls, enabled=self._checked("tls"))
        if self._tls_group is not None:
            tls = with_tls_fields(self._tls_group, tls)
        if tls.cert and not tls.key:
            errors[self._tls_target("key")] = "a client certificate needs its key"
        if tls.key and not tls.cert:
            errors[self._tls_target("cert")] = "a client key needs its certificate"
        port_text = self._value("port").strip()
        port = None  # follows TLS
        if self.port_by_hand and port_text and "port" not in errors:
            port = int(port_text)
        kept = old.keep_plain_port
        if self._tls_group is not None:
            kept = kept_port(old) if self._checked("keep-plain") else None
        broker: BrokerSettings = replace(
            old,
            host=self._value("host").strip(),
            port=port,
            bundled=self._checked("bundled"),
            keep_plain_port=kept,
            protocol=protocol,
            keepalive=old.keepalive if "keepalive" in errors else int(self._value("keepalive")),
            client_id_prefix=self._value("prefix").strip(),
            username=username,
            password=password,
            tls=tls,
        )
        ramp = self.network.ramp
        if self._more_group is not None:
            broker, ramp = with_more(self._more_group, broker, ramp)
        network = replace(
            self.network,
            name=self._value("name").strip(),
            description=self._value("description").strip(),
            broker=broker,
            ramp=ramp,
        )
        for problem in _checks.profile_problems(network):
            key = problem.key.removeprefix("network.broker.")
            more_field = _more_fields.FIELD_OF_KEY.get(problem.key)
            if more_field is not None and self._more_group is not None:
                target = more_field
                self._more_group.display = True  # the error shows beside its field
                self.query_one("#more", Button).label = MORE_OPEN
            elif more_field is not None or problem.key.startswith("network.ramp"):
                target = "form"
            elif "prefix" in problem.problem:  # prefix + device id too long for a client id
                target = "prefix"
            elif problem.key.startswith("network.broker"):
                target = self._tls_target(_FIELD_OF_KEY.get(key, "form"))
            elif problem.key in ("network.name", "network.description"):
                target = problem.key.removeprefix("network.")
            else:
                continue  # problems elsewhere in the network are not this dialog's
            message = problem.problem if target != "form" else _checks.problem_text(problem)
            errors.setdefault(target, message)
        return network

    def _tls_target(self, control_id: str) -> str:
        """Where an error about `control_id` shows: under it if it is a certificate field on
        screen, else in the line about the whole form."""
        tls_field = control_id in ("ca", "cert", "key")
        return "form" if tls_field and not self._tls_shown() else control_id

    def _value(self, input_id: str) -> str:
        return self.query_one(f"#{input_id}", Input).value

    def _checked(self, toggle_id: str) -> bool:
        return self.query_one(f"#{toggle_id}", Toggle).value

    @on(Input.Changed, "#port")
    def _port_typed(self, event: Input.Changed) -> None:
        if not event.input.has_focus:
            return
        self.port_by_hand = bool(event.value.strip())
        hint = _PORT_BY_HAND if self.port_by_hand else _PORT_FOLLOWS
        self.query_one("#port-hint", Static).update(hint)

    def action_toggle_tls(self) -> None:
        """Switch TLS on or off from anywhere in the dialog; the focus stays where it was
        (on the switch when it was in the certificate fields, which TLS off hides)."""
        toggle = self.query_one("#tls", Checkbox)
        toggle.value = not toggle.value
        focused, group = self.focused, self._tls_group
        if not toggle.value and focused is not None and group in focused.ancestors:
            toggle.focus()

    @on(Checkbox.Changed, "#tls")
    async def _tls_switched(self, event: Checkbox.Changed) -> None:
        if not self.port_by_hand:
            self.query_one("#port", Input).value = str(TLS_PORT if event.value else PLAIN_PORT)
        self._show_certificates_status()
        await self._show_tls_fields(event.value)

    @on(Checkbox.Changed, "#verify-cert, #verify-host")
    def _verify_switched(self) -> None:
        self._show_verify_warning()

    @on(Checkbox.Changed, "#keep-plain")
    def _keep_plain_switched(self, event: Checkbox.Changed) -> None:
        self.query_one("#plain-warning", Static).set_class(event.value, "-shown")

    def _show_verify_warning(self) -> None:
        if self._tls_group is None:
            return
        off = not (self._checked("verify-cert") and self._checked("verify-host"))
        self.query_one("#verify-warning", Static).set_class(off, "-shown")

    @on(Button.Pressed, "#browse-ca, #browse-cert, #browse-key")
    def _browse(self, event: Button.Pressed) -> None:
        event.stop()
        target = (event.button.id or "").removeprefix("browse-")
        suffixes = KEY_SUFFIXES if target == "key" else CERTIFICATE_SUFFIXES
        current = self._value(target).strip()
        start = Path(current) if current else self.certs_dir
        titles = {"ca": "CA certificate", "cert": "client certificate", "key": "client key"}

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.query_one(f"#{target}", Input).value = str(path)
            self.query_one(f"#{target}", Input).focus()

        picker = PickFileScreen(
            start, suffixes=suffixes, heading=f"Choose the {titles[target]}", value=current
        )
        self.app.push_screen(picker, chosen)

    @on(Button.Pressed, "#generate")
    def _generate_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_generate()

    def action_generate(self) -> None:
        """Make certificates, or ask first when the folder already has some."""
        if not certificates_exist(self.certs_dir):
            self._generate(renew=False)
            return

        def answered(renew: bool | None) -> None:
            self._generate(renew=bool(renew))

        question = (
            f"Certificates already exist in {shown_path(self.certs_dir)}/. Make new ones? "
            "Brokers and devices set up with the old CA will refuse the new certificates."
        )
        self.app.push_screen(
            ConfirmScreen(question, yes="Make new ones", no="Use the existing ones"), answered
        )

    @work(exclusive=True, group="certificates")
    async def _generate(self, *, renew: bool) -> None:
        status = self._status_line()
        status.update("Generating certificates…" if renew else "Preparing certificates…")
        host = self._value("host").strip()
        try:
            made = await asyncio.to_thread(
                provide_certificates, self.certs_dir, host=host, renew=renew
            )
        except CertificateError as error:
            status.update(f"✖ {error.message}")
            self.notify(error.message, title=error.title, severity="error")
            return
        await self._fill_certificates(made)

    async def _fill_certificates(self, made: ProvidedCertificates) -> None:
        """Put the certificates' paths in their fields (built if need be, shown if TLS is on)."""
        self.certificates = made
        await self._show_tls_fields(self._checked("tls"))
        self.query_one("#ca", Input).value = shown_path(made.ca)
        self.query_one("#cert", Input).value = shown_path(made.client_cert)
        self.query_one("#key", Input).value = shown_path(made.client_key)
        self._show_certificates_status()

    def _status_line(self) -> Static:
        """The line under "Generate certificates" that says what it did, made the first time."""
        line = next(self.query("#generate-status").results(Static), None)
        if line is None:
            line = Static("", id="generate-status", markup=False)
            # It takes the place the row kept for it (the dialog does not jump).
            row = self.query_one("#generate").parent
            if isinstance(row, Widget):
                row.remove_class("-status-to-come")
            self.query_one("#body").mount(line, after=row if isinstance(row, Widget) else None)
        return line

    def _show_certificates_status(self) -> None:
        made = self.certificates
        if made is None:
            return
        what = "Made new" if made.created else "Using the existing"
        then = (
            "TLS is on: save the settings to use them (restart the network if it runs)"
            if self._checked("tls")
            else "turn TLS on to use them"
        )
        self._status_line().update(
            f"✓ {what} certificates in {shown_path(self.certs_dir)}/ "
            f"(client certificate for {DEVICE_CLIENT_ID}); {then}."
        )
