"""What the eavesdrop relay saw during a lesson, as lines: the record that matters marked.

TLS alerts and the broker's certificate (in clear under TLS 1.2) are marked as the lesson's
point; what an attacker reads in clear (MQTT through the impostor, the CONNECT's password
without TLS) is marked as an alarm, which the app shows in red.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from iotsim_tui.protocol.codec import PacketReader
from iotsim_tui.protocol.errors import MalformedPacket
from iotsim_tui.protocol.packets import Connect
from iotsim_tui.wiretap.items import WireItem
from iotsim_tui.wiretap.store import Chunk, ConnectionRecord, Direction

MAX_LINES = 60
ENCRYPTED_ALERT_SIZE = 19
"""A TLS 1.3 alert in an Application Data record: 2 bytes, its type, a 16-byte tag."""
"""Lines kept of what the relay saw; a lesson needs far fewer."""


class Mark(StrEnum):
    """How a line of what the relay saw is shown."""

    PLAIN = ""
    KEY = "key"
    """The lesson's point: an alert, the certificate in clear, the impostor refused."""
    ALARM = "alarm"
    """Something an attacker reads: shown in red."""


@dataclass(frozen=True, slots=True)
class Seen:
    """One line of what the relay saw."""

    text: str
    mark: Mark = Mark.PLAIN


def what_was_seen(
    items: Iterable[WireItem],
    records: Iterable[ConnectionRecord],
    *,
    impostor: bool,
    refused: bool,
) -> tuple[Seen, ...]:
    """The relay's items as lines, with the details each lesson is about."""
    lines: list[Seen] = []
    passwords = _passwords(records)
    connection: int | None = None
    # One connection after the other (a device may open a second one to read the
    # certificate's names; the first one's reset can come after it started).
    for item in sorted(items, key=lambda item: item.connection):
        found = _lines(item, impostor=impostor, refused=refused, passwords=passwords)
        if found and item.connection != connection:
            if connection is not None:
                lines.append(Seen(f"— connection {item.connection} —"))
            connection = item.connection
        lines += found
    if len(lines) > MAX_LINES:
        cut = len(lines) - MAX_LINES
        lines = [*lines[:MAX_LINES], Seen(f"… and {cut} more lines (the pcap file has them all)")]
    return tuple(lines)


def _lines(item: WireItem, *, impostor: bool, refused: bool, passwords: list[bytes]) -> list[Seen]:
    arrow = item.direction.arrow
    text = f"{arrow} {item.summary}"
    if item.protocol == "TCP":
        return [Seen(text)] if "[RST]" in item.summary else []
    if item.protocol == "Impostor":
        refused = "refused" in item.summary or "could not" in item.summary
        return [Seen(item.summary, Mark.KEY if refused else Mark.ALARM)]
    if item.protocol == "TLS":
        if "Alert" in item.summary:
            return [Seen(text + _alert_note(item), Mark.KEY)]
        if item.summary == f"Application Data, {ENCRYPTED_ALERT_SIZE} bytes" and refused:
            who = "device" if item.direction is Direction.TO_BROKER else "broker"
            note = f"  (the {who}'s alert: TLS 1.3 encrypts it, the size gives it away)"
            return [Seen(text + note, Mark.KEY)]
        if item.summary.startswith("Certificate"):
            details = [
                Seen(f"    {_certificate_field(f.name)}: {f.value}", Mark.KEY)
                for f in item.fields
                if f.name.startswith("Certificate ")
            ]
            return [Seen(text + "  (in clear)", Mark.KEY), *details]
        return [Seen(text)]
    if item.protocol == "MQTT":
        if item.summary.startswith("CONNECT"):
            return _connect_lines(item, text, passwords)
        if item.summary.startswith("PUBLISH"):
            return [Seen(text, Mark.ALARM)]
        return [Seen(text, Mark.ALARM if impostor else Mark.PLAIN)]
    return [Seen(text)]


def _certificate_field(name: str) -> str:
    """The name of a certificate field, without "Certificate 1" for the first of a chain."""
    number, _, what = name.removeprefix("Certificate ").partition(" ")
    return what if number == "1" else f"certificate {number} {what}"


def _alert_note(item: WireItem) -> str:
    if item.summary == "Encrypted Alert":
        return "  (encrypted: a sniffer cannot tell which)"
    return ""


def _connect_lines(item: WireItem, text: str, passwords: list[bytes]) -> list[Seen]:
    lines = [Seen(text, Mark.ALARM)]
    for field in item.fields:
        if field.name == "User name":
            lines.append(Seen(f"    user name: {field.value}", Mark.ALARM))
        elif field.name == "Password":
            # The one place iotsim-tui shows a password: the lesson's own throwaway one, read
            # from the wire as a sniffer reads it. This is the lesson's point.
            shown = passwords.pop(0).decode("utf-8", "replace") if passwords else field.value
            lines.append(Seen(f"    password: {shown}   ← read off the wire", Mark.ALARM))
    return lines


def _passwords(records: Iterable[ConnectionRecord]) -> list[bytes]:
    """The password of each connection's CONNECT, in order (the dissector hides them)."""
    found: list[bytes] = []
    for record in records:
        reader = PacketReader()
        for event in record.events:
            if not isinstance(event, Chunk) or event.direction is not Direction.TO_BROKER:
                continue
            try:
                packets = reader.feed(event.data)
            except MalformedPacket:
                break
            connect = next((p for p in packets if isinstance(p, Connect)), None)
            if connect is not None:
                if connect.password is not None:
                    found.append(connect.password)
                break
    return found
