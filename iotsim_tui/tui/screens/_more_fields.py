"""The network settings' "More" part: the session, the lowest TLS version, the TLS key log
and how fast the devices connect (`[network.ramp]`).

Rarely changed, so built only when "More" is first pressed (each widget costs time when the
dialog opens); until then the dialog keeps these values as the profile has them.
"""

from __future__ import annotations

from dataclasses import replace

from textual.containers import VerticalGroup
from textual.widget import Widget
from textual.widgets import Input, Select, Static

from iotsim_tui.profiles.model import BrokerSettings, Network, Ramp
from iotsim_tui.tui.screens._form import Toggle, field
from iotsim_tui.tui.screens.files import PathSuggester

MORE_CLOSED = "▸ More: session, TLS version and key log, connection ramp"
MORE_OPEN = "▾ More: session, TLS version and key log, connection ramp"

KEY_LOG_HINT = (
    "⚠ Wireshark decrypts every TLS session of these devices with this file (SSLKEYLOGFILE): "
    "whoever has it reads all their traffic. Leave it blank unless you test."
)

FIELD_OF_KEY = {
    "network.broker.clean_start": "clean-start",
    "network.broker.session_expiry": "session-expiry",
    "network.broker.tls.min_version": "min-version",
    "network.broker.tls.key_log": "key-log",
    "network.ramp.rate": "ramp-rate",
    "network.ramp.in_flight": "ramp-in-flight",
}
"""Profile key -> the field of this part that sets it."""


def _number_text(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


def more_fields(network: Network) -> Widget:
    """The fields, filled in from `network`."""
    broker, ramp = network.broker, network.ramp
    return VerticalGroup(
        Static("Session", classes="section"),
        field(
            "",
            Toggle(
                "Clean start: each connection begins a new session",
                broker.clean_start,
                id="clean-start",
            ),
        ),
        field(
            "Session expiry (s)",
            Input(str(broker.session_expiry), id="session-expiry", type="integer", compact=True),
            hint="MQTT 5: how long the broker keeps a session after a disconnect (0: not at all)",
        ),
        Static("TLS (when it is on)", classes="section"),
        field(
            "Lowest TLS version",
            Select(
                [("TLS 1.2", "1.2"), ("TLS 1.3", "1.3")],
                value=broker.tls.min_version,
                allow_blank=False,
                id="min-version",
                compact=True,
            ),
        ),
        field(
            "Key log file",
            Input(
                broker.tls.key_log or "",
                placeholder="none",
                id="key-log",
                suggester=PathSuggester(),
                compact=True,
            ),
            hint=KEY_LOG_HINT,
        ),
        Static("Connection ramp", classes="section"),
        field(
            "Connections/s",
            Input(_number_text(ramp.rate), id="ramp-rate", compact=True),
            hint="new connections per second at most, so many devices do not stampede a broker",
        ),
        field(
            "In flight",
            Input(str(ramp.in_flight), id="ramp-in-flight", type="integer", compact=True),
            hint="connections being set up at once, at most",
        ),
        id="more-fields",
    )


def _whole(text: str, default: int) -> int:
    """A typed whole number; blank is `default`, anything else the loader will refuse (-1)."""
    try:
        return int(text.strip()) if text.strip() else default
    except ValueError:
        return -1


def _positive(text: str, default: float) -> float:
    """A typed number; blank is `default`, anything else the loader will refuse (0)."""
    try:
        return float(text.strip()) if text.strip() else default
    except ValueError:
        return 0.0


def with_more(group: Widget, broker: BrokerSettings, ramp: Ramp) -> tuple[BrokerSettings, Ramp]:
    """`broker` and `ramp` with the values of the fields in `group`.

    Text that is not a number goes to the loader as a value it refuses, so the message the
    dialog shows is the loader's own.
    """

    def text(control_id: str) -> str:
        return group.query_one(f"#{control_id}", Input).value

    version = group.query_one("#min-version", Select).value
    tls = replace(
        broker.tls,
        min_version=version if isinstance(version, str) else broker.tls.min_version,
        key_log=text("key-log").strip() or None,
    )
    broker = replace(
        broker,
        clean_start=group.query_one("#clean-start", Toggle).value,
        session_expiry=_whole(text("session-expiry"), 0),
        tls=tls,
    )
    ramp = Ramp(
        rate=_positive(text("ramp-rate"), Ramp.rate),
        in_flight=_whole(text("ramp-in-flight"), Ramp.in_flight),
    )
    return broker, ramp
