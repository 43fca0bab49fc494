"""The TLS listener's context, exercised by real handshakes over loopback."""

from __future__ import annotations

import asyncio
import os
import ssl
from asyncio import sslproto
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from iotsim_tui.broker.tls import TLS_READ_BUFFER, describe_session, server_context
from iotsim_tui.errors import CertificateError
from tests.support.certs import (
    KeyPair,
    client_context,
    client_pair,
    expired_server_cert,
    foreign_client_cert,
    make_cert_dir,
    wrong_host_server_cert,
)

GREETING = b"hello from the TLS listener\n"


@asynccontextmanager
async def _listener(context: ssl.SSLContext) -> AsyncIterator[tuple[int, list[str]]]:
    """A TLS server on a free loopback port that greets each client it accepts."""
    accepted: list[str] = []

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(describe_session(writer.get_extra_info("ssl_object")))
        writer.write(GREETING)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0, ssl=context)
    async with server:
        yield server.sockets[0].getsockname()[1], accepted


async def _exchange(port: int, context: ssl.SSLContext, host: str = "localhost") -> bytes:
    """Handshake as a client and read the greeting; raises what the client sees on refusal."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=host), 20
    )
    try:
        # Under TLS 1.3 a refused client certificate shows up on the first read, not earlier.
        line = await asyncio.wait_for(reader.readline(), 20)
    finally:
        writer.close()
    if not line:
        # Some stacks report a refusal alert as a closed stream.
        raise ConnectionResetError("closed without a greeting")
    return line


def _strict(context: ssl.SSLContext) -> ssl.SSLContext:
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


async def test_server_only_tls_with_a_strict_client(tmp_path: Path) -> None:
    certs = make_cert_dir(tmp_path)
    context = server_context(certs, require_client_cert=False)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    async with _listener(context) as (port, accepted):
        assert await _exchange(port, _strict(client_context(certs))) == GREETING
        tls12 = _strict(client_context(certs))
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        assert await _exchange(port, tls12, host="127.0.0.1") == GREETING
    assert accepted[0].startswith("TLSv1.3 TLS_")
    assert accepted[1].startswith("TLSv1.2 ECDHE-ECDSA-")


async def test_one_tls_version_only(tmp_path: Path) -> None:
    certs = make_cert_dir(tmp_path)
    only_12 = server_context(certs, require_client_cert=False, version="1.2")
    async with _listener(only_12) as (port, accepted):
        assert await _exchange(port, _strict(client_context(certs))) == GREETING
        tls13 = client_context(certs)
        tls13.minimum_version = ssl.TLSVersion.TLSv1_3
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            await _exchange(port, tls13)
    assert accepted[0].startswith("TLSv1.2 ")


async def test_required_client_certificate_from_our_ca_is_accepted(tmp_path: Path) -> None:
    certs = make_cert_dir(tmp_path)
    context = server_context(certs, require_client_cert=True)
    async with _listener(context) as (port, accepted):
        client = client_context(certs, client=client_pair(certs))
        assert await _exchange(port, _strict(client)) == GREETING
    assert len(accepted) == 1


@pytest.mark.parametrize("who", ["no certificate", "another CA"])
async def test_client_without_a_good_certificate_is_refused_in_the_handshake(
    tmp_path: Path, who: str
) -> None:
    certs = make_cert_dir(tmp_path)
    context = server_context(certs, require_client_cert=True)
    pair: KeyPair | None = None if who == "no certificate" else foreign_client_cert(tmp_path)
    async with _listener(context) as (port, accepted):
        with pytest.raises((ssl.SSLError, ConnectionResetError)) as refused:
            await _exchange(port, client_context(certs, client=pair))
        assert accepted == []
    if isinstance(refused.value, ssl.SSLError):
        assert "CERTIFICATE" in str(refused.value).upper()


@pytest.mark.parametrize(
    ("make_bad", "why"),
    [(expired_server_cert, "certificate has expired"), (wrong_host_server_cert, "Hostname")],
)
async def test_clients_refuse_an_expired_or_wrong_host_server(
    tmp_path: Path, make_bad: Callable[[Path], KeyPair], why: str
) -> None:
    certs = make_cert_dir(tmp_path)
    make_bad(certs)
    async with _listener(server_context(certs, require_client_cert=False)) as (port, accepted):
        with pytest.raises(ssl.SSLCertVerificationError, match=why):
            await _exchange(port, client_context(certs))
    assert accepted == []


def test_missing_files_are_named(tmp_path: Path) -> None:
    certs = make_cert_dir(tmp_path)
    (certs / "server.key").unlink()
    with pytest.raises(
        CertificateError, match=r"needs .*server\.key, which is missing.*certs init"
    ):
        server_context(certs, require_client_cert=False)

    other = make_cert_dir(tmp_path, name="other")
    (other / "ca.crt").unlink()
    server_context(other, require_client_cert=False)  # the CA is only needed for client certs
    with pytest.raises(CertificateError, match=r"needs .*other/ca\.crt, which is missing"):
        server_context(other, require_client_cert=True)


def test_a_key_that_does_not_match_is_named(tmp_path: Path) -> None:
    certs = make_cert_dir(tmp_path)
    (certs / "server.key").write_bytes(client_pair(certs).key.read_bytes())
    with pytest.raises(CertificateError, match=r"server\.key is not the key of .*server\.crt"):
        server_context(certs, require_client_cert=False)
    (certs / "server.crt").write_text("not a certificate")
    with pytest.raises(CertificateError, match=r"cannot load the broker's certificate .*server"):
        server_context(certs, require_client_cert=False)


def test_a_broken_ca_file_is_named(tmp_path: Path) -> None:
    certs = make_cert_dir(tmp_path)
    (certs / "ca.crt").write_text("junk")
    with pytest.raises(CertificateError, match=r"ca\.crt is not a usable CA certificate"):
        server_context(certs, require_client_cert=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_key_is_named(tmp_path: Path) -> None:
    certs = make_cert_dir(tmp_path)
    (certs / "server.key").chmod(0)
    with pytest.raises(CertificateError, match=r"server\.key.*permission denied"):
        server_context(certs, require_client_cert=False)


async def test_large_messages_cross_the_smaller_read_buffer(tmp_path: Path) -> None:
    certs = make_cert_dir(tmp_path)
    context = server_context(certs, require_client_cert=False)
    assert sslproto.SSLProtocol.max_size == TLS_READ_BUFFER
    payload = os.urandom(300_000)  # many TLS records, many buffer-sized reads

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readexactly(len(payload)))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=context)
    async with server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context(certs), server_hostname="localhost"
        )
        writer.write(payload)
        assert await asyncio.wait_for(reader.readexactly(len(payload)), 20) == payload
        writer.close()
