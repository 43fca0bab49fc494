"""The network settings' TLS part: certificate paths, verification, and the plain port kept.

Built only while TLS is on (a dialog with fewer widgets opens sooner); the dialog shows or
hides it as TLS is switched.
"""

from __future__ import annotations

from dataclasses import replace

from textual.containers import VerticalGroup
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from iotsim_tui.profiles.model import PLAIN_PORT, BrokerSettings, TLSSettings
from iotsim_tui.tui.screens._form import Toggle, field
from iotsim_tui.tui.screens.files import CERTIFICATE_SUFFIXES, KEY_SUFFIXES, PathSuggester

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
