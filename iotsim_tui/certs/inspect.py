"""What is in a certificate folder: subjects, names, fingerprints, expiry and key files."""

from __future__ import annotations

import datetime as dt
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from iotsim_tui.certs.authority import CA_CERT, CLIENTS_DIR, SERVER_CERT, load_certificate
from iotsim_tui.errors import CertificateError


@dataclass(frozen=True)
class CertInfo:
    """One certificate of a folder, as `iotsim-tui certs show` prints it."""

    path: Path
    subject: str
    issuer: str
    alt_names: tuple[str, ...]
    fingerprint: str
    """SHA-256 of the DER certificate, as colon-separated hex (what Wireshark and openssl show)."""
    not_after: dt.datetime
    days_left: int
    """Whole days until expiry; negative once expired."""
    is_ca: bool
    key_path: Path
    key_present: bool
    key_mode: int | None
    """Permission bits of the key file (0o600 expected), or None when it is missing."""

    @property
    def expired(self) -> bool:
        """True once the certificate's validity has ended."""
        return self.not_after <= dt.datetime.now(dt.UTC)

    @property
    def key_too_open(self) -> bool:
        """True when others than the owner can read or write the key file."""
        return self.key_mode is not None and bool(self.key_mode & 0o077)


def describe(directory: Path) -> list[CertInfo]:
    """Every certificate in `directory`: the CA, the server, then clients by name.

    Raises:
        CertificateError: The folder holds no certificate, or one cannot be read.
    """
    if not directory.is_dir():
        raise CertificateError(
            f"{directory} is not a folder: run `iotsim-tui certs init --dir {directory}`"
        )
    paths = [directory / name for name in (CA_CERT, SERVER_CERT) if (directory / name).exists()]
    clients = directory / CLIENTS_DIR
    if clients.is_dir():
        paths += sorted(clients.glob("*.crt"))
    if not paths:
        raise CertificateError(
            f"no certificates in {directory}: run `iotsim-tui certs init --dir {directory}`"
        )
    return [certificate_info(path) for path in paths]


def certificate_info(path: Path) -> CertInfo:
    """Describe one PEM certificate file and the key file next to it (same name, `.key`)."""
    cert = load_certificate(path)
    key_path = path.with_suffix(".key")
    try:
        key_mode: int | None = stat.S_IMODE(key_path.stat().st_mode)
    except FileNotFoundError:
        key_mode = None
    not_after = cert.not_valid_after_utc
    return CertInfo(
        path=path,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        alt_names=_alt_names(cert),
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        not_after=not_after,
        days_left=(not_after - dt.datetime.now(dt.UTC)).days,
        is_ca=_is_ca(cert),
        key_path=key_path,
        key_present=key_mode is not None,
        key_mode=key_mode,
    )


def _alt_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    dns = [f"DNS:{name}" for name in names.get_values_for_type(x509.DNSName)]
    ips = [f"IP:{address}" for address in names.get_values_for_type(x509.IPAddress)]
    uris = [f"URI:{uri}" for uri in names.get_values_for_type(x509.UniformResourceIdentifier)]
    return tuple(dns + ips + uris)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
