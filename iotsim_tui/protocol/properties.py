"""MQTT 5.0 properties (s2.2.2): one typed value object, plus their wire identifiers."""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum
from operator import attrgetter
from typing import Any

from iotsim_tui.protocol.reasons import PacketType, ReasonCode
from iotsim_tui.protocol.wire import U16, U32, Cursor, encode_binary, encode_string, encode_vbi
from iotsim_tui.words import counted


class PropertyId(IntEnum):
    """Property identifiers (MQTT 5.0 table 2-4)."""

    PAYLOAD_FORMAT_INDICATOR = 0x01
    MESSAGE_EXPIRY_INTERVAL = 0x02
    CONTENT_TYPE = 0x03
    RESPONSE_TOPIC = 0x08
    CORRELATION_DATA = 0x09
    SUBSCRIPTION_IDENTIFIER = 0x0B
    SESSION_EXPIRY_INTERVAL = 0x11
    ASSIGNED_CLIENT_IDENTIFIER = 0x12
    SERVER_KEEP_ALIVE = 0x13
    AUTHENTICATION_METHOD = 0x15
    AUTHENTICATION_DATA = 0x16
    REQUEST_PROBLEM_INFORMATION = 0x17
    WILL_DELAY_INTERVAL = 0x18
    REQUEST_RESPONSE_INFORMATION = 0x19
    RESPONSE_INFORMATION = 0x1A
    SERVER_REFERENCE = 0x1C
    REASON_STRING = 0x1F
    RECEIVE_MAXIMUM = 0x21
    TOPIC_ALIAS_MAXIMUM = 0x22
    TOPIC_ALIAS = 0x23
    MAXIMUM_QOS = 0x24
    RETAIN_AVAILABLE = 0x25
    USER_PROPERTY = 0x26
    MAXIMUM_PACKET_SIZE = 0x27
    WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
    SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
    SHARED_SUBSCRIPTION_AVAILABLE = 0x2A


@dataclass(frozen=True, slots=True)
class Properties:
    """The properties of one MQTT 5.0 packet (or of a will message); None means absent.

    Field names are the spec's property names in snake case. `user_properties` keeps the
    order and duplicates of the wire; `subscription_identifiers` holds the one identifier of
    a SUBSCRIBE, or every identifier a PUBLISH carries.
    """

    payload_format_indicator: int | None = None
    message_expiry_interval: int | None = None
    content_type: str | None = None
    response_topic: str | None = None
    correlation_data: bytes | None = None
    subscription_identifiers: tuple[int, ...] = ()
    session_expiry_interval: int | None = None
    assigned_client_identifier: str | None = None
    server_keep_alive: int | None = None
    authentication_method: str | None = None
    authentication_data: bytes | None = None
    request_problem_information: int | None = None
    will_delay_interval: int | None = None
    request_response_information: int | None = None
    response_information: str | None = None
    server_reference: str | None = None
    reason_string: str | None = None
    receive_maximum: int | None = None
    topic_alias_maximum: int | None = None
    topic_alias: int | None = None
    maximum_qos: int | None = None
    retain_available: int | None = None
    user_properties: tuple[tuple[str, str], ...] = ()
    maximum_packet_size: int | None = None
    wildcard_subscription_available: int | None = None
    subscription_identifier_available: int | None = None
    shared_subscription_available: int | None = None

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.present().items())
        return f"Properties({shown})"

    def is_empty(self) -> bool:
        """True when no property is set."""
        return self == NO_PROPERTIES

    def present(self) -> dict[str, object]:
        """The properties that are set, by field name (for logs and the eavesdrop view)."""
        shown: dict[str, object] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None and value != ():
                shown[field.name] = value
        return shown


NO_PROPERTIES = Properties()
"""The shared empty property set: packets decoded without properties point to it."""


WILL = 0
"""The property context of a will message (packet type 0 is never a real packet)."""

_P = PacketType
_BYTE, _U16, _U32, _VBI, _STR, _BIN, _PAIR = range(7)
_ACKS = (_P.PUBACK, _P.PUBREC, _P.PUBREL, _P.PUBCOMP)
_MESSAGE = (_P.PUBLISH, WILL)
_REASON_STRING_IN = (_P.CONNACK, *_ACKS, _P.SUBACK, _P.UNSUBACK, _P.DISCONNECT, _P.AUTH)
_USER_PROPERTY_IN = (
    _P.CONNECT, _P.CONNACK, _P.PUBLISH, WILL, *_ACKS, _P.SUBSCRIBE, _P.SUBACK,
    _P.UNSUBSCRIBE, _P.UNSUBACK, _P.DISCONNECT, _P.AUTH,
)  # fmt: skip

