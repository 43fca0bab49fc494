"""Packet types, protocol levels and reason codes, named as in the MQTT 3.1.1 and 5.0 specs."""

from __future__ import annotations

from enum import IntEnum


class MQTTVersion(IntEnum):
    """The protocol level byte of CONNECT."""

    V31 = 3
    """MQTT 3.1, protocol name "MQIsdp"."""
    V311 = 4
    """MQTT 3.1.1, protocol name "MQTT"."""
    V5 = 5
    """MQTT 5.0, protocol name "MQTT"."""

    @property
    def label(self) -> str:
        """The version as profiles and people write it: "3.1", "3.1.1" or "5"."""
        return _VERSION_LABELS[self]

    @classmethod
    def _missing_(cls, value: object) -> MQTTVersion | None:
        # A profile names the version by its label: MQTTVersion("3.1.1") is V311.
        for version, label in _VERSION_LABELS.items():
            if value == label:
                return version
        return None


_VERSION_LABELS = {MQTTVersion.V31: "3.1", MQTTVersion.V311: "3.1.1", MQTTVersion.V5: "5"}


class PacketType(IntEnum):
    """The control packet type: the high nibble of the first byte (MQTT 5.0 s2.1.2)."""

    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14
    AUTH = 15


SERVER_ONLY_TYPES = frozenset(
    {PacketType.CONNACK, PacketType.SUBACK, PacketType.UNSUBACK, PacketType.PINGRESP}
)
"""Packet types only a server may send: a server receiving one closes the connection."""

CLIENT_ONLY_TYPES = frozenset(
    {PacketType.CONNECT, PacketType.SUBSCRIBE, PacketType.UNSUBSCRIBE, PacketType.PINGREQ}
)
"""Packet types only a client may send."""


def is_server_only(packet_type: int) -> bool:
    """True for CONNACK, SUBACK, UNSUBACK and PINGRESP, which a client must never send."""
    return packet_type in SERVER_ONLY_TYPES


def is_client_only(packet_type: int) -> bool:
    """True for CONNECT, SUBSCRIBE, UNSUBSCRIBE and PINGREQ, which a server must never send."""
    return packet_type in CLIENT_ONLY_TYPES


class ReasonCode(IntEnum):
    """MQTT 5.0 reason codes (s2.4). Several names share a value, as in the spec."""

    SUCCESS = 0x00
    NORMAL_DISCONNECTION = 0x00
    GRANTED_QOS_0 = 0x00
    GRANTED_QOS_1 = 0x01
    GRANTED_QOS_2 = 0x02
    DISCONNECT_WITH_WILL_MESSAGE = 0x04
    NO_MATCHING_SUBSCRIBERS = 0x10
    NO_SUBSCRIPTION_EXISTED = 0x11
    CONTINUE_AUTHENTICATION = 0x18
    RE_AUTHENTICATE = 0x19
    UNSPECIFIED_ERROR = 0x80
    MALFORMED_PACKET = 0x81
    PROTOCOL_ERROR = 0x82
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83
    UNSUPPORTED_PROTOCOL_VERSION = 0x84
    CLIENT_IDENTIFIER_NOT_VALID = 0x85
    BAD_USER_NAME_OR_PASSWORD = 0x86
    NOT_AUTHORIZED = 0x87
    SERVER_UNAVAILABLE = 0x88
    SERVER_BUSY = 0x89
    BANNED = 0x8A
    SERVER_SHUTTING_DOWN = 0x8B
    BAD_AUTHENTICATION_METHOD = 0x8C
    KEEP_ALIVE_TIMEOUT = 0x8D
    SESSION_TAKEN_OVER = 0x8E
    TOPIC_FILTER_INVALID = 0x8F
    TOPIC_NAME_INVALID = 0x90
    PACKET_IDENTIFIER_IN_USE = 0x91
    PACKET_IDENTIFIER_NOT_FOUND = 0x92
    RECEIVE_MAXIMUM_EXCEEDED = 0x93
    TOPIC_ALIAS_INVALID = 0x94
    PACKET_TOO_LARGE = 0x95
    MESSAGE_RATE_TOO_HIGH = 0x96
    QUOTA_EXCEEDED = 0x97
    ADMINISTRATIVE_ACTION = 0x98
    PAYLOAD_FORMAT_INVALID = 0x99
    RETAIN_NOT_SUPPORTED = 0x9A
    QOS_NOT_SUPPORTED = 0x9B
    USE_ANOTHER_SERVER = 0x9C
    SERVER_MOVED = 0x9D
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E
    CONNECTION_RATE_EXCEEDED = 0x9F
    MAXIMUM_CONNECT_TIME = 0xA0
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2

    @property
    def is_error(self) -> bool:
        """True for codes of 0x80 and above, which report a failure."""
        return self.value >= 0x80


class ConnectReturnCode(IntEnum):
    """MQTT 3.1.1 CONNACK return codes (s3.2.2.3)."""

    ACCEPTED = 0
    UNACCEPTABLE_PROTOCOL_VERSION = 1
    IDENTIFIER_REJECTED = 2
    SERVER_UNAVAILABLE = 3
    BAD_USER_NAME_OR_PASSWORD = 4
    NOT_AUTHORIZED = 5


SUBACK_FAILURE = ReasonCode.UNSPECIFIED_ERROR
"""The 3.1.1 SUBACK return code 0x80 ("Failure") has the value of 5.0's Unspecified error."""

_CONNACK_V311 = {
    ReasonCode.SUCCESS: ConnectReturnCode.ACCEPTED,
    ReasonCode.UNSUPPORTED_PROTOCOL_VERSION: ConnectReturnCode.UNACCEPTABLE_PROTOCOL_VERSION,
    ReasonCode.CLIENT_IDENTIFIER_NOT_VALID: ConnectReturnCode.IDENTIFIER_REJECTED,
    ReasonCode.SERVER_UNAVAILABLE: ConnectReturnCode.SERVER_UNAVAILABLE,
    ReasonCode.SERVER_BUSY: ConnectReturnCode.SERVER_UNAVAILABLE,
    ReasonCode.BAD_USER_NAME_OR_PASSWORD: ConnectReturnCode.BAD_USER_NAME_OR_PASSWORD,
    ReasonCode.NOT_AUTHORIZED: ConnectReturnCode.NOT_AUTHORIZED,
    ReasonCode.BANNED: ConnectReturnCode.NOT_AUTHORIZED,
    ReasonCode.BAD_AUTHENTICATION_METHOD: ConnectReturnCode.BAD_USER_NAME_OR_PASSWORD,
}


def connect_return_code(reason: ReasonCode) -> ConnectReturnCode | None:
    """The 3.1.1 CONNACK return code that says the same as a 5.0 CONNACK reason, if any.

    None means 3.1.1 has no such code: the server closes the connection without CONNACK.
    """
    return _CONNACK_V311.get(reason)
