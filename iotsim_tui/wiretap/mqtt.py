"""MQTT in clear, as a sniffer reads it: packets decoded by the `protocol` codec.

Packets are framed here from their fixed header so that memory stays bounded: a packet up to
`MAX_DISSECTED` bytes is decoded whole by the codec; a larger one is described from its
first bytes (type, and topic for a PUBLISH) and skipped as it streams past.
"""

from __future__ import annotations

from iotsim_tui.protocol.codec import PacketReader, peek_header
from iotsim_tui.protocol.errors import MalformedPacket
from iotsim_tui.protocol.packets import (
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    UnsubAck,
    Unsubscribe,
)
from iotsim_tui.protocol.reasons import ConnectReturnCode, MQTTVersion, PacketType, ReasonCode
from iotsim_tui.wiretap.items import DecodeBudget, Decoded, Field, decoded, preview
from iotsim_tui.words import counted

MAX_DISSECTED = 1024 * 1024
"""Packets up to this size are decoded whole; larger ones are described from their start."""
VERSION_NAMES = {MQTTVersion.V31: "3.1", MQTTVersion.V311: "3.1.1", MQTTVersion.V5: "5.0"}
EXPOSED = "exposed: anyone on the path reads them"
ATTACKER_PREFIX = "attacker-"
"""The client ids of the lab's attackers (`iotsim-tui lab attack`): their CONNECT is marked."""


def looks_like_mqtt(data: bytes) -> bool:
    """True when `data` starts like an MQTT CONNECT (type 1, flags 0)."""
    return len(data) >= 1 and data[0] == 0x10


class MQTTSession:
    """What both directions of one connection share: the version CONNECT announced."""

    def __init__(self) -> None:
        self.version: MQTTVersion | None = None