# identifier -> (field name, wire type, where allowed, allowed values or None, name in messages)
_SPEC: dict[int, tuple[str, int, frozenset[int], frozenset[int] | None, str]] = {}
_ZERO_ONE = frozenset({0, 1})


def _define(
    prop: PropertyId, kind: int, where: tuple[int, ...], values: frozenset[int] | None = None
) -> None:
    spoken = prop.name.lower().replace("_", " ")
    _SPEC[prop] = (prop.name.lower(), kind, frozenset(where), values, f"property '{spoken}'")


_I = PropertyId
_define(_I.PAYLOAD_FORMAT_INDICATOR, _BYTE, _MESSAGE, _ZERO_ONE)
_define(_I.MESSAGE_EXPIRY_INTERVAL, _U32, _MESSAGE)
_define(_I.CONTENT_TYPE, _STR, _MESSAGE)
_define(_I.RESPONSE_TOPIC, _STR, _MESSAGE)
_define(_I.CORRELATION_DATA, _BIN, _MESSAGE)
_define(_I.SUBSCRIPTION_IDENTIFIER, _VBI, (_P.PUBLISH, _P.SUBSCRIBE))
_define(_I.SESSION_EXPIRY_INTERVAL, _U32, (_P.CONNECT, _P.CONNACK, _P.DISCONNECT))
_define(_I.ASSIGNED_CLIENT_IDENTIFIER, _STR, (_P.CONNACK,))
_define(_I.SERVER_KEEP_ALIVE, _U16, (_P.CONNACK,))
_define(_I.AUTHENTICATION_METHOD, _STR, (_P.CONNECT, _P.CONNACK, _P.AUTH))
_define(_I.AUTHENTICATION_DATA, _BIN, (_P.CONNECT, _P.CONNACK, _P.AUTH))
_define(_I.REQUEST_PROBLEM_INFORMATION, _BYTE, (_P.CONNECT,), _ZERO_ONE)
_define(_I.WILL_DELAY_INTERVAL, _U32, (WILL,))
_define(_I.REQUEST_RESPONSE_INFORMATION, _BYTE, (_P.CONNECT,), _ZERO_ONE)
_define(_I.RESPONSE_INFORMATION, _STR, (_P.CONNACK,))
_define(_I.SERVER_REFERENCE, _STR, (_P.CONNACK, _P.DISCONNECT))
_define(_I.REASON_STRING, _STR, _REASON_STRING_IN)
_define(_I.RECEIVE_MAXIMUM, _U16, (_P.CONNECT, _P.CONNACK))
_define(_I.TOPIC_ALIAS_MAXIMUM, _U16, (_P.CONNECT, _P.CONNACK))
_define(_I.TOPIC_ALIAS, _U16, (_P.PUBLISH,))
_define(_I.MAXIMUM_QOS, _BYTE, (_P.CONNACK,), _ZERO_ONE)
_define(_I.RETAIN_AVAILABLE, _BYTE, (_P.CONNACK,), _ZERO_ONE)
_define(_I.USER_PROPERTY, _PAIR, _USER_PROPERTY_IN)
_define(_I.MAXIMUM_PACKET_SIZE, _U32, (_P.CONNECT, _P.CONNACK))
_define(_I.WILDCARD_SUBSCRIPTION_AVAILABLE, _BYTE, (_P.CONNACK,), _ZERO_ONE)
_define(_I.SUBSCRIPTION_IDENTIFIER_AVAILABLE, _BYTE, (_P.CONNACK,), _ZERO_ONE)
_define(_I.SHARED_SUBSCRIPTION_AVAILABLE, _BYTE, (_P.CONNACK,), _ZERO_ONE)

_NOT_ZERO: dict[int, ReasonCode] = {
    _I.RECEIVE_MAXIMUM: ReasonCode.PROTOCOL_ERROR,
    _I.MAXIMUM_PACKET_SIZE: ReasonCode.PROTOCOL_ERROR,
    _I.SUBSCRIPTION_IDENTIFIER: ReasonCode.PROTOCOL_ERROR,
    _I.TOPIC_ALIAS: ReasonCode.TOPIC_ALIAS_INVALID,
}
_FIELD_IDS = {spec[0]: prop for prop, spec in _SPEC.items()}
_FIELD_IDS["subscription_identifiers"] = _FIELD_IDS.pop("subscription_identifier")
_FIELD_IDS["user_properties"] = _FIELD_IDS.pop("user_property")
_ENCODE_ORDER = [(_FIELD_IDS[f.name], _SPEC[_FIELD_IDS[f.name]][1]) for f in fields(Properties)]
_ALL_VALUES = attrgetter(*(f.name for f in fields(Properties)))
_SETTERS = {f.name: Properties.__dict__[f.name].__set__ for f in fields(Properties)}
_DEFAULTS = [(_SETTERS[f.name], f.default) for f in fields(Properties)]


