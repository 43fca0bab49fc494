"""A private certificate authority: one CA per install, a broker certificate, client certificates.

Every key is EC P-256. Extensions are set as RFC 5280 and strict verifiers (OpenSSL with
X509_STRICT, the `cryptography` verifier, browsers) expect: BasicConstraints, KeyUsage,
ExtendedKeyUsage, SubjectKeyIdentifier and AuthorityKeyIdentifier; serials are random.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from iotsim_tui.certs.files import ensure_private_dir, read_bytes, write_private, write_public
from iotsim_tui.errors import CertificateError

DEFAULT_DAYS = 825
"""The longest validity Apple platforms accept for a TLS server certificate."""
MAX_DAYS = 36_500
DEFAULT_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
CA_CERT, CA_KEY = "ca.crt", "ca.key"
SERVER_CERT, SERVER_KEY = "server.crt", "server.key"
CLIENTS_DIR = "clients"
# Certificates start a little in the past so a clock a few minutes behind still accepts them.
BACKDATE = dt.timedelta(minutes=5)
ORGANISATION = "iotsim-tui"

_CLIENT_ID = re.compile(r"[\w@+:=-][\w.@+:=-]{0,127}")
_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


@dataclass(frozen=True)
class CertSet:
    """The files `init_certs` wrote: a CA and the broker's (server) certificate."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path

    @classmethod
    def at(cls, directory: Path) -> CertSet:
        """Where the files live in `directory`, whether or not they exist yet."""
        return cls(
            directory,
            directory / CA_CERT,
            directory / CA_KEY,
            directory / SERVER_CERT,
            directory / SERVER_KEY,
        )


@dataclass(frozen=True)
class ClientCert:
    """A device's client certificate and key, issued by the CA of a certificate folder."""

    client_id: str
    cert: Path
    key: Path

    @classmethod
    def at(cls, directory: Path, client_id: str) -> ClientCert:
        """Where the files for `client_id` live in `directory`."""
        folder = directory / CLIENTS_DIR
        return cls(client_id, folder / f"{client_id}.crt", folder / f"{client_id}.key")


def init_certs(
    directory: Path,
    *,
    hosts: Sequence[str] = (),
    days: int = DEFAULT_DAYS,
    force: bool = False,
) -> CertSet:
    """Create a new CA and a server certificate for localhost and `hosts` in `directory`.

    Args:
        directory: The folder to write to; created 0700 when missing.
        hosts: Extra DNS names or IP addresses the broker is reached by.
        days: How long the certificates are valid.
        force: Replace existing files; without it an existing file is an error.

    Raises:
        CertificateError: A file exists (and not `force`), a host or `days` is invalid, or
            a file cannot be written.
    """
    _check_days(days)
    names = _subject_alt_names([*DEFAULT_HOSTS, *hosts])
    files = CertSet.at(directory)
    if not force:
        _refuse_existing([files.ca_cert, files.ca_key, files.server_cert, files.server_key])
    ensure_private_dir(directory)

    now = _now()
    not_after = now + dt.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            # A unique name per install, so two installs' CAs are never confused.
            x509.NameAttribute(NameOID.COMMON_NAME, f"iotsim-tui CA {secrets.token_hex(4)}"),
        ]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    first_dns = next((n.value for n in names if isinstance(n, x509.DNSName)), "localhost")
    server_cert = sign_leaf(
        subject=leaf_name(first_dns),
        key=server_key,
        issuer=ca_cert,
        issuer_key=ca_key,
        not_after=not_after,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        alt_names=names,
    )

    # The keys go first: a certificate on disk without its key would be useless.
    write_private(files.ca_key, key_pem(ca_key))
    write_public(files.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM))
    write_private(files.server_key, key_pem(server_key))
    write_public(files.server_cert, server_cert.public_bytes(serialization.Encoding.PEM))
    return files


