"""Certificates for a network's TLS settings: made once, then reused unless renewed.

Runs in a worker thread (key generation and file writes); raises `CertificateError` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from iotsim_tui.certs import DEFAULT_HOSTS, CertSet, ClientCert, init_certs, issue_client
from iotsim_tui.errors import CertificateError

DEVICE_CLIENT_ID = "iotsim-device"
"""The client certificate the network's devices present to a broker that asks for one."""


@dataclass(frozen=True)
class ProvidedCertificates:
    """The files a network's TLS settings point at."""

    ca: Path
    client_cert: Path
    client_key: Path
    created: bool
    """True when new certificates were made, False when existing ones were reused."""


def certificates_exist(directory: Path) -> bool:
    """True when `directory` holds any part of a CA or broker certificate."""
    files = CertSet.at(directory)
    return any(
        path.exists() for path in (files.ca_cert, files.ca_key, files.server_cert, files.server_key)
    )


def provide_certificates(directory: Path, *, host: str, renew: bool) -> ProvidedCertificates:
    """Make (or, unless `renew`, reuse) a CA, a broker certificate and a device certificate.

    Args:
        directory: The certificate folder, e.g. `certs`.
        host: The broker's host; named in a new broker certificate besides localhost.
        renew: Replace existing certificates with new ones.
    """
    files = CertSet.at(directory)
    created = renew or not certificates_exist(directory)
    if created:
        hosts = () if not host or host in DEFAULT_HOSTS else (host,)
        init_certs(directory, hosts=hosts, force=renew)
    else:
        missing = [
            path.name
            for path in (files.ca_cert, files.ca_key, files.server_cert, files.server_key)
            if not path.exists()
        ]
        if missing:
            raise CertificateError(
                f"{directory} holds only part of a certificate set ({', '.join(missing)} "
                "missing): make new ones"
            )
    client = ClientCert.at(directory, DEVICE_CLIENT_ID)
    if created or not (client.cert.exists() and client.key.exists()):
        client = issue_client(directory, DEVICE_CLIENT_ID, force=True)
    return ProvidedCertificates(files.ca_cert, client.cert, client.key, created)