def _build(values: dict[str, Any]) -> Properties:
    """`Properties(**values)` at a third of the cost of the frozen dataclass `__init__`."""
    properties = object.__new__(Properties)
    for set_value, default in _DEFAULTS:
        set_value(properties, default)
    for name, value in values.items():
        _SETTERS[name](properties, value)
    return properties


def _context_name(context: int) -> str:
    return "a will message" if context == WILL else PacketType(context).name


def decode_properties(cursor: Cursor, context: int) -> Properties:
    """Read a property length and the properties after it, checked for packet type `context`.

    Unknown identifiers are malformed (0x81); a property not allowed for the packet, one given
    twice that may appear once, a value out of range, authentication data without a method
    and a response topic with wildcards are protocol errors (0x82), except a topic alias of
    0, which is 0x94 Topic Alias invalid.
    """
    length = cursor.vbi("property length")
    if not length:
        return NO_PROPERTIES
    if length > cursor.remaining():
        raise cursor.fail(
            f"the property length ({length}) runs past the end of the packet "
            f"({counted(cursor.remaining(), 'byte')} left)"
        )
    end = cursor.pos + length
    saved_end, cursor.end = cursor.end, end
    values: dict[str, Any] = {}
    try:
        while cursor.pos < end:
            prop = cursor.vbi("property identifier")
            spec = _SPEC.get(prop)
            if spec is None:
                raise cursor.fail(f"unknown property identifier 0x{prop:02X}")
            name, kind, where, allowed, what = spec
            if context not in where:
                raise cursor.fail(
                    f"{what} is not allowed in {_context_name(context)}", ReasonCode.PROTOCOL_ERROR
                )
            value: Any
            if kind == _BYTE:
                value = cursor.u8(what)
            elif kind == _U16:
                value = cursor.u16(what)
            elif kind == _U32:
                value = cursor.u32(what)
            elif kind == _VBI:
                value = cursor.vbi(what)
            elif kind == _STR:
                value = cursor.string(what)
            elif kind == _BIN:
                value = cursor.binary(what)
            else:
                value = (cursor.string(f"{what} name"), cursor.string(f"{what} value"))
            if allowed is not None and value not in allowed:
                raise cursor.fail(
                    f"{what} must be one of {sorted(allowed)}, not {value}",
                    ReasonCode.PROTOCOL_ERROR,
                )
            if value == 0 and prop in _NOT_ZERO:
                raise cursor.fail(f"{what} must not be 0", _NOT_ZERO[prop])
            if kind == _PAIR:
                values["user_properties"] = (*values.get("user_properties", ()), value)
            elif prop == _I.SUBSCRIPTION_IDENTIFIER:
                previous = values.get("subscription_identifiers", ())
                if previous and context != PacketType.PUBLISH:
                    raise cursor.fail(f"{what} appears twice", ReasonCode.PROTOCOL_ERROR)
                values["subscription_identifiers"] = (*previous, value)
            elif name in values:
                raise cursor.fail(f"{what} appears twice", ReasonCode.PROTOCOL_ERROR)
            else:
                values[name] = value
    finally:
        cursor.end = saved_end
    if "authentication_data" in values and "authentication_method" not in values:
        raise cursor.fail(
            "property 'authentication data' needs an 'authentication method'",
            ReasonCode.PROTOCOL_ERROR,
        )
    response_topic = values.get("response_topic")
    if response_topic is not None and ("+" in response_topic or "#" in response_topic):
        raise cursor.fail(
            f"property 'response topic' {response_topic!r} must not contain the wildcards "
            "'+' or '#'",
            ReasonCode.PROTOCOL_ERROR,
        )
    return _build(values)


def encode_properties(properties: Properties) -> bytes:
    """The property length and the properties, in identifier order (b"\\x00" when empty)."""
    if properties is NO_PROPERTIES:
        return b"\x00"
    out = bytearray()
    for (prop, kind), value in zip(_ENCODE_ORDER, _ALL_VALUES(properties), strict=True):
        if value is None or value == ():
            continue
        if kind == _PAIR:
            for key, text in value:
                out += encode_vbi(prop) + encode_string(key) + encode_string(text)
        elif kind == _VBI:
            for number in value:
                out += encode_vbi(prop) + encode_vbi(number)
        else:
            out += encode_vbi(prop) + _encode_value(kind, value)
    return encode_vbi(len(out)) + bytes(out)


def _encode_value(kind: int, value: Any) -> bytes:
    if kind == _BYTE:
        return bytes((value,))
    if kind == _U16:
        return U16.pack(value)
    if kind == _U32:
        return U32.pack(value)
    if kind == _STR:
        return encode_string(value)
    return encode_binary(value)
