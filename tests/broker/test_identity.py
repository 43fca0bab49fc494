"""Identity from the client certificate: its CN as the user name, for the ACL and the console."""

from __future__ import annotations

from pathlib import Path

import pytest

from iotsim_tui.broker.server import Broker
from iotsim_tui.protocol.packets import ConnAck, Connect, PubAck
from iotsim_tui.protocol.reasons import MQTTVersion, ReasonCode
from tests.broker.conftest import StartBroker
from tests.broker.raw import RawClient
from tests.support.certs import CLIENT_ID, client_context, client_pair, make_cert_dir

ACL = "pattern readwrite devices/%u/#\n"


async def _start(start_broker: StartBroker, tmp_path: Path, **settings: object) -> Broker:
    certs = make_cert_dir(tmp_path)
    acl = tmp_path / "acl.txt"
    acl.write_text(ACL)
    return await start_broker(
        port=None,
        tls_port=0,
        certs=certs,
        require_client_cert=True,
        use_identity_as_username=True,
        acl_file=acl,
        **settings,
    )


async def _connect(broker: Broker, client_id: str, version: int) -> tuple[RawClient, ConnAck]:
    assert broker.config.certs is not None
    context = client_context(broker.config.certs, client=client_pair(broker.config.certs))
    client = await RawClient.open(broker.ports["tls"], version=version, context=context)
    # The user name and password it sends are ignored: the certificate says who it is.
    await client.send_packet(
        Connect(client_id, MQTTVersion(version), username="admin", password=b"guess")
    )
    return client, await client.expect(ConnAck)


@pytest.mark.parametrize("version", [4, 5])
async def test_the_certificate_name_is_the_user_name(
    start_broker: StartBroker, tmp_path: Path, version: int
) -> None:
    broker = await _start(start_broker, tmp_path)
    client, connack = await _connect(broker, "any-id", version)
    assert connack.reason_code == 0
    (connection,) = [c for c in broker.connections if c.session is not None]
    assert connection.username == CLIENT_ID == connection.certificate_name
    assert broker.feed.clients_document()["clients"][0]["username"] == CLIENT_ID
    await client.publish(f"devices/{CLIENT_ID}/status", b"up", 1, packet_id=1)
    allowed = await client.expect(PubAck)
    await client.publish("devices/admin/status", b"spoof", 1, packet_id=2)
    refused = await client.expect(PubAck)
    if version == 5:
        assert allowed.reason_code == ReasonCode.NO_MATCHING_SUBSCRIBERS
        assert refused.reason_code == ReasonCode.NOT_AUTHORIZED
    assert broker.stats.denied == 1


@pytest.mark.parametrize(
    ("version", "code"),
    [(4, 2), (5, ReasonCode.CLIENT_IDENTIFIER_NOT_VALID)],  # 3.1.1: identifier rejected
)
async def test_a_client_id_that_is_not_the_certificate_name_may_be_refused(
    start_broker: StartBroker, tmp_path: Path, version: int, code: int
) -> None:
    broker = await _start(start_broker, tmp_path, clientid_must_match_identity=True)
    client, connack = await _connect(broker, "someone-else", version)
    assert connack.reason_code == code
    assert await client.expect_closed() == b""
    client, connack = await _connect(broker, CLIENT_ID, version)
    assert connack.reason_code == 0


async def test_the_user_name_can_replace_the_client_id_as_in_mosquitto(
    start_broker: StartBroker, tmp_path: Path
) -> None:
    broker = await _start(start_broker, tmp_path, use_username_as_clientid=True)
    _, connack = await _connect(broker, "whatever", 5)
    assert connack.reason_code == 0
    assert list(broker.sessions) == [CLIENT_ID]


def test_identity_needs_client_certificates(tmp_path: Path) -> None:
    from iotsim_tui.broker.config import BrokerConfig
    from iotsim_tui.errors import BrokerError

    with pytest.raises(BrokerError, match="use_identity_as_username needs client certificates"):
        BrokerConfig(use_identity_as_username=True)


async def test_certificates_alone_can_let_clients_in(
    start_broker: StartBroker, tmp_path: Path
) -> None:
    # A TLS-only broker that knows clients by their certificates needs no password file.
    broker = await _start(start_broker, tmp_path, allow_anonymous=False)
    _, connack = await _connect(broker, CLIENT_ID, 4)
    assert connack.reason_code == 0
