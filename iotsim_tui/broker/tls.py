"""The TLS context of the broker's TLS listener, built from a certificate folder.

The folder is the one `iotsim-tui certs init` writes: `server.crt` and `server.key` are the
broker's identity, `ca.crt` is the CA whose client certificates are accepted when the listener
requires them.

Building the context also shrinks asyncio's per-connection TLS read buffer for the whole
process (see `limit_asyncio_tls_buffer`): only the broker process builds one.

`TLSProtocol` is the listener's TLS layer: asyncio's own, except that a refused handshake is
logged and its TLS alert reaches the client, so that a device can say why it was refused.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from asyncio import sslproto
from pathlib import Path
from typing import cast

from iotsim_tui.errors import CertificateError

log = logging.getLogger("iotsim_tui.broker")

SERVER_CERT = "server.crt"
SERVER_KEY = "server.key"
CLIENT_CA = "ca.crt"
TLS_READ_BUFFER = 17 * 1024
"""Bytes asyncio reads from a TLS socket at once: one full TLS record (16 KiB + overhead)."""


def server_context(
    certs_dir: Path, *, require_client_cert: bool, version: str | None = None
) -> ssl.SSLContext:
    """A server-side context: TLS 1.2 or later, and client certificates when required.

    `version` ("1.2" or "1.3") makes it speak that TLS version only, as mosquitto's
    `tls_version` does.

    With `require_client_cert`, a client without a certificate signed by `ca.crt` is refused
    in the handshake (CERT_REQUIRED), before it can send CONNECT.

    Raises:
        CertificateError: A file is missing or unreadable, or the key does not match the
            certificate; the message names the file.
    """
    cert = certs_dir / SERVER_CERT
    key = certs_dir / SERVER_KEY
    hint = f"run `iotsim-tui certs init --dir {certs_dir}`"
    for path in (cert, key, *([certs_dir / CLIENT_CA] if require_client_cert else [])):
        if not path.is_file():
            raise CertificateError(
                f"the broker's TLS listener needs {path}, which is missing: {hint}"
            )

    limit_asyncio_tls_buffer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if version is not None:
        only = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
        context.minimum_version = context.maximum_version = only
    # Devices reconnect rarely; session tickets would buy little and cost state per client.
    context.options |= ssl.OP_NO_TICKET
    context.num_tickets = 0
    try:
        context.load_cert_chain(cert, key)
    except PermissionError:
        raise CertificateError(f"cannot read {key} or {cert}: permission denied") from None
    except ssl.SSLError as error:
        if "KEY_VALUES_MISMATCH" in str(error.reason) or "key values mismatch" in str(error):
            raise CertificateError(
                f"{key} is not the key of {cert}: {hint} --force to make a new pair"
            ) from None
        raise CertificateError(
            f"cannot load the broker's certificate {cert} with key {key}: {error.reason or error}"
        ) from None
    except OSError as error:
        raise CertificateError(f"cannot read {cert}: {error.strerror or error}") from None

    if require_client_cert:
        ca = certs_dir / CLIENT_CA
        try:
            context.load_verify_locations(cafile=ca)
        except PermissionError:
            raise CertificateError(f"cannot read {ca}: permission denied") from None
        except (ssl.SSLError, OSError) as error:
            raise CertificateError(f"{ca} is not a usable CA certificate: {error}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    else:
        context.verify_mode = ssl.CERT_NONE
    return context


def limit_asyncio_tls_buffer(size: int = TLS_READ_BUFFER) -> None:
    """Make asyncio's TLS connections read at most `size` bytes at a time (process-wide).

    asyncio gives every TLS connection a zero-filled 256 KiB read buffer
    (`SSLProtocol.max_size`); measured here that is ~260 KB of RSS per idle TLS client, against
    ~36 KB with one TLS record's worth. Never raises the limit.
    """
    current = getattr(sslproto.SSLProtocol, "max_size", None)
    if isinstance(current, int) and current > size:
        sslproto.SSLProtocol.max_size = size


def describe_session(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str:
    """How a connection is protected, for logs and the broker console: 'TLSv1.3 <cipher>'."""
    if ssl_object is None:
        return "plain"
    cipher = ssl_object.cipher()
    version = ssl_object.version() or "TLS"
    return f"{version} {cipher[0]}" if cipher else version


class TLSProtocol(sslproto.SSLProtocol):
    """asyncio's TLS layer, logging the handshakes it refuses and telling the client why.

    On a failed handshake OpenSSL has written its alert (certificate_required, unknown_ca,
    handshake_failure, ...) into the outgoing buffer, but asyncio aborts the socket without
    sending it: the client then sees a bare reset and can only guess the cause.

    Every connection of a thread reads into one shared buffer rather than a buffer of its
    own (17 KB of RSS per idle client): asyncio copies what a read returned into the
    connection's own BIO before the next read, in the same callback (`buffer_updated`).
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._ssl_buffer_view = _shared_read_buffer()
        self._ssl_buffer = self._ssl_buffer_view.obj  # the connection's own one is freed
        super().connection_made(transport)

    def get_buffer(self, n: int) -> memoryview:
        return self._ssl_buffer_view

    def _on_handshake_complete(self, handshake_exc: BaseException | None) -> None:
        if handshake_exc is not None:
            transport = self._transport
            peer = transport.get_extra_info("peername") if transport is not None else None
            address = f"{peer[0]}:{peer[1]}" if peer else "?"
            log.info("refused TLS handshake from %s: %s", address, _refusal(handshake_exc))
            self._send_alert()
        super()._on_handshake_complete(handshake_exc)

    def _send_alert(self) -> None:
        """Send what OpenSSL wrote after the failure (its alert), then close the socket."""
        # asyncio's socket transport or uvloop's (which does not subclass asyncio's classes)
        transport = cast(asyncio.Transport | None, self._transport)
        outgoing = getattr(self, "_outgoing", None)  # asyncio's private BIO towards the peer
        if not isinstance(outgoing, ssl.MemoryBIO) or transport is None:
            return
        alert = outgoing.read()
        if not alert or transport.is_closing():
            return
        try:
            transport.write(alert)
        except (OSError, RuntimeError) as error:  # the peer is gone already: nothing to tell
            log.debug("TLS alert not sent: %s", error)
            return
        # The alert (a few bytes) goes straight into the socket's empty send buffer, so
        # close() ends the transport at once, and asyncio's abort that follows finds it
        # closed already: one bad handshake touches no other connection.
        transport.close()


