"""Connection failures in plain words.

aiomqtt reports most failures as a bare `MqttError` whose text is paho's; the cause (a refused
socket, an unknown host name, a certificate the broker or the device rejected) hides in
`__context__`, and a CONNACK refusal carries a reason code. `describe` turns all of these into
one sentence a user can act on, and says whether trying again can help.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass

from iotsim_tui.engine.mqtt_client import LostBeforeConnack, MqttConnectError, ReasonCode

# MQTT 5 CONNACK reason codes; paho maps the 3.1.1 return codes 1-5 onto them.
CONNACK_REASONS: dict[int, tuple[str, bool]] = {
    # code: (plain words, fatal: trying again cannot help)
    128: ("the broker refused the connection (unspecified error)", False),
    129: ("the broker could not parse the CONNECT packet", True),
    130: ("the broker reported a protocol error", True),
    131: ("the broker refused the connection (implementation specific)", False),
    132: ("the broker does not support this MQTT version", True),
    133: ("the broker rejected the client id", True),
    134: ("bad user name or password: check them in the network's broker settings", True),
    # mosquitto answers a bad password this way too, in both MQTT versions.
    135: (
        "not authorized: the broker refused the user name and password, or has none for "
        "this client: check them in the network's broker settings",
        True,
    ),
    136: ("the broker is unavailable", False),
    137: ("the broker is busy", False),
    138: ("the client is banned by the broker", True),
    140: ("bad authentication method", True),
    149: ("the CONNECT packet is too large for the broker", True),
    151: ("the broker's quota is exceeded", False),
    156: ("the broker asks to use another server", True),
    157: ("the broker has moved", True),
    159: ("connection rate exceeded", False),
}
_V311_RETURN_CODES = {1: 132, 2: 133, 3: 136, 4: 134, 5: 135}

TLS_ON_A_PLAIN_PORT = (
    "is TLS on the right port? (the device uses TLS; a plain MQTT port such as 1883 closes "
    "TLS connections)"
)

# OpenSSL alert and error reasons seen by a client, in plain words.
_SSL_REASONS: dict[str, str] = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the broker requires a client certificate",
    "TLSV1_ALERT_UNKNOWN_CA": "the broker does not trust the client certificate (unknown CA)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the broker rejected the client certificate",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the broker rejected the client certificate: it has expired",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the broker rejected the client certificate",
    "TLSV1_ALERT_DECRYPT_ERROR": "the broker could not verify the client certificate's key",
    "WRONG_VERSION_NUMBER": (
        "the broker does not speak TLS on this port: is TLS on the right port? (the device "
        "uses TLS; plain MQTT is usually on 1883, MQTT over TLS on 8883)"
    ),
    "UNSUPPORTED_PROTOCOL": "the broker and the device have no TLS version in common",
    "TLSV1_ALERT_PROTOCOL_VERSION": "the broker and the device have no TLS version in common",
    "NO_PROTOCOLS_AVAILABLE": "the broker and the device have no TLS version in common",
    "UNEXPECTED_EOF_WHILE_READING": (
        f"the broker closed the connection during the TLS handshake: {TLS_ON_A_PLAIN_PORT}"
    ),
}


@dataclass(frozen=True, slots=True)
class Failure:
    """A failure in plain words."""

    message: str
    fatal: bool
    """True when trying again cannot help (bad password, rejected certificate, ...)."""
    hostname_mismatch: bool = False
    """The broker's certificate does not name the host: ask it which names it has."""


def connack_failure(code: int | ReasonCode) -> Failure:
    """A refused CONNACK, from its reason code (MQTT 5) or return code (3.1.1)."""
    value = code.value if isinstance(code, ReasonCode) else int(code)
    value = _V311_RETURN_CODES.get(value, value)
    words, fatal = CONNACK_REASONS.get(
        value, (f"the broker refused the connection (reason code {value})", False)
    )
    return Failure(words, fatal)


