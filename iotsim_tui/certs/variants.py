"""Broker certificates that a careful device must refuse, for the TLS lessons.

Each one is signed by the CA of an existing certificate folder (`init_certs`) and written with
that CA's certificate into a folder of its own, laid out as the broker reads it (`ca.crt`,
`server.crt`, `server.key`): an expired certificate, and one for another host name. A
certificate from another CA is simply a second folder made by `init_certs`.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from iotsim_tui.certs.authority import (
    CA_CERT,
    SERVER_CERT,
    SERVER_KEY,
    key_pem,
    leaf_name,
    load_authority,
    parse_host,
    sign_leaf,
)
from iotsim_tui.certs.files import ensure_private_dir, write_private, write_public
from iotsim_tui.errors import CertificateError

OTHER_HOSTS: tuple[str, ...] = ("broker.example.net",)
"""The names of a certificate "for another host": a name no loopback address answers to."""


def issue_server(
    authority: Path,
    directory: Path,
    *,
    hosts: Sequence[str],
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Path:
    """Sign a broker certificate for `hosts` with the CA in `authority`, into `directory`.

    `directory` gets `ca.crt` (a copy of the authority's), `server.crt` and `server.key`
    (0600, in a 0700 folder): a folder `iotsim-tui broker --certs` can serve.

    Raises:
        CertificateError: No CA in `authority`, a host is invalid, or a file cannot be written.
    """
    if not hosts:
        raise CertificateError("a broker certificate needs at least one host name")
    ca_cert, ca_key = load_authority(authority)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = sign_leaf(
        subject=leaf_name(hosts[0]),
        key=key,
        issuer=ca_cert,
        issuer_key=ca_key,
        not_after=not_after or min(now + dt.timedelta(days=30), ca_cert.not_valid_after_utc),
        not_before=not_before,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        alt_names=[parse_host(host) for host in hosts],
    )
    ensure_private_dir(directory)
    try:
        shutil.copyfile(authority / CA_CERT, directory / CA_CERT)
    except OSError as error:
        raise CertificateError(
            f"cannot write {directory / CA_CERT}: {error.strerror or error}"
        ) from error
    write_private(directory / SERVER_KEY, key_pem(key))
    write_public(directory / SERVER_CERT, cert.public_bytes(serialization.Encoding.PEM))
    return directory


def issue_expired_server(authority: Path, directory: Path, *, hosts: Sequence[str]) -> Path:
    """A broker certificate for `hosts` from the authority's CA that expired yesterday."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return issue_server(
        authority,
        directory,
        hosts=hosts,
        not_before=now - dt.timedelta(days=31),
        not_after=now - dt.timedelta(days=1),
    )


def issue_other_host_server(
    authority: Path, directory: Path, *, hosts: Sequence[str] = OTHER_HOSTS
) -> Path:
    """A valid broker certificate from the authority's CA, but only for other host names."""
    return issue_server(authority, directory, hosts=hosts)
