"""Real clients against the bundled broker: mosquitto_pub/mosquitto_sub, aiomqtt, plain and TLS."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.client import MQTTv5, MQTTv311

from iotsim_tui.broker.server import Broker
from iotsim_tui.protocol.packets import Publish
from tests.broker.conftest import StartBroker, wait_until
from tests.broker.raw import TIMEOUT, RawClient
from tests.support.certs import client_context, client_pair, foreign_client_cert, make_cert_dir

needs_mosquitto_clients = pytest.mark.skipif(
    shutil.which("mosquitto_pub") is None or shutil.which("mosquitto_sub") is None,
    reason="mosquitto-clients is not installed (apt-get install mosquitto-clients)",
)
VERSIONS = pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])


async def _run(*args: str) -> tuple[int, str]:
    """Run a mosquitto client to completion (bounded in time); return (exit code, output)."""
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with asyncio.timeout(TIMEOUT):
            output, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


@asynccontextmanager
async def _background(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """A mosquitto client running while the block runs; killed (by its handle) afterwards."""
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _output(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    async with asyncio.timeout(TIMEOUT):
        output = await process.stdout.read()
        await process.wait()
    return output.decode(errors="replace")


@needs_mosquitto_clients
@VERSIONS
@pytest.mark.parametrize("qos", ["0", "1", "2"])
async def test_mosquitto_clients_round_trip(
    broker: Broker, port: int, version: str, qos: str
) -> None:
    common = ["-h", "127.0.0.1", "-p", str(port), "-V", version, "-q", qos]
    async with _background(
        "mosquitto_sub", *common, "-i", "sub", "-t", "lab/#", "-C", "1", "-v", "-W", "10"
    ) as subscriber:
        await wait_until(lambda: "lab/#" in broker.subscriptions_of("sub"), "the subscription")
        code, output = await _run("mosquitto_pub", *common, "-t", "lab/temp", "-m", "21.5")
        assert code == 0, output
        assert await _output(subscriber) == "lab/temp 21.5\n"
        assert subscriber.returncode == 0


@needs_mosquitto_clients
@VERSIONS
async def test_mosquitto_clients_retained(port: int, version: str) -> None:
    common = ["-h", "127.0.0.1", "-p", str(port), "-V", version]
    code, output = await _run("mosquitto_pub", *common, "-t", "r/1", "-m", "kept", "-r", "-q", "1")
    assert code == 0, output
    code, output = await _run("mosquitto_sub", *common, "-t", "r/#", "-C", "1", "-v", "-W", "10")
    assert (code, output) == (0, "r/1 kept\n")


@needs_mosquitto_clients
@VERSIONS
async def test_mosquitto_client_will(broker: Broker, port: int, version: str) -> None:
    watcher, _ = await RawClient.connected(port, "watcher")
    await watcher.subscribe("wills/#", 1)
    will = ["--will-topic", "wills/mosq", "--will-payload", "lost", "--will-qos", "1"]
    args = ["-h", "127.0.0.1", "-p", str(port), "-V", version, "-i", "mosq", "-t", "x", *will]
    async with _background("mosquitto_sub", *args) as doomed:
        await wait_until(lambda: "x" in broker.subscriptions_of("mosq"), "the subscription")
        doomed.send_signal(signal.SIGKILL)  # no DISCONNECT: the broker must send the will
        message = await watcher.expect(Publish)
    assert (message.topic, message.payload, message.qos) == ("wills/mosq", b"lost", 1)


@pytest.mark.parametrize("protocol", [MQTTv311, MQTTv5], ids=["3.1.1", "5.0"])
async def test_aiomqtt_round_trip(port: int, protocol: int) -> None:
    version = aiomqtt.ProtocolVersion(protocol)
    async with (
        aiomqtt.Client("127.0.0.1", port, identifier="ai-sub", protocol=version) as subscriber,
        aiomqtt.Client("127.0.0.1", port, identifier="ai-pub", protocol=version) as publisher,
    ):
        await subscriber.subscribe("High_Tempe", qos=1)
        await publisher.publish("High_Tempe", b"Alert for High Temperature", qos=1)
        async with asyncio.timeout(TIMEOUT):
            message = await anext(subscriber.messages)
    assert (str(message.topic), message.payload, message.qos) == (
        "High_Tempe",
        b"Alert for High Temperature",
        1,
    )


# ---------------------------------------------------------------------------- TLS


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    """A CA, a server certificate and a client certificate (device-1), made for this test."""
    return make_cert_dir(tmp_path)


async def _tls_broker(start_broker: StartBroker, certs: Path, *, require: bool) -> Broker:
    return await start_broker(port=None, tls_port=0, certs=certs, require_client_cert=require)


@needs_mosquitto_clients
@VERSIONS
async def test_mosquitto_clients_over_tls(
    start_broker: StartBroker, certs: Path, version: str
) -> None:
    broker = await _tls_broker(start_broker, certs, require=False)
    common = ["-h", "localhost", "-p", str(broker.ports["tls"]), "-V", version]
    tls = ["--cafile", str(certs / "ca.crt")]
    async with _background(
        "mosquitto_sub", *common, *tls, "-i", "tls-sub", "-t", "t", "-C", "1", "-W", "10"
    ) as subscriber:
        await wait_until(lambda: "t" in broker.subscriptions_of("tls-sub"), "the subscription")
        code, output = await _run("mosquitto_pub", *common, *tls, "-t", "t", "-m", "secret")
        assert code == 0, output
        assert await _output(subscriber) == "secret\n"


@needs_mosquitto_clients
async def test_client_certificate_required(
    start_broker: StartBroker, certs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="iotsim_tui.broker")
    broker = await _tls_broker(start_broker, certs, require=True)
    common = ["-h", "localhost", "-p", str(broker.ports["tls"]), "--cafile", str(certs / "ca.crt")]
    message = ["-t", "t", "-m", "x"]
    pair = client_pair(certs)
    code, output = await _run(
        "mosquitto_pub", *common, "--cert", str(pair.cert), "--key", str(pair.key), *message
    )
    assert code == 0, output
    code, output = await _run("mosquitto_pub", *common, *message)
    assert code != 0, "a client without a certificate was let in"
    foreign = foreign_client_cert(certs.parent)
    code, output = await _run(
        "mosquitto_pub", *common, "--cert", str(foreign.cert), "--key", str(foreign.key), *message
    )
    assert code != 0, "a client with a certificate from another CA was let in"
    assert broker.stats.connected == 0
    refusals = [r for r in caplog.messages if r.startswith("refused TLS handshake from 127.0.0.1:")]
    assert len(refusals) == 2


async def test_tls_listener_in_the_clients_feed(start_broker: StartBroker, certs: Path) -> None:
    broker = await _tls_broker(start_broker, certs, require=True)
    context = client_context(certs, client=client_pair(certs))
    async with aiomqtt.Client(
        "localhost", broker.ports["tls"], identifier="TS1", tls_context=context
    ) as client:
        await client.subscribe("$SYS/iotsim/clients")
        async with asyncio.timeout(TIMEOUT):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                if b'"TS1"' in message.payload:
                    break
    document = json.loads(message.payload)
    listener = document["clients"][0]["listener"]
    assert listener["port"] == broker.ports["tls"]
    assert listener["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    assert listener["tls"]["cipher"]


async def test_tls_handshake_failure_harms_nobody(start_broker: StartBroker, certs: Path) -> None:
    broker = await _tls_broker(start_broker, certs, require=True)
    _, writer = await asyncio.open_connection("127.0.0.1", broker.ports["tls"])
    writer.write(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")  # plain MQTT to a TLS port
    await writer.drain()
    writer.close()
    context = client_context(certs, client=client_pair(certs))
    client = await RawClient.open(broker.ports["tls"], version=4, context=context)
    await client.send(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")
    assert await client.next_packet()
