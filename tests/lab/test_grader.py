"""Grading each kind of check from what a network reports: passing, failing, still open.

The engine's events, the relay's items and the ledgers are the values the engine and the
relay produce (their own classes); the end-to-end runs in test_lab_check.py grade the same
kinds from a real broker, relay and devices.
"""

from __future__ import annotations

from iotsim_tui.engine.events import DeviceError, DeviceStatus, MessageIn, StatusChanged
from iotsim_tui.engine.views import Ledger
from iotsim_tui.lab.checks import REFUSALS, Grader, Mark
from iotsim_tui.profiles.lab_model import REFUSAL_REASONS, Check, CheckKind
from iotsim_tui.profiles.model import TLSSettings
from iotsim_tui.wiretap.items import Field, WireItem
from iotsim_tui.wiretap.store import Direction

ALERT = "Alert for High Temperature"


def message(payload: str, *, device: str = "TS1", topic: str = "High_Tempe") -> MessageIn:
    data = payload.encode()
    return MessageIn(device, topic, 1, False, data, len(data), False, 1.0)


def status(state: DeviceStatus, detail: str, device: str = "TS1") -> StatusChanged:
    return StatusChanged(device, state, detail, 1.0)


def item(connection: int, protocol: str, data: bytes) -> WireItem:
    fields = (Field("Payload", data.decode("latin-1")),) if protocol == "MQTT" else ()
    return WireItem(connection, 1.0, Direction.TO_DEVICE, protocol, "", fields, data, len(data))


def marks(grader: Grader, *, final: bool = False) -> list[Mark]:
    return [verdict.mark for verdict in grader.verdicts(final=final)]


def test_received_passes_on_the_payload_and_topic_only() -> None:
    check = Check(CheckKind.RECEIVED, device="TS1", topic="High_Tempe", payload=ALERT)
    grader = Grader([check])
    grader.take_events([message(ALERT, topic="Other"), message("something else")])
    (verdict,) = grader.verdicts()
    assert verdict.mark is Mark.OPEN
    assert verdict.detail == "1 other message(s) on High_Tempe, not this one"
    grader.take_events([message(ALERT, device="TS2")])
    assert marks(grader, final=True) == [Mark.FAILED]
    grader.take_events([message(ALERT)])
    assert marks(grader, final=True) == [Mark.PASSED]


def test_clear_and_hidden_on_the_wire() -> None:
    clear = Check(CheckKind.CLEAR_ON_WIRE, payload=ALERT)
    hidden = Check(CheckKind.HIDDEN_ON_WIRE, payload=ALERT)
    grader = Grader([clear, hidden])
    assert marks(grader, final=True) == [Mark.FAILED, Mark.FAILED]  # no traffic at all
    grader.take_wire([item(1, "TLS", b"\x17\x03\x03\x00\x20" + bytes(32))])
    assert marks(grader) == [Mark.OPEN, Mark.OPEN]  # nothing delivered it yet
    assert grader.verdicts()[1].detail == (
        "no device received it yet, so it has not crossed the wire"
    )
    grader.take_events([message(ALERT, device="TS2", topic="Other")])
    assert marks(grader) == [Mark.OPEN, Mark.PASSED]
    assert grader.verdicts()[1].detail == (
        "TS2 received it; the relay saw 1 connection(s), 1 of them TLS, never it in clear"
    )
    grader.take_wire([item(2, "MQTT", b"0\x26\x00\x0aHigh_Tempe" + ALERT.encode())])
    assert marks(grader) == [Mark.PASSED, Mark.FAILED]
    assert "read it in clear (MQTT on connection 2)" in grader.verdicts()[1].detail


def test_refused_names_the_reason_it_saw() -> None:
    check = Check(CheckKind.REFUSED, device="TS1", reason="hostname")
    grader = Grader([check])
    assert grader.verdicts()[0].detail == (
        "TS1 was not refused (the certificate is for another host name)"
    )
    grader.take_events([status(DeviceStatus.RECONNECTING, "connection refused by 127.0.0.1:1")])
    assert marks(grader, final=True) == [Mark.FAILED]
    assert "failed otherwise: connection refused" in grader.verdicts()[0].detail
    grader.take_events(
        [status(DeviceStatus.ERROR, "hostname mismatch: the certificate is not for 127.0.0.2")]
    )
    assert marks(grader) == [Mark.PASSED]