def issue_client(
    directory: Path, client_id: str, *, days: int = DEFAULT_DAYS, force: bool = False
) -> ClientCert:
    """Issue a client certificate (CN = `client_id`, EKU clientAuth) signed by the folder's CA.

    Writes `clients/<client_id>.crt` and `.key`. The certificate never outlives its CA.

    Raises:
        CertificateError: No CA in `directory`, the id cannot be a file name, a file
            exists (and not `force`), or a file cannot be written.
    """
    _check_days(days)
    if not _CLIENT_ID.fullmatch(client_id):
        raise CertificateError(
            f"client id {client_id!r} cannot name a certificate file: use 1 to 128 letters, "
            "digits and . _ - @ + : = (not starting with a dot)"
        )
    ca_cert, ca_key = load_authority(directory)
    files = ClientCert.at(directory, client_id)
    if not force:
        _refuse_existing([files.cert, files.key])
    ensure_private_dir(directory / CLIENTS_DIR)

    key = ec.generate_private_key(ec.SECP256R1())
    not_after = min(_now() + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    cert = sign_leaf(
        subject=leaf_name(client_id),
        key=key,
        issuer=ca_cert,
        issuer_key=ca_key,
        not_after=not_after,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        # Strict verifiers want a SAN in every leaf; a URN carries any client id safely.
        alt_names=(x509.UniformResourceIdentifier(client_urn(client_id)),),
    )
    write_private(files.key, key_pem(key))
    write_public(files.cert, cert.public_bytes(serialization.Encoding.PEM))
    return files


def load_authority(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The CA certificate and key of a certificate folder, checked to belong together."""
    files = CertSet.at(directory)
    if not files.ca_cert.exists() and not files.ca_key.exists():
        raise CertificateError(
            f"no certificate authority in {directory}: run `iotsim-tui certs init "
            f"--dir {directory}` first"
        )
    cert = load_certificate(files.ca_cert, what="CA certificate")
    key_data = read_bytes(files.ca_key, what="CA key")
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except (ValueError, TypeError) as error:
        raise CertificateError(f"CA key {files.ca_key} is not an unencrypted PEM key") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise CertificateError(
            f"CA key {files.ca_key} does not belong to {files.ca_cert}: run `iotsim-tui certs "
            f"init --dir {directory} --force` to make a new pair"
        )
    return cert, key


def load_certificate(path: Path, *, what: str = "certificate") -> x509.Certificate:
    """Read one PEM certificate, or raise CertificateError naming the file."""
    data = read_bytes(path, what=what)
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as error:
        raise CertificateError(f"{what} {path} is not a PEM certificate") from error


def client_urn(client_id: str) -> str:
    """The URN naming a device's client certificate: `urn:iotsim-tui:client:<id>`."""
    return f"urn:iotsim-tui:client:{quote(client_id, safe='')}"


def parse_host(host: str) -> x509.GeneralName:
    """A subject alternative name for `host`: an IP address when it parses as one, else DNS."""
    text = host.strip()
    try:
        return x509.IPAddress(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        pass
    labels = text.rstrip(".").split(".")
    wildcard = labels[0] == "*" and len(labels) > 2
    checked = labels[1:] if wildcard else labels
    if not text or len(text) > 253 or not all(_DNS_LABEL.fullmatch(x) for x in checked):
        raise CertificateError(
            f"host {host!r} is neither an IP address nor a DNS name (letters, digits and "
            "hyphens, separated by dots)"
        )
    return x509.DNSName(text.rstrip(".").lower())


def _subject_alt_names(hosts: Iterable[str]) -> tuple[x509.GeneralName, ...]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        name = parse_host(host)
        if name not in names:
            names.append(name)
    return tuple(names)


def sign_leaf(
    *,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_after: dt.datetime,
    usage: x509.ObjectIdentifier,
    alt_names: Sequence[x509.GeneralName],
    not_before: dt.datetime | None = None,
) -> x509.Certificate:
    """Sign a leaf (non-CA) certificate for `key` with the issuer's key, for one EKU `usage`."""
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or _now() - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
            critical=False,
        )
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def leaf_name(common_name: str) -> x509.Name:
    """The subject of a leaf certificate: our organisation and `common_name`."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A private key as unencrypted PEM PKCS#8."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _refuse_existing(paths: Iterable[Path]) -> None:
    for path in paths:
        if path.exists():
            raise CertificateError(
                f"{path} already exists: pass --force to replace it (anything that trusts "
                "or uses the old file will need the new one)"
            )


def _check_days(days: int) -> None:
    if not 1 <= days <= MAX_DAYS:
        raise CertificateError(f"days must be between 1 and {MAX_DAYS}, not {days}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)