def describe(
    error: BaseException,
    *,
    host: str,
    port: int,
    tls: bool = False,
    client_certificate: bool = False,
    ca: str | None = None,
) -> Failure:
    """What went wrong when connecting to `host:port`, in plain words.

    `ca` is the CA file the broker's certificate is checked against (None: the system's).
    """
    if isinstance(error, MqttConnectError) and error.rc is not None:
        return connack_failure(error.rc)
    cause = _root_cause(error)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return _verify_failure(cause, host, ca)
    if isinstance(cause, ssl.SSLError):
        return _ssl_failure(cause, client_certificate=client_certificate)
    if isinstance(cause, LostBeforeConnack):
        if tls and not client_certificate:
            # Some TLS 1.3 servers close without the certificate_required alert: the likely
            # reason is still worth naming, as a question.
            return Failure(
                f"the broker at {host}:{port} closed the connection before accepting it: "
                "does it require a client certificate?",
                fatal=False,
            )
        if not tls:
            # A TLS listener reads a plain CONNECT as a broken handshake and hangs up.
            return Failure(
                f"the broker at {host}:{port} closed the connection before accepting it: is "
                "TLS on the right port? (the device connects without TLS; a TLS port such as "
                "8883 closes plain connections)",
                fatal=False,
            )
        return Failure(
            f"the broker at {host}:{port} closed the connection before accepting it", False
        )
    if isinstance(cause, socket.gaierror):
        return Failure(f"name not found: {host}", fatal=True)
    if isinstance(cause, ConnectionRefusedError):
        return Failure(f"connection refused by {host}:{port}: is the broker running?", fatal=False)
    if isinstance(cause, TimeoutError) or "timed out" in str(cause).lower():
        return Failure(f"timed out connecting to {host}:{port}", fatal=False)
    if isinstance(cause, asyncio.CancelledError):
        # aiomqtt gives up waiting for CONNACK by cancelling its own wait: a broker (or a
        # machine) too busy to answer in time, not a cancellation the user asked for.
        return Failure(
            f"timed out connecting to {host}:{port}: no answer to CONNECT in time "
            "(a busy broker or machine)",
            fatal=False,
        )
    if isinstance(cause, ConnectionError | EOFError):
        if tls:  # while connecting: a plain listener hangs up on a ClientHello
            return Failure(
                f"the broker at {host}:{port} closed the connection during the TLS handshake: "
                f"{TLS_ON_A_PLAIN_PORT}",
                fatal=False,
            )
        return Failure(f"the broker at {host}:{port} closed the connection", fatal=False)
    if isinstance(cause, OSError) and cause.strerror:
        return Failure(f"{cause.strerror.lower()} ({host}:{port})", fatal=False)
    return Failure(f"could not connect to {host}:{port}: {_text(cause)}", fatal=False)