def test_every_refusal_reason_is_recognised_in_the_engines_words() -> None:
    words = {
        "unknown_ca": "the broker's certificate is not signed by ca.crt (certificate verify...)",
        "expired": "the broker's certificate has expired (certificate verify failed: ...)",
        "hostname": "hostname mismatch: the certificate is not for 127.0.0.2",
        "client_certificate_required": "the broker requires a client certificate",
        "client_certificate_rejected": "the broker rejected the client certificate",
        "tls_version": "the broker and the device have no TLS version in common",
        "not_tls": "the broker does not speak TLS on this port",
        "not_authorized": "not authorized: the broker refused the user name and password",
    }
    assert set(words) == set(REFUSAL_REASONS) == set(REFUSALS)
    for reason, text in words.items():
        grader = Grader([Check(CheckKind.REFUSED, device="TS1", reason=reason)])
        grader.take_events([DeviceError("TS1", text, 1.0)])
        assert marks(grader) == [Mark.PASSED], reason


def test_tls_and_verified_follow_the_settings_the_devices_connect_with() -> None:
    tls = Check(CheckKind.TLS, device="TS1")
    verified = Check(CheckKind.VERIFIED, device="TS1")
    grader = Grader([tls, verified])
    grader.take_events([status(DeviceStatus.CONNECTED, "connected to 127.0.0.1:1883")])
    assert marks(grader, final=True) == [Mark.FAILED, Mark.FAILED]
    grader.use_settings(TLSSettings(enabled=True, verify_certificate=False))
    grader.take_events([status(DeviceStatus.CONNECTED, "connected to x:8883 over TLSv1.3")])
    assert marks(grader, final=True) == [Mark.PASSED, Mark.FAILED]
    assert grader.verdicts()[1].detail == "TS1 connected over TLS with certificate checks off"
    grader.use_settings(TLSSettings(enabled=True))
    grader.take_events(
        [status(DeviceStatus.CONNECTED, "connected to x:8883 over TLSv1.2, session resumed")]
    )
    assert marks(grader) == [Mark.PASSED, Mark.PASSED]
    assert grader.verdicts()[1].detail.startswith("TS1 connected over TLSv1.2, the broker's")


def test_the_ledger_fails_when_a_message_was_lost() -> None:
    every = Check(CheckKind.LEDGER)
    one = Check(CheckKind.LEDGER, device="TS2")
    grader = Grader([every, one])
    assert marks(grader, final=True) == [Mark.FAILED, Mark.FAILED]  # nothing ran
    grader.take_ledger("TS1", Ledger(accepted=5, acknowledged=5))
    grader.take_ledger("TS2", Ledger(accepted=3, acknowledged=2, queued=1))
    assert marks(grader) == [Mark.OPEN, Mark.OPEN]
    grader.take_ledger("TS2", Ledger(accepted=3, acknowledged=3))
    assert marks(grader) == [Mark.PASSED, Mark.PASSED]
    assert grader.verdicts()[0].detail == "8 published, 8 acknowledged, none lost"
    grader.take_ledger(
        "TS1", Ledger(accepted=5, acknowledged=4, dropped=1, drop_reasons={"outbox full": 1})
    )
    assert marks(grader) == [Mark.FAILED, Mark.PASSED]
    assert grader.verdicts()[0].detail.endswith("1 lost (1 outbox full)")


def test_titles_say_what_is_checked_unless_the_check_is_named() -> None:
    grader = Grader(
        [
            Check(CheckKind.RECEIVED, device="TS1", topic="High_Tempe", payload=ALERT),
            Check(CheckKind.HIDDEN_ON_WIRE, payload=ALERT, name="second alert unreadable"),
        ]
    )
    titles = [verdict.title for verdict in grader.verdicts()]
    assert titles == [f'TS1 received "{ALERT}" on High_Tempe', "second alert unreadable"]
