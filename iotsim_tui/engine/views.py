"""Read-only snapshots of the engine's state: devices, their ledgers, and network summaries.

Everything here is a frozen value, built on demand, so the app and the headless runner can
keep it, compare it, or send it to another process. `Summary.merge` combines the summaries of
several processes or hosts (`--workers`, `--shard`) into one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from iotsim_tui.engine.events import DeviceStatus
from iotsim_tui.engine.histogram import Histogram
from iotsim_tui.words import counted


@dataclass(frozen=True, slots=True)
class Ledger:
    """What happened to the messages a device was asked to publish.

    `accepted == acknowledged + queued + dropped` always holds: acknowledged means the broker
    confirmed it (QoS 1/2) or it was handed to the socket (QoS 0); queued means it waits in
    the outbox or for its acknowledgement; dropped ones are counted by reason.
    """

    accepted: int = 0
    acknowledged: int = 0
    queued: int = 0
    dropped: int = 0
    drop_reasons: Mapping[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        """True when every accepted message is accounted for."""
        return self.accepted == self.acknowledged + self.queued + self.dropped

    def __add__(self, other: Ledger) -> Ledger:
        reasons = dict(self.drop_reasons)
        for reason, count in other.drop_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
        return Ledger(
            accepted=self.accepted + other.accepted,
            acknowledged=self.acknowledged + other.acknowledged,
            queued=self.queued + other.queued,
            dropped=self.dropped + other.dropped,
            drop_reasons=reasons,
        )


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    """One topic filter a device is subscribed to, and what arrived on it."""

    topic_filter: str
    qos: int
    """The QoS the broker granted (the one asked for until the broker answers)."""
    since: float | None
    """time.time() of the broker's SUBACK; None while not subscribed on the broker."""
    count: int
    """Messages received that match this filter."""
    last_payload: bytes | None
    """The last one, cut to PAYLOAD_PREVIEW_BYTES."""


@dataclass(frozen=True, slots=True)
class DeviceView:
    """A snapshot of one device."""

    id: str
    name: str
    client_id: str
    status: DeviceStatus
    status_detail: str
    subscriptions: tuple[SubscriptionView, ...]
    ledger: Ledger
    telemetry_running: bool
    messages_in: int
    messages_out: int
    state: Mapping[str, object]
    """The device's state values (setpoint, power, ...) as commands left them."""
    last_error: str | None
    tls_version: str | None = None
    """The TLS version negotiated on the current connection ("TLSv1.3"); None when plain or
    not connected."""


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts for a whole network (or a shard of it), mergeable across processes and hosts."""

    devices: int = 0
    connected: int = 0
    connecting: int = 0
    reconnecting: int = 0
    stopped: int = 0
    errors: int = 0
    """Devices in the error status now."""
    failed: int = 0
    """Devices that reported at least one error since they were started."""
    messages_in: int = 0
    messages_out: int = 0
    rate_in: float = 0.0
    """Messages received per second, over the last few seconds."""
    rate_out: float = 0.0
    """Messages published per second, over the last few seconds."""
    ledger: Ledger = field(default_factory=Ledger)
    events_dropped: int = 0
    """Events left out of the stream because its consumer fell behind."""
    error_samples: tuple[str, ...] = ()
    """A few distinct error messages ("TS1: not authorized"), for the final report."""
    recovered: int = 0
    """Devices that reported an error and have connected again since (a warning, not a
    failure, when the ledger is clean)."""
    started_at: float | None = None
    """time.time() when the first device started."""
    connections: int = 0
    """Connections the broker accepted, reconnections included."""
    first_connections: int = 0
    """Devices that connected at least once."""
    last_first_connect_at: float | None = None
    """time.time() when the last of those first connected."""
    connect_time: Histogram = field(default_factory=Histogram)
    """Seconds from opening the connection to the broker's CONNACK."""
    latency: Histogram = field(default_factory=Histogram)
    """Seconds from publish to delivery, on the latency probe's sample of telemetry."""
    probe: str = ""
    """What the latency probe watched, or why it measured nothing."""
    errors_by_kind: Mapping[str, int] = field(default_factory=dict)
    """How many times each distinct error was reported."""
    offline_devices: int = 0
    """Devices that lost their connection at least once."""
    offline_seconds: float = 0.0
    """Their seconds offline, in all."""
    outages: tuple[tuple[str, float], ...] = ()
    """The longest outages: (device id, seconds offline), longest first."""

    @property
    def connect_rate(self) -> float | None:
        """Devices connected per second, from the start to the last first connection."""
        if self.started_at is None or self.last_first_connect_at is None:
            return None
        span = self.last_first_connect_at - self.started_at
        return self.first_connections / span if span > 0 else None

    @staticmethod
    def merge(summaries: Iterable[Summary]) -> Summary:
        """One summary for several shards: counts, rates and histograms add up."""
        total = Summary()
        samples: list[str] = []
        connect_time, latency = Histogram(), Histogram()
        kinds: dict[str, int] = {}
        outages: list[tuple[str, float]] = []
        probes: list[str] = []
        for part in summaries:
            connect_time.merge(part.connect_time)
            latency.merge(part.latency)
            for kind, count in part.errors_by_kind.items():
                kinds[kind] = kinds.get(kind, 0) + count
            outages.extend(part.outages)
            if part.probe and part.probe not in probes:
                probes.append(part.probe)
            for sample in part.error_samples:
                if sample not in samples and len(samples) < MAX_ERROR_SAMPLES:
                    samples.append(sample)
            total = Summary(
                devices=total.devices + part.devices,
                connected=total.connected + part.connected,
                connecting=total.connecting + part.connecting,
                reconnecting=total.reconnecting + part.reconnecting,
                stopped=total.stopped + part.stopped,
                errors=total.errors + part.errors,
                failed=total.failed + part.failed,
                messages_in=total.messages_in + part.messages_in,
                messages_out=total.messages_out + part.messages_out,
                rate_in=total.rate_in + part.rate_in,
                rate_out=total.rate_out + part.rate_out,
                ledger=total.ledger + part.ledger,
                events_dropped=total.events_dropped + part.events_dropped,
                recovered=total.recovered + part.recovered,
                started_at=_earliest(total.started_at, part.started_at),
                connections=total.connections + part.connections,
                first_connections=total.first_connections + part.first_connections,
                last_first_connect_at=_latest(
                    total.last_first_connect_at, part.last_first_connect_at
                ),
                offline_devices=total.offline_devices + part.offline_devices,
                offline_seconds=total.offline_seconds + part.offline_seconds,
            )
        outages.sort(key=lambda outage: -outage[1])
        return replace(
            total,
            error_samples=tuple(samples),
            connect_time=connect_time,
            latency=latency,
            errors_by_kind=kinds,
            outages=tuple(outages[:MAX_OUTAGES_SHOWN]),
            probe="; ".join(probes[:3]),
        )

    @property
    def ok(self) -> bool:
        """True when no device failed, or every one that did recovered with a clean ledger.

        Dropped messages alone show in the ledger; after an outage they make it a failure.
        """
        if self.errors:
            return False
        return self.failed == 0 or (self.recovered == self.failed and not self.ledger.dropped)

    @property
    def warnings(self) -> list[str]:
        """What went wrong but recovered (the run is still ok)."""
        if not self.failed or not self.ok:
            return []
        return [
            f"{counted(self.failed, 'device')} reported errors and "
            "connected again; every message is accounted for (nothing dropped)"
        ]


def _earliest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


MAX_ERROR_SAMPLES = 5
MAX_OUTAGES_SHOWN = 10
