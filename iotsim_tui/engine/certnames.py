"""The names a broker's certificate is for, to explain a hostname mismatch."""

from __future__ import annotations

import asyncio
import socket
import ssl

from cryptography import x509
from cryptography.x509.oid import NameOID

from iotsim_tui.engine.failures import Failure

TIMEOUT = 3.0


def certificate_names(endpoint: tuple[str, int], server_name: str) -> list[str]:
    """The DNS names and IP addresses in the certificate served at `endpoint` ([] on failure).

    Blocking: run it in an executor. It makes one handshake without any verification, only to
    read the certificate; nothing is sent over the connection.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(endpoint, timeout=TIMEOUT) as raw,
            context.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ValueError):
        return []
    if der is None:
        return []
    certificate = x509.load_der_x509_certificate(der)
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        common = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return [str(attribute.value) for attribute in common]
    names: list[str] = san.get_values_for_type(x509.DNSName)
    names += [str(address) for address in san.get_values_for_type(x509.IPAddress)]
    return names


async def name_the_certificate(failure: Failure, endpoint: tuple[str, int], host: str) -> Failure:
    """`failure` (a hostname mismatch) restated with the names the certificate is for."""
    names = await asyncio.get_running_loop().run_in_executor(
        None, certificate_names, endpoint, host
    )
    if not names:
        return failure
    return Failure(f"hostname mismatch: certificate is for {', '.join(names)}, not {host}", True)