def closed_before_answer(error: BaseException) -> bool:
    """True when the connection ended before the broker answered, with no reason given.

    Through the eavesdrop relay this is also what a broker that is down looks like: the
    relay accepts the device's connection, fails to reach the broker, and closes it.
    """
    if isinstance(error, MqttConnectError) and error.rc is not None:
        return False
    cause = _root_cause(error)
    if isinstance(cause, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return True
    if isinstance(cause, ssl.SSLError):
        return cause.reason == "UNEXPECTED_EOF_WHILE_READING"
    return isinstance(cause, LostBeforeConnack | ConnectionError | EOFError)


# MQTT 5 DISCONNECT reason codes a broker sends, in plain words.
DISCONNECT_REASONS: dict[int, str] = {
    135: "not authorized",
    137: "the broker is busy",
    139: "the broker is shutting down",
    141: "keep alive timeout",
    142: "another client with the same client id took over the session",
    144: "topic name invalid",
    149: "packet too large",
    151: "quota exceeded",
    152: "administrative action",
    158: "shared subscriptions not supported",
}


def lost_connection(reason: int | ReasonCode | None) -> str:
    """Why an established connection ended, from paho's reason code, in plain words."""
    if isinstance(reason, ReasonCode):
        words = DISCONNECT_REASONS.get(reason.value)
        if words is not None:
            return f"the broker disconnected the device: {words}"
    return "the connection was lost"


QUICK_LOSS_SECONDS = 5.0
"""A connection the broker closes this soon after accepting it counts as a quick loss."""
QUICK_LOSSES_IN_A_ROW = 3
"""Quick losses one after the other that point at a client id used twice."""
TAKEN_OVER = (
    "the broker keeps closing the connection soon after accepting it: probably another "
    "client with the same client id is connecting to this broker"
)


class QuickLosses:
    """Notices a device whose connections the broker keeps closing soon after accepting them.

    Two clients with one client id take the session from each other (MQTT 3.1.1 gives no
    reason): each is closed as the other reconnects, so each connection lasts only the
    other's reconnect delay. A connection that lasts starts the count again.
    """

    def __init__(self) -> None:
        self.in_a_row = 0

    def why(self, lost: str, connected_for: float) -> str:
        """`lost` (why the connection ended), or `TAKEN_OVER` after several quick losses."""
        self.in_a_row = self.in_a_row + 1 if connected_for < QUICK_LOSS_SECONDS else 0
        return TAKEN_OVER if self.in_a_row >= QUICK_LOSSES_IN_A_ROW else lost


def _verify_failure(error: ssl.SSLCertVerificationError, host: str, ca: str | None) -> Failure:
    why = str(error.verify_message or error.reason or error).strip()
    if error.verify_code == _X509_V_ERR_HOSTNAME_MISMATCH or "mismatch" in why.lower():
        return Failure(
            f"hostname mismatch: the certificate is not for {host}", True, hostname_mismatch=True
        )
    # The user's words first, OpenSSL's after them (what to search for when they do not help).
    lead = _VERIFY_WORDS.get(error.verify_code or 0, "the broker's certificate was rejected")
    signer = ca if ca else "a CA this system trusts"
    return Failure(f"{lead.format(ca=signer)} (certificate verify failed: {why})", fatal=True)


# OpenSSL X509_V_ERR codes a device meets, in the user's words.
_VERIFY_WORDS: dict[int, str] = {
    2: "the broker's certificate is not signed by {ca}",  # unable to get issuer certificate
    9: "the broker's certificate is not valid yet",
    10: "the broker's certificate has expired",
    18: "the broker's certificate is self-signed, not signed by {ca}",
    19: "the broker's certificate is not signed by {ca}",  # self-signed CA in its chain
    20: "the broker's certificate is not signed by {ca}",  # unable to get local issuer
    21: "the broker's certificate is not signed by {ca}",  # unable to verify the first one
    23: "the broker's certificate has been revoked",
    26: "the broker's certificate is not meant for a server",
}


def _ssl_failure(error: ssl.SSLError, *, client_certificate: bool) -> Failure:
    reason = error.reason or ""
    if reason == "SSLV3_ALERT_HANDSHAKE_FAILURE" and not client_certificate:
        # TLS 1.2 brokers that require a certificate abort the handshake with this alert.
        return Failure("the broker requires a client certificate", fatal=True)
    if reason in _SSL_REASONS:
        return Failure(_SSL_REASONS[reason], fatal=reason != "UNEXPECTED_EOF_WHILE_READING")
    return Failure(f"TLS handshake failed: {_text(error)}", fatal=True)


_X509_V_ERR_HOSTNAME_MISMATCH = 62


def _root_cause(error: BaseException) -> BaseException:
    seen: set[int] = set()
    while id(error) not in seen:
        seen.add(id(error))
        nested = error.__cause__ or error.__context__
        if nested is None or isinstance(nested, MqttConnectError):
            break
        error = nested
    return error


def _text(error: BaseException) -> str:
    text = str(error).strip()
    if "] " in text and text.startswith("["):  # "[SSL: X] words (_ssl.c:1006)" -> "words"
        text = text.split("] ", 1)[1]
    return text.split(" (_ssl.c")[0] or type(error).__name__
