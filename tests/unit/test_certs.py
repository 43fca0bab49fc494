"""Certificates: extensions a strict verifier accepts, file modes, no silent overwrite."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from iotsim_tui.certs import describe, init_certs, issue_client
from iotsim_tui.certs.authority import parse_host
from iotsim_tui.errors import CertificateError
from tests.support.certs import (
    CLIENT_ID,
    client_pair,
    expired_server_cert,
    foreign_client_cert,
    make_cert_dir,
    wrong_host_server_cert,
)


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _server_verifier(ca: Path, host: str) -> x509.verification.ServerVerifier:
    name = parse_host(host)
    assert isinstance(name, x509.DNSName | x509.IPAddress)
    return PolicyBuilder().store(Store([_load(ca)])).build_server_verifier(name)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Run with umask 000, where a careless write would make keys world-writable."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_keys_are_0600_in_a_0700_folder_whatever_the_umask(tmp_path: Path) -> None:
    directory = make_cert_dir(tmp_path)
    client = client_pair(directory)
    for key in (directory / "ca.key", directory / "server.key", client.key):
        assert _mode(key) == 0o600, key
        label = key.read_text().splitlines()[0]
        assert label == "-----BEGIN " + "PRIVATE KEY-----", label  # PKCS#8, not SEC1 "EC ..."
    for cert in (directory / "ca.crt", directory / "server.crt", client.cert):
        assert _mode(cert) == 0o644, cert
    assert _mode(directory) == 0o700
    assert _mode(directory / "clients") == 0o700
    assert not [p for p in directory.rglob("*") if p.name.endswith(".tmp")]


def test_server_certificate_verifies_for_local_names_and_extra_hosts(tmp_path: Path) -> None:
    directory = tmp_path / "certs"
    init_certs(directory, hosts=["broker.lan", "10.0.0.5", "fd00::7"])
    server = _load(directory / "server.crt")
    for host in ("localhost", "127.0.0.1", "::1", "broker.lan", "10.0.0.5", "fd00::7"):
        chain = _server_verifier(directory / "ca.crt", host).verify(server, [])
        assert chain[-1] == _load(directory / "ca.crt")
    with pytest.raises(VerificationError):
        _server_verifier(directory / "ca.crt", "elsewhere.example").verify(server, [])


def test_extensions_are_what_a_strict_verifier_expects(tmp_path: Path) -> None:
    directory = make_cert_dir(tmp_path)
    ca = _load(directory / "ca.crt")
    server = _load(directory / "server.crt")
    client = _load(client_pair(directory).cert)

    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    ca_usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert ca_usage.critical
    assert ca_usage.value.key_cert_sign
    assert ca_usage.value.crl_sign
    assert not ca_usage.value.digital_signature
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp256r1"
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value

    for leaf, usage in (
        (server, ExtendedKeyUsageOID.SERVER_AUTH),
        (client, ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        key_usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        assert key_usage.digital_signature
        assert not key_usage.key_cert_sign
        assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [usage]
        aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        assert aki.key_identifier == ca_ski.digest
        leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        # Valid from a little in the past, so a clock slightly behind still accepts it.
        assert leaf.not_valid_before_utc < dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    assert server.serial_number != client.serial_number


def test_client_certificate_names_the_device_and_verifies_as_a_client(tmp_path: Path) -> None:
    directory = make_cert_dir(tmp_path)
    client = _load(client_pair(directory).cert)
    common_names = client.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    assert [a.value for a in common_names] == [CLIENT_ID]
    verifier = PolicyBuilder().store(Store([_load(directory / "ca.crt")])).build_client_verifier()
    verified = verifier.verify(client, [])
    assert verified.subjects == [
        x509.UniformResourceIdentifier(f"urn:iotsim-tui:client:{CLIENT_ID}")
    ]
    # A client certificate must not pass as a server's.
    with pytest.raises(VerificationError):
        _server_verifier(directory / "ca.crt", "localhost").verify(client, [])


def test_client_from_another_ca_is_not_trusted(tmp_path: Path) -> None:
    directory = make_cert_dir(tmp_path)
    foreign = _load(foreign_client_cert(tmp_path).cert)
    verifier = PolicyBuilder().store(Store([_load(directory / "ca.crt")])).build_client_verifier()
    with pytest.raises(VerificationError):
        verifier.verify(foreign, [])


def test_each_init_makes_a_unique_ca(tmp_path: Path) -> None:
    first = _load(init_certs(tmp_path / "a").ca_cert)
    second = _load(init_certs(tmp_path / "b").ca_cert)
    assert first.subject != second.subject
    assert first.public_key() != second.public_key()
    assert first.serial_number != second.serial_number


def test_nothing_is_overwritten_without_force(tmp_path: Path) -> None:
    directory = make_cert_dir(tmp_path)
    before = {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()}
    with pytest.raises(CertificateError, match=r"ca\.crt already exists: pass --force"):
        init_certs(directory)
    with pytest.raises(CertificateError, match=rf"{CLIENT_ID}\.crt already exists.*--force"):
        issue_client(directory, CLIENT_ID)
    assert {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()} == before

    os.chmod(directory / "ca.key", 0o644)
    init_certs(directory, force=True)
    assert (directory / "ca.crt").read_bytes() != before[directory / "ca.crt"]
    assert _mode(directory / "ca.key") == 0o600


def test_client_needs_a_ca_and_a_usable_id(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match=r"no certificate authority in .*certs init"):
        issue_client(tmp_path, "TS1")
    directory = make_cert_dir(tmp_path)
    for bad in ("", "../evil", ".hidden", "a/b", "x" * 129):
        with pytest.raises(CertificateError, match="cannot name a certificate file"):
            issue_client(directory, bad)
    (directory / "ca.key").write_bytes(b"not a key")
    with pytest.raises(CertificateError, match=r"ca\.key is not an unencrypted PEM key"):
        issue_client(directory, "TS1")


def test_a_ca_key_from_another_ca_is_refused(tmp_path: Path) -> None:
    directory = make_cert_dir(tmp_path)
    other = init_certs(tmp_path / "other")
    shutil.copy(other.ca_key, directory / "ca.key")
    with pytest.raises(CertificateError, match=r"ca\.key does not belong to .*ca\.crt"):
        issue_client(directory, "TS1")


def test_client_certificate_never_outlives_its_ca(tmp_path: Path) -> None:
    directory = tmp_path / "certs"
    ca = _load(init_certs(directory, days=10).ca_cert)
    client = _load(issue_client(directory, "TS1", days=400).cert)
    assert client.not_valid_after_utc == ca.not_valid_after_utc


def test_hosts_parse_as_ip_or_dns_and_junk_is_refused() -> None:
    assert parse_host("10.1.2.3") == x509.IPAddress(ipaddress.ip_address("10.1.2.3"))
    assert parse_host("[::1]") == x509.IPAddress(ipaddress.ip_address("::1"))
    assert parse_host("Broker.LAN.") == x509.DNSName("broker.lan")
    assert parse_host("*.lab.example") == x509.DNSName("*.lab.example")
    for bad in ("", "under_score.example", "-bad.example", "a..b", "x" * 64 + ".example"):
        with pytest.raises(CertificateError, match="neither an IP address nor a DNS name"):
            parse_host(bad)


def test_days_are_bounded(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="days must be between 1 and"):
        init_certs(tmp_path, days=0)
    assert not (tmp_path / "ca.key").exists()


def test_describe_reports_names_fingerprints_expiry_and_key_modes(tmp_path: Path) -> None:
    directory = make_cert_dir(tmp_path)
    expired_server_cert(directory)
    os.chmod(directory / "ca.key", 0o640)
    infos = {info.path.name: info for info in describe(directory)}
    assert list(infos) == ["ca.crt", "server.crt", f"{CLIENT_ID}.crt"]

    ca = infos["ca.crt"]
    assert ca.is_ca
    assert ca.subject.startswith("CN=iotsim-tui CA ")
    assert ca.subject == ca.issuer
    assert ca.key_mode == 0o640
    assert ca.key_too_open
    assert ca.days_left in (823, 824)
    expected = _load(directory / "ca.crt").fingerprint(hashes.SHA256()).hex(":").upper()
    assert ca.fingerprint == expected

    server = infos["server.crt"]
    assert server.expired
    assert server.days_left < 0
    assert server.issuer == ca.subject
    assert server.alt_names == ("DNS:localhost", "IP:127.0.0.1", "IP:::1")
    assert server.key_present
    assert not server.key_too_open

    (directory / "clients" / f"{CLIENT_ID}.key").unlink()
    client = describe(directory)[2]
    assert not client.key_present
    assert client.key_mode is None


def test_describe_explains_an_empty_or_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="is not a folder: run `iotsim-tui certs init"):
        describe(tmp_path / "nowhere")
    with pytest.raises(CertificateError, match="no certificates in"):
        describe(tmp_path)
    (tmp_path / "ca.crt").write_text("garbage")
    with pytest.raises(CertificateError, match=r"ca\.crt is not a PEM certificate"):
        describe(tmp_path)


def test_wrong_host_helper_really_names_another_host(tmp_path: Path) -> None:
    directory = make_cert_dir(tmp_path)
    pair = wrong_host_server_cert(directory, name="wrong")
    with pytest.raises(VerificationError):
        _server_verifier(directory / "ca.crt", "localhost").verify(_load(pair.cert), [])
    _server_verifier(directory / "ca.crt", "wrong.example").verify(_load(pair.cert), [])


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
def test_openssl_strict_mode_accepts_the_chain(tmp_path: Path) -> None:
    directory = make_cert_dir(tmp_path)
    ca = str(directory / "ca.crt")
    checks = [
        ["-purpose", "sslserver", "-verify_ip", "127.0.0.1", str(directory / "server.crt")],
        ["-purpose", "sslserver", "-verify_hostname", "localhost", str(directory / "server.crt")],
        ["-purpose", "sslclient", str(client_pair(directory).cert)],
    ]
    for check in checks:
        result = subprocess.run(
            ["openssl", "verify", "-x509_strict", "-CAfile", ca, *check],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    client = str(client_pair(directory).cert)
    wrong = subprocess.run(
        ["openssl", "verify", "-x509_strict", "-CAfile", ca, "-purpose", "sslserver", client],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert wrong.returncode != 0
