"""MQTT control packets as frozen values, the same for 3.1.1 and 5.0.

Fields that only exist in 5.0 (properties, most reason codes) keep their defaults when a
packet is read as 3.1.1 and are left out when one is written as 3.1.1. Bytes on the wire are
made and read by `iotsim_tui.protocol.codec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, TypeAlias

from iotsim_tui.protocol.properties import NO_PROPERTIES, Properties
from iotsim_tui.protocol.reasons import ConnectReturnCode, MQTTVersion, PacketType, ReasonCode

PROTOCOL_NAMES = {MQTTVersion.V31: "MQIsdp", MQTTVersion.V311: "MQTT", MQTTVersion.V5: "MQTT"}
"""The protocol name each protocol level must be announced with."""


class RetainHandling(IntEnum):
    """When the server sends retained messages for a new subscription (MQTT 5.0 s3.8.3.1)."""

    SEND_ON_SUBSCRIBE = 0
    SEND_IF_NEW_SUBSCRIPTION = 1
    DO_NOT_SEND = 2


@dataclass(frozen=True, slots=True)
class Will:
    """The message a server publishes for a client that goes away without DISCONNECT."""

    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Connect:
    """CONNECT: the first packet a client sends.

    `protocol_name` may be left empty to use the standard name of `protocol_level`.
    """

    packet_type: ClassVar[PacketType] = PacketType.CONNECT
    client_id: str = ""
    protocol_level: MQTTVersion = MQTTVersion.V311
    protocol_name: str = ""
    clean_start: bool = True
    keepalive: int = 60
    will: Will | None = None
    username: str | None = None
    password: bytes | None = None
    properties: Properties = NO_PROPERTIES

    def __post_init__(self) -> None:
        if not self.protocol_name:
            object.__setattr__(self, "protocol_name", PROTOCOL_NAMES[self.protocol_level])


@dataclass(frozen=True, slots=True)
class ConnAck:
    """CONNACK. `reason_code` is a `ConnectReturnCode` in 3.1/3.1.1, a `ReasonCode` in 5.0."""

    packet_type: ClassVar[PacketType] = PacketType.CONNACK
    session_present: bool = False
    reason_code: ReasonCode | ConnectReturnCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Publish:
    """PUBLISH: an application message. `packet_id` is 0 for QoS 0 (none on the wire).

    In 5.0 `topic` may be empty when `properties.topic_alias` names an alias set earlier.
    """

    packet_type: ClassVar[PacketType] = PacketType.PUBLISH
    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int = 0
    properties: Properties = NO_PROPERTIES


_SET_PUBLISH_FIELDS = tuple(
    Publish.__dict__[name].__set__
    for name in ("topic", "payload", "qos", "retain", "dup", "packet_id", "properties")
)


def new_publish(
    topic: str,
    payload: bytes,
    qos: int,
    retain: bool,
    dup: bool,
    packet_id: int,
    properties: Properties,
) -> Publish:
    """Make a `Publish` without the frozen dataclass `__init__`, which costs twice as much.

    For the reader's hot path: every argument is required and already checked.
    """
    packet = object.__new__(Publish)
    set_topic, set_payload, set_qos, set_retain, set_dup, set_packet_id, set_props = (
        _SET_PUBLISH_FIELDS
    )
    set_topic(packet, topic)
    set_payload(packet, payload)
    set_qos(packet, qos)
    set_retain(packet, retain)
    set_dup(packet, dup)
    set_packet_id(packet, packet_id)
    set_props(packet, properties)
    return packet


@dataclass(frozen=True, slots=True)
class PubAck:
    """PUBACK: the answer to a QoS 1 PUBLISH."""

    packet_type: ClassVar[PacketType] = PacketType.PUBACK
    packet_id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class PubRec:
    """PUBREC: the first answer to a QoS 2 PUBLISH."""

    packet_type: ClassVar[PacketType] = PacketType.PUBREC
    packet_id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class PubRel:
    """PUBREL: the publisher's answer to PUBREC."""

    packet_type: ClassVar[PacketType] = PacketType.PUBREL
    packet_id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class PubComp:
    """PUBCOMP: the last packet of a QoS 2 exchange."""

    packet_type: ClassVar[PacketType] = PacketType.PUBCOMP
    packet_id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """One topic filter of a SUBSCRIBE with its options (the last three are 5.0 only)."""

    topic_filter: str
    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: RetainHandling = RetainHandling.SEND_ON_SUBSCRIBE


@dataclass(frozen=True, slots=True)
class Subscribe:
    """SUBSCRIBE: one or more topic filters."""

    packet_type: ClassVar[PacketType] = PacketType.SUBSCRIBE
    packet_id: int
    subscriptions: tuple[SubscriptionRequest, ...]
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class SubAck:
    """SUBACK: one reason code per requested filter (granted QoS, or 0x80 and up on failure)."""

    packet_type: ClassVar[PacketType] = PacketType.SUBACK
    packet_id: int
    reason_codes: tuple[ReasonCode, ...]
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """UNSUBSCRIBE: one or more topic filters to drop."""

    packet_type: ClassVar[PacketType] = PacketType.UNSUBSCRIBE
    packet_id: int
    topic_filters: tuple[str, ...]
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class UnsubAck:
    """UNSUBACK: in 5.0 one reason code per filter; in 3.1.1 none at all."""

    packet_type: ClassVar[PacketType] = PacketType.UNSUBACK
    packet_id: int
    reason_codes: tuple[ReasonCode, ...] = ()
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class PingReq:
    """PINGREQ: a client's keepalive."""

    packet_type: ClassVar[PacketType] = PacketType.PINGREQ


@dataclass(frozen=True, slots=True)
class PingResp:
    """PINGRESP: the server's answer to PINGREQ."""

    packet_type: ClassVar[PacketType] = PacketType.PINGRESP


@dataclass(frozen=True, slots=True)
class Disconnect:
    """DISCONNECT: a clean goodbye; in 5.0 either side may send it, with a reason."""

    packet_type: ClassVar[PacketType] = PacketType.DISCONNECT
    reason_code: ReasonCode = ReasonCode.NORMAL_DISCONNECTION
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Auth:
    """AUTH: an extended authentication step (5.0 only)."""

    packet_type: ClassVar[PacketType] = PacketType.AUTH
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES


Packet: TypeAlias = (
    Connect
    | ConnAck
    | Publish
    | PubAck
    | PubRec
    | PubRel
    | PubComp
    | Subscribe
    | SubAck
    | Unsubscribe
    | UnsubAck
    | PingReq
    | PingResp
    | Disconnect
    | Auth
)
"""Any MQTT control packet."""

PUBLISH_ACKS = (PubAck, PubRec, PubRel, PubComp)
"""The four packets made of a packet id, a reason code and properties."""

__all__ = [
    "NO_PROPERTIES",
    "PROTOCOL_NAMES",
    "PUBLISH_ACKS",
    "Auth",
    "ConnAck",
    "Connect",
    "ConnectReturnCode",
    "Disconnect",
    "MQTTVersion",
    "Packet",
    "PacketType",
    "PingReq",
    "PingResp",
    "Properties",
    "PubAck",
    "PubComp",
    "PubRec",
    "PubRel",
    "Publish",
    "ReasonCode",
    "RetainHandling",
    "SubAck",
    "Subscribe",
    "SubscriptionRequest",
    "UnsubAck",
    "Unsubscribe",
    "Will",
    "new_publish",
]
