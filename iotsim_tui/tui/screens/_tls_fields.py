"""The network settings' TLS part: certificate paths, verification, the plain port kept, and
the certificates "Generate certificates" makes.

The fields are built only once TLS is on (a dialog with fewer widgets opens sooner); the
dialog shows or hides them as TLS is switched. `TlsPart` is what the settings dialog does
with them: browse for a file, generate certificates, say what that did.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from textual import on, work
from textual.containers import VerticalGroup
from textual.widget import AwaitMount, Widget
from textual.widgets import Button, Checkbox, Input, Static

from iotsim_tui.errors import CertificateError
from iotsim_tui.profiles.model import PLAIN_PORT, BrokerSettings, Network, TLSSettings
from iotsim_tui.tui.screens._certificates import (
    DEVICE_CLIENT_ID,
    ProvidedCertificates,
    certificates_exist,
    provide_certificates,
)
from iotsim_tui.tui.screens._form import FormDialog, Toggle, field, say
from iotsim_tui.tui.screens.confirm import ConfirmScreen
from iotsim_tui.tui.screens.files import (
    CERTIFICATE_SUFFIXES,
    KEY_SUFFIXES,
    PathSuggester,
    PickFileScreen,
    shown_path,
)

VERIFY_WARNING = (
    "⚠ Verification is off: anyone on the path can pose as the broker and read or change "
    "every message. Use this only to test."
)


def kept_port(broker: BrokerSettings) -> int:
    """The plain port "Also keep ... open" means: the profile's, else 1883."""
    return broker.keep_plain_port or PLAIN_PORT


def plain_warning(port: int) -> str:
    """What keeping a plain port open beside TLS gives away."""
    return (
        f"⚠ Port {port} stays open without TLS: any client may connect there, and what is "
        "sent there can be read on the wire. Use this to show both side by side."
    )


def path_field(
    label: str, value: str | None, placeholder: str, name: str, suffixes: tuple[str, ...]
) -> Widget:
    """A file path to type (completed as you type) or to pick with its Browse button."""
    path = Input(
        value or "",
        placeholder=placeholder,
        id=name,
        suggester=PathSuggester(suffixes),
        compact=True,
    )
    return field(label, path, Button("Browse", id=f"browse-{name}", compact=True))


def tls_fields(broker: BrokerSettings) -> Widget:
    """Certificate paths, verification switches and their warning, and the plain port kept."""
    tls = broker.tls
    verify = Static(VERIFY_WARNING, id="verify-warning", classes="warning")
    verify.set_class(not (tls.verify_certificate and tls.verify_hostname), "-shown")
    port = kept_port(broker)
    plain = Static(plain_warning(port), id="plain-warning", classes="warning")
    plain.set_class(broker.keep_plain_port is not None, "-shown")
    # fill_tls_fields puts the same values in fields built before.
    return VerticalGroup(
        path_field("CA certificate", tls.ca, "system CAs", "ca", CERTIFICATE_SUFFIXES),
        path_field("Client certificate", tls.cert, "none", "cert", CERTIFICATE_SUFFIXES),
        path_field("Client key", tls.key, "none", "key", KEY_SUFFIXES),
        field(
            "", Toggle("Verify the broker's certificate", tls.verify_certificate, id="verify-cert")
        ),
        field("", Toggle("Verify the broker's host name", tls.verify_hostname, id="verify-host")),
        verify,
        field(
            "",
            Toggle(
                f"Also keep {port} open, plain (bundled broker)",
                broker.keep_plain_port is not None,
                id="keep-plain",
            ),
        ),
        plain,
        id="tls-fields",
    )


def fill_tls_fields(group: Widget, broker: BrokerSettings) -> None:
    """Put `broker`'s TLS settings in the fields of `group`, as `tls_fields` builds them."""
    tls = broker.tls
    for control_id, path in (("ca", tls.ca), ("cert", tls.cert), ("key", tls.key)):
        group.query_one(f"#{control_id}", Input).value = path or ""
    group.query_one("#verify-cert", Toggle).value = tls.verify_certificate
    group.query_one("#verify-host", Toggle).value = tls.verify_hostname
    off = not (tls.verify_certificate and tls.verify_hostname)
    group.query_one("#verify-warning", Static).set_class(off, "-shown")
    port, keeps = kept_port(broker), broker.keep_plain_port is not None
    keep = group.query_one("#keep-plain", Toggle)
    keep.value = keeps
    label = f"Also keep {port} open, plain (bundled broker)"
    if str(keep.label) != label:
        keep.label = label
    plain = group.query_one("#plain-warning", Static)
    say(plain, plain_warning(port))
    plain.set_class(keeps, "-shown")


def with_tls_fields(group: Widget, tls: TLSSettings) -> TLSSettings:
    """`tls` with the certificate paths and verification switches of the fields in `group`."""

    def path(control_id: str) -> str | None:
        return group.query_one(f"#{control_id}", Input).value.strip() or None

    return replace(
        tls,
        ca=path("ca"),
        cert=path("cert"),
        key=path("key"),
        verify_certificate=group.query_one("#verify-cert", Toggle).value,
        verify_hostname=group.query_one("#verify-host", Toggle).value,
    )


class TlsPart(FormDialog[Network]):
    """The settings dialog's TLS part: its fields shown while TLS is on, a file picker for
    each path, and the certificates "Generate certificates" makes (ctrl+g)."""

    network: Network
    certs_dir: Path
    certificates: ProvidedCertificates | None
    """The certificates "Generate certificates" made or reused, once it ran."""

    def __init__(self) -> None:
        super().__init__()
        self._tls_group: Widget | None = None
        """The certificate fields, once built (see `tls_fields`)."""
        self._tls_mounted: AwaitMount | None = None
        """Their mount, when they were added after the dialog opened."""

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

    def _refill_tls_fields(self, broker: BrokerSettings) -> None:
        """The fields as a new dialog on `broker` would have them (when TLS is on)."""
        if self._tls_group is not None:
            fill_tls_fields(self._tls_group, broker)
            self._tls_group.display = broker.tls.enabled
        elif broker.tls.enabled:
            self._tls_group = tls_fields(broker)
            self._tls_mounted = self.query_one("#body").mount(self._tls_group, after="#tls")
            self.call_next(self._remember_tls_fields)

    async def _remember_tls_fields(self) -> None:
        if self._tls_mounted is not None:
            await self._tls_mounted
        if self._tls_group is not None:
            self.remember_values_of(self._tls_group)

    def _refill_certificates(self) -> None:
        """No certificates made yet: no status line, the folder named in the hint."""
        for line in self.query("#generate-status"):
            line.remove()
        row = self.query_one("#generate").parent
        if isinstance(row, Widget):
            row.add_class("-status-to-come")
        say(self.query_one("#generate-hint", Static), self._generate_hint())

    def _generate_hint(self) -> str:
        return f"ctrl+g · CA, broker and device certificates in {shown_path(self.certs_dir)}/"

    def _value(self, input_id: str) -> str:
        return self.query_one(f"#{input_id}", Input).value

    def _checked(self, toggle_id: str) -> bool:
        return self.query_one(f"#{toggle_id}", Toggle).value

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
