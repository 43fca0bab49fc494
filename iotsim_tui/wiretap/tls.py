"""TLS as a sniffer sees it: the record layer, and the handshake messages sent in clear.

Each direction of a connection gets its own `TLSStream`: records are reassembled across
reads, handshake messages across records. Before a side's ChangeCipherSpec its handshake is
readable (hellos, and the certificate under TLS 1.2); afterwards, and for everything TLS 1.3
encrypts, only record types and sizes show ("Application Data, N bytes").
"""

from __future__ import annotations

import struct

from cryptography import x509

from iotsim_tui.wiretap.items import Decoded, Field, decoded
from iotsim_tui.words import counted

HEADER = 5
MAX_RECORD = 2**14 + 2048
"""The largest record TLS allows (ciphertext of a full plaintext record plus expansion)."""
MAX_HANDSHAKE = 256 * 1024
"""Handshake messages above this (huge certificate chains) are counted, not parsed."""

CONTENT_TYPES = {20: "Change Cipher Spec", 21: "Alert", 22: "Handshake", 23: "Application Data"}
VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2"}
VERSIONS[0x0304] = "TLS 1.3"
HANDSHAKE_TYPES = {
    0: "Hello Request",
    1: "Client Hello",
    2: "Server Hello",
    4: "New Session Ticket",
    5: "End Of Early Data",
    8: "Encrypted Extensions",
    11: "Certificate",
    12: "Server Key Exchange",
    13: "Certificate Request",
    14: "Server Hello Done",
    15: "Certificate Verify",
    16: "Client Key Exchange",
    20: "Finished",
    24: "Key Update",
}
CIPHER_SUITES = {
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0x1304: "TLS_AES_128_CCM_SHA256",
    0x1305: "TLS_AES_128_CCM_8_SHA256",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
}
ALERTS = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    22: "record_overflow",
    40: "handshake_failure",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    109: "missing_extension",
    110: "unsupported_extension",
    112: "unrecognized_name",
    116: "certificate_required",
    120: "no_application_protocol",
}
EXT_SERVER_NAME = 0
EXT_ALPN = 16
EXT_SUPPORTED_VERSIONS = 43


def looks_like_tls(data: bytes) -> bool:
    """True when `data` starts like a TLS record (normally the ClientHello's handshake record).

    Types 20-23 as a first MQTT byte would be a CONNECT with reserved flags set, so the two
    never clash.
    """
    return len(data) >= 1 and data[0] in CONTENT_TYPES and (len(data) < 2 or data[1] == 3)


def version_name(value: int) -> str:
    """A protocol version in words ("TLS 1.2"); GREASE and unknown values in hex."""
    if value & 0x0F0F == 0x0A0A:
        return "GREASE"
    return VERSIONS.get(value, f"0x{value:04x}")


def cipher_name(value: int) -> str:
    """A cipher suite's IANA name, or its number in hex."""
    if value & 0x0F0F == 0x0A0A:
        return "GREASE"
    return CIPHER_SUITES.get(value, f"0x{value:04X}")


class Malformed(Exception):
    """Bytes that do not parse as the TLS structure they should be."""


