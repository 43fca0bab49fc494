"""The header warns when the bundled broker keeps a plain port open beside TLS."""

from __future__ import annotations

from iotsim_tui.profiles.model import BrokerSettings, Network, TLSSettings
from iotsim_tui.tui.widgets.network_header import plain_open_warning


def _network(**broker: object) -> Network:
    return Network("LAB", broker=BrokerSettings(**broker))  # type: ignore[arg-type]


def test_a_plain_port_kept_beside_tls_is_warned_about() -> None:
    on = TLSSettings(enabled=True)
    warning = plain_open_warning(_network(tls=on, keep_plain_port=1883))
    assert warning.startswith("⚠ Port 1883 stays open without TLS beside 8883")


def test_no_warning_when_nothing_plain_stays_open() -> None:
    on = TLSSettings(enabled=True)
    assert plain_open_warning(_network(tls=on)) == ""
    assert plain_open_warning(_network(keep_plain_port=1883)) == ""  # TLS off: all is plain
    external = _network(host="broker.example", tls=on, keep_plain_port=1883)
    assert plain_open_warning(external) == ""  # not the bundled broker's port to keep