class MQTTStream:
    """One direction of an MQTT connection: feed it bytes, get one item per packet."""

    def __init__(self, session: MQTTSession, budget: DecodeBudget | None = None) -> None:
        self._session = session
        self._budget = budget
        self._unread = 0
        self._unread_bytes = 0
        self._buffer = bytearray()
        self._skip = 0
        self._reader: PacketReader | None = None
        self.broken = False
        """True once the bytes stopped being MQTT; the caller shows the rest as data."""

    def feed(self, data: bytes) -> list[Decoded]:
        """Add bytes read from the wire; returns an item for each packet they complete."""
        if self._skip:
            skipped = min(self._skip, len(data))
            self._skip -= skipped
            data = data[skipped:]
        self._buffer += data
        items: list[Decoded] = []
        view = memoryview(self._buffer)
        pos = 0
        try:
            while pos < len(view) and not self.broken:
                try:
                    header = peek_header(view[pos:])
                except MalformedPacket as exc:
                    items.append(self._malformed(bytes(view[pos : pos + 5]), exc))
                    break
                if header is None:
                    break
                size = header[3] + header[2]
                if size > MAX_DISSECTED:
                    items.append(self._oversized(bytes(view[pos : pos + 64]), size))
                    taken = min(size, len(view) - pos)
                    self._skip = size - taken
                    pos += taken
                    continue
                if len(view) - pos < size:
                    break
                if self._budget is None or self._budget.take():
                    if self._unread:
                        items.append(self._not_decoded())
                    items.append(self._decode(bytes(view[pos : pos + size])))
                else:
                    self._unread += 1
                    self._unread_bytes += size
                pos += size
        finally:
            view.release()
        del self._buffer[:pos]
        return items

    def take_rest(self) -> bytes:
        """Bytes buffered but not understood (after the stream stopped being MQTT)."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest

    def _decode(self, packet_bytes: bytes) -> Decoded:
        if packet_bytes[0] >> 4 == PacketType.CONNECT:
            # A CONNECT tells its own version; the packets after it are read as it said.
            reader = PacketReader(version=None)
        else:
            version = self._session.version or MQTTVersion.V311
            if self._reader is None or self._reader.version != version:
                self._reader = PacketReader(version=version, max_packet_size=MAX_DISSECTED)
            reader = self._reader
        try:
            packets = reader.feed(packet_bytes)
        except MalformedPacket as exc:
            return self._malformed(packet_bytes, exc)
        if len(packets) != 1:
            return decoded("MQTT", "MQTT packet (not decoded)", packet_bytes)
        packet = packets[0]
        if isinstance(packet, Connect):
            self._session.version = packet.protocol_level
        return describe(packet, packet_bytes, self._session.version or MQTTVersion.V311)

    def _not_decoded(self) -> Decoded:
        rate = self._budget.rate if self._budget is not None else 0
        unread = f"{counted(self._unread, 'packet')}, {counted(self._unread_bytes, 'byte')}"
        summary = f"… {unread}, not decoded"
        note = Field("Why", f"more than {rate:,.0f} packets a second: counted, not decoded")
        self._unread = self._unread_bytes = 0
        return Decoded("MQTT", summary, (note,), b"", 0)

    def _malformed(self, packet_bytes: bytes, exc: MalformedPacket) -> Decoded:
        self.broken = True
        return decoded(
            "MQTT", f"Malformed MQTT: {exc.message}", packet_bytes, Field("Problem", exc.message)
        )

    def _oversized(self, head: bytes, size: int) -> Decoded:
        kind = head[0] >> 4
        name = _TYPE_NAMES.get(kind, f"type {kind}")
        fields = [Field("Size", f"{counted(size, 'byte')} (too large to decode here)")]
        summary = f"{name}, {counted(size, 'byte')}"
        if kind == PacketType.PUBLISH:
            topic = _topic_from_head(head)
            if topic is not None:
                fields.insert(0, Field("Topic", topic))
                summary = f"PUBLISH {topic} ({counted(size, 'byte')})"
        return Decoded("MQTT", summary, tuple(fields), head, size)


_TYPE_NAMES = {t.value: t.name for t in PacketType}


def _topic_from_head(head: bytes) -> str | None:
    try:
        header = peek_header(head)
    except MalformedPacket:
        return None
    if header is None:
        return None
    start = header[3]
    if len(head) < start + 2:
        return None
    length = int.from_bytes(head[start : start + 2], "big")
    raw = head[start + 2 : start + 2 + length]
    return raw.decode("utf-8", "replace") + ("…" if len(raw) < length else "")


def describe(packet: Packet, packet_bytes: bytes, version: MQTTVersion) -> Decoded:
    """The item for one decoded packet: a summary line and the fields of its detail view."""
    if isinstance(packet, Connect):
        return _connect(packet, packet_bytes)
    if isinstance(packet, Publish):
        return _publish(packet, packet_bytes)
    if isinstance(packet, ConnAck):
        code = _reason(packet.reason_code)
        fields = [
            Field("Return code", code),
            Field("Session present", _yes(packet.session_present)),
        ]
        return decoded("MQTT", f"CONNACK {code}", packet_bytes, *fields)
    if isinstance(packet, Subscribe):
        filters = [f"{s.topic_filter} (QoS {s.qos})" for s in packet.subscriptions]
        fields = [Field("Packet id", str(packet.packet_id))]
        fields += [Field("Topic filter", f) for f in filters]
        return decoded("MQTT", f"SUBSCRIBE {', '.join(filters)}", packet_bytes, *fields)
    if isinstance(packet, SubAck):
        codes = [_granted(c) for c in packet.reason_codes]
        fields = [Field("Packet id", str(packet.packet_id)), Field("Granted", ", ".join(codes))]
        return decoded(
            "MQTT", f"SUBACK id {packet.packet_id}: {', '.join(codes)}", packet_bytes, *fields
        )
    if isinstance(packet, Unsubscribe):
        fields = [Field("Packet id", str(packet.packet_id))]
        fields += [Field("Topic filter", f) for f in packet.topic_filters]
        return decoded(
            "MQTT", f"UNSUBSCRIBE {', '.join(packet.topic_filters)}", packet_bytes, *fields
        )
    if isinstance(packet, PubAck | PubRec | PubRel | PubComp | UnsubAck):
        name = type(packet).__name__.upper()
        fields = [Field("Packet id", str(packet.packet_id))]
        if isinstance(packet, PubAck | PubRec | PubRel | PubComp) and version is MQTTVersion.V5:
            fields.append(Field("Reason", _reason(packet.reason_code)))
        return decoded("MQTT", f"{name} id {packet.packet_id}", packet_bytes, *fields)
    if isinstance(packet, Disconnect | Auth):
        name = type(packet).__name__.upper()
        if version is MQTTVersion.V5:
            code = _reason(packet.reason_code)
            if isinstance(packet, Disconnect) and packet.reason_code == 0:
                code = "normal disconnection"  # 0x00 is named "success" in other packets
            return decoded("MQTT", f"{name} {code}", packet_bytes, Field("Reason", code))
        return decoded("MQTT", name, packet_bytes)
    assert isinstance(packet, PingReq | PingResp)
    return decoded("MQTT", type(packet).__name__.upper(), packet_bytes)


def _connect(packet: Connect, packet_bytes: bytes) -> Decoded:
    level = MQTTVersion(packet.protocol_level)
    fields = [
        Field("Protocol", f"{packet.protocol_name} {VERSION_NAMES.get(level, str(int(level)))}"),
        Field("Client id", packet.client_id or "(empty)"),
        Field("Clean start", _yes(packet.clean_start)),
        Field("Keepalive", f"{packet.keepalive} s"),
    ]
    summary = f"CONNECT client id {packet.client_id or '(empty)'}"
    if packet.client_id.startswith(ATTACKER_PREFIX):
        fields.insert(0, Field("Attacker", "a client of the lab's attacks", exposed=True))
        summary = "⚠ attacker: " + summary
    if packet.username is not None:
        fields.append(Field("User name", packet.username, exposed=True))
        summary += f", user {packet.username}"
    if packet.password is not None:
        # A sniffer reads the password; this screen says so without showing it, and
        # masks its bytes in the hex view too (it is the last field of a CONNECT).
        size = len(packet.password)
        fields.append(
            Field("Password", f"{counted(size, 'byte')} in clear (hidden here)", exposed=True)
        )
        summary += ", password in clear"
        if size:
            packet_bytes = packet_bytes[:-size] + b"*" * size
    if packet.will is not None:
        fields.append(Field("Will topic", packet.will.topic))
        fields.append(Field("Will payload", preview(packet.will.payload)))
    if packet.username is not None or packet.password is not None:
        fields.append(Field("Warning", f"credentials {EXPOSED}"))
    return decoded("MQTT", summary, packet_bytes, *fields)


def _publish(packet: Publish, packet_bytes: bytes) -> Decoded:
    topic = packet.topic or f"(alias {packet.properties.topic_alias})"
    fields = [
        Field("Topic", topic),
        Field("QoS", str(packet.qos)),
        Field("Retain", _yes(packet.retain)),
    ]
    if packet.qos:
        fields.append(Field("Packet id", str(packet.packet_id)))
    if packet.dup:
        fields.append(Field("Duplicate", "yes"))
    shown = preview(packet.payload, 400)
    fields.append(Field("Payload", f"{counted(len(packet.payload), 'byte')}: {shown}"))
    summary = f"PUBLISH {topic}: {shown if len(shown) <= 80 else shown[:79] + '…'}"
    return decoded("MQTT", summary, packet_bytes, *fields)


def _reason(code: ReasonCode | ConnectReturnCode | int) -> str:
    if isinstance(code, ConnectReturnCode | ReasonCode):
        return code.name.replace("_", " ").lower()
    return f"0x{code:02x}"


def _granted(code: ReasonCode | int) -> str:
    if code < 0x80:
        return f"QoS {int(code)}"
    return f"refused ({_reason(code)})"


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.hex(" ")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
