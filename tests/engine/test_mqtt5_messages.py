"""MQTT 5 on what devices publish: properties, and request/response with correlation data."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from iotsim_tui.engine import LogLine, Simulation
from iotsim_tui.profiles.model import (
    Command,
    Device,
    GeneratorKind,
    MessageProperties,
    MQTTVersion,
    PayloadFormat,
    Response,
    Telemetry,
    ValueSpec,
)
from tests.engine.helpers import EventLog, network, unique, wait_until

V5 = {"protocol": MQTTVersion.V5}


@asynccontextmanager
async def v5_observer(port: int, topic_filter: str) -> AsyncIterator[list[aiomqtt.Message]]:
    """An MQTT 5 client subscribed to `topic_filter`; the messages it received."""
    seen: list[aiomqtt.Message] = []
    async with aiomqtt.Client(
        "127.0.0.1", port, identifier=unique("v5"), protocol=aiomqtt.ProtocolVersion.V5
    ) as client:
        await client.subscribe(topic_filter, qos=1)

        async def collect() -> None:
            async for message in client.messages:
                seen.append(message)

        task = asyncio.get_running_loop().create_task(collect())
        try:
            yield seen
        finally:
            task.cancel()


def _pump(base: str, qos: int) -> Device:
    properties = MessageProperties(
        content_type="application/json",
        payload_format=PayloadFormat.UTF8,
        message_expiry=120,
        user={"site": "ward 3", "device": "{id}"},
    )
    return Device(
        name="Pump",
        id="IP1",
        telemetry=(
            Telemetry(
                f"{base}/{{id}}/t",
                interval=0.1,
                qos=qos,
                fields={"n": ValueSpec(GeneratorKind.COUNTER)},
                properties=properties,
            ),
        ),
    )


async def test_telemetry_carries_its_properties_at_every_qos(broker_port: int) -> None:
    base = unique()
    for qos in (0, 1):
        device = _pump(f"{base}/{qos}", qos)
        async with (
            v5_observer(broker_port, f"{base}/{qos}/#") as seen,
            Simulation(network(broker_port, device, **V5)) as simulation,
        ):
            await simulation.start()
            await wait_until(lambda: len(seen) >= 2, f"telemetry at QoS {qos}")
        message = seen[0]
        properties = message.properties
        assert properties is not None
        assert properties.ContentType == "application/json"
        assert properties.PayloadFormatIndicator == 1
        assert 0 < properties.MessageExpiryInterval <= 120
        assert properties.UserProperty == [("site", "ward 3"), ("device", "IP1")]
        assert message.payload == b'{"n":0}'


async def test_a_request_is_answered_on_its_response_topic_with_its_correlation_data(
    broker_port: int,
) -> None:
    base = unique()
    device = Device(
        name="Pump",
        id="IP1",
        state={"rate": 25.0},
        commands=(
            Command(
                f"{base}/{{id}}/rate",
                set={"rate": "{payload}"},
                response=Response(
                    f"{base}/{{id}}/ack",
                    "rate set to {payload}",
                    qos=1,
                    properties=MessageProperties(content_type="text/plain"),
                ),
            ),
        ),
    )
    async with (
        v5_observer(broker_port, f"{base}/#") as seen,
        Simulation(network(broker_port, device, **V5)) as simulation,
    ):
        log = EventLog(simulation)
        await simulation.start()
        await wait_until(
            lambda: all(s.since for s in simulation.device("IP1").subscriptions), "subscribed"
        )
        async with aiomqtt.Client(
            "127.0.0.1", broker_port, identifier=unique("req"), protocol=aiomqtt.ProtocolVersion.V5
        ) as requester:
            for payload, correlation in ((b"40", b"req-1"), (b"hi", b"req-2")):
                request = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                request.ResponseTopic = f"{base}/replies/me"
                request.CorrelationData = correlation
                await requester.publish(f"{base}/IP1/rate", payload, qos=1, properties=request)
            # Without a response topic: answered on the command's own response topic.
            await requester.publish(f"{base}/IP1/rate", b"30", qos=1)
            replies = lambda: [m for m in seen if m.topic.value == f"{base}/replies/me"]  # noqa: E731
            await wait_until(lambda: len(replies()) == 2, "both replies")
            await wait_until(lambda: any(m.topic.value == f"{base}/IP1/ack" for m in seen), "ack")
        first, second = replies()
        assert (first.payload, first.properties.CorrelationData) == (b"rate set to 40", b"req-1")  # type: ignore[union-attr]
        assert first.properties.ContentType == "text/plain"  # type: ignore[union-attr]
        assert second.payload == b'error: rate takes a number, not "hi"'
        assert second.properties.CorrelationData == b"req-2"  # type: ignore[union-attr]
        ack = next(m for m in seen if m.topic.value == f"{base}/IP1/ack")
        assert ack.payload == b"rate set to 30"
        assert not hasattr(ack.properties, "CorrelationData")
        assert simulation.device("IP1").state == {"rate": 30.0}
    await log.finish()
    logs = [e.text for e in log.of(LogLine) if e.text.startswith("command")]
    assert f"command on {base}/IP1/rate: set rate=40.0; responded on {base}/replies/me" in logs
    assert f"command on {base}/IP1/rate: sent an error reply on {base}/replies/me" in logs
