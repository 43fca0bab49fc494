"""The client TLS context of a network, for its devices and its broker console alike.

One context serves a whole network (loading a CA file per device would cost more than the
handshake). Hostname and chain checks are on unless the profile turns them off; TLS 1.2 is the
least version spoken.
"""

from __future__ import annotations

import os
import socket
import ssl
from pathlib import Path

from iotsim_tui.errors import TLSFailure
from iotsim_tui.profiles.model import TLSSettings


class PinnedNameContext(ssl.SSLContext):
    """A client TLS context that checks the certificate against a fixed host name.

    Devices may connect through the eavesdrop relay on another address; the broker's
    certificate must still be checked against the host the profile names.
    """

    server_name: str | None = None

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        """Wrap `sock`, naming the pinned host instead of the address connected to."""
        return super().wrap_socket(
            sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=self.server_name or server_hostname,
            session=session,
        )


def tls_context(tls: TLSSettings, host: str, *, base: Path | None = None) -> ssl.SSLContext:
    """The client TLS context for a network, as `ssl.create_default_context` makes it.

    Certificates are checked against `host` (the profile's broker host), whatever address the
    socket connects to. Relative file names are read from `base` (default: the current folder).
    Raises `TLSFailure` naming the file when a CA, certificate or key cannot be loaded.
    """

    def path(name: str) -> str:
        return str(base / name) if base is not None else name

    context = PinnedNameContext(ssl.PROTOCOL_TLS_CLIENT)
    context.server_name = host
    try:
        if tls.ca:
            context.load_verify_locations(cafile=path(tls.ca))
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    except (OSError, ssl.SSLError) as error:
        raise TLSFailure(f"cannot load the CA certificate {tls.ca}: {_why(error)}") from None
    if tls.cert:
        try:
            context.load_cert_chain(path(tls.cert), path(tls.key) if tls.key else None)
        except (OSError, ssl.SSLError) as error:
            raise TLSFailure(
                f"cannot load the client certificate {tls.cert} (key {tls.key or tls.cert}): "
                f"{_why(error)}"
            ) from None
    context.minimum_version = (
        ssl.TLSVersion.TLSv1_3 if tls.min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    )
    context.check_hostname = tls.verify_hostname and tls.verify_certificate
    if not tls.verify_certificate:
        context.verify_mode = ssl.CERT_NONE
    if tls.key_log:
        key_log = path(tls.key_log)
        _create_private(key_log)
        context.keylog_filename = key_log
    return context


def _create_private(path: str) -> None:
    """Make the key log file 0600 before OpenSSL appends to it: it decrypts every session."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(descriptor, 0o600)
        finally:
            os.close(descriptor)
    except OSError as error:
        raise TLSFailure(f"cannot write the TLS key log {path}: {_why(error)}") from None


def _why(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)
