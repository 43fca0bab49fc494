"""Turn a relayed connection's byte streams into the items a sniffer's packet list shows.

Each direction is reassembled on its own. The first bytes of a connection tell what it
speaks: a TLS handshake record means TLS (dissected by `tls.TLSStream`), an MQTT CONNECT
means MQTT in clear (dissected with the `protocol` codec by `mqtt.MQTTStream`); anything
else is shown as data. Bytes that stop making sense are shown as data from there on; a
dissector never raises on what a peer sends.
"""

from __future__ import annotations

from iotsim_tui.wiretap.items import DecodeBudget, Decoded, Field, WireItem, decoded
from iotsim_tui.wiretap.mqtt import MQTTSession, MQTTStream, looks_like_mqtt
from iotsim_tui.wiretap.store import Address, Chunk, Direction, End, EndKind
from iotsim_tui.wiretap.tls import TLSStream, looks_like_tls
from iotsim_tui.words import counted

TLS = "TLS"
MQTT = "MQTT"
DATA = "Data"
TCP = "TCP"


class _DataStream:
    """Bytes that are neither TLS nor MQTT: one item per read."""

    broken = True

    def feed(self, data: bytes) -> list[Decoded]:
        return [decoded(DATA, f"Data, {counted(len(data), 'byte')}", data)] if data else []

    def take_rest(self) -> bytes:
        return b""


_Stream = TLSStream | MQTTStream | _DataStream


class ConnectionDissector:
    """Dissects both directions of one relayed connection."""

    def __init__(
        self,
        connection: int,
        client: Address,
        server: Address,
        *,
        budget: DecodeBudget | None = None,
    ) -> None:
        self.connection = connection
        self._budget = budget
        self.client = client
        self.server = server
        self.protocol = ""
        """"TLS", "MQTT" or "Data" once the first bytes arrived."""
        self._streams: dict[Direction, _Stream] = {}
        self._session = MQTTSession()

    def opened(self, at: float) -> list[WireItem]:
        """The item for the TCP handshake that opened the connection."""
        c_host, c_port = self.client
        s_host, s_port = self.server
        summary = f"{c_port} → {s_port} connection opened [SYN, SYN-ACK, ACK]"
        fields = (Field("Device", f"{c_host}:{c_port}"), Field("Broker", f"{s_host}:{s_port}"))
        return [WireItem(self.connection, at, Direction.TO_BROKER, TCP, summary, fields, b"", 0)]

    def feed(self, chunk: Chunk) -> list[WireItem]:
        """Items completed by one chunk of bytes read from the wire."""
        if not chunk.data:
            return []
        if not self.protocol:
            self.protocol = _detect(chunk.data)
        stream = self._streams.get(chunk.direction)
        if stream is None:
            stream = self._streams[chunk.direction] = self._new_stream()
        found = stream.feed(chunk.data)
        if stream.broken and not isinstance(stream, _DataStream):
            rest = stream.take_rest()
            self._streams[chunk.direction] = _DataStream()
            note = Field("Note", f"the bytes stopped looking like {self.protocol}")
            if rest:
                found.append(
                    decoded(
                        DATA,
                        f"Data, {counted(len(rest), 'byte')} (not {self.protocol})",
                        rest,
                        note,
                    )
                )
        return [self._item(chunk, d) for d in found]

    def end(self, end: End) -> list[WireItem]:
        """The item for a FIN or a reset from one side."""
        if end.kind is EndKind.FIN:
            who = "device" if end.direction is Direction.TO_BROKER else "broker"
            summary = f"[FIN] the {who} closed its side"
        else:
            summary = "[RST] connection reset"
        return [WireItem(self.connection, end.at, end.direction, TCP, summary, (), b"", 0)]

    def _new_stream(self) -> _Stream:
        if self.protocol == TLS:
            return TLSStream()
        if self.protocol == MQTT:
            return MQTTStream(self._session, self._budget)
        return _DataStream()

    def _item(self, chunk: Chunk, part: Decoded) -> WireItem:
        return WireItem(
            self.connection,
            chunk.at,
            chunk.direction,
            part.protocol,
            part.summary,
            part.fields,
            part.data,
            part.size,
        )


def _detect(first: bytes) -> str:
    if looks_like_tls(first):
        return TLS
    if looks_like_mqtt(first):
        return MQTT
    return DATA
