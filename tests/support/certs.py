"""Certificates made at test run time: a good set, and bad ones for negative tests.

Nothing here is committed: each test gets fresh keys in its own temporary folder.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from iotsim_tui.certs import init_certs, issue_client
from iotsim_tui.certs.authority import key_pem, leaf_name, load_authority, parse_host, sign_leaf
from iotsim_tui.certs.files import write_private, write_public

CLIENT_ID = "device-1"
"""The client certificate `make_cert_dir` issues: clients/device-1.crt and .key."""


@dataclass(frozen=True)
class KeyPair:
    """A certificate file and its key file."""

    cert: Path
    key: Path


def make_cert_dir(tmp_path: Path, *, name: str = "certs") -> Path:
    """A folder with ca.crt/.key, server.crt/.key (localhost, 127.0.0.1, ::1) and a client."""
    directory = tmp_path / name
    init_certs(directory)
    issue_client(directory, CLIENT_ID)
    return directory


def client_pair(directory: Path, client_id: str = CLIENT_ID) -> KeyPair:
    """The client certificate and key `make_cert_dir` (or `issue_client`) wrote."""
    return KeyPair(
        directory / "clients" / f"{client_id}.crt", directory / "clients" / f"{client_id}.key"
    )


def server_cert(
    directory: Path,
    *,
    name: str = "server",
    hosts: Sequence[str] = ("localhost", "127.0.0.1", "::1"),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> KeyPair:
    """Sign `<name>.crt` and `.key` with the folder's CA; name "server" replaces the broker's."""
    ca_cert, ca_key = load_authority(directory)
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = sign_leaf(
        subject=leaf_name(hosts[0]),
        key=key,
        issuer=ca_cert,
        issuer_key=ca_key,
        not_after=not_after or now + dt.timedelta(days=30),
        not_before=not_before,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        alt_names=[parse_host(h) for h in hosts],
    )
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    write_private(pair.key, key_pem(key))
    write_public(pair.cert, cert.public_bytes(serialization.Encoding.PEM))
    return pair


def expired_server_cert(directory: Path, *, name: str = "server") -> KeyPair:
    """A server certificate from the folder's CA that expired yesterday."""
    now = dt.datetime.now(dt.UTC)
    return server_cert(
        directory,
        name=name,
        not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )


def wrong_host_server_cert(directory: Path, *, name: str = "server") -> KeyPair:
    """A server certificate from the folder's CA, valid only for a host that is not this one."""
    return server_cert(directory, name=name, hosts=("wrong.example", "192.0.2.1"))


def foreign_client_cert(tmp_path: Path, client_id: str = CLIENT_ID) -> KeyPair:
    """A client certificate for `client_id` from another, unrelated CA."""
    directory = tmp_path / "foreign-ca"
    init_certs(directory)
    issue_client(directory, client_id)
    return client_pair(directory, client_id)


def client_context(
    directory: Path, *, client: KeyPair | None = None, check_hostname: bool = True
) -> ssl.SSLContext:
    """What a careful device uses: trust only the folder's CA, TLS 1.2+, optional client cert."""
    context = ssl.create_default_context(cafile=str(directory / "ca.crt"))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = check_hostname
    if client is not None:
        context.load_cert_chain(client.cert, client.key)
    return context
