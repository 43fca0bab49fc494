"""One simulated device: an MQTT client that reconnects, reacts to commands and keeps a ledger.

The device's life cycle is one task: connect (through the network's ramp), subscribe, then
wait for the connection to end (messages arrive meanwhile through paho's callback), then wait
with exponential backoff and try again. Telemetry is not a task per device: the network's
scheduler calls `publish_telemetry` when it is due. What the device publishes goes through
`Outgoing` (engine/outgoing.py), what it receives through `_on_message`, and the commands among
it to `CommandSet` (engine/commands.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from iotsim_tui.engine.commands import CommandSet
from iotsim_tui.engine.connection import connect, explain, make_client
from iotsim_tui.engine.context import NetworkContext
from iotsim_tui.engine.events import (
    PAYLOAD_PREVIEW_BYTES,
    DeviceError,
    DeviceStatus,
    LogLine,
    MessageIn,
    MessageKind,
    StatusChanged,
)
from iotsim_tui.engine.failures import Failure, QuickLosses, lost_connection
from iotsim_tui.engine.generators import PayloadBuilder, device_topic
from iotsim_tui.engine.message_properties import request_of, wire_properties
from iotsim_tui.engine.mqtt_client import (
    Client,
    ConnectHooks,
    LostBeforeConnack,
    MqttError,
    ReasonCode,
    paho_of,
)
from iotsim_tui.engine.outgoing import Outgoing
from iotsim_tui.engine.ramp import backoff
from iotsim_tui.engine.scheduler import Scheduled
from iotsim_tui.engine.subscribed import Subscribed, Subscriptions
from iotsim_tui.engine.views import DeviceView
from iotsim_tui.profiles.model import Device, MQTTVersion, SubscribeOn
from iotsim_tui.protocol.properties import NO_PROPERTIES, Properties


class DeviceRunner:
    """One simulated device and its MQTT client."""

    def __init__(self, device: Device, context: NetworkContext) -> None:
        self.device = device
        self.client_id = context.broker.client_id_prefix + device.id
        self._context = context
        self.state: dict[str, Any] = dict(device.state)
        self._totals = context.totals
        self.status = DeviceStatus.STOPPED
        context.totals.statuses[DeviceStatus.STOPPED] += 1
        self.detail = "not started"
        self.last_error: str | None = None
        self.failed = False
        self.telemetry_running = bool(device.telemetry)
        self.builders = [PayloadBuilder(t, device, self.state) for t in device.telemetry]
        self._intervals = [t.interval for t in device.telemetry]
        self._jitters = [t.jitter for t in device.telemetry]
        self._scheduled: Scheduled | None = None
        """The device's telemetry in the network's scheduler, while it publishes."""
        self.messages_in = 0
        level = int(context.broker.protocol)
        self.outgoing = Outgoing(
            device.id,
            device.telemetry,
            self.builders,
            context,
            level,
            [wire_properties(t.properties, device) for t in device.telemetry]
            if level == 5
            else None,
        )
        self.outbox = self.outgoing.outbox
        self.publish_telemetry: Callable[[int], None] = self.outgoing.publish_telemetry
        """Build and publish telemetry `index` now (called by the scheduler)."""
        self._subscriptions = Subscriptions()
        for sub in device.subscribe:
            if sub.on is SubscribeOn.START:
                self._subscriptions.want(device_topic(sub.topic, device), sub.qos)
        self._commands = CommandSet(device)
        for topic_filter, qos in self._commands.subscriptions():
            self._subscriptions.want(topic_filter, qos)
        self._client: Client | None = None
        """Set while the broker has accepted the connection."""
        self._socket_owner: Client | None = None
        """The client of the current attempt, from its creation until it is closed."""
        self._task: asyncio.Task[None] | None = None
        self.tls_version: str | None = None
        """Negotiated on the current connection (None when plain or not connected)."""
        self._started_at: float | None = None
        """`loop.time()` of the last start, until the first connection after it."""
        self._dropping = False
        self._stopping = False
        self._serving = False
        """True while the task waits for the connection to end (nothing else in flight)."""
        self._quick_losses = QuickLosses()
        self._measures = context.totals.measures
        self._connected_once = False
        """True once the device connected since its last start."""
        self._recovered = False
        """True when the device failed and has connected again since."""
        will = device.will
        self._will = (
            None
            if will is None
            else replace(
                will,
                topic=device_topic(will.topic, device),
                payload=device_topic(will.payload, device),
            )
        )
        """The last will with the device's `{id}` and `{name}` filled in."""

    # -- life cycle ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True from start until stop (whatever the connection is doing)."""
        return self._task is not None and not self._task.done()

    @property
    def connected(self) -> bool:
        """True while the broker has accepted the connection."""
        return self._client is not None

    def start(self) -> None:
        """Start connecting (a no-op when already running)."""
        if self.running:
            return
        if self.failed:
            self.failed = False
            self._totals.failed -= 1
            self._set_recovered(False)
        self._connected_once = False
        self._unschedule()
        self._dropping = False
        self._stopping = False
        loop = asyncio.get_running_loop()
        self._started_at = loop.time()
        self._task = loop.create_task(self._run(), name=self.client_id)

    def cancel(self) -> asyncio.Task[None] | None:
        """Begin stopping: disconnect cleanly; returns the task to wait for."""
        task = self._task
        self._unschedule()
        self._stopping = True
        if task is None or task.done():
            return task
        if self._serving and self._client is not None:
            # Send DISCONNECT now: the task sees the connection end and stops by itself,
            # without a cancellation and a wait per device (a thousand stop in a moment).
            paho_of(self._client).disconnect()
        else:
            task.cancel()
        return task

    def drop(self) -> asyncio.Task[None] | None:
        """Begin stopping abruptly: close the socket without DISCONNECT."""
        self._unschedule()
        self._dropping = True
        if self._client is not None:
            self.cut()
        elif self._task is not None:
            self._task.cancel()
        return self._task

    def cut(self) -> None:
        """Shut the connection's socket down, whatever the client is waiting for."""
        client = self._socket_owner
        sock = paho_of(client).socket() if client is not None else None
        if isinstance(sock, socket.socket):
            # The reader sees the end of the stream and paho closes the socket itself
            # (closing it here would leave the event loop watching a dead descriptor).
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    async def _run(self) -> None:
        attempt = 1
        try:
            while True:
                self._set_status(
                    DeviceStatus.CONNECTING if attempt == 1 else DeviceStatus.RECONNECTING,
                    f"connecting to {self._context.where}"
                    + (f", attempt {attempt}" if attempt > 1 else ""),
                )
                failure, was_connected = await self._connect_and_serve()
                if self._dropping:
                    self._set_status(DeviceStatus.STOPPED, "dropped without DISCONNECT")
                    return
                if self._stopping:  # the stop cut the connection before cancelling the task
                    self._set_status(DeviceStatus.STOPPED, "stopped")
                    return
                if failure.fatal:
                    self._set_status(DeviceStatus.ERROR, failure.message)
                    return
                attempt = 2 if was_connected else attempt + 1
                delay = backoff(attempt)
                self._set_status(
                    DeviceStatus.RECONNECTING,
                    f"{failure.message}; attempt {attempt}, next try in {delay:.1f} s",
                )
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            self._set_status(DeviceStatus.STOPPED, "stopped")
        except Exception as error:  # a bug: show it on the device rather than lose the task
            self.report(f"unexpected failure: {error!r}", event=False)
            self._set_status(DeviceStatus.ERROR, f"unexpected failure: {error!r}")
        finally:
            self.outbox.requeue_unacked()

    async def _connect_and_serve(self) -> tuple[Failure, bool]:
        context = self._context
        hooks = ConnectHooks(self.outbox.ack, self._on_message)
        client = make_client(
            context.broker,
            self.client_id,
            endpoint=context.endpoint,
            context=context.tls,
            will=self._will,
            hooks=hooks,
            driver=context.driver,
        )
        self._socket_owner = client
        async with context.ramp.slot():
            try:
                if context.resolve_error is not None:
                    raise context.resolve_error.with_traceback(None)
                began = time.monotonic()
                await connect(client, context.addresses, tls=context.tls is not None)
            except (MqttError, OSError, LostBeforeConnack) as error:
                failure = await explain(error, context)
                # A failure that ends the device is told once, by its status (error).
                self.report(failure.message, event=not failure.fatal)
                return failure, False
            except asyncio.CancelledError:
                paho_of(client).disconnect()  # do not leave a half-open connection behind
                raise
        if self._stopping:
            # asyncio.wait_for (Python 3.11) can swallow a cancellation that arrives as the
            # CONNACK does: the device was told to stop, so it stops.
            await client.__aexit__(None, None, None)
            raise asyncio.CancelledError
        connected_at = time.monotonic()
        self._measures.connected(
            self.device.id, connected_at - began, first=not self._connected_once
        )
        self._connected_once = True
        if self.failed:
            self._set_recovered(True)
        try:
            self._client, self.outgoing.paho = client, paho_of(client)
            self._set_status(DeviceStatus.CONNECTED, self._connected_detail(client, hooks))
            await self._after_connect(client, hooks.session_present)
            self._serving = True
            if self._stopping:  # told to stop while subscribing
                paho_of(client).disconnect()
            reason = await hooks.lost  # messages arrive meanwhile through `_on_message`
        except MqttError:  # a SUBSCRIBE that failed as the connection did
            reason = await hooks.lost
        finally:
            self._serving = False
            self._unschedule()
            self._client = self.outgoing.paho = None
            self.tls_version = None
            self.outbox.requeue_unacked()
            try:
                if not self._dropping:
                    await client.__aexit__(None, None, None)
            finally:
                self._socket_owner = None
        if self._dropping or self._stopping:  # our own doing, not a failure
            return Failure("dropped", fatal=True), True
        self._measures.lost(self.device.id)
        why = self._quick_losses.why(lost_connection(reason), time.monotonic() - connected_at)
        self.report(why)
        return Failure(why, fatal=False), True

    def _connected_detail(self, client: Client, hooks: ConnectHooks) -> str:
        detail = f"connected to {self._context.where}"
        sock = paho_of(client).socket()
        if isinstance(sock, ssl.SSLSocket):
            self.tls_version = sock.version()
            detail += f" over {self.tls_version}"
        if hooks.session_present:
            detail += ", session resumed"
        return detail

    async def _after_connect(self, client: Client, session_present: bool) -> None:
        self.outgoing.connected()
        todo = self._subscriptions.to_subscribe(session_present)
        if todo:
            await self._subscribe_all(client, todo)
        self.outgoing.flush()
        if self.telemetry_running and self.builders:
            self._unschedule()
            # The first connection after a start keeps the first interval counted from the start.
            self._scheduled = self._context.schedule(self, self._started_at)
            self._started_at = None
            for index, telemetry in enumerate(self.device.telemetry):
                if telemetry.on_connect:
                    self.publish_telemetry(index)

    async def _subscribe_all(self, client: Client, subs: list[Subscribed]) -> None:
        try:
            granted = await client.subscribe([(s.topic_filter, s.qos) for s in subs])
        except MqttError as error:
            paho = self.outgoing.paho
            if paho is not None and paho.socket() is not None and paho.is_connected():
                self.report(f"subscribing failed: {error}")
            # else the connection ended meanwhile: the device reports that, and subscribes again
            return
        now = time.time()
        codes: list[int | ReasonCode] = list(granted)
        for sub, code in zip(subs, codes, strict=False):
            value = code if isinstance(code, int) else int(code.value)
            if value >= 0x80:
                self.report(f"the broker refused the subscription to {sub.topic_filter}")
                continue
            sub.granted, sub.since = value, now
            self.log(f"subscribed to {sub.topic_filter} (QoS {value})")

    def _set_status(self, status: DeviceStatus, detail: str) -> None:
        statuses = self._totals.statuses
        statuses[self.status] -= 1
        statuses[status] += 1
        self.status, self.detail = status, detail
        if status is DeviceStatus.STOPPED:
            self._measures.stopped(self.device.id)
        if self._context.recording:
            self._context.emit(StatusChanged(self.device.id, status, detail, time.time()))

    def report(self, message: str, *, event: bool = True) -> None:
        """Report a problem: the device counts as failed, and the error is told once."""
        if not self.failed:
            self.failed = True
            self._totals.failed += 1
            self._totals.sample(self.device.id, message)
        self._set_recovered(False)
        if message != self.last_error:
            self._measures.error(self.device.id, message)
        if event and message != self.last_error:  # one per distinct failure, not per attempt
            self._context.emit(DeviceError(self.device.id, message, time.time()))
        self.last_error = message

    def _set_recovered(self, recovered: bool) -> None:
        if recovered != self._recovered:
            self._recovered = recovered
            self._measures.recovered += 1 if recovered else -1

    def log(self, text: str) -> None:
        """A line for the device's log (when someone reads the events)."""
        if self._context.recording:
            self._context.emit(LogLine(self.device.id, text, time.time()))

    # -- subscriptions ---------------------------------------------------------------------

    async def subscribe(self, topic_filter: str, qos: int) -> None:
        """Subscribe now when connected; in any case again after each new session."""
        sub = self._subscriptions.want(topic_filter, qos)
        if self._client is not None:
            await self._subscribe_all(self._client, [sub])

    async def unsubscribe(self, topic_filter: str) -> None:
        """Forget a subscription, and tell the broker when connected."""
        if not self._subscriptions.forget(topic_filter):
            return
        if self._client is not None:
            await self._client.unsubscribe(topic_filter)
            self.log(f"unsubscribed from {topic_filter}")

    # -- incoming --------------------------------------------------------------------------

    def _on_message(
        self, topic: str, payload: bytes, qos: int, retain: bool, properties: object = None
    ) -> None:
        preview = payload[:PAYLOAD_PREVIEW_BYTES]
        self.messages_in += 1
        self._totals.messages_in += 1
        matched = self._subscriptions.received(topic, preview)
        if self._context.recording:
            self._context.emit(
                MessageIn(
                    self.device.id,
                    topic,
                    qos,
                    retain,
                    preview,
                    len(payload),
                    not matched,
                    time.time(),
                )
            )
        if self._commands:
            self._commands.handle(self, topic, payload, request_of(properties))

    def set_telemetry(self, running: bool) -> bool:
        """Start or stop this device's telemetry; False when it already was so."""
        if running == self.telemetry_running:
            return False
        self.telemetry_running = running
        self._unschedule()
        if running and self.connected and self.builders:
            self._scheduled = self._context.schedule(self, None)
        return True

    def _unschedule(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None

    # -- outgoing --------------------------------------------------------------------------

    def intervals(self) -> list[float]:
        """Seconds between publishes of each telemetry."""
        return self._intervals

    def jitters(self) -> list[float]:
        """The fraction by which each telemetry's interval varies at random."""
        return self._jitters

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        kind: MessageKind,
        properties: Properties = NO_PROPERTIES,
    ) -> None:
        """Publish without waiting: sent now, kept in the outbox (QoS 1/2) or dropped."""
        self.outgoing.publish(topic, payload, qos, retain, kind, properties)

    @property
    def mqtt5(self) -> bool:
        """True when the device speaks MQTT 5 (messages carry properties)."""
        return self._context.broker.protocol is MQTTVersion.V5

    # -- views -----------------------------------------------------------------------------

    def view(self) -> DeviceView:
        """A snapshot of this device."""
        return DeviceView(
            id=self.device.id,
            name=self.device.name,
            client_id=self.client_id,
            status=self.status,
            status_detail=self.detail,
            subscriptions=self._subscriptions.views(),
            ledger=self.outgoing.ledger(),
            telemetry_running=self.telemetry_running,
            messages_in=self.messages_in,
            messages_out=self.outgoing.messages_out,
            state=dict(self.state),
            last_error=self.last_error,
            tls_version=self.tls_version,
        )
