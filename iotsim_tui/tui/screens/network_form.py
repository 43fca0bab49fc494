"""A network's settings: its broker's address, sign-in, TLS and certificates, its name.

The TLS part (certificate fields, generating certificates) is `_tls_fields.TlsPart`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Select, Static

from iotsim_tui.errors import IotsimError
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
)
from iotsim_tui.tui.screens._form import Toggle, field, say
from iotsim_tui.tui.screens._more_fields import MORE_CLOSED, MORE_OPEN, more_fields, with_more
from iotsim_tui.tui.screens._tls_fields import TlsPart, kept_port, tls_fields, with_tls_fields
from iotsim_tui.tui.screens.confirm import ConfirmScreen
from iotsim_tui.tui.screens.files import shown_path

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


class NetworkSettingsScreen(TlsPart):
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
        self._more_group: Widget | None = None
        """The "More" fields (session, TLS version and key log, ramp), once built."""
        self._set_subject(network, certs_dir, broker_data, forget_state)

    def _set_subject(
        self,
        network: Network,
        certs_dir: Path,
        broker_data: Path | None,
        forget_state: Callable[[], Awaitable[None]] | None,
    ) -> None:
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

    def refill(
        self,
        network: Network,
        *,
        certs_dir: Path = Path("certs"),
        broker_data: Path | None = None,
        forget_state: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Fill the kept dialog in for `network`, as a new one would be (see `_kept`)."""
        with self.refilling():
            self._set_subject(network, certs_dir, broker_data, forget_state)
            broker = network.broker
            texts = {
                "host": broker.host,
                "port": str(broker.effective_port),
                "keepalive": str(broker.keepalive),
                "prefix": broker.client_id_prefix,
                "username": _text(broker.username),
                "password": _text(broker.password),
                "name": network.name,
                "description": network.description,
            }
            for input_id, text in texts.items():
                self.query_one(f"#{input_id}", Input).value = text
            self.query_one("#protocol", Select).value = broker.protocol
            self.query_one("#bundled", Toggle).value = broker.bundled
            self.query_one("#tls", Toggle).value = broker.tls.enabled
            say(self.query_one("#port-hint", Static), self._port_hint())
            self._refill_hints()
            if self._more_group is not None:
                self._more_group.remove()
                self._more_group = None
                self.query_one("#more", Button).label = MORE_CLOSED
            self._refill_tls_fields(broker)

    def _refill_hints(self) -> None:
        """The rows whose words name the network's folders, and the certificates' status."""
        self._refill_certificates()
        forget = self.query_one("#forget-state").parent
        if isinstance(forget, Widget):
            forget.display = self._forgettable
        say(self.query_one("#forget-state-hint", Static), self._state_hint())

    @property
    def _forgettable(self) -> bool:
        return self.broker_data is not None and self.forget_state is not None

    def _port_hint(self) -> str:
        return _PORT_BY_HAND if self.port_by_hand else _PORT_FOLLOWS

    def _state_hint(self) -> str:
        where = shown_path(self.broker_data) if self.broker_data is not None else ""
        return f"sessions, queued and retained messages: {where}"

    def compose_fields(self) -> ComposeResult:
        """Broker, sign-in and TLS fields, then the network's name: the broker comes first."""
        broker = self.network.broker
        tls = broker.tls
        yield Static("Broker", classes="section")
        yield field("Host", Input(broker.host, id="host", compact=True))
        yield field(
            "Port",
            Input(str(broker.effective_port), id="port", type="integer", compact=True),
            hint=self._port_hint(),
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
        forget = field(
            "Broker state",
            Button("Forget the broker's state", id="forget-state", compact=True),
            hint=self._state_hint(),
        )
        forget.display = self._forgettable  # shown for a network on the bundled broker
        yield forget
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
            hint=self._generate_hint(),
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

    @on(Input.Changed, "#port")
    def _port_typed(self, event: Input.Changed) -> None:
        if not event.input.has_focus:
            return
        self.port_by_hand = bool(event.value.strip())
        self.query_one("#port-hint", Static).update(self._port_hint())

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