class _Cursor:
    """Reads big-endian fields from a handshake message, raising `Malformed` past its end."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise Malformed(f"needs {counted(n, 'byte')} at offset {self.pos} of {len(self.data)}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, length_bytes: int) -> bytes:
        return self.take(self.uint(length_bytes))

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)


class TLSStream:
    """One direction of a TLS connection: feed it bytes, get one item per record."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._handshake = bytearray()
        self._skip = 0
        self._encrypted = False
        self.broken = False
        """True once the bytes stopped looking like TLS; the caller shows the rest as data."""

    def feed(self, data: bytes) -> list[Decoded]:
        """Add bytes read from the wire; returns an item for each record they complete."""
        self._buffer += data
        items: list[Decoded] = []
        while len(self._buffer) >= HEADER and not self.broken:
            content_type, version, length = struct.unpack_from("!BHH", self._buffer)
            if content_type not in CONTENT_TYPES or version >> 8 != 3 or length > MAX_RECORD:
                self.broken = True
                break
            if len(self._buffer) < HEADER + length:
                break
            record = bytes(self._buffer[: HEADER + length])
            del self._buffer[: HEADER + length]
            items.append(self._record(content_type, version, record))
        return items

    def take_rest(self) -> bytes:
        """Bytes buffered but not understood (after the stream stopped looking like TLS)."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest

    def _record(self, content_type: int, version: int, record: bytes) -> Decoded:
        body = record[HEADER:]
        name = CONTENT_TYPES[content_type]
        head = (
            Field("Record", name),
            Field("Record version", version_name(version)),
            Field("Length", counted(len(body), "byte")),
        )
        if content_type == 20:
            self._encrypted = True
            return decoded("TLS", "Change Cipher Spec", record, *head)
        if content_type == 21:
            if self._encrypted or len(body) != 2:
                return decoded("TLS", "Encrypted Alert", record, *head)
            level = "fatal" if body[0] == 2 else "warning" if body[0] == 1 else str(body[0])
            description = ALERTS.get(body[1], str(body[1]))
            summary = f"Alert ({level}): {description}"
            return decoded("TLS", summary, record, *head, Field("Alert", f"{level}, {description}"))
        if content_type == 23:
            return decoded("TLS", f"Application Data, {counted(len(body), 'byte')}", record, *head)
        if self._encrypted:
            return decoded("TLS", "Encrypted Handshake Message", record, *head)
        names, fields = self._handshake_messages(body)
        summary = ", ".join(names) if names else "Handshake (fragment)"
        return decoded("TLS", summary, record, *head, *fields)

    def _handshake_messages(self, body: bytes) -> tuple[list[str], list[Field]]:
        if self._skip:
            skipped = min(self._skip, len(body))
            self._skip -= skipped
            body = body[skipped:]
        self._handshake += body
        names: list[str] = []
        fields: list[Field] = []
        while len(self._handshake) >= 4:
            kind = self._handshake[0]
            length = int.from_bytes(self._handshake[1:4], "big")
            name = HANDSHAKE_TYPES.get(kind, f"Handshake type {kind}")
            if length > MAX_HANDSHAKE:
                names.append(f"{name} ({counted(length, 'byte')}, not dissected)")
                self._skip = 4 + length - len(self._handshake)
                self._handshake.clear()
                break
            if len(self._handshake) < 4 + length:
                break
            message = bytes(self._handshake[4 : 4 + length])
            del self._handshake[: 4 + length]
            try:
                summary, details = _describe(kind, message)
            except Malformed as exc:
                summary, details = f"{name} (malformed)", [Field("Problem", str(exc))]
            names.append(summary or name)
            fields += [Field("Handshake", name), *details]
        return names, fields


def _describe(kind: int, message: bytes) -> tuple[str, list[Field]]:
    if kind == 1:
        return _client_hello(message)
    if kind == 2:
        return _server_hello(message)
    if kind == 11:
        return _certificate(message)
    return "", []


def _client_hello(message: bytes) -> tuple[str, list[Field]]:
    cur = _Cursor(message)
    legacy = cur.uint(2)
    cur.take(32)
    cur.vector(1)
    suites = cur.vector(2)
    cur.vector(1)
    offered = [legacy]
    sni = ""
    alpn: list[str] = []
    for ext_type, ext in _extensions(cur):
        if ext_type == EXT_SERVER_NAME:
            sni = _server_name(ext)
        elif ext_type == EXT_SUPPORTED_VERSIONS:
            versions = _Cursor(ext).vector(1)
            offered = [
                int.from_bytes(versions[i : i + 2], "big") for i in range(0, len(versions), 2)
            ]
        elif ext_type == EXT_ALPN:
            alpn = _alpn(ext)
    names = [version_name(v) for v in offered if version_name(v) != "GREASE"]
    suite_names = [
        cipher_name(int.from_bytes(suites[i : i + 2], "big")) for i in range(0, len(suites), 2)
    ]
    suite_names = [s for s in suite_names if s != "GREASE"]
    fields = [
        Field("Server name (SNI)", sni or "(none: the device connected by address)"),
        Field("Offered versions", ", ".join(names)),
        Field("Cipher suites offered", f"{len(suite_names)}: " + ", ".join(suite_names)),
    ]
    if alpn:
        fields.append(Field("ALPN", ", ".join(alpn)))
    summary = "Client Hello" + (f", SNI {sni}" if sni else "") + f", offers {', '.join(names)}"
    return summary, fields


def _server_hello(message: bytes) -> tuple[str, list[Field]]:
    cur = _Cursor(message)
    version = cur.uint(2)
    cur.take(32)
    cur.vector(1)
    suite = cur.uint(2)
    cur.uint(1)
    for ext_type, ext in _extensions(cur):
        if ext_type == EXT_SUPPORTED_VERSIONS and len(ext) == 2:
            version = int.from_bytes(ext, "big")
    fields = [
        Field("Chosen version", version_name(version)),
        Field("Cipher suite", cipher_name(suite)),
    ]
    return f"Server Hello, {version_name(version)}, {cipher_name(suite)}", fields


def _certificate(message: bytes) -> tuple[str, list[Field]]:
    cur = _Cursor(message)
    chain = _Cursor(cur.vector(3))
    fields: list[Field] = []
    subjects: list[str] = []
    while not chain.done:
        der = chain.vector(3)
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise Malformed(f"certificate {len(subjects) + 1} does not parse: {exc}") from None
        subject = cert.subject.rfc4514_string()
        subjects.append(subject)
        fields.append(Field(f"Certificate {len(subjects)} subject", subject))
        fields.append(Field(f"Certificate {len(subjects)} issuer", cert.issuer.rfc4514_string()))
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        valid = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
        fields.append(Field(f"Certificate {len(subjects)} valid", valid))
    summary = "Certificate" + (f", subject {subjects[0]}" if subjects else "")
    return summary, fields


def _extensions(cur: _Cursor) -> list[tuple[int, bytes]]:
    if cur.done:
        return []
    block = _Cursor(cur.vector(2))
    found = []
    while not block.done:
        ext_type = block.uint(2)
        found.append((ext_type, block.vector(2)))
    return found


def _server_name(ext: bytes) -> str:
    names = _Cursor(_Cursor(ext).vector(2))
    while not names.done:
        kind = names.uint(1)
        name = names.vector(2)
        if kind == 0:
            return name.decode("ascii", "replace")
    return ""


def _alpn(ext: bytes) -> list[str]:
    protocols = _Cursor(_Cursor(ext).vector(2))
    found = []
    while not protocols.done:
        found.append(protocols.vector(1).decode("ascii", "replace"))
    return found