_READS = threading.local()


def _shared_read_buffer() -> memoryview:
    """The TLS read buffer of this thread's connections (one event loop per thread)."""
    view: memoryview | None = getattr(_READS, "view", None)
    if view is None:
        view = _READS.view = memoryview(bytearray(sslproto.SSLProtocol.max_size))
    return view


def _refusal(error: BaseException | type[BaseException]) -> str:
    """Why a TLS handshake failed, for the broker's log."""
    if isinstance(error, type):  # asyncio passes the class when the peer hangs up mid-way
        error = error()
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"client certificate verify failed: {error.verify_message or error.reason}"
    if isinstance(error, ssl.SSLError):
        reason = str(error.reason or error)
        return _HANDSHAKE_REASONS.get(reason, reason)
    if isinstance(error, ConnectionError):
        return "the client closed the connection"
    return str(error) or type(error).__name__


_HANDSHAKE_REASONS = {
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "the client sent no certificate",
    "NO_SHARED_CIPHER": "no cipher in common with the client",
    "UNSUPPORTED_PROTOCOL": "no TLS version in common with the client",
    "WRONG_VERSION_NUMBER": (
        "the client does not speak TLS: is TLS on the right port? (plain MQTT on the TLS port)"
    ),
    "HTTP_REQUEST": "the client sent HTTP, not TLS",
}


def common_name(certificate: object) -> str | None:
    """The subject's CN from `ssl.SSLSocket.getpeercert()`'s dict, or None."""
    if not isinstance(certificate, dict):
        return None
    for group in certificate.get("subject", ()):
        for key, value in group:
            if key == "commonName" and isinstance(value, str) and value:
                return value
    return None


TLS_HANDSHAKE_RECORD = 0x16
"""The first byte of a TLS ClientHello (a handshake record)."""


def not_connect_reason(first: int) -> str:
    """Why a connection whose first packet is not CONNECT is closed, in the broker's log."""
    if first == TLS_HANDSHAKE_RECORD:
        return (
            "the client started a TLS handshake on the plain port: is TLS on the right port? "
            "(a TLS client on the plain MQTT listener)"
        )
    return "the first packet was not CONNECT"
